/*
 * reasmd.h — the reassembler's engine and its outputs.
 *
 * tcp.c turns decoded TCP segments into per-direction byte streams:
 * sessions in a bounded table, sequence numbers mapped to 64-bit stream
 * offsets (wrap-around safe), out-of-order segments buffered up to
 * reasm.ooo_bytes_per_dir and reasm.memcap.  A hole becomes a gap only
 * when it is clear its bytes will not come (DESIGN.md section 4): an ACK
 * covered it gap_grace_ms of capture time ago, nothing has filled it
 * ooo_timeout_ms after the first segment beyond it, a limit forces it, or
 * the session ends.  It calls the output hooks (output.c) for each open,
 * chunk, gap and close.
 */
#ifndef REASMD_H
#define REASMD_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "conf.h"
#include "decode.h"
#include "wire.h"

struct seg;

/* What a direction keeps only once the capture strays from the plain
 * order (a hole, data beyond it, an ACK before the bytes or the SYN it
 * acknowledges): allocated then, so that a quiet session stays small. */
struct rhole {
	struct seg *ooo;		/* sorted by offset, non-overlapping */
	uint64_t ooo_bytes;
	uint64_t ooo_since;		/* capture time the first segment beyond the
					 * hole at `next` was buffered */
	/* ACK milestones beyond `next`: the earliest still pending (the hole
	 * at `next` became covered at cover_ns) and the latest advance. */
	uint64_t cover_off, cover_ns, cover2_off, cover2_ns;
	uint64_t ack_raw_ns;
	uint32_t ack_raw;		/* an ACK for this side before its base... */
	uint32_t synack_ack;		/* the other side's SYN-ACK: ISN + 1 (+ SYN data) */
	bool ack_raw_set;		/* ...applied once the base is known */
	bool synack_set;
};

struct rdir {
	bool have_base, fin_seen, closed, syn_seen;
	bool stall_noted;
	bool rst_sent;			/* this side sent an RST: nothing of it follows */
	uint32_t base;			/* sequence number of stream offset 0 */
	uint64_t next;			/* next stream offset expected */
	uint64_t fin_off;
	struct rhole *h;		/* never NULL: a shared empty one until needed */
	struct wire_dir_counters c;
	struct gaprec *gapv;		/* the first GAPS_KEPT gaps (sessions.jsonl),
					 * then the last GAPS_KEPT (late copies) */
	uint64_t acked;			/* offset the receiver has acknowledged */
	uint64_t unacked_since;		/* capture time data went unacknowledged, 0: none */
};

#define GAPS_KEPT 8
struct gaprec {
	uint64_t off, len;
};

struct session {
	uint64_t id;
	struct session *hnext;		/* hash chain, newest incarnation first */
	struct session *lprev, *lnext;	/* activity list, oldest first */
	struct session *pprev, *pnext;	/* pending list: sessions with a deadline */
	struct session *older;		/* the previous incarnation of this 4-tuple
					 * (port reuse), while it lasts */
	uint8_t family;
	uint8_t cip[16], sip[16];	/* client, server */
	uint16_t cport, sport;
	bool role_guessed, rst, closed;	/* closed: a tombstone for close_grace_ms */
	bool closing;			/* RST or both FINs seen: waiting for the last bytes */
	bool pending;			/* on the pending list */
	bool late_noted;		/* the ack_before_data note went out */
	uint8_t local_side;
	uint8_t closing_reason;		/* enum close_reason, while closing */
	uint64_t closing_ns;		/* capture time closing began */
	uint64_t deadline;		/* next capture time something is due; UINT64_MAX: none */
	uint64_t first_ns, last_ns;
	struct rdir d[2];		/* DIR_REQUESTS (client->server), DIR_RESPONSES */
	struct oslot *slot[2];		/* -o output slot, NULL when none */
	bool written[2];		/* -o file exists (append from now on) */
	uint64_t *sinkdrop;		/* sink_ring_full bytes [sink][dir]; NULL: none */
};

struct reasm_stats {
	uint64_t packets, tcp_packets, bytes_delivered, gap_bytes, gaps, late_packets;
	uint64_t frag_datagrams, frag_overlaps, frag_timeouts, frag_limit_packets;
	uint64_t sessions, table_full_packets, ooo_limit_bytes;
	uint64_t decode_err[DEC_RES_MAX];
	uint64_t not_tcp, fragments;
	uint64_t write_error_bytes;	/* -o bytes that could not be written */
	uint64_t close_reason[CLOSE_REASON_MAX];
	uint64_t late_bytes, late_after_gap_bytes, retrans_bytes;
};

struct reasm;

/* Output hooks (output.c). */
/* The capture clock moved on (every 250 ms of capture time): flush. */
void out_tick(struct reasm *R);
void out_open(struct reasm *R, struct session *s);
void out_chunk(struct reasm *R, struct session *s, int dir, uint64_t off,
    const uint8_t *p, size_t n);
void out_gap(struct reasm *R, struct session *s, int dir, uint64_t off, uint64_t len);
void out_half_close(struct reasm *R, struct session *s, int dir);
/* A per-packet note (category flow, event tcp_note): "ack_stall",
 * "overlap_conflict", with the stream range it is about. */
void out_note(struct reasm *R, struct session *s, int dir, const char *note,
    uint64_t off, uint64_t len);
