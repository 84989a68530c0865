/*
 * rtp.c — RTP and RTCP headers (RFC 3550 sections 5 and 6) and a stream's
 * statistics: the extended highest sequence number with its wraps and
 * restarts (appendix A.1), loss (A.3: expected - received, duplicates
 * counted as received, so it may go negative), duplicates and reordering
 * counted apart, and the interarrival jitter (A.8) in milliseconds.
 */
#include <math.h>
#include <string.h>

#include <json-c/json.h>

#include "voip.h"

#define MAX_DROPOUT 3000
#define MAX_MISORDER 100
#define SEQ_MOD (1u << 16)

bool
rtp_parse(const uint8_t *p, size_t n, struct rtp_hdr *h)
{
	size_t need;

	if (n < 12 || (p[0] >> 6) != 2)
		return false;
	/* payload types 72-76 are RTCP's packet types 200-204 (RFC 5761) */
	if ((p[1] & 0x7f) >= 72 && (p[1] & 0x7f) <= 76)
		return false;
	need = 12 + 4u * (p[0] & 0x0f);
	if (n < need)
		return false;
	if (p[0] & 0x10) {
		if (n < need + 4)
			return false;
		need += 4 + 4u * ((size_t)p[need + 2] << 8 | p[need + 3]);
		if (n < need)
			return false;
	}
	if ((p[0] & 0x20) && (p[n - 1] == 0 || n < need + p[n - 1]))
		return false;		/* padding longer than the packet */
	h->marker = p[1] >> 7;
	h->pt = p[1] & 0x7f;
	h->seq = (uint16_t)(p[2] << 8 | p[3]);
	h->ts = (uint32_t)p[4] << 24 | (uint32_t)p[5] << 16 | (uint32_t)p[6] << 8 | p[7];
	h->ssrc = (uint32_t)p[8] << 24 | (uint32_t)p[9] << 16 | (uint32_t)p[10] << 8 | p[11];
	return true;
}

bool
rtcp_parse(const uint8_t *p, size_t n, uint32_t *ssrc)
{
	size_t len;

	if (n < 8 || (p[0] >> 6) != 2 || p[1] < 200 || p[1] > 207)
		return false;
	len = 4 * ((size_t)(p[2] << 8 | p[3]) + 1);
	if (len > n)
		return false;
	*ssrc = (uint32_t)p[4] << 24 | (uint32_t)p[5] << 16 | (uint32_t)p[6] << 8 | p[7];
	return true;
}

unsigned
rtcp_blocks(const uint8_t *p, size_t n, struct rtcp_block *b, unsigned max)
{
	unsigned nb = 0;

	/* a compound packet: one RTCP packet after the other */
	for (size_t o = 0; o + 8 <= n && nb < max;) {
		const uint8_t *q = p + o;
		size_t len = 4 * ((size_t)(q[2] << 8 | q[3]) + 1), first;
		unsigned rc = q[0] & 0x1f;
		if ((q[0] >> 6) != 2 || len > n - o)
			break;
		first = q[1] == 200 ? 28 : q[1] == 201 ? 8 : len;	/* SR, RR */
		for (unsigned k = 0; k < rc && nb < max && first + 24 * (k + 1) <= len; k++) {
			const uint8_t *r = q + first + 24 * k;
			uint32_t cum = (uint32_t)r[5] << 16 | (uint32_t)r[6] << 8 | r[7];
			b[nb].ssrc = (uint32_t)r[0] << 24 | (uint32_t)r[1] << 16 | (uint32_t)r[2] << 8 | r[3];
			/* 24-bit signed: may go negative with duplicates */
			b[nb].lost = (int32_t)(cum & 0x800000 ? cum | 0xFF000000u : cum);
			b[nb].jitter = (uint32_t)r[12] << 24 | (uint32_t)r[13] << 16 | (uint32_t)r[14] << 8 | r[15];
			nb++;
		}
		o += len;
	}
	return nb;
}

uint32_t
rtp_static_rate(uint8_t pt)
{
	switch (pt) {
	case 0: case 3: case 4: case 5: case 7: case 8: case 9: case 12: case 13: case 15: case 18:
		return 8000;
	case 6:
		return 16000;
	case 10: case 11:
		return 44100;
	case 16:
		return 11025;
	case 17:
		return 22050;
	case 14: case 25: case 26: case 28: case 31: case 32: case 33: case 34:
		return 90000;
	default:
		return 0;
	}
}

