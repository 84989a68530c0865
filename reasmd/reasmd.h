/*
 * reasmd.h — the reassembler: its engine, the parts it is made of, and
 * what each file offers the others.
 *
 *   main.c      options, configuration, open the input, drop, run, summary
 *   input.c     the capd peer: records from capd's ring (--from), reconnects
 *   reasm.c     the engine: frame dispatch (decode, fragments, TCP or UDP),
 *               init, tick, and the session hub (sess_*) that hands every
 *               stream event to the outputs and the analysers
 *   frag.c      IPv4 and IPv6 fragment reassembly
 *   tcp.c       TCP sessions and their byte streams
 *   udp.c       UDP datagrams
 *   hold.c      frames of SIP-over-TCP sessions, held until the messages
 *               they carry are complete (tagged with their calls)
 *   analyser.c  the protocol analysers (analyser.h) and their dispatch
 *   http.c      HTTP/1.x, the first analyser
 *   voip.c      VoIP: SIP calls, their SDP media, RTP/RTCP streams, targeting;
 *               with the pure parsers sip.c, sdp.c, rtp.c (voip.h)
 *   events.c    JSON events (with or without a TCP session)
 *   fanout.c    records to -w and to the sinks, per-session sink losses
 *   files.c     -o DIR: stream files and sessions.jsonl, by a writer thread
 *   sinks.c     the sink peer: sinkd daemons on reasmd.N.sock (no sessions)
 *
 * struct reasm holds the parts; each part's insides are its file's own.
 */
#ifndef REASMD_H
#define REASMD_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/queue.h>

#include "conf.h"
#include "decode.h"
#include "evjson.h"
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

/* A session's lines (a segment in a big table pays a miss for each it
 * touches): what every segment reads or writes for its own direction comes
 * first (base to c.packets, two lines), and the other direction's ACK
 * state (acked, unacked_since) in the first of them. */
struct rdir {
	/* (bit-fields: a direction's flags and its base share 8 bytes) */
	bool have_base : 1, fin_seen : 1, closed : 1, syn_seen : 1;
	bool stall_noted : 1;
	bool rst_sent : 1;		/* this side sent an RST: nothing of it follows */
	bool written : 1;		/* -o: its file exists (append from now on) */
	uint32_t base;			/* sequence number of stream offset 0 */
	uint64_t next;			/* next stream offset expected */
	uint64_t acked;			/* offset the receiver has acknowledged */
	uint64_t unacked_since;		/* capture time data went unacknowledged, 0: none */
	struct rhole *h;		/* never NULL: a shared empty one until needed */
	uint64_t fin_off;
	struct gaprec *gapv;		/* the first GAPS_KEPT gaps (sessions.jsonl),
					 * then the last GAPS_KEPT (late copies) */
	struct wire_dir_counters c;
};

#define GAPS_KEPT 8
struct gaprec {
	uint64_t off, len;
};

