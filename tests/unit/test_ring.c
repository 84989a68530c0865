/* test_ring.c — the ring in one process: wrap-around, full, drop counts,
 * doorbell handshake flags, attach checks; channels with descriptor
 * passing; the libevent consumer and producer across a fork. */
#include <event2/event.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "chan.h"
#include "ring.h"
#include "ringev.h"
#include "t.h"
#include "util.h"

static void
ring_wrap_and_full(void)
{
	char err[128], buf[5000];
	struct ring *p = ring_create(65536, err, sizeof(err));
	struct ring *c;
	bool corrupt;
	uint64_t pushed = 0, got = 0;

	T_CHECK(p != NULL);
	if (!p)
		return;
	c = ring_attach(ring_fd(p), err, sizeof(err));
	T_CHECK(c != NULL);
	memset(buf, 'a', sizeof(buf));
	/* Fill until full: a push that does not fit fails and is counted. */
	while (ring_push(p, REC_EVENT, NULL, 0, buf, 3000, true) == 0)
		pushed++;
	T_EQ_U(ring_stats(p)->drop_records, 1);
	T_CHECK(pushed >= 20);
	T_CHECK(ring_peek(c, &corrupt) == NULL);	/* not published yet */
	T_EQ_U(ring_publish(p), 0);
	/* Consume half, release, push more: the writes wrap around. */
	for (int k = 0; k < 10; k++) {
		const struct wire_rec *w = ring_peek(c, &corrupt);
		T_CHECK(w != NULL && w->len == 3008);
		ring_consume(c);
		got++;
	}
	T_EQ_U(ring_release(c), 0);
	for (int k = 0; k < 9; k++)
		T_CHECK(ring_push(p, REC_EVENT, NULL, 0, buf, 3000 + (size_t)k, true) == 0);
	ring_publish(p);
	for (;;) {
		const struct wire_rec *w = ring_peek(c, &corrupt);
		T_CHECK(!corrupt);
		if (w == NULL)
			break;
		ring_consume(c);
		got++;
	}
	T_EQ_U(got, pushed + 9);
	/* Too large for the ring: refused. */
	T_CHECK(ring_push(p, REC_EVENT, NULL, 0, buf, 20000, true) < 0);
	ring_free(c);
	ring_free(p);
}

static void
ring_sleep_handshake(void)
{
	char err[128];
	struct ring *p = ring_create(65536, err, sizeof(err));
	struct ring *c = ring_attach(ring_fd(p), err, sizeof(err));
	bool corrupt;

	/* Consumer sleeps on an empty ring; the next publish must ring it
	 * once, and the publish after that not again. */
	T_EQ_U(ring_consumer_sleep(c), 1);
	ring_push(p, REC_EOS, NULL, 0, NULL, 0, false);
	T_EQ_U(ring_publish(p), 1);
	T_EQ_U(ring_publish(p), 0);
	/* Records arrived: the consumer does not sleep. */
	T_EQ_U(ring_consumer_sleep(c), 0);
	T_CHECK(ring_peek(c, &corrupt) != NULL);
	ring_consume(c);
	/* Producer sleeps for space; the release rings it once. */
	T_EQ_U(ring_producer_sleep(p, 65536 / 4), 0);	/* there is room */
	while (ring_push(p, REC_EOS, NULL, 0, NULL, 0, false) == 0)
		;
	T_EQ_U(ring_producer_sleep(p, 8), 1);
	ring_publish(p);
	T_CHECK(ring_peek(c, &corrupt) != NULL);
	ring_consume(c);
	T_EQ_U(ring_release(c), 1);
	T_EQ_U(ring_release(c), 0);
	ring_close_producer(p);
	T_CHECK(!ring_eof(c));
	ring_free(c);
	ring_free(p);
}

static void
ring_attach_rejects(void)
{
	char err[128];
	int fds[2];

	T_CHECK(ring_create(100000, err, sizeof(err)) == NULL);
	T_EQ_S(err, "ring size 100000: expected a power of two >= 65536");
	T_CHECK(pipe(fds) == 0);
	T_CHECK(ring_attach(fds[0], err, sizeof(err)) == NULL);
	close(fds[0]);
	close(fds[1]);
}

