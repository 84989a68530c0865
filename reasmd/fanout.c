/*
 * fanout.c — the records reasmd produces (common/wire.h), to the record
 * stream (-w) and to every sink that wants their type (sinks.c).
 *
 * The sinks know records, not sessions: a put says which sinks lost the
 * record, and the bytes of a lost chunk are counted here, per session,
 * direction and sink, so the session_close each sink gets carries what it
 * lost itself (wire_dir_counters.dropped_sink) and its books balance.
 */
#include <stdlib.h>
#include <errno.h>
#include <string.h>

#include "recio.h"
#include "log.h"
#include "reasmd.h"
#include "util.h"

static bool
want(const struct reasm *R, unsigned type)
{
	return R->out.w != NULL || sinks_want(R->sinks, type);
}

/* Bytes of a chunk that the sinks in `lost` did not get. */
static void
count_lost(struct session *s, int dir, uint32_t lost, uint64_t bytes)
{
	if (lost == 0 || s == NULL || bytes == 0)
		return;
	if (s->sinkdrop == NULL)
		s->sinkdrop = xcalloc(SINKS_MAX * 2, sizeof(uint64_t));
	for (unsigned i = 0; i < SINKS_MAX; i++)
		if (lost & (1u << i)) {
			s->sinkdrop[i * 2 + (dir & 1)] += bytes;
			s->d[dir & 1].c.dropped_sink += bytes;
		}
}

/* The record stream (-w): a write that fails (the reader went away, the
 * disk is full) is said at once; the stream stops there, what it would
 * have carried is counted (stream_write_error), the other outputs go on. */
static void
w_failed(struct reasm *R)
{
	if (!R->out.w_reported && recw_failed(R->out.w)) {
		R->out.w_reported = true;
		log_warnx("-w: %s: the record stream stops here (what it would carry is counted as "
		    "stream_write_error); the other outputs go on", strerror(errno));
	}
}

static void
wput(struct reasm *R, unsigned type, const void *fixed, size_t flen, const void *var, size_t vlen)
{
	if (R->out.w && recw_put(R->out.w, type, fixed, flen, var, vlen) < 0)
		w_failed(R);
}

static void
wflush(struct reasm *R)
{
	if (R->out.w && recw_flush(R->out.w) < 0)
		w_failed(R);
}

static uint32_t
put(struct reasm *R, unsigned type, const void *fixed, size_t flen, const void *var, size_t vlen)
{
	wput(R, type, fixed, flen, var, vlen);
	return R->sinks ? sinks_put(R->sinks, type, fixed, flen, var, vlen) : 0;
}

static struct rec_interface
iface_rec(const struct reasm *R, uint32_t id)
{
	const struct reasm_iface *i = &R->ifs[id];

	return (struct rec_interface){ id, (uint32_t)i->dlt, (uint32_t)i->snaplen,
	    (uint32_t)strlen(i->name) };
}

void
fan_interface(struct reasm *R, uint32_t id)
{
	struct rec_interface r = iface_rec(R, id);

	if (want(R, REC_INTERFACE))
		put(R, REC_INTERFACE, &r, sizeof(r), R->ifs[id].name, r.name_len);
}

void
fan_interfaces_to(struct reasm *R, unsigned sink)
{
	for (uint32_t id = 0; id < REASM_IFACES; id++) {
		if (!R->ifs[id].known)
			continue;
		struct rec_interface r = iface_rec(R, id);
		sinks_put_to(R->sinks, sink, REC_INTERFACE, &r, sizeof(r), R->ifs[id].name, r.name_len);
	}
	sinks_flush(R->sinks);
}

