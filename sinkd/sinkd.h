/*
 * sinkd.h — the sink daemon: one process per output family.
 *
 *   main.c       options, acquisition (sockets, directories) before the
 *                privilege drop, the loop, the end
 *   input.c      the record sources: a ring from every reasmd shard
 *                (--from), or a record stream on stdin (-r -)
 *   core.c       sessions, the per-direction books, events
 *   listener.c   per-session ports that consumers connect to
 *   connector.c  per-session connections dialled out
 *   pcapout.c    .pcap / .pcapng files, per session, per call or rolling
 *   hep.c        SIP messages and RTCP reports to a Homer collector (HEPv3)
 *   json.c       one JSON object per line per event
 *   nats.c       records to a NATS JetStream stream (a publisher thread)
 *
 * The books (DESIGN.md section 4), per session direction, once the session
 * is closed and drained:
 *
 *   stream_bytes = delivered + Σ dropped[reason] + gap + sink_ring_full
 *
 * where stream_bytes, gap and sink_ring_full come from reasmd's
 * session_close, and delivered and the drops are this sink's.  Every
 * session ends with a sink_summary event that shows the terms and whether
 * they balance.
 */
#ifndef SINKD_H
#define SINKD_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/queue.h>
#include <event2/event.h>
#include <json-c/json.h>

#include "conf.h"
#include "counters.h"
#include "wire.h"

#define SINKD_MAX_INPUTS 256

enum sd_reason {
	SD_STARTUP_BUFFER_FULL, SD_OUTPUT_BUFFER_FULL, SD_CONSUMER_ABSENT, SD_NO_PORTS,
	SD_SHUTDOWN_TIMEOUT, SD_MAX
};
extern const char *const sd_reason_names[SD_MAX];
extern const char *const sd_dir_names[2];

struct sdir {
	uint64_t next_off;		/* next stream offset expected from reasmd */
	uint64_t received;		/* chunk bytes received */
	uint64_t gap_bytes;		/* from gap records */
	uint64_t unseen;		/* offsets skipped with no gap record */
	uint64_t missed;		/* delivered before this sink joined the session */
	uint64_t delivered;
	uint64_t drop[SD_MAX];
	bool done;			/* the family has settled every byte */
};

struct ssn {
	uint64_t id;
	struct ssn *hnext;
	TAILQ_ENTRY(ssn) q;		/* every session, oldest first */
	unsigned input;			/* which input (shard) it came from */
	struct rec_session_open open;
	bool have_close;		/* close record seen (else: input lost) */
	bool joined;			/* open before this sinkd came (session_join) */
	bool ended;			/* the family was told (close or loss) */
	struct rec_session_close close;
	struct sdir d[2];
	void *fam;			/* the family's own state */
};

struct sinkd;

struct ctr_enc;

