/* test_reasm.c — the reassembler fed packets built in C, one test per
 * behaviour; the record stream (-w) is read back and checked. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"
#include "reasmd.h"
#include "recio.h"
#include "t.h"
#include "util.h"
#include "wire.h"

#define MAXS 8
struct result {
	int nsess;
	uint64_t id[MAXS];
	uint8_t bytes[MAXS][2][70000];
	size_t len[MAXS][2];
	uint64_t gap[MAXS][2];
	unsigned reason[MAXS];
	uint8_t guessed[MAXS];
	uint16_t cport[MAXS];
	struct wire_dir_counters c[MAXS][2];
	int order_gap_before_chunk;	/* a gap record came before chunk N */
	int events_half_close;
	int notes_stall, notes_conflict;
};

static struct reasm R;
static struct conf C;
static FILE *tmp;
static uint64_t now = 1700000000ULL * NSEC_PER_SEC;

static void
start(const char *conftext)
{
	struct conf_diag d;

	conf_load_text(&C, "t", conftext, strlen(conftext), 0, &d);
	conf_diag_free(&d);
	T_CHECK(reasm_init(&R, &C, 0, 3, NULL, 0) == 0);
	tmp = tmpfile();
	R.out.linktype = STH_DLT_RAW;
	R.out.w = recw_open(fileno(tmp), 0);
}

/* The end of a run: every session closed, the record stream written. */
static void
engine_end(void)
{
	reasm_close_all(&R, CLOSE_EOF);
	recw_close(R.out.w);
	R.out.w = NULL;
	reasm_free(&R);
	conf_free(&C);
}

static int
sidx(struct result *r, uint64_t id)
{
	for (int k = 0; k < r->nsess; k++)
		if (r->id[k] == id)
			return k;
	return -1;
}

static void
finish(struct result *r)
{
	const struct wire_rec *rec;
	char err[256];
	struct recr *rr;
	int chunks = 0;

	engine_end();
	memset(r, 0, sizeof(*r));
	rewind(tmp);
	rr = recr_open(dup(fileno(tmp)), 1, err, sizeof(err));
	fclose(tmp);
	while (rr && recr_next(rr, &rec, err, sizeof(err)) == 1) {
		const void *b = rec + 1;
		int k;
		switch (rec->type) {
		case REC_SESSION_OPEN: {
			const struct rec_session_open *o = b;
			if (r->nsess < MAXS) {
				r->id[r->nsess] = o->session_id;
				r->guessed[r->nsess] = o->flow.role_guessed;
				r->cport[r->nsess] = o->flow.client_port;
				r->nsess++;
			}
			break;
		}
		case REC_CHUNK: {
			const struct rec_chunk *c = b;
			size_t n = rec->len - sizeof(*rec) - sizeof(*c);
			k = sidx(r, c->session_id);
			if (k >= 0 && r->len[k][c->dir] + n <= sizeof(r->bytes[k][0])) {
				memcpy(r->bytes[k][c->dir] + r->len[k][c->dir], c + 1, n);
				r->len[k][c->dir] += n;
			}
			chunks++;
			break;
		}
		case REC_GAP: {
			const struct rec_gap *g = b;
			k = sidx(r, g->session_id);
			if (k >= 0)
				r->gap[k][g->dir] += g->len;
			if (!r->order_gap_before_chunk)
				r->order_gap_before_chunk = chunks + 1;
			break;
		}
		case REC_SESSION_CLOSE: {
			const struct rec_session_close *c = b;
			k = sidx(r, c->session_id);
			if (k >= 0) {
				r->reason[k] = c->reason;
				r->c[k][0] = c->dir[0];
				r->c[k][1] = c->dir[1];
			}
			break;
		}
		case REC_EVENT:
			if (strstr((const char *)b + 8, "tcp_half_close"))
				r->events_half_close++;
			if (strstr((const char *)b + 8, "\"note\":\"ack_stall\""))
				r->notes_stall++;
			if (strstr((const char *)b + 8, "\"note\":\"overlap_conflict\""))
				r->notes_conflict++;
			break;
		}
	}
	recr_close(rr);
}

/* A raw IPv4 TCP packet. */
static void
pkt(int from_client, uint32_t seq, uint32_t ack, uint8_t flags, const void *data, size_t n)
{
	static uint8_t b[70000];
	uint16_t cp = 40000, sp = 80;
	size_t tot = 40 + n;

	memset(b, 0, 40);
	b[0] = 0x45;
	b[2] = (uint8_t)(tot >> 8);
	b[3] = (uint8_t)tot;
	b[8] = 64;
	b[9] = 6;
	uint32_t a = htonl(0x0A000001), z = htonl(0x0A000002);
	memcpy(b + 12, from_client ? &a : &z, 4);
	memcpy(b + 16, from_client ? &z : &a, 4);
	uint8_t *t = b + 20;
	t[0] = (uint8_t)((from_client ? cp : sp) >> 8); t[1] = (uint8_t)(from_client ? cp : sp);
	t[2] = (uint8_t)((from_client ? sp : cp) >> 8); t[3] = (uint8_t)(from_client ? sp : cp);
	t[4] = (uint8_t)(seq >> 24); t[5] = (uint8_t)(seq >> 16); t[6] = (uint8_t)(seq >> 8); t[7] = (uint8_t)seq;
	t[8] = (uint8_t)(ack >> 24); t[9] = (uint8_t)(ack >> 16); t[10] = (uint8_t)(ack >> 8); t[11] = (uint8_t)ack;
	t[12] = 0x50;
	t[13] = flags;
	if (n)
		memcpy(b + 40, data, n);
	now += 1000000;
	reasm_frame(&R, STH_DLT_RAW, now, b, (uint32_t)tot, (uint32_t)tot);
}

