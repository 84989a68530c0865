/*
 * sinks.c — reasmd's consumers: the sink daemons on reasmd.N.sock.
 *
 * A sink connects, says in its hello which record types it wants (chunks
 * for listener and connector, packets for pcap, events for json) and gets
 * a ring of its own.  Every record the engine produces goes to each sink
 * that wants its type.  A full ring:
 *
 *   - block mode (runtime.overflow block, the default for file input):
 *     reasmd waits for that sink; the pipeline runs at its pace, lossless;
 *   - drop mode: the record is dropped and counted as sink_ring_full
 *     (records, bytes) for that sink, and the put says which sinks lost
 *     it (fanout.c counts a chunk's bytes per session and direction, so
 *     the session_close that sink gets carries the bytes it lost: this
 *     file knows records, not sessions).  Data records (chunks,
 *     packets) may not use the last eighth of a ring: that room is kept
 *     for the small records a sink needs to keep its books (open, gap,
 *     close, tick, end of stream).
 *
 * A sink that disconnects keeps its slot (matched by its hello name): what
 * it would have been given meanwhile is counted as sink_ring_full, and it
 * continues where it is when it reconnects.
 */
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <json-c/json.h>

#include "acceptor.h"
#include "chan.h"
#include "counters.h"
#include "log.h"
#include "reasmd.h"
#include "ringev.h"
#include "util.h"

struct sinks;

struct sink {
	struct sinks *S;
	char name[32];
	uint32_t wants;
	struct ringev *re;		/* NULL while disconnected */
	bool dead;			/* lost; freed outside the push path */
	uint64_t records, bytes;
	uint64_t full_records, full_bytes;	/* sink_ring_full */
	uint64_t lost_bytes;		/* in its ring, unread, when it died */
	uint64_t connects;
};

struct sinks {
	struct event_base *base;
	unsigned shard;
	int lfd;
	struct acceptor *acc;		/* hellos read without blocking the loop */
	struct event *ev_reap;
	struct sink s[SINKS_MAX];
	unsigned n;			/* slots in use */
	unsigned expect;		/* --sinks: wait for this many */
	bool block, ready;
	size_t ring_bytes;
	uint32_t wants;			/* union over the slots */
	void (*on_ready)(void *);
	void (*on_connect)(unsigned, void *);
	void *arg;
};

static unsigned
sinks_connected(const struct sinks *S)
{
	unsigned n = 0;

	for (unsigned k = 0; k < S->n; k++)
		if (S->s[k].re != NULL && !S->s[k].dead)
			n++;
	return n;
}

static void
sink_reap(evutil_socket_t fd, short what, void *arg)
{
	struct sinks *S = arg;

	(void)fd;
	(void)what;
	for (unsigned k = 0; k < S->n; k++)
		if (S->s[k].dead) {
			ringev_free(S->s[k].re);
			S->s[k].re = NULL;
			S->s[k].dead = false;
		}
}

static void
sink_lost(struct ringev *re, void *arg)
{
	struct sink *k = arg;

	(void)re;
	if (k->dead)
		return;
	k->dead = true;
	if (k->re != NULL) {
		struct ring *r = ringev_ring(k->re);
		size_t unread = ring_size(r) - ring_space(r);
		k->lost_bytes += unread;
		if (unread > 0 && k->wants != 0)
			log_warnx("sink \"%s\": %zu bytes of records it had not read are lost with it "
			    "(sink_lost_in_ring_bytes)", k->name, unread);
	}
	if (k->wants == 0)
		log_info("sink \"%s\" (its output disabled) disconnected", k->name);
	else
		log_warnx("sink \"%s\" disconnected; what it would get is counted as sink_ring_full "
		    "until it reconnects", k->name);
	event_active(k->S->ev_reap, EV_TIMEOUT, 0);
}