static void
chan_handshake_passes_ring(void)
{
	char dir[] = "/tmp/sth-chan-XXXXXX", path[256], err[256];
	int lfd;
	pid_t pid;

	T_CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/p.sock", dir);
	lfd = chan_listen(path, NULL, err, sizeof(err));
	T_CHECK(lfd >= 0);
	pid = fork();
	if (pid == 0) {
		/* producer child: accept, check hello, send the ring */
		int c = accept(lfd, NULL, NULL);
		char body[WIRE_MSG_MAX];
		unsigned type;
		struct msg_hello h;
		struct msg_hello_ok ok = { 65536, 3, 0 };
		int n = chan_recv(c, &type, body, sizeof(body), NULL, 5000, err, sizeof(err));
		struct ring *r;
		if (n < 0 || type != MSG_HELLO || chan_hello_check(body, n, &h, err, sizeof(err)) < 0)
			_exit(1);
		if (h.shard != 3 || h.wants != REC_WANT(REC_CHUNK))
			_exit(2);
		r = ring_create(65536, err, sizeof(err));
		ring_push(r, REC_EOS, NULL, 0, NULL, 0, false);
		ring_close_producer(r);
		ring_publish(r);
		chan_send(c, MSG_HELLO_OK, &ok, sizeof(ok), ring_fd(r));
		/* wait for the consumer to go */
		ring_wait(c, 5000);
		_exit(0);
	}
	{
		struct msg_hello h;
		struct msg_hello_ok ok;
		int rfd, st = 0;
		bool corrupt;
		chan_hello_init(&h, ROLE_SINKD, 3, 4, REC_WANT(REC_CHUNK), "test");
		int s = chan_handshake(path, &h, &ok, &rfd, 5000, err, sizeof(err));
		T_CHECK(s >= 0);
		if (s < 0)
			printf("#   handshake: %s\n", err);
		if (s >= 0) {
			struct ring *r = ring_attach(rfd, err, sizeof(err));
			T_CHECK(r != NULL);
			T_EQ_U(ok.shard, 3);
			const struct wire_rec *w = ring_peek(r, &corrupt);
			T_CHECK(w != NULL && w->type == REC_EOS);
			ring_consume(r);
			T_CHECK(ring_eof(r));
			ring_free(r);
			close(rfd);
			close(s);
		}
		waitpid(pid, &st, 0);
		T_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	/* A second producer on the same live path is refused... */
	T_CHECK(chan_listen(path, NULL, err, sizeof(err)) < 0);
	close(lfd);
	/* ...and a stale socket (nobody listening) is replaced. */
	lfd = chan_listen(path, NULL, err, sizeof(err));
	T_CHECK(lfd >= 0);
	close(lfd);
	unlink(path);
	rmdir(dir);
}

/* libevent: a producer process pushes N records in block mode through a
 * small ring; a consumer process's loop checks them all. */
#define EV_N 200000
struct evp {
	struct ringev *re;
	struct event_base *base;
	uint64_t next;
	struct event *ev;
};

static void evp_run(evutil_socket_t fd, short w, void *arg);

static void
evp_space(struct ringev *re, void *arg)
{
	struct evp *P = arg;
	(void)re;
	event_active(P->ev, EV_TIMEOUT, 0);
}

static void
evp_lost(struct ringev *re, void *arg)
{
	struct evp *P = arg;
	(void)re;
	event_base_loopbreak(P->base);
}

static void
evp_run(evutil_socket_t fd, short w, void *arg)
{
	struct evp *P = arg;
	(void)fd;
	(void)w;
	while (P->next < EV_N) {
		uint64_t v = P->next;
		if (ringev_push(P->re, REC_TICK, &v, sizeof(v), NULL, 0) < 0)
			return;		/* evp_space resumes */
		P->next++;
	}
	ringev_close_producer(P->re);
}

struct evc {
	uint64_t expect;
	int bad;
	struct event_base *base;
};

static int
evc_rec(const struct wire_rec *r, void *arg)
{
	struct evc *C = arg;
	uint64_t v;
	memcpy(&v, r + 1, sizeof(v));
	if (v != C->expect)
		C->bad++;
	C->expect++;
	return 0;
}

static void
evc_lost(struct ringev *re, void *arg)
{
	struct evc *C = arg;
	(void)re;
	event_base_loopbreak(C->base);
}

static void
ringev_block_mode_lossless(void)
{
	int sv[2];
	char err[128];
	pid_t pid;
	struct ring *r = ring_create(65536, err, sizeof(err));

	T_CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	pid = fork();
	if (pid == 0) {
		struct evp P = { 0 };
		close(sv[1]);
		P.base = event_base_new();
		P.re = ringev_producer_new(P.base, sv[0], r, true, evp_space, evp_lost, &P);
		P.ev = event_new(P.base, -1, 0, evp_run, &P);
		event_active(P.ev, EV_TIMEOUT, 0);
		/* Runs until the consumer hangs up after EOF. */
		event_base_dispatch(P.base);
		_exit(P.next == EV_N ? 0 : 1);
	}
	close(sv[0]);
	{
		struct evc C = { 0, 0, event_base_new() };
		struct ring *cr = ring_attach(ring_fd(r), err, sizeof(err));
		struct ringev *re = ringev_consumer_new(C.base, sv[1], cr, evc_rec, evc_lost, &C, 256);
		int st = 0;
		ring_free(r);
		event_base_dispatch(C.base);
		T_EQ_U(C.expect, EV_N);
		T_EQ_U(C.bad, 0);
		ringev_free(re);	/* closes the socket: the producer exits */
		waitpid(pid, &st, 0);
		T_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
		event_base_free(C.base);
	}
}

int
main(void)
{
	signal(SIGPIPE, SIG_IGN);
	T_RUN(ring_wrap_and_full);
	T_RUN(ring_sleep_handshake);
	T_RUN(ring_attach_rejects);
	T_RUN(chan_handshake_passes_ring);
	T_RUN(ringev_block_mode_lossless);
	return T_DONE();
}