#define CISN 1000u
#define SISN 5000u
static void
handshake(uint32_t ci, uint32_t si)
{
	pkt(1, ci, 0, TH_SYN, NULL, 0);
	pkt(0, si, ci + 1, TH_SYN | TH_ACK, NULL, 0);
	pkt(1, ci + 1, si + 1, TH_ACK, NULL, 0);
}

static void
reasm_in_order_and_fin(void)
{
	struct result r;

	start("{}");
	handshake(CISN, SISN);
	pkt(1, CISN + 1, SISN + 1, TH_ACK | TH_PUSH, "hello ", 6);
	pkt(1, CISN + 7, SISN + 1, TH_ACK | TH_PUSH, "world", 5);
	pkt(0, SISN + 1, CISN + 12, TH_ACK | TH_PUSH, "ok", 2);
	pkt(1, CISN + 12, SISN + 3, TH_FIN | TH_ACK, NULL, 0);
	pkt(0, SISN + 3, CISN + 13, TH_FIN | TH_ACK, NULL, 0);
	finish(&r);
	T_EQ_U(r.nsess, 1);
	T_EQ_U(r.len[0][0], 11);
	T_CHECK(memcmp(r.bytes[0][0], "hello world", 11) == 0);
	T_EQ_U(r.len[0][1], 2);
	T_EQ_U(r.reason[0], CLOSE_FIN);
	T_EQ_U(r.events_half_close, 2);
	T_EQ_U(sid_shard(r.id[0]), 3);
	T_EQ_U(r.guessed[0], 0);
}

static void
reasm_out_of_order_and_retransmission(void)
{
	struct result r;

	start("{}");
	handshake(CISN, SISN);
	pkt(1, CISN + 6, SISN + 1, TH_ACK, "world", 5);	/* early */
	pkt(1, CISN + 1, SISN + 1, TH_ACK, "hello", 5);
	pkt(1, CISN + 1, SISN + 1, TH_ACK, "hello", 5);	/* retransmitted */
	pkt(1, CISN + 3, SISN + 1, TH_ACK, "llowo", 5);	/* overlapping, same bytes */
	finish(&r);
	T_EQ_U(r.len[0][0], 10);
	T_CHECK(memcmp(r.bytes[0][0], "helloworld", 10) == 0);
	T_EQ_U(r.c[0][0].retrans_bytes, 10);
	T_EQ_U(r.c[0][0].stream_bytes, 10);
	T_EQ_U(r.reason[0], CLOSE_EOF);
}

static void
reasm_conflicting_overlap_first_wins(void)
{
	struct result r;

	start("{}");
	handshake(CISN, SISN);
	pkt(1, CISN + 11, SISN + 1, TH_ACK, "AAAAA", 5);	/* held out of order */
	pkt(1, CISN + 11, SISN + 1, TH_ACK, "BBBBB", 5);	/* conflicts with the held copy */
	pkt(1, CISN + 1, SISN + 1, TH_ACK, "0123456789", 10);
	finish(&r);
	T_EQ_U(r.len[0][0], 15);
	T_CHECK(memcmp(r.bytes[0][0] + 10, "AAAAA", 5) == 0);
	T_EQ_U(r.c[0][0].overlap_conflicts, 1);
	T_EQ_U(r.c[0][0].overlap_bytes, 5);
	T_EQ_U(r.notes_conflict, 1);
}

static void
reasm_ack_stall_noted_once(void)
{
	struct result r;
	char d[100];

	memset(d, 'q', sizeof(d));
	start("{io:{output:{listner:{timeouts:{ack_stall_sec:2}}}}}");
	handshake(CISN, SISN);
	pkt(1, CISN + 1, SISN + 1, TH_ACK | TH_PUSH, d, 100);
	pkt(0, SISN + 1, CISN + 1, TH_ACK, NULL, 0);		/* acks nothing new */
	now += 3 * NSEC_PER_SEC;
	pkt(0, SISN + 1, CISN + 1, TH_ACK, NULL, 0);		/* still nothing: a stall */
	pkt(1, CISN + 1, SISN + 1, TH_ACK | TH_PUSH, d, 100);	/* retransmission */
	pkt(0, SISN + 1, CISN + 101, TH_ACK, NULL, 0);	/* finally acked */
	now += 3 * NSEC_PER_SEC;
	pkt(0, SISN + 1, CISN + 101, TH_ACK, NULL, 0);	/* all acked: no stall */
	finish(&r);
	T_EQ_U(r.notes_stall, 1);
	T_EQ_U(r.len[0][0], 100);
}

static void
reasm_sequence_wraparound(void)
{
	struct result r;
	uint32_t ci = 0xFFFFFFF8u;
	char d[40];

	memset(d, 'w', sizeof(d));
	start("{}");
	handshake(ci, SISN);
	pkt(1, ci + 1, SISN + 1, TH_ACK, d, 20);	/* crosses 2^32 */
	pkt(1, ci + 21, SISN + 1, TH_ACK, d, 20);
	finish(&r);
	T_EQ_U(r.len[0][0], 40);
	T_EQ_U(r.gap[0][0], 0);
}

/* A hole an ACK covers becomes a gap gap_grace_ms of capture time after
 * that ACK: with 0, at once (before the client's next chunk). */
static void
reasm_ack_gap_at_once_with_zero_grace(void)
{
	struct result r;

	start("{reasm:{gap_grace_ms:0}}");
	handshake(CISN, SISN);
	pkt(0, SISN + 1, CISN + 1, TH_ACK, "aaaaa", 5);
	pkt(0, SISN + 11, CISN + 1, TH_ACK, "ccccc", 5);	/* bbbbb never captured */
	pkt(1, CISN + 1, SISN + 16, TH_ACK, NULL, 0);	/* the client got it all */
	pkt(1, CISN + 1, SISN + 16, TH_ACK | TH_PUSH, "next", 4);
	finish(&r);
	T_EQ_U(r.gap[0][1], 5);
	T_EQ_U(r.len[0][1], 10);
	T_EQ_U(r.order_gap_before_chunk, 2);
	T_EQ_U(r.c[0][1].stream_bytes, 15);
}

