/*
 * tcp.c — TCP stream reassembly (RFC 9293 sequence space).
 *
 * Stream offsets: offset 0 of a direction is the byte after the SYN (or,
 * for a flow picked up mid-stream, the first byte seen).  A 32-bit
 * sequence number maps to the 64-bit offset nearest the one expected next,
 * using the signed 32-bit distance, so wrap-around across 2^32 is seamless
 * and streams longer than 4 GiB keep counting.
 *
 * Per direction: bytes at `next` are delivered at once; bytes beyond it
 * wait in a sorted list of non-overlapping segments (the first copy of a
 * byte wins).  The bytes between `next` and what is known beyond it form a
 * hole; a hole becomes a gap (DESIGN.md section 4) only when it is clear
 * its bytes will not come:
 *
 *   - the other side's ACK covered it gap_grace_ms of capture time ago
 *     (captures often show an ACK before the data it acknowledges: two
 *     taps, a SPAN port, one side's frames timestamped late);
 *   - no ACK covers it and ooo_timeout_ms have passed since the first
 *     segment beyond it was buffered (a retransmission after a long RTO
 *     still fills it);
 *   - a limit (ooo_bytes_per_dir, memcap) forces it: the oldest hole first;
 *   - the session ends.
 *
 * Closing: an RST or the second FIN puts the session in `closing`; it
 * still takes bytes up to each side's FIN (after an RST: up to the highest
 * byte seen or acknowledged) for gap_grace_ms, and closes when no hole is
 * left or that grace has run out.  Then it stays a tombstone for
 * close_grace_ms so that late frames still belong to it.
 *
 * Deadlines run on capture time (the highest timestamp seen; ticks move
 * it on quiet captures).  Sessions with a deadline sit on a pending list;
 * reasm_tick sweeps it when the earliest deadline has passed.
 *
 * Counters: retransmitted bytes are copies of bytes already delivered or
 * held; late bytes came after an ACK covered them and were delivered; late
 * after gap are copies that came after their hole had become a gap (the
 * consumer has moved on: not delivered, already counted in the gap).
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "siphash.h"
#include "slab.h"
#include "reasmd.h"
#include "util.h"

struct seg {
	struct seg *next;
	uint64_t off;
	uint64_t ts_ns;			/* capture time it was buffered */
	uint32_t len;
	uint8_t data[];
};

#define NO_DEADLINE UINT64_MAX
/* Deadlines are swept at most this often (capture time). */
#define SWEEP_NS 1000000ULL
/* An ACK further ahead than this is not believed. */
#define ACK_SANE (1ULL << 30)

static void session_close(struct reasm *R, struct session *s, unsigned reason);
static void set_due(struct reasm *R);

/* Every direction's `h` points here until it needs state of its own:
 * read freely, never written (rh() makes a direction's own). */
static struct rhole nohole;

static struct rhole *
rh(struct rdir *D)
{
	if (D->h == &nohole)
		D->h = xcalloc(1, sizeof(*D->h));
	return D->h;
}

/* The session table and its timers (struct reasm holds a pointer). */
TAILQ_HEAD(sessq, session);
#define LRU_BATCH 32		/* lru moves made together */

struct tcp {
	uint64_t next_ctr;
	/* The buckets grow with the sessions (load 1, doubling, up to
	 * max_buckets, the power of two at or past max_sessions): a table
	 * sized for max_sessions up front costs 8 bytes a possible session,
	 * and its pages are all touched once sessions are spread over it.
	 * A doubling moves the old buckets over incrementally: two at each
	 * new session, and a session's own before it is inserted, so a
	 * hash's chain is in exactly one of the two tables (the old one
	 * while its bucket there is not empty). */
	struct session **buckets, **old;
	size_t nbuckets, nold, old_next, max_buckets, nsessions, max_sessions;
	/* open, least recently moved first: a session goes to the back when
	 * it is active and has not moved for lru_eps_ns (not at every
	 * segment: the unlink and relink touch its neighbours, two cache
	 * misses a segment in a big table), so an idle close comes at most
	 * lru_eps_ns late (session_idle_sec / 16, at most 1 s) */
	struct sessq lru;
	uint64_t lru_eps_ns;
	/* The moves wait in a batch of LRU_BATCH, made together (the
	 * neighbours of all of them asked for first, so their misses overlap
	 * instead of coming one after the other), and before anything else
	 * looks at or changes the list: its order is the same as if each had
	 * moved at once. */
	struct session *moves[LRU_BATCH];
	unsigned nmoves;
	/* A session's lru stamp is 32 bits: capture time in units of
	 * 2^lru_shift ns (at most a quarter of lru_eps_ns), so it wraps after
	 * 2^29 lru_eps_ns, far past any session that is still open; a
	 * session moves when lru_eps_units or more have passed, which is
	 * never more than lru_eps_ns late. */
	unsigned lru_shift;
	uint32_t lru_eps_units;
	struct sessq tomb;		/* closed, kept close_grace_ms, oldest first */
	struct sessq sticky;		/* closed by control, least recently seen first */
	TAILQ_HEAD(, session) half;	/* half-open (only SYNs seen), oldest first */
	struct sessq pend;		/* with a deadline, oldest first */
	uint64_t next_deadline, last_deadline_sweep;
	uint64_t grace_ns;		/* close_grace_ms: tombstones */
	uint64_t gap_grace_ns;		/* reasm.gap_grace_ms */
	uint64_t ooo_timeout_ns;	/* reasm.ooo_timeout_ms */
	uint64_t mem_used, memcap, ooo_limit;
	uint64_t idle_ns;
	uint64_t stall_ns;		/* ack_stall_sec; 0: off */
	bool have_local;
	uint8_t local_family, local_ip[16];
	struct sipkey key;		/* the buckets' hash key, random */
	size_t chain_max;		/* the longest chain a lookup walked */
	/* where sessions live: in a big table, on huge pages (a lookup
	 * misses the cache, not the TLB too); bounded by max_sessions */
	struct slab slab;
};

#define TCP_BUCKETS_START 1024

/* Keyed (a random key per process): nobody outside can craft flows that
 * all land in one bucket (hash flooding). */
static uint64_t
flow_hash(const struct tcp *T, uint8_t fam, const uint8_t *a, uint16_t pa, const uint8_t *b,
    uint16_t pb)
{
	return decode_flow_hash_keyed(&T->key, fam, a, pa, b, pb);
}

