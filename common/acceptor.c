/*
 * acceptor.c — hellos read without blocking, under a deadline (acceptor.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>

#include "acceptor.h"
#include "chan.h"
#include "ring.h"
#include "log.h"
#include "util.h"

struct pending {
	struct acceptor *a;
	TAILQ_ENTRY(pending) q;		/* oldest first */
	int fd;
	struct event *ev;
	uint64_t deadline_ns;		/* monotonic */
	size_t got;
	uint8_t buf[sizeof(struct wire_msg) + sizeof(struct msg_hello)];
};

struct acceptor {
	struct event_base *base;
	int lfd;
	const char *who;
	unsigned deadline_ms, max_pending, npending;
	struct event *ev_accept;
	TAILQ_HEAD(, pending) pending;	/* oldest first */
	acceptor_cb cb;
	void *arg;
	uint64_t dropped;
};

static void
pending_free(struct pending *p, bool close_fd)
{
	struct acceptor *a = p->a;

	TAILQ_REMOVE(&a->pending, p, q);
	a->npending--;
	event_free(p->ev);
	if (close_fd)
		close(p->fd);
	free(p);
}

/* Why a peer is dropped: each kind has its own log limit, so that a
 * flood of one kind does not hide the other. */
enum { D_SILENT, D_GONE, D_BAD, D_CROWD, D_REFUSED, D_KINDS };

/* Refuses a pending peer: logged (rate-limited: at most five lines a
 * second of each kind), told why when it can hear it, closed, counted. */
static struct log_rl drop_rl[D_KINDS];

static void
tell(int fd, const char *why)
{
	struct wire_msg m = { MSG_REJECT, (uint16_t)strlen(why) };

	/* a best effort: the peer may be gone, and this never blocks */
	if (send(fd, &m, sizeof(m), MSG_NOSIGNAL | MSG_DONTWAIT) == (ssize_t)sizeof(m))
		(void)send(fd, why, m.len, MSG_NOSIGNAL | MSG_DONTWAIT);
}

static void
drop(struct pending *p, int kind, const char *why)
{
	struct acceptor *a = p->a;

	a->dropped++;
	log_ratelimited(&drop_rl[kind], 5, 1000, LOG_WARNING, "%s dropped: %s (%llu peers dropped so far)",
	    a->who, why, (unsigned long long)a->dropped);
	tell(p->fd, why);
	pending_free(p, true);
}