/* The default grace: the same gap, same offset and length, once 1000 ms of
 * capture time have passed since the ACK (ticks move the clock). */
static void
reasm_ack_gap_after_grace(void)
{
	struct result r;

	start("{}");
	handshake(CISN, SISN);
	pkt(0, SISN + 1, CISN + 1, TH_ACK, "aaaaa", 5);
	pkt(0, SISN + 11, CISN + 1, TH_ACK, "ccccc", 5);
	pkt(1, CISN + 1, SISN + 16, TH_ACK, NULL, 0);
	reasm_tick(&R, now + 900 * 1000000ULL);
	T_EQ_U(R.st.gaps, 0);				/* still within the grace */
	now += 1100 * 1000000ULL;
	reasm_tick(&R, now);
	T_EQ_U(R.st.gaps, 1);
	pkt(0, SISN + 6, CISN + 1, TH_ACK, "bbbbb", 5);	/* too late: not delivered */
	pkt(1, CISN + 1, SISN + 16, TH_ACK | TH_PUSH, "next", 4);
	finish(&r);
	T_EQ_U(r.gap[0][1], 5);
	T_EQ_U(r.len[0][1], 10);
	T_EQ_U(r.order_gap_before_chunk, 2);
	T_EQ_U(r.c[0][1].late_after_gap, 5);
	T_EQ_U(r.c[0][1].retrans_bytes, 0);
	T_EQ_U(r.c[0][1].stream_bytes, 15);
}

/* The capture shows the ACK before the data it acknowledges: the data is
 * delivered, in order, once, and counted late (not retransmitted). */
static void
reasm_ack_before_data_delivered(void)
{
	struct result r;

	start("{}");
	handshake(CISN, SISN);
	pkt(1, CISN + 1, SISN + 1, TH_ACK | TH_PUSH, "GET", 3);
	pkt(1, CISN + 4, SISN + 16, TH_ACK, NULL, 0);	/* acks all 15 bytes */
	pkt(0, SISN + 1, CISN + 4, TH_ACK, "aaaaa", 5);
	pkt(0, SISN + 11, CISN + 4, TH_ACK, "ccccc", 5);
	pkt(0, SISN + 6, CISN + 4, TH_ACK, "bbbbb", 5);
	pkt(0, SISN + 6, CISN + 4, TH_ACK, "bbbbb", 5);	/* a real retransmission */
	T_EQ_U(R.st.gaps, 0);
	finish(&r);
	T_EQ_U(r.len[0][1], 15);
	T_CHECK(memcmp(r.bytes[0][1], "aaaaabbbbbccccc", 15) == 0);
	T_EQ_U(r.gap[0][1], 0);
	T_EQ_U(r.c[0][1].late_bytes, 15);
	T_EQ_U(r.c[0][1].retrans_bytes, 5);
	T_EQ_U(r.c[0][1].late_after_gap, 0);
}

/* No ACK covers a hole: it waits ooo_timeout_ms after the first segment
 * beyond it was buffered. */
static void
reasm_ooo_timeout(void)
{
	struct result r;

	start("{reasm:{ooo_timeout_ms:3000}}");
	handshake(CISN, SISN);
	pkt(1, CISN + 6, SISN + 1, TH_ACK, "world", 5);	/* "hello" missing, nobody acks */
	now += 2000 * 1000000ULL;
	reasm_tick(&R, now);
	T_EQ_U(R.st.gaps, 0);
	pkt(1, CISN + 1, SISN + 1, TH_ACK, "hello", 5);	/* a retransmission after a long RTO */
	pkt(1, CISN + 16, SISN + 1, TH_ACK, "again", 5);	/* a new hole */
	now += 3100 * 1000000ULL;
	reasm_tick(&R, now);
	T_EQ_U(R.st.gaps, 1);
	finish(&r);
	T_EQ_U(r.len[0][0], 15);
	T_CHECK(memcmp(r.bytes[0][0], "helloworldagain", 15) == 0);
	T_EQ_U(r.gap[0][0], 5);
}

/* A SYN-ACK before its SYN, a FIN before its side's last data, the other
 * side's data after an RST: roles from the flags, every byte delivered. */
static void
reasm_capture_orderings(void)
{
	struct result r;

	start("{}");
	pkt(0, SISN, CISN + 1, TH_SYN | TH_ACK, NULL, 0);	/* SYN-ACK first */
	pkt(1, CISN, 0, TH_SYN, NULL, 0);
	pkt(1, CISN + 1, SISN + 1, TH_ACK, NULL, 0);
	pkt(0, SISN + 1, CISN + 11, TH_ACK | TH_PUSH, "reply", 5);	/* acks 10 unseen bytes */
	pkt(0, SISN + 6, CISN + 11, TH_RST | TH_ACK, NULL, 0);
	pkt(1, CISN + 1, SISN + 1, TH_ACK | TH_PUSH, "0123456789", 10);	/* sent before the RST */
	pkt(1, CISN + 11, SISN + 1, TH_ACK | TH_PUSH, "inflight", 8);	/* in flight when it came */
	pkt(0, SISN + 6, CISN + 11, TH_ACK | TH_PUSH, "after", 5);	/* the resetter: nothing after */
	now += 1500 * 1000000ULL;					/* past gap_grace_ms */
	pkt(1, CISN + 19, SISN + 1, TH_ACK | TH_PUSH, "late", 4);		/* no longer this session's */
	finish(&r);
	T_EQ_U(r.nsess, 1);
	T_EQ_U(r.guessed[0], 0);
	T_EQ_U(r.cport[0], 40000);
	T_EQ_U(r.len[0][0], 18);
	T_CHECK(memcmp(r.bytes[0][0], "0123456789inflight", 18) == 0);
	T_EQ_U(r.len[0][1], 5);
	T_EQ_U(r.gap[0][0], 0);
	T_EQ_U(r.reason[0], CLOSE_RST);

	start("{}");
	handshake(CISN, SISN);
	pkt(1, CISN + 1, SISN + 1, TH_ACK | TH_PUSH, "abc", 3);
	pkt(1, CISN + 7, SISN + 1, TH_FIN | TH_ACK, NULL, 0);	/* FIN before "def" */
	pkt(0, SISN + 1, CISN + 8, TH_FIN | TH_ACK, NULL, 0);
	T_EQ_U(R.st.close_reason[CLOSE_FIN], 0);		/* closing: waits for "def" */
	pkt(1, CISN + 4, SISN + 2, TH_ACK | TH_PUSH, "def", 3);
	T_EQ_U(R.st.close_reason[CLOSE_FIN], 1);
	finish(&r);
	T_EQ_U(r.len[0][0], 6);
	T_EQ_U(r.gap[0][0], 0);
	T_EQ_U(r.reason[0], CLOSE_FIN);
}