struct tcp *
tcp_new(const struct conf *c)
{
	struct tcp *T = xcalloc(1, sizeof(*T));
	size_t nb = 1024;

	T->max_sessions = (size_t)c->max_sessions;
	while (nb < T->max_sessions && nb < ((size_t)1 << 22))
		nb <<= 1;
	T->max_buckets = nb;
	T->nbuckets = nb < TCP_BUCKETS_START ? nb : TCP_BUCKETS_START;
	T->buckets = xcalloc_huge(T->nbuckets, sizeof(*T->buckets));
	slab_init(&T->slab, sizeof(struct session));
	T->memcap = (uint64_t)c->memcap;
	T->ooo_limit = (uint64_t)c->ooo_bytes_per_dir;
	T->idle_ns = (uint64_t)(c->session_idle_sec * 1e9);
	T->lru_eps_ns = T->idle_ns / 16 < NSEC_PER_SEC ? T->idle_ns / 16 : NSEC_PER_SEC;
	T->lru_shift = 0;
	while (T->lru_shift < 40 && ((uint64_t)4 << (T->lru_shift + 1)) <= T->lru_eps_ns)
		T->lru_shift++;
	T->lru_eps_units = (uint32_t)(T->lru_eps_ns >> T->lru_shift);
	T->grace_ns = (uint64_t)c->close_grace_ms * 1000000ULL;
	T->gap_grace_ns = (uint64_t)c->gap_grace_ms * 1000000ULL;
	T->ooo_timeout_ns = (uint64_t)c->ooo_timeout_ms * 1000000ULL;
	T->stall_ns = (uint64_t)(c->lst_ack_stall_sec * 1e9);
	T->next_deadline = NO_DEADLINE;
	TAILQ_INIT(&T->lru);
	TAILQ_INIT(&T->tomb);
	TAILQ_INIT(&T->sticky);
	TAILQ_INIT(&T->half);
	TAILQ_INIT(&T->pend);
	sipkey_random(&T->key);
	if (c->local_ip && addr_parse(c->local_ip, &T->local_family, T->local_ip) == 0)
		T->have_local = true;
	return T;
}

/* When tcp_deadlines has work next (the engine checks R->tcp_due on every
 * frame without a call): the earliest deadline, at most once a SWEEP_NS. */
static void
set_due(struct reasm *R)
{
	const struct tcp *T = R->tcp;

	R->tcp_due = T->next_deadline == NO_DEADLINE ? NO_DEADLINE :
	    MAX(T->next_deadline, T->last_deadline_sweep + SWEEP_NS);
}

size_t tcp_sessions_open(const struct tcp *T) { return T->nsessions; }
size_t tcp_chain_max(const struct tcp *T) { return T->chain_max; }
uint64_t tcp_mem_used(const struct tcp *T) { return T->mem_used; }

static bool
same_ep(uint8_t fam, const uint8_t *a, uint16_t pa, const uint8_t *b, uint16_t pb)
{
	/* (a fixed size each: the compiler compares in place, no call) */
	return pa == pb && (fam == 6 ? memcmp(a, b, 16) == 0 : memcmp(a, b, 4) == 0);
}

/* The head of the chain of a hash: in the old table while a doubling has
 * not moved its bucket yet, else in the new one. */
static struct session **
chain_of(struct tcp *T, size_t h)
{
	if (T->old != NULL) {
		struct session **o = &T->old[h & (T->nold - 1)];
		if (*o != NULL)
			return o;
	}
	return &T->buckets[h & (T->nbuckets - 1)];
}

/* Moves an old bucket's chain to the new table, in order (newest first
 * stays newest first: its hash's chain in the new table is empty). */
static void
bucket_move(struct tcp *T, size_t j)
{
	struct session *s = T->old[j], *n;
	struct session **tail[2];
	size_t lo = j, hi = j + T->nold;

	T->old[j] = NULL;
	tail[0] = &T->buckets[lo];
	tail[1] = &T->buckets[hi];
	for (; s != NULL; s = n) {
		int k;
		n = s->hnext;
		k = (flow_hash(T, s->family, s->cip, s->cport, s->sip, s->sport) & (T->nbuckets - 1)) == hi;
		s->hnext = NULL;
		*tail[k] = s;
		tail[k] = &s->hnext;
	}
}

/* Before a session goes in: its hash's old bucket moved, two more moved,
 * the old table freed when every bucket has moved; a doubling when the
 * sessions outnumber the buckets. */
static void
table_grow_step(struct tcp *T, size_t h)
{
	if (T->old != NULL) {
		if (T->old[h & (T->nold - 1)] != NULL)
			bucket_move(T, h & (T->nold - 1));
		for (int k = 0; k < 2 && T->old_next < T->nold; k++, T->old_next++)
			if (T->old[T->old_next] != NULL)
				bucket_move(T, T->old_next);
		if (T->old_next == T->nold) {
			free(T->old);
			T->old = NULL;
		}
	}
	if (T->old == NULL && T->nsessions >= T->nbuckets && T->nbuckets < T->max_buckets) {
		T->old = T->buckets;
		T->nold = T->nbuckets;
		T->old_next = 0;
		T->nbuckets *= 2;
		T->buckets = xcalloc_huge(T->nbuckets, sizeof(*T->buckets));
		/* this session's bucket too, before it goes in */
		if (T->old[h & (T->nold - 1)] != NULL)
			bucket_move(T, h & (T->nold - 1));
	}
}

/* The lru moves waiting in the batch, made. */
static void
lru_flush(struct tcp *T)
{
	for (unsigned k = 0; k < T->nmoves; k++) {
		struct session *s = T->moves[k];
		if (TAILQ_NEXT(s, lq) != NULL)
			__builtin_prefetch(TAILQ_NEXT(s, lq), 1);
		__builtin_prefetch(s->lq.tqe_prev, 1);
	}
	for (unsigned k = 0; k < T->nmoves; k++) {
		struct session *s = T->moves[k];
		TAILQ_REMOVE(&T->lru, s, lq);
		TAILQ_INSERT_TAIL(&T->lru, s, lq);
		s->moving = false;
	}
	T->nmoves = 0;
}

/* The newest session of the segment's 4-tuple, and its direction. */
bool
tcp_readahead_wanted(const struct reasm *R)
{
	return R->tcp != NULL && R->tcp->nsessions >= TCP_PREFETCH_MIN;
}

/* The lines of s a segment touches as a rule (reasmd.h puts them first):
 * the key and flags, the lists and times, and of both directions what
 * comes up to c.packets (a segment's own counters, the other side's ACK
 * state and stream_bytes): 376 of its 488 bytes.  Asked for, not read.
 * (A session is not aligned to a line: every line of the range is.) */
static inline void
session_prefetch(const struct session *s)
{
	const char *p = (const char *)s, *end = (const char *)(&s->d[1].c.packets + 1);

	for (; p < end; p += 64)
		__builtin_prefetch(p, 1);
	__builtin_prefetch(end - 1, 1);
}

/* s is the session of this 4-tuple: its direction, or -1 */
static int
key_dir(const struct session *s, uint8_t fam, const uint8_t *src, uint16_t sp, const uint8_t *dst,
    uint16_t dp)
{
	if (s->family != fam)
		return -1;
	if (same_ep(fam, s->cip, s->cport, src, sp) && same_ep(fam, s->sip, s->sport, dst, dp))
		return DIR_REQUESTS;
	if (same_ep(fam, s->sip, s->sport, src, sp) && same_ep(fam, s->cip, s->cport, dst, dp))
		return DIR_RESPONSES;
	return -1;
}

/* A frame to come: its key kept and its bucket asked for; the bucket is
 * NULL when it is not TCP/IP. */
