/*
 * hold.c — the frames of a SIP-over-TCP session wait here until the
 * messages they carry are complete, so that they go out tagged with the
 * calls those messages belong to (a per-call pcap holds every segment of
 * its messages: sinkd/pcapout.c).
 *
 * A session the analyser tags frames of (an_holds: voip, on its SIP
 * ports) keeps its frames in capture order.  The analyser says, as it
 * frames messages, which stream bytes a message took (an_mark: the calls
 * an_tag named go to every held frame that carried part of them) and how
 * far it has read; a frame whose bytes are all read goes out, in order:
 * a frame waits only for the frames before it in its session.  A segment
 * that carries the end of one message and the start of the next goes out
 * once both are complete, tagged with both calls.
 *
 * Bounded: voip.hold_bytes for every session's held frames together; when
 * a frame would not fit, the oldest held frames go out as they are,
 * counted as voip_hold_full.  A frame held HOLD_NS of capture time (a
 * message that never completes) goes out the same way, counted as
 * voip_hold_timeout.  A session's close sends out what it still holds.
 * No frame is lost here: the counters say how many left without the calls
 * they may have belonged to.
 *
 * Cheap when nothing waits: a frame is held first by reference (the
 * engine's frame stays valid while its segment is handled); most go out
 * before that ends (their message complete), and only those still held
 * afterwards are copied (hold_settle).  Entries are reused.
 */
#include <stdlib.h>
#include <string.h>

#include "reasmd.h"
#include "util.h"

#define HOLD_NS (5 * NSEC_PER_SEC)

struct held {
	TAILQ_ENTRY(held) sq;		/* its session's, in capture order */
	TAILQ_ENTRY(held) gq;		/* every held frame, oldest first */
	TAILQ_ENTRY(held) bq;		/* still the engine's frame (not copied) */
	struct session *s;
	const uint8_t *data;		/* the engine's while borrowed, else ours */
	bool borrowed;
	uint64_t ts_ns;
	uint32_t caplen, origlen, ifid;
	uint32_t seq, plen;		/* its TCP payload: sequence number, length */
	uint8_t dir, ncalls;
	uint64_t calls[WIRE_MAX_CALLS];
};

#define POOL_KEEP 1024			/* entries kept for reuse */

TAILQ_HEAD(heldq, held);

struct shold {
	struct heldq q;
	uint64_t marked[2];		/* stream offsets read up to, per direction */
};

struct hold {
	struct heldq all, borrowed;
	struct held *pool;		/* free entries (linked by s) */
	size_t npool;
	uint64_t bytes, max;
	uint64_t frames, full, timeout, peak;
};

static size_t
held_size(const struct held *h)
{
	return sizeof(*h) + h->caplen;
}

struct hold *
hold_new(const struct conf *c)
{
	struct hold *H = xcalloc(1, sizeof(*H));

	TAILQ_INIT(&H->all);
	TAILQ_INIT(&H->borrowed);
	H->max = c ? (uint64_t)c->voip_hold_bytes : 16u << 20;
	return H;
}

/* The stream range [lo, hi) of h's payload; false while it cannot be told
 * (its direction's first byte not yet known). */
static bool
held_range(const struct session *s, const struct held *h, uint64_t *lo, uint64_t *hi)
{
	const struct rdir *D = &s->d[h->dir];
	int64_t o;

	if (!D->have_base)
		return false;
	o = (int64_t)D->next + (int32_t)(h->seq - D->base - (uint32_t)D->next);
	if (o < 0) {
		/* (partly) before the stream's first byte: a SYN's, or older */
		int64_t e = o + (int64_t)h->plen;
		*lo = 0;
		*hi = e > 0 ? (uint64_t)e : 0;
		return true;
	}
	*lo = (uint64_t)o;
	*hi = (uint64_t)o + h->plen;
	return true;
}

static bool
releasable(const struct session *s, const struct held *h)
{
	uint64_t lo, hi;

	if (h->plen == 0)
		return true;
	if (!held_range(s, h, &lo, &hi))
		return false;
	return hi <= s->held->marked[h->dir];
}

static void
held_put(struct hold *H, struct held *h)
{
	if (h->borrowed)
		TAILQ_REMOVE(&H->borrowed, h, bq);
	else
		free((void *)(uintptr_t)h->data);
	if (H->npool < POOL_KEEP) {
		h->s = (struct session *)H->pool;	/* (the free list's link) */
		H->pool = h;
		H->npool++;
	} else
		free(h);
}

static struct held *
held_get(struct hold *H)
{
	struct held *h = H->pool;

	if (h == NULL)
		return xmalloc(sizeof(*h));
	H->pool = (struct held *)h->s;
	H->npool--;
	return h;
}

static void
held_out(struct reasm *R, struct held *h)
{
	struct session *s = h->s;
	struct frame f = { h->ts_ns, h->data, h->caplen, h->origlen };
	uint32_t ifid = R->cur_ifid;

	struct hold *H = R->hold;

	TAILQ_REMOVE(&s->held->q, h, sq);
	TAILQ_REMOVE(&H->all, h, gq);
	H->bytes -= held_size(h);
	R->cur_ifid = h->ifid;
	fan_packet(R, s, h->dir, &f, h->calls, h->ncalls);
	R->cur_ifid = ifid;
	held_put(H, h);
}

/* What can go of s's frames, from the oldest. */
static void
release(struct reasm *R, struct session *s)
{
	struct held *h;

	while ((h = TAILQ_FIRST(&s->held->q)) != NULL && releasable(s, h))
		held_out(R, h);
}

