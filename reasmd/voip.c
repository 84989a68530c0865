/*
 * voip.c — the VoIP analyser: SIP over UDP and TCP makes calls (keyed by
 * Call-ID), their SDP says where their media go, RTP and RTCP to those
 * places become the calls' streams (DESIGN.md section 8).
 *
 *   SIP over UDP: a datagram on voip.sip_ports, or (voip.detect) one that
 *   starts like a SIP request or status line.  SIP over TCP: a session on
 *   voip.sip_ports; its stream is framed by Content-Length, CRLF
 *   keep-alives skipped, a gap resynchronises at the next start line.
 *
 *   A call ends at its BYE, after voip.call_idle_sec without a message or
 *   media (`timeout`) or at the end of the input (`eof`); it is
 *   written out (calls.jsonl in -o, the call_end event, the call table) a
 *   grace period later (voip.media_grace_sec: the media that follow the
 *   BYE are its), and its expected endpoints go with it.
 *
 * Bounded: voip.max_calls, voip.max_streams, voip.max_endpoints, each
 * counted when full; a TCP message over voip.max_message_bytes is skipped
 * and counted.  Everything skipped has a counter.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <json-c/json.h>

#include "analyser.h"
#include "counters.h"
#include "log.h"
#include "reasmd.h"
#include "siphash.h"
#include "util.h"
#include "voip.h"

#define CALL_MAX_STREAMS 32
#define STREAM_MAX_CALLS 4
#define CALLID_MAX 160
#define USER_MAX 96

struct call;

struct stream {
	LIST_ENTRY(stream) h;		/* hash chain */
	TAILQ_ENTRY(stream) q;		/* every stream, oldest first */
	uint8_t family, src[16], dst[16];
	uint16_t sport, dport;
	uint32_t ssrc;
	struct call *calls[STREAM_MAX_CALLS];
	uint64_t bytes, first_ns, last_ns;
	uint32_t rate;			/* clock rate of its main payload type */
	uint8_t pt_seen[4];
	uint64_t pt_count[4];
	char codec[24];
	struct rtp_stats st;
	bool rtcp;			/* an RTCP "stream": packets only */
	uint64_t rtcp_packets;
	/* what the receiver's RTCP said of this stream (the last report) */
	uint64_t rr_reports;
	int32_t rr_lost;
	uint32_t rr_jitter;
	bool cand;			/* RTP-looking, no signalling, not yet in sequence */
	bool link_lost;			/* a call it belongs to could not list it */
	TAILQ_ENTRY(stream) cq;		/* V->cand, by first packet */
};

struct endpoint {
	LIST_ENTRY(endpoint) h;
	LIST_ENTRY(endpoint) byc;	/* the call's endpoints */
	uint8_t family, addr[16];
	uint16_t port;
	struct call *call;
	uint64_t updated_ns;		/* the SDP that said it last */
	struct sdp_media media;		/* its rtpmaps */
};

TAILQ_HEAD(callq, call);

struct call {
	LIST_ENTRY(call) h;
	TAILQ_ENTRY(call) q;		/* by last message, oldest first */
	char id[CALLID_MAX];
	char from[USER_MAX], to[USER_MAX];
	bool users_from_invite;
	bool is_call, registers, other;	/* INVITE seen; REGISTER seen; other dialog */
	bool answered, bye, cancel, got487, targeted, announced;
	int answer_status, fail_status, reg_status;
	int state_said;			/* the state last announced */
	uint64_t first_ns, invite_ns, answer_ns, bye_ns, last_ns, end_ns;
	uint64_t active_ns;		/* last SIP or media: idleness */
	uint64_t reg_expires_ns;
	const char *end_reason;		/* NULL: not ended */
	bool dormant;			/* written out idle: its state kept (V->dormant) */
	bool rec_open;			/* its REC_CALL_OPEN went out: frames name it */
	uint64_t num;			/* the id records name it by */
	uint64_t msgs;
	unsigned nstreams;
	struct stream *streams[CALL_MAX_STREAMS];
	LIST_HEAD(, endpoint) eps;
};

/* A TCP session's framing, per direction. */
struct sipflow {
	struct {
		uint8_t *buf;
		size_t len, cap;
		uint64_t end;		/* stream offset just past the bytes taken */
		uint64_t mstart;	/* WebSocket: where the message being
					 * assembled began (its first frame) */
		bool resync;
		uint64_t skip;		/* bytes still to come of a message too big */
		/* SIP over WebSocket (RFC 7118): the HTTP handshake's head still
		 * to pass; a message assembled from its frames; lost after a gap */
		bool ws_head, ws_lost;
		uint8_t *msg;
		size_t mlen, mcap;
	} d[2];
	bool ws;
	bool decided;			/* whether it is WebSocket, known */
};

struct voip {
	struct reasm *R;
	const struct conf *c;
	struct sipkey key;
	size_t nb;
	LIST_HEAD(, call) *cb;
	LIST_HEAD(, endpoint) *eb;
	LIST_HEAD(, stream) *sb;
	/* every call is on one list, each by last activity, oldest first, so
	 * that a sweep stops at the first one not due: going on (due at
	 * call_idle_sec), ending (a BYE was seen: due at media_grace_sec),
	 * expiring (registrations, by their expiry), dormant (written out,
	 * state kept) */
	struct callq calls, ending, expiring, dormant;
	TAILQ_HEAD(, stream) streams;
	TAILQ_HEAD(, stream) cand;	/* candidates for rtp-only, oldest first */
	size_t ncalls, nstreams, neps;
	uint64_t call_nums;		/* ids given out (struct call.num) */
	int jsonl;			/* -o DIR/calls.jsonl, -1: none */
	bool jsonl_tried;
	/* the call table printed at the end */
	char *table;
	size_t table_len, table_cap, table_rows, table_more;
	/* counters */
	uint64_t sip_msgs, sip_bad, sip_too_big, sip_resyncs, calls_total, calls_written,
	    dialogs_other, calls_full, streams_full, eps_full, rtp_packets, rtp_lost_total,
	    rtcp_packets, rtp_unmatched, buf_full, media_other, keepalives, rtp_only_packets,
	    links_full;
	uint64_t by_state[7];
	uint64_t jitter_hist[8];	/* streams by max jitter: <1 <5 <10 <20 <50 <100 <200 >=200 ms */
	size_t buf_bytes;
};

static bool has_patterns(const struct voip *V);

enum { ST_EARLY, ST_CONFIRMED, ST_TERMINATED, ST_CANCELLED, ST_FAILED, ST_REGISTERED, ST_RTP_ONLY };
static const char *const state_names[] = { "early", "confirmed", "terminated", "cancelled", "failed",
	"registered-only", "rtp-only" };

#define SIP_BUF_TOTAL (64u << 20)	/* every TCP session's partial messages together */

static uint64_t be(const uint8_t *p, int n);

/* ---------------- hashing ---------------- */

static size_t
h_bytes(const struct voip *V, const void *p, size_t n)
{
	return (size_t)(siphash13(&V->key, p, n) & (V->nb - 1));
}

static size_t
h_ep(const struct voip *V, uint8_t fam, const uint8_t *addr, uint16_t port)
{
	uint8_t k[19];

	k[0] = fam;
	memcpy(k + 1, addr, 16);
	k[17] = (uint8_t)(port >> 8);
	k[18] = (uint8_t)port;
	return h_bytes(V, k, sizeof(k));
}

static size_t
h_stream(const struct voip *V, uint8_t fam, const uint8_t *s, uint16_t sp, const uint8_t *d,
    uint16_t dp, uint32_t ssrc)
{
	uint8_t k[41];

	k[0] = fam;
	memcpy(k + 1, s, 16);
	memcpy(k + 17, d, 16);
	k[33] = (uint8_t)(sp >> 8);
	k[34] = (uint8_t)sp;
	k[35] = (uint8_t)(dp >> 8);
	k[36] = (uint8_t)dp;
	memcpy(k + 37, &ssrc, 4);
	return h_bytes(V, k, sizeof(k));
}

/* ---------------- formatting ---------------- */

static void
fmt_ts(char *buf, size_t size, uint64_t ns)
{
	time_t t = (time_t)(ns / 1000000000ull);
	struct tm tm;
	char tmp[32];

	gmtime_r(&t, &tm);
	strftime(tmp, sizeof(tmp), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, size, "%s.%06uZ", tmp, (unsigned)(ns % 1000000000ull / 1000));
}

static struct json_object *
ts_obj(uint64_t ns)
{
	char b[40];

	if (ns == 0)
		return NULL;
	fmt_ts(b, sizeof(b), ns);
	return json_object_new_string(b);
}

