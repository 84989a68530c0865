/*
 * frag.c — IP fragment reassembly: IPv4 (RFC 791) and IPv6 (RFC 8200
 * section 4.5), bounded by reasm.frag_memcap and frag_timeout_sec on
 * capture time.
 *
 * A datagram is keyed by (family, source, destination, protocol, id).  Each
 * fragment's frame is kept whole (the pcap sink wants the original frames
 * of a session); its payload is located inside the copy.  Overlapping
 * fragments are counted and the later copy is dropped (the first copy of a
 * byte wins, as in the TCP streams).  When the pieces cover the datagram
 * from 0 to the end given by the last fragment, a plain IP header is built
 * in front of the payload and the result is decoded like a captured packet.
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "siphash.h"
#include "reasmd.h"
#include "util.h"

#define FRAG_BUCKETS 1024
#define FRAG_MAX_DGRAM 65535u

struct fpiece {
	struct fpiece *next;
	uint32_t off, len;		/* in the datagram's payload */
	uint32_t poff;			/* payload offset inside data */
	struct frame f;			/* f.data points at data */
	uint8_t data[];
};

struct fragent {
	struct fragent *hnext;		/* hash chain */
	TAILQ_ENTRY(fragent) age;	/* the age list, oldest first */
	uint8_t family, proto;
	uint8_t src[16], dst[16];
	uint32_t id;
	uint64_t first_ns;
	uint32_t total;			/* payload length once the last fragment came */
	uint32_t have;			/* payload bytes held */
	struct fpiece *pieces;		/* sorted by offset, non-overlapping */
	size_t npieces;
	bool dead;
};

struct fragtab {
	struct fragent *b[FRAG_BUCKETS];
	TAILQ_HEAD(, fragent) ages;	/* oldest first */
	uint64_t mem, memcap, timeout_ns;
	uint8_t dgram[40 + FRAG_MAX_DGRAM];
	struct frame *frames;
	size_t frames_cap;
	struct fragent *done;		/* freed on the next call */
	struct sipkey key;		/* the buckets' hash key, random */
};

struct fragtab *
frag_new(const struct conf *c)
{
	struct fragtab *t = xcalloc(1, sizeof(*t));

	t->memcap = (uint64_t)c->frag_memcap;
	t->timeout_ns = (uint64_t)(c->frag_timeout_sec * 1e9);
	sipkey_random(&t->key);
	TAILQ_INIT(&t->ages);
	return t;
}

/* Keyed, as the session table: fragments are what an attacker sends most
 * cheaply. */
static unsigned
frag_hash(const struct fragtab *t, const struct decoded *d)
{
	size_t n = d->family == 6 ? 16 : 4;
	uint8_t b[1 + 32 + 4];

	b[0] = d->family;
	memcpy(b + 1, d->src, n);
	memcpy(b + 1 + n, d->dst, n);
	memcpy(b + 1 + 2 * n, &d->frag_id, 4);
	return (unsigned)siphash13(&t->key, b, 5 + 2 * n) & (FRAG_BUCKETS - 1);
}

static void
ent_free(struct fragtab *t, struct fragent *e)
{
	struct fpiece *p = e->pieces;

	while (p) {
		struct fpiece *n = p->next;
		t->mem -= sizeof(*p) + p->f.caplen;
		free(p);
		p = n;
	}
	free(e);
}

/* Unlinks e from its bucket and the age list. */
static void
ent_unlink(struct fragtab *t, struct fragent *e, unsigned h)
{
	for (struct fragent **pp = &t->b[h]; *pp; pp = &(*pp)->hnext)
		if (*pp == e) {
			*pp = e->hnext;
			break;
		}
	TAILQ_REMOVE(&t->ages, e, age);
}

void
frag_expire(struct reasm *R, uint64_t now_ns)
{
	struct fragtab *t = R->frags;

	struct fragent *e;

	while ((e = TAILQ_FIRST(&t->ages)) != NULL && now_ns - e->first_ns >= t->timeout_ns) {
		struct decoded k;
		memset(&k, 0, sizeof(k));
		k.family = e->family;
		memcpy(k.src, e->src, 16);
		memcpy(k.dst, e->dst, 16);
		k.frag_id = e->id;
		R->st.frag_timeouts++;
		ent_unlink(t, e, frag_hash(t, &k));
		ent_free(t, e);
	}
}

uint64_t
frag_oldest_ns(const struct fragtab *t)
{
	return TAILQ_EMPTY(&t->ages) ? UINT64_MAX : TAILQ_FIRST(&t->ages)->first_ns;
}