/* A loss at the tail that only an ACK shows is a gap at eof, as at once. */
static void
reasm_acked_tail_is_a_gap_at_eof(void)
{
	struct result r;

	start("{}");
	handshake(CISN, SISN);
	pkt(0, SISN + 1, CISN + 1, TH_ACK | TH_PUSH, "abc", 3);
	pkt(1, CISN + 1, SISN + 11, TH_ACK, NULL, 0);	/* 7 more bytes, never captured */
	finish(&r);
	T_EQ_U(r.reason[0], CLOSE_EOF);
	T_EQ_U(r.gap[0][1], 7);
	T_EQ_U(r.c[0][1].stream_bytes, 10);
	T_EQ_U(r.len[0][1], 3);
}

/* A short capture that ends inside the closing grace still says fin. */
static void
reasm_closing_keeps_reason_at_eof(void)
{
	struct result r;

	start("{}");
	handshake(CISN, SISN);
	pkt(0, SISN + 1, CISN + 1, TH_ACK | TH_PUSH, "ab", 2);
	pkt(1, CISN + 1, SISN + 6, TH_FIN | TH_ACK, NULL, 0);	/* acks 3 unseen bytes */
	pkt(0, SISN + 6, CISN + 2, TH_FIN | TH_ACK, NULL, 0);
	finish(&r);
	T_EQ_U(r.reason[0], CLOSE_FIN);
	T_EQ_U(r.gap[0][1], 3);
	T_EQ_U(r.c[0][1].stream_bytes, 5);
}

static void
reasm_syn_data_rst_and_port_reuse(void)
{
	struct result r;

	start("{}");
	pkt(1, CISN, 0, TH_SYN, "early", 5);
	pkt(0, SISN, CISN + 6, TH_SYN | TH_ACK, NULL, 0);
	pkt(0, SISN + 1, CISN + 6, TH_RST | TH_ACK, NULL, 0);
	pkt(1, CISN + 6, SISN + 1, TH_ACK, "late", 4);		/* in flight after the RST: delivered */
	now += 1000000000ULL;					/* past close_grace_ms */
	handshake(90000, 7000);					/* same ports, new connection */
	pkt(1, 90001, 7001, TH_ACK, "again", 5);
	finish(&r);
	T_EQ_U(r.nsess, 2);
	T_CHECK(r.id[0] != r.id[1]);
	T_EQ_U(r.len[0][0], 9);
	T_CHECK(memcmp(r.bytes[0][0], "earlylate", 9) == 0);
	T_EQ_U(r.reason[0], CLOSE_RST);
	T_EQ_U(r.len[1][0], 5);
	T_CHECK(memcmp(r.bytes[1][0], "again", 5) == 0);
}

static void
reasm_midstream_guesses_client(void)
{
	struct result r;

	start("{}");
	pkt(0, 123456, 999, TH_ACK | TH_PUSH, "from server", 11);	/* port 80 side */
	pkt(1, 999, 123467, TH_ACK | TH_PUSH, "from client", 11);
	finish(&r);
	T_EQ_U(r.nsess, 1);
	T_EQ_U(r.guessed[0], 1);
	T_EQ_U(r.cport[0], 40000);
	T_EQ_U(r.len[0][1], 11);
	T_EQ_U(r.len[0][0], 11);
}

static void
reasm_idle_timeout_on_capture_time(void)
{
	struct result r;

	start("{io:{input:{capture:{session_idle_sec:10}}}}");
	handshake(CISN, SISN);
	pkt(1, CISN + 1, SISN + 1, TH_ACK, "x", 1);
	now += 11 * NSEC_PER_SEC;
	reasm_tick(&R, now);
	T_EQ_U(R.st.close_reason[CLOSE_IDLE], 1);
	finish(&r);
	T_EQ_U(r.reason[0], CLOSE_IDLE);
}

static void
reasm_ooo_limit_forces_gap(void)
{
	struct result r;
	char d[1000];

	memset(d, 'z', sizeof(d));
	start("{reasm:{ooo_bytes_per_dir:3000}}");
	handshake(CISN, SISN);
	for (int k = 1; k <= 5; k++)	/* the first 1000 bytes never come */
		pkt(1, CISN + 1 + 1000u * (unsigned)k, SISN + 1, TH_ACK, d, 1000);
	T_CHECK(tcp_mem_used(R.tcp) <= 3000);
	finish(&r);
	T_EQ_U(r.gap[0][0], 1000);
	T_EQ_U(r.len[0][0], 5000);
	T_EQ_U(r.c[0][0].dropped_ooo, 1000);
	T_EQ_U(r.c[0][0].stream_bytes, r.c[0][0].delivered + r.c[0][0].gap_bytes);
}