/* The oldest held frame goes now, and every frame of its session before
 * it (there are none: a session's frames are in capture order). */
static void
force_oldest(struct reasm *R, uint64_t *counter)
{
	struct held *h = TAILQ_FIRST(&R->hold->all);
	struct session *s = h->s;

	(*counter)++;
	while (TAILQ_FIRST(&s->held->q) != h) {
		(*counter)++;
		held_out(R, TAILQ_FIRST(&s->held->q));
	}
	held_out(R, h);
	release(R, s);
}

void
hold_segment(struct reasm *R, struct session *s, int dir, const struct frame *fr, size_t nfr,
    uint32_t seq, uint32_t plen)
{
	struct hold *H = R->hold;

	if (s->held == NULL) {
		s->held = xcalloc(1, sizeof(*s->held));
		TAILQ_INIT(&s->held->q);
	}
	for (size_t k = 0; k < nfr; k++) {
		struct held probe = { .plen = plen, .seq = seq, .dir = (uint8_t)dir };
		if (TAILQ_EMPTY(&s->held->q) && (plen == 0 || releasable(s, &probe))) {
			/* nothing before it, nothing to wait for (an ACK, a copy
			 * of bytes already read) */
			fan_packet(R, s, dir, &fr[k], NULL, 0);
			continue;
		}
		struct held *h = held_get(H);
		memset(h, 0, sizeof(*h));
		h->s = s;
		h->data = fr[k].data;	/* copied by hold_settle if it must wait */
		h->borrowed = true;
		h->ts_ns = fr[k].ts_ns;
		h->caplen = fr[k].caplen;
		h->origlen = fr[k].origlen;
		h->ifid = R->cur_ifid;
		h->seq = seq;
		h->plen = plen;
		h->dir = (uint8_t)dir;
		while (H->bytes + held_size(h) > H->max && !TAILQ_EMPTY(&H->all))
			force_oldest(R, &H->full);
		TAILQ_INSERT_TAIL(&s->held->q, h, sq);
		TAILQ_INSERT_TAIL(&H->all, h, gq);
		TAILQ_INSERT_TAIL(&H->borrowed, h, bq);
		H->bytes += held_size(h);
		H->frames++;
		if (H->bytes > H->peak)
			H->peak = H->bytes;
	}
}

void
hold_mark(struct reasm *R, struct session *s, int dir, uint64_t from, uint64_t to)
{
	struct held *h;

	if (s->held == NULL)
		return;
	if (R->ntags > 0 && to > from)
		TAILQ_FOREACH(h, &s->held->q, sq) {
			uint64_t lo, hi;
			if (h->dir != dir || h->plen == 0 || !held_range(s, h, &lo, &hi) ||
			    hi <= from || lo >= to)
				continue;
			for (unsigned t = 0; t < R->ntags; t++) {
				bool have = false;
				for (unsigned k = 0; k < h->ncalls; k++)
					have |= h->calls[k] == R->tags[t];
				if (!have && h->ncalls < WIRE_MAX_CALLS)
					h->calls[h->ncalls++] = R->tags[t];
			}
		}
	if (to > s->held->marked[dir])
		s->held->marked[dir] = to;
	release(R, s);
}

void
hold_flush(struct reasm *R, struct session *s)
{
	if (s->held == NULL)
		return;
	while (!TAILQ_EMPTY(&s->held->q))
		held_out(R, TAILQ_FIRST(&s->held->q));
	free(s->held);
	s->held = NULL;
}

void
hold_settle(struct reasm *R)
{
	struct hold *H = R->hold;
	struct held *h;

	while ((h = TAILQ_FIRST(&H->borrowed)) != NULL) {
		uint8_t *d = xmalloc(h->caplen ? h->caplen : 1);
		memcpy(d, h->data, h->caplen);
		h->data = d;
		h->borrowed = false;
		TAILQ_REMOVE(&H->borrowed, h, bq);
	}
}

void
hold_tick(struct reasm *R)
{
	struct hold *H = R->hold;
	struct held *h;

	while ((h = TAILQ_FIRST(&H->all)) != NULL && h->ts_ns + HOLD_NS <= R->now_ns)
		force_oldest(R, &H->timeout);
}

uint64_t
hold_oldest_ns(const struct hold *H)
{
	const struct held *h = H ? TAILQ_FIRST(&H->all) : NULL;

	return h ? h->ts_ns : UINT64_MAX;
}

void
hold_stats(const struct hold *H, uint64_t *frames, uint64_t *full, uint64_t *timeout,
    uint64_t *bytes)
{
	*frames = H ? H->frames : 0;
	*full = H ? H->full : 0;
	*timeout = H ? H->timeout : 0;
	*bytes = H ? H->bytes : 0;
}

void
hold_free(struct reasm *R)
{
	struct hold *H = R->hold;

	if (H == NULL)
		return;
	while (!TAILQ_EMPTY(&H->all)) {
		struct held *h = TAILQ_FIRST(&H->all);
		TAILQ_REMOVE(&H->all, h, gq);
		TAILQ_REMOVE(&h->s->held->q, h, sq);
		H->npool = POOL_KEEP;	/* (freed, not kept) */
		held_put(H, h);
	}
	while (H->pool != NULL) {
		struct held *h = H->pool;
		H->pool = (struct held *)h->s;
		free(h);
	}
	free(H);
	R->hold = NULL;
}