/* A sink said hello (acceptor.c read it without blocking the loop). */
static void
sinks_on_hello(int fd, const struct msg_hello *hp, void *arg)
{
	struct sinks *S = arg;
	struct msg_hello h = *hp;
	struct sink *k = NULL;

	if (h.role != ROLE_SINKD && h.role != ROLE_DUMP) {
		acceptor_refuse(S->acc, fd, "%s: reasmd serves sinks; capd.sock is where a reasmd connects", h.name);
		return;
	}
	for (unsigned i = 0; i < S->n; i++)
		if (strcmp(S->s[i].name, h.name) == 0)
			k = &S->s[i];
	if (k != NULL && k->re != NULL && !k->dead) {
		acceptor_refuse(S->acc, fd, "a sink named \"%s\" is already connected", h.name);
		return;
	}
	if (k == NULL) {
		if (S->n == SINKS_MAX) {
			acceptor_refuse(S->acc, fd, "reasmd serves at most %d sinks", SINKS_MAX);
			return;
		}
		k = &S->s[S->n++];
		memset(k, 0, sizeof(*k));
		k->S = S;
		sth_strlcpy(k->name, h.name, sizeof(k->name));
	}
	if (k->dead) {
		ringev_free(k->re);
		k->re = NULL;
		k->dead = false;
	}
	if ((k->re = acceptor_attach(S->acc, fd, &h, S->ring_bytes, S->shard, false, NULL,
	    sink_lost, k)) == NULL)
		return;
	k->wants = h.wants | REC_WANT(REC_EOS);
	k->connects++;
	S->wants = 0;
	for (unsigned i = 0; i < S->n; i++)
		S->wants |= S->s[i].wants;
	log_info("sink \"%s\" connected (%u of %u expected)", k->name, sinks_connected(S), S->expect);
	if (S->on_connect)
		S->on_connect((unsigned)(k - S->s), S->arg);
	if (!S->ready && sinks_connected(S) >= S->expect) {
		S->ready = true;
		if (S->on_ready)
			S->on_ready(S->arg);
	}
}

struct sinks *
sinks_listen(struct event_base *base, const char *path, const char *group, unsigned expect,
    unsigned shard, size_t ring_bytes, bool block, char *err, size_t errlen)
{
	struct sinks *S = xcalloc(1, sizeof(*S));

	S->base = base;
	S->shard = shard;
	S->expect = expect;
	S->block = block;
	S->ring_bytes = ring_bytes;
	S->lfd = chan_listen(path, group, err, errlen);
	if (S->lfd < 0) {
		free(S);
		return NULL;
	}
	S->ready = expect == 0;
	return S;
}

void
sinks_start(struct sinks *S, void (*on_ready)(void *), void (*on_connect)(unsigned, void *),
    void *arg)
{
	S->on_ready = on_ready;
	S->on_connect = on_connect;
	S->arg = arg;
	S->acc = acceptor_new(S->base, S->lfd, "a sink", 2000, 64, sinks_on_hello, S);
	S->ev_reap = event_new(S->base, -1, 0, sink_reap, S);
	if (S->ready && on_ready)
		on_ready(arg);
}

bool
sinks_ready(const struct sinks *S)
{
	return S == NULL || S->ready;
}

bool
sinks_want(const struct sinks *S, unsigned type)
{
	return S != NULL && (S->wants & REC_WANT(type));
}

unsigned
sinks_count(const struct sinks *S)
{
	return S ? S->n : 0;
}

bool
sinks_want_one(const struct sinks *S, unsigned idx, unsigned type)
{
	return S != NULL && idx < S->n && (S->s[idx].wants & REC_WANT(type));
}

/* Pushes to one sink.  Returns 0 or -1 (counted as its sink_ring_full). */
static int
sink_push(struct sinks *S, unsigned idx, unsigned type, const void *fixed, size_t flen,
    const void *var, size_t vlen)
{
	struct sink *k = &S->s[idx];
	size_t len = sizeof(struct wire_rec) + flen + vlen;

	if (k->re == NULL || k->dead)
		goto full;
	if (S->block) {
		if (ringev_push_wait(k->re, type, fixed, flen, var, vlen, 5000, k->name) < 0)
			goto full;
	} else {
		struct ring *r = ringev_ring(k->re);
		bool data = type == REC_CHUNK || type == REC_PACKET;
		size_t need = wire_padded((uint32_t)len) + (data ? ring_size(r) / 8 : 0);
		if ((ring_space(r) < need && (ringev_flush(k->re), ring_space(r) < need)) ||
		    ringev_push(k->re, type, fixed, flen, var, vlen) < 0)
			goto full;
	}
	k->records++;
	k->bytes += len;
	return 0;
full:
	k->full_records++;
	k->full_bytes += len;
	return -1;
}

