/*
 * wire.h — every record and message that crosses a process boundary.
 *
 * Records (DESIGN.md section 3) travel in shared-memory rings and in plain
 * byte streams (pipes, files, stdin/stdout) alike.  A byte stream starts
 * with a 16-byte stream header; every record starts with struct wire_rec
 * and is padded to a multiple of 8 bytes:
 *
 *    0               16              32                              63
 *   +-------+-------+---------------+-------------------------------+
 *   | type (u16)    | flags (u16)   | len (u32): header + body      |
 *   +---------------------------------------------------------------+
 *   | body: a fixed struct rec_* below, then variable bytes, then   |
 *   | zero padding up to the next multiple of 8                     |
 *   +---------------------------------------------------------------+
 *
 * All fields are in the host's byte order: records never leave the
 * machine (a stream written on one host is read on the same kind of host;
 * the stream header's byte-order mark catches the other case).
 *
 * Messages on the Unix sockets between daemons (struct wire_msg) are small
 * control messages: hello, hello-ok with the ring's file descriptor,
 * doorbells, commands.  Their types are numbered in their own block.
 *
 * A reader rejects a magic, version or type it does not know with a clear
 * error; a record's length is checked against its type's fixed part before
 * any field is read.
 */
#ifndef STH_WIRE_H
#define STH_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define WIRE_MAGIC	0x52485453u	/* "STHR" in little-endian memory */
#define WIRE_VERSION	4	/* 4: packets carry call ids; call records */
#define WIRE_BOM	0x0102u
#define WIRE_ALIGN	8
#define WIRE_MAX_REC	(16u * 1024u * 1024u)	/* largest record, header included */

/* The first 16 bytes of a record stream. */
struct wire_stream_hdr {
	uint32_t magic;
	uint16_t version;
	uint16_t bom;		/* WIRE_BOM as written */
	uint32_t hdr_len;	/* sizeof(struct wire_stream_hdr) */
	uint32_t reserved;
};
_Static_assert(sizeof(struct wire_stream_hdr) == 16, "stream header size");

struct wire_rec {
	uint16_t type;
	uint16_t flags;
	uint32_t len;		/* header + body, before padding */
};
_Static_assert(sizeof(struct wire_rec) == 8, "record header size");

enum rec_type {
	REC_INTERFACE = 1,
	REC_PACKET = 2,
	REC_SESSION_OPEN = 3,
	REC_CHUNK = 4,
	REC_GAP = 5,
	REC_SESSION_CLOSE = 6,
	REC_TICK = 7,
	REC_EVENT = 8,
	/* 9 was a counter record (version 2), used by nothing: counters go to
	 * ctld on its link (common/counters.h).  Readers reject it. */
	REC_EOS = 10,		/* end of stream: the producer has no more */
	REC_CALL_OPEN = 11,	/* a call (VoIP) whose frames packets name */
	REC_CALL_CLOSE = 12,	/* that call is written out: no frame names it any more */
	REC_MESSAGE = 13,	/* a message an analyser read (SIP, an RTCP report) */
	REC_SESSION_JOIN = 14,	/* a session already open when this sink came */
	REC_TYPE_MAX
};
#define REC_WANT(t)	(1u << (t))
#define REC_WANT_ALL	0xFFFFFFFEu

/* Directions of a session's byte stream. */
enum wire_dir { DIR_REQUESTS = 0, DIR_RESPONSES = 1 };

/* An interface (a capture source): id as used by packet records. */
struct rec_interface {
	uint32_t id;
	uint32_t linktype;	/* DLT_* */
	uint32_t snaplen;
	uint32_t name_len;	/* name bytes follow, not NUL-terminated */
};
_Static_assert(sizeof(struct rec_interface) == 16, "rec_interface");

/* A captured frame, as captured (link-layer header included).  The calls
 * it belongs to (ncalls uint64 call ids, REC_CALL_OPEN) come first, then
 * the frame's caplen bytes. */
struct rec_packet {
	uint64_t ts_ns;		/* capture time, ns since the epoch */
	uint64_t session_id;	/* 0: not (yet) part of a session */
	uint32_t ifid;
	uint32_t caplen;	/* frame bytes that follow the call ids */
	uint32_t origlen;	/* length on the wire */
	uint8_t dir;		/* enum wire_dir when session_id != 0 */
	uint8_t ncalls;		/* call ids that follow, at most WIRE_MAX_CALLS */
	uint8_t pad[2];
};
_Static_assert(sizeof(struct rec_packet) == 32, "rec_packet");
#define WIRE_MAX_CALLS 8

static inline const uint64_t *
rec_packet_calls(const struct rec_packet *p)
{
	return (const uint64_t *)(const void *)(p + 1);
}

