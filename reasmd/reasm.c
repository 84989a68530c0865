/*
 * reasm.c — the engine: a frame is decoded, its fragments reassembled,
 * and the datagram handed to TCP (tcp.c) or UDP (udp.c).  Capture time
 * drives the timers (reasm_tick).
 *
 * The session hub: what tcp.c makes of a session (open, data, gap, half
 * close, note, close, its frames) goes from here to the outputs (fanout.c
 * for -w and the sinks, files.c for -o, events.c for JSON events) and to
 * the protocol analysers (analyser.c) beside them.  The order matters
 * where one output follows another: an analyser's events about a session
 * come before its close, the -o files before its sessions.jsonl line.
 *
 * tcp.c calls the hub and this file calls tcp.c: they are one layer, the
 * engine and its TCP part (as sinkd's core.c and its families), and the
 * hub is the only way a session's news leaves it.  The peers do not call
 * back into the engine's outputs: sinks.c says who connected through a
 * callback and who lost a record through a return value.
 */
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>

#include "analyser.h"
#include "counters.h"
#include "ctlc.h"
#include "log.h"
#include "recio.h"
#include "reasmd.h"
#include "util.h"

/* Housekeeping (flush, idle sessions, fragments) runs this often. */
#define TICK_NS REASM_TICK_NS

static const char *const dir_names[2] = { "requests", "responses" };

int
reasm_init(struct reasm *R, const struct conf *c, unsigned gen, unsigned shard,
    char *err, size_t errlen)
{
	memset(R, 0, sizeof(*R));
	R->conf = c;
	R->gen = gen;
	R->shard = shard;
	R->out.dirfd = -1;
	R->out.calls_fd = -1;
	R->out.linktype = -1;
	R->tcp_due = UINT64_MAX;
	R->tcp = tcp_new(c);
	R->frags = frag_new(c);
	R->hold = hold_new(c);
	if ((R->an = an_new(R, &c->analysers, err, errlen)) == NULL) {
		tcp_free(R);
		frag_free(R->frags);
		R->frags = NULL;
		hold_free(R);
		return -1;
	}
	return 0;
}

void
reasm_due(struct reasm *R)
{
	if (R->now_ns >= R->tcp_due)
		tcp_deadlines(R);
	if (R->now_ns - R->last_tick_ns < TICK_NS)
		return;
	R->last_tick_ns = R->now_ns;
	ev_flush(R);
	fan_tick(R);
	tcp_expire(R);
	frag_expire(R, R->now_ns);
	an_tick(R);
	hold_tick(R);
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
		sess_packet(R, NULL, 0, &f);
		return;
	}
	if (r != DEC_OK) {
		static struct log_rl rl;
		R->st.decode_err[r]++;
		log_ratelimited(&rl, 5, 10000, LOG_DEBUG, "packet %llu: %s",
		    (unsigned long long)R->st.packets, decode_res_name(r));
		sess_packet(R, NULL, 0, &f);
		return;
	}
	if (d.is_fragment) {
		R->st.fragments++;
		if (!frag_add(R, &d, &f, &whole, &frs, &nfr))
			return;
		d = whole;
	}
	if (d.proto == 6) {
		bool taken;
		R->st.tcp_packets++;
		taken = tcp_segment(R, &d, frs, nfr);
		hold_settle(R);		/* (frs is valid until here only) */
		if (taken)
			return;
	} else {
		R->st.not_tcp++;
		if (d.proto == 17) {
			udp_datagram(R, &d, frs, nfr);
			return;
		}
	}
	/* Frames no session takes still reach a rolling pcap file. */
	for (size_t k = 0; k < nfr; k++)
		sess_packet(R, NULL, 0, &frs[k]);
}

void
reasm_close_all(struct reasm *R, unsigned reason)
{
	tcp_close_all(R, reason);
}

int
reasm_close_id(struct reasm *R, uint64_t id, unsigned reason)
{
	return tcp_close_id(R, id, reason);
}

void
reasm_interface(struct reasm *R, uint32_t id, int dlt, int snaplen, const char *name)
{
	struct reasm_iface *i;

	if (id >= REASM_IFACES)
		return;
	i = &R->ifs[id];
	i->known = true;
	i->dlt = dlt;
	i->snaplen = snaplen;
	sth_strlcpy(i->name, name, sizeof(i->name));
	if (R->out.linktype < 0) {
		R->out.linktype = dlt;
		R->out.snaplen = snaplen;
	}
	fan_interface(R, id);
}