const char *
rtp_static_codec(uint8_t pt)
{
	static const char *const names[35] = {
		[0] = "PCMU", [3] = "GSM", [4] = "G723", [5] = "DVI4", [6] = "DVI4", [7] = "LPC",
		[8] = "PCMA", [9] = "G722", [10] = "L16", [11] = "L16", [12] = "QCELP", [13] = "CN",
		[14] = "MPA", [15] = "G728", [16] = "DVI4", [17] = "DVI4", [18] = "G729",
		[25] = "CelB", [26] = "JPEG", [28] = "nv", [31] = "H261", [32] = "MPV", [33] = "MP2T",
		[34] = "H263",
	};
	return pt < 35 ? names[pt] : NULL;
}

static void
hist_clear(struct rtp_stats *s)
{
	memset(s->seen, 0, sizeof(s->seen));
}

/* Remembers extended sequence number x; true when it was seen already
 * (within the last RTP_HIST numbers). */
static bool
hist_mark(struct rtp_stats *s, uint32_t x)
{
	uint32_t b = x % RTP_HIST;
	uint64_t bit = 1ull << (b % 64);
	bool was = (s->seen[b / 64] & bit) != 0;

	s->seen[b / 64] |= bit;
	return was;
}

static void
hist_forget(struct rtp_stats *s, uint32_t x)
{
	uint32_t b = x % RTP_HIST;

	s->seen[b / 64] &= ~(1ull << (b % 64));
}

static void
init_seq(struct rtp_stats *s, uint16_t seq)
{
	s->base_seq = seq;
	s->max_seq = seq;
	s->bad_seq = SEQ_MOD + 1;	/* so seq == bad_seq is false */
	s->cycles = 0;
	s->received = 0;
	hist_clear(s);
}

void
rtp_update(struct rtp_stats *s, const struct rtp_hdr *h, uint64_t arrival_ns, uint32_t rate)
{
	uint16_t seq = h->seq;
	uint16_t udelta = (uint16_t)(seq - s->max_seq);
	bool count_jitter = true;

	if (!s->started) {
		s->started = true;
		init_seq(s, seq);
		hist_mark(s, seq);
		s->received = 1;
	} else if (udelta == 0 || (udelta >= SEQ_MOD - MAX_MISORDER)) {
		/* the same number again, or an earlier one: a duplicate when it
		 * was seen, else a late packet (reordered) */
		uint32_t ext = s->cycles + seq;
		if (udelta != 0 && seq > s->max_seq)
			ext -= SEQ_MOD;	/* from before the last wrap */
		if (hist_mark(s, ext))
			s->duplicates++;
		else
			s->out_of_order++;
		s->received++;
		count_jitter = false;
	} else if (udelta < MAX_DROPOUT) {
		/* in order, with a permissible gap */
		uint32_t ext;
		if (udelta == 1)
			s->in_sequence++;
		if (seq < s->max_seq)
			s->cycles += SEQ_MOD;
		s->max_seq = seq;
		ext = s->cycles + seq;
		/* numbers skipped now may still come: forget old marks */
		for (uint32_t k = 1; k < udelta && k < RTP_HIST; k++)
			hist_forget(s, ext - k);
		hist_mark(s, ext);
		s->received++;
	} else {
		/* a very large jump: a restart when the next packet follows it
		 * (A.1), else a stray packet, counted as received */
		if (seq == s->bad_seq) {
			/* the stream starts over at seq: the run before stays
			 * counted, and so does the packet that announced the
			 * restart (one expected, one received) */
			uint64_t keep = s->received;
			s->restarts++;
			s->restart_expected += s->prev_expected + 1;
			init_seq(s, seq);
			s->received = keep;
			hist_mark(s, seq);
		} else
			s->bad_seq = (uint32_t)((seq + 1) & (SEQ_MOD - 1));
		s->received++;
		count_jitter = false;
	}
	s->prev_expected = s->cycles + s->max_seq - s->base_seq + 1;
	/* A.8: D(i,j) = (Rj - Ri) - (Sj - Si), J += (|D| - J) / 16 */
	if (rate == 0 || !count_jitter)
		return;
	{
		int64_t arrival = (int64_t)((double)arrival_ns * rate / 1e9);
		int64_t transit = arrival - (int64_t)h->ts;
		if (s->have_transit) {
			int64_t d = transit - s->transit;
			double ms;
			/* the RTP timestamp wraps at 2^32 */
			d = (int64_t)(int32_t)(uint32_t)d;
			if (d < 0)
				d = -d;
			s->jitter += ((double)d - s->jitter) / 16.0;
			ms = s->jitter * 1000.0 / rate;
			if (ms > s->max_jitter_ms)
				s->max_jitter_ms = ms;
			s->sum_jitter_ms += ms;
			s->njitter++;
		}
		s->transit = transit;
		s->have_transit = true;
	}
}