struct family {
	const char *name;
	uint32_t wants;			/* REC_WANT mask for the hello */
	/* Or, when the configuration chooses: the mask from it. */
	uint32_t (*wants_of)(const struct conf *c);
	/* The drain ends by the family's sinkd_drained(), not when the
	 * last session is settled. */
	bool drain_waits;
	/* Resolves host names after the drop (no chroot for it). */
	bool resolves;
	/* Before the privilege drop (directories, ...): 0 or -1 with err. */
	int (*prepare)(struct sinkd *D, char *err, size_t errlen);
	/* After the drop, before the first record. */
	void (*start)(struct sinkd *D);
	void (*iface)(struct sinkd *D, unsigned input, const struct rec_interface *i,
	    const char *name);
	void (*open)(struct sinkd *D, struct ssn *s);
	void (*chunk)(struct sinkd *D, struct ssn *s, int dir, uint64_t off,
	    const uint8_t *p, size_t n);
	void (*gap)(struct sinkd *D, struct ssn *s, int dir, uint64_t off, uint64_t len);
	/* The session closed (s->have_close tells whether reasmd said so or
	 * its input was lost).  The family calls sinkd_session_done() once
	 * it has settled every byte. */
	void (*close)(struct sinkd *D, struct ssn *s);
	void (*packet)(struct sinkd *D, unsigned input, const struct rec_packet *p);
	/* A call (VoIP) packets will name, and its end (REC_CALL_*). */
	void (*call_open)(struct sinkd *D, unsigned input, const struct rec_call_open *o);
	void (*call_close)(struct sinkd *D, unsigned input, const struct rec_call_close *c);
	/* A message an analyser read (REC_MESSAGE: SIP, RTCP reports). */
	void (*message)(struct sinkd *D, unsigned input, const struct rec_message *m);
	void (*tick)(struct sinkd *D, unsigned input, uint64_t ts_ns);
	void (*event)(struct sinkd *D, unsigned input, const char *json, size_t len);
	/* No more input (every source ended, or a stop): settle everything
	 * within the drain deadline; sinkd_drained() when done. */
	void (*drain)(struct sinkd *D);
	/* The deadline passed: count what is left as shutdown_timeout. */
	void (*abandon)(struct sinkd *D);
	/* Adds the family's own books to a session's sink_summary (and
	 * clears *ok when they do not balance); frees s->fam. */
	void (*books)(struct sinkd *D, struct ssn *s, struct json_object *o, bool *ok);
	void (*summary)(struct sinkd *D, FILE *f);
	/* Its rows of the counter table (common/counters.h). */
	void (*counters)(struct sinkd *D, struct ctr_enc *e);
	void (*free)(struct sinkd *D);
};

struct input;

TAILQ_HEAD(ssnq, ssn);
TAILQ_HEAD(sbufq, sbuf);

struct sinkd {
	struct event_base *base;
	struct conf *c;
	const struct family *fam;
	uint32_t wants;			/* the family's REC_WANT mask */
	void *fs;			/* the family's global state */
	/* family options from the command line */
	const char *dir;		/* pcap: --dir */
	int per_session;		/* pcap: --per-session (-1: config) */
	const char *format;		/* pcap: --format */
	const char *json_path;		/* json: -o / io.output.json.path */
	bool block;			/* runtime.overflow block */
	bool stream_input;		/* -r: a record stream, read at the sink's pace */
	struct input *in[SINKD_MAX_INPUTS];
	unsigned nin, nin_done;
	/* sessions */
	struct ssn **buckets;
	size_t nbuckets, nsessions, max_sessions, open_sessions;
	struct ssnq ssns;		/* every session, oldest first */
	FILE *events;			/* --events */
	struct ctlc *ctl;		/* --ctl: events and counters to ctld */
	const char *subscribe;		/* json: --subscribe RUN/control.sock */
	bool resume;			/* json: --resume (after the last event in its file) */
	bool resubscribe;		/* json: --resubscribe (ctld gone: subscribe again) */
	bool sub_waiting;		/* json: ctld has not answered the subscribe yet */
	struct event *ev_sub_retry;
	bool resume_have;		/* ... which has a numbered one: */
	uint64_t resume_since;		/* its number */
	struct bufferevent *sub;
	struct event *ev_counters;
	bool draining, drained, stop_now;
	bool sub_barrier;		/* json: waiting for ctld's drain_barrier answer */
	struct event *ev_drain_deadline, *ev_sig[3];
	/* totals */
	uint64_t sessions, sessions_done, sessions_unbalanced, sessions_incomplete;
	uint64_t delivered, drop[SD_MAX], received, gap_bytes, unseen, ring_full;
	uint64_t orphan_records, orphan_bytes, table_full_sessions;
	uint64_t sessions_joined, missed;	/* open before this sinkd came */
	uint64_t last_ts_ns;		/* capture time seen */
	int exit_code;
	/* startup buffers (startup.c) */
	struct sbufq sbufs;		/* buffers holding bytes, oldest bytes first */
	uint64_t sb_total, sb_memcap, sb_memcap_bytes;
};

/*
 * startup.c: a direction's startup buffer (the listener's first consumer,
 * the connector's first connection) holds the bytes from the start of the
 * session up to the direction's buffer_bytes (c2s_ / s2c_); beyond that
 * the oldest go (startup_buffer_full) and the stream handed on starts
 * after that hole.  All the startup buffers of a sinkd together stay under
 * sink.memcap: beyond it the oldest bytes held anywhere go first, counted
 * the same way (sb_memcap_bytes of them because of the cap).
 */
