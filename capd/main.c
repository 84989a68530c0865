/*
 * capd/main.c — the privileged capture daemon.
 *
 * This version reads and checks the configuration (--check-config); the
 * daemon's work arrives with its own issue.
 */
#include <stdio.h>
#include <stdlib.h>

#include "conf.h"
#include "log.h"
#include "opts.h"

static void
usage(FILE *f)
{
	fprintf(f, "usage: capd [options]\n"
	    "capd: the privileged capture daemon of stethoscope.\n\n%s", opts_common_help);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = { COMMON_LONGOPTS, { NULL, 0, NULL, 0 } };
	struct daemon_opts o;
	struct conf c;
	int ch;

	opts_init(&o, "capd");
	while ((ch = getopt_long(argc, argv, COMMON_SHORTOPTS, longopts, NULL)) != -1) {
		if (opts_common(&o, ch, optarg))
			continue;
		if (ch == 'h') {
			usage(stdout);
			return 0;
		}
		usage(stderr);
		return 2;
	}
	opts_load_config(&o, &c);
	log_errorx("this build of capd only checks configurations (--check-config)");
	conf_free(&c);
	return 2;
}
