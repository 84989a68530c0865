/*
 * opts.c — shared daemon options and the config start-up sequence.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "opts.h"
#include "util.h"

const char opts_common_help[] =
    "  -c, --config FILE   configuration file (json-ish); also $STETHOSCOPE_CONFIG\n"
    "      --check-config  print the effective configuration and exit (2 on errors)\n"
    "      --strict        treat unknown configuration keys as errors\n"
    "      --user USER     drop privileges to USER (default runtime.user)\n"
    "      --ready-fd N    write \"ready\" to file descriptor N when accepting work\n"
    "      --log-level L   console verbosity: DEBUG, INFO, WARNING, ERROR;\n"
    "                      also $STETHOSCOPE_LOG_LEVEL\n"
    "      --run-dir DIR   directory of the daemons' sockets (runtime.run_dir)\n"
    "      --quiet-config  log configuration warnings at DEBUG only\n"
    "      --profile P     runtime.profile: balanced (default), throughput, latency\n"
    "                      or memory: a group of keys, under any key given\n"
    "  -h, --help          this help\n"
    "      --version       print the version\n"
    "      --print-schema  print every configuration key, a JSON line each, and exit\n"
    "      --print-profiles  print the keys each runtime.profile sets (PROFILE KEY VALUE)\n";

void
opts_init(struct daemon_opts *o, const char *prog)
{
	memset(o, 0, sizeof(*o));
	o->prog = prog;
	o->ready_fd = -1;
	log_init(prog);
}

int
opts_common(struct daemon_opts *o, int ch, const char *arg)
{
	uint64_t v;

	switch (ch) {
	case 'c':
		o->config = arg;
		return 1;
	case OPT_CHECK_CONFIG:
		o->check_config = true;
		return 1;
	case OPT_STRICT:
		o->strict = true;
		return 1;
	case OPT_USER:
		o->user = arg;
		return 1;
	case OPT_READY_FD:
		if (parse_u64(arg, 0, 1 << 20, &v) < 0) {
			fprintf(stderr, "%s: --ready-fd: expected a file descriptor number, found \"%s\"\n", o->prog, arg);
			exit(2);
		}
		o->ready_fd = (int)v;
		return 1;
	case OPT_LOG_LEVEL:
		if (log_level_parse(arg) < 0) {
			fprintf(stderr, "%s: --log-level: expected DEBUG, INFO, WARNING or ERROR, found \"%s\"\n", o->prog, arg);
			exit(2);
		}
		o->log_level = arg;
		return 1;
	case OPT_RUN_DIR:
		o->run_dir = arg;
		return 1;
	case OPT_QUIET_CONFIG:
		o->quiet_config = true;
		return 1;
	case OPT_PROFILE:
		opts_override(o, "runtime.profile", arg);
		return 1;
	case OPT_VERSION:
		printf("%s (stethoscope) %s\n", o->prog, STH_VERSION);
		exit(0);
	case OPT_PRINT_SCHEMA:
		conf_print_schema(stdout);
		exit(0);
	case OPT_PRINT_PROFILES:
		conf_print_profiles(stdout);
		exit(0);
	}
	return 0;
}

void
opts_override(struct daemon_opts *o, const char *path, const char *value)
{
	for (size_t k = 0; k < o->nov; k++)
		if (strcmp(o->ov[k].path, path) == 0) {
			o->ov[k].value = value;
			return;
		}
	if (o->nov == ARRAY_SIZE(o->ov))
		fatalx("too many command-line overrides");
	o->ov[o->nov].path = path;
	o->ov[o->nov].value = value;
	o->nov++;
}

void
opts_load_config(struct daemon_opts *o, struct conf *c)
{
	struct conf_diag d;
	const char *path = o->config;
	const char *lvl_s;
	int lvl, r;

	if (path == NULL && (path = getenv("STETHOSCOPE_CONFIG")) != NULL && *path == '\0')
		path = NULL;
	if (o->user != NULL)
		opts_override(o, "runtime.user", o->user);
	if (o->run_dir != NULL)
		opts_override(o, "runtime.run_dir", o->run_dir);
	r = conf_load(c, path, o->ov, o->nov, o->strict ? CONF_STRICT : 0, &d);

	lvl_s = o->log_level ? o->log_level : getenv("STETHOSCOPE_LOG_LEVEL");
	lvl = log_level_parse(lvl_s);
	if (lvl_s != NULL && *lvl_s != '\0' && lvl < 0) {
		fprintf(stderr, "%s: STETHOSCOPE_LOG_LEVEL: expected DEBUG, INFO, WARNING or ERROR, found \"%s\"\n", o->prog, lvl_s);
		exit(2);
	}
	if (lvl < 0 && c->log_console_verbosity != NULL)
		lvl = log_level_parse(c->log_console_verbosity);
	log_set_console_level(lvl < 0 ? LOG_INFO : (enum log_level)lvl);

	if (r < 0 || o->check_config) {
		if (r == 0)
			conf_print_effective(c, stdout);
		for (size_t k = 0; k < d.nwarnings; k++)
			fprintf(stderr, "%s: warning: %s\n", o->prog, d.warnings[k]);
		for (size_t k = 0; k < d.nerrors; k++)
			fprintf(stderr, "%s: error: %s\n", o->prog, d.errors[k]);
		if (r < 0) {
			fprintf(stderr, "%s: configuration has %zu error%s\n", o->prog,
			    d.nerrors, d.nerrors == 1 ? "" : "s");
			exit(2);
		}
		printf("configuration OK\n");
		exit(0);
	}
	for (size_t k = 0; k < d.nwarnings; k++)
		log_msg(o->quiet_config ? LOG_DEBUG : LOG_WARNING, "config: %s", d.warnings[k]);
	conf_diag_free(&d);

	if (c->log_file_enabled && c->log_file_path != NULL) {
		int flvl = log_level_parse(c->log_file_verbosity);
		enum log_level fl = flvl < 0 ? LOG_INFO : (enum log_level)flvl;
		const char *e = getenv("STH_LOG_FD");
		char *end;
		long fd = e != NULL ? strtol(e, &end, 10) : -1;
		/* Under the launcher the file is its: the lines go down its
		 * pipe, and it reopens the file on SIGHUP (logrotate), which a
		 * sandboxed daemon could not. */
		if (fd > 2 && fd < 65536 && *end == '\0' && fcntl((int)fd, F_GETFD) >= 0) {
			(void)fcntl((int)fd, F_SETFD, FD_CLOEXEC);
			log_use_fd((int)fd, fl);
		} else if (log_open_file(c->log_file_path, fl) < 0)
			log_warn("cannot open log file %s; logging to the console only", c->log_file_path);
	}
}

void
opts_ready(struct daemon_opts *o)
{
	if (o->ready_fd < 0)
		return;
	if (write_all(o->ready_fd, "ready\n", 6) < 0)
		log_warn("cannot write the ready line to fd %d", o->ready_fd);
	close(o->ready_fd);
	o->ready_fd = -1;
}