void
reasm_free(struct reasm *R)
{
	tcp_free(R);
	hold_free(R);
	an_free(R);
	frag_free(R->frags);
	R->frags = NULL;
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
	if (R->out.dir != NULL && (R->out.max_total_bytes || R->out.max_files)) {
		uint64_t rf, rb;
		files_retention(&rf, &rb);
		fprintf(f, "reasmd: -o retention (max_total_bytes %llu, max_files %llu): %llu stream files removed "
		    "(%llu bytes), oldest first\n", (unsigned long long)R->out.max_total_bytes,
		    (unsigned long long)R->out.max_files, (unsigned long long)rf, (unsigned long long)rb);
	}
	if (R->st.half_open_evicted || R->st.tombs_evicted)
		fprintf(f, "reasmd: reasm.max_sessions reached: %llu half-open sessions evicted, %llu closed sessions' "
		    "tombstones freed early, to make room (established sessions are never evicted)\n",
		    (unsigned long long)R->st.half_open_evicted, (unsigned long long)R->st.tombs_evicted);
	if (R->st.closed_by_control_packets)
		fprintf(f, "reasmd: closed_by_control=%llu packets (%llu payload bytes) of flows closed by control, "
		    "not reopened\n", (unsigned long long)R->st.closed_by_control_packets,
		    (unsigned long long)R->st.closed_by_control_bytes);
	if (R->st.w_failed)
		fprintf(f, "reasmd: stream_write_error=%llu record bytes the -w stream could not take\n",
		    (unsigned long long)R->st.w_lost);
	{
		uint64_t eb, el;
		files_errors(&eb, &el);
		if (eb || el)
			fprintf(f, "reasmd: write_error=%llu stream bytes could not be written to the -o files, "
			    "%llu sessions.jsonl lines not whole\n", (unsigned long long)eb, (unsigned long long)el);
	}
	fprintf(f, "reasmd: fragments: %llu packets, %llu datagrams reassembled, %llu overlapping, %llu timed out\n",
	    (unsigned long long)R->st.fragments, (unsigned long long)R->st.frag_datagrams,
	    (unsigned long long)R->st.frag_overlaps, (unsigned long long)R->st.frag_timeouts);
	if (R->tcp)
		fprintf(f, "reasmd: session table: the longest hash chain a lookup walked: %zu\n",
		    tcp_chain_max(R->tcp));
	for (unsigned k = 0; k < DEC_RES_MAX; k++)
		if (R->st.decode_err[k])
			fprintf(f, "reasmd: decode_error.%s=%llu\n", decode_res_name(k),
			    (unsigned long long)R->st.decode_err[k]);
	an_summary(R, f);
	{
		uint64_t fr, full, to, by;
		hold_stats(R->hold, &fr, &full, &to, &by);
		if (fr > 0)
			fprintf(f, "reasmd: voip: %llu SIP-over-TCP frames held for their calls; sent on "
			    "without them: voip_hold_full=%llu, voip_hold_timeout=%llu\n",
			    (unsigned long long)fr, (unsigned long long)full, (unsigned long long)to);
	}
}

void
reasm_counters(const struct reasm *R, struct ctr_enc *e)
{
	const struct reasm_stats *t = &R->st;

	ctr_set(e, CTR_R_PACKETS, t->packets);
	ctr_set(e, CTR_R_TCP_PACKETS, t->tcp_packets);
	ctr_set(e, CTR_R_UDP_PACKETS, t->udp_packets);
	ctr_set(e, CTR_R_UDP_BYTES, t->udp_bytes);
	ctr_set(e, CTR_R_NOT_TCP, t->not_tcp);
	for (unsigned k = 0; k < DEC_RES_MAX; k++)
		if (k != DEC_OK && k != DEC_NOT_IP && k != DEC_NOT_TCP_UDP)
			ctr_set_label(e, CTR_R_DECODE_ERROR, decode_res_name(k), t->decode_err[k]);
	ctr_set(e, CTR_R_FRAGMENTS, t->fragments);
	ctr_set(e, CTR_R_FRAG_DATAGRAMS, t->frag_datagrams);
	ctr_set(e, CTR_R_FRAG_OVERLAPS, t->frag_overlaps);
	ctr_set(e, CTR_R_FRAG_TIMEOUTS, t->frag_timeouts);
	ctr_set(e, CTR_R_FRAG_LIMIT, t->frag_limit_packets);
	ctr_set(e, CTR_R_SESSIONS, t->sessions);
	ctr_set(e, CTR_R_SESSIONS_OPEN, R->tcp ? tcp_sessions_open(R->tcp) : 0);
	for (unsigned k = 1; k < CLOSE_REASON_MAX; k++)
		ctr_set_label(e, CTR_R_CLOSED, wire_close_reason_name(k), t->close_reason[k]);
	ctr_set(e, CTR_R_DELIVERED, t->bytes_delivered);
	ctr_set(e, CTR_R_GAP_BYTES, t->gap_bytes);
	ctr_set(e, CTR_R_GAPS, t->gaps);
	ctr_set(e, CTR_R_RETRANS, t->retrans_bytes);
	ctr_set(e, CTR_R_LATE, t->late_bytes);
	ctr_set(e, CTR_R_LATE_AFTER_GAP, t->late_after_gap_bytes);
	ctr_set(e, CTR_R_TABLE_FULL, t->table_full_packets);
	ctr_set(e, CTR_R_OOO_LIMIT, t->ooo_limit_bytes);
	ctr_set(e, CTR_R_OOO_BUFFERED, R->tcp ? tcp_mem_used(R->tcp) : 0);
	ctr_set(e, CTR_R_CHAIN_MAX, R->tcp ? tcp_chain_max(R->tcp) : 0);
	ctr_set(e, CTR_R_LATE_FRAMES, t->late_packets);
	ctr_set(e, CTR_R_CLOSED_BY_CONTROL, t->closed_by_control_packets);
	ctr_set(e, CTR_R_HALF_OPEN_EVICTED, t->half_open_evicted);
	{
		uint64_t rf, rb;
		files_retention(&rf, &rb);	/* (0 without -o: every counter is always sent) */
		ctr_set(e, CTR_R_FILES_RETENTION, rf);
	}
	ctr_set(e, CTR_R_STREAM_WRITE_ERROR, R->out.w ? recw_lost(R->out.w) : R->st.w_lost);
	{
		uint64_t eb, el;
		files_errors(&eb, &el);		/* (0 without -o) */
		ctr_set(e, CTR_R_WRITE_ERROR, eb);
		ctr_set(e, CTR_R_JSONL_ERROR, el);
	}
	sinks_counters(R->sinks, e);
	an_counters(R, e);
	{
		uint64_t fr, full, to, by;
		hold_stats(R->hold, &fr, &full, &to, &by);
		ctr_set(e, CTR_R_VOIP_HOLD_FRAMES, fr);
		ctr_set(e, CTR_R_VOIP_HOLD_FULL, full);
		ctr_set(e, CTR_R_VOIP_HOLD_TIMEOUT, to);
		ctr_set(e, CTR_R_VOIP_HOLD_BYTES, by);
	}
}