/* Milliseconds with three decimals, written as such (not 2.5190000000000001). */
static struct json_object *
ms_obj(double ms)
{
	char b[32];

	snprintf(b, sizeof(b), "%.3f", ms);
	return json_object_new_double_s(ms, b);
}

static void
fmt_ep(char *buf, size_t size, uint8_t fam, const uint8_t *a, uint16_t port)
{
	char ip[INET6_ADDRSTRLEN];

	inet_ntop(fam == 6 ? AF_INET6 : AF_INET, a, ip, sizeof(ip));
	if (fam == 6)
		snprintf(buf, size, "[%s]:%u", ip, port);
	else
		snprintf(buf, size, "%s:%u", ip, port);
}

static void
copy_str(char *dst, size_t size, struct str s)
{
	size_t n = s.n < size - 1 ? s.n : size - 1;

	/* printable bytes only: these go into JSON and the terminal */
	for (size_t i = 0; i < n; i++)
		dst[i] = s.p[i] >= 0x20 && s.p[i] < 0x7f ? s.p[i] : '?';
	dst[n] = '\0';
}

/* ---------------- calls ---------------- */

static int
call_state(const struct call *c)
{
	if (!c->is_call)
		return ST_REGISTERED;
	if (c->answered)
		return c->bye ? ST_TERMINATED : ST_CONFIRMED;
	if (c->cancel || c->got487)
		return ST_CANCELLED;
	if (c->fail_status >= 300)
		return ST_FAILED;
	return ST_EARLY;
}

static int
final_status(const struct call *c)
{
	if (!c->is_call)
		return c->reg_status;
	if (c->answered)
		return c->answer_status;
	return c->fail_status;	/* 0: none */
}

static struct json_object *
stream_obj(const struct stream *s)
{
	struct json_object *o = json_object_new_object();
	char b[64];
	int best = 0;

	for (int k = 1; k < 4; k++)
		if (s->pt_count[k] > s->pt_count[best])
			best = k;
	fmt_ep(b, sizeof(b), s->family, s->src, s->sport);
	json_object_object_add(o, "src", json_object_new_string(b));
	fmt_ep(b, sizeof(b), s->family, s->dst, s->dport);
	json_object_object_add(o, "dst", json_object_new_string(b));
	json_object_object_add(o, "ssrc", json_object_new_int64(s->ssrc));
	json_object_object_add(o, "payload_type", json_object_new_int(s->pt_seen[best]));
	json_object_object_add(o, "codec", s->codec[0] ? json_object_new_string(s->codec) : NULL);
	json_object_object_add(o, "packets", json_object_new_int64((int64_t)s->st.received));
	json_object_object_add(o, "bytes", json_object_new_int64((int64_t)s->bytes));
	json_object_object_add(o, "lost", json_object_new_int64(rtp_lost(&s->st)));
	json_object_object_add(o, "duplicates", json_object_new_int64((int64_t)s->st.duplicates));
	json_object_object_add(o, "out_of_order", json_object_new_int64((int64_t)s->st.out_of_order));
	json_object_object_add(o, "max_jitter_ms", ms_obj(s->st.max_jitter_ms));
	json_object_object_add(o, "mean_jitter_ms", ms_obj(s->st.njitter ?
	    s->st.sum_jitter_ms / (double)s->st.njitter : 0));
	if (s->rr_reports > 0) {
		/* what the receiver said in its RTCP reports, the last one */
		struct json_object *r = json_object_new_object();
		json_object_object_add(r, "reports", json_object_new_int64((int64_t)s->rr_reports));
		json_object_object_add(r, "lost", json_object_new_int(s->rr_lost));
		json_object_object_add(r, "jitter_ms", s->rate ? ms_obj((double)s->rr_jitter * 1000.0 /
		    s->rate) : NULL);
		json_object_object_add(o, "rtcp", r);
	} else
		json_object_object_add(o, "rtcp", NULL);
	json_object_object_add(o, "first_ts", ts_obj(s->first_ns));
	json_object_object_add(o, "last_ts", ts_obj(s->last_ns));
	return o;
}

static int
cmp_str64(const void *a, const void *b)
{
	return strcmp(a, b);
}

static struct json_object *
call_obj(const struct call *c, const char *reason)
{
	struct json_object *o = json_object_new_object(), *a = json_object_new_array();
	int st = call_state(c), fs = final_status(c);

	json_object_object_add(o, "call_id", json_object_new_string(c->id));
	json_object_object_add(o, "from_user", json_object_new_string(c->from));
	json_object_object_add(o, "to_user", json_object_new_string(c->to));
	json_object_object_add(o, "state", json_object_new_string(state_names[st]));
	json_object_object_add(o, "final_status", fs ? json_object_new_int(fs) : NULL);
	json_object_object_add(o, "sip_messages", json_object_new_int64((int64_t)c->msgs));
	json_object_object_add(o, "invite_ts", ts_obj(c->invite_ns ? c->invite_ns : c->first_ns));
	json_object_object_add(o, "answer_ts", ts_obj(c->answer_ns));
	json_object_object_add(o, "end_ts", ts_obj(c->end_ns ? c->end_ns : c->last_ns));
	json_object_object_add(o, "end_reason", json_object_new_string(reason));
	for (unsigned k = 0; k < c->nstreams; k++)
		if (c->streams[k] != NULL && !c->streams[k]->rtcp)
			json_object_array_add(a, stream_obj(c->streams[k]));
	json_object_object_add(o, "rtp_streams", a);
	{
		/* the media endpoints its SDP named (sorted): where its RTP
		 * goes, for whoever sees that RTP elsewhere */
		const struct endpoint *e;
		char (*v)[64] = NULL;
		size_t n = 0, cap = 0;
		LIST_FOREACH(e, &c->eps, byc) {
			if (n == cap) {
				cap = cap ? 2 * cap : 8;
				v = xrealloc(v, cap * sizeof(*v));
			}
			fmt_ep(v[n++], sizeof(v[0]), e->family, e->addr, e->port);
		}
		if (n > 1)
			qsort(v, n, sizeof(*v), cmp_str64);
		a = json_object_new_array();
		for (size_t k = 0; k < n; k++)
			if (k == 0 || strcmp(v[k], v[k - 1]) != 0)
				json_object_array_add(a, json_object_new_string(v[k]));
		json_object_object_add(o, "media", a);
		free(v);
	}
	return o;
}

static void
out_open(struct voip *V)
{
	if (V->R->out.dirfd >= 0 && !V->jsonl_tried) {
		/* a line a write at the end (--append: shards share DIR);
		 * opened with the directory when voip was on from the start */
		V->jsonl = V->R->out.calls_fd >= 0 ? V->R->out.calls_fd :
		    openat(V->R->out.dirfd, "calls.jsonl", O_WRONLY | O_CREAT | O_APPEND |
		    (V->R->out.append ? 0 : O_TRUNC) | O_CLOEXEC, 0644);
		V->jsonl_tried = true;
		if (V->jsonl < 0)
			log_warn("-o: calls.jsonl");
	}
}

static void
out_line(struct voip *V, struct json_object *o)
{
	out_open(V);
	if (V->jsonl >= 0) {
		size_t n;
		const char *js = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN |
		    JSON_C_TO_STRING_NOSLASHESCAPE, &n);
		char *line = xmalloc(n + 1);
		memcpy(line, js, n);
		line[n] = '\n';
		if (write_all(V->jsonl, line, n + 1) < 0)
			log_warn("-o: calls.jsonl");
		free(line);
	}
}

static void
table_row(struct voip *V, const struct call *c, int st, unsigned nrtp, int64_t lost, uint64_t pk)
{
	char ts[40], row[400];
	int n;

	if (!V->R->out.call_table)
		return;
	fmt_ts(ts, sizeof(ts), c ? (c->invite_ns ? c->invite_ns : c->first_ns) : 0);
	n = snprintf(row, sizeof(row), "  %.23s  %-20.20s %-20.20s %-15s %3s %2u streams, %" PRIu64
	    " packets, %" PRId64 " lost  %.40s\n", c ? ts : "-", c ? c->from : "-", c ? c->to : "-",
	    state_names[st], c && final_status(c) ? "" : "", nrtp, pk, lost, c ? c->id : "(no call)");
	if (n <= 0)
		return;
	if (V->table_rows >= 10000) {
		V->table_more++;	/* the table shows the first 10,000; says how many more */
		return;
	}
	if (V->table_len + (size_t)n + 1 > V->table_cap) {
		V->table_cap = (V->table_cap + (size_t)n + 1) * 2;
		V->table = xrealloc(V->table, V->table_cap);
	}
	memcpy(V->table + V->table_len, row, (size_t)n + 1);
	V->table_len += (size_t)n;
	V->table_rows++;
}