static void
join_one(struct reasm *R, struct session *s, void *arg)
{
	unsigned sink = *(unsigned *)arg;
	struct rec_session_join j;

	memset(&j, 0, sizeof(j));
	j.open.session_id = s->id;
	j.open.ts_ns = R->now_ns;
	j.open.flow.family = s->family;
	j.open.flow.role_guessed = s->role_guessed;
	j.open.flow.local_side = s->local_side;
	j.open.flow.client_port = s->cport;
	j.open.flow.server_port = s->sport;
	memcpy(j.open.flow.client_ip, s->cip, 16);
	memcpy(j.open.flow.server_ip, s->sip, 16);
	for (int d = 0; d < 2; d++) {
		j.off[d] = s->d[d].next;
		j.missed[d] = MIN(s->d[d].c.delivered, s->d[d].next);
	}
	/* What this sink lost before is in the missed bytes now: its books
	 * of the session start here. */
	if (s->sinkdrop != NULL && sink < SINKS_MAX)
		s->sinkdrop[sink * 2] = s->sinkdrop[sink * 2 + 1] = 0;
	sinks_put_to(R->sinks, sink, REC_SESSION_JOIN, &j, sizeof(j), NULL, 0);
}

void
fan_joins_to(struct reasm *R, unsigned sink)
{
	tcp_foreach_open(R, join_one, &sink);
	sinks_flush(R->sinks);
}

void
fan_tick(struct reasm *R)
{
	if (R->out.w == NULL && R->sinks == NULL)
		return;
	/* The watermark: no frame older than this will follow (a datagram
	 * still being reassembled, a frame held for its call, holds it back).  A stream (-w) carries it
	 * too, for a sink that reads it (sinkd -r). */
	uint64_t fo = R->frags ? frag_oldest_ns(R->frags) : UINT64_MAX;
	uint64_t ho = hold_oldest_ns(R->hold);
	if (ho < fo)
		fo = ho;
	struct rec_tick t = { fo <= R->now_ns ? (fo ? fo - 1 : 0) : R->now_ns };
	wput(R, REC_TICK, &t, sizeof(t), NULL, 0);
	wflush(R);
	if (sinks_want(R->sinks, REC_TICK))
		sinks_put(R->sinks, REC_TICK, &t, sizeof(t), NULL, 0);
	sinks_flush(R->sinks);
}

void
fan_open(struct reasm *R, const struct session *s)
{
	struct rec_session_open o;

	if (!want(R, REC_SESSION_OPEN))
		return;
	memset(&o, 0, sizeof(o));
	o.session_id = s->id;
	o.ts_ns = R->now_ns;
	o.flow.family = s->family;
	o.flow.role_guessed = s->role_guessed;
	o.flow.local_side = s->local_side;
	o.flow.client_port = s->cport;
	o.flow.server_port = s->sport;
	memcpy(o.flow.client_ip, s->cip, 16);
	memcpy(o.flow.server_ip, s->sip, 16);
	put(R, REC_SESSION_OPEN, &o, sizeof(o), NULL, 0);
}

void
fan_chunk(struct reasm *R, struct session *s, int dir, uint64_t off, const uint8_t *p, size_t n)
{
	size_t cut;

	if (!want(R, REC_CHUNK))
		return;
	/* Chunks are cut to fit a record (and a ring's largest). */
	cut = R->sinks ? MIN((size_t)1 << 20, (size_t)R->conf->ring_bytes / 8) : (size_t)1 << 20;
	while (n > 0) {
		size_t k = MIN(n, cut);
		struct rec_chunk c = { s->id, off, (uint8_t)dir, { 0 } };
		count_lost(s, dir, put(R, REC_CHUNK, &c, sizeof(c), p, k), k);
		p += k;
		off += k;
		n -= k;
	}
}

void
fan_gap(struct reasm *R, struct session *s, int dir, uint64_t off, uint64_t len)
{
	struct rec_gap g = { s->id, off, len, (uint8_t)dir, { 0 } };

	if (want(R, REC_GAP))
		put(R, REC_GAP, &g, sizeof(g), NULL, 0);
}

void
fan_close(struct reasm *R, struct session *s, unsigned reason)
{
	struct rec_session_close c;

	if (want(R, REC_SESSION_CLOSE)) {
		memset(&c, 0, sizeof(c));
		c.session_id = s->id;
		c.ts_ns = R->now_ns;
		c.reason = reason;
		c.dir[0] = s->d[0].c;
		c.dir[1] = s->d[1].c;
		wput(R, REC_SESSION_CLOSE, &c, sizeof(c), NULL, 0);
		for (unsigned i = 0; i < sinks_count(R->sinks); i++) {
			if (!sinks_want_one(R->sinks, i, REC_SESSION_CLOSE))
				continue;
			/* Each sink is told what it lost itself. */
			c.dir[0].dropped_sink = s->sinkdrop ? s->sinkdrop[i * 2] : 0;
			c.dir[1].dropped_sink = s->sinkdrop ? s->sinkdrop[i * 2 + 1] : 0;
			sinks_put_to(R->sinks, i, REC_SESSION_CLOSE, &c, sizeof(c), NULL, 0);
		}
	}
	free(s->sinkdrop);
	s->sinkdrop = NULL;
}