static void
prefetch_bucket(struct tcp *T, struct ra_slot *r, int dlt, const uint8_t *pkt, uint32_t caplen)
{
	size_t off, n;
	uint8_t proto;
	int v;

	r->bucket = NULL;
	v = decode_l3_offset(dlt, pkt, caplen, &off);
	if (v < 0 || decode_l4_peek(pkt, caplen, off, v, &proto, &r->sport, &r->dport) < 0 ||
	    proto != 6 || (r->sport == 0 && r->dport == 0))
		return;
	/* (decode_l4_peek has seen the addresses whole) */
	n = v == 4 ? 4 : 16;
	r->family = (uint8_t)v;
	memcpy(r->src, pkt + off + (v == 4 ? 12 : 8), n);
	memcpy(r->dst, pkt + off + (v == 4 ? 16 : 24), n);
	r->bucket = chain_of(T, flow_hash(T, r->family, r->src, r->sport, r->dst, r->dport));
	__builtin_prefetch(r->bucket, 0);
}

/* b still points into a bucket array: a doubling's old array is freed
 * once every bucket has moved, maybe between a frame's bucket asked for
 * and its turn. */
static bool
bucket_live(const struct tcp *T, struct session **b)
{
	uintptr_t p = (uintptr_t)b;

	return p - (uintptr_t)T->buckets < T->nbuckets * sizeof(*b) ||
	    (T->old != NULL && p - (uintptr_t)T->old < T->nold * sizeof(*b));
}

void
tcp_readahead(struct reasm *R, struct readahead *ra, int dlt, const uint8_t *pkt, uint32_t caplen)
{
	struct ra_slot *r;
	struct session **b, *s;

	/* The frame READAHEAD - READAHEAD_STEP on: the first line of its
	 * chain's first session (its bucket was asked for a step ago). */
	r = &ra->slot[(ra->i + READAHEAD - READAHEAD_STEP) % READAHEAD];
	if ((b = r->bucket) != NULL && bucket_live(R->tcp, b) && (s = *b) != NULL)
		__builtin_prefetch(s, 0);
	/* The frame READAHEAD_STEP on: the lines of its chain's first session when
	 * that is its own, else of the next one (most often its own; never
	 * read here, only asked for: walking the chain would wait on each
	 * session's first line, for nothing when the flow is new).  Asking
	 * for the first one's lines blindly fetched another flow's session
	 * about half the time in a full table. */
	r = &ra->slot[(ra->i + READAHEAD - 2 * READAHEAD_STEP) % READAHEAD];
	if ((b = r->bucket) != NULL && bucket_live(R->tcp, b) && (s = *b) != NULL) {
		if (key_dir(s, r->family, r->src, r->sport, r->dst, r->dport) >= 0)
			session_prefetch(s);
		else if ((s = s->hnext) != NULL)
			session_prefetch(s);
	}
	r = &ra->slot[ra->i % READAHEAD];
	if (pkt != NULL)
		prefetch_bucket(R->tcp, r, dlt, pkt, caplen);
	else
		r->bucket = NULL;
	ra->i++;
}

static struct session *
lookup(struct reasm *R, const struct decoded *d, size_t *hash, int *dir)
{
	size_t h = flow_hash(R->tcp, d->family, d->src, d->sport, d->dst, d->dport);
	size_t walked = 0;
	struct session *s;

	*hash = h;
	for (s = *chain_of(R->tcp, h); s; s = s->hnext) {
		int k = key_dir(s, d->family, d->src, d->sport, d->dst, d->dport);
		walked++;
		if (k >= 0) {
			*dir = k;
			break;
		}
	}
	if (walked > R->tcp->chain_max)
		R->tcp->chain_max = walked;
	if (s != NULL) {
		/* The segment touches several of the session's cache lines:
		 * ask for them at once (in a big table each is a miss, and
		 * asked one after the other they cost one miss each). */
		session_prefetch(s);
	}
	return s;
}

/* Sequence distance of seq from a direction's base, -1 tolerated (a
 * keep-alive); UINT64_MAX when it is before the base or unknown. */
static uint64_t
rel_seq(const struct rdir *D, uint32_t seq)
{
	int32_t r;

	if (!D->have_base)
		return UINT64_MAX;
	r = (int32_t)(seq - D->base);
	if (r < -1)
		return UINT64_MAX;
	return r < 0 ? 0 : (uint64_t)r;
}

/* Does a SYN (no ACK) with this seq open s's direction dir?  1 yes, 0 no,
 * -1 nothing says (no SYN and no SYN-ACK of that connection seen yet). */
static int
match_syn(const struct session *s, int dir, uint32_t seq)
{
	const struct rdir *D = &s->d[dir];

	if (D->syn_seen)
		return D->base == seq + 1;
	if (D->h->synack_set)
		return (uint32_t)(D->h->synack_ack - (seq + 1)) < 65536u;
	return -1;
}

/* Does a SYN-ACK answer s's SYN (or repeat s's SYN-ACK)?  1, 0, -1 as above. */
static int
match_synack(const struct session *s, int dir, const struct decoded *d)
{
	const struct rdir *D = &s->d[dir], *O = &s->d[!dir];

	if (D->syn_seen)
		return D->base == d->seq + 1;
	if (O->syn_seen)
		return (uint32_t)(d->ack - O->base) < 65536u;
	return -1;
}

static int
match_handshake(const struct session *s, int dir, const struct decoded *d)
{
	return d->flags & TH_ACK ? match_synack(s, dir, d) : match_syn(s, dir, d->seq);
}

/*
 * Two incarnations of one 4-tuple (a new SYN while the old connection was
 * closing, and some of its frames still on their way): a SYN or SYN-ACK
 * goes to the one whose handshake it matches; any other segment to the one
 * whose sequence space it lies in, the nearest from its start.
 */
static struct session *
pick_incarnation(struct session *m, int dir, const struct decoded *d)
{
	struct session *o = m->older;
	const struct rdir *Dm = &m->d[dir], *Do = &o->d[dir];
	uint64_t rm, ro;

	if (d->flags & TH_SYN)
		return match_handshake(o, dir, d) == 1 && match_handshake(m, dir, d) != 1 ? o : m;
	ro = rel_seq(Do, d->seq);
	if (!Dm->have_base)
		return ro < (1ULL << 24) ? o : m;
	rm = rel_seq(Dm, d->seq);
	return ro < rm ? o : m;
}

static void
pend_unlink(struct reasm *R, struct session *s)
{
	if (!s->pending)
		return;
	TAILQ_REMOVE(&R->tcp->pend, s, pq);
	s->pending = false;
}

static void
pend_append(struct reasm *R, struct session *s)
{
	TAILQ_INSERT_TAIL(&R->tcp->pend, s, pq);
	s->pending = true;
}

/* Which endpoint is the client when no SYN says so: the side with the
 * lower port is the server (well-known ports are low). */
