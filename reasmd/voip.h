/*
 * voip.h — the parts of the VoIP analyser (voip.c) that are pure
 * functions of their bytes, so that each is unit-tested and fuzzed alone:
 *
 *   sip.c   one SIP message: start line, the headers a call needs (long
 *           and compact names, any case, folded lines), the body and where
 *           the message ends (Content-Length); user parts of URIs
 *   sdp.c   the media of an SDP body: each m= line with its address (c=,
 *           session or media level), RTCP (a=rtcp, rtcp-mux), rtpmaps
 *   rtp.c   RTP and RTCP headers; a stream's sequence, loss and jitter as
 *           RFC 3550 (appendix A.1, A.3, A.8) defines them
 *
 * Every parser reads through struct cur (bounds-checked: a read past the
 * end yields nothing, never a byte outside) and keeps pointers into the
 * caller's buffer (struct str), valid while that buffer is.
 */
#ifndef REASMD_VOIP_H
#define REASMD_VOIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A span of the caller's bytes. */
struct str {
	const char *p;
	size_t n;
};

/* ---------------- SIP ---------------- */

enum sip_res {
	SIP_OK = 0,
	SIP_MORE,	/* (a stream) the message is not complete yet */
	SIP_BAD,	/* not a SIP message */
};

enum {
	SIP_INVITE = 1, SIP_ACK, SIP_BYE, SIP_CANCEL, SIP_REGISTER, SIP_OPTIONS, SIP_PRACK,
	SIP_UPDATE, SIP_SUBSCRIBE, SIP_NOTIFY, SIP_MESSAGE, SIP_INFO, SIP_REFER, SIP_PUBLISH,
	SIP_OTHER
};

struct sip_msg {
	bool request;
	int method;			/* request: SIP_INVITE, ... */
	int status;			/* response: 100 .. 699 */
	struct str method_name, ruri;
	struct str call_id, from, to, pai, cseq_method, content_type, contact, expires;
	int cseq_mid;			/* CSeq's method as SIP_INVITE, ...; 0: none */
	uint32_t cseq;
	long content_length;		/* -1: no header */
	const uint8_t *body;
	size_t body_len;
	size_t len;			/* the whole message (head and body); with
					 * SIP_MORE, what it will take once its head
					 * is whole (0: the head is not) */
};

/* True when p starts like a SIP request or status line. */
bool sip_start_line(const uint8_t *p, size_t n);
/*
 * Parses the message at p[0..n).  stream: bytes of a TCP stream, where
 * Content-Length says where the message ends (missing: no body) and an
 * incomplete head or body is SIP_MORE; otherwise (a datagram) the message
 * is all of p, its body whatever follows the head (Content-Length, when
 * smaller, wins).
 */
enum sip_res sip_parse(const uint8_t *p, size_t n, bool stream, struct sip_msg *m);
int sip_method_id(const char *p, size_t n);
const char *sip_method_name(int id);
/* The user part of the first sip:, sips: or tel: URI in a header value
 * (From, To, P-Asserted-Identity) or a bare URI, as written; empty span
 * when there is none. */
struct str sip_uri_user(struct str v);
/* --sipuser: does pattern match a URI's user part?  Plain: contains;
 * `x*` prefix; `*x` suffix; `\*` a literal star; case-insensitive.
 * Telephone numbers on both sides compared without `+`, `00`, `011` and
 * separators. */
bool sip_user_match(const char *pattern, struct str user);
/* The value of parameter `name` (e.g. "expires") in a header value;
 * false when there is none. */
bool sip_param(struct str v, const char *name, struct str *out);
/* The body part of type `type` (e.g. "application/sdp") in a multipart
 * body (its boundary from the Content-Type); false when there is none. */
bool sip_multipart_part(struct str content_type, const uint8_t *body, size_t len,
    const char *type, const uint8_t **part, size_t *plen);

/* ---------------- SDP ---------------- */