static void
reasm_table_full_counted(void)
{
	struct result r;

	start("{reasm:{max_sessions:1}}");
	handshake(CISN, SISN);
	/* another 4-tuple: the table is full */
	{
		static uint8_t b[60];
		memset(b, 0, sizeof(b));
		b[0] = 0x45; b[3] = 40; b[8] = 64; b[9] = 6;
		b[12] = 10; b[15] = 9; b[16] = 10; b[19] = 2;
		b[20] = 0x11; b[22] = 0; b[23] = 80; b[32] = 0x50; b[33] = TH_SYN;
		reasm_frame(&R, STH_DLT_RAW, now, b, 40, 40);
	}
	T_EQ_U(R.st.table_full_packets, 1);
	finish(&r);
	T_EQ_U(r.nsess, 1);
}

static void
reasm_malformed_counted(void)
{
	struct result r;
	uint8_t bad[30] = { 0x45, 0, 0, 30, 0, 0, 0, 0, 64, 6 };

	start("{}");
	reasm_frame(&R, STH_DLT_RAW, now, bad, 30, 30);		/* TCP header cut */
	bad[0] = 0x75;
	reasm_frame(&R, STH_DLT_RAW, now, bad, 30, 30);		/* IP version 7 */
	handshake(CISN, SISN);
	pkt(1, CISN + 1, SISN + 1, TH_ACK, "fine", 4);
	T_EQ_U(R.st.decode_err[DEC_TRUNC_TCP], 1);
	T_EQ_U(R.st.decode_err[DEC_BAD_IP_VERSION], 1);
	finish(&r);
	T_EQ_U(r.len[0][0], 4);
}

/* close_session is sticky: the flow's later packets are counted as
 * closed_by_control, not opened again mid-stream, until its FIN (then the
 * rest are late frames), a new SYN, or session_idle_sec. */
static void
reasm_close_by_control_is_sticky(void)
{
	struct result r;
	uint64_t id = sid_make(0, 3, 1);

	start("{ io: { input: { capture: { session_idle_sec: 5 } } } }");
	handshake(CISN, SISN);
	pkt(1, CISN + 1, SISN + 1, TH_ACK | TH_PUSH, "abc", 3);
	T_EQ_U(reasm_close_id(&R, id, CLOSE_CONTROL), 0);
	now += 2 * NSEC_PER_SEC;	/* long past close_grace_ms */
	pkt(1, CISN + 4, SISN + 1, TH_ACK | TH_PUSH, "defg", 4);
	pkt(0, SISN + 1, CISN + 8, TH_ACK, NULL, 0);
	T_EQ_U(R.st.closed_by_control_packets, 2);
	T_EQ_U(R.st.closed_by_control_bytes, 4);
	/* its FIN ends it: the other side's FIN is a late frame, nothing opens */
	pkt(1, CISN + 8, SISN + 1, TH_FIN | TH_ACK, NULL, 0);
	pkt(0, SISN + 1, CISN + 9, TH_FIN | TH_ACK, NULL, 0);
	T_EQ_U(R.st.closed_by_control_packets, 3);
	T_EQ_U(R.st.late_packets, 1);
	/* a new SYN on the 4-tuple: a new session */
	now += 1 * NSEC_PER_SEC;
	handshake(CISN + 100000, SISN + 100000);
	pkt(1, CISN + 100001, SISN + 100001, TH_ACK | TH_PUSH, "new", 3);
	finish(&r);
	T_EQ_U(r.nsess, 2);
	T_EQ_U(r.reason[0], CLOSE_CONTROL);
	T_EQ_U(r.len[0][0], 3);
	T_EQ_U(r.guessed[1], 0);
	T_CHECK(memcmp(r.bytes[1][0], "new", 3) == 0);

	/* idle: after session_idle_sec without a packet the flow may open again */
	start("{ io: { input: { capture: { session_idle_sec: 5 } } } }");
	handshake(CISN, SISN);
	pkt(1, CISN + 1, SISN + 1, TH_ACK | TH_PUSH, "abc", 3);
	T_EQ_U(reasm_close_id(&R, id, CLOSE_CONTROL), 0);
	now += 3 * NSEC_PER_SEC;
	pkt(1, CISN + 4, SISN + 1, TH_ACK | TH_PUSH, "d", 1);	/* still closed */
	now += 6 * NSEC_PER_SEC;
	reasm_tick(&R, now);
	pkt(1, CISN + 5, SISN + 1, TH_ACK | TH_PUSH, "e", 1);	/* a mid-stream session */
	T_EQ_U(R.st.closed_by_control_packets, 1);
	finish(&r);
	T_EQ_U(r.nsess, 2);
	T_EQ_U(r.guessed[1], 1);
}

/* A raw IPv4 TCP packet between any two ends (addresses host order). */
static void
pkt4(uint32_t src, uint16_t sp, uint32_t dst, uint16_t dp, uint32_t seq, uint32_t ack, uint8_t flags,
    const void *data, size_t n)
{
	uint8_t b[1500];
	size_t tot = 40 + n;
	uint32_t a = htonl(src), z = htonl(dst);

	memset(b, 0, 40);
	b[0] = 0x45; b[2] = (uint8_t)(tot >> 8); b[3] = (uint8_t)tot; b[8] = 64; b[9] = 6;
	memcpy(b + 12, &a, 4);
	memcpy(b + 16, &z, 4);
	b[20] = (uint8_t)(sp >> 8); b[21] = (uint8_t)sp; b[22] = (uint8_t)(dp >> 8); b[23] = (uint8_t)dp;
	b[24] = (uint8_t)(seq >> 24); b[25] = (uint8_t)(seq >> 16); b[26] = (uint8_t)(seq >> 8); b[27] = (uint8_t)seq;
	b[28] = (uint8_t)(ack >> 24); b[29] = (uint8_t)(ack >> 16); b[30] = (uint8_t)(ack >> 8); b[31] = (uint8_t)ack;
	b[32] = 0x50;
	b[33] = flags;
	if (n)
		memcpy(b + 40, data, n);
	now += 100000;
	reasm_frame(&R, STH_DLT_RAW, now, b, (uint32_t)tot, (uint32_t)tot);
}