struct session {
	/* The first 64 bytes: what a lookup walking a chain reads (the link,
	 * the key) and what every segment checks, close together (one or two
	 * cache lines: malloc aligns to 16). */
	struct session *hnext;		/* hash chain, newest incarnation first */
	uint8_t family;
	uint8_t cip[16], sip[16];	/* client, server */
	uint16_t cport, sport;
	/* (bit-fields: every idle session pays for its flags) */
	bool role_guessed : 1, rst : 1, closed : 1;	/* closed: a tombstone for close_grace_ms */
	bool half : 1;			/* half-open: only SYNs so far (tcp.c's half list) */
	bool holds : 1;			/* hold.c: its frames wait for the analyser's marks */
	bool sticky : 1;		/* closed by control: a tombstone until a SYN, FIN, RST or
					 * session_idle_sec (tcp.c) */
	bool closing : 1;		/* RST or both FINs seen: waiting for the last bytes */
	bool pending : 1;		/* on the pending list */
	bool late_noted : 1;		/* the ack_before_data note went out */
	bool moving : 1;		/* tcp.c: waiting in the batch of lru moves */
	uint8_t local_side;
	uint8_t closing_reason;		/* enum close_reason, while closing */
	uint8_t an_state, an_idx;	/* analyser.c: undecided/on/off, which one */
	uint32_t lru;			/* tcp.c: when it last went to the back of lq (coarse) */
	uint64_t id;
	/* The second line: what a segment touches besides its directions. */
	TAILQ_ENTRY(session) lq;	/* tcp.c: open (least recently active first)
					 * or closed (tombstones, oldest first) */
	struct session *older;		/* the previous incarnation of this 4-tuple
					 * (port reuse), while it lasts */
	uint64_t deadline;		/* next capture time something is due; UINT64_MAX: none */
	uint64_t last_ns;
	void *an_flow;			/* analyser.c: the analyser's state for it */
	struct shold *held;		/* hold.c: its frames waiting, NULL: none */
	uint32_t slot[2];		/* files.c: its output slot's number + 1, 0: none */
	struct rdir d[2];		/* DIR_REQUESTS (client->server), DIR_RESPONSES */
	/* Cold: what a segment does not touch as a rule. */
	TAILQ_ENTRY(session) pq;	/* tcp.c: sessions with a deadline */
	TAILQ_ENTRY(session) hq;	/* tcp.c: the half-open list */
	uint64_t closing_ns;		/* capture time closing began */
	uint64_t first_ns;
	uint64_t *sinkdrop;		/* fanout.c: sink_ring_full bytes [sink][dir]; NULL: none */
};
_Static_assert(offsetof(struct session, id) + 8 <= 64, "a session's link and key in its first 64 bytes");
_Static_assert(offsetof(struct session, d) == 128, "a session's directions from its third line");

/* A captured frame as it came, or several (the fragments of a datagram). */
struct frame {
	uint64_t ts_ns;
	const uint8_t *data;
	uint32_t caplen, origlen;
};

struct reasm_stats {
	uint64_t packets, tcp_packets, bytes_delivered, gap_bytes, gaps, late_packets;
	uint64_t closed_by_control_packets, closed_by_control_bytes;
	uint64_t w_lost;		/* -w: record bytes not written (kept past its close) */
	uint64_t half_open_evicted, tombs_evicted;	/* table full: room made */
	bool w_failed;
	uint64_t frag_datagrams, frag_overlaps, frag_timeouts, frag_limit_packets;
	uint64_t sessions, table_full_packets, ooo_limit_bytes;
	uint64_t decode_err[DEC_RES_MAX];
	uint64_t not_tcp, fragments;
	uint64_t udp_packets, udp_bytes;
	uint64_t close_reason[CLOSE_REASON_MAX];
	uint64_t late_bytes, late_after_gap_bytes, retrans_bytes;
};

struct out_opts {
	const char *dir;		/* -o */
	int dirfd;			/* -o, opened before the privilege drop */
	bool append;			/* --append: sessions.jsonl, calls.jsonl shared */
	bool no_streams;		/* --no-streams: the .jsonl files, not the streams */
	int calls_fd;			/* -o with voip: calls.jsonl, opened with the
					 * directory (before the drop); -1: none */
	FILE *events;			/* --events */
	struct recw *w;			/* -w */
	bool w_reported;		/* its failure was said */
	int linktype, snaplen;
	unsigned max_open_files;
	uint64_t max_total_bytes, max_files;	/* -o retention, this shard's share */
	bool call_table;		/* -r: the calls' table in the summary (a live
					 * shard keeps none: its calls go to ctld and the
					 * sinks, and a table kept for the exit would grow
					 * with every call for weeks) */
};

#define SINKS_MAX 16
#define REASM_IFACES 16

struct reasm_iface {
	bool known;
	int dlt, snaplen;
	char name[32];
};

struct json_object;
struct tcp;
struct fragtab;
struct anset;
struct files;
struct sinks;
struct ctlc;
struct hold;