int
frag_add(struct reasm *R, const struct decoded *d, const struct frame *f,
    struct decoded *out, const struct frame **frames, size_t *nframes)
{
	struct fragtab *t = R->frags;
	unsigned h = frag_hash(t, d);
	size_t n = d->family == 6 ? 16 : 4;
	struct fragent *e;
	struct fpiece *p, **pp;
	uint32_t off = d->frag_off, len = (uint32_t)d->payload_len, end = off + len;

	if (t->done) {
		ent_free(t, t->done);
		t->done = NULL;
	}
	if (d->missing > 0 || end > FRAG_MAX_DGRAM || (d->more_frags && (len & 7) != 0)) {
		R->st.decode_err[DEC_BAD_FRAGMENT]++;
		return 0;
	}
	for (e = t->b[h]; e; e = e->hnext)
		if (e->family == d->family && e->proto == d->frag_proto && e->id == d->frag_id &&
		    memcmp(e->src, d->src, n) == 0 && memcmp(e->dst, d->dst, n) == 0)
			break;
	if (t->mem + sizeof(*p) + f->caplen > t->memcap) {
		R->st.frag_limit_packets++;
		return 0;
	}
	if (e == NULL) {
		e = xcalloc(1, sizeof(*e));
		e->family = d->family;
		e->proto = d->frag_proto;
		memcpy(e->src, d->src, n);
		memcpy(e->dst, d->dst, n);
		e->id = d->frag_id;
		e->first_ns = f->ts_ns;
		e->hnext = t->b[h];
		t->b[h] = e;
		TAILQ_INSERT_TAIL(&t->ages, e, age);
	}
	if (!d->more_frags) {
		if ((e->total && e->total != end) || end < e->have) {
			R->st.frag_overlaps++;
			return 0;
		}
		e->total = end;
	} else if (e->total && end > e->total) {
		R->st.decode_err[DEC_BAD_FRAGMENT]++;
		return 0;
	}
	/* Where it goes; an overlap with a held piece drops this copy. */
	for (pp = &e->pieces; *pp && (*pp)->off + (*pp)->len <= off; pp = &(*pp)->next)
		;
	if (*pp && (*pp)->off < end) {
		R->st.frag_overlaps++;
		return 0;
	}
	p = xmalloc(sizeof(*p) + f->caplen);
	memcpy(p->data, f->data, f->caplen);
	p->f = *f;
	p->f.data = p->data;
	p->off = off;
	p->len = len;
	p->poff = (uint32_t)(d->payload - f->data);
	p->next = *pp;
	*pp = p;
	e->npieces++;
	e->have += len;
	t->mem += sizeof(*p) + f->caplen;
	if (e->total == 0 || e->have != e->total)
		return 0;

	/* Complete: a plain IP header, then the payload in order. */
	{
		size_t hl = e->family == 6 ? 40 : 20, k = 0;
		uint8_t *g = t->dgram;
		memset(g, 0, hl);
		if (e->family == 4) {
			g[0] = 0x45;
			g[2] = (uint8_t)((hl + e->total) >> 8);
			g[3] = (uint8_t)(hl + e->total);
			g[8] = 64;
			g[9] = e->proto;
			memcpy(g + 12, e->src, 4);
			memcpy(g + 16, e->dst, 4);
		} else {
			g[0] = 0x60;
			g[4] = (uint8_t)(e->total >> 8);
			g[5] = (uint8_t)e->total;
			g[6] = e->proto;
			g[7] = 64;
			memcpy(g + 8, e->src, 16);
			memcpy(g + 24, e->dst, 16);
		}
		if (t->frames_cap < e->npieces) {
			t->frames_cap = e->npieces;
			t->frames = xrealloc(t->frames, t->frames_cap * sizeof(*t->frames));
		}
		for (p = e->pieces; p; p = p->next) {
			memcpy(g + hl + p->off, p->data + p->poff, p->len);
			t->frames[k++] = p->f;
		}
		ent_unlink(t, e, h);
		t->done = e;	/* its frames stay valid until the next call */
		R->st.frag_datagrams++;
		*frames = t->frames;
		*nframes = k;
		memset(out, 0, sizeof(*out));
		enum decode_res r = decode_ip(g, hl + e->total, out);
		if (r != DEC_OK) {
			R->st.decode_err[r]++;
			return 0;
		}
		return 1;
	}
}

void
frag_free(struct fragtab *t)
{
	if (t == NULL)
		return;
	if (t->done)
		ent_free(t, t->done);
	struct fragent *e;

	while ((e = TAILQ_FIRST(&t->ages)) != NULL) {
		TAILQ_REMOVE(&t->ages, e, age);
		ent_free(t, e);
	}
	free(t->frames);
	free(t);
}
