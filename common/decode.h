/*
 * decode.h — bounds-checked decoding of captured frames down to TCP/UDP.
 *
 * Link layers: Ethernet (with 802.1Q, 802.1ad/QinQ tags, PPPoE sessions),
 * Linux cooked capture v1 and v2 (SLL, SLL2), raw IP (DLT_RAW, LINKTYPE_RAW,
 * IPV4, IPV6), BSD null/loopback.  Network: IPv4 with options (RFC 791),
 * IPv6 with extension headers (RFC 8200).  Tunnels, two levels deep at
 * most, decoded to what they carry: IP in IP, GRE (IP; Ethernet as TEB and
 * ERSPAN types I, II, III), GTP-U G-PDUs on UDP port 2152 (mobile cores:
 * VoLTE SIP rides there).  Transport: TCP with options (MSS,
 * window scale, SACK-permitted, timestamps; RFC 9293, 7323, 2018) and UDP
 * (RFC 768).
 *
 * Every read is checked against the captured length; a packet that does
 * not hold what its headers claim gets a reason code and is never read
 * past its end.  A fragment is reported as such (is_fragment) with its
 * payload, for the caller to reassemble and decode with decode_ip().
 */
#ifndef STH_DECODE_H
#define STH_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

enum decode_res {
	DEC_OK = 0,
	DEC_NOT_IP,		/* ARP, LLDP, ...: not ours, not an error */
	DEC_NOT_TCP_UDP,	/* ICMP, SCTP, ...: not ours, not an error */
	DEC_UNSUPPORTED_LINK,
	DEC_TRUNC_LINK,
	DEC_TRUNC_IP,
	DEC_BAD_IP_VERSION,
	DEC_BAD_IP_HLEN,
	DEC_BAD_IP_LEN,
	DEC_TRUNC_IP6_EXT,
	DEC_BAD_IP6_EXT,
	DEC_TRUNC_TCP,
	DEC_BAD_TCP_HLEN,
	DEC_BAD_TCP_OPT,
	DEC_TRUNC_UDP,
	DEC_BAD_UDP_LEN,
	DEC_BAD_FRAGMENT,
	DEC_RES_MAX
};

/* DLT values (pcap/dlt.h) we decode; LINKTYPE_RAW (101) maps to DLT_RAW. */
#define STH_DLT_NULL 0
#define STH_DLT_EN10MB 1
#define STH_DLT_RAW 12
#define STH_DLT_RAW_LT 101
#define STH_DLT_LOOP 108
#define STH_DLT_LINUX_SLL 113
#define STH_DLT_IPV4 228
#define STH_DLT_IPV6 229
#define STH_DLT_LINUX_SLL2 276

#define TH_FIN 0x01
#define TH_SYN 0x02
#define TH_RST 0x04
#define TH_PUSH 0x08
#define TH_ACK 0x10
#define TH_URG 0x20

struct decoded {
	uint8_t family;			/* 4 or 6 */
	uint8_t proto;			/* IPPROTO_TCP, IPPROTO_UDP, ... */
	uint8_t src[16], dst[16];	/* network order; IPv4 in the first 4 */
	uint16_t sport, dport;		/* host order */
	size_t l3_off;			/* offset of the IP header in the frame */
	size_t ip_len;			/* IP header + payload as the header says */
	uint32_t missing;		/* bytes the IP header claims beyond the capture */

	/* Fragments (IPv4 or IPv6 fragment header). */
	bool is_fragment, more_frags;
	uint32_t frag_id;
	uint32_t frag_off;		/* bytes */
	uint8_t frag_proto;		/* protocol of the reassembled payload */
	size_t frag_hdr_len;		/* IP header (and extension headers) length */

	/* TCP */
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t win;
	uint8_t wscale;			/* 0xFF: no window scale option */
	uint16_t mss;			/* 0: none */
	bool sack_ok, has_ts;
	uint32_t tsval, tsecr;

	const uint8_t *l4;		/* transport header */
	const uint8_t *payload;		/* captured payload */
	size_t payload_len;		/* captured payload bytes */
};

/*
 * Decodes a frame of the given DLT.  DEC_OK with is_fragment set means a
 * fragment (payload = the fragment's data, no transport fields); DEC_OK
 * otherwise means family, addresses, ports and (TCP) the header fields
 * are set.  Other results say why the frame was not decoded.
 */
enum decode_res decode_frame(int dlt, const uint8_t *pkt, size_t caplen,
    struct decoded *d);
/* The same without decode_frame's path for the common frame (Ethernet,
 * IPv4 without options, TCP): what tests and the fuzz target compare it
 * with. */
enum decode_res decode_frame_full(int dlt, const uint8_t *pkt, size_t caplen,
    struct decoded *d);
/* Two decodings agree: the same result and, when DEC_OK, the same fields
 * (those the result says are set). */