/* A SYN flood fills reasm.max_sessions: half-open sessions make room for
 * each other and for new connections, oldest first, counted; the
 * established ones stay, exact. */
static void
reasm_syn_flood_evicts_half_open(void)
{
	struct result r;
	const uint32_t srv = 0x0A000002, cli = 0x0A000001;

	start("{reasm:{max_sessions:20}}");
	for (uint16_t k = 0; k < 5; k++) {
		pkt4(cli, (uint16_t)(40001 + k), srv, 80, 100, 0, TH_SYN, NULL, 0);
		pkt4(srv, 80, cli, (uint16_t)(40001 + k), 900, 101, TH_SYN | TH_ACK, NULL, 0);
		pkt4(cli, (uint16_t)(40001 + k), srv, 80, 101, 901, TH_ACK, "before ", 7);
	}
	for (uint32_t k = 0; k < 1000; k++)	/* spoofed sources, no answer */
		pkt4(0x0B000000 + k, (uint16_t)(1024 + k), srv, 80, k * 7919, 0, TH_SYN, NULL, 0);
	for (uint16_t k = 0; k < 5; k++)
		pkt4(cli, (uint16_t)(40001 + k), srv, 80, 108, 901, TH_ACK, "after", 5);
	/* a new connection after the flood still gets a session */
	pkt4(cli, 41000, srv, 80, 100, 0, TH_SYN, NULL, 0);
	pkt4(srv, 80, cli, 41000, 900, 101, TH_SYN | TH_ACK, NULL, 0);
	pkt4(cli, 41000, srv, 80, 101, 901, TH_ACK, "late comer", 10);
	T_EQ_U(R.st.table_full_packets, 0);
	T_EQ_U(R.st.half_open_evicted, 1000 - 15 + 1);
	finish(&r);
	for (int k = 0; k < r.nsess; k++) {
		if (r.cport[k] >= 40001 && r.cport[k] <= 40005) {
			T_EQ_U(r.len[k][0], 12);
			T_CHECK(memcmp(r.bytes[k][0], "before after", 12) == 0);
			T_EQ_U(r.reason[k], CLOSE_EOF);
		} else if (r.cport[k] == 41000) {
			T_EQ_U(r.len[k][0], 10);
		} else if (r.reason[k] != CLOSE_TABLE_FULL && r.reason[k] != CLOSE_EOF)
			T_EQ_U(r.reason[k], CLOSE_TABLE_FULL);
	}
}

/* The table full, a new SYN (a new ISN) on a half-open session: the
 * half-open one it replaces is the incarnation the new one links to, so
 * another goes to make room (fuzz_reasm found the replaced one freed and
 * read after, under ASan). */
static void
reasm_table_full_new_isn_on_half_open(void)
{
	struct result r;
	const uint32_t srv = 0x0A000002, cli = 0x0A000001;

	start("{reasm:{max_sessions:2}}");
	pkt4(cli, 40001, srv, 80, 100, 0, TH_SYN, NULL, 0);	/* A: half-open */
	pkt4(cli, 40002, srv, 80, 100, 0, TH_SYN, NULL, 0);	/* B: half-open */
	pkt4(cli, 40001, srv, 80, 7000, 0, TH_SYN, NULL, 0);	/* A again, a new ISN */
	pkt4(srv, 80, cli, 40001, 900, 7001, TH_SYN | TH_ACK, NULL, 0);
	pkt4(cli, 40001, srv, 80, 7001, 901, TH_ACK, "new one", 7);
	pkt4(cli, 40001, srv, 80, 101, 0, TH_ACK, "old", 3);	/* the old ISN's space */
	T_EQ_U(R.st.table_full_packets, 0);
	T_EQ_U(R.st.half_open_evicted, 1);
	finish(&r);
	int found = 0;
	for (int k = 0; k < r.nsess; k++)
		if (r.cport[k] == 40001 && r.len[k][0] == 7 && memcmp(r.bytes[k][0], "new one", 7) == 0)
			found++;
	T_EQ_U(found, 1);
}

/* The session table grows as sessions come (1,024 buckets, doubling,
 * moved over a few buckets at a time): 5,000 connections open at once,
 * their second segments in reverse order, half of them closed (freed as
 * tombstones while buckets move) and their 4-tuples reused: every
 * segment finds its session (none guessed mid-stream), every stream
 * exact. */
