/*
 * decode.c — link, IPv4/IPv6 and TCP/UDP headers, every read bounds-checked.
 *
 * IPv4 header (RFC 791):              TCP header (RFC 9293):
 *  0      4      8              16     0              16              31
 * +------+------+--------------+-----+ +--------------+---------------+
 * |Ver=4 | IHL  |     TOS      | Total length        | | Source port  | Dest port     |
 * | Identification             |Flags| Fragment offset | Sequence number              |
 * | TTL         | Protocol     | Header checksum     | | Acknowledgment number        |
 * | Source address                                   | |Off| Flags    | Window        |
 * | Destination address                              | | Checksum     | Urgent        |
 * | Options (IHL > 5)                                | | Options (Off > 5)            |
 *
 * Truncation policy: an IP total length shorter than the frame trims
 * link-layer padding; a total length beyond the capture (snaplen) is
 * recorded in `missing` so the reassembler can count the hole; an IPv4
 * total length of 0 (TSO / BIG TCP captures) means "the whole frame".
 */
#include <string.h>

#include "decode.h"
#include "siphash.h"
#include "util.h"

#define ETH_IPV4 0x0800
#define ETH_IPV6 0x86DD
#define ETH_VLAN 0x8100
#define ETH_QINQ 0x88A8
#define ETH_QINQ_OLD 0x9100
#define ETH_PPPOE 0x8864		/* PPPoE session stage (RFC 2516) */
#define GRE_TEB 0x6558			/* transparent Ethernet bridging */
#define GRE_ERSPAN2 0x88BE		/* ERSPAN type I (no header) and II */
#define GRE_ERSPAN3 0x22EB
#define GTPU_PORT 2152

static const char *const res_names[DEC_RES_MAX] = {
	[DEC_OK] = "ok", [DEC_NOT_IP] = "not_ip", [DEC_NOT_TCP_UDP] = "not_tcp_udp",
	[DEC_UNSUPPORTED_LINK] = "unsupported_link", [DEC_TRUNC_LINK] = "truncated_link",
	[DEC_TRUNC_IP] = "truncated_ip", [DEC_BAD_IP_VERSION] = "bad_ip_version",
	[DEC_BAD_IP_HLEN] = "bad_ip_header_length", [DEC_BAD_IP_LEN] = "bad_ip_length",
	[DEC_TRUNC_IP6_EXT] = "truncated_ipv6_extension", [DEC_BAD_IP6_EXT] = "bad_ipv6_extension",
	[DEC_TRUNC_TCP] = "truncated_tcp", [DEC_BAD_TCP_HLEN] = "bad_tcp_header_length",
	[DEC_BAD_TCP_OPT] = "bad_tcp_option", [DEC_TRUNC_UDP] = "truncated_udp",
	[DEC_BAD_UDP_LEN] = "bad_udp_length", [DEC_BAD_FRAGMENT] = "bad_fragment",
};

const char *
decode_res_name(enum decode_res r)
{
	return r < DEC_RES_MAX ? res_names[r] : "unknown";
}

static inline uint16_t
rd16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static inline uint32_t
rd32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* Returns the ethertype-like protocol of the L3 payload and its offset, or
 * a negative decode_res. */
