/* test_log.c — levels, the file target's own verbosity, rate limiting,
 * and privilege dropping (in a child, when root). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "privdrop.h"
#include "t.h"

static void
log_levels_parse(void)
{
	T_EQ_U(log_level_parse("debug"), LOG_DEBUG);
	T_EQ_U(log_level_parse("WARN"), LOG_WARNING);
	T_EQ_U(log_level_parse("Warning"), LOG_WARNING);
	T_EQ_U(log_level_parse("ERROR"), LOG_ERROR);
	T_CHECK(log_level_parse("loud") < 0);
	T_CHECK(log_level_parse(NULL) < 0);
}

static size_t
count_lines(const char *path, const char *needle)
{
	FILE *f = fopen(path, "r");
	char line[4096];
	size_t n = 0;

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, needle))
			n++;
	fclose(f);
	return n;
}

static void
log_file_target_independent(void)
{
	char path[] = "/tmp/sth-log-XXXXXX";
	int fd = mkstemp(path);

	close(fd);
	log_init("test");
	log_set_console_level(LOG_ERROR);	/* console quiet */
	T_CHECK(log_open_file(path, LOG_DEBUG) == 0);
	log_debug("dbg %d", 1);
	log_info("inf");
	errno = ENOENT;
	log_warn("open x");
	log_close_file();
	T_EQ_U(count_lines(path, "test["), 3);
	T_EQ_U(count_lines(path, ": DEBUG: dbg 1"), 1);
	T_EQ_U(count_lines(path, ": WARNING: open x: No such file or directory"), 1);
	unlink(path);
}

/* The launcher's pipe: a full pipe does not block the logger; the lines it
 * did not take are counted in the next line that gets through, and every
 * line is one write (whole). */
static void
log_pipe_full_counts(void)
{
	int p[2];
	char buf[65536];
	ssize_t n;
	int got = 0;

	T_CHECK(pipe(p) == 0);
	T_CHECK(fcntl(p[1], F_SETFL, O_NONBLOCK) == 0);
	log_init("test");
	log_set_console_level(LOG_NONE);
	log_use_fd(p[1], LOG_INFO);
	for (int k = 0; k < 5000; k++)		/* far more than a pipe holds */
		log_info("line %d of filler text to fill the pipe quickly", k);
	(void)fcntl(p[0], F_SETFL, O_NONBLOCK);
	while ((n = read(p[0], buf, sizeof(buf))) > 0)
		got += (int)n;
	T_CHECK(got > 0 && got < 5000 * 60);
	log_info("after");
	n = read(p[0], buf, sizeof(buf) - 1);
	T_CHECK(n > 0);
	buf[n > 0 ? n : 0] = '\0';
	T_CHECK(strstr(buf, "log lines lost") != NULL);
	T_CHECK(strstr(buf, ": INFO: after\n") != NULL);
	log_close_file();
	close(p[0]);
}

static void
log_rate_limit(void)
{
	char path[] = "/tmp/sth-log-XXXXXX";
	int fd = mkstemp(path);
	static struct log_rl rl;
	int written = 0;

	close(fd);
	log_init("test");
	log_set_console_level(LOG_NONE);
	log_open_file(path, LOG_INFO);
	for (int k = 0; k < 1000; k++)
		written += log_ratelimited(&rl, 5, 60000, LOG_WARNING, "bad packet %d", k);
	log_close_file();
	T_EQ_U(written, 5);
	T_EQ_U(count_lines(path, "bad packet"), 5);
	T_EQ_U(rl.suppressed, 995);
	unlink(path);
}

static void
privdrop_drops_or_says_why(void)
{
	pid_t pid = fork();
	int st = 0;

	if (pid == 0) {
		struct privdrop_opts o = { "nobody", "nogroup", NULL, { 0 } };
		char err[256];
		log_set_console_level(LOG_NONE);
		if (privdrop(&o, err, sizeof(err)) < 0)
			_exit(1);
		if (geteuid() == 0 || privdrop_can_regain())
			_exit(2);
		_exit(0);
	}
	waitpid(pid, &st, 0);
	T_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	if (geteuid() == 0) {
		struct privdrop_opts o = { "root", NULL, NULL, { 0 } };
		char err[256];
		pid = fork();
		if (pid == 0)
			_exit(privdrop(&o, err, sizeof(err)) < 0 &&
			    strstr(err, "is root") != NULL ? 0 : 1);
		waitpid(pid, &st, 0);
		T_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
		o.user = "no-such-user-sth";
		pid = fork();
		if (pid == 0)
			_exit(privdrop(&o, err, sizeof(err)) < 0 &&
			    strstr(err, "does not exist") != NULL ? 0 : 1);
		waitpid(pid, &st, 0);
		T_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
}

int
main(void)
{
	T_RUN(log_levels_parse);
	T_RUN(log_file_target_independent);
	T_RUN(log_rate_limit);
	T_RUN(log_pipe_full_counts);
	T_RUN(privdrop_drops_or_says_why);
	return T_DONE();
}