static inline const uint8_t *
rec_packet_frame(const struct rec_packet *p)
{
	return (const uint8_t *)(p + 1) + 8u * p->ncalls;
}

/* Endpoints of a session.  Addresses are in network byte order; IPv4
 * addresses occupy the first 4 bytes. */
struct wire_flow {
	uint8_t family;		/* 4 or 6 */
	uint8_t role_guessed;	/* 1: no SYN seen, client guessed by port */
	uint8_t local_side;	/* 0 none, 1 client is local, 2 server is local */
	uint8_t pad;
	uint16_t client_port, server_port;	/* host byte order */
	uint8_t client_ip[16], server_ip[16];
};
_Static_assert(sizeof(struct wire_flow) == 40, "wire_flow");

struct rec_session_open {
	uint64_t session_id;
	uint64_t ts_ns;
	struct wire_flow flow;
};
_Static_assert(sizeof(struct rec_session_open) == 56, "rec_session_open");

/* A session that was already open when the sink connected (a sink
 * started or restarted mid-run): its open, where its streams are now
 * (the next chunk or gap of each direction starts at off[dir]) and how
 * many of the bytes before that were delivered, which this sink missed.
 * Sent to that sink only, before any record of the session. */
struct rec_session_join {
	struct rec_session_open open;
	uint64_t off[2];
	uint64_t missed[2];
};
_Static_assert(sizeof(struct rec_session_join) == 88, "rec_session_join");

/* Stream bytes of one direction, starting at stream offset `offset`. */
struct rec_chunk {
	uint64_t session_id;
	uint64_t offset;
	uint8_t dir;
	uint8_t pad[7];
};
_Static_assert(sizeof(struct rec_chunk) == 24, "rec_chunk");

/* A hole: `len` stream bytes at `offset` that the capture did not hold. */
struct rec_gap {
	uint64_t session_id;
	uint64_t offset;
	uint64_t len;
	uint8_t dir;
	uint8_t pad[7];
};
_Static_assert(sizeof(struct rec_gap) == 32, "rec_gap");

enum close_reason {
	CLOSE_FIN = 1, CLOSE_RST, CLOSE_IDLE, CLOSE_EOF, CLOSE_SHUTDOWN,
	CLOSE_CONTROL, CLOSE_TABLE_FULL, CLOSE_REASON_MAX
};

/* Per-direction counters of a session (DESIGN.md section 4). */
struct wire_dir_counters {
	uint64_t stream_bytes;		/* first seq seen .. highest, once */
	uint64_t delivered;		/* bytes handed out as chunks */
	uint64_t gap_bytes, gap_count;
	uint64_t packets;
	uint64_t retrans_bytes;		/* copies of bytes already delivered (or held) */
	uint64_t overlap_bytes, overlap_conflicts;
	uint64_t dropped_ooo;		/* ooo_limit: in gap_bytes too */
	uint64_t dropped_sink;		/* sink_ring_full (bytes) */
	uint64_t late_bytes;		/* came after an ACK covered them, delivered */
	uint64_t late_after_gap;	/* came after their hole became a gap: not delivered */
};
_Static_assert(sizeof(struct wire_dir_counters) == 96, "wire_dir_counters");

struct rec_session_close {
	uint64_t session_id;
	uint64_t ts_ns;
	uint32_t reason;		/* enum close_reason */
	uint32_t pad;
	struct wire_dir_counters dir[2];
};
_Static_assert(sizeof(struct rec_session_close) == 216, "rec_session_close");

struct rec_tick {
	uint64_t ts_ns;
};

/* A call (VoIP, reasmd/voip.c): the id packets name it by, when it
 * began, its SIP Call-ID and the users of its first INVITE.  The three
 * strings follow in that order (no NUL). */
struct rec_call_open {
	uint64_t call_id;
	uint64_t ts_ns;		/* its first message */
	uint16_t callid_len, from_len, to_len;
	uint16_t pad;
};
_Static_assert(sizeof(struct rec_call_open) == 24, "rec_call_open");

/* The call is written out (calls.jsonl): its state, when it ended, and its
 * summary (that line's JSON text, json_len bytes) follow. */
struct rec_call_close {
	uint64_t call_id;
	uint64_t ts_ns;		/* capture time it was written */
	uint64_t end_ns;	/* its end (BYE, last message) */
	char state[16];		/* "terminated", ... NUL-padded */
	uint32_t json_len;
	uint32_t flags;		/* CALL_F_* */
};
/* The dialog never became a call (it was opened at a CANCEL, ACK or BYE
 * whose INVITE the capture did not hold, and no message said INVITE):
 * its frames go nowhere, its file away. */