#define GROW_N 3000
static void
reasm_table_grows_under_load(void)
{
	static uint64_t ids[GROW_N * 2];
	static uint16_t got[GROW_N * 2];
	static char want[GROW_N * 2][16];
	const uint32_t srv = 0x0A000002;
	const struct wire_rec *rec;
	char err[256], m[8];
	struct recr *rr;
	int n = 0, guessed = 0, bad = 0;

	start("{}");
	for (uint32_t k = 0; k < GROW_N; k++) {
		pkt4(0x0B000000 + k, 40000, srv, 80, 100, 0, TH_SYN, NULL, 0);
		pkt4(srv, 80, 0x0B000000 + k, 40000, 900, 101, TH_SYN | TH_ACK, NULL, 0);
		snprintf(m, sizeof(m), "A%06u", (unsigned)k);
		pkt4(0x0B000000 + k, 40000, srv, 80, 101, 901, TH_ACK, m, 7);
	}
	for (uint32_t k = GROW_N; k-- > 0; ) {
		snprintf(m, sizeof(m), "B%06u", (unsigned)k);
		pkt4(0x0B000000 + k, 40000, srv, 80, 108, 901, TH_ACK, m, 7);
		if (k % 2 == 0) {
			pkt4(0x0B000000 + k, 40000, srv, 80, 115, 901, TH_FIN | TH_ACK, NULL, 0);
			pkt4(srv, 80, 0x0B000000 + k, 40000, 901, 116, TH_FIN | TH_ACK, NULL, 0);
			pkt4(0x0B000000 + k, 40000, srv, 80, 116, 902, TH_ACK, NULL, 0);
		}
		if (k % 4 == 0) {
			pkt4(0x0B000000 + k, 40000, srv, 80, 50000, 0, TH_SYN, NULL, 0);
			pkt4(srv, 80, 0x0B000000 + k, 40000, 7000, 50001, TH_SYN | TH_ACK, NULL, 0);
			snprintf(m, sizeof(m), "C%06u", (unsigned)k);
			pkt4(0x0B000000 + k, 40000, srv, 80, 50001, 7001, TH_ACK, m, 7);
			/* a late retransmission of the old incarnation's data */
			snprintf(m, sizeof(m), "B%06u", (unsigned)k);
			pkt4(0x0B000000 + k, 40000, srv, 80, 108, 901, TH_ACK, m, 7);
		}
	}
	now += 2 * NSEC_PER_SEC;	/* the tombstones' grace is over */
	for (uint32_t k = 2; k < GROW_N; k += 4) {
		pkt4(0x0B000000 + k, 40000, srv, 80, 50000, 0, TH_SYN, NULL, 0);
		pkt4(srv, 80, 0x0B000000 + k, 40000, 7000, 50001, TH_SYN | TH_ACK, NULL, 0);
		snprintf(m, sizeof(m), "C%06u", (unsigned)k);
		pkt4(0x0B000000 + k, 40000, srv, 80, 50001, 7001, TH_ACK, m, 7);
	}
	T_EQ_U(R.st.sessions, GROW_N + GROW_N / 2);
	T_EQ_U(R.st.table_full_packets, 0);
	engine_end();
	rewind(tmp);
	rr = recr_open(dup(fileno(tmp)), 1, err, sizeof(err));
	fclose(tmp);
	T_CHECK(rr != NULL);
	while (rr && recr_next(rr, &rec, err, sizeof(err)) == 1) {
		const void *b = rec + 1;
		if (rec->type == REC_SESSION_OPEN && n < GROW_N * 2) {
			const struct rec_session_open *o = b;
			uint32_t cli;
			memcpy(&cli, o->flow.client_ip, 4);
			cli = ntohl(cli) - 0x0B000000;
			guessed += o->flow.role_guessed;
			ids[n] = o->session_id;
			/* the first incarnations open first, in order */
			if (n < GROW_N)
				snprintf(want[n], sizeof(want[n]), "A%06uB%06u", (unsigned)cli, (unsigned)cli);
			else
				snprintf(want[n], sizeof(want[n]), "C%06u", (unsigned)cli);
			if (n > 0 && ids[n] <= ids[n - 1])
				bad++;
			n++;
		} else if (rec->type == REC_CHUNK) {
			const struct rec_chunk *c = b;
			size_t len = rec->len - sizeof(*rec) - sizeof(*c);
			int lo = 0, hi = n - 1, k = -1;
			while (lo <= hi) {
				int mid = (lo + hi) / 2;
				if (ids[mid] == c->session_id) {
					k = mid;
					break;
				}
				if (ids[mid] < c->session_id)
					lo = mid + 1;
				else
					hi = mid - 1;
			}
			if (k < 0 || c->dir != 0 || got[k] + len > strlen(want[k]) ||
			    memcmp(want[k] + got[k], c + 1, len) != 0)
				bad++;
			else
				got[k] = (uint16_t)(got[k] + len);
		}
	}
	recr_close(rr);
	T_EQ_U(n, GROW_N + GROW_N / 2);
	T_EQ_U(guessed, 0);
	T_EQ_U(bad, 0);
	for (int k = 0; k < n; k++)
		if (got[k] != strlen(want[k]))
			bad++;
	T_EQ_U(bad, 0);
}

/* Idle closes: a session is not moved to the back of the idle list at
 * every segment, only when it has not moved for session_idle_sec / 16
 * (at most 1 s): an idle session closes at most that late, an active
 * one never early. */
static void
idle_run(bool with_b, uint64_t tick1, uint64_t want1, uint64_t tick2, uint64_t want2)
{
	const uint32_t srv = 0x0A000002;
	uint64_t t0;

	start("{io:{input:{capture:{session_idle_sec:10}}}}");
	t0 = now;
	pkt4(0x0B000001, 40000, srv, 80, 100, 0, TH_SYN, NULL, 0);		/* A */
	pkt4(srv, 80, 0x0B000001, 40000, 900, 101, TH_SYN | TH_ACK, NULL, 0);
	pkt4(0x0B000001, 40000, srv, 80, 101, 901, TH_ACK, "a", 1);
	now = t0 + NSEC_PER_SEC / 10;
	if (with_b) {							/* B */
		pkt4(0x0B000002, 40000, srv, 80, 100, 0, TH_SYN, NULL, 0);
		pkt4(srv, 80, 0x0B000002, 40000, 900, 101, TH_SYN | TH_ACK, NULL, 0);
		pkt4(0x0B000002, 40000, srv, 80, 101, 901, TH_ACK, "b", 1);
	}
	now = t0 + 3 * NSEC_PER_SEC / 10 - 100000;
	pkt4(0x0B000001, 40000, srv, 80, 102, 901, TH_ACK, "a", 1);	/* A again, at 0.3 s */
	reasm_tick(&R, t0 + tick1);
	T_EQ_U(R.st.close_reason[CLOSE_IDLE], want1);
	reasm_tick(&R, t0 + tick2);
	T_EQ_U(R.st.close_reason[CLOSE_IDLE], want2);
	engine_end();
	fclose(tmp);
	now += 20 * NSEC_PER_SEC;
}

