/*
 * reasmd/main.c — the reassembler (placeholder main until reasmd lands).
 */
#include <stdio.h>

#include "conf.h"
#include "log.h"
#include "opts.h"

int
main(int argc, char **argv)
{
	static const struct option longopts[] = { COMMON_LONGOPTS, { NULL, 0, NULL, 0 } };
	struct daemon_opts o;
	struct conf c;
	int ch;

	opts_init(&o, "reasmd");
	while ((ch = getopt_long(argc, argv, COMMON_SHORTOPTS, longopts, NULL)) != -1) {
		if (opts_common(&o, ch, optarg))
			continue;
		fprintf(stderr, "usage: reasmd [options]\n%s", opts_common_help);
		return ch == 'h' ? 0 : 2;
	}
	opts_load_config(&o, &c);
	log_errorx("this build of reasmd only checks configurations (--check-config)");
	conf_free(&c);
	return 2;
}
