/*
 * log.c — console and file logging with independent verbosity, the
 * log_warn/log_warnx/fatal/fatalx idioms and per-call-site rate limiting.
 *
 * Line format: "2026-11-22T18:01:10.123Z capd[1234]: WARNING: message".
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

static char log_proc[32] = "stethoscope";
static enum log_level log_console = LOG_INFO;
static enum log_level log_file_lvl = LOG_NONE;
static int log_fd = -1;			/* the file target: a file, or the launcher's pipe */
static unsigned long log_lost;		/* lines the file target did not take */

static const char *const log_names[] = { "DEBUG", "INFO", "WARNING", "ERROR" };

void
log_init(const char *procname)
{
	sth_strlcpy(log_proc, procname, sizeof(log_proc));
	log_console = LOG_INFO;
	log_close_file();
}

void
log_set_console_level(enum log_level lvl)
{
	log_console = lvl;
}

enum log_level
log_console_level(void)
{
	return log_console;
}

int
log_open_file(const char *path, enum log_level lvl)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);

	if (fd < 0)
		return -1;
	log_use_fd(fd, lvl);
	return 0;
}

void
log_use_fd(int fd, enum log_level lvl)
{
	log_close_file();
	log_fd = fd;
	log_file_lvl = lvl;
}

int
log_reopen_file(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);

	if (fd < 0)
		return -1;
	if (log_fd >= 0)
		close(log_fd);
	log_fd = fd;
	return 0;
}

int
log_file_fd(void)
{
	return log_fd;
}

void
log_set_file_level(enum log_level lvl)
{
	if (log_fd >= 0)
		log_file_lvl = lvl;
}

void
log_close_file(void)
{
	if (log_fd >= 0)
		close(log_fd);
	log_fd = -1;
	log_file_lvl = LOG_NONE;
}

int
log_level_parse(const char *s)
{
	if (s == NULL)
		return -1;
	if (strcasecmp(s, "DEBUG") == 0)
		return LOG_DEBUG;
	if (strcasecmp(s, "INFO") == 0)
		return LOG_INFO;
	if (strcasecmp(s, "WARNING") == 0 || strcasecmp(s, "WARN") == 0)
		return LOG_WARNING;
	if (strcasecmp(s, "ERROR") == 0)
		return LOG_ERROR;
	return -1;
}

const char *
log_level_name(enum log_level lvl)
{
	return lvl < LOG_NONE ? log_names[lvl] : "NONE";
}

static void
log_emit(FILE *f, const char *stamp, enum log_level lvl, const char *msg)
{
	fprintf(f, "%s %s[%ld]: %s: %s\n", stamp, log_proc, (long)getpid(),
	    log_names[lvl], msg);
}

/* One write a line, so lines from many processes sharing the launcher's
 * pipe (or one O_APPEND file) never interleave.  The pipe does not block
 * (a stalled launcher must not stall a daemon): a line it does not take is
 * counted and the count is the next line that gets through. */
static void
log_emit_fd(const char *stamp, enum log_level lvl, const char *msg)
{
	char line[2400];
	int n;

	if (log_lost > 0) {
		n = snprintf(line, sizeof(line), "%s %s[%ld]: WARNING: %lu log line%s lost "
		    "(the log file or the launcher's log pipe did not take them)\n", stamp, log_proc,
		    (long)getpid(), log_lost, log_lost == 1 ? "" : "s");
		if (write(log_fd, line, (size_t)n) != n)
			goto lost;
		log_lost = 0;
	}
	n = snprintf(line, sizeof(line), "%s %s[%ld]: %s: %s\n", stamp, log_proc,
	    (long)getpid(), log_names[lvl], msg);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line)) {
		n = (int)sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	if (write(log_fd, line, (size_t)n) == n)
		return;
lost:
	log_lost++;
}

void
log_vmsg(enum log_level lvl, const char *fmt, va_list ap)
{
	char msg[2048], stamp[40];
	int saved = errno;

	if (lvl >= LOG_NONE || (lvl < log_console && lvl < log_file_lvl))
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	fmt_iso8601(stamp, sizeof(stamp), now_wall_ns());
	if (lvl >= log_console)
		log_emit(stderr, stamp, lvl, msg);
	if (log_fd >= 0 && lvl >= log_file_lvl)
		log_emit_fd(stamp, lvl, msg);
	errno = saved;
}

void
log_msg(enum log_level lvl, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(lvl, fmt, ap);
	va_end(ap);
}

static void __attribute__((format(printf, 3, 0)))
log_verr(enum log_level lvl, int err, const char *fmt, va_list ap)
{
	char msg[1800];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	log_msg(lvl, "%s: %s", msg, strerror(err));
}

void
log_warn(const char *fmt, ...)
{
	va_list ap;
	int err = errno;

	va_start(ap, fmt);
	log_verr(LOG_WARNING, err, fmt, ap);
	va_end(ap);
	errno = err;
}

void
log_errorx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_ERROR, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list ap;
	int err = errno;

	va_start(ap, fmt);
	log_verr(LOG_ERROR, err, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_ERROR, fmt, ap);
	va_end(ap);
	exit(1);
}

int
log_ratelimited(struct log_rl *rl, unsigned burst, unsigned interval_ms,
    enum log_level lvl, const char *fmt, ...)
{
	uint64_t now = now_mono_ns();
	va_list ap;

	if (now - rl->window_start_ns >= (uint64_t)interval_ms * 1000000ULL) {
		if (rl->suppressed > 0)
			log_msg(lvl, "(%u similar messages suppressed)",
			    rl->suppressed);
		rl->window_start_ns = now;
		rl->in_window = 0;
		rl->suppressed = 0;
	}
	if (rl->in_window >= burst) {
		rl->suppressed++;
		return 0;
	}
	rl->in_window++;
	va_start(ap, fmt);
	log_vmsg(lvl, fmt, ap);
	va_end(ap);
	return 1;
}