static struct session *
session_new(struct reasm *R, const struct decoded *d, size_t hash, bool src_is_client,
    bool guessed)
{
	struct session *s = slab_zalloc(&R->tcp->slab);
	size_t n = d->family == 6 ? 16 : 4;

	s->id = sid_make(R->gen, R->shard, ++R->tcp->next_ctr);
	s->family = d->family;
	s->deadline = NO_DEADLINE;
	s->d[0].h = s->d[1].h = &nohole;
	if (src_is_client) {
		memcpy(s->cip, d->src, n);
		memcpy(s->sip, d->dst, n);
		s->cport = d->sport;
		s->sport = d->dport;
	} else {
		memcpy(s->cip, d->dst, n);
		memcpy(s->sip, d->src, n);
		s->cport = d->dport;
		s->sport = d->sport;
	}
	s->role_guessed = guessed;
	if (R->tcp->have_local && R->tcp->local_family == s->family) {
		if (memcmp(R->tcp->local_ip, s->cip, n) == 0)
			s->local_side = 1;
		else if (memcmp(R->tcp->local_ip, s->sip, n) == 0)
			s->local_side = 2;
		/* io.mapping.role says what the local side is: with "server",
		 * requests are what the remote side sent. */
		if (s->local_side && ((R->conf->role == ROLE_CLIENT) != (s->local_side == 1))) {
			uint8_t tip[16];
			uint16_t tp = s->cport;
			memcpy(tip, s->cip, 16);
			memcpy(s->cip, s->sip, 16);
			memcpy(s->sip, tip, 16);
			s->cport = s->sport;
			s->sport = tp;
			s->local_side = s->local_side == 1 ? 2 : 1;
			s->role_guessed = false;
		}
	}
	table_grow_step(R->tcp, hash);
	{
		struct session **head = &R->tcp->buckets[hash & (R->tcp->nbuckets - 1)];
		s->hnext = *head;
		*head = s;
	}
	lru_flush(R->tcp);
	TAILQ_INSERT_TAIL(&R->tcp->lru, s, lq);
	s->lru = (uint32_t)(R->now_ns >> R->tcp->lru_shift);
	R->tcp->nsessions++;
	R->st.sessions++;
	s->first_ns = s->last_ns = R->now_ns;
	sess_open(R, s);
	return s;
}

/* Bytes [off, off+n) are new and arrive now: the part an ACK had covered
 * already came late (and will be delivered). */
static void
note_late(struct reasm *R, struct session *s, int dir, uint64_t off, uint64_t n)
{
	struct rdir *D = &s->d[dir];
	uint64_t late;

	if (off >= D->acked || n == 0)
		return;
	late = MIN(off + n, D->acked) - off;
	D->c.late_bytes += late;
	R->st.late_bytes += late;
	if (!s->late_noted) {
		s->late_noted = true;
		sess_note(R, s, dir, "ack_before_data", off, late);
	}
}

/* Copies of bytes below `next`: those inside a hole already declared a
 * gap came too late; the rest are retransmissions. */
static void
note_old(struct reasm *R, struct rdir *D, uint64_t off, uint64_t n)
{
	uint64_t in_gap = 0, end = off + n;

	if (D->gapv != NULL) {
		uint64_t kept = MIN(D->c.gap_count, (uint64_t)GAPS_KEPT);
		uint64_t recent = D->c.gap_count > GAPS_KEPT ? MIN(D->c.gap_count - GAPS_KEPT,
		    (uint64_t)GAPS_KEPT) : 0;
		for (uint64_t i = 0; i < kept + recent; i++) {
			const struct gaprec *g = &D->gapv[i];
			uint64_t a = MAX(off, g->off), b = MIN(end, g->off + g->len);
			if (b > a)
				in_gap += b - a;
		}
		in_gap = MIN(in_gap, n);
	}
	D->c.late_after_gap += in_gap;
	R->st.late_after_gap_bytes += in_gap;
	D->c.retrans_bytes += n - in_gap;
	R->st.retrans_bytes += n - in_gap;
}

static void
deliver(struct reasm *R, struct session *s, int dir, uint64_t off, const uint8_t *p, size_t n)
{
	struct rdir *D = &s->d[dir];

	if (n == 0)
		return;
	D->c.delivered += n;
	R->st.bytes_delivered += n;
	sess_data(R, s, dir, off, p, n);
}

static void
declare_gap(struct reasm *R, struct session *s, int dir, uint64_t off, uint64_t len)
{
	struct rdir *D = &s->d[dir];

	if (len == 0)
		return;
	if (D->gapv == NULL)
		D->gapv = xcalloc(2 * GAPS_KEPT, sizeof(*D->gapv));
	/* The first GAPS_KEPT for sessions.jsonl, then a ring of the last. */
	if (D->c.gap_count < GAPS_KEPT)
		D->gapv[D->c.gap_count] = (struct gaprec){ off, len };
	else
		D->gapv[GAPS_KEPT + (D->c.gap_count - GAPS_KEPT) % GAPS_KEPT] = (struct gaprec){ off, len };
	D->c.gap_count++;
	D->c.gap_bytes += len;
	if (off + len > D->c.stream_bytes)
		D->c.stream_bytes = off + len;	/* acknowledged, never seen */
	R->st.gaps++;
	R->st.gap_bytes += len;
	sess_gap(R, s, dir, off, len);
}

/* `next` moved: ACK milestones it passed are done with. */
static void
cover_update(struct rdir *D)
{
	if (D->h == &nohole || D->h->cover_off > D->next)
		return;
	if (D->h->cover2_off > D->next) {
		D->h->cover_off = D->h->cover2_off;
		D->h->cover_ns = D->h->cover2_ns;
	} else
		D->h->cover_off = D->h->cover2_off = 0;
}

/* Delivers buffered segments that now start at `next`. */
static void
drain(struct reasm *R, struct session *s, int dir)
{
	struct rdir *D = &s->d[dir];
	bool took = false;

	while (D->h->ooo && D->h->ooo->off <= D->next) {
		struct seg *g = D->h->ooo;
		uint64_t end = g->off + g->len;
		if (end > D->next) {
			uint64_t skip = D->next - g->off;
			deliver(R, s, dir, D->next, g->data + skip, (size_t)(g->len - skip));
			D->next = end;
		}
		D->h->ooo = g->next;
		D->h->ooo_bytes -= g->len;
		R->tcp->mem_used -= g->len;
		free(g);
		took = true;
	}
	if (took && D->h->ooo) {
		/* A new hole: its clock starts with the first segment beyond it. */
		D->h->ooo_since = UINT64_MAX;
		for (struct seg *g = D->h->ooo; g; g = g->next)
			D->h->ooo_since = MIN(D->h->ooo_since, g->ts_ns);
	}
	cover_update(D);
}

/* The hole at `next` becomes a gap up to the first buffered segment (or
 * up to `upto` when nothing is buffered before it); what follows is
 * delivered.  Returns the bytes declared. */
static uint64_t
commit_hole(struct reasm *R, struct session *s, int dir, uint64_t upto)
{
	struct rdir *D = &s->d[dir];
	uint64_t to = D->h->ooo ? MIN(D->h->ooo->off, upto) : upto, n = 0;

	if (to > D->next) {
		n = to - D->next;
		declare_gap(R, s, dir, D->next, n);
		D->next = to;
	}
	drain(R, s, dir);
	return n;
}

/* A limit forced the hole at `next` of s/dir: counted as ooo_limit. */
static void
commit_for_limit(struct reasm *R, struct session *s, int dir, uint64_t upto)
{
	uint64_t n = commit_hole(R, s, dir, upto);

	s->d[dir].c.dropped_ooo += n;
	R->st.ooo_limit_bytes += n;
}

/* Frees buffered bytes for `need` more under memcap: the oldest holes of
 * other sessions first (the pending list is in the order they began to
 * wait).  Returns whether there is room now. */
