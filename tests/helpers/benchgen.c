/*
 * benchgen.c — writes the benchmark captures and prints the bytes a
 * correct reassembler must deliver.
 *
 *   benchgen bulk FILE [MIB]   >= MIB (default 1024) MiB: 10,000 flows (or
 *                              $BENCHGEN_FLOWS), 64
 *                              active at a time, MSS-sized bulk responses
 *                              after a small request, ~1% of segments out of
 *                              order and ~1% retransmitted
 *   benchgen small FILE [N]    N (default 20,000,000) 64-byte frames: 100,000
 *                              flows, 256 active, 10-byte segments
 *   benchgen idle FILE N       N sessions opened (handshake and one byte each
 *                              way) and left open: for the per-session memory
 *   benchgen lookup FILE N M   as idle, then M one-byte segments, each on
 *                              one of the N open sessions picked at random:
 *                              the session lookup's cost at N sessions (the
 *                              idle capture's time taken off)
 *   benchgen collide FILE N BITS  as idle, N flows chosen so that the unkeyed
 *                              flow hash (decode_flow_hash) agrees on its low
 *                              BITS bits: a hash-flooding attack on a table
 *                              hashed without a key; prints the longest chain
 *                              such a table of 2^18 buckets would have
 *
 * BENCHGEN_LATE_SERVER_US=N: every frame the servers send is stamped N
 * microseconds later and the capture re-sorted by timestamp (each side
 * keeps its own order), so the clients' ACKs reach the capture before the
 * data they acknowledge: the "capture order" of two taps or a SPAN port.
 *
 * Prints "flows=F frames=N payload_bytes=B" (B: stream bytes, both
 * directions, every byte once).  Checksums are left zero (nothing here
 * verifies them).
 */
#include <stdint.h>
#include <stdio.h>

#include "decode.h"
#include <stdlib.h>
#include <string.h>

#define MSS 1460

static FILE *out;
static uint64_t frames, ts_us = 1700000000ULL * 1000000ULL;
static uint64_t rng = 88172645463325252ULL;

static uint64_t
xr(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void
put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void
put32(uint8_t *p, uint32_t v) { p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v; }

struct flow {
	uint32_t cip, sip;
	uint16_t cport, sport;
	uint32_t cseq, sseq;
	uint64_t req_left, resp_left;
	int stage;		/* 0 syn, 1 synack, 2 ack, 3 data, 4 fin, 5 done */
	uint32_t held_seq, held_len;	/* a segment held back (out of order) */
	int held;
	unsigned since_ack;
};

static uint8_t payload[65536];

/* Servers' frames held back (BENCHGEN_LATE_SERVER_US), oldest first. */
struct late {
	struct late *next;
	uint64_t ts_us;
	uint32_t len;
	uint8_t b[];
};
static struct late *late_head, *late_tail;
static uint64_t late_us;

static void
put_frame(uint64_t us, uint8_t *h, const uint8_t *data, uint32_t len)
{
	uint32_t sec = (uint32_t)(us / 1000000), usec = (uint32_t)(us % 1000000);

	memcpy(h, &sec, 4);
	memcpy(h + 4, &usec, 4);
	fwrite(h, 1, 70, out);
	if (len)
		fwrite(data, 1, len, out);
}

/* Writes the held frames stamped at or before us. */
static void
late_flush(uint64_t us)
{
	while (late_head && late_head->ts_us <= us) {
		struct late *l = late_head;
		late_head = l->next;
		if (late_head == NULL)
			late_tail = NULL;
		put_frame(l->ts_us, l->b, l->b + 70, l->len);
		free(l);
	}
}

static void
frame(const struct flow *f, int from_client, uint32_t seq, uint32_t ack, uint8_t flags,
    uint32_t len)
{
	uint8_t h[16 + 14 + 20 + 20];
	uint8_t *e = h + 16, *ip = e + 14, *t = ip + 20;
	uint32_t caplen = 54 + len;

	memset(h, 0, sizeof(h));
	ts_us += 1;
	memcpy(h + 8, &caplen, 4);
	memcpy(h + 12, &caplen, 4);
	e[0] = 2; e[5] = 2; e[6] = 2; e[11] = 1;
	e[12] = 0x08;
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)(40 + len));
	ip[8] = 64;
	ip[9] = 6;
	put32(ip + 12, from_client ? f->cip : f->sip);
	put32(ip + 16, from_client ? f->sip : f->cip);
	put16(t, from_client ? f->cport : f->sport);
	put16(t + 2, from_client ? f->sport : f->cport);
	put32(t + 4, seq);
	put32(t + 8, ack);
	t[12] = 0x50;
	t[13] = flags;
	put16(t + 14, 65535);
	frames++;
	if (late_us && !from_client) {
		struct late *l = malloc(sizeof(*l) + sizeof(h) + len);
		if (l == NULL)
			abort();
		l->next = NULL;
		l->ts_us = ts_us + late_us;
		l->len = len;
		memcpy(l->b, h, sizeof(h));
		memcpy(l->b + sizeof(h), payload + (seq & 1023), len);
		if (late_tail)
			late_tail->next = l;
		else
			late_head = l;
		late_tail = l;
		return;
	}
	late_flush(ts_us);
	put_frame(ts_us, h, payload + (seq & 1023), len);
}