#define CALL_F_DISCARD 0x1
_Static_assert(sizeof(struct rec_call_close) == 48, "rec_call_close");

/* A message an analyser read, for a sink that sends messages on (HEP):
 * when, on which transport between which ends, the call it belongs to;
 * corr_len bytes of correlation (the Call-ID) follow, then len bytes of
 * the message (a SIP message as on the wire; an RTCP report as JSON). */
enum msg_kind { MSGK_SIP = 1, MSGK_RTCP_JSON = 5 };	/* HEP's protocol types */
struct rec_message {
	uint64_t ts_ns;
	uint64_t call_id;	/* REC_CALL_OPEN id; 0: none sent */
	uint8_t kind;		/* enum msg_kind */
	uint8_t family;		/* 4 or 6 */
	uint8_t proto;		/* 17 UDP, 6 TCP */
	uint8_t pad;
	uint16_t sport, dport;
	uint8_t src[16], dst[16];	/* network byte order; IPv4 in the first 4 */
	uint16_t corr_len;
	uint16_t pad2;
	uint32_t len;
};
_Static_assert(sizeof(struct rec_message) == 64, "rec_message");

/* An event: JSON text of the control plane's form follows (no NUL). */
struct rec_event {
	uint32_t json_len;
	uint32_t pad;
};

/* ---- Messages on the daemons' Unix sockets (block 100+). ---- */

struct wire_msg {
	uint16_t type;
	uint16_t len;		/* body bytes that follow */
};
#define WIRE_MSG_MAX 4096	/* body limit: larger is a protocol error */

enum msg_type {
	MSG_HELLO = 100,	/* consumer -> producer: struct msg_hello */
	MSG_HELLO_OK,		/* producer -> consumer: struct msg_hello_ok + ring fd */
	MSG_REJECT,		/* producer -> consumer: reason text; then close */
	MSG_WAKE_CONSUMER,	/* producer -> consumer: ring has records */
	MSG_WAKE_PRODUCER,	/* consumer -> producer: ring has space */
	/* ctld's commands travel on its own link (common/ctlc.h) */
	MSG_TYPE_MAX
};

/* Who says hello on a producer's socket (ctld and the launcher speak on
 * ctld's own link, common/ctlc.h). */
enum wire_role { ROLE_CAPD = 1, ROLE_REASMD, ROLE_SINKD, ROLE_DUMP, ROLE_MAX };

struct msg_hello {
	uint32_t magic;		/* WIRE_MAGIC */
	uint16_t version;	/* WIRE_VERSION */
	uint16_t role;		/* enum wire_role of the consumer */
	uint32_t shard;		/* which shard the consumer is (reasmd), else 0 */
	uint32_t nshards;
	uint32_t wants;		/* REC_WANT() mask of record types */
	uint32_t pad;
	char name[32];		/* for logs, e.g. "sinkd listener" */
};
_Static_assert(sizeof(struct msg_hello) == 56, "msg_hello");

struct msg_hello_ok {
	uint64_t ring_bytes;
	uint32_t shard;
	uint32_t flags;
};

/* Names for logs; "unknown" for values out of range. */
const char *wire_rec_name(unsigned type);
const char *wire_msg_name(unsigned type);
const char *wire_close_reason_name(unsigned reason);
int wire_close_reason_parse(const char *s);	/* -1 if unknown */

/* Bytes a record of `len` occupies once padded. */
static inline uint32_t
wire_padded(uint32_t len)
{
	return (len + (WIRE_ALIGN - 1)) & ~(uint32_t)(WIRE_ALIGN - 1);
}

/*
 * Checks a record: known type, length at least the type's fixed part, and
 * the variable part consistent with it (a packet's caplen, an interface's
 * name).  `len` is the bytes available for it.  Returns 0, or -1 with a
 * reason in err.
 */
int wire_rec_check(const struct wire_rec *r, size_t avail, char *err, size_t errlen);

/* Session ids: (generation, shard, counter) packed below 2^53 so that JSON
 * numbers carry them exactly. 8 bits generation, 8 bits shard, 37 bits
 * counter (137 billion sessions per shard per generation). */
#define SID_GEN_BITS 8
#define SID_SHARD_BITS 8
#define SID_CTR_BITS 37
static inline uint64_t
sid_make(unsigned gen, unsigned shard, uint64_t ctr)
{
	return ((uint64_t)(gen & 0xFF) << 45) | ((uint64_t)(shard & 0xFF) << 37) |
	    (ctr & ((1ULL << 37) - 1));
}
static inline unsigned sid_shard(uint64_t id) { return (unsigned)((id >> 37) & 0xFF); }
static inline unsigned sid_gen(uint64_t id) { return (unsigned)((id >> 45) & 0xFF); }

#endif