static bool
memcap_room(struct reasm *R, struct session *self, uint64_t need)
{
	for (struct session *p = TAILQ_FIRST(&R->tcp->pend); p && R->tcp->mem_used + need > R->tcp->memcap; ) {
		struct session *nx = TAILQ_NEXT(p, pq);
		for (int k = 0; k < 2 && p != self; k++)
			while (p->d[k].h->ooo && R->tcp->mem_used + need > R->tcp->memcap)
				commit_for_limit(R, p, k, p->d[k].h->ooo->off);
		p = nx;
	}
	return R->tcp->mem_used + need <= R->tcp->memcap;
}

/* Buffers [off, off+n) beyond next: only the bytes not held yet (the first
 * copy wins); bytes held already are compared and conflicts counted.  The
 * caller made room for n bytes. */
static void
buffer_ooo(struct reasm *R, struct session *s, int dir, uint64_t off, const uint8_t *p, size_t n)
{
	struct rdir *D = &s->d[dir];
	struct seg **pp = &rh(D)->ooo;
	uint64_t end = off + n;

	if (D->h->ooo == NULL)
		D->h->ooo_since = R->now_ns;
	while (off < end) {
		struct seg *g = *pp;
		if (g != NULL && g->off + g->len <= off) {
			pp = &g->next;
			continue;
		}
		if (g != NULL && g->off <= off) {
			/* Overlap with a held segment. */
			uint64_t ov = MIN(end, g->off + g->len) - off;
			D->c.overlap_bytes += ov;
			D->c.retrans_bytes += ov;
			R->st.retrans_bytes += ov;
			if (memcmp(g->data + (off - g->off), p, (size_t)ov) != 0) {
				D->c.overlap_conflicts++;
				sess_note(R, s, dir, "overlap_conflict", off, ov);
			}
			p += ov;
			off += ov;
			pp = &g->next;
			continue;
		}
		/* A free stretch up to the next held segment. */
		uint64_t stop = g ? MIN(end, g->off) : end;
		uint32_t len = (uint32_t)(stop - off);
		struct seg *ns = xmalloc(sizeof(*ns) + len);
		ns->off = off;
		ns->len = len;
		ns->ts_ns = R->now_ns;
		memcpy(ns->data, p, len);
		ns->next = g;
		*pp = ns;
		pp = &ns->next;
		D->h->ooo_bytes += len;
		R->tcp->mem_used += len;
		note_late(R, s, dir, off, len);
		p += len;
		off += len;
	}
}

/* Maps a sequence number to the stream offset nearest `near`. */
static uint64_t
seq_off(const struct rdir *D, uint32_t seq, uint64_t near)
{
	uint32_t near_seq = D->base + (uint32_t)near;
	int32_t delta = (int32_t)(seq - near_seq);

	if (delta < 0 && (uint64_t)(-(int64_t)delta) > near)
		return 0;	/* before the stream start */
	return (uint64_t)((int64_t)near + delta);
}

static void
data(struct reasm *R, struct session *s, int dir, uint32_t seq, const uint8_t *p, size_t n,
    uint32_t missing)
{
	struct rdir *D = &s->d[dir];
	uint32_t near_seq = D->base + (uint32_t)D->next;
	int32_t delta = (int32_t)(seq - near_seq);
	uint64_t off, end;

	if (n == 0 && missing == 0)
		return;
	if (delta < 0 && (uint64_t)(-(int64_t)delta) > D->next) {
		/* Starts before offset 0 (a retransmitted SYN's data, say). */
		uint64_t cut = (uint64_t)(-(int64_t)delta) - D->next;
		if (cut >= n)
			return;
		p += cut;
		n -= (size_t)cut;
		off = 0;
	} else
		off = (uint64_t)((int64_t)D->next + delta);
	end = off + n;
	if (end + missing > D->c.stream_bytes)
		D->c.stream_bytes = end + missing;
	for (;;) {
		if (end <= D->next) {
			note_old(R, D, off, n);
			n = 0;
			break;
		}
		if (off < D->next) {
			uint64_t skip = D->next - off;
			note_old(R, D, off, skip);
			p += skip;
			n -= (size_t)skip;
			off = D->next;
		}
		if (off == D->next) {
			note_late(R, s, dir, off, n);
			deliver(R, s, dir, off, p, n);
			D->next = end;
			drain(R, s, dir);
			break;
		}
		/* Beyond a hole: buffer, within the limits. */
		if (D->h->ooo_bytes + n > R->tcp->ooo_limit) {
			commit_for_limit(R, s, dir, off);	/* this direction's oldest hole */
			continue;
		}
		if (R->tcp->mem_used + n > R->tcp->memcap && !memcap_room(R, s, n)) {
			commit_for_limit(R, s, dir, off);
			continue;
		}
		buffer_ooo(R, s, dir, off, p, n);
		break;
	}
	/* Bytes the snaplen cut off: a hole the capture cannot fill. */
	if (missing > 0 && D->next == end) {
		declare_gap(R, s, dir, end, missing);
		D->next = end + missing;
		drain(R, s, dir);
	}
}

/* The ACK of direction `dir` acknowledges the other direction's bytes:
 * bytes of a hole there were received by the peer; the hole's clock
 * starts (ACK milestones), and stall bookkeeping moves. */
static void
ack_covers(struct reasm *R, struct session *s, int dir, uint32_t ack, uint64_t ts_ns)
{
	int o = !dir;
	struct rdir *D = &s->d[o];
	uint64_t aoff;

	if (!D->have_base) {
		/* The other side's SYN or first data is still to come: keep
		 * the highest ACK and apply it then. */
		if (!D->h->ack_raw_set || (int32_t)(ack - D->h->ack_raw) > 0) {
			rh(D);
			D->h->ack_raw = ack;
			D->h->ack_raw_ns = ts_ns;
			D->h->ack_raw_set = true;
		}
		return;
	}
	aoff = seq_off(D, ack, D->next);
	if (D->fin_seen && aoff > D->fin_off)
		aoff = D->fin_off;	/* the FIN's own sequence number */
	if (aoff > D->next && aoff - D->next < ACK_SANE && aoff > D->h->cover2_off) {
		rh(D);
		if (D->h->cover_off <= D->next) {
			D->h->cover_off = aoff;
			D->h->cover_ns = ts_ns;
		}
		D->h->cover2_off = aoff;
		D->h->cover2_ns = ts_ns;
	}
	/* Ack-stall bookkeeping: progress restarts the clock. */
	if (aoff > D->acked && aoff - D->acked < ACK_SANE) {
		D->acked = aoff;
		D->stall_noted = false;
		D->unacked_since = aoff >= D->c.stream_bytes ? 0 : R->now_ns;
	}
}

/* A direction's base became known: an ACK that came before it counts now. */
static void
base_known(struct reasm *R, struct session *s, int dir)
{
	struct rdir *D = &s->d[dir];

	if (D->h->ack_raw_set) {
		D->h->ack_raw_set = false;
		ack_covers(R, s, !dir, D->h->ack_raw, D->h->ack_raw_ns);
	}
}

/* A direction whose data has waited for an acknowledgment longer than
 * ack_stall_sec (capture time) gets one tcp_note per stall. */