void out_close(struct reasm *R, struct session *s, unsigned reason);
/* A captured frame as it came, or several (the fragments of a datagram). */
struct frame {
	uint64_t ts_ns;
	const uint8_t *data;
	uint32_t caplen, origlen;
};
void out_packet(struct reasm *R, struct session *s, int dir, const struct frame *f);

struct out_opts {
	const char *dir;		/* -o */
	int dirfd;			/* -o, opened before the privilege drop */
	FILE *events;			/* --events */
	struct recw *w;			/* -w */
	int linktype, snaplen;
	unsigned max_open_files;
};

#define SINKS_MAX 16
#define REASM_IFACES 16

struct reasm_iface {
	bool known;
	int dlt, snaplen;
	char name[32];
};

struct reasm {
	const struct conf *conf;
	struct sinks *sinks;		/* --listen: the sink daemons, else NULL */
	struct ctlc *ctl;		/* --ctl: events to ctld, commands from it */
	struct reasm_iface ifs[REASM_IFACES];
	uint32_t cur_ifid;		/* interface of the frame being handled */
	struct out_opts out;
	unsigned gen, shard;
	uint64_t next_ctr;
	struct session **buckets;
	size_t nbuckets, nsessions, max_sessions;
	struct session *lru_head, *lru_tail;
	struct session *tomb_head, *tomb_tail;	/* closed, kept close_grace_ms */
	struct session *pend_head, *pend_tail;	/* with a deadline, oldest first */
	uint64_t next_deadline, last_deadline_sweep;
	uint64_t grace_ns;		/* close_grace_ms: tombstones */
	uint64_t gap_grace_ns;		/* reasm.gap_grace_ms */
	uint64_t ooo_timeout_ns;	/* reasm.ooo_timeout_ms */
	struct fragtab *frags;
	uint64_t mem_used, memcap, ooo_limit;
	uint64_t idle_ns, now_ns, last_sweep_ns;
	uint64_t stall_ns;		/* ack_stall_sec; 0: off */
	bool have_local;
	uint8_t local_family, local_ip[16];
	struct reasm_stats st;
	/* output state */
	FILE *sessions_jsonl;
	struct oslot *slots;		/* max_open_files of them */
	struct oslot *shead, *stail;	/* in-use slots, least recently written first */
	struct oslot *sfree;
};

void reasm_init(struct reasm *R, const struct conf *c, unsigned gen, unsigned shard);
/* One captured frame of the given link type (DLT). */
void reasm_frame(struct reasm *R, int dlt, uint64_t ts_ns, const uint8_t *frame,
    uint32_t caplen, uint32_t origlen);
/* Capture time moved (a tick): runs the idle timers. */
void reasm_tick(struct reasm *R, uint64_t ts_ns);
/* Closes every session with `reason` (eof, shutdown). */
void reasm_close_all(struct reasm *R, unsigned reason);
/* Closes one open session (a control command).  Returns 0, -1 if none. */
int reasm_close_id(struct reasm *R, uint64_t id, unsigned reason);
void reasm_free(struct reasm *R);

/* frag.c: IPv4 and IPv6 fragment reassembly (RFC 791, RFC 8200 4.5),
 * bounded by reasm.frag_memcap and frag_timeout_sec.  Returns 1 with the
 * datagram decoded into out and its fragments' frames in frames and nframes
 * (valid until the next call) when this fragment completes one, else 0. */
struct fragtab *frag_new(const struct conf *c);
int frag_add(struct reasm *R, const struct decoded *d, const struct frame *f,
    struct decoded *out, const struct frame **frames, size_t *nframes);
void frag_expire(struct reasm *R, uint64_t now_ns);
/* Capture time of the oldest fragment still waiting (UINT64_MAX: none). */
uint64_t frag_oldest_ns(const struct fragtab *t);
void frag_free(struct fragtab *t);
void reasm_summary(const struct reasm *R, FILE *f);

/* Before the privilege drop: makes -o's directory and sessions.jsonl. */
int out_init(struct reasm *R, char *err, size_t errlen);
/* An interface (capture source) became known: recorded, and its record
 * goes to -w and to the sinks that want it. */
void out_interface(struct reasm *R, uint32_t id, int dlt, int snaplen, const char *name);
/* Every known interface's record to sink idx (it just connected). */
void out_interface_to(struct reasm *R, unsigned idx);

/* sinks.c: the sink daemons on reasmd.N.sock (--listen). */
struct event_base;
int sinks_listen(struct reasm *R, struct event_base *base, const char *path,
    const char *group, unsigned expect, char *err, size_t errlen);
/* Accepts sinks from now on; on_ready runs once `expect` are connected. */
void sinks_start(struct reasm *R, void (*on_ready)(void *), void *arg);
bool sinks_ready(const struct reasm *R);
bool sinks_want(const struct reasm *R, unsigned type);
/* A record to every sink that wants its type; data_bytes: the stream
 * bytes a chunk carries, counted per session when it is dropped. */
void sinks_put(struct reasm *R, unsigned type, const void *fixed, size_t flen,
    const void *var, size_t vlen, struct session *s, int dir, uint64_t data_bytes);
void sinks_put_to(struct reasm *R, unsigned idx, unsigned type, const void *fixed,
    size_t flen, const void *var, size_t vlen);
void sinks_put_close(struct reasm *R, struct session *s, const struct rec_session_close *c);
void sinks_flush(struct reasm *R);
void sinks_eos(struct reasm *R);
void sinks_summary(const struct reasm *R, FILE *f);
void sinks_free(struct reasm *R);
void out_finish(struct reasm *R);

#endif