/* ---- the session hub ---- */

void
sess_open(struct reasm *R, struct session *s)
{
	s->holds = an_holds(R, s);
	fan_open(R, s);
	ev_flow(R, s, "session", "tcp_open", NULL);
}

void
sess_segment(struct reasm *R, struct session *s, int dir, const struct frame *fr, size_t nfr,
    uint32_t seq, uint32_t plen)
{
	if (s->holds && !s->closed) {
		hold_segment(R, s, dir, fr, nfr, seq, plen);
		return;
	}
	for (size_t k = 0; k < nfr; k++)
		sess_packet(R, s, dir, &fr[k]);
}

void
sess_data(struct reasm *R, struct session *s, int dir, uint64_t off, const uint8_t *p, size_t n)
{
	if (R->out.dir && !R->out.no_streams)
		files_data(R, s, dir, p, n);
	fan_chunk(R, s, dir, off, p, n);
	an_data(R, s, dir, off, p, n);
}

void
sess_gap(struct reasm *R, struct session *s, int dir, uint64_t off, uint64_t len)
{
	fan_gap(R, s, dir, off, len);
	if (ev_wanted(R)) {
		struct evtext t;
		ev_start(R, &t, s, "session", "tcp_gap");
		evt_str(&t, "direction", dir_names[dir]);
		evt_u64(&t, "offset", off);
		evt_u64(&t, "length", len);
		ev_send(R, &t);
	}
	an_gap(R, s, dir, off, len);
}

void
sess_half_close(struct reasm *R, struct session *s, int dir)
{
	if (ev_wanted(R)) {
		struct evtext t;
		ev_start(R, &t, s, "session", "tcp_half_close");
		evt_str(&t, "direction", dir_names[dir]);
		ev_send(R, &t);
	}
}

void
sess_note(struct reasm *R, struct session *s, int dir, const char *note, uint64_t off, uint64_t len)
{
	if (ev_wanted(R)) {
		struct evtext t;
		ev_start(R, &t, s, "flow", "tcp_note");
		evt_str(&t, "direction", dir_names[dir]);
		evt_str(&t, "note", note);
		evt_u64(&t, "offset", off);
		evt_u64(&t, "length", len);
		ev_send(R, &t);
	}
}

void
sess_close(struct reasm *R, struct session *s, unsigned reason)
{
	bool ev = ev_wanted(R);
	struct evtext t;

	hold_flush(R, s);	/* its frames before its close */
	an_close(R, s, reason);
	fan_close(R, s, reason);
	if (ev) {
		ev_start(R, &t, s, "session", "tcp_close");
		evt_str(&t, "reason", wire_close_reason_name(reason));
		ev_send(R, &t);
	}
	if (R->out.dir)
		files_close(R, s, reason);
	if (ev) {
		ev_start(R, &t, s, "session", "session_summary");
		ev_summary_text(R, s, reason, &t);
		ev_send(R, &t);
	}
}