static void
stall_check(struct reasm *R, struct session *s)
{
	for (int k = 0; k < 2 && R->tcp->stall_ns; k++) {
		struct rdir *D = &s->d[k];
		if (D->unacked_since && !D->stall_noted && R->now_ns - D->unacked_since >= R->tcp->stall_ns) {
			D->stall_noted = true;
			sess_note(R, s, k, "ack_stall", D->acked, D->c.stream_bytes - D->acked);
		}
	}
}

/* How far a closing session's direction goes: its FIN, or for the side
 * that sent an RST the highest byte seen or acknowledged (it sends
 * nothing after its RST).  The other side of an RST has no known end: its
 * bytes still in flight (sent before the RST reached it) keep coming for
 * gap_grace_ms. */
static uint64_t
closing_limit(const struct rdir *D)
{
	if (D->fin_seen)
		return D->fin_off;
	if (D->rst_sent)
		return MAX(D->c.stream_bytes, D->acked);
	return UINT64_MAX;
}

/* A closing session with nothing left to wait for. */
static bool
closing_done(const struct session *s)
{
	for (int k = 0; k < 2; k++) {
		const struct rdir *D = &s->d[k];
		if (D->h->ooo != NULL || D->next < closing_limit(D))
			return false;
		if (!D->have_base && D->h->ack_raw_set)
			return false;	/* acknowledged bytes of a side not seen yet */
	}
	return true;
}

static uint64_t
dir_deadline(const struct reasm *R, const struct rdir *D)
{
	uint64_t dl = NO_DEADLINE;

	if (D->h->cover_off > D->next)
		dl = D->h->cover_ns + R->tcp->gap_grace_ns;
	if (D->h->ooo)
		dl = MIN(dl, D->h->ooo_since + R->tcp->ooo_timeout_ns);
	return dl;
}

/* Holes whose time has come become gaps. */
static void
expire_dir(struct reasm *R, struct session *s, int k)
{
	struct rdir *D = &s->d[k];

	for (;;) {
		if (D->h->cover_off > D->next && R->now_ns >= D->h->cover_ns + R->tcp->gap_grace_ns)
			commit_hole(R, s, k, D->h->cover_off);
		else if (D->h->ooo && R->now_ns >= D->h->ooo_since + R->tcp->ooo_timeout_ns)
			commit_hole(R, s, k, D->h->ooo->off);
		else
			break;
	}
}

/* After anything happened to s: due holes become gaps, a finished closing
 * closes, and the session's deadline and place on the pending list follow. */
static void
session_settle(struct reasm *R, struct session *s)
{
	uint64_t dl;

	if (s->closed)
		return;
	/* (a direction without state of its own has no hole to expire: most
	 * of them, and a call each was 4% of the engine on small frames) */
	if (s->d[0].h != &nohole)
		expire_dir(R, s, 0);
	if (s->d[1].h != &nohole)
		expire_dir(R, s, 1);
	if (s->closing && (closing_done(s) || R->now_ns >= s->closing_ns + R->tcp->gap_grace_ns)) {
		session_close(R, s, s->closing_reason);
		return;
	}
	dl = MIN(dir_deadline(R, &s->d[0]), dir_deadline(R, &s->d[1]));
	if (s->closing)
		dl = MIN(dl, s->closing_ns + R->tcp->gap_grace_ns);
	s->deadline = dl;
	if (dl == NO_DEADLINE) {
		pend_unlink(R, s);
		return;
	}
	if (!s->pending)
		pend_append(R, s);
	if (dl < R->tcp->next_deadline) {
		R->tcp->next_deadline = dl;
		set_due(R);
	}
}

static void
enter_closing(struct reasm *R, struct session *s, unsigned reason)
{
	if (s->closing)
		return;
	s->closing = true;
	s->closing_reason = (uint8_t)reason;
	s->closing_ns = R->now_ns;
}

/* Frees what a closed session no longer needs: buffered segments, gaps. */
static void
session_state_free(struct reasm *R, struct session *s)
{
	for (int k = 0; k < 2; k++) {
		struct seg *g = s->d[k].h->ooo;
		while (g) {
			struct seg *n = g->next;
			R->tcp->mem_used -= g->len;
			free(g);
			g = n;
		}
		if (s->d[k].h != &nohole)
			free(s->d[k].h);
		s->d[k].h = &nohole;
		free(s->d[k].gapv);
		s->d[k].gapv = NULL;
	}
}

/* Removes a tombstone from the table for good. */
static void session_free(struct reasm *R, struct session *s);

static void
half_leave(struct reasm *R, struct session *s)
{
	if (s->half) {
		TAILQ_REMOVE(&R->tcp->half, s, hq);
		s->half = false;
	}
}

static void session_close(struct reasm *R, struct session *s, unsigned reason);

/*
 * The table is full (reasm.max_sessions): room for a new session, if it
 * costs nothing established.  The oldest tombstone goes first (its grace
 * is only for stray frames), then the oldest half-open session (only SYNs
 * seen: a SYN flood's, which must not blind the tap to the sessions that
 * carry data), closed as table_full and counted.  Established sessions
 * are never evicted: then the new one is refused (table_full).  `keep`,
 * the incarnation the new session follows, is never the one to go: the
 * new one links to it (fuzz_reasm found a half-open one freed there, and
 * read after).
 */
static bool
table_room(struct reasm *R, const struct session *keep)
{
	struct session *s = TAILQ_FIRST(&R->tcp->tomb);

	if (s != NULL && s == keep)
		s = TAILQ_NEXT(s, lq);	/* (the incarnation the new one follows) */
	if (s != NULL) {
		R->st.tombs_evicted++;
		session_free(R, s);
		return true;
	}
	s = TAILQ_FIRST(&R->tcp->half);
	if (s != NULL && s == keep)
		s = TAILQ_NEXT(s, hq);	/* (a half-open one a new SYN is replacing) */
	if (s != NULL) {
		static struct log_rl rl;
		R->st.half_open_evicted++;
		log_ratelimited(&rl, 1, 10000, LOG_WARNING, "reasm.max_sessions (%zu) reached: the oldest "
		    "half-open sessions make room (half_open_evicted %llu; a SYN flood?)", R->tcp->max_sessions,
		    (unsigned long long)R->st.half_open_evicted);
		session_close(R, s, CLOSE_TABLE_FULL);
		session_free(R, s);
		return true;
	}
	return false;
}

static void
session_free(struct reasm *R, struct session *s)
{
	size_t h = flow_hash(R->tcp, s->family, s->cip, s->cport, s->sip, s->sport);

	for (struct session **pp = chain_of(R->tcp, h); *pp; ) {
		if (*pp == s) {
			*pp = s->hnext;
			continue;
		}
		if ((*pp)->older == s)
			(*pp)->older = NULL;	/* the newer incarnation */
		pp = &(*pp)->hnext;
	}
	/* Tombstones sit on their own list, oldest first. */
	TAILQ_REMOVE(s->sticky ? &R->tcp->sticky : &R->tcp->tomb, s, lq);
	R->tcp->nsessions--;
	hold_flush(R, s);	/* (its close sent them: nothing is left) */
	slab_free(&R->tcp->slab, s);
}