struct reasm {
	const struct conf *conf;
	unsigned gen, shard;
	uint64_t now_ns;		/* capture time: the highest timestamp seen */
	uint64_t last_tick_ns;		/* the last 250 ms housekeeping */
	uint64_t tcp_due;		/* tcp.c has deadlines due from then on */
	uint32_t cur_ifid;		/* interface of the frame being handled */
	struct reasm_iface ifs[REASM_IFACES];
	struct out_opts out;
	struct tcp *tcp;		/* tcp.c */
	struct fragtab *frags;		/* frag.c */
	struct anset *an;		/* analyser.c */
	struct files *files;		/* files.c (-o) */
	struct sinks *sinks;		/* sinks.c (--listen), else NULL */
	struct ctlc *ctl;		/* --ctl: events to ctld, commands from it */
	struct hold *hold;		/* hold.c */
	/* the calls (REC_CALL_OPEN ids) the datagram or message being read
	 * belongs to: an analyser's an_tag, taken by udp.c and an_mark */
	unsigned ntags;
	uint64_t tags[WIRE_MAX_CALLS];
	struct reasm_stats st;
};

/* reasm.c: the engine.  Its housekeeping runs every REASM_TICK_NS of
 * capture time. */
#define REASM_TICK_NS (1000000000ULL / 4)
/* Returns 0, or -1 with a message in err (an unknown analyser). */
int reasm_init(struct reasm *R, const struct conf *c, unsigned gen, unsigned shard,
    char *err, size_t errlen);
/* One captured frame of the given link type (DLT). */
void reasm_frame(struct reasm *R, int dlt, uint64_t ts_ns, const uint8_t *frame,
    uint32_t caplen, uint32_t origlen);
/* Capture time moved (a tick, or every frame): runs the timers that are
 * due.  Inline, since on most frames nothing is (the clock moves); the
 * work, when some is due, out of line (reasm_due). */
void reasm_due(struct reasm *R);
static inline void
reasm_tick(struct reasm *R, uint64_t ts_ns)
{
	if (ts_ns > R->now_ns)
		R->now_ns = ts_ns;
	if (R->now_ns >= R->tcp_due || R->now_ns - R->last_tick_ns >= REASM_TICK_NS)
		reasm_due(R);
}
/* Closes every session with `reason` (eof, shutdown). */
void reasm_close_all(struct reasm *R, unsigned reason);
/* Closes one open session (a control command).  Returns 0, -1 if none. */
int reasm_close_id(struct reasm *R, uint64_t id, unsigned reason);
/* An interface (capture source) became known. */
void reasm_interface(struct reasm *R, uint32_t id, int dlt, int snaplen, const char *name);
void reasm_summary(const struct reasm *R, FILE *f);

/* pcapread.c: a capture file's frames, a pcap file's in large blocks
 * (libpcap's own for the rest).  pcapread_next: 1 a frame, 0 the end, -1 a
 * read error (said). */
struct pcap;
struct pcapread;
struct pcapread *pcapread_open(struct pcap *p, FILE *in, const char *name);
int pcapread_next(struct pcapread *r, uint64_t *ts, const uint8_t **data, uint32_t *caplen,
    uint32_t *len);
/* The frame k after the one pcapread_next last gave (k >= 1), when it is
 * whole in the block already read: 1, else 0.  Nothing is consumed; asked
 * with the same k before every frame, it reads one header a frame. */
int pcapread_peek(struct pcapread *r, unsigned k, const uint8_t **data, uint32_t *caplen);
void pcapread_free(struct pcapread *r);

/* shards.c: reasmd -r FILE --shards N, N engines on one capture. */
struct shard_deal;
/* Forks n engines, each to read the frames dealt to it.  In a child: returns
 * its shard (0..n-1) and *in is the pipe it reads.  In the parent: returns
 * -1 and *deal is ready for shards_deal(). */
int shards_fork(unsigned n, int *in, int *stats_fd, struct shard_deal **deal);
/* The parent: reads p and deals every frame to its engine (capd's
 * sharding), with a tick to every engine as capture time moves; then waits
 * for them and prints the totals.  Returns the exit status. */
struct pcap;
int shards_deal(struct shard_deal *D, struct pcap *p, struct pcapread *rd, const struct conf *c,
    volatile sig_atomic_t *stop);
/* The parent when every engine reads the file itself: waits for them and
 * prints the totals.  Returns the exit status. */
