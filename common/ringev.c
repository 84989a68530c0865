/*
 * ringev.c — ring doorbells and draining driven by libevent.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "ringev.h"
#include "util.h"

struct ringev {
	struct event_base *base;
	struct event *ev_sock;		/* doorbells and end of file */
	struct event *ev_run;		/* consumer: drain again soon */
	struct ring *ring;
	int sock;
	bool producer, block, lost, waiting_space, eos_seen;
	uint32_t need;			/* producer: bytes waited for */
	unsigned batch;
	size_t unpublished;
	uint8_t *copy;			/* consumer: a private copy of each record */
	size_t copycap;
	ringev_record_cb on_record;
	ringev_cb on_space, on_lost, on_idle;
	void *arg;
};

static void
ringev_set_lost(struct ringev *re)
{
	if (re->lost)
		return;
	re->lost = true;
	event_del(re->ev_sock);
	if (re->ev_run)
		event_del(re->ev_run);
	if (re->on_lost)
		re->on_lost(re, re->arg);
}

/* Drains doorbells; returns -1 when the peer is gone. */
static int
ringev_drain_sock(struct ringev *re)
{
	unsigned char buf[512];

	for (;;) {
		ssize_t n = recv(re->sock, buf, sizeof(buf), MSG_DONTWAIT);
		if (n > 0)
			continue;
		if (n == 0)
			return -1;
		if (errno == EINTR)
			continue;
		return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
	}
}

/* Hands records to the callback: a batch (then yields to the loop), or
 * with `all` everything published (the producer is gone). */
static void
ringev_consume(struct ringev *re, bool all)
{
	unsigned n = 0;
	size_t bytes = 0;
	bool corrupt;
	const struct wire_rec *rec;

	while (!re->lost) {
		rec = ring_peek(re->ring, &corrupt);
		if (corrupt) {
			log_warnx("ring from peer is corrupt; dropping the peer");
			ringev_set_lost(re);
			return;
		}
		if (rec == NULL) {
			if (ring_release(re->ring) && ring_ring(re->sock, MSG_WAKE_PRODUCER) < 0) {
				ringev_set_lost(re);
				return;
			}
			if (all)
				return;
			if (re->on_idle) {
				re->on_idle(re, re->arg);
				if (re->lost)
					return;
			}
			if (ring_eof(re->ring)) {
				/* The producer finished: report it as lost
				 * once everything has been read. */
				ringev_set_lost(re);
				return;
			}
			if (ring_consumer_sleep(re->ring))
				return;		/* the doorbell wakes us */
			continue;
		}
		{
			/* The producer can still write the shared memory: the
			 * record is copied, then checked, then used. */
			char err[160];
			uint32_t len = rec->len;
			if (len > re->copycap) {
				re->copycap = len < 65536 ? 65536 : len;
				free(re->copy);
				re->copy = xmalloc(re->copycap);
			}
			memcpy(re->copy, rec, len);
			rec = (const struct wire_rec *)re->copy;
			if (rec->len != len || wire_rec_check(rec, len, err, sizeof(err)) < 0) {
				log_warnx("a malformed record from the peer (%s); dropping the peer",
				    rec->len != len ? "length changed" : err);
				ring_consume(re->ring);
				ringev_set_lost(re);
				return;
			}
		}
		if (re->on_record(rec, re->arg) < 0) {
			ring_consume(re->ring);
			ringev_set_lost(re);
			return;
		}
		ring_consume(re->ring);
		if ((++n & 63) == 0 && ring_release(re->ring) &&
		    ring_ring(re->sock, MSG_WAKE_PRODUCER) < 0) {
			ringev_set_lost(re);
			return;
		}
		bytes += rec->len;
		/* A batch is `batch` records or 256 KiB, whichever comes first:
		 * a burst of large chunks must not keep the loop (and the
		 * sockets it writes) waiting. */
		if (!all && (n >= re->batch || bytes >= (256u << 10))) {
			if (ring_release(re->ring))
				ring_ring(re->sock, MSG_WAKE_PRODUCER);
			event_active(re->ev_run, EV_TIMEOUT, 0);
			return;
		}
	}
}

static void
ringev_on_run(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	ringev_consume(arg, false);
}

static void
ringev_on_sock(evutil_socket_t fd, short what, void *arg)
{
	struct ringev *re = arg;
	int gone;

	(void)fd;
	(void)what;
	gone = ringev_drain_sock(re) < 0;
	if (re->producer) {
		if (gone) {
			ringev_set_lost(re);
			return;
		}
		if (re->waiting_space && !ring_producer_sleep(re->ring, re->need)) {
			re->waiting_space = false;
			if (re->on_space)
				re->on_space(re, re->arg);
		}
		return;
	}
	if (gone) {
		/* The producer died: whatever it published is still read. */
		if (re->ev_run)
			event_del(re->ev_run);
		ringev_consume(re, true);
		ringev_set_lost(re);
		return;
	}
	ringev_consume(re, false);
}