static int
link_l3(int dlt, const uint8_t *p, size_t caplen, size_t *off, uint16_t *etype)
{
	switch (dlt) {
	case STH_DLT_EN10MB: {
		size_t o = 14;
		uint16_t t;
		if (caplen < 14)
			return -DEC_TRUNC_LINK;
		t = rd16(p + 12);
		/* Up to two VLAN tags (802.1Q, QinQ). */
		for (int k = 0; k < 2 && (t == ETH_VLAN || t == ETH_QINQ || t == ETH_QINQ_OLD); k++) {
			if (caplen < o + 4)
				return -DEC_TRUNC_LINK;
			t = rd16(p + o + 2);
			o += 4;
		}
		if (t == ETH_PPPOE) {
			/* version/type, code, session, length; then PPP's protocol */
			uint16_t ppp;
			if (caplen < o + 8)
				return -DEC_TRUNC_LINK;
			ppp = rd16(p + o + 6);
			t = ppp == 0x0021 ? ETH_IPV4 : ppp == 0x0057 ? ETH_IPV6 : 0;
			o += 8;
		}
		*off = o;
		*etype = t;
		return 0;
	}
	case STH_DLT_LINUX_SLL:
		if (caplen < 16)
			return -DEC_TRUNC_LINK;
		*off = 16;
		*etype = rd16(p + 14);
		return 0;
	case STH_DLT_LINUX_SLL2:
		if (caplen < 20)
			return -DEC_TRUNC_LINK;
		*off = 20;
		*etype = rd16(p);
		return 0;
	case STH_DLT_NULL:
	case STH_DLT_LOOP: {
		uint32_t af;
		if (caplen < 4)
			return -DEC_TRUNC_LINK;
		/* NULL: host byte order of the capturing machine; LOOP: network.
		 * AF_INET is 2 everywhere; AF_INET6 is 10, 24, 28 or 30. */
		memcpy(&af, p, 4);
		if (dlt == STH_DLT_LOOP)
			af = rd32(p);
		else if (af > 0xFFFF)
			af = rd32(p);
		*off = 4;
		if (af == 2)
			*etype = ETH_IPV4;
		else if (af == 10 || af == 24 || af == 28 || af == 30)
			*etype = ETH_IPV6;
		else
			*etype = 0;
		return 0;
	}
	case STH_DLT_RAW:
	case STH_DLT_RAW_LT:
	case STH_DLT_IPV4:
	case STH_DLT_IPV6:
		if (caplen < 1)
			return -DEC_TRUNC_LINK;
		*off = 0;
		*etype = (p[0] >> 4) == 6 ? ETH_IPV6 : ETH_IPV4;
		return 0;
	}
	return -DEC_UNSUPPORTED_LINK;
}

int
decode_l3_offset(int dlt, const uint8_t *pkt, size_t caplen, size_t *off)
{
	uint16_t et;

	if (link_l3(dlt, pkt, caplen, off, &et) < 0)
		return -1;
	if (et == ETH_IPV4)
		return 4;
	if (et == ETH_IPV6)
		return 6;
	return -1;
}

int
decode_l4_peek(const uint8_t *pkt, size_t caplen, size_t off, int v, uint8_t *proto,
    uint16_t *sport, uint16_t *dport)
{
	size_t l4;
	bool first = true;	/* the fragment that holds the transport header */

	*proto = 0;
	*sport = *dport = 0;
	if (v == 4) {
		if (off + 20 > caplen)
			return -1;
		*proto = pkt[off + 9];
		first = (rd16(pkt + off + 6) & 0x1fff) == 0;
		l4 = off + (size_t)(pkt[off] & 0x0f) * 4;
	} else if (v == 6) {
		uint8_t nh;
		if (off + 40 > caplen)
			return -1;
		nh = pkt[off + 6];
		l4 = off + 40;
		/* the extension headers, up to the transport (or a fragment) */
		for (int k = 0; k < 8; k++) {
			if (nh == 0 || nh == 43 || nh == 60) {
				if (l4 + 2 > caplen)
					return v;
				nh = pkt[l4];
				l4 += 8 + (size_t)pkt[l4 + 1] * 8;
			} else if (nh == 44) {
				if (l4 + 8 > caplen)
					return v;
				first = (rd16(pkt + l4 + 2) & 0xfff8) == 0;
				nh = pkt[l4];
				l4 += 8;
			} else
				break;
		}
		*proto = nh;
	} else
		return -1;
	if (first && (*proto == 6 || *proto == 17) && l4 + 4 <= caplen) {
		*sport = rd16(pkt + l4);
		*dport = rd16(pkt + l4 + 2);
	}
	return v;
}

/* IP in IP (RFC 2003, protocol 4) and IPv6 in IP (RFC 4213, 41): the
 * inner datagram is what the flow is about.  Two levels at most. */
static enum decode_res decode_ip_depth(const uint8_t *ip, size_t len, struct decoded *d, int depth);