int shards_wait(struct shard_deal *D);
/* The parent of engines that read the file: SIGINT and SIGTERM go on to
 * them. */
void shards_forward_signals(struct shard_deal *D);
/* A child: the dealt frames, to their end.  Returns the close reason. */
unsigned shards_run(struct reasm *R, int in, volatile sig_atomic_t *stop);
/* A file (or stdin) read to its end or to *stop: with nshards > 1 an
 * engine that reads it itself keeps the frames the dealer would give it,
 * every other one a tick; with 1, every frame.  Returns the close
 * reason. */
unsigned shards_read(struct reasm *R, struct pcapread *rd, int dlt, unsigned nshards,
    const struct conf *c, volatile sig_atomic_t *stop);
/* A child, at its end: its counters to the parent. */
void shards_report(unsigned shard, const struct reasm_stats *st, int stats_fd);
/* Every counter of the table (common/counters.h) reasmd keeps. */
struct ctr_enc;
void reasm_counters(const struct reasm *R, struct ctr_enc *e);
void reasm_free(struct reasm *R);

/* reasm.c: the session hub, called by tcp.c.  Each goes to the outputs
 * (fanout.c, files.c, events.c) and the analysers. */
void sess_open(struct reasm *R, struct session *s);
void sess_data(struct reasm *R, struct session *s, int dir, uint64_t off,
    const uint8_t *p, size_t n);
void sess_gap(struct reasm *R, struct session *s, int dir, uint64_t off, uint64_t len);
void sess_half_close(struct reasm *R, struct session *s, int dir);
/* A per-packet note (category flow, event tcp_note): "ack_stall",
 * "overlap_conflict", "ack_before_data", with the range it is about. */
void sess_note(struct reasm *R, struct session *s, int dir, const char *note,
    uint64_t off, uint64_t len);
void sess_close(struct reasm *R, struct session *s, unsigned reason);
/* A frame, of session s (NULL: of none, it still reaches a rolling pcap),
 * with the calls it belongs to; every frame comes here: inline. */
void fan_packet(struct reasm *R, struct session *s, int dir, const struct frame *f,
    const uint64_t *calls, unsigned ncalls);
static inline void
sess_packet(struct reasm *R, struct session *s, int dir, const struct frame *f)
{
	fan_packet(R, s, dir, f, NULL, 0);
}
/* The frames of one TCP segment of s (its payload: seq, plen): held
 * (hold.c) when s->holds, else out at once. */
void sess_segment(struct reasm *R, struct session *s, int dir, const struct frame *fr, size_t nfr,
    uint32_t seq, uint32_t plen);

/* hold.c */
struct hold *hold_new(const struct conf *c);
void hold_segment(struct reasm *R, struct session *s, int dir, const struct frame *fr, size_t nfr,
    uint32_t seq, uint32_t plen);
/* Bytes [from, to) of s's direction dir were one message: the calls in
 * R->tags go to the frames that carried them; everything before `to` is
 * read.  Frames that wait for nothing more go out. */
void hold_mark(struct reasm *R, struct session *s, int dir, uint64_t from, uint64_t to);
void hold_flush(struct reasm *R, struct session *s);	/* s closes: all go */
/* The segment is handled: what still waits is copied (it was the
 * engine's frame until now). */
void hold_settle(struct reasm *R);
void hold_tick(struct reasm *R);
uint64_t hold_oldest_ns(const struct hold *H);		/* UINT64_MAX: none */
void hold_stats(const struct hold *H, uint64_t *frames, uint64_t *full, uint64_t *timeout,
    uint64_t *bytes);
void hold_free(struct reasm *R);

