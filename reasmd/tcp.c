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
 * byte wins) until the hole before them fills, the other side's ACK shows
 * the receiver got bytes the capture missed (the hole becomes a gap), a
 * limit (ooo_bytes_per_dir, memcap) forces the gap, or the session closes.
 * Bytes before `next` are retransmissions, counted once.
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "reasmd.h"
#include "util.h"

struct seg {
	struct seg *next;
	uint64_t off;
	uint32_t len;
	uint8_t data[];
};

static uint64_t
flow_hash(uint8_t fam, const uint8_t *a, uint16_t pa, const uint8_t *b, uint16_t pb)
{
	return decode_flow_hash(fam, a, pa, b, pb);
}

void
reasm_init(struct reasm *R, const struct conf *c, unsigned gen, unsigned shard)
{
	size_t nb = 1024;

	memset(R, 0, sizeof(*R));
	R->conf = c;
	R->gen = gen;
	R->shard = shard;
	R->max_sessions = (size_t)c->max_sessions;
	while (nb < R->max_sessions && nb < ((size_t)1 << 22))
		nb <<= 1;
	R->nbuckets = nb;
	R->buckets = xcalloc(nb, sizeof(*R->buckets));
	R->memcap = (uint64_t)c->memcap;
	R->ooo_limit = (uint64_t)c->ooo_bytes_per_dir;
	R->idle_ns = (uint64_t)(c->session_idle_sec * 1e9);
	R->grace_ns = (uint64_t)c->close_grace_ms * 1000000ULL;
	R->stall_ns = (uint64_t)(c->lst_ack_stall_sec * 1e9);
	R->frags = frag_new(c);
	R->out.dirfd = -1;
	if (c->local_ip && addr_parse(c->local_ip, &R->local_family, R->local_ip) == 0)
		R->have_local = true;
}

static bool
same_ep(uint8_t fam, const uint8_t *a, uint16_t pa, const uint8_t *b, uint16_t pb)
{
	return pa == pb && memcmp(a, b, fam == 6 ? 16 : 4) == 0;
}

static struct session *
lookup(struct reasm *R, const struct decoded *d, size_t *bucket, int *dir)
{
	size_t b = flow_hash(d->family, d->src, d->sport, d->dst, d->dport) & (R->nbuckets - 1);

	*bucket = b;
	for (struct session *s = R->buckets[b]; s; s = s->hnext) {
		if (s->family != d->family)
			continue;
		if (same_ep(d->family, s->cip, s->cport, d->src, d->sport) &&
		    same_ep(d->family, s->sip, s->sport, d->dst, d->dport)) {
			*dir = DIR_REQUESTS;
			return s;
		}
		if (same_ep(d->family, s->sip, s->sport, d->src, d->sport) &&
		    same_ep(d->family, s->cip, s->cport, d->dst, d->dport)) {
			*dir = DIR_RESPONSES;
			return s;
		}
	}
	return NULL;
}

static void
lru_unlink(struct reasm *R, struct session *s)
{
	if (s->lprev)
		s->lprev->lnext = s->lnext;
	else
		R->lru_head = s->lnext;
	if (s->lnext)
		s->lnext->lprev = s->lprev;
	else
		R->lru_tail = s->lprev;
	s->lprev = s->lnext = NULL;
}

static void
lru_append(struct reasm *R, struct session *s)
{
	s->lprev = R->lru_tail;
	s->lnext = NULL;
	if (R->lru_tail)
		R->lru_tail->lnext = s;
	else
		R->lru_head = s;
	R->lru_tail = s;
}

/* Which endpoint is the client when no SYN says so: the side with the
 * lower port is the server (well-known ports are low). */