enum decode_res
decode_l4(const uint8_t *p, size_t len, struct decoded *d)
{
	if (d->proto == 6) {
		size_t hl;
		if (len < 20)
			return DEC_TRUNC_TCP;
		hl = (size_t)(p[12] >> 4) * 4;
		if (hl < 20)
			return DEC_BAD_TCP_HLEN;
		if (hl > len)
			return DEC_TRUNC_TCP;
		d->sport = rd16(p);
		d->dport = rd16(p + 2);
		d->seq = rd32(p + 4);
		d->ack = rd32(p + 8);
		d->flags = p[13];
		d->win = rd16(p + 14);
		d->wscale = 0xFF;
		d->mss = 0;
		d->sack_ok = false;
		d->has_ts = false;
		for (size_t o = 20; o < hl;) {
			uint8_t kind = p[o], olen;
			if (kind == 0)
				break;
			if (kind == 1) {
				o++;
				continue;
			}
			if (o + 2 > hl)
				return DEC_BAD_TCP_OPT;
			olen = p[o + 1];
			if (olen < 2 || o + olen > hl)
				return DEC_BAD_TCP_OPT;
			switch (kind) {
			case 2:
				if (olen == 4)
					d->mss = rd16(p + o + 2);
				break;
			case 3:
				if (olen == 3)
					d->wscale = p[o + 2] > 14 ? 14 : p[o + 2];
				break;
			case 4:
				d->sack_ok = true;
				break;
			case 8:
				if (olen == 10) {
					d->has_ts = true;
					d->tsval = rd32(p + o + 2);
					d->tsecr = rd32(p + o + 6);
				}
				break;
			}
			o += olen;
		}
		d->l4 = p;
		d->payload = p + hl;
		d->payload_len = len - hl;
		return DEC_OK;
	}
	if (d->proto == 17) {
		uint16_t ulen;
		if (len < 8)
			return DEC_TRUNC_UDP;
		d->sport = rd16(p);
		d->dport = rd16(p + 2);
		ulen = rd16(p + 4);
		/* 0 is a UDP length only for IPv6 jumbograms: use the IP's. */
		if (ulen != 0 && ulen < 8)
			return DEC_BAD_UDP_LEN;
		d->l4 = p;
		d->payload = p + 8;
		d->payload_len = len - 8;
		if (ulen != 0 && (size_t)ulen - 8 < d->payload_len)
			d->payload_len = (size_t)ulen - 8;	/* trailing bytes */
		return DEC_OK;
	}
	return DEC_NOT_TCP_UDP;
}

/* An Ethernet frame carried in a tunnel (GRE's TEB, ERSPAN). */
static enum decode_res
decode_inner_eth(const uint8_t *p, size_t len, struct decoded *d, int depth)
{
	size_t off;
	uint16_t et;

	if (link_l3(STH_DLT_EN10MB, p, len, &off, &et) < 0 || off >= len)
		return DEC_TRUNC_LINK;
	if (et != ETH_IPV4 && et != ETH_IPV6)
		return DEC_NOT_IP;
	return decode_ip_depth(p + off, len - off, d, depth);
}

/* GRE (RFC 2784, 2890): what it carries, IP or Ethernet (TEB, ERSPAN
 * type I, II and III).  Version 1 (PPTP's) carries PPP: not followed. */
static enum decode_res
decode_gre(const uint8_t *p, size_t len, struct decoded *d, int depth)
{
	uint16_t flags, ptype;
	size_t hl = 4;

	if (len < 4)
		return DEC_NOT_TCP_UDP;
	flags = rd16(p);
	ptype = rd16(p + 2);
	if ((flags & 7) != 0)
		return DEC_NOT_TCP_UDP;
	if (flags & 0xC000)		/* checksum (and reserved1) */
		hl += 4;
	if (flags & 0x2000)		/* key */
		hl += 4;
	if (flags & 0x1000)		/* sequence number */
		hl += 4;
	if (len < hl)
		return DEC_NOT_TCP_UDP;
	p += hl;
	len -= hl;
	switch (ptype) {
	case ETH_IPV4:
	case ETH_IPV6:
		return decode_ip_depth(p, len, d, depth);
	case GRE_TEB:
		return decode_inner_eth(p, len, d, depth);
	case GRE_ERSPAN2:
		/* type II has a sequence number and an 8-byte header; type I
		 * neither */
		if (flags & 0x1000) {
			if (len < 8)
				return DEC_NOT_TCP_UDP;
			p += 8;
			len -= 8;
		}
		return decode_inner_eth(p, len, d, depth);
	case GRE_ERSPAN3: {
		size_t eh = 12;
		if (len < 12)
			return DEC_NOT_TCP_UDP;
		if (p[11] & 1)		/* O: the platform-specific subheader */
			eh += 8;
		if (len < eh)
			return DEC_NOT_TCP_UDP;
		return decode_inner_eth(p + eh, len - eh, d, depth);
	}
	}
	return DEC_NOT_TCP_UDP;
}