static struct ringev *
ringev_new(struct event_base *base, int sock, struct ring *ring, void *arg)
{
	struct ringev *re = xcalloc(1, sizeof(*re));

	re->base = base;
	re->sock = sock;
	re->ring = ring;
	re->arg = arg;
	fd_set_nonblock(sock);
	re->ev_sock = event_new(base, sock, EV_READ | EV_PERSIST, ringev_on_sock, re);
	event_add(re->ev_sock, NULL);
	return re;
}

struct ringev *
ringev_consumer_new(struct event_base *base, int sock, struct ring *ring,
    ringev_record_cb on_record, ringev_cb on_lost, void *arg, unsigned batch)
{
	struct ringev *re = ringev_new(base, sock, ring, arg);

	re->on_record = on_record;
	re->on_lost = on_lost;
	re->batch = batch ? batch : 1024;
	re->ev_run = event_new(base, -1, 0, ringev_on_run, re);
	/* Start by draining whatever is there already. */
	event_active(re->ev_run, EV_TIMEOUT, 0);
	return re;
}

struct ringev *
ringev_producer_new(struct event_base *base, int sock, struct ring *ring,
    bool block, ringev_cb on_space, ringev_cb on_lost, void *arg)
{
	struct ringev *re = ringev_new(base, sock, ring, arg);

	re->producer = true;
	re->block = block;
	re->on_space = on_space;
	re->on_lost = on_lost;
	return re;
}

void
ringev_flush(struct ringev *re)
{
	re->unpublished = 0;
	if (re->lost)
		return;
	if (ring_publish(re->ring) && ring_ring(re->sock, MSG_WAKE_CONSUMER) < 0)
		ringev_set_lost(re);
}

int
ringev_push(struct ringev *re, unsigned type, const void *fixed, size_t flen,
    const void *var, size_t vlen)
{
	size_t len = sizeof(struct wire_rec) + flen + vlen;

	if (re->lost)
		return -1;
	if (ring_push(re->ring, type, fixed, flen, var, vlen, !re->block) < 0) {
		/* Publish what is there so the consumer can make room. */
		ringev_flush(re);
		if (re->block && len <= ring_max_record(re->ring)) {
			re->need = (uint32_t)len;
			if (!ring_producer_sleep(re->ring, re->need)) {
				/* Space appeared meanwhile: the retry takes it. */
				if (ring_push(re->ring, type, fixed, flen, var, vlen, false) == 0)
					goto pushed;
			}
			re->waiting_space = true;
		} else if (re->block) {
			/* Larger than any ring record can be: a drop, counted. */
			struct ring_stats *st = (struct ring_stats *)ring_stats(re->ring);
			st->drop_records++;
			st->drop_bytes += len;
		}
		return -1;
	}
pushed:
	re->unpublished += len;
	if (re->unpublished >= ring_size(re->ring) / 16)
		ringev_flush(re);
	return 0;
}

void
ringev_set_idle(struct ringev *re, ringev_cb on_idle)
{
	re->on_idle = on_idle;
}

int
ringev_push_wait(struct ringev *re, unsigned type, const void *fixed, size_t flen,
    const void *var, size_t vlen, unsigned warn_ms, const char *who)
{
	size_t len = sizeof(struct wire_rec) + flen + vlen;
	uint64_t since = 0;

	if (re->lost)
		return -1;
	if (wire_padded((uint32_t)len) > ring_max_record(re->ring)) {
		struct ring_stats *st = (struct ring_stats *)ring_stats(re->ring);
		st->drop_records++;
		st->drop_bytes += len;
		return -1;
	}
	while (ring_push(re->ring, type, fixed, flen, var, vlen, false) < 0) {
		ringev_flush(re);
		if (re->lost)
			return -1;
		if (!ring_producer_sleep(re->ring, (uint32_t)len))
			continue;
		/* Blocked: this side waits, as block mode says; the wait is
		 * bounded only by the consumer, which is told in the log. */
		if (since == 0)
			since = now_mono_ns();
		int w = ring_wait(re->sock, (int)(warn_ms ? warn_ms : 5000));
		if (w < 0) {
			ringev_set_lost(re);
			return -1;
		}
		if (w == 0)
			log_warnx("%s: ring full for %llu ms (block mode: waiting for it to read)",
			    who ? who : "consumer",
			    (unsigned long long)((now_mono_ns() - since) / 1000000));
	}
	re->unpublished += len;
	if (re->unpublished >= ring_size(re->ring) / 16)
		ringev_flush(re);
	return 0;
}

void
ringev_close_producer(struct ringev *re)
{
	ring_close_producer(re->ring);
	ringev_flush(re);
}

struct ring *ringev_ring(struct ringev *re) { return re->ring; }
bool ringev_lost(const struct ringev *re) { return re->lost; }

void
ringev_free(struct ringev *re)
{
	if (re == NULL)
		return;
	event_free(re->ev_sock);
	if (re->ev_run)
		event_free(re->ev_run);
	close(re->sock);
	ring_free(re->ring);
	free(re->copy);
	free(re);
}