/* tcp.c */
struct tcp *tcp_new(const struct conf *c);
/* Returns false when no session takes the segment. */
bool tcp_segment(struct reasm *R, const struct decoded *d, const struct frame *fr, size_t nfr);
void tcp_deadlines(struct reasm *R);	/* cheap: runs the deadlines due */
/* Reading ahead in a big table (TCP_PREFETCH_MIN sessions or more; below,
 * it stays in the caches): a segment waits on misses one after the
 * other, its bucket's, then its chain's first session's, then its own
 * session's lines.  Before each frame, a reader that can see the frame
 * READAHEAD frames on (NULL: it cannot) hands it to tcp_readahead, which
 * keeps its key and asks the memory for its bucket; for the first line of
 * the chain of the frame READAHEAD - READAHEAD_STEP on; and for the lines
 * a segment touches (session_prefetch) of the session of the frame
 * READAHEAD_STEP on: its chain's first when the key matches, else the
 * second.  (Steps of 3, 4 and 6 frames were no faster than 2 on a million
 * sessions: the misses in flight, not their latency, bound it.) */
#define TCP_PREFETCH_MIN 32768
#ifndef READAHEAD_STEP
#define READAHEAD_STEP 2
#endif
#define READAHEAD (3 * READAHEAD_STEP)
struct ra_slot {
	void *bucket;			/* NULL: not a TCP segment */
	uint8_t family;
	uint16_t sport, dport;
	uint8_t src[16], dst[16];
};
struct readahead {
	struct ra_slot slot[READAHEAD];
	unsigned i;
};
bool tcp_readahead_wanted(const struct reasm *R);
void tcp_readahead(struct reasm *R, struct readahead *ra, int dlt, const uint8_t *pkt, uint32_t caplen);
void tcp_expire(struct reasm *R);	/* idle sessions, old tombstones */
void tcp_close_all(struct reasm *R, unsigned reason);
int tcp_close_id(struct reasm *R, uint64_t id, unsigned reason);
/* Calls fn for every open session (not the tombstones), oldest first. */
void tcp_foreach_open(struct reasm *R, void (*fn)(struct reasm *, struct session *, void *), void *arg);
void tcp_free(struct reasm *R);
size_t tcp_sessions_open(const struct tcp *T);
uint64_t tcp_mem_used(const struct tcp *T);
/* The longest hash chain a lookup walked (a flood of colliding flows
 * would show here; the keyed hash keeps it short). */
size_t tcp_chain_max(const struct tcp *T);

/* udp.c: a datagram (its frames: the fragments it came in). */
void udp_datagram(struct reasm *R, const struct decoded *d, const struct frame *fr, size_t nfr);

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

/* events.c: JSON events to --events, ctld, -w and the sinks that want
 * them.  `extra` (may be NULL) is consumed.  ev_flow: of a TCP session;
 * ev_emit: of none (calls and RTP streams have no session). */
bool ev_wanted(const struct reasm *R);
/* A restarted ctld: the open sessions, as session_snapshot events to it
 * alone (its session table; not passed to its clients). */
void ev_ctl_snapshot(struct reasm *R);
void ev_emit(struct reasm *R, const char *cat, const char *name, struct json_object *extra);
void ev_flow(struct reasm *R, const struct session *s, const char *cat, const char *name,
    struct json_object *extra);
/* An event built as text (evjson.h): ev_start writes ts, cat, event and
 * (s not NULL) the session's flow; the caller adds its members; ev_send
 * sends it where ev_flow would and frees t.  Only when ev_wanted. */
void ev_start(const struct reasm *R, struct evtext *t, const struct session *s,
    const char *cat, const char *name);
void ev_send(struct reasm *R, struct evtext *t);
/* The session's summary members: reason, times and both directions' books. */
void ev_summary_text(const struct reasm *R, const struct session *s, unsigned reason,
    struct evtext *t);
/* Adds s's flow (with its session id) to t. */
void ev_flow_text(const struct session *s, struct evtext *t);
void ev_flush(struct reasm *R);

/* fanout.c: records to -w and to every sink that wants their type. */
void fan_interface(struct reasm *R, uint32_t id);
void fan_interfaces_to(struct reasm *R, unsigned sink);	/* a sink connected */
/* A sink connected mid-run: the sessions already open, as joins. */
void fan_joins_to(struct reasm *R, unsigned sink);
void fan_tick(struct reasm *R);
void fan_open(struct reasm *R, const struct session *s);
void fan_chunk(struct reasm *R, struct session *s, int dir, uint64_t off,
    const uint8_t *p, size_t n);