/* GTP-U (3GPP TS 29.281): a G-PDU's user packet, IP.  0 with the inner
 * packet, or -1 when this is not one (the UDP datagram stands as is). */
static int
gtpu_inner(const uint8_t *p, size_t len, const uint8_t **in, size_t *inlen)
{
	size_t hl = 8;

	if (len < 8 || (p[0] >> 5) != 1 || !(p[0] & 0x10) || p[1] != 0xFF)
		return -1;
	if (p[0] & 0x07) {
		/* sequence number, N-PDU number, next extension header type */
		uint8_t next;
		if (len < 12)
			return -1;
		hl = 12;
		next = (p[0] & 0x04) ? p[11] : 0;
		for (int k = 0; next != 0 && k < 8; k++) {
			size_t el;
			if (len < hl + 1 || p[hl] == 0)
				return -1;
			el = (size_t)p[hl] * 4;
			if (len < hl + el)
				return -1;
			next = p[hl + el - 1];
			hl += el;
		}
		if (next != 0)
			return -1;
	}
	if (len <= hl || ((p[hl] >> 4) != 4 && (p[hl] >> 4) != 6))
		return -1;
	*in = p + hl;
	*inlen = len - hl;
	return 0;
}

/* The transport of an IP datagram, or what a tunnel in it carries. */
static enum decode_res
decode_l4_or_tunnel(const uint8_t *p, size_t len, struct decoded *d, int depth)
{
	enum decode_res r;
	const uint8_t *in;
	size_t inlen;

	if (d->proto == 47 && depth < 2)
		return decode_gre(p, len, d, depth + 1);
	r = decode_l4(p, len, d);
	if (r == DEC_OK && d->proto == 17 && depth < 2 &&
	    (d->sport == GTPU_PORT || d->dport == GTPU_PORT) &&
	    gtpu_inner(d->payload, d->payload_len, &in, &inlen) == 0) {
		struct decoded outer = *d;
		r = decode_ip_depth(in, inlen, d, depth + 1);
		if (r != DEC_OK && r != DEC_NOT_TCP_UDP) {
			*d = outer;	/* not a user packet after all: the UDP stands */
			r = DEC_OK;
		}
	}
	return r;
}

/* An IPv4 header's fields (p, its total length tot, caplen captured);
 * returns the bytes of the datagram captured. */
static inline size_t
ipv4_fields(const uint8_t *p, size_t tot, size_t caplen, struct decoded *d)
{
	d->family = 4;
	memset(d->src, 0, 16);
	memset(d->dst, 0, 16);
	memcpy(d->src, p + 12, 4);
	memcpy(d->dst, p + 16, 4);
	d->proto = p[9];
	d->ip_len = tot;
	d->missing = tot > caplen ? (uint32_t)(tot - caplen) : 0;
	return tot > caplen ? caplen : tot;
}