static struct session *
session_new(struct reasm *R, const struct decoded *d, size_t bucket, bool src_is_client,
    bool guessed)
{
	struct session *s = xcalloc(1, sizeof(*s));
	size_t n = d->family == 6 ? 16 : 4;

	s->id = sid_make(R->gen, R->shard, ++R->next_ctr);
	s->family = d->family;
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
	if (R->have_local && R->local_family == s->family) {
		if (memcmp(R->local_ip, s->cip, n) == 0)
			s->local_side = 1;
		else if (memcmp(R->local_ip, s->sip, n) == 0)
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
	s->hnext = R->buckets[bucket];
	R->buckets[bucket] = s;
	lru_append(R, s);
	R->nsessions++;
	R->st.sessions++;
	s->first_ns = s->last_ns = R->now_ns;
	out_open(R, s);
	return s;
}

static void
deliver(struct reasm *R, struct session *s, int dir, uint64_t off, const uint8_t *p, size_t n)
{
	struct rdir *D = &s->d[dir];

	if (n == 0)
		return;
	D->c.delivered += n;
	R->st.bytes_delivered += n;
	out_chunk(R, s, dir, off, p, n);
}

static void
declare_gap(struct reasm *R, struct session *s, int dir, uint64_t off, uint64_t len)
{
	struct rdir *D = &s->d[dir];

	if (len == 0)
		return;
	if (D->c.gap_count < GAPS_KEPT) {
		if (D->gapv == NULL)
			D->gapv = xcalloc(GAPS_KEPT, sizeof(*D->gapv));
		D->gapv[D->c.gap_count].off = off;
		D->gapv[D->c.gap_count].len = len;
	}
	D->c.gap_count++;
	D->c.gap_bytes += len;
	R->st.gaps++;
	R->st.gap_bytes += len;
	out_gap(R, s, dir, off, len);
}

/* Delivers buffered segments that now start at `next`. */
static void
drain(struct reasm *R, struct session *s, int dir)
{
	struct rdir *D = &s->d[dir];

	while (D->ooo && D->ooo->off <= D->next) {
		struct seg *g = D->ooo;
		uint64_t end = g->off + g->len;
		if (end > D->next) {
			uint64_t skip = D->next - g->off;
			deliver(R, s, dir, D->next, g->data + skip, (size_t)(g->len - skip));
			D->next = end;
		}
		D->ooo = g->next;
		D->ooo_bytes -= g->len;
		R->mem_used -= g->len;
		free(g);
	}
}

/* Declares the hole before the first buffered segment (or up to `upto`)
 * a gap and delivers what follows it. */
static void
force_gap(struct reasm *R, struct session *s, int dir, uint64_t upto)
{
	struct rdir *D = &s->d[dir];
	uint64_t to = D->ooo ? MIN(D->ooo->off, upto) : upto;

	if (to > D->next) {
		declare_gap(R, s, dir, D->next, to - D->next);
		D->next = to;
	}
	drain(R, s, dir);
}

/* Buffers [off, off+n) beyond next: only the bytes not held yet (the first
 * copy wins); bytes held already are compared and conflicts counted. */
static void
buffer_ooo(struct reasm *R, struct session *s, int dir, uint64_t off, const uint8_t *p, size_t n)
{
	struct rdir *D = &s->d[dir];
	struct seg **pp = &D->ooo;
	uint64_t end = off + n;

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
			if (memcmp(g->data + (off - g->off), p, (size_t)ov) != 0) {
				D->c.overlap_conflicts++;
				out_note(R, s, dir, "overlap_conflict", off, ov);
			}
			p += ov;
			off += ov;
			pp = &g->next;
			continue;
		}
		/* A free stretch up to the next held segment. */
		uint64_t stop = g ? MIN(end, g->off) : end;
		uint32_t len = (uint32_t)(stop - off);
		if (D->ooo_bytes + len > R->ooo_limit || R->mem_used + len > R->memcap) {
			/* Limits: the hole becomes a gap now. */
			uint64_t before = D->c.gap_bytes;
			force_gap(R, s, dir, off);
			D->c.dropped_ooo += D->c.gap_bytes - before;
			R->st.ooo_limit_bytes += D->c.gap_bytes - before;
			if (off <= D->next) {
				/* Now in order (or older): handled by the caller's path. */
				if (off + len > D->next) {
					uint64_t skip = D->next - off;
					deliver(R, s, dir, D->next, p + skip, (size_t)(len - skip));
					D->next = off + len;
					drain(R, s, dir);
				}
				p += len;
				off += len;
				pp = &D->ooo;
				continue;
			}
			pp = &D->ooo;
			continue;
		}
		struct seg *ns = xmalloc(sizeof(*ns) + len);
		ns->off = off;
		ns->len = len;
		memcpy(ns->data, p, len);
		ns->next = g;
		*pp = ns;
		pp = &ns->next;
		D->ooo_bytes += len;
		R->mem_used += len;
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
	if (end <= D->next) {
		D->c.retrans_bytes += n;
		return;
	}
	if (off < D->next) {
		uint64_t skip = D->next - off;
		D->c.retrans_bytes += skip;
		p += skip;
		n -= (size_t)skip;
		off = D->next;
	}
	if (off == D->next) {
		deliver(R, s, dir, off, p, n);
		D->next = end;
		drain(R, s, dir);
	} else
		buffer_ooo(R, s, dir, off, p, n);
	/* Bytes the snaplen cut off: a hole the capture cannot fill. */
	if (missing > 0 && D->next == end) {
		declare_gap(R, s, dir, end, missing);
		D->next = end + missing;
		drain(R, s, dir);
	}
}