void
acceptor_refuse(struct acceptor *a, int fd, const char *fmt, ...)
{
	char why[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	a->dropped++;
	log_ratelimited(&drop_rl[D_REFUSED], 5, 1000, LOG_WARNING, "refused %s: %s (%llu peers dropped so far)",
	    a->who, why, (unsigned long long)a->dropped);
	tell(fd, why);
	close(fd);
}

struct ringev *
acceptor_attach(struct acceptor *a, int fd, const struct msg_hello *h, size_t ring_bytes,
    unsigned shard, bool block, ringev_cb on_space, ringev_cb on_lost, void *arg)
{
	struct msg_hello_ok ok;
	struct ring *r;
	char err[256];

	if ((r = ring_create(ring_bytes, err, sizeof(err))) == NULL) {
		acceptor_refuse(a, fd, "cannot make a ring for %s: %s", h->name, err);
		return NULL;
	}
	ok.ring_bytes = ring_size(r);
	ok.shard = shard;
	ok.flags = 0;
	if (chan_send(fd, MSG_HELLO_OK, &ok, sizeof(ok), ring_fd(r)) < 0) {
		a->dropped++;
		log_warn("%s (%s): sending its ring", a->who, h->name);
		ring_free(r);
		close(fd);
		return NULL;
	}
	return ringev_producer_new(a->base, fd, r, block, on_space, on_lost, arg);
}

static void
on_read(evutil_socket_t fd, short what, void *arg)
{
	struct pending *p = arg;
	struct acceptor *a = p->a;
	const struct wire_msg *m = (const struct wire_msg *)p->buf;
	struct msg_hello h;
	char err[256];
	ssize_t n;

	if (what & EV_TIMEOUT) {
		drop(p, D_SILENT, "no hello within the deadline");
		return;
	}
	n = recv(fd, p->buf + p->got, sizeof(p->buf) - p->got, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		goto again;
	if (n <= 0) {
		drop(p, D_GONE, n == 0 ? "closed before its hello" : "cannot read its hello");
		return;
	}
	p->got += (size_t)n;
	if (p->got >= sizeof(*m) && (m->type != MSG_HELLO || m->len != sizeof(struct msg_hello))) {
		drop(p, D_BAD, m->type != MSG_HELLO ? "bad hello: not a hello" : "bad hello: wrong length");
		return;
	}
	if (p->got < sizeof(p->buf))
		goto again;
	if (chan_hello_check(p->buf + sizeof(*m), (int)sizeof(struct msg_hello), &h, err, sizeof(err)) < 0) {
		char why[300];
		snprintf(why, sizeof(why), "bad hello: %s", err);
		drop(p, D_BAD, why);
		return;
	}
	h.name[sizeof(h.name) - 1] = '\0';
	/* the rest of chan.h reads and writes blocking */
	fcntl(p->fd, F_SETFL, fcntl(p->fd, F_GETFL) & ~O_NONBLOCK);
	fd = p->fd;
	pending_free(p, false);
	a->cb(fd, &h, a->arg);
	return;
again: {
		uint64_t now = now_mono_ns();
		uint64_t left = p->deadline_ns > now ? p->deadline_ns - now : 0;
		struct timeval tv = { (time_t)(left / NSEC_PER_SEC), (suseconds_t)(left % NSEC_PER_SEC / 1000) };
		event_add(p->ev, &tv);
	}
}

static void
on_accept(evutil_socket_t lfd, short what, void *arg)
{
	struct acceptor *a = arg;

	(void)what;
	/* everything the backlog holds, then back to the loop */
	for (unsigned k = 0; k < 64; k++) {
		struct pending *p;
		int fd = accept(lfd, NULL, NULL);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
			    errno != ECONNABORTED) {
				static struct log_rl rl;
				log_ratelimited(&rl, 1, 10000, LOG_WARNING, "accepting %s: %s", a->who,
				    strerror(errno));
			}
			return;
		}
		fd_set_cloexec(fd);
		fd_set_nonblock(fd);
		p = xcalloc(1, sizeof(*p));
		p->a = a;
		p->fd = fd;
		p->deadline_ns = now_mono_ns() + (uint64_t)a->deadline_ms * 1000000ULL;
		p->ev = event_new(a->base, fd, EV_READ, on_read, p);
		TAILQ_INSERT_TAIL(&a->pending, p, q);
		a->npending++;
		/* Over the limit, the peer that has waited longest goes: a real
		 * consumer says hello at once, a silent one is the oldest. */
		if (a->npending > a->max_pending) {
			struct pending *o = TAILQ_FIRST(&a->pending);
			drop(o, D_CROWD, "too many peers waiting to say hello (the oldest goes)");
			if (o == p)
				continue;
		}
		struct timeval tv = { (time_t)(a->deadline_ms / 1000), (suseconds_t)(a->deadline_ms % 1000 * 1000) };
		event_add(p->ev, &tv);
	}
}

struct acceptor *
acceptor_new(struct event_base *base, int lfd, const char *who, unsigned deadline_ms,
    unsigned max_pending, acceptor_cb cb, void *arg)
{
	struct acceptor *a = xcalloc(1, sizeof(*a));

	a->base = base;
	a->lfd = lfd;
	a->who = who;
	a->deadline_ms = deadline_ms;
	a->max_pending = max_pending;
	a->cb = cb;
	a->arg = arg;
	TAILQ_INIT(&a->pending);
	fd_set_nonblock(lfd);
	a->ev_accept = event_new(base, lfd, EV_READ | EV_PERSIST, on_accept, a);
	event_add(a->ev_accept, NULL);
	return a;
}

uint64_t
acceptor_dropped(const struct acceptor *a)
{
	return a ? a->dropped : 0;
}

void
acceptor_free(struct acceptor *a)
{
	if (a == NULL)
		return;
	while (!TAILQ_EMPTY(&a->pending))
		pending_free(TAILQ_FIRST(&a->pending), true);
	event_free(a->ev_accept);
	free(a);
}