static enum decode_res
decode_ipv4(const uint8_t *p, size_t caplen, struct decoded *d, int depth)
{
	size_t hl, tot;
	uint16_t fo;

	if (caplen < 20)
		return DEC_TRUNC_IP;
	if ((p[0] >> 4) != 4)
		return DEC_BAD_IP_VERSION;
	hl = (size_t)(p[0] & 0x0F) * 4;
	if (hl < 20)
		return DEC_BAD_IP_HLEN;
	if (hl > caplen)
		return DEC_TRUNC_IP;
	tot = rd16(p + 2);
	if (tot == 0)
		tot = caplen;		/* TSO: the length was left for the NIC */
	if (tot < hl)
		return DEC_BAD_IP_LEN;
	tot = ipv4_fields(p, tot, caplen, d);
	fo = rd16(p + 6);
	d->is_fragment = (fo & 0x3FFF) != 0;	/* MF or an offset */
	if (d->is_fragment) {
		d->more_frags = (fo & 0x2000) != 0;
		d->frag_off = (uint32_t)(fo & 0x1FFF) * 8;
		d->frag_id = rd16(p + 4);
		d->frag_proto = p[9];
		d->frag_hdr_len = hl;
		d->payload = p + hl;
		d->payload_len = tot - hl;
		return DEC_OK;
	}
	if ((d->proto == 4 || d->proto == 41) && depth < 2)
		return decode_ip_depth(p + hl, tot - hl, d, depth + 1);
	return decode_l4_or_tunnel(p + hl, tot - hl, d, depth);
}

static enum decode_res
decode_ipv6(const uint8_t *p, size_t caplen, struct decoded *d, int depth)
{
	size_t plen, tot, o = 40;
	uint8_t nh;

	if (caplen < 40)
		return DEC_TRUNC_IP;
	if ((p[0] >> 4) != 6)
		return DEC_BAD_IP_VERSION;
	plen = rd16(p + 4);
	tot = plen + 40;
	if (plen == 0)
		tot = caplen;		/* a jumbogram or TSO: the whole frame */
	d->family = 6;
	memcpy(d->src, p + 8, 16);
	memcpy(d->dst, p + 24, 16);
	d->ip_len = tot;
	d->missing = tot > caplen ? (uint32_t)(tot - caplen) : 0;
	if (tot > caplen)
		tot = caplen;
	nh = p[6];
	d->is_fragment = false;
	/* Extension headers (RFC 8200 section 4), at most 16 of them. */
	for (int k = 0; k < 16; k++) {
		switch (nh) {
		case 0:		/* hop-by-hop */
		case 43:	/* routing */
		case 60:	/* destination options */
		case 135:	/* mobility */
			if (o + 8 > tot)
				return DEC_TRUNC_IP6_EXT;
			{
				size_t el = ((size_t)p[o + 1] + 1) * 8;
				if (o + el > tot)
					return DEC_TRUNC_IP6_EXT;
				nh = p[o];
				o += el;
			}
			continue;
		case 51: {	/* authentication header: length in 4-byte units */
			size_t el;
			if (o + 8 > tot)
				return DEC_TRUNC_IP6_EXT;
			el = ((size_t)p[o + 1] + 2) * 4;
			if (o + el > tot)
				return DEC_TRUNC_IP6_EXT;
			nh = p[o];
			o += el;
			continue;
		}
		case 44: {	/* fragment */
			uint16_t fo;
			if (o + 8 > tot)
				return DEC_TRUNC_IP6_EXT;
			fo = rd16(p + o + 2);
			d->frag_proto = p[o];
			d->frag_off = (uint32_t)(fo & 0xFFF8);
			d->more_frags = (fo & 1) != 0;
			d->frag_id = rd32(p + o + 4);
			o += 8;
			if (d->frag_off == 0 && !d->more_frags) {
				/* An atomic fragment: just a header to skip. */
				nh = d->frag_proto;
				continue;
			}
			d->is_fragment = true;
			d->proto = d->frag_proto;
			d->frag_hdr_len = o;
			d->payload = p + o;
			d->payload_len = tot - o;
			return DEC_OK;
		}
		case 59:	/* no next header */
			d->proto = nh;
			return DEC_NOT_TCP_UDP;
		case 4:
		case 41:
			if (depth < 2)
				return decode_ip_depth(p + o, tot - o, d, depth + 1);
			/* FALLTHROUGH */
		default:
			d->proto = nh;
			return decode_l4_or_tunnel(p + o, tot - o, d, depth);
		}
	}
	return DEC_BAD_IP6_EXT;
}