/*
 * Closes a session: holes before buffered data and the known tail become
 * gaps, the outputs get the close, and the session stays as a tombstone
 * for close_grace_ms so that late frames still belong to it (and do not
 * open a mid-stream session of their own).  A session that was closing
 * keeps the reason it was closing for.
 */
static void
session_close(struct reasm *R, struct session *s, unsigned reason)
{
	if (s->closed)
		return;
	half_leave(R, s);
	if (s->closing)
		reason = s->closing_reason;
	for (int k = 0; k < 2; k++) {
		struct rdir *D = &s->d[k];
		/* The known end: what was seen, or acknowledged though never
		 * seen (a loss at the tail is a gap too). */
		uint64_t end = MAX(D->c.stream_bytes, D->acked);
		while (D->h->ooo)
			commit_hole(R, s, k, D->h->ooo->off);
		if (end > D->next)
			commit_hole(R, s, k, end);
	}
	R->st.close_reason[reason < CLOSE_REASON_MAX ? reason : 0]++;
	sess_close(R, s, reason);
	session_state_free(R, s);
	pend_unlink(R, s);
	if (s->moving)
		lru_flush(R->tcp);
	TAILQ_REMOVE(&R->tcp->lru, s, lq);
	s->closed = true;
	s->closing = false;
	s->deadline = NO_DEADLINE;
	s->last_ns = R->now_ns;
	/* Closed by control: the flow stays closed (its packets counted as
	 * closed_by_control, not opened again mid-stream) until a new SYN, its
	 * own FIN or RST, or session_idle_sec without a packet. */
	s->sticky = reason == CLOSE_CONTROL;
	TAILQ_INSERT_TAIL(s->sticky ? &R->tcp->sticky : &R->tcp->tomb, s, lq);
}

static void
fin_check(struct reasm *R, struct session *s, int dir)
{
	struct rdir *D = &s->d[dir];

	if (D->fin_seen && !D->closed && D->next >= D->fin_off) {
		D->closed = true;
		sess_half_close(R, s, dir);
	}
}

/* Runs the deadlines that have passed. */
static void
deadline_sweep(struct reasm *R)
{
	uint64_t nd = NO_DEADLINE;

	R->tcp->last_deadline_sweep = R->now_ns;
	for (struct session *s = TAILQ_FIRST(&R->tcp->pend), *nx; s; s = nx) {
		nx = TAILQ_NEXT(s, pq);
		if (s->deadline <= R->now_ns) {
			session_settle(R, s);	/* moves nothing but s */
			if (!s->pending)
				continue;
		}
		nd = MIN(nd, s->deadline);
	}
	R->tcp->next_deadline = nd;
	set_due(R);
}

void
tcp_deadlines(struct reasm *R)
{
	if (R->now_ns >= R->tcp->next_deadline && R->now_ns - R->tcp->last_deadline_sweep >= SWEEP_NS)
		deadline_sweep(R);
}

void
tcp_expire(struct reasm *R)
{
	struct session *s;

	/* The list is in the order sessions moved to its back, and a
	 * session's last packet is less than lru_eps_ns after its move (or it
	 * would have moved again): when the first is not idle, none behind it
	 * has been idle for more than lru_eps_ns. */
	lru_flush(R->tcp);
	while ((s = TAILQ_FIRST(&R->tcp->lru)) && R->now_ns - s->last_ns >= R->tcp->idle_ns)
		session_close(R, s, CLOSE_IDLE);
	while ((s = TAILQ_FIRST(&R->tcp->tomb)) && R->now_ns - s->last_ns >= R->tcp->grace_ns)
		session_free(R, s);
	while ((s = TAILQ_FIRST(&R->tcp->sticky)) && R->now_ns - s->last_ns >= R->tcp->idle_ns)
		session_free(R, s);
}

/* A late frame of a closed session: its frame goes out with it, no data. */
static void
late_frame(struct reasm *R, struct session *s, int dir, const struct frame *fr, size_t nfr)
{
	R->st.late_packets++;
	for (size_t k = 0; k < nfr; k++)
		sess_packet(R, s, dir, &fr[k]);
}

/* Is this SYN (or SYN-ACK) s's own: a repeat, or one that reaches the
 * capture after the other side's SYN-ACK, RST or data that acknowledge
 * it?  If not, it opens a new incarnation of the 4-tuple. */
static bool
own_syn(const struct session *s, int dir, const struct decoded *d)
{
	const struct rdir *D = &s->d[dir];
	int m = match_handshake(s, dir, d);

	if (m >= 0)
		return m == 1;
	if (D->have_base)
		return false;
	return !D->h->ack_raw_set || (uint32_t)(D->h->ack_raw - (d->seq + 1)) < (1u << 30);
}