/* Emits the flow's next packet; returns 0 when the flow is done. */
static int
step(struct flow *f, uint32_t seglen)
{
	switch (f->stage) {
	case 0: frame(f, 1, f->cseq++, 0, 0x02, 0); f->stage = 1; return 1;
	case 1: frame(f, 0, f->sseq++, f->cseq, 0x12, 0); f->stage = 2; return 1;
	case 2: frame(f, 1, f->cseq, f->sseq, 0x10, 0); f->stage = 3; return 1;
	case 3:
		if (f->req_left > 0) {
			uint32_t n = (uint32_t)(f->req_left < seglen ? f->req_left : seglen);
			frame(f, 1, f->cseq, f->sseq, 0x18, n);
			f->cseq += n;
			f->req_left -= n;
			return 1;
		}
		if (f->resp_left > 0 || f->held) {
			uint32_t n = (uint32_t)(f->resp_left < seglen ? f->resp_left : seglen);
			uint64_t r = xr() % 100;
			if (f->held && (n == 0 || r < 50)) {
				/* the held-back segment, now after its successor */
				frame(f, 0, f->held_seq, f->cseq, 0x18, f->held_len);
				f->held = 0;
				return 1;
			}
			if (n == 0)
				return 1;
			if (r == 0 && !f->held && f->resp_left > n) {
				f->held = 1;	/* ~1%: sent later, out of order */
				f->held_seq = f->sseq;
				f->held_len = n;
			} else {
				frame(f, 0, f->sseq, f->cseq, 0x18, n);
				if (r == 1)	/* ~1%: retransmitted */
					frame(f, 0, f->sseq, f->cseq, 0x18, n);
			}
			f->sseq += n;
			f->resp_left -= n;
			if (++f->since_ack >= 4) {
				f->since_ack = 0;
				frame(f, 1, f->cseq, f->held ? f->held_seq : f->sseq, 0x10, 0);
			}
			return 1;
		}
		f->stage = 4;
		/* FALLTHROUGH */
	case 4:
		frame(f, 1, f->cseq++, f->sseq, 0x11, 0);
		frame(f, 0, f->sseq++, f->cseq, 0x11, 0);
		frame(f, 1, f->cseq, f->sseq, 0x10, 0);
		f->stage = 5;
		return 0;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	uint32_t hdr[6] = { 0xa1b2c3d4, 0x00040002, 0, 0, 262144, 1 };
	int bulk;
	unsigned nflows, active;
	uint64_t target, total_payload = 0;
	uint32_t seglen;
	struct flow *fl;
	unsigned started = 0, done = 0;

	if (argc < 3 || (strcmp(argv[1], "bulk") && strcmp(argv[1], "small") && strcmp(argv[1], "idle") &&
	    strcmp(argv[1], "collide") && strcmp(argv[1], "lookup"))) {
		fprintf(stderr, "usage: benchgen bulk FILE [MIB] | small FILE [FRAMES] | idle FILE N | "
		    "lookup FILE N M | collide FILE N BITS\n");
		return 2;
	}
	if (strcmp(argv[1], "collide") == 0) {
		unsigned n = argc > 3 ? (unsigned)strtoul(argv[3], NULL, 10) : 100000;
		unsigned bits = argc > 4 ? (unsigned)strtoul(argv[4], NULL, 10) : 10;
		uint32_t mask = (1u << bits) - 1, *load = calloc(1u << 18, sizeof(uint32_t)), worst = 0;
		uint64_t tries = 0;
		struct flow f;
		out = fopen(argv[2], "wb");
		if (out == NULL || load == NULL) {
			perror(argv[2]);
			return 1;
		}
		setvbuf(out, NULL, _IOFBF, 1 << 20);
		fwrite(hdr, 1, 24, out);
		for (unsigned k = 0; k < n; tries++) {
			uint32_t cip = 0x0A000000u | (uint32_t)(tries >> 16 & 0xFFFFFF), sip = 0x0A640001u;
			uint16_t cport = (uint16_t)(1024 + (tries & 0xFFFF) % 60000);
			uint8_t a[4], b[4];
			put32(a, cip);
			put32(b, sip);
			uint32_t h = decode_flow_hash(4, a, cport, b, 80);
			if ((h & mask) != 0 || (tries & 0xFFFF) >= 60000)
				continue;
			if (++load[h & ((1u << 18) - 1)] > worst)
				worst = load[h & ((1u << 18) - 1)];
			memset(&f, 0, sizeof(f));
			f.cip = cip;
			f.sip = sip;
			f.cport = cport;
			f.sport = 80;
			f.cseq = (uint32_t)xr();
			f.sseq = (uint32_t)xr();
			f.req_left = 1;
			f.resp_left = 1;
			for (int st = 0; st < 5; st++)
				step(&f, 1);
			k++;
		}
		fclose(out);
		free(load);
		/* (a byte each way a flow) */
		printf("flows=%u frames=%llu payload_bytes=%llu tries=%llu unkeyed_chain_max_2^18=%u\n", n,
		    (unsigned long long)frames, 2ULL * n, (unsigned long long)tries, worst);
		return 0;
	}
	if (strcmp(argv[1], "idle") == 0 || strcmp(argv[1], "lookup") == 0) {
		unsigned n = argc > 3 ? (unsigned)strtoul(argv[3], NULL, 10) : 1000000;
		unsigned long long m = strcmp(argv[1], "lookup") == 0 && argc > 4 ? strtoull(argv[4], NULL, 10) : 0;
		struct flow f, *all = m ? calloc(n ? n : 1, sizeof(*all)) : NULL;
		if (m && all == NULL) {
			perror("benchgen");
			return 1;
		}
		out = fopen(argv[2], "wb");
		if (out == NULL) {
			perror(argv[2]);
			return 1;
		}
		setvbuf(out, NULL, _IOFBF, 1 << 20);
		fwrite(hdr, 1, 24, out);
		for (unsigned k = 0; k < n; k++) {
			memset(&f, 0, sizeof(f));
			f.cip = 0x0A000000u | (k & 0xFFFFFF);
			f.sip = 0x0A640001u;
			f.cport = (uint16_t)(1024 + k % 60000);
			/* lookup: a port no analyser takes, so that what is timed is
			 * the engine's own work on each segment */
			f.sport = m ? 5001 : 80;
			f.cseq = (uint32_t)xr();
			f.sseq = (uint32_t)xr();
			f.req_left = 1;
			f.resp_left = 1;
			for (int st = 0; st < 5; st++)	/* SYN, SYN-ACK, ACK, 1 byte, 1 byte */
				step(&f, 1);
			if (all)
				all[k] = f;
		}
		for (unsigned long long j = 0; j < m && n > 0; j++) {
			struct flow *g = &all[xr() % n];
			frame(g, 1, g->cseq, g->sseq, 0x18, 1);	/* PSH|ACK, one byte */
			g->cseq++;
		}
		fclose(out);
		free(all);
		printf("flows=%u frames=%llu payload_bytes=%llu\n", n, (unsigned long long)frames,
		    (unsigned long long)n * 2 + m);
		return 0;
	}
	bulk = strcmp(argv[1], "bulk") == 0;
	if (getenv("BENCHGEN_LATE_SERVER_US") != NULL)
		late_us = strtoull(getenv("BENCHGEN_LATE_SERVER_US"), NULL, 10);
	out = fopen(argv[2], "wb");
	if (out == NULL) {
		perror(argv[2]);
		return 1;
	}
	setvbuf(out, NULL, _IOFBF, 1 << 20);
	for (size_t k = 0; k < sizeof(payload); k++)
		payload[k] = (uint8_t)(xr() >> 32);
	fwrite(hdr, 1, 24, out);
	nflows = bulk ? 10000 : 100000;
	active = bulk ? 64 : 256;
	if (bulk && getenv("BENCHGEN_FLOWS") != NULL) {
		/* BENCHGEN_FLOWS=N: N flows, all active (N=1: one long session) */
		nflows = (unsigned)strtoul(getenv("BENCHGEN_FLOWS"), NULL, 10);
		if (nflows < 1 || nflows > 10000)
			nflows = 10000;
		active = nflows < 64 ? nflows : 64;
	}
	if (!bulk && argc > 3 && strtoull(argv[3], NULL, 10) < 20000000) {
		/* Fewer frames: fewer flows, about 200 frames each. */
		uint64_t f = strtoull(argv[3], NULL, 10) / 200;
		nflows = (unsigned)(f < 256 ? 256 : f);
	}
	seglen = bulk ? MSS : 10;
	target = bulk ? (argc > 3 ? strtoull(argv[3], NULL, 10) : 1024) << 20
	    : (argc > 3 ? strtoull(argv[3], NULL, 10) : 20000000);
	fl = calloc(active, sizeof(*fl));
	/* Bulk: each flow carries an equal share of the bytes.  Small: of the
	 * frames; a flow of X segments each way takes 7 control frames, 2X
	 * data frames and X/4 ACKs. */
	double segs = ((double)target / nflows - 7.0) / 2.25;
	if (!bulk && segs < 1.0)
		segs = 1.0;	/* at least one segment each way (no unsigned wrap) */
	uint64_t per_flow = bulk ? target / nflows + 1 : 2 * 10 * (uint64_t)segs;
	for (unsigned k = 0; k < active; k++)
		fl[k].stage = 5;
	while (done < nflows) {
		for (unsigned k = 0; k < active; k++) {
			struct flow *f = &fl[k];
			if (f->stage == 5) {
				if (started >= nflows)
					continue;
				memset(f, 0, sizeof(*f));
				f->cip = 0x0A000000u | (started & 0xFFFF);
				f->sip = 0x0A640000u | ((started >> 16) & 0xFF);
				f->cport = (uint16_t)(10000 + started % 50000);
				f->sport = bulk ? 80 : 5060;
				f->cseq = (uint32_t)xr();
				f->sseq = (uint32_t)xr();
				f->req_left = bulk ? 200 : per_flow / 2;
				f->resp_left = bulk ? per_flow : per_flow / 2;
				total_payload += f->req_left + f->resp_left;
				started++;
			}
			if (!step(f, seglen))
				done++;
		}
	}
	late_flush(UINT64_MAX);
	fclose(out);
	free(fl);
	printf("flows=%u frames=%llu payload_bytes=%llu\n", nflows,
	    (unsigned long long)frames, (unsigned long long)total_payload);
	return 0;
}