struct sbuf {
	TAILQ_ENTRY(sbuf) q;		/* live buffers, the one holding the oldest bytes first */
	bool listed;			/* on that list (it holds bytes) */
	struct evbuffer *b;		/* NULL: taken or discarded */
	struct ssn *s;
	int dir;
	uint64_t cap, off;		/* b holds stream offsets [off, off + length) */
};
void sbuf_init(struct sinkd *D, struct sbuf *sb, struct ssn *s, int dir, uint64_t cap);
void sbuf_add(struct sinkd *D, struct sbuf *sb, const void *p, size_t n);
/* Moves what is held to dst (the consumer's output) and retires the
 * buffer; says so with a tcp_gap event when its start was lost.  Returns
 * the bytes moved. */
size_t sbuf_take(struct sinkd *D, struct sbuf *sb, struct evbuffer *dst, const char *family);
/* Retires the buffer; what it holds is dropped as `why` (SD_MAX: not counted). */
void sbuf_discard(struct sinkd *D, struct sbuf *sb, int why);
static inline bool sbuf_live(const struct sbuf *sb) { return sb->b != NULL; }

/* core.c */
void sinkd_init(struct sinkd *D, struct conf *c, const struct family *f);
int sinkd_record(struct sinkd *D, unsigned input, const struct wire_rec *rec);
/* An input ended (end of stream or lost for good). */
void sinkd_input_done(struct sinkd *D, unsigned input, bool lost);
/* An input's producer went away: its open sessions close as lost. */
void sinkd_input_lost(struct sinkd *D, unsigned input);
void sinkd_session_done(struct sinkd *D, struct ssn *s);
struct ssn *sinkd_find(struct sinkd *D, uint64_t id);
void sinkd_start_drain(struct sinkd *D);
void sinkd_drained(struct sinkd *D);
/* An event of this sink: ts now, flow of s when given.  Takes o. */
void sinkd_emit(struct sinkd *D, struct json_object *o);
struct json_object *sinkd_event(struct sinkd *D, const char *cat, const char *name,
    const struct ssn *s);
void sinkd_summary(struct sinkd *D, FILE *f);
/* The counters to ctld; `final`: the last, after the summary. */
void sinkd_send_counters(struct sinkd *D, bool final);
void sinkd_free(struct sinkd *D);
/* Counts n bytes of direction dir under reason. */
void sinkd_drop(struct sinkd *D, struct ssn *s, int dir, enum sd_reason r, uint64_t n);
/*
 * A consumer's socket output.  The output buffer (max_output_buffer_bytes)
 * is for what the consumer's socket does not take; before a chunk is
 * dropped because it is full, bev_write_now() (common/bev.h) hands the socket what it
 * takes at once, so that a burst that arrives in one batch is not counted
 * as lost while the socket could have taken it.  sinkd_consumer_bev()
 * makes a consumer's bufferevent (large single writes).
 */
struct bufferevent;
struct bufferevent *sinkd_consumer_bev(struct sinkd *D, int fd);
void sinkd_deliver(struct sinkd *D, struct ssn *s, int dir, uint64_t n);
/* Capture-time order key of a session: its open time, in ms. */
uint64_t ssn_start_ms(const struct ssn *s);

/* input.c */
int input_subscribe_connect(struct sinkd *D, char *err, size_t errlen);
/* The drain: asks ctld for what the daemons sent before they ended (true
 * while that answer is awaited; the drain deadline bounds it). */
bool input_subscribe_drain(struct sinkd *D);
int input_connect(struct sinkd *D, const char *path, char *err, size_t errlen);
int input_stdin(struct sinkd *D, int fd, char *err, size_t errlen);
void input_start(struct sinkd *D);
void inputs_free(struct sinkd *D);

/* the families */
extern const struct family family_listener, family_connector, family_pcap, family_json, family_hep,
    family_nats;

#endif