static enum decode_res
decode_ip_depth(const uint8_t *ip, size_t len, struct decoded *d, int depth)
{
	if (len < 1)
		return DEC_TRUNC_IP;
	switch (ip[0] >> 4) {
	case 4:
		return decode_ipv4(ip, len, d, depth);
	case 6:
		return decode_ipv6(ip, len, d, depth);
	}
	return DEC_BAD_IP_VERSION;
}

enum decode_res
decode_ip(const uint8_t *ip, size_t len, struct decoded *d)
{
	return decode_ip_depth(ip, len, d, 0);
}

/*
 * Most frames are Ethernet, IPv4 without options, not a fragment, TCP:
 * those are decoded here in one go (the link, the IP header and the
 * tunnel checks were a call each, a tenth of the engine on small frames),
 * with the same result and fields as decode_frame_full (a unit test over
 * varied frames and the decode fuzz target compare them); anything else,
 * or anything odd about them, takes the general path.
 */
enum decode_res
decode_frame(int dlt, const uint8_t *pkt, size_t caplen, struct decoded *d)
{
	if (dlt == STH_DLT_EN10MB && caplen >= 14 + 20 && rd16(pkt + 12) == ETH_IPV4 &&
	    pkt[14] == 0x45 && pkt[14 + 9] == 6 && (rd16(pkt + 14 + 6) & 0x3FFF) == 0) {
		const uint8_t *p = pkt + 14;
		size_t cap = caplen - 14, tot = rd16(p + 2);
		if (tot == 0)
			tot = cap;	/* TSO */
		if (tot >= 20) {
			d->l3_off = 14;
			tot = ipv4_fields(p, tot, cap, d);
			d->is_fragment = false;
			return decode_l4(p + 20, tot - 20, d);
		}
	}
	return decode_frame_full(dlt, pkt, caplen, d);
}

enum decode_res
decode_frame_full(int dlt, const uint8_t *pkt, size_t caplen, struct decoded *d)
{
	size_t off;
	uint16_t et;
	int r = link_l3(dlt, pkt, caplen, &off, &et);

	if (r < 0)
		return (enum decode_res)-r;
	d->l3_off = off;
	if (et != ETH_IPV4 && et != ETH_IPV6)
		return DEC_NOT_IP;
	if (caplen <= off)
		return DEC_TRUNC_IP;
	if ((pkt[off] >> 4) != (et == ETH_IPV4 ? 4 : 6))
		return DEC_BAD_IP_VERSION;
	return decode_ip(pkt + off, caplen - off, d);
}

bool
decode_same(enum decode_res ra, const struct decoded *a, enum decode_res rb, const struct decoded *b)
{
	if (ra != rb)
		return false;
	if (ra != DEC_OK)
		return true;
	if (a->family != b->family || a->proto != b->proto || memcmp(a->src, b->src, 16) != 0 ||
	    memcmp(a->dst, b->dst, 16) != 0 || a->l3_off != b->l3_off || a->ip_len != b->ip_len ||
	    a->missing != b->missing || a->is_fragment != b->is_fragment ||
	    a->payload != b->payload || a->payload_len != b->payload_len)
		return false;
	if (a->is_fragment)
		return a->more_frags == b->more_frags && a->frag_id == b->frag_id &&
		    a->frag_off == b->frag_off && a->frag_proto == b->frag_proto &&
		    a->frag_hdr_len == b->frag_hdr_len;
	if (a->sport != b->sport || a->dport != b->dport || a->l4 != b->l4)
		return false;
	if (a->proto != 6)
		return true;
	return a->seq == b->seq && a->ack == b->ack && a->flags == b->flags && a->win == b->win &&
	    a->wscale == b->wscale && a->mss == b->mss && a->sack_ok == b->sack_ok &&
	    a->has_ts == b->has_ts && (!a->has_ts || (a->tsval == b->tsval && a->tsecr == b->tsecr));
}

/* FNV-1a over bytes. */
static uint32_t
fnv(uint32_t h, const uint8_t *p, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		h ^= p[k];
		h *= 16777619u;
	}
	return h;
}