int64_t
rtp_lost(const struct rtp_stats *s)
{
	int64_t expected;

	if (!s->started)
		return 0;
	expected = (int64_t)s->restart_expected + (int64_t)s->cycles + s->max_seq - s->base_seq + 1;
	return expected - (int64_t)s->received;
}

static uint64_t
rd(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int k = 0; k < n; k++)
		v = v << 8 | p[k];
	return v;
}

/* An RTCP compound packet as Homer's JSON for it (HEP type 5: what
 * heplify sends): the first SR's or RR's type and SSRC, the sender
 * information of an SR, every report block, the SDES's SSRC. */
struct json_object *
rtcp_homer_json(const uint8_t *p, size_t n)
{
	struct json_object *o = json_object_new_object(), *blocks = json_object_new_array();
	bool first = true;
	size_t off = 0;
	unsigned count = 0;

	while (off + 8 <= n) {
		const uint8_t *h = p + off;
		unsigned rc = h[0] & 0x1f, pt = h[1];
		size_t plen = ((size_t)rd(h + 2, 2) + 1) * 4, boff = 8;
		if ((h[0] >> 6) != 2 || off + plen > n)
			break;
		if ((pt == 200 || pt == 201) && first) {
			first = false;
			json_object_object_add(o, "type", json_object_new_int((int)pt));
			json_object_object_add(o, "ssrc", json_object_new_int64((int64_t)rd(h + 4, 4)));
			if (pt == 200 && plen >= 28) {
				struct json_object *si = json_object_new_object();
				uint64_t frac = rd(h + 12, 4);
				json_object_object_add(si, "ntp_timestamp_sec", json_object_new_int64((int64_t)rd(h + 8, 4)));
				json_object_object_add(si, "ntp_timestamp_usec",
				    json_object_new_int64((int64_t)(frac * 1000000u >> 32)));
				json_object_object_add(si, "rtp_timestamp", json_object_new_int64((int64_t)rd(h + 16, 4)));
				json_object_object_add(si, "packets", json_object_new_int64((int64_t)rd(h + 20, 4)));
				json_object_object_add(si, "octets", json_object_new_int64((int64_t)rd(h + 24, 4)));
				json_object_object_add(o, "sender_information", si);
			}
		}
		if (pt == 200 || pt == 201) {
			boff = pt == 200 ? 28 : 8;
			for (unsigned k = 0; k < rc && boff + 24 <= plen; k++, boff += 24) {
				const uint8_t *b = h + boff;
				struct json_object *r = json_object_new_object();
				int32_t lost = (int32_t)((uint32_t)rd(b + 5, 3) << 8) >> 8;
				json_object_object_add(r, "source_ssrc", json_object_new_int64((int64_t)rd(b, 4)));
				json_object_object_add(r, "fraction_lost", json_object_new_int((int)b[4]));
				json_object_object_add(r, "packets_lost", json_object_new_int(lost));
				json_object_object_add(r, "highest_seq_no", json_object_new_int64((int64_t)rd(b + 8, 4)));
				json_object_object_add(r, "ia_jitter", json_object_new_int64((int64_t)rd(b + 12, 4)));
				json_object_object_add(r, "lsr", json_object_new_int64((int64_t)rd(b + 16, 4)));
				json_object_object_add(r, "dlsr", json_object_new_int64((int64_t)rd(b + 20, 4)));
				json_object_array_add(blocks, r);
				count++;
			}
		} else if (pt == 202 && rc > 0 && plen >= 8)
			json_object_object_add(o, "sdes_ssrc", json_object_new_int64((int64_t)rd(h + 4, 4)));
		off += plen;
	}
	json_object_object_add(o, "report_count", json_object_new_int((int)count));
	json_object_object_add(o, "report_blocks", blocks);
	return o;
}
