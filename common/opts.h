/*
 * opts.h — the command-line options every daemon shares, parsed in one
 * place, and the start-up sequence that turns them into a loaded config.
 *
 *   -c, --config FILE     config file (else $STETHOSCOPE_CONFIG, else none)
 *   --check-config        print the effective config, the warnings and
 *                         "configuration OK" (exit 0), or every error (exit 2)
 *   --strict              unknown keys are errors
 *   --user USER           drop to USER (default runtime.user)
 *   --ready-fd N          write "ready\n" to fd N once accepting work
 *   --log-level LEVEL     console verbosity (else $STETHOSCOPE_LOG_LEVEL)
 *   --run-dir DIR         where the daemon's sockets live (runtime.run_dir)
 *   --quiet-config        warnings at DEBUG (the launcher already showed them)
 *   --profile P           runtime.profile (balanced, throughput, latency, memory)
 *   -h, --help, --version
 */
#ifndef STH_OPTS_H
#define STH_OPTS_H

#include <getopt.h>
#include <stdbool.h>

#include "conf.h"

#define STH_VERSION "0.1.0"

enum {
	OPT_CHECK_CONFIG = 1000, OPT_STRICT, OPT_USER, OPT_READY_FD,
	OPT_LOG_LEVEL, OPT_RUN_DIR, OPT_QUIET_CONFIG, OPT_VERSION, OPT_PRINT_SCHEMA,
	OPT_PROFILE, OPT_PRINT_PROFILES,
	OPT_DAEMON_BASE = 1100	/* daemons number their own long options from here */
};

struct daemon_opts {
	const char *prog;
	const char *config;
	bool check_config, strict, quiet_config;
	const char *user;
	int ready_fd;		/* -1: none */
	const char *log_level;
	const char *run_dir;
	/* Overrides of config keys collected from daemon-specific flags. */
	struct conf_override ov[32];
	size_t nov;
};

/* The shared long options, for a daemon to append to its own table.
 * COMMON_SHORTOPTS goes at the start of its short-option string. */
#define COMMON_SHORTOPTS "c:h"
#define COMMON_LONGOPTS \
	{ "config", required_argument, NULL, 'c' }, \
	{ "check-config", no_argument, NULL, OPT_CHECK_CONFIG }, \
	{ "strict", no_argument, NULL, OPT_STRICT }, \
	{ "user", required_argument, NULL, OPT_USER }, \
	{ "ready-fd", required_argument, NULL, OPT_READY_FD }, \
	{ "log-level", required_argument, NULL, OPT_LOG_LEVEL }, \
	{ "run-dir", required_argument, NULL, OPT_RUN_DIR }, \
	{ "quiet-config", no_argument, NULL, OPT_QUIET_CONFIG }, \
	{ "profile", required_argument, NULL, OPT_PROFILE }, \
	{ "help", no_argument, NULL, 'h' }, \
	{ "version", no_argument, NULL, OPT_VERSION }, \
	{ "print-schema", no_argument, NULL, OPT_PRINT_SCHEMA }, \
	{ "print-profiles", no_argument, NULL, OPT_PRINT_PROFILES }

/* The help text of the shared options, for a daemon's usage(). */
extern const char opts_common_help[];

void opts_init(struct daemon_opts *o, const char *prog);

/* Handles a shared option.  Returns 1 if it was one, 0 if not; exits 2
 * with a message for a bad value.  'h' is left to the daemon (0). */
int opts_common(struct daemon_opts *o, int ch, const char *arg);

/* Records a config override from a daemon flag (flags win over the file). */
void opts_override(struct daemon_opts *o, const char *path, const char *value);

/*
 * Loads the config named by the options (or the environment) with the
 * overrides, sets up logging (console level from --log-level or the
 * environment, else the config; the file target from logging.file), and
 * handles --check-config (prints and exits).  On errors prints every one
 * and exits 2.  Returns with *c loaded.
 */
void opts_load_config(struct daemon_opts *o, struct conf *c);

/* Writes "ready\n" to the ready fd, if any, and closes it. */
void opts_ready(struct daemon_opts *o);

#endif