static void
reasm_idle_close_lazy_but_bounded(void)
{
	/* A alone: open at 10.2 s (its last packet 9.9 s old), closed by the
	 * next tick (250 ms) after 10.3 s */
	idle_run(false, 10200000000ULL, 0, 10550000000ULL, 1);
	/* B may wait behind A, not past 10.1 s + 0.625 s and a tick */
	idle_run(true, 10050000000ULL, 0, 10750000000ULL, 2);
}

/* The idle list's moves are made in batches (tcp.c's LRU_BATCH), yet its
 * order is that of the segments: idle closes come in the order the
 * sessions were last active, with a session opened mid-batch in its
 * place, and one closed (RST) while its move waits does not come back. */
#define ORDER_N 100
static void
reasm_idle_order_with_batched_moves(void)
{
	const uint32_t srv = 0x0A000002, cli = 0x0A000001;
	uint16_t want[ORDER_N + 1], got[ORDER_N + 8];
	uint64_t ids[ORDER_N + 8];
	uint16_t ports[ORDER_N + 8];
	int nw = 0, ng = 0, nids = 0, rst_k = 55, rst_at = 60;
	uint16_t rst_port = (uint16_t)(20000 + (rst_k * 37) % ORDER_N);
	uint64_t t0;
	const struct wire_rec *rec;
	char err[256];
	struct recr *rr;

	/* (gap_grace_ms 0: the RST closes at once, its move still waiting) */
	start("{io:{input:{capture:{session_idle_sec:10}}},reasm:{gap_grace_ms:0}}");
	t0 = now;
	for (int k = 0; k < ORDER_N; k++)	/* opened in port order */
		pkt4(cli, (uint16_t)(20000 + k), srv, 80, 100, 900, TH_ACK, "x", 1);
	now = t0 + 2 * NSEC_PER_SEC;		/* every one due to move */
	for (int k = 0; k < ORDER_N; k++) {
		uint16_t p = (uint16_t)(20000 + (k * 37) % ORDER_N);
		if (k == 50) {
			pkt4(cli, 30000, srv, 80, 100, 900, TH_ACK, "n", 1);
			want[nw++] = 30000;
		}
		if (k == rst_at)
			pkt4(cli, rst_port, srv, 80, 102, 900, TH_RST | TH_ACK, NULL, 0);
		pkt4(cli, p, srv, 80, 101, 900, TH_ACK, "y", 1);
		if (p != rst_port)
			want[nw++] = p;
	}
	reasm_tick(&R, now + 15 * NSEC_PER_SEC);
	T_EQ_U(R.st.close_reason[CLOSE_IDLE], ORDER_N);
	recw_close(R.out.w);
	R.out.w = NULL;
	reasm_free(&R);
	conf_free(&C);
	rewind(tmp);
	rr = recr_open(dup(fileno(tmp)), 1, err, sizeof(err));
	fclose(tmp);
	while (rr && recr_next(rr, &rec, err, sizeof(err)) == 1) {
		if (rec->type == REC_SESSION_OPEN && nids < ORDER_N + 8) {
			const struct rec_session_open *o = (const void *)(rec + 1);
			ids[nids] = o->session_id;
			ports[nids++] = o->flow.client_port;
		} else if (rec->type == REC_SESSION_CLOSE && ng < ORDER_N + 8) {
			const struct rec_session_close *c = (const void *)(rec + 1);
			if (c->reason != CLOSE_IDLE)
				continue;
			for (int k = 0; k < nids; k++)
				if (ids[k] == c->session_id)
					got[ng++] = ports[k];
		}
	}
	recr_close(rr);
	T_EQ_U(ng, nw);
	int bad = 0;
	for (int k = 0; k < nw && k < ng; k++)
		if (got[k] != want[k])
			bad++;
	T_EQ_U(bad, 0);
	now += 30 * NSEC_PER_SEC;
}

int
main(void)
{
	log_set_console_level(LOG_ERROR);
	T_RUN(reasm_in_order_and_fin);
	T_RUN(reasm_out_of_order_and_retransmission);
	T_RUN(reasm_conflicting_overlap_first_wins);
	T_RUN(reasm_ack_stall_noted_once);
	T_RUN(reasm_sequence_wraparound);
	T_RUN(reasm_ack_gap_at_once_with_zero_grace);
	T_RUN(reasm_ack_gap_after_grace);
	T_RUN(reasm_ack_before_data_delivered);
	T_RUN(reasm_ooo_timeout);
	T_RUN(reasm_capture_orderings);
	T_RUN(reasm_closing_keeps_reason_at_eof);
	T_RUN(reasm_acked_tail_is_a_gap_at_eof);
	T_RUN(reasm_syn_data_rst_and_port_reuse);
	T_RUN(reasm_midstream_guesses_client);
	T_RUN(reasm_idle_timeout_on_capture_time);
	T_RUN(reasm_idle_close_lazy_but_bounded);
	T_RUN(reasm_idle_order_with_batched_moves);
	T_RUN(reasm_ooo_limit_forces_gap);
	T_RUN(reasm_table_full_counted);
	T_RUN(reasm_malformed_counted);
	T_RUN(reasm_close_by_control_is_sticky);
	T_RUN(reasm_syn_flood_evicts_half_open);
	T_RUN(reasm_table_full_new_isn_on_half_open);
	T_RUN(reasm_table_grows_under_load);
	return T_DONE();
}