static void
stream_unlink_call(struct stream *s, const struct call *c)
{
	for (int k = 0; k < STREAM_MAX_CALLS; k++)
		if (s->calls[k] == c)
			s->calls[k] = NULL;
}

static void
ep_free(struct voip *V, struct endpoint *e)
{
	LIST_REMOVE(e, h);
	LIST_REMOVE(e, byc);
	free(e);
	V->neps--;
}

static void stream_done(struct voip *V, struct stream *s, const struct an_ctx *x);

/* The call is written out (when targeted); its endpoints and streams go. */
static void
call_emit(struct voip *V, struct call *c, const struct an_ctx *x, const char *reason)
{
	int st = call_state(c);

	if (c->rec_open && !c->is_call) {
		/* opened at a CANCEL, ACK or BYE, never a call after all */
		fan_call_close(V->R, c->num, c->last_ns, "none", "", 0, CALL_F_DISCARD);
		c->rec_open = false;
	}
	if (!c->is_call && !c->registers)
		V->dialogs_other++;	/* OPTIONS, SUBSCRIBE, MESSAGE, ...: counted, not listed */
	else if (c->targeted) {
		struct json_object *o = call_obj(c, reason);
		unsigned nrtp = 0;
		uint64_t pk = 0;
		int64_t lost = 0;
		out_line(V, o);
		if (c->rec_open) {
			size_t jl;
			const char *js = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, &jl);
			fan_call_close(V->R, c->num, c->end_ns ? c->end_ns : c->last_ns, state_names[st],
			    js, jl, c->is_call ? 0 : CALL_F_DISCARD);
			c->rec_open = false;
		}
		for (unsigned k = 0; k < c->nstreams; k++) {
			struct stream *s = c->streams[k];
			struct json_object *so;
			if (s == NULL || s->rtcp)
				continue;
			nrtp++;
			pk += s->st.received;
			lost += rtp_lost(&s->st);
			so = stream_obj(s);
			json_object_object_add(so, "call_id", json_object_new_string(c->id));
			an_event(x, "rtp", "rtp_stream_summary", so);
		}
		an_event(x, "calls", "call_end", o);
		table_row(V, c, st, nrtp, lost, pk);
		V->calls_written++;
		V->by_state[st]++;
	}
	while (!LIST_EMPTY(&c->eps))
		ep_free(V, LIST_FIRST(&c->eps));
	for (unsigned k = 0; k < c->nstreams; k++) {
		struct stream *s = c->streams[k];
		bool orphan = true;
		if (s == NULL)
			continue;
		stream_unlink_call(s, c);
		for (int j = 0; j < STREAM_MAX_CALLS; j++)
			orphan &= s->calls[j] == NULL;
		if (orphan)
			stream_done(V, s, x);
	}
	c->nstreams = 0;
}

static struct callq *
list_of(struct voip *V, const struct call *c)
{
	if (c->dormant)
		return &V->dormant;
	if (c->end_reason != NULL)
		return &V->ending;
	if (!c->is_call && c->reg_expires_ns != 0)
		return &V->expiring;
	return &V->calls;
}

/* The call was active now: the tail of its list (a registration: its place
 * by expiry, found from the tail, where refreshes land). */
static void
call_touch(struct voip *V, struct call *c, struct callq *from)
{
	struct callq *to = list_of(V, c);
	struct call *p;

	TAILQ_REMOVE(from, c, q);
	if (to != &V->expiring) {
		TAILQ_INSERT_TAIL(to, c, q);
		return;
	}
	for (p = TAILQ_LAST(to, callq); p != NULL && p->reg_expires_ns > c->reg_expires_ns;
	    p = TAILQ_PREV(p, callq, q))
		;
	if (p == NULL)
		TAILQ_INSERT_HEAD(to, c, q);
	else
		TAILQ_INSERT_AFTER(to, p, c, q);
}

/* The call is written out (when targeted) and freed. */
static void
call_write(struct voip *V, struct call *c, const struct an_ctx *x, const char *reason)
{
	call_emit(V, c, x, reason);
	LIST_REMOVE(c, h);
	TAILQ_REMOVE(list_of(V, c), c, q);
	V->ncalls--;
	free(c);
}

/* An idle call (`timeout`) or a registration past its expiry (`expired`):
 * written out, its media forgotten, its state kept: a message that comes
 * later (a refresh with the same Call-ID) goes on with it and writes it
 * again. */
static void
call_sleep(struct voip *V, struct call *c, const struct an_ctx *x, const char *reason)
{
	struct callq *from = list_of(V, c);

	c->end_reason = reason;
	c->end_ns = c->last_ns;
	call_emit(V, c, x, reason);
	c->dormant = true;
	call_touch(V, c, from);
}

static struct call *
call_find(struct voip *V, struct str id, bool make, uint64_t now)
{
	char key[CALLID_MAX];
	size_t h;
	struct call *c;

	copy_str(key, sizeof(key), id);
	h = h_bytes(V, key, strlen(key));
	LIST_FOREACH(c, &V->cb[h], h)
		if (strcmp(c->id, key) == 0) {
			if (c->dormant && make) {
				/* it went on after its timeout */
				c->dormant = false;
				c->end_reason = NULL;
				c->end_ns = 0;
				call_touch(V, c, &V->dormant);
			}
			return c;
		}
	if (!make)
		return NULL;
	if (V->ncalls >= (size_t)V->c->voip_max_calls && !TAILQ_EMPTY(&V->dormant)) {
		/* full: the call asleep longest is forgotten first */
		struct call *o = TAILQ_FIRST(&V->dormant);
		LIST_REMOVE(o, h);
		TAILQ_REMOVE(&V->dormant, o, q);
		V->ncalls--;
		free(o);
	}
	if (V->ncalls >= (size_t)V->c->voip_max_calls) {
		static struct log_rl rl;
		V->calls_full++;
		log_ratelimited(&rl, 1, 60000, LOG_WARNING, "voip.max_calls (%lld) reached: further "
		    "dialogs are not followed (voip_calls_full %" PRIu64 ")",
		    (long long)V->c->voip_max_calls, V->calls_full);
		return NULL;
	}
	c = xcalloc(1, sizeof(*c));
	memcpy(c->id, key, sizeof(c->id));
	c->first_ns = now;
	c->num = sid_make(V->R->gen, V->R->shard, ++V->call_nums);
	c->state_said = -1;
	c->targeted = !has_patterns(V);
	LIST_INIT(&c->eps);
	LIST_INSERT_HEAD(&V->cb[h], c, h);
	TAILQ_INSERT_TAIL(&V->calls, c, q);
	V->ncalls++;
	return c;
}

/* ---------------- media ---------------- */

static void
ep_add(struct voip *V, struct call *c, uint8_t fam, const uint8_t *addr, uint16_t port,
    const struct sdp_media *m, uint64_t now)
{
	struct endpoint *e;
	size_t h;

	if (fam == 0 || port == 0)
		return;
	h = h_ep(V, fam, addr, port);
	LIST_FOREACH(e, &V->eb[h], h)
		if (e->call == c && e->port == port && e->family == fam && memcmp(e->addr, addr, 16) == 0) {
			e->media = *m;		/* a re-INVITE may change the codecs */
			e->updated_ns = now;
			return;
		}
	if (V->neps >= (size_t)V->c->voip_max_endpoints) {
		V->eps_full++;
		return;
	}
	e = xcalloc(1, sizeof(*e));
	e->family = fam;
	memcpy(e->addr, addr, 16);
	e->port = port;
	e->call = c;
	e->media = *m;
	e->updated_ns = now;
	LIST_INSERT_HEAD(&V->eb[h], e, h);
	LIST_INSERT_HEAD(&c->eps, e, byc);
	V->neps++;
}

static void
sdp_to_call(struct voip *V, struct call *c, const uint8_t *body, size_t len, uint64_t now)
{
	struct sdp s;

	if (sdp_parse(body, len, &s) == 0)
		return;
	for (unsigned k = 0; k < s.n; k++) {
		const struct sdp_media *m = &s.m[k];
		bool shadowed = false;
		if (m->port == 0)
			continue;	/* disabled */
		/* media that are not RTP on the port of RTP media of the same
		 * SDP (audio and image at one port): the RTP ones say it */
		for (unsigned j = 0; j < s.n && !m->rtp; j++)
			shadowed |= s.m[j].rtp && s.m[j].port == m->port;
		if (shadowed)
			continue;
		ep_add(V, c, m->family, m->addr, m->port, m, now);
		if (!m->rtcp_mux && m->rtcp_port != m->port)
			ep_add(V, c, m->rtcp_family, m->rtcp_addr, m->rtcp_port, m, now);
	}
}

/* ---------------- SIP ---------------- */