bool
tcp_segment(struct reasm *R, const struct decoded *d, const struct frame *fr, size_t nfr)
{
	size_t bucket;
	int dir = 0;
	struct session *s = lookup(R, d, &bucket, &dir), *older = NULL;
	bool syn = d->flags & TH_SYN, ack = d->flags & TH_ACK;
	uint64_t ts_ns = fr[nfr - 1].ts_ns;
	size_t plen = d->payload_len;
	uint32_t missing = d->missing;
	struct rdir *D;

	if (s != NULL && s->older != NULL)
		s = pick_incarnation(s, dir, d);
	if (s != NULL && syn && !own_syn(s, dir, d) &&
	    (s->closed || s->closing || s->d[0].fin_seen || s->d[1].fin_seen || s->d[dir].syn_seen)) {
		/*
		 * A new SYN (or, when the client's SYN reaches the capture
		 * late, the SYN-ACK that answers it) on a closing or closed
		 * 4-tuple, or with a new ISN: a new incarnation.  The old one
		 * keeps the frames of its own sequence space that are still on
		 * their way; at most two live side by side.
		 */
		if (s->older != NULL) {
			if (!s->older->closed)
				session_close(R, s->older, CLOSE_FIN);
			session_free(R, s->older);
		}
		if (!s->closed) {
			enter_closing(R, s, s->d[0].fin_seen || s->d[1].fin_seen ? CLOSE_FIN : CLOSE_RST);
			session_settle(R, s);
		}
		older = s;	/* linked below, a tombstone too: late frames find it */
		s = NULL;
	} else if (s != NULL && s->closed && s->sticky) {
		/* a flow closed by control: counted, not delivered, not reopened */
		R->st.closed_by_control_packets++;
		R->st.closed_by_control_bytes += d->payload_len;
		if (ts_ns > s->last_ns)
			s->last_ns = ts_ns;
		TAILQ_REMOVE(&R->tcp->sticky, s, lq);
		TAILQ_INSERT_TAIL(&R->tcp->sticky, s, lq);
		if (d->flags & (TH_FIN | TH_RST)) {
			/* its own end: an ordinary tombstone from now on (the
			 * other side's FIN and the last ACKs are late frames),
			 * gone after close_grace_ms */
			TAILQ_REMOVE(&R->tcp->sticky, s, lq);
			s->sticky = false;
			TAILQ_INSERT_TAIL(&R->tcp->tomb, s, lq);
		}
		return true;
	} else if (s != NULL && s->closed) {
		late_frame(R, s, dir, fr, nfr);
		return true;
	}
	if (s == NULL) {
		bool src_client, guessed = false;
		if (d->flags & TH_RST)
			return false;	/* a reset for nothing we know */
		if (!syn && d->payload_len == 0 && !(d->flags & TH_FIN))
			return false;	/* a pure ACK of a flow we never saw: nothing to rebuild */
		if (R->tcp->nsessions >= R->tcp->max_sessions && !table_room(R, older)) {
			R->st.table_full_packets++;
			return false;
		}
		if (syn)
			src_client = !ack;	/* roles from the flags, whichever came first */
		else {
			guessed = true;
			src_client = d->sport > d->dport;
		}
		s = session_new(R, d, bucket, src_client, guessed);
		if (syn && d->payload_len == 0) {
			s->half = true;
			TAILQ_INSERT_TAIL(&R->tcp->half, s, hq);
		}
		/* io.mapping.role may have turned the roles round. */
		dir = same_ep(d->family, s->cip, s->cport, d->src, d->sport) ? DIR_REQUESTS : DIR_RESPONSES;
		s->older = older;
	}
	D = &s->d[dir];
	if (s->half && !syn)
		half_leave(R, s);	/* an ACK or data: not a SYN flood's */
	if (ts_ns > s->last_ns)
		s->last_ns = ts_ns;
	{
		uint32_t now = (uint32_t)(R->now_ns >> R->tcp->lru_shift);
		if ((uint32_t)(now - s->lru) >= R->tcp->lru_eps_units && !s->moving) {
			if (R->tcp->nmoves == LRU_BATCH)
				lru_flush(R->tcp);
			R->tcp->moves[R->tcp->nmoves++] = s;
			s->moving = true;
			s->lru = now;
		}
	}
	D->c.packets++;
	sess_segment(R, s, dir, fr, nfr, d->seq + (syn ? 1u : 0u), (uint32_t)plen);

	if (syn && ack && !s->d[!dir].h->synack_set && !s->d[!dir].syn_seen) {
		rh(&s->d[!dir])->synack_set = true;
		s->d[!dir].h->synack_ack = d->ack;
	}
	if (syn) {
		if (!D->have_base) {
			D->have_base = true;
			D->base = d->seq + 1;
			base_known(R, s, dir);
		}
		D->syn_seen = true;
	} else if (!D->have_base) {
		D->have_base = true;
		D->base = d->seq;	/* picked up mid-stream */
		base_known(R, s, dir);
	}
	if (d->flags & TH_RST)
		plen = 0, missing = 0;	/* an RST's text is no stream data */
	else if (s->closing && D->rst_sent) {
		/* A side sends nothing after its own RST: bytes beyond what
		 * it was seen or acknowledged to send are not its stream's. */
		uint64_t lim = closing_limit(D);
		uint64_t off = seq_off(D, syn ? d->seq + 1 : d->seq, D->next);
		if (off >= lim)
			plen = 0, missing = 0;
		else if (off + plen + missing > lim) {
			uint64_t keep = lim - off;
			if (keep < plen)
				plen = (size_t)keep, missing = 0;
			else
				missing = (uint32_t)(keep - plen);
		}
	}
	if (plen > 0 || missing > 0) {
		data(R, s, dir, syn ? d->seq + 1 : d->seq, d->payload, plen, missing);
		if (D->unacked_since == 0 && D->c.stream_bytes > D->acked)
			D->unacked_since = ts_ns;
	}
	if (d->flags & TH_FIN) {
		uint32_t fseq = (syn ? d->seq + 1 : d->seq) + (uint32_t)d->payload_len + d->missing;
		uint64_t foff = seq_off(D, fseq, D->next);
		if (!D->fin_seen || foff < D->fin_off) {
			D->fin_seen = true;
			D->fin_off = foff;
			if (foff > D->c.stream_bytes)
				D->c.stream_bytes = foff;
			/* An ACK of the FIN that came before it covers no byte. */
			if (D->h != &nohole) {
				D->h->cover_off = MIN(D->h->cover_off, foff);
				D->h->cover2_off = MIN(D->h->cover2_off, foff);
				cover_update(D);
			}
			D->acked = MIN(D->acked, foff);
		}
	}
	if (ack)
		ack_covers(R, s, dir, d->ack, ts_ns);
	stall_check(R, s);
	fin_check(R, s, dir);
	fin_check(R, s, !dir);
	if (d->flags & TH_RST) {
		s->rst = true;
		D->rst_sent = true;
		enter_closing(R, s, CLOSE_RST);
	} else if (s->d[0].fin_seen && s->d[1].fin_seen)
		enter_closing(R, s, CLOSE_FIN);
	session_settle(R, s);
	return true;
}

void
tcp_close_all(struct reasm *R, unsigned reason)
{
	struct session *s;

	lru_flush(R->tcp);
	while ((s = TAILQ_FIRST(&R->tcp->lru)) != NULL)
		session_close(R, s, reason);
}

/* The tombstones of a table that goes as a whole: nothing to unlink them
 * from (the buckets go too), only their own memory to give back.  A closed
 * session holds no frames (sess_close sent them out, and a closed session
 * is never held again): with the slab, whose chunks go whole
 * (slab_release), there is nothing to visit, where a million tombstones in
 * the order they closed (all over memory after a busy run) were a million
 * misses one after the other.  Without it (SLAB_PLAIN: ASan), each goes to
 * free(). */
static void
tomb_teardown(struct reasm *R, struct sessq *q)
{
#ifdef SLAB_PLAIN
	struct session *s, *nx;

	for (s = TAILQ_FIRST(q); s != NULL; s = nx) {
		nx = TAILQ_NEXT(s, lq);
		/* (what the slab build takes on trust, checked here: the
		 * sanitizer builds run every test this way) */
		if (s->held != NULL)
			fatalx("tcp: a closed session still holds frames");
		slab_free(&R->tcp->slab, s);
	}
#else
	(void)R;
#endif
	TAILQ_INIT(q);
}

int
tcp_close_id(struct reasm *R, uint64_t id, unsigned reason)
{
	struct session *s;

	lru_flush(R->tcp);
	TAILQ_FOREACH(s, &R->tcp->lru, lq)
		if (s->id == id && !s->closed) {
			session_close(R, s, reason);
			return 0;
		}
	return -1;
}

void
tcp_foreach_open(struct reasm *R, void (*fn)(struct reasm *, struct session *, void *), void *arg)
{
	struct session *s, *nx;

	if (R->tcp == NULL)
		return;
	lru_flush(R->tcp);
	for (s = TAILQ_FIRST(&R->tcp->lru); s != NULL; s = nx) {
		nx = TAILQ_NEXT(s, lq);
		if (!s->closed)
			fn(R, s, arg);
	}
}

void
tcp_free(struct reasm *R)
{
	if (R->tcp == NULL)
		return;
	tcp_close_all(R, CLOSE_SHUTDOWN);
	tomb_teardown(R, &R->tcp->tomb);
	tomb_teardown(R, &R->tcp->sticky);
	free(R->tcp->buckets);
	free(R->tcp->old);
	slab_release(&R->tcp->slab);
	free(R->tcp);
	R->tcp = NULL;
}