/* The ACK of direction `dir` acknowledges the other direction's bytes: a
 * hole there that the ACK covers was received but not captured. */
static void
ack_covers(struct reasm *R, struct session *s, int dir, uint32_t ack)
{
	int o = !dir;
	struct rdir *D = &s->d[o];
	uint64_t aoff;

	if (!D->have_base)
		return;
	aoff = seq_off(D, ack, D->next);
	if (D->fin_seen && aoff > D->fin_off)
		aoff = D->fin_off;	/* the FIN's own sequence number */
	if (aoff > D->next && (int64_t)(aoff - D->next) < (1LL << 30))
		force_gap(R, s, o, aoff);
	/* Ack-stall bookkeeping: progress restarts the clock. */
	if (aoff > D->acked && aoff - D->acked < (1ULL << 31)) {
		D->acked = aoff;
		D->stall_noted = false;
		D->unacked_since = aoff >= D->c.stream_bytes ? 0 : R->now_ns;
	}
}

/* A direction whose data has waited for an acknowledgment longer than
 * ack_stall_sec (capture time) gets one tcp_note per stall. */
static void
stall_check(struct reasm *R, struct session *s)
{
	for (int k = 0; k < 2 && R->stall_ns; k++) {
		struct rdir *D = &s->d[k];
		if (D->unacked_since && !D->stall_noted && R->now_ns - D->unacked_since >= R->stall_ns) {
			D->stall_noted = true;
			out_note(R, s, k, "ack_stall", D->acked, D->c.stream_bytes - D->acked);
		}
	}
}

/* Frees what a closed session no longer needs: buffered segments, gaps. */
static void
session_state_free(struct reasm *R, struct session *s)
{
	for (int k = 0; k < 2; k++) {
		struct seg *g = s->d[k].ooo;
		while (g) {
			struct seg *n = g->next;
			R->mem_used -= g->len;
			free(g);
			g = n;
		}
		s->d[k].ooo = NULL;
		s->d[k].ooo_bytes = 0;
		free(s->d[k].gapv);
		s->d[k].gapv = NULL;
	}
}

/* Removes a tombstone from the table for good. */
static void
session_free(struct reasm *R, struct session *s)
{
	size_t b = flow_hash(s->family, s->cip, s->cport, s->sip, s->sport) & (R->nbuckets - 1);

	for (struct session **pp = &R->buckets[b]; *pp; pp = &(*pp)->hnext)
		if (*pp == s) {
			*pp = s->hnext;
			break;
		}
	/* Tombstones sit on their own list, oldest first. */
	if (s->lprev)
		s->lprev->lnext = s->lnext;
	else
		R->tomb_head = s->lnext;
	if (s->lnext)
		s->lnext->lprev = s->lprev;
	else
		R->tomb_tail = s->lprev;
	R->nsessions--;
	free(s->sinkdrop);
	free(s);
}

/*
 * Closes a session: holes before buffered data and the known tail become
 * gaps, the outputs get the close, and the session stays as a tombstone
 * for close_grace_ms so that late frames still belong to it (and do not
 * open a mid-stream session of their own).
 */
static void
session_close(struct reasm *R, struct session *s, unsigned reason)
{
	for (int k = 0; k < 2; k++) {
		struct rdir *D = &s->d[k];
		while (D->ooo)
			force_gap(R, s, k, D->ooo->off);
		if (D->c.stream_bytes > D->next)
			force_gap(R, s, k, D->c.stream_bytes);
	}
	R->st.close_reason[reason < CLOSE_REASON_MAX ? reason : 0]++;
	out_close(R, s, reason);
	session_state_free(R, s);
	lru_unlink(R, s);
	s->closed = true;
	s->last_ns = R->now_ns;
	s->lprev = R->tomb_tail;
	s->lnext = NULL;
	if (R->tomb_tail)
		R->tomb_tail->lnext = s;
	else
		R->tomb_head = s;
	R->tomb_tail = s;
}