static void
say_state(struct voip *V, struct call *c, const struct an_ctx *x)
{
	int st = call_state(c);
	struct json_object *o;

	(void)V;
	if (!c->targeted || !c->is_call)
		return;
	if (!c->announced) {
		c->announced = true;
		o = json_object_new_object();
		json_object_object_add(o, "call_id", json_object_new_string(c->id));
		json_object_object_add(o, "from_user", json_object_new_string(c->from));
		json_object_object_add(o, "to_user", json_object_new_string(c->to));
		an_event(x, "calls", "call_new", o);
	}
	if (st != c->state_said) {
		c->state_said = st;
		o = json_object_new_object();
		json_object_object_add(o, "call_id", json_object_new_string(c->id));
		json_object_object_add(o, "state", json_object_new_string(state_names[st]));
		an_event(x, "calls", "call_state", o);
	}
}

/* voip.sipuser has a pattern (asked each time: a reload may change it) */
static bool
has_patterns(const struct voip *V)
{
	for (size_t k = 0; k < V->c->sipuser.n; k++)
		if (V->c->sipuser.v[k][0] != '\0')
			return true;
	return false;
}

static bool
targeted(const struct voip *V, const struct sip_msg *m)
{
	const struct conf_strlist *l = &V->c->sipuser;
	struct str u[4] = { sip_uri_user(m->from), sip_uri_user(m->to), sip_uri_user(m->pai),
		sip_uri_user(m->ruri) };

	for (size_t i = 0; i < l->n; i++)
		for (int k = 0; k < 4; k++)
			if (u[k].n > 0 && sip_user_match(l->v[i], u[k]))
				return true;
	return false;
}

/* Where a message was read: a datagram, or a TCP session's direction. */
struct msgsrc {
	const struct decoded *d;	/* the datagram; NULL: x->s, dir */
	int dir;
	const uint8_t *p;		/* the message as on the wire */
	size_t n;
};

/* A message to the sinks that send messages on (HEP): REC_MESSAGE. */
static void
msg_out(struct voip *V, const struct an_ctx *x, const struct msgsrc *src, const struct call *c,
    struct str corr, uint8_t kind, const void *body, size_t len)
{
	struct rec_message r;

	if (!fan_message_wanted(V->R) || len > UINT32_MAX)
		return;
	memset(&r, 0, sizeof(r));
	r.ts_ns = x->now_ns;
	r.call_id = c != NULL && c->rec_open ? c->num : 0;
	r.kind = kind;
	if (src->d != NULL) {
		r.family = src->d->family;
		r.proto = src->d->proto;
		memcpy(r.src, src->d->src, 16);
		memcpy(r.dst, src->d->dst, 16);
		r.sport = src->d->sport;
		r.dport = src->d->dport;
	} else if (x->s != NULL) {
		const struct session *s = x->s;
		bool fwd = src->dir == DIR_REQUESTS;
		r.family = s->family;
		r.proto = 6;
		memcpy(r.src, fwd ? s->cip : s->sip, 16);
		memcpy(r.dst, fwd ? s->sip : s->cip, 16);
		r.sport = fwd ? s->cport : s->sport;
		r.dport = fwd ? s->sport : s->cport;
	} else
		return;
	r.corr_len = (uint16_t)(corr.n < CALLID_MAX ? corr.n : CALLID_MAX);
	r.len = (uint32_t)len;
	fan_message(V->R, &r, corr.p, body);
}

/* Methods of INVITE dialogs only (RFC 3261, 3262, 3311, 6086). */
static bool
invite_only(int mid)
{
	return mid == SIP_INVITE || mid == SIP_ACK || mid == SIP_CANCEL || mid == SIP_BYE ||
	    mid == SIP_PRACK || mid == SIP_UPDATE || mid == SIP_INFO;
}

static void
sip_message(struct voip *V, const struct sip_msg *m, const struct an_ctx *x, uint64_t ts,
    const struct msgsrc *src)
{
	struct call *c;
	struct callq *from;
	int mid = m->request ? m->method : m->cseq_mid;

	V->sip_msgs++;
	if (m->call_id.n == 0) {
		V->sip_bad++;
		return;
	}
	if ((c = call_find(V, m->call_id, true, ts)) == NULL) {
		/* (voip.max_calls: not followed, still sent on when untargeted) */
		if (!has_patterns(V))
			msg_out(V, x, src, NULL, m->call_id, MSGK_SIP, src->p, src->n);
		return;
	}
	c->msgs++;
	c->last_ns = c->active_ns = ts;
	from = list_of(V, c);
	if (!c->targeted && targeted(V, m))
		c->targeted = true;
	if (m->cseq_mid == SIP_INVITE && !c->is_call) {
		c->is_call = true;
		V->calls_total++;
	}
	if (mid == SIP_REGISTER || m->cseq_mid == SIP_REGISTER)
		c->registers = true;
	if (!c->is_call && !c->registers && m->cseq_mid != 0)
		c->other = true;
	/* users: from the first INVITE request, else the first message */
	if (!c->users_from_invite && (c->from[0] == '\0' || (m->request && m->method == SIP_INVITE))) {
		copy_str(c->from, sizeof(c->from), sip_uri_user(m->from));
		copy_str(c->to, sizeof(c->to), sip_uri_user(m->to));
		c->users_from_invite = m->request && m->method == SIP_INVITE;
	}
	if (m->request) {
		switch (m->method) {
		case SIP_INVITE:
			if (c->invite_ns == 0)
				c->invite_ns = ts;
			break;
		case SIP_BYE:
			if (!c->bye) {
				c->bye = true;
				c->bye_ns = ts;
			}
			if (c->end_reason == NULL) {
				c->end_reason = "bye";
				c->end_ns = ts;
			}
			break;
		case SIP_CANCEL:
			c->cancel = true;
			break;
		default:
			break;
		}
	} else if (m->status >= 200) {
		if (m->cseq_mid == SIP_INVITE) {
			if (m->status < 300) {
				if (!c->answered) {
					c->answered = true;
					c->answer_status = m->status;
					c->answer_ns = ts;
				}
			} else {
				c->fail_status = m->status;
				if (m->status == 487)
					c->got487 = true;
				/* not an end: the INVITE may come again with
				 * credentials (401/407), in the same dialog */
			}
		} else if (m->cseq_mid == SIP_REGISTER) {
			c->reg_status = m->status;
			if (m->status < 300) {
				/* the registration lasts Expires (or the contact's) */
				struct str e;
				unsigned long sec = 3600;
				if (sip_param(m->contact, "expires", &e) || (e = m->expires, e.n > 0)) {
					unsigned long v = 0;
					size_t i;
					for (i = 0; i < e.n && i < 10 && e.p[i] >= '0' && e.p[i] <= '9'; i++)
						v = v * 10 + (unsigned long)(e.p[i] - '0');
					if (i > 0)
						sec = v;
				}
				c->reg_expires_ns = ts + (uint64_t)sec * 1000000000ull;
			}
		}
	}
	/* its frames go out named by it (a per-call pcap) once it is a call
	 * that is written out, or from a message only a call has (CANCEL, ACK,
	 * BYE, ... of an INVITE the capture did not hold: tshark's call has
	 * them; the close discards the file if no INVITE ever shows) */
	if (c->targeted && !c->rec_open && (c->is_call || invite_only(m->cseq_mid))) {
		c->rec_open = true;
		fan_call_open(V->R, c->num, c->first_ns, c->id, c->from, c->to);
	}
	if (c->rec_open)
		an_tag(x, c->num);
	if (c->targeted)
		msg_out(V, x, src, c, (struct str){ c->id, strlen(c->id) }, MSGK_SIP, src->p, src->n);
	/* last active: the tail of its list (ending, once a BYE came) */
	call_touch(V, c, from);
	/* the SDP, in the body or a multipart part */
	if (m->body_len > 0) {
		const uint8_t *b = m->body;
		size_t bl = m->body_len;
		if (m->content_type.n >= 15 && strncasecmp(m->content_type.p, "application/sdp", 15) == 0)
			sdp_to_call(V, c, b, bl, ts);
		else if (sip_multipart_part(m->content_type, b, bl, "application/sdp", &b, &bl))
			sdp_to_call(V, c, b, bl, ts);
	}
	say_state(V, c, x);
}

/* ---------------- RTP ---------------- */

static uint32_t
rate_for(const struct endpoint *e, uint8_t pt, char *codec, size_t clen)
{
	if (e != NULL)
		for (unsigned k = 0; k < e->media.nmap; k++)
			if (e->media.map[k].pt == pt) {
				const char *n = e->media.map[k].name;
				snprintf(codec, clen, "%s", n);
				if (strcasecmp(n, "telephone-event") == 0 || strcasecmp(n, "CN") == 0)
					return 0;	/* no jitter for them */
				return e->media.map[k].rate;
			}
	if (rtp_static_codec(pt) != NULL)
		snprintf(codec, clen, "%s", rtp_static_codec(pt));
	return pt == 13 ? 0 : rtp_static_rate(pt);
}