uint32_t
sinks_put(struct sinks *S, unsigned type, const void *fixed, size_t flen,
    const void *var, size_t vlen)
{
	uint32_t lost = 0;

	for (unsigned i = 0; i < S->n; i++)
		if ((S->s[i].wants & REC_WANT(type)) &&
		    sink_push(S, i, type, fixed, flen, var, vlen) < 0)
			lost |= 1u << i;
	return lost;
}

int
sinks_put_to(struct sinks *S, unsigned idx, unsigned type, const void *fixed, size_t flen,
    const void *var, size_t vlen)
{
	if (S == NULL || idx >= S->n)
		return -1;
	return sink_push(S, idx, type, fixed, flen, var, vlen);
}

void
sinks_flush(struct sinks *S)
{
	if (S == NULL)
		return;
	for (unsigned i = 0; i < S->n; i++)
		if (S->s[i].re != NULL && !S->s[i].dead)
			ringev_flush(S->s[i].re);
}

void
sinks_eos(struct sinks *S)
{
	if (S == NULL)
		return;
	for (unsigned i = 0; i < S->n; i++)
		if (S->s[i].re != NULL && !S->s[i].dead) {
			sink_push(S, i, REC_EOS, NULL, 0, NULL, 0);
			if (S->s[i].re != NULL && !S->s[i].dead)
				ringev_close_producer(S->s[i].re);
		}
}

void
sinks_summary(const struct sinks *S, FILE *f)
{
	if (S == NULL)
		return;
	for (unsigned i = 0; i < S->n; i++) {
		const struct sink *k = &S->s[i];
		fprintf(f, "reasmd: sink \"%s\": %" PRIu64 " records (%" PRIu64 " bytes), sink_ring_full %"
		    PRIu64 " records (%" PRIu64 " bytes), lost in its ring %" PRIu64 " bytes%s\n", k->name,
		    k->records, k->bytes, k->full_records, k->full_bytes, k->lost_bytes,
		    k->re && !k->dead ? "" : " (not connected)");
	}
}

void
sinks_counters(const struct sinks *S, struct ctr_enc *e)
{
	ctr_set(e, CTR_R_PEERS_DROPPED, acceptor_dropped(S ? S->acc : NULL));
	ctr_declare(e, CTR_R_SINK_RECORDS);
	ctr_declare(e, CTR_R_SINK_FULL);
	ctr_declare(e, CTR_R_SINK_FULL_BYTES);
	ctr_declare(e, CTR_R_SINK_LOST);
	for (unsigned i = 0; S != NULL && i < S->n; i++) {
		const struct sink *k = &S->s[i];
		ctr_set_label(e, CTR_R_SINK_RECORDS, k->name, k->records);
		ctr_set_label(e, CTR_R_SINK_FULL, k->name, k->full_records);
		ctr_set_label(e, CTR_R_SINK_FULL_BYTES, k->name, k->full_bytes);
		ctr_set_label(e, CTR_R_SINK_LOST, k->name, k->lost_bytes);
	}
}

void
sinks_retain(struct sinks *S, struct json_object *names)
{
	if (S == NULL)
		return;
	for (unsigned i = 0; i < S->n; i++) {
		struct sink *k = &S->s[i];
		bool named = false;
		for (size_t j = 0; j < json_object_array_length(names); j++) {
			const char *n = json_object_get_string(json_object_array_get_idx(names, j));
			named |= n != NULL && strcmp(n, k->name) == 0;
		}
		if (!named && k->wants != 0) {
			k->wants = 0;
			log_info("sink \"%s\": its output is disabled; nothing more goes to it", k->name);
		}
	}
	S->wants = 0;
	for (unsigned i = 0; i < S->n; i++)
		S->wants |= S->s[i].wants;
}

void
sinks_free(struct sinks *S)
{
	if (S == NULL)
		return;
	for (unsigned i = 0; i < S->n; i++)
		ringev_free(S->s[i].re);
	acceptor_free(S->acc);
	if (S->ev_reap)
		event_free(S->ev_reap);
	close(S->lfd);
	free(S);
}