void
fan_packet(struct reasm *R, struct session *s, int dir, const struct frame *f,
    const uint64_t *calls, unsigned ncalls)
{
	if (!want(R, REC_PACKET))
		return;
	struct {
		struct rec_packet p;
		uint64_t calls[WIRE_MAX_CALLS];
	} b;
	if (ncalls > WIRE_MAX_CALLS)
		ncalls = WIRE_MAX_CALLS;
	b.p = (struct rec_packet){ f->ts_ns, s ? s->id : 0, R->cur_ifid, f->caplen,
	    f->origlen < f->caplen ? f->caplen : f->origlen, (uint8_t)dir, (uint8_t)ncalls, { 0 } };
	if (ncalls > 0)
		memcpy(b.calls, calls, ncalls * sizeof(*calls));
	put(R, REC_PACKET, &b, sizeof(b.p) + ncalls * sizeof(*calls), f->data, f->caplen);
}

bool
fan_message_wanted(const struct reasm *R)
{
	return want(R, REC_MESSAGE);
}

void
fan_message(struct reasm *R, const struct rec_message *m, const char *corr, const void *body)
{
	/* (corr is at most a Call-ID, a few hundred bytes: the record is
	 * built whole, with the body after it) */
	size_t n = sizeof(*m) + m->corr_len;
	uint8_t *b;

	if (!want(R, REC_MESSAGE) || (uint64_t)n + m->len > WIRE_MAX_REC / 2)
		return;
	b = xmalloc(n);
	memcpy(b, m, sizeof(*m));
	memcpy(b + sizeof(*m), corr, m->corr_len);
	put(R, REC_MESSAGE, b, n, body, m->len);
	free(b);
}

void
fan_call_open(struct reasm *R, uint64_t id, uint64_t ts_ns, const char *callid, const char *from,
    const char *to)
{
	char buf[1024];
	struct rec_call_open o;
	size_t a, b, c;

	if (!want(R, REC_CALL_OPEN))
		return;
	a = MIN(strlen(callid), 512);
	b = MIN(strlen(from), 255);
	c = MIN(strlen(to), 255);
	memset(&o, 0, sizeof(o));
	o.call_id = id;
	o.ts_ns = ts_ns;
	o.callid_len = (uint16_t)a;
	o.from_len = (uint16_t)b;
	o.to_len = (uint16_t)c;
	memcpy(buf, callid, a);
	memcpy(buf + a, from, b);
	memcpy(buf + a + b, to, c);
	put(R, REC_CALL_OPEN, &o, sizeof(o), buf, a + b + c);
}

void
fan_call_close(struct reasm *R, uint64_t id, uint64_t end_ns, const char *state, const char *json,
    size_t len, uint32_t flags)
{
	struct rec_call_close c;

	if (!want(R, REC_CALL_CLOSE))
		return;
	memset(&c, 0, sizeof(c));
	c.call_id = id;
	c.ts_ns = R->now_ns;
	c.end_ns = end_ns;
	sth_strlcpy(c.state, state, sizeof(c.state));
	c.json_len = (uint32_t)len;
	c.flags = flags;
	put(R, REC_CALL_CLOSE, &c, sizeof(c), json, len);
}

void
fan_event(struct reasm *R, const char *json, size_t len)
{
	struct rec_event e = { (uint32_t)len, 0 };

	if (want(R, REC_EVENT))
		put(R, REC_EVENT, &e, sizeof(e), json, len);
}

void
fan_finish(struct reasm *R)
{
	wput(R, REC_EOS, NULL, 0, NULL, 0);
	wflush(R);
	sinks_eos(R->sinks);
}