static struct endpoint *
ep_find(struct voip *V, uint8_t fam, const uint8_t *addr, uint16_t port, struct endpoint **more,
    size_t nmore, size_t *nfound)
{
	struct endpoint *e, *first = NULL;
	size_t n = 0;

	LIST_FOREACH(e, &V->eb[h_ep(V, fam, addr, port)], h)
		if (e->port == port && e->family == fam && memcmp(e->addr, addr, 16) == 0) {
			/* the one an SDP described last says what the media are */
			if (first == NULL || e->updated_ns > first->updated_ns)
				first = e;
			if (n < nmore)
				more[n] = e;
			n++;
		}
	*nfound = n < nmore ? n : nmore;
	return first;
}

static void
stream_done(struct voip *V, struct stream *s, const struct an_ctx *x)
{
	(void)x;
	LIST_REMOVE(s, h);
	TAILQ_REMOVE(&V->streams, s, q);
	V->nstreams--;
	if (s->cand)
		TAILQ_REMOVE(&V->cand, s, cq);
	else if (!s->rtcp) {
		double j = s->st.max_jitter_ms;
		int b = j < 1 ? 0 : j < 5 ? 1 : j < 10 ? 2 : j < 20 ? 3 : j < 50 ? 4 : j < 100 ? 5 :
		    j < 200 ? 6 : 7;
		V->jitter_hist[b]++;
		if (rtp_lost(&s->st) > 0)
			V->rtp_lost_total += (uint64_t)rtp_lost(&s->st);
	}
	free(s);
}

static struct stream *
stream_get(struct voip *V, const struct decoded *d, uint32_t ssrc, bool rtcp, uint64_t ts)
{
	size_t h = h_stream(V, d->family, d->src, d->sport, d->dst, d->dport, ssrc);
	struct stream *s;

	LIST_FOREACH(s, &V->sb[h], h)
		if (s->ssrc == ssrc && s->sport == d->sport && s->dport == d->dport &&
		    s->family == d->family && s->rtcp == rtcp && memcmp(s->src, d->src, 16) == 0 &&
		    memcmp(s->dst, d->dst, 16) == 0)
			return s;
	if (V->nstreams >= (size_t)V->c->voip_max_streams) {
		V->streams_full++;
		return NULL;
	}
	s = xcalloc(1, sizeof(*s));
	s->family = d->family;
	memcpy(s->src, d->src, 16);
	memcpy(s->dst, d->dst, 16);
	s->sport = d->sport;
	s->dport = d->dport;
	s->ssrc = ssrc;
	s->rtcp = rtcp;
	s->first_ns = ts;
	LIST_INSERT_HEAD(&V->sb[h], s, h);
	TAILQ_INSERT_TAIL(&V->streams, s, q);
	V->nstreams++;
	return s;
}

static void
stream_link(struct voip *V, struct stream *s, struct call *c)
{
	int free_slot = -1;

	for (int k = 0; k < STREAM_MAX_CALLS; k++) {
		if (s->calls[k] == c)
			return;
		if (s->calls[k] == NULL && free_slot < 0)
			free_slot = k;
	}
	if (free_slot < 0 || c->nstreams >= CALL_MAX_STREAMS) {
		/* a call with more streams than it lists, or a stream in more
		 * calls: counted and said in the summary, not lost unseen */
		if (!s->link_lost) {
			s->link_lost = true;
			V->links_full++;
		}
		return;
	}
	s->calls[free_slot] = c;
	c->streams[c->nstreams++] = s;
}

/* The payload types a stream carried (its payload_type: the most frequent). */
static void
pt_tally(struct stream *s, uint8_t pt)
{
	int slot = -1;

	for (int k = 0; k < 4 && slot < 0; k++)
		if (s->pt_count[k] > 0 && s->pt_seen[k] == pt)
			slot = k;
	for (int k = 0; k < 4 && slot < 0; k++)
		if (s->pt_count[k] == 0) {
			slot = k;
			s->pt_seen[k] = pt;
		}
	if (slot >= 0)
		s->pt_count[slot]++;
}

/* The datagram being read is media of these endpoints' calls. */
static void
tag_calls(const struct an_ctx *x, struct endpoint *const *eps, size_t n)
{
	for (size_t k = 0; k < n; k++)
		if (eps[k]->call->rec_open)
			an_tag(x, eps[k]->call->num);
}

/* A datagram to or from an expected endpoint: RTP or RTCP of its calls. */
static bool
media(struct voip *V, const struct decoded *d, const struct an_ctx *x, uint64_t ts)
{
	struct endpoint *eps[STREAM_MAX_CALLS], *e;
	size_t n;
	struct rtp_hdr rh;
	uint32_t ssrc;
	bool is_rtcp;
	struct stream *s;

	{
		/* Whose media: the calls whose SDP named both ends of the flow;
		 * else those that named its destination; else its source.  (An
		 * answerer that takes every call on one port, a B2BUA, is in
		 * several calls: the other end tells them apart.) */
		struct endpoint *de[STREAM_MAX_CALLS], *se[STREAM_MAX_CALLS], *ed, *es;
		size_t nd, ns;
		ed = ep_find(V, d->family, d->dst, d->dport, de, STREAM_MAX_CALLS, &nd);
		es = ep_find(V, d->family, d->src, d->sport, se, STREAM_MAX_CALLS, &ns);
		n = 0;
		e = NULL;
		for (size_t i = 0; i < nd; i++)
			for (size_t j = 0; j < ns; j++)
				if (de[i]->call == se[j]->call) {
					if (e == NULL || de[i]->updated_ns > e->updated_ns)
						e = de[i];
					eps[n++] = de[i];
					break;
				}
		if (n == 0 && ed != NULL) {
			memcpy(eps, de, nd * sizeof(*eps));
			n = nd;
			e = ed;
		} else if (n == 0 && es != NULL) {
			memcpy(eps, se, ns * sizeof(*eps));
			n = ns;
			e = es;
		}
	}
	if (e == NULL)
		return false;
	if (!e->media.rtp) {
		/* media that are not RTP (T.38 over UDPTL after a re-INVITE) */
		V->media_other++;
		tag_calls(x, eps, n);
		return true;
	}
	is_rtcp = rtcp_parse(d->payload, d->payload_len, &ssrc);
	if (!is_rtcp && !rtp_parse(d->payload, d->payload_len, &rh))
		return false;

	if (is_rtcp) {
		struct rtcp_block b[8];
		unsigned nb = rtcp_blocks(d->payload, d->payload_len, b, 8);
		V->rtcp_packets++;
		/* the reports go to the streams they describe: a call's stream
		 * with that SSRC */
		for (unsigned k = 0; k < nb; k++)
			for (size_t i = 0; i < n; i++) {
				struct call *c = eps[i]->call;
				for (unsigned j = 0; j < c->nstreams; j++) {
					struct stream *t = c->streams[j];
					if (t != NULL && !t->rtcp && t->ssrc == b[k].ssrc) {
						t->rr_reports++;
						t->rr_lost = b[k].lost;
						t->rr_jitter = b[k].jitter;
					}
				}
			}
		/* to a HEP collector: the report as Homer's JSON, with the Call-ID
		 * of the (first targeted) call it is the media of */
		for (size_t i = 0; i < n && fan_message_wanted(V->R); i++) {
			const struct call *c = eps[i]->call;
			if (!c->targeted)
				continue;
			struct json_object *j = rtcp_homer_json(d->payload, d->payload_len);
			size_t jl;
			const char *js = json_object_to_json_string_length(j, JSON_C_TO_STRING_PLAIN, &jl);
			msg_out(V, x, &(struct msgsrc){ d, 0, d->payload, d->payload_len }, c,
			    (struct str){ c->id, strlen(c->id) }, MSGK_RTCP_JSON, js, jl);
			json_object_put(j);
			break;
		}
		if ((s = stream_get(V, d, ssrc, true, ts)) == NULL)
			return true;
		s->rtcp_packets++;
	} else {
		V->rtp_packets++;
		if ((s = stream_get(V, d, rh.ssrc, false, ts)) == NULL)
			return true;
		if (s->cand) {
			/* an SDP named it after all */
			s->cand = false;
			TAILQ_REMOVE(&V->cand, s, cq);
		}
		if (s->st.received == 0)
			s->rate = rate_for(e, rh.pt, s->codec, sizeof(s->codec));
		pt_tally(s, rh.pt);
		{
			char codec[24];
			uint32_t r = rate_for(e, rh.pt, codec, sizeof(codec));
			/* jitter in the stream's main clock; other types (DTMF, CN) none */
			rtp_update(&s->st, &rh, ts, r != 0 && r == s->rate ? r : 0);
		}
		s->bytes += d->payload_len;
	}
	s->last_ns = ts;
	tag_calls(x, eps, n);
	for (size_t k = 0; k < n; k++) {
		struct call *c = eps[k]->call;
		stream_link(V, s, c);
		/* media keep a call alive (its SIP is quiet while it lasts) */
		if (c->active_ns < ts) {
			c->active_ns = ts;
			call_touch(V, c, list_of(V, c));
		}
	}
	if (!is_rtcp && s->st.received == 1) {
		for (size_t k = 0; k < n; k++)
			if (eps[k]->call->targeted) {
				struct json_object *o = stream_obj(s);
				json_object_object_add(o, "call_id", json_object_new_string(eps[k]->call->id));
				an_event(x, "rtp", "rtp_stream_new", o);
				break;
			}
	}
	return true;
}