static void
fin_check(struct reasm *R, struct session *s, int dir)
{
	struct rdir *D = &s->d[dir];

	if (D->fin_seen && !D->closed && D->next >= D->fin_off) {
		D->closed = true;
		out_half_close(R, s, dir);
	}
}

void
reasm_tick(struct reasm *R, uint64_t ts_ns)
{
	if (ts_ns > R->now_ns)
		R->now_ns = ts_ns;
	if (R->now_ns - R->last_sweep_ns < 1000000000ULL / 4)
		return;
	R->last_sweep_ns = R->now_ns;
	out_tick(R);
	while (R->lru_head && R->now_ns - R->lru_head->last_ns >= R->idle_ns)
		session_close(R, R->lru_head, CLOSE_IDLE);
	while (R->tomb_head && R->now_ns - R->tomb_head->last_ns >= R->grace_ns)
		session_free(R, R->tomb_head);
	frag_expire(R, R->now_ns);
}

static bool
tcp_segment(struct reasm *R, const struct decoded *d, const struct frame *fr, size_t nfr)
{
	size_t bucket;
	int dir = 0;
	struct session *s = lookup(R, d, &bucket, &dir);
	bool syn = d->flags & TH_SYN, ack = d->flags & TH_ACK;
	uint64_t ts_ns = fr[nfr - 1].ts_ns;
	struct rdir *D;

	if (s != NULL && s->closed) {
		if (syn && !ack) {
			session_free(R, s);	/* port reuse after the close */
			s = NULL;
		} else {
			/* A late frame of a closed session: its frame, no data. */
			R->st.late_packets++;
			for (size_t k = 0; k < nfr; k++)
				out_packet(R, s, dir, &fr[k]);
			return true;
		}
	}

	/* Port reuse: a new SYN on a closing or closed 4-tuple. */
	if (s != NULL && syn && !ack && (s->d[0].fin_seen || s->d[1].fin_seen ||
	    (s->d[dir].syn_seen && s->d[dir].base != d->seq + 1))) {
		/* A new SYN on a closing 4-tuple (or with a new ISN: the
		 * client started over) ends the old session. */
		session_close(R, s, s->d[0].fin_seen || s->d[1].fin_seen ? CLOSE_FIN : CLOSE_RST);
		session_free(R, s);
		s = NULL;
	}
	if (s == NULL) {
		bool src_client, guessed = false;
		if (d->flags & TH_RST)
			return false;	/* a reset for nothing we know */
		if (!syn && d->payload_len == 0 && !(d->flags & TH_FIN))
			return false;	/* a pure ACK of a flow we never saw: nothing to rebuild */
		if (R->nsessions >= R->max_sessions) {
			R->st.table_full_packets++;
			return false;
		}
		if (syn)
			src_client = !ack;
		else {
			guessed = true;
			src_client = d->sport > d->dport;
		}
		s = session_new(R, d, bucket, src_client, guessed);
		dir = src_client ? DIR_REQUESTS : DIR_RESPONSES;
	}
	D = &s->d[dir];
	s->last_ns = ts_ns;
	lru_unlink(R, s);
	lru_append(R, s);
	D->c.packets++;
	for (size_t k = 0; k < nfr; k++)
		out_packet(R, s, dir, &fr[k]);

	if (syn) {
		if (!D->have_base) {
			D->have_base = true;
			D->base = d->seq + 1;
		}
		D->syn_seen = true;
	} else if (!D->have_base) {
		D->have_base = true;
		D->base = d->seq;	/* picked up mid-stream */
	}
	if (d->flags & TH_RST) {
		s->rst = true;
		session_close(R, s, CLOSE_RST);
		return true;
	}
	if (d->payload_len > 0 || d->missing > 0) {
		data(R, s, dir, syn ? d->seq + 1 : d->seq, d->payload, d->payload_len, d->missing);
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
		}
	}
	if (ack)
		ack_covers(R, s, dir, d->ack);
	stall_check(R, s);
	fin_check(R, s, dir);
	fin_check(R, s, !dir);
	if (s->d[0].closed && s->d[1].closed)
		session_close(R, s, CLOSE_FIN);
	return true;
}