static uint32_t
mix32(uint32_t h)
{
	h ^= h >> 16;
	h *= 0x7feb352d;
	h ^= h >> 15;
	h *= 0x846ca68b;
	h ^= h >> 16;
	return h;
}

/* The pair's hash, the same both ways.  Every frame a dealer or an engine
 * of --shards sees goes through it: an IPv4 pair is one 64-bit word
 * mixed once (FNV over its 8 bytes, a multiply a byte, cost more than the
 * rest of the frame's dealing), an IPv6 pair four words. */
uint32_t
decode_pair_hash(uint8_t family, const uint8_t *a, const uint8_t *b)
{
	const uint8_t *lo = a, *hi = b;
	uint64_t x = family;

	if (family != 6)
		return decode_pair_hash4(rd32(a), rd32(b));
	if (memcmp(a, b, 16) > 0) {
		lo = b;
		hi = a;
	}
	for (int k = 0; k < 4; k++) {
		const uint8_t *w = k < 2 ? lo + 8 * k : hi + 8 * (k - 2);
		x = fmix64(x ^ ((uint64_t)rd32(w) << 32 | rd32(w + 4)));
	}
	return (uint32_t)x;
}

/* The flow's bytes in a canonical order (the lower endpoint first: the
 * same both ways): family, address, address, port, port.  Returns the
 * length (at most 37). */
static size_t
flow_key(uint8_t *buf, uint8_t family, const uint8_t *a, uint16_t pa, const uint8_t *b,
    uint16_t pb)
{
	size_t n = family == 6 ? 16 : 4;
	int c = n == 4 ? (rd32(a) > rd32(b)) - (rd32(a) < rd32(b)) : memcmp(a, b, n);

	if (c > 0 || (c == 0 && pa > pb)) {
		const uint8_t *t = a;
		uint16_t tp = pa;
		a = b;
		b = t;
		pa = pb;
		pb = tp;
	}
	buf[0] = family;
	memcpy(buf + 1, a, n);
	memcpy(buf + 1 + n, b, n);
	buf[1 + 2 * n] = (uint8_t)(pa >> 8);
	buf[2 + 2 * n] = (uint8_t)pa;
	buf[3 + 2 * n] = (uint8_t)(pb >> 8);
	buf[4 + 2 * n] = (uint8_t)pb;
	return 5 + 2 * n;
}

uint32_t
decode_flow_hash_keyed(const struct sipkey *k, uint8_t family, const uint8_t *a, uint16_t pa,
    const uint8_t *b, uint16_t pb)
{
	uint8_t buf[1 + 32 + 4];
	size_t len;

	if (family == 4) {
		/* The 16 bytes lower address, higher, their ports (big-endian),
		 * 4, three zeros: two words, hashed inline. */
		uint32_t x = rd32(a), y = rd32(b);
		if (x > y || (x == y && pa > pb)) {
			uint32_t t = x;
			uint16_t tp = pa;
			x = y;
			y = t;
			pa = pb;
			pb = tp;
		}
		return (uint32_t)siphash13_16(k, (uint64_t)__builtin_bswap32(x) | (uint64_t)__builtin_bswap32(y) << 32,
		    (uint64_t)__builtin_bswap16(pa) | (uint64_t)__builtin_bswap16(pb) << 16 | (uint64_t)4 << 32);
	}
	len = flow_key(buf, family, a, pa, b, pb);
	return (uint32_t)siphash13(k, buf, len);
}

uint32_t
decode_flow_hash(uint8_t family, const uint8_t *a, uint16_t pa,
    const uint8_t *b, uint16_t pb)
{
	uint8_t buf[1 + 32 + 4];
	size_t len = flow_key(buf, family, a, pa, b, pb);

	/* as before the key existed: FNV-1a seeded with the family, then the
	 * addresses and the ports (tests and benchgen craft collisions with it) */
	return mix32(fnv(2166136261u ^ family, buf + 1, len - 1));
}

/* The pair of the datagram a tunnel's first fragment carries (its
 * transport may be cut short: only the addresses are wanted). */