/* ---------------- the analyser ---------------- */

static bool
sip_port(const struct voip *V, uint16_t p)
{
	for (size_t k = 0; k < V->c->sip_ports.n; k++)
		if (V->c->sip_ports.v[k] == p)
			return true;
	return false;
}

static void *
v_init(struct reasm *R)
{
	struct voip *V = xcalloc(1, sizeof(*V));

	V->R = R;
	V->c = R->conf;
	V->jsonl = -1;
	sipkey_random(&V->key);
	V->nb = 1u << 16;
	V->cb = xcalloc(V->nb, sizeof(*V->cb));
	V->eb = xcalloc(V->nb, sizeof(*V->eb));
	V->sb = xcalloc(V->nb, sizeof(*V->sb));
	TAILQ_INIT(&V->calls);
	TAILQ_INIT(&V->ending);
	TAILQ_INIT(&V->expiring);
	TAILQ_INIT(&V->dormant);
	TAILQ_INIT(&V->streams);
	TAILQ_INIT(&V->cand);
	return V;
}

static bool
v_match_port(void *eng, uint8_t proto, uint16_t sport, uint16_t dport)
{
	struct voip *V = eng;

	return proto == 6 && (sip_port(V, sport) || sip_port(V, dport));
}

/* (voip.detect) a TCP session on another port whose first bytes are a SIP
 * request line (ending in SIP/2.0) or status line, or a WebSocket upgrade
 * that asks for protocol sip. */
static int
v_match_content(void *eng, int dir, const uint8_t *p, size_t n)
{
	struct voip *V = eng;
	const uint8_t *e;

	(void)dir;
	if (!V->c->voip_detect)
		return AN_NO;
	if (n >= 4 && memcmp(p, "GET ", 4) == 0) {
		/* SIP over WebSocket (RFC 7118): the upgrade asks for protocol sip */
		static const char h[] = "sec-websocket-protocol:";
		for (size_t i = 0; i + sizeof(h) + 3 < n && i < 4096; i++)
			if ((i == 0 || p[i - 1] == '\n') && strncasecmp((const char *)p + i, h, sizeof(h) - 1) == 0) {
				size_t k = i + sizeof(h) - 1;
				while (k < n && p[k] == ' ')
					k++;
				return k + 3 <= n && strncasecmp((const char *)p + k, "sip", 3) == 0 ? AN_YES : AN_NO;
			}
		return AN_NO;
	}
	if (!sip_start_line(p, n))
		return AN_NO;
	if (n >= 12 && memcmp(p, "SIP/2.0 ", 8) == 0 && p[11] == ' ')
		return AN_YES;
	e = memchr(p, '\n', n < 1024 ? n : 1024);
	return e != NULL && e - p >= 9 && memcmp(e - 9, " SIP/2.0\r", 9) == 0 ? AN_YES : AN_NO;
}

static void *
v_open(void *eng, const struct an_ctx *x)
{
	(void)eng;
	(void)x;
	return xcalloc(1, sizeof(struct sipflow));
}

/* Frames the messages in a TCP direction's buffer. */
static void
frame_stream(struct voip *V, struct sipflow *f, int dir, const struct an_ctx *x)
{
	size_t off = 0, max = (size_t)V->c->voip_max_message_bytes;
	uint8_t *b = f->d[dir].buf;
	size_t len = f->d[dir].len;
	uint64_t boff = f->d[dir].end - len;	/* stream offset of b[0] */

	while (off < len) {
		struct sip_msg m;
		enum sip_res r;
		/* CRLF keep-alives (RFC 5626) */
		if (b[off] == '\r' || b[off] == '\n') {
			off++;
			continue;
		}
		if (f->d[dir].resync) {
			/* the next start line at a line's beginning */
			size_t k;
			bool found = false;
			for (k = off; k < len; k++)
				if ((k == off || b[k - 1] == '\n') && sip_start_line(b + k, len - k)) {
					found = true;
					break;
				}
			if (!found) {
				/* keep the last partial line: a start line may be in it
				 * (not when it holds a byte no start line has: then its
				 * frames need not wait for the next segment) */
				size_t keep = 0;
				while (keep < len - off && keep < 64 && b[len - 1 - keep] != '\n')
					keep++;
				for (size_t i = len - keep; i < len && keep > 0; i++)
					if ((b[i] < 0x20 && !(b[i] == '\r' && i == len - 1)) || b[i] > 0x7e)
						keep = 0;
				off = len - keep;
				break;
			}
			off = k;
			f->d[dir].resync = false;
		}
		r = sip_parse(b + off, len - off, true, &m);
		if (r == SIP_MORE && m.len > max) {
			/* its head says it is larger than voip.max_message_bytes:
			 * skipped to its end, the next message read as usual */
			V->sip_too_big++;
			f->d[dir].skip = m.len - (len - off);
			off = len;
			break;
		}
		if (r == SIP_MORE) {
			if (len - off > max) {
				/* larger than voip.max_message_bytes: skipped */
				V->sip_too_big++;
				f->d[dir].resync = true;
				off++;
				continue;
			}
			break;
		}
		if (r == SIP_BAD) {
			V->sip_bad++;
			V->sip_resyncs++;
			f->d[dir].resync = true;
			off++;
			continue;
		}
		if (m.len > max)
			V->sip_too_big++;
		else
			sip_message(V, &m, x, x->now_ns, &(struct msgsrc){ NULL, dir, b + off, m.len });
		/* the frames that carried it go out with its call */
		an_mark(x, dir, boff + off, boff + off + m.len);
		off += m.len;
	}
	if (off > 0) {
		memmove(b, b + off, len - off);
		f->d[dir].len = len - off;
	}
}

static uint64_t
be(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int k = 0; k < n; k++)
		v = v << 8 | p[k];
	return v;
}

/* One WebSocket message's payload: a SIP message (RFC 7118: one in each). */
static void
ws_message(struct voip *V, struct sipflow *f, int dir, const struct an_ctx *x, uint64_t end)
{
	struct sip_msg m;

	if (f->d[dir].mlen == 0)
		return;
	if (sip_parse(f->d[dir].msg, f->d[dir].mlen, false, &m) == SIP_OK)
		sip_message(V, &m, x, x->now_ns, &(struct msgsrc){ NULL, dir, f->d[dir].msg, m.len });
	else if (f->d[dir].mlen > 4)
		V->sip_bad++;		/* (a CRLF keep-alive is not counted) */
	/* its frames, from the first WebSocket frame's to the last's */
	an_mark(x, dir, f->d[dir].mstart, end);
	f->d[dir].mlen = 0;
}

/* The frames in a direction's buffer (RFC 6455 section 5): data frames'
 * payloads unmasked and assembled into messages; control frames passed. */