#define SDP_MAX_MEDIA 8
#define SDP_MAX_MAPS 16

struct sdp_media {
	char kind[12];			/* audio, video, image, ... */
	bool rtp;			/* its transport is RTP (RTP/AVP, UDP/TLS/RTP/SAVPF, ...),
					 * not udptl (T.38 fax) or another */
	uint8_t family;			/* 4 or 6; 0: no address */
	uint8_t addr[16];
	uint16_t port;			/* 0: disabled */
	bool rtcp_mux;
	uint16_t rtcp_port;		/* a=rtcp, else port + 1 */
	uint8_t rtcp_family, rtcp_addr[16];
	unsigned nfmt;			/* the m= line's payload types (RTP) */
	uint8_t fmt[SDP_MAX_MAPS];
	unsigned nmap;
	struct {
		uint8_t pt;
		uint32_t rate;
		char name[24];
	} map[SDP_MAX_MAPS];
};

struct sdp {
	unsigned n;
	struct sdp_media m[SDP_MAX_MEDIA];
};

/* Parses an SDP body.  Returns the number of media (0: none, or not SDP). */
unsigned sdp_parse(const uint8_t *p, size_t n, struct sdp *s);

/* ---------------- RTP / RTCP ---------------- */

struct rtp_hdr {
	uint8_t pt;
	bool marker;
	uint16_t seq;
	uint32_t ts, ssrc;
};

/* An RTP header (version 2, room for its CSRCs and extension). */
bool rtp_parse(const uint8_t *p, size_t n, struct rtp_hdr *h);
/* RTCP (version 2, packet type 200..207 first); *ssrc: the sender's. */
bool rtcp_parse(const uint8_t *p, size_t n, uint32_t *ssrc);
/* One RTCP report block (RFC 3550 6.4.1): what a receiver says of the
 * source `ssrc`: its cumulative loss and interarrival jitter (timestamp
 * units). */
struct rtcp_block {
	uint32_t ssrc;
	int32_t lost;
	uint32_t jitter;
};
/* The report blocks of every SR and RR in a compound RTCP packet, at most
 * max; returns how many. */
unsigned rtcp_blocks(const uint8_t *p, size_t n, struct rtcp_block *b, unsigned max);

/* An RTCP compound packet as Homer's JSON for it (HEP type 5, what
 * heplify sends): the first SR's or RR's type and SSRC, an SR's sender
 * information, every report block, the SDES's SSRC; the caller frees it. */
struct json_object;
struct json_object *rtcp_homer_json(const uint8_t *p, size_t n);

/* RFC 3551's clock rate of a static payload type; 0 when it has none. */
uint32_t rtp_static_rate(uint8_t pt);
const char *rtp_static_codec(uint8_t pt);

#define RTP_HIST 1024			/* sequence numbers remembered for duplicates */

struct rtp_stats {
	bool started;
	uint16_t max_seq;
	uint32_t cycles, base_seq, bad_seq;
	uint64_t received, duplicates, out_of_order, restarts;
	uint64_t in_sequence;		/* packets that followed the one before by 1 */
	uint64_t prev_expected;		/* expected as of the packet before */
	uint64_t restart_expected;	/* expected by the runs before a restart */
	/* RFC 3550 A.8 */
	bool have_transit;
	int64_t transit;
	double jitter;			/* timestamp units */
	double max_jitter_ms, sum_jitter_ms;
	uint64_t njitter;
	uint64_t seen[RTP_HIST / 64];	/* extended sequence numbers recently seen */
};

/* One packet of the stream, arrived at arrival_ns; rate: the clock rate
 * (0: no jitter for it: telephone-event, comfort noise, unknown). */
void rtp_update(struct rtp_stats *s, const struct rtp_hdr *h, uint64_t arrival_ns, uint32_t rate);
/* RFC 3550 A.3: expected - received (negative with duplicates). */
int64_t rtp_lost(const struct rtp_stats *s);

#endif
