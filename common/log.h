/*
 * log.h — logging for every stethoscope process.
 *
 * Two targets with independent verbosity: the console (stderr) and an
 * optional file.  `--log-level` and STETHOSCOPE_LOG_LEVEL change the
 * console only.  The OpenBSD idioms: log_warn() appends strerror(errno),
 * log_warnx() does not; fatal()/fatalx() log at ERROR and exit(1) with the
 * process name.  log_ratelimited() keeps a repeated warning (one per bad
 * packet, say) from flooding the log: at most `burst` lines per interval,
 * then one line saying how many were suppressed.
 */
#ifndef STH_LOG_H
#define STH_LOG_H

#include <stdarg.h>
#include <stdint.h>

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARNING, LOG_ERROR, LOG_NONE };

/* Sets the process name shown in every line and resets both targets to
 * their defaults (console INFO, no file). */
void log_init(const char *procname);

/* Console verbosity. */
void log_set_console_level(enum log_level lvl);
enum log_level log_console_level(void);

/* Opens (append) the file target at path with its own verbosity.
 * Returns 0 or -1 (errno set; the console keeps working). */
int log_open_file(const char *path, enum log_level lvl);
/* Logs to fd (owned from now on): the launcher's log pipe ($STH_LOG_FD). */
void log_use_fd(int fd, enum log_level lvl);
/* Opens path again (after logrotate moved it) in place of the file target. */
int log_reopen_file(const char *path);
int log_file_fd(void);
void log_close_file(void);
/* The file target's verbosity, when it is open (a reload). */
void log_set_file_level(enum log_level lvl);

/* Parses "DEBUG", "info", "WARN", "WARNING", "ERROR" (any case).
 * Returns the level or -1. */
int log_level_parse(const char *s);
const char *log_level_name(enum log_level lvl);

void log_msg(enum log_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void log_vmsg(enum log_level lvl, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warnx(...) log_msg(LOG_WARNING, __VA_ARGS__)
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_errorx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

void fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

/* One rate limiter per call site: declare it static. */
struct log_rl {
	uint64_t window_start_ns;
	uint32_t in_window;
	uint32_t suppressed;
};
/* Logs like log_msg unless more than `burst` lines came from this limiter
 * within `interval_ms`; returns 1 if the line was written, 0 if suppressed. */
int log_ratelimited(struct log_rl *rl, unsigned burst, unsigned interval_ms,
    enum log_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

#endif