static void
frame_ws(struct voip *V, struct sipflow *f, int dir, const struct an_ctx *x)
{
	size_t off = 0, max = (size_t)V->c->voip_max_message_bytes;
	uint8_t *b = f->d[dir].buf;
	size_t len = f->d[dir].len;
	uint64_t boff = f->d[dir].end - len;	/* stream offset of b[0] */

	if (f->d[dir].ws_lost) {
		f->d[dir].len = 0;
		return;
	}
	if (f->d[dir].ws_head) {
		/* the handshake: an HTTP head, request or 101 response */
		const uint8_t *e = memmem(b, len, "\r\n\r\n", 4);
		if (e == NULL) {
			if (len > 16384) {
				f->d[dir].ws_lost = true;	/* not a handshake after all */
				f->d[dir].len = 0;
			}
			return;
		}
		off = (size_t)(e - b) + 4;
		f->d[dir].ws_head = false;
	}
	while (len - off >= 2) {
		size_t hl = 2;
		uint64_t pl = b[off + 1] & 0x7f;
		uint8_t op = b[off] & 0x0f, mask[4] = { 0, 0, 0, 0 };
		bool masked = (b[off + 1] & 0x80) != 0, fin = (b[off] & 0x80) != 0;
		if (pl == 126) {
			if (len - off < 4)
				break;
			pl = be(b + off + 2, 2);
			hl += 2;
		} else if (pl == 127) {
			if (len - off < 10)
				break;
			pl = be(b + off + 2, 8);
			hl += 8;
		}
		if (masked) {
			if (len - off < hl + 4)
				break;
			memcpy(mask, b + off + hl, 4);
			hl += 4;
		}
		if (pl > max || (op <= 2 && f->d[dir].mlen + pl > max)) {
			/* over voip.max_message_bytes: skipped to its end */
			V->sip_too_big++;
			f->d[dir].mlen = 0;
			if (len - off >= hl + pl) {
				off += hl + (size_t)pl;
				continue;
			}
			f->d[dir].skip = hl + pl - (len - off);
			off = len;
			break;
		}
		if (len - off < hl + pl)
			break;
		if (op <= 2) {
			/* continuation, text or binary: the message goes on */
			if (f->d[dir].mlen == 0)
				f->d[dir].mstart = boff + off;
			size_t need = f->d[dir].mlen + (size_t)pl;
			if (need > f->d[dir].mcap) {
				size_t cap = f->d[dir].mcap ? f->d[dir].mcap : 1024;
				while (cap < need)
					cap *= 2;
				if (V->buf_bytes + (cap - f->d[dir].mcap) > SIP_BUF_TOTAL) {
					V->buf_full++;
					f->d[dir].mlen = 0;
					off += hl + (size_t)pl;
					continue;
				}
				V->buf_bytes += cap - f->d[dir].mcap;
				f->d[dir].msg = xrealloc(f->d[dir].msg, cap);
				f->d[dir].mcap = cap;
			}
			for (size_t k = 0; k < pl; k++)
				f->d[dir].msg[f->d[dir].mlen + k] = b[off + hl + k] ^ mask[k % 4];
			f->d[dir].mlen = need;
			if (fin)
				ws_message(V, f, dir, x, boff + off + hl + (size_t)pl);
		}
		off += hl + (size_t)pl;
	}
	if (off > 0) {
		memmove(b, b + off, len - off);
		f->d[dir].len = len - off;
	}
}

static int
v_data(void *eng, void *flow, const struct an_ctx *x, int dir, uint64_t off, const uint8_t *p,
    size_t n)
{
	struct voip *V = eng;
	struct sipflow *f = flow;
	size_t max = (size_t)V->c->voip_max_message_bytes + 4096;

	f->d[dir].end = off;
	if (!f->decided) {
		/* a WebSocket handshake opens it (RFC 7118: SIP over WebSocket) */
		f->decided = true;
		if (n >= 4 && memcmp(p, "GET ", 4) == 0) {
			f->ws = true;
			f->d[0].ws_head = f->d[1].ws_head = true;
		}
	}
	while (n > 0) {
		size_t room, take;
		if (f->d[dir].skip > 0) {
			/* the rest of a message too big to keep */
			size_t k = f->d[dir].skip < n ? (size_t)f->d[dir].skip : n;
			f->d[dir].skip -= k;
			f->d[dir].end += k;
			p += k;
			n -= k;
			if (n == 0)
				break;
		}
		if (f->d[dir].cap < max && f->d[dir].len + n > f->d[dir].cap) {
			size_t cap = f->d[dir].cap ? f->d[dir].cap : 4096;
			while (cap < f->d[dir].len + n && cap < max)
				cap *= 2;
			if (cap > max)
				cap = max;
			if (V->buf_bytes + (cap - f->d[dir].cap) > SIP_BUF_TOTAL) {
				/* every session's partial messages together are bounded */
				V->buf_full++;
				f->d[dir].len = 0;
				f->d[dir].resync = true;
				f->d[dir].end += n;
				break;
			}
			V->buf_bytes += cap - f->d[dir].cap;
			f->d[dir].buf = xrealloc(f->d[dir].buf, cap);
			f->d[dir].cap = cap;
		}
		room = f->d[dir].cap - f->d[dir].len;
		take = n < room ? n : room;
		memcpy(f->d[dir].buf + f->d[dir].len, p, take);
		f->d[dir].len += take;
		f->d[dir].end += take;
		p += take;
		n -= take;
		if (f->ws)
			frame_ws(V, f, dir, x);
		else
			frame_stream(V, f, dir, x);
		if (take == 0 && f->d[dir].len == f->d[dir].cap) {
			/* full and nothing framed: skip it */
			V->sip_too_big++;
			f->d[dir].len = 0;
			f->d[dir].resync = true;
		}
	}
	/* read up to what waits in the buffer (a message not complete yet,
	 * over WebSocket from its first frame on): frames before go out */
	{
		uint64_t upto = f->d[dir].end - f->d[dir].len;
		if (f->ws && f->d[dir].mlen > 0 && f->d[dir].mstart < upto)
			upto = f->d[dir].mstart;
		an_mark(x, dir, upto, upto);
	}
	return AN_KEEP;
}

static void
v_gap(void *eng, void *flow, const struct an_ctx *x, int dir, uint64_t off, uint64_t len)
{
	struct voip *V = eng;
	struct sipflow *f = flow;

	/* what was partial is lost: the next start line begins again (over
	 * WebSocket the frames' boundaries are lost: the rest is not read) */
	f->d[dir].len = 0;
	f->d[dir].skip = 0;
	f->d[dir].resync = true;
	f->d[dir].mlen = 0;
	if (f->ws)
		f->d[dir].ws_lost = true;
	V->sip_resyncs++;
	f->d[dir].end = off + len;
	an_mark(x, dir, off + len, off + len);	/* its frames wait for nothing */
}

static void
v_close(void *eng, void *flow, const struct an_ctx *x, unsigned reason)
{
	struct voip *V = eng;
	struct sipflow *f = flow;

	(void)x;
	(void)reason;
	if (f == NULL)
		return;
	for (int d = 0; d < 2; d++) {
		V->buf_bytes -= f->d[d].cap + f->d[d].mcap;
		free(f->d[d].buf);
		free(f->d[d].msg);
	}
	free(f);
}

/* RTP without signalling (`rtp-only`): a version-2 header with an RTP
 * payload type (not RTCP's), between ports above 1023, whose sequence
 * numbers go up by one on the flow and SSRC: three in a row make it a
 * stream.  Until then it is a candidate, forgotten after RTP_GUESS_NS. */
#define RTP_GUESS_NS (2 * 1000000000ull)

static bool
rtp_guess(struct voip *V, const struct decoded *d, uint64_t ts)
{
	struct rtp_hdr rh;
	struct stream *s;
	bool fresh;

	if (d->sport < 1024 || d->dport < 1024 || !rtp_parse(d->payload, d->payload_len, &rh))
		return false;
	/* candidates that did not make it in time go first (bounded work: the
	 * list is by first packet) */
	while ((s = TAILQ_FIRST(&V->cand)) != NULL && s->first_ns + RTP_GUESS_NS < ts)
		stream_done(V, s, NULL);
	if ((s = stream_get(V, d, rh.ssrc, false, ts)) == NULL)
		return false;
	fresh = s->st.received == 0;
	if (fresh) {
		s->cand = true;
		TAILQ_INSERT_TAIL(&V->cand, s, cq);
		s->rate = rate_for(NULL, rh.pt, s->codec, sizeof(s->codec));
	}
	pt_tally(s, rh.pt);
	rtp_update(&s->st, &rh, ts, rtp_static_rate(rh.pt) == s->rate ? s->rate : 0);
	s->bytes += d->payload_len;
	s->last_ns = ts;
	if (s->cand && s->st.in_sequence >= 2) {
		s->cand = false;
		TAILQ_REMOVE(&V->cand, s, cq);
	}
	if (!s->cand)
		V->rtp_only_packets++;
	return true;
}

static bool
v_datagram(void *eng, const struct an_ctx *x, const struct decoded *d)
{
	struct voip *V = eng;
	uint64_t ts = x->now_ns;

	if (sip_port(V, d->sport) || sip_port(V, d->dport) ||
	    (V->c->voip_detect && sip_start_line(d->payload, d->payload_len))) {
		struct sip_msg m;
		/* keep-alives: CRLF (RFC 5626), or a few bytes of a phone's own */
		if (d->payload_len < 16 && !sip_start_line(d->payload, d->payload_len)) {
			V->keepalives++;
			return true;
		}
		if (sip_parse(d->payload, d->payload_len, false, &m) == SIP_OK) {
			sip_message(V, &m, x, ts, &(struct msgsrc){ d, 0, d->payload, d->payload_len });
			return true;
		}
		if (sip_port(V, d->sport) || sip_port(V, d->dport)) {
			V->sip_bad++;
			return true;
		}
	}
	if (V->c->voip_rtp && media(V, d, x, ts))
		return true;
	if (V->c->voip_rtp && rtp_guess(V, d, ts))
		return true;
	V->rtp_unmatched++;
	return false;
}