static bool
first_fragment_inner(const struct decoded *fr, struct decoded *in)
{
	memset(in, 0, sizeof(*in));
	if (fr->frag_proto == 4 || fr->frag_proto == 41)
		(void)decode_ip_depth(fr->payload, fr->payload_len, in, 1);
	else {
		in->proto = fr->frag_proto;
		(void)decode_l4_or_tunnel(fr->payload, fr->payload_len, in, 0);
	}
	return in->family != 0;
}

static unsigned
pair_shard(const struct decoded *d, unsigned nshards)
{
	return decode_shard_pick(decode_pair_hash(d->family, d->src, d->dst), nshards);
}

/* A tunnel's fragmented datagram: its first fragment decides (by the
 * pair it carries) and the rest follow it, by the outer pair and the
 * datagram's id; a fragment that comes before its first goes by the
 * outer pair (the engine that gets it counts it when it times out). */
static unsigned
fragment_shard(struct shard_frags *F, const struct decoded *d, unsigned nshards)
{
	uint32_t tag = decode_pair_hash(d->family, d->src, d->dst);
	unsigned s = decode_shard_pick(tag, nshards);
	struct decoded in;

	tag = mix32(tag ^ d->frag_id ^ ((uint32_t)d->frag_proto << 24)) | 1;
	if (F == NULL)
		return s;
	if (d->frag_off == 0) {
		if (first_fragment_inner(d, &in))
			s = pair_shard(&in, nshards);
		F->tag[tag % SHARD_FRAGS] = tag;
		F->shard[tag % SHARD_FRAGS] = (uint16_t)s;
		return s;
	}
	if (F->tag[tag % SHARD_FRAGS] == tag)
		return F->shard[tag % SHARD_FRAGS];
	return s;
}

unsigned
decode_shard(int dlt, const uint8_t *data, uint32_t caplen, unsigned nshards, bool voip,
    const int64_t *sip_ports, size_t nsip, struct shard_frags *F)
{
	size_t off;
	int v;
	uint8_t proto = 0;
	uint16_t sp = 0, dp = 0;
	struct decoded d;

	if (nshards <= 1)
		return 0;
	v = decode_l3_offset(dlt, data, caplen, &off);
	if (v == 4 && !voip && off + 20 <= caplen && data[off + 9] == 6)
		/* plain IPv4 TCP, the bulk of it: by its pair, at once */
		return decode_shard_pick(decode_pair_hash(4, data + off + 12, data + off + 16), nshards);
	if (v > 0)
		(void)decode_l4_peek(data, caplen, off, v, &proto, &sp, &dp);
	if (voip) {
		/* VoIP: calls live in shard 0, so every UDP datagram (SIP, RTP
		 * between any addresses, fragments included) and TCP on the SIP
		 * ports go there, and so do tunnels (GRE, ERSPAN, IP in IP; GTP-U
		 * is UDP): what they carry is known only once decoded, and a
		 * tunnel's fragments show nothing of it. */
		if (proto == 17 || proto == 47 || proto == 4 || proto == 41)
			return 0;
		for (size_t k = 0; proto == 6 && (sp || dp) && k < nsip; k++)
			if (sip_ports[k] == sp || sip_ports[k] == dp)
				return 0;
	} else if (proto == 47 || proto == 4 || proto == 41 ||
	    (proto == 17 && (sp == GTPU_PORT || dp == GTPU_PORT || (sp == 0 && dp == 0)))) {
		/* A tunnel (or a UDP fragment: GTP-U, perhaps): by the pair
		 * inside, so that a flow whose directions come differently
		 * wrapped (one in a tunnel, one bare) meets in one engine. */
		memset(&d, 0, sizeof(d));
		(void)decode_frame(dlt, data, caplen, &d);
		if (d.family != 0)
			return d.is_fragment ? fragment_shard(F, &d, nshards) : pair_shard(&d, nshards);
	}
	if (v == 4 && off + 20 <= caplen)
		return decode_shard_pick(decode_pair_hash(4, data + off + 12, data + off + 16), nshards);
	if (v == 6 && off + 40 <= caplen)
		return decode_shard_pick(decode_pair_hash(6, data + off + 8, data + off + 24), nshards);
	return 0;
}