void
reasm_frame(struct reasm *R, int dlt, uint64_t ts_ns, const uint8_t *frame, uint32_t caplen,
    uint32_t origlen)
{
	struct decoded d, whole;
	struct frame f = { ts_ns, frame, caplen, origlen };
	const struct frame *frs = &f;
	size_t nfr = 1;
	enum decode_res r;

	R->st.packets++;
	reasm_tick(R, ts_ns);
	r = decode_frame(dlt, frame, caplen, &d);
	if (r == DEC_NOT_IP || r == DEC_NOT_TCP_UDP) {
		R->st.not_tcp++;
		out_packet(R, NULL, 0, &f);
		return;
	}
	if (r != DEC_OK) {
		static struct log_rl rl;
		R->st.decode_err[r]++;
		log_ratelimited(&rl, 5, 10000, LOG_DEBUG, "packet %llu: %s",
		    (unsigned long long)R->st.packets, decode_res_name(r));
		out_packet(R, NULL, 0, &f);
		return;
	}
	if (d.is_fragment) {
		R->st.fragments++;
		if (!frag_add(R, &d, &f, &whole, &frs, &nfr))
			return;
		d = whole;
	}
	R->st.tcp_packets += d.proto == 6;
	R->st.not_tcp += d.proto != 6;
	if (d.proto != 6 || !tcp_segment(R, &d, frs, nfr)) {
		/* Frames no session takes still reach a rolling pcap file. */
		for (size_t k = 0; k < nfr; k++)
			out_packet(R, NULL, 0, &frs[k]);
	}
}

void
reasm_close_all(struct reasm *R, unsigned reason)
{
	while (R->lru_head)
		session_close(R, R->lru_head, reason);
}

int
reasm_close_id(struct reasm *R, uint64_t id, unsigned reason)
{
	for (struct session *s = R->lru_head; s; s = s->lnext)
		if (s->id == id && !s->closed) {
			session_close(R, s, reason);
			return 0;
		}
	return -1;
}

void
reasm_free(struct reasm *R)
{
	reasm_close_all(R, CLOSE_SHUTDOWN);
	while (R->tomb_head)
		session_free(R, R->tomb_head);
	frag_free(R->frags);
	free(R->buckets);
}

void
reasm_summary(const struct reasm *R, FILE *f)
{
	fprintf(f, "reasmd: %llu packets (%llu TCP), %llu sessions, %llu bytes delivered, %llu gaps (%llu bytes)\n",
	    (unsigned long long)R->st.packets, (unsigned long long)R->st.tcp_packets,
	    (unsigned long long)R->st.sessions, (unsigned long long)R->st.bytes_delivered,
	    (unsigned long long)R->st.gaps, (unsigned long long)R->st.gap_bytes);
	fprintf(f, "reasmd: closed:");
	for (unsigned k = 1; k < CLOSE_REASON_MAX; k++)
		if (R->st.close_reason[k])
			fprintf(f, " %s=%llu", wire_close_reason_name(k), (unsigned long long)R->st.close_reason[k]);
	fprintf(f, "\nreasmd: drops: table_full=%llu packets, ooo_limit=%llu bytes, frag_limit=%llu packets; "
	    "not TCP: %llu packets; frames after their session closed (final ACKs, stray segments): %llu\n",
	    (unsigned long long)R->st.table_full_packets, (unsigned long long)R->st.ooo_limit_bytes,
	    (unsigned long long)R->st.frag_limit_packets, (unsigned long long)R->st.not_tcp,
	    (unsigned long long)R->st.late_packets);
	if (R->st.write_error_bytes)
		fprintf(f, "reasmd: write_error=%llu bytes could not be written to the -o files\n",
		    (unsigned long long)R->st.write_error_bytes);
	fprintf(f, "reasmd: fragments: %llu packets, %llu datagrams reassembled, %llu overlapping, %llu timed out\n",
	    (unsigned long long)R->st.fragments, (unsigned long long)R->st.frag_datagrams,
	    (unsigned long long)R->st.frag_overlaps, (unsigned long long)R->st.frag_timeouts);
	for (unsigned k = 0; k < DEC_RES_MAX; k++)
		if (R->st.decode_err[k])
			fprintf(f, "reasmd: decode_error.%s=%llu\n", decode_res_name(k),
			    (unsigned long long)R->st.decode_err[k]);
}