/* Calls whose BYE is media_grace_sec old (no media since) are written;
 * registrations past their expiry and calls idle for call_idle_sec are
 * written and kept dormant.  Each list is in the order its calls fall due:
 * each walk stops at its first call not due. */
static void
sweep(struct voip *V, const struct an_ctx *x, bool all)
{
	uint64_t now = x->now_ns, grace = (uint64_t)(V->c->voip_media_grace_sec * 1e9),
	    idle = (uint64_t)V->c->voip_call_idle_sec * 1000000000ull;
	struct call *c;

	while ((c = TAILQ_FIRST(&V->ending)) != NULL && (all || c->active_ns + grace <= now))
		call_write(V, c, x, c->end_reason);
	while ((c = TAILQ_FIRST(&V->expiring)) != NULL && (all || c->reg_expires_ns <= now)) {
		if (all)
			call_write(V, c, x, "eof");
		else
			call_sleep(V, c, x, "expired");
	}
	while ((c = TAILQ_FIRST(&V->calls)) != NULL && (all || c->active_ns + idle <= now)) {
		if (all)
			call_write(V, c, x, "eof");
		else
			call_sleep(V, c, x, "timeout");
	}
}

static void
v_tick(void *eng, const struct an_ctx *x)
{
	sweep(eng, x, false);
}

static void
rtp_only(struct voip *V, const struct an_ctx *x)
{
	struct json_object *o = NULL, *a = NULL;
	struct stream *s;
	uint64_t pk = 0;
	int64_t lost = 0;
	unsigned n = 0;

	TAILQ_FOREACH(s, &V->streams, q) {
		struct json_object *so;
		if (s->rtcp || s->cand)
			continue;
		/* its own summary too, as a call's streams get: a sensor that
		 * sees the RTP but not the SIP says what it saw */
		if (!has_patterns(V)) {	/* (with --sipuser it is nobody's call we want) */
			so = stream_obj(s);
			json_object_object_add(so, "call_id", NULL);
			an_event(x, "rtp", "rtp_stream_summary", so);
		}
		if (o == NULL) {
			o = json_object_new_object();
			a = json_object_new_array();
		}
		json_object_array_add(a, stream_obj(s));
		pk += s->st.received;
		lost += rtp_lost(&s->st);
		n++;
	}
	if (o == NULL)
		return;
	json_object_object_add(o, "call_id", NULL);
	json_object_object_add(o, "state", json_object_new_string("rtp-only"));
	json_object_object_add(o, "rtp_streams", a);
	if (!has_patterns(V)) {
		out_line(V, o);
		table_row(V, NULL, ST_RTP_ONLY, n, lost, pk);
	}
	json_object_put(o);
}

/* The end of the input: every call is written, then RTP without one. */
static void
v_finish(void *eng, const struct an_ctx *x)
{
	struct voip *V = eng;

	sweep(V, x, true);
	while (!TAILQ_EMPTY(&V->dormant)) {
		struct call *c = TAILQ_FIRST(&V->dormant);
		LIST_REMOVE(c, h);
		TAILQ_REMOVE(&V->dormant, c, q);
		V->ncalls--;
		free(c);
	}
	rtp_only(V, x);
	out_open(V);		/* -o has calls.jsonl, empty when there were none */
	while (!TAILQ_EMPTY(&V->streams))
		stream_done(V, TAILQ_FIRST(&V->streams), x);
	if (V->jsonl >= 0) {
		if (V->jsonl != V->R->out.calls_fd)	/* (that one is files.c's) */
			close(V->jsonl);
		V->jsonl = -1;
	}
}

static void
v_summary(void *eng, FILE *f)
{
	struct voip *V = eng;

	fprintf(f, "reasmd: voip: %" PRIu64 " SIP messages (%" PRIu64 " keep-alives, %" PRIu64
	    " not SIP, %" PRIu64 " over voip.max_message_bytes, %" PRIu64 " resyncs), %" PRIu64
	    " calls written (%" PRIu64 " other dialogs), %" PRIu64 " RTP packets, %" PRIu64
	    " RTCP, %" PRIu64 " other media (not RTP), %" PRIu64 " RTP without signalling, calls_full %" PRIu64 ", streams_full %"
	    PRIu64 ", endpoints_full %" PRIu64 "\n", V->sip_msgs, V->keepalives, V->sip_bad,
	    V->sip_too_big, V->sip_resyncs, V->calls_written, V->dialogs_other, V->rtp_packets,
	    V->rtcp_packets, V->media_other, V->rtp_only_packets, V->calls_full, V->streams_full,
	    V->eps_full);
	if (V->links_full > 0)
		fprintf(f, "reasmd: voip: %" PRIu64 " streams not listed with a call of theirs (over %d "
		    "streams in a call, or %d calls to a stream)\n", V->links_full, CALL_MAX_STREAMS,
		    STREAM_MAX_CALLS);
	if (V->table_rows > 0) {
		fprintf(f, "reasmd: calls (start, from, to, state, streams, packets, lost, Call-ID):\n");
		fputs(V->table, f);
		if (V->table_more > 0)
			fprintf(f, "  ... and %zu more (every one is in calls.jsonl)\n", V->table_more);
	}
}

/* eng NULL: the analyser is not enabled; its rows are there, at 0. */
static void
v_counters(void *eng, struct ctr_enc *e)
{
	static const struct voip zero;
	static const char *const le[8] = { "1", "5", "10", "20", "50", "100", "200", "+Inf" };
	const struct voip *V = eng ? eng : &zero;

	ctr_set(e, CTR_R_VOIP_SIP_MESSAGES, V->sip_msgs);
	ctr_set(e, CTR_R_VOIP_SIP_BAD, V->sip_bad);
	ctr_set(e, CTR_R_VOIP_SIP_TOO_BIG, V->sip_too_big);
	ctr_set(e, CTR_R_VOIP_CALLS_OPEN, V->ncalls);
	ctr_set(e, CTR_R_VOIP_CALLS_FULL, V->calls_full);
	ctr_set(e, CTR_R_VOIP_STREAMS_FULL, V->streams_full);
	ctr_set(e, CTR_R_VOIP_ENDPOINTS_FULL, V->eps_full);
	ctr_set(e, CTR_R_VOIP_RTP_PACKETS, V->rtp_packets);
	ctr_set(e, CTR_R_VOIP_RTP_LOST, V->rtp_lost_total);
	for (int k = 0; k < 6; k++)
		ctr_set_label(e, CTR_R_VOIP_CALLS, state_names[k], V->by_state[k]);
	/* cumulative, as a Prometheus histogram's buckets: streams whose
	 * maximum jitter was at most le milliseconds */
	{
		uint64_t cum = 0;
		for (int k = 0; k < 8; k++) {
			cum += V->jitter_hist[k];
			ctr_set_label(e, CTR_R_VOIP_JITTER, le[k], cum);
		}
	}
}

static void
v_free(void *eng)
{
	struct voip *V = eng;

	for (int k = 0; k < 3; k++) {
		struct callq *l = k == 0 ? &V->calls : k == 1 ? &V->ending : &V->expiring;
		while (!TAILQ_EMPTY(l)) {
			struct call *c = TAILQ_FIRST(l);
			while (!LIST_EMPTY(&c->eps))
				ep_free(V, LIST_FIRST(&c->eps));
			TAILQ_REMOVE(l, c, q);
			free(c);
		}
	}
	while (!TAILQ_EMPTY(&V->dormant)) {
		struct call *c = TAILQ_FIRST(&V->dormant);
		TAILQ_REMOVE(&V->dormant, c, q);
		free(c);
	}
	while (!TAILQ_EMPTY(&V->streams)) {
		struct stream *s = TAILQ_FIRST(&V->streams);
		TAILQ_REMOVE(&V->streams, s, q);
		free(s);
	}
	if (V->jsonl >= 0 && V->jsonl != V->R->out.calls_fd)
		close(V->jsonl);
	free(V->table);
	free(V->cb);
	free(V->eb);
	free(V->sb);
	free(V);
}

const struct analyser an_voip = {
	.name = "voip",
	.init = v_init,
	.free = v_free,
	.match_port = v_match_port,
	.match_content = v_match_content,
	.content_first = true,
	.open = v_open,
	.data = v_data,
	.gap = v_gap,
	.close = v_close,
	.datagram = v_datagram,
	.tick = v_tick,
	.finish = v_finish,
	.summary = v_summary,
	.counters = v_counters,
	.counters_when_off = true,
	.tags_frames = true,
};