void fan_gap(struct reasm *R, struct session *s, int dir, uint64_t off, uint64_t len);
void fan_close(struct reasm *R, struct session *s, unsigned reason);
void fan_event(struct reasm *R, const char *json, size_t len);
/* A call (voip.c) whose frames packets will name, and its end. */
void fan_call_open(struct reasm *R, uint64_t id, uint64_t ts_ns, const char *callid,
    const char *from, const char *to);
void fan_call_close(struct reasm *R, uint64_t id, uint64_t end_ns, const char *state,
    const char *json, size_t len, uint32_t flags);
/* A message an analyser read (m: its fixed part, corr_len and len set). */
bool fan_message_wanted(const struct reasm *R);
void fan_message(struct reasm *R, const struct rec_message *m, const char *corr, const void *body);
void fan_finish(struct reasm *R);	/* end of stream to -w and the sinks */

/* files.c: -o DIR.  files_open runs before the privilege drop. */
int files_open(struct reasm *R, char *err, size_t errlen);
void files_data(struct reasm *R, struct session *s, int dir, const uint8_t *p, size_t n);
/* The session's files are complete; its sessions.jsonl line follows them. */
void files_close(struct reasm *R, struct session *s, unsigned reason);
void files_finish(struct reasm *R);
/* -o retention: the stream files of earlier runs (before the sandbox), and
 * what it removed. */
void files_retention_scan(struct reasm *R, bool first_shard);
void files_retention(uint64_t *files, uint64_t *bytes);
/* What -o could not write (a full disk): stream bytes, sessions.jsonl lines. */
void files_errors(uint64_t *bytes, uint64_t *lines);

/* sinks.c: the sink daemons on reasmd.N.sock (--listen).  Knows records,
 * not sessions: a put returns which sinks lost the record. */
struct event_base;
struct sinks *sinks_listen(struct event_base *base, const char *path, const char *group,
    unsigned expect, unsigned shard, size_t ring_bytes, bool block, char *err, size_t errlen);
/* Accepts sinks from now on; on_ready runs once `expect` are connected,
 * on_connect each time one connects (with its index). */
void sinks_start(struct sinks *S, void (*on_ready)(void *), void (*on_connect)(unsigned, void *),
    void *arg);
bool sinks_ready(const struct sinks *S);
bool sinks_want(const struct sinks *S, unsigned type);
unsigned sinks_count(const struct sinks *S);
bool sinks_want_one(const struct sinks *S, unsigned idx, unsigned type);
/* A record to every sink that wants its type.  Returns a mask of the
 * sinks that lost it (bit idx; counted as their sink_ring_full). */
uint32_t sinks_put(struct sinks *S, unsigned type, const void *fixed, size_t flen,
    const void *var, size_t vlen);
/* To one sink.  Returns 0, or -1 when it lost it. */
int sinks_put_to(struct sinks *S, unsigned idx, unsigned type, const void *fixed, size_t flen,
    const void *var, size_t vlen);
void sinks_flush(struct sinks *S);
void sinks_eos(struct sinks *S);
void sinks_summary(const struct sinks *S, FILE *f);
/* Records given and sink_ring_full, per sink, to the counter table. */
void sinks_counters(const struct sinks *S, struct ctr_enc *e);
/* A reload: the slots whose sink is not named in the JSON array of names
 * (an output disabled) are given nothing more and count nothing. */
struct json_object;
void sinks_retain(struct sinks *S, struct json_object *names);
void sinks_free(struct sinks *S);

/* input.c: reasmd reading capd's ring (--from). */
struct input;
struct input *input_new(struct reasm *R, struct event_base *base, const char *path,
    unsigned shard, unsigned nshards);
/* Connects (before the drop).  Returns 0, or -1 with a message. */
int input_open(struct input *I, char *err, size_t errlen);
/* Starts reading once the sinks reasmd waits for are there. */
void input_go(void *arg);
/* The loop ended at capd's end of stream (not a signal). */
bool input_eos(const struct input *I);
struct reasm *input_reasm(const struct input *I);
void input_stop(struct input *I);
void input_free(struct input *I);

#endif
