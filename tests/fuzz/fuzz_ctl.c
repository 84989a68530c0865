/*
 * fuzz_ctl.c — ctld's two parsers on hostile lines: the control commands
 * of clients and the event lines of daemons, through a real ctld (its
 * listeners on Unix sockets in a private directory, its event loop), as
 * the sockets would hand them over.
 *
 * Input: lines.  A line that starts with '>' goes, without the '>', down
 * the daemon connection (ctld.sock); any other line down the control
 * connection.  After each line the loop runs until ctld has nothing more
 * to do; what ctld writes back is read and thrown away.  At the end both
 * connections close and ctld must forget them (a ctld that keeps a closed
 * client or daemon, or stops answering, aborts the run).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>

#include "conf.h"
#include "ctld.h"
#include "log.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct ctld D;
static struct conf C;
static struct sockaddr_un dsa, csa;

static int
listen_at(struct sockaddr_un *sa, const char *dir, const char *name)
{
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	snprintf(sa->sun_path, sizeof(sa->sun_path), "%s/%s", dir, name);
	if (fd < 0 || bind(fd, (struct sockaddr *)sa, sizeof(*sa)) < 0 || listen(fd, 16) < 0)
		abort();
	evutil_make_socket_nonblocking(fd);
	return fd;
}

static int
dial(const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	if (fd < 0 || connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0)
		abort();
	evutil_make_socket_nonblocking(fd);
	return fd;
}

static char tmpdir[64];
static int dlfd = -1, clfd = -1;

static void
cleanup(void)
{
	unlink(dsa.sun_path);
	unlink(csa.sun_path);
	rmdir(tmpdir);
}

static struct event_base *base;

static void
init(void)
{
	static char dir[] = "/tmp/fuzz_ctl.XXXXXX";
	struct conf_diag d;

	log_set_console_level(LOG_NONE);
	signal(SIGPIPE, SIG_IGN);	/* as ctld's main does */
	if (mkdtemp(dir) == NULL)
		abort();
	sth_strlcpy(tmpdir, dir, sizeof(tmpdir));
	atexit(cleanup);
	/* small tables, so that an input can fill them (and a ctld a run
	 * costs little: the default tables are made and freed each input) */
	static const char t[] = "{control:{max_sessions:64, max_calls:16, resume_bytes:16384}}";
	if (conf_load_text(&C, "fuzz", t, sizeof(t) - 1, 0, &d) != 0)
		abort();
	conf_diag_free(&d);
	if ((base = event_base_new()) == NULL)
		abort();
}

/* A fresh ctld for each input, so that each replays alike. */
static void
ctld_up(void)
{
	char err[256];

	memset(&D, 0, sizeof(D));
	D.base = base;
	D.c = &C;
	/* the sockets listen for the whole run; each ctld takes (and closes,
	 * with its listeners) a descriptor of its own for them */
	if (dlfd < 0) {
		dlfd = listen_at(&dsa, tmpdir, "ctld.sock");
		clfd = listen_at(&csa, tmpdir, "control.sock");
	}
	D.daemon_fd = dup(dlfd);
	D.unix_fd = dup(clfd);
	if (D.daemon_fd < 0 || D.unix_fd < 0)
		abort();
	D.tcp_fd = D.http_fd = -1;
	if (ctld_open(&D, err, sizeof(err)) < 0)
		abort();
}

static size_t got;	/* bytes ctld wrote to the control client */

/* Reads and drops what ctld wrote to fd. */
static void
drain(int fd, int counted)
{
	static char b[65536];	/* (not on the stack: ASan would poison 64 KiB a call) */
	ssize_t n;

	while ((n = read(fd, b, sizeof(b))) > 0)
		if (counted)
			got += (size_t)n;
}

static void
settle(int cfd, int dfd)
{
	for (int i = 0; i < 2; i++) {
		event_base_loop(D.base, EVLOOP_NONBLOCK);
		drain(cfd, 1);
		drain(dfd, 0);
	}
}

static void
put(int fd, const uint8_t *p, size_t n, int cfd, int dfd)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno != EAGAIN && errno != EINTR)
			return;		/* ctld closed it (a client cut off): fine */
		if (w > 0) {
			p += w;
			n -= (size_t)w;
		}
		settle(cfd, dfd);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	static uint8_t buf[1 << 20];
	int cfd, dfd;
	size_t i = 0;

	if (size > 1 << 20)
		return 0;
	if (!ready) {
		init();
		ready = 1;
	}
	got = 0;
	ctld_up();
	cfd = dial(&csa);
	dfd = dial(&dsa);
	for (int k = 0; k < 100 && (D.nclients == 0 || LIST_EMPTY(&D.daemons)); k++)
		settle(cfd, dfd);
	if (D.nclients != 1 || LIST_EMPTY(&D.daemons))
		abort();	/* ctld did not take the connections */
	/* the lines in a row that go down one connection are one write */
	while (i < size) {
		int todaemon = data[i] == '>';
		size_t n = 0;
		while (i < size && (data[i] == '>') == todaemon) {
			const uint8_t *nl = memchr(data + i, '\n', size - i);
			size_t end = nl ? (size_t)(nl - data) + 1 : size;
			memcpy(buf + n, data + i + todaemon, end - i - (size_t)todaemon);
			n += end - i - (size_t)todaemon;
			i = end;
		}
		put(todaemon ? dfd : cfd, buf, n, cfd, dfd);
	}
	settle(cfd, dfd);
	if (got == 0)
		abort();	/* every client is greeted (control_connected) */
	close(cfd);
	close(dfd);
	for (int k = 0; k < 1000 && (D.nclients != 0 || !LIST_EMPTY(&D.daemons)); k++)
		event_base_loop(D.base, EVLOOP_NONBLOCK);
	if (D.nclients != 0 || !LIST_EMPTY(&D.daemons))
		abort();	/* a closed connection ctld did not let go */
	ctld_close(&D);
	return 0;
}