bool decode_same(enum decode_res ra, const struct decoded *a, enum decode_res rb,
    const struct decoded *b);

/* Decodes from an IP header (e.g. a reassembled datagram). */
enum decode_res decode_ip(const uint8_t *ip, size_t len, struct decoded *d);

/* Decodes a transport header and payload into d (d->proto set). */
enum decode_res decode_l4(const uint8_t *p, size_t len, struct decoded *d);

/* Offset of the IP header in a frame of the DLT, and its version (4, 6),
 * or -1 when the frame carries no IP.  Used by capd, which decodes no
 * further than the addresses. */
int decode_l3_offset(int dlt, const uint8_t *pkt, size_t caplen, size_t *off);

/* The transport protocol of the IP datagram at pkt + off, version v (as
 * decode_l3_offset found them; after IPv6 extension headers; every
 * fragment carries it) and, when this frame holds the transport header,
 * its ports (else 0).  Returns v, or -1.  capd routes VoIP with it. */
int decode_l4_peek(const uint8_t *pkt, size_t caplen, size_t off, int v, uint8_t *proto,
    uint16_t *sport, uint16_t *dport);

/* The reason code's name for counters ("truncated_tcp", ...). */
const char *decode_res_name(enum decode_res r);

/* A hash of the unordered address pair: the same for both directions and
 * for every fragment of a datagram.  capd shards with it. */
uint32_t decode_pair_hash(uint8_t family, const uint8_t *a, const uint8_t *b);
/* Its IPv4 case, of the two addresses read big-endian: one 64-bit word,
 * the lower address first, mixed once (murmur3's fmix64). */
static inline uint32_t
decode_pair_hash4(uint32_t p, uint32_t q)
{
	return (uint32_t)fmix64(((uint64_t)(p < q ? p : q) << 32 | (p < q ? q : p)) ^
	    ((uint64_t)4 << 56) ^ 0x9e3779b97f4a7c15ULL);
}
/* Which of nshards engines a frame goes to: by unordered address pair, so
 * both directions and every fragment meet; a tunnel's frames by the pair
 * inside (a flow may come wrapped one way and bare the other), the rest
 * of a fragmented tunnel datagram where its first fragment went (F
 * remembers the last SHARD_FRAGS; NULL: by the outer pair); with voip,
 * UDP, tunnels and TCP on a SIP port go to 0 (the calls live there).
 * capd and reasmd --shards. */
#define SHARD_FRAGS 1024
struct shard_frags {
	uint32_t tag[SHARD_FRAGS];	/* the datagram's (outer pair, id, protocol); 0: none */
	uint16_t shard[SHARD_FRAGS];
};
unsigned decode_shard(int dlt, const uint8_t *data, uint32_t caplen, unsigned nshards, bool voip,
    const int64_t *sip_ports, size_t nsip, struct shard_frags *F);
/* Which of n a hash picks: multiplied and shifted, not divided (a
 * division is 20-odd cycles, more than the hash, on every frame). */
static inline unsigned
decode_shard_pick(uint32_t h, unsigned n)
{
	return (unsigned)(((uint64_t)h * n) >> 32);
}
/* decode_shard, the bulk of a capture at once: an Ethernet frame of IPv4
 * TCP without VLAN tags (and no VoIP: then TCP may be SIP) is dealt by its
 * pair here, inline; anything else goes to decode_shard.  Every frame of a
 * file read by --shards engines passes here, once in each engine. */
static inline unsigned
decode_shard_quick(int dlt, const uint8_t *data, uint32_t caplen, unsigned nshards, bool voip,
    const int64_t *sip_ports, size_t nsip, struct shard_frags *F)
{
	if (dlt == STH_DLT_EN10MB && !voip && caplen >= 34 && data[12] == 0x08 && data[13] == 0x00 &&
	    data[23] == 6) {
		uint32_t p = (uint32_t)data[26] << 24 | (uint32_t)data[27] << 16 |
		    (uint32_t)data[28] << 8 | data[29];
		uint32_t q = (uint32_t)data[30] << 24 | (uint32_t)data[31] << 16 |
		    (uint32_t)data[32] << 8 | data[33];
		return decode_shard_pick(decode_pair_hash4(p, q), nshards);
	}
	return decode_shard(dlt, data, caplen, nshards, voip, sip_ports, nsip, F);
}

/* A hash of the unordered (address, port) pairs: the same both ways.
 * Unkeyed: anyone can compute it (tests craft collisions with it). */
uint32_t decode_flow_hash(uint8_t family, const uint8_t *a, uint16_t pa,
    const uint8_t *b, uint16_t pb);

/* The same, keyed (SipHash-1-3): what a table of flows the network chooses
 * hashes with, under a random key per process. */
struct sipkey;
uint32_t decode_flow_hash_keyed(const struct sipkey *k, uint8_t family, const uint8_t *a,
    uint16_t pa, const uint8_t *b, uint16_t pb);

#endif
