/* test_decode.c — frames built byte by byte, every link type and the
 * truncation cases. */
#include <arpa/inet.h>
#include <dirent.h>
#include <pcap/pcap.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "decode.h"
#include "siphash.h"
#include "t.h"

/* Builds IPv4 + TCP with options and payload at p; returns the length. */
static size_t
ipv4_tcp(uint8_t *p, const char *payload, int ip_opts, int frag_mf)
{
	size_t plen = strlen(payload), ihl = 20 + (size_t)ip_opts, thl = 20 + 20;
	size_t tot = ihl + thl + plen;
	memset(p, 0, tot);
	p[0] = (uint8_t)(0x40 | (ihl / 4));
	p[2] = (uint8_t)(tot >> 8);
	p[3] = (uint8_t)tot;
	p[4] = 0x12; p[5] = 0x34;
	if (frag_mf)
		p[6] = 0x20;
	p[8] = 64;
	p[9] = 6;
	memcpy(p + 12, "\x0a\x00\x00\x01", 4);
	memcpy(p + 16, "\x0a\x00\x00\x02", 4);
	uint8_t *t = p + ihl;
	t[0] = 0x30; t[1] = 0x39;	/* 12345 */
	t[2] = 0x00; t[3] = 0x50;	/* 80 */
	t[4] = 0xAA; t[5] = 0xBB; t[6] = 0xCC; t[7] = 0xDD;
	t[11] = 7;
	t[12] = (uint8_t)((thl / 4) << 4);
	t[13] = TH_SYN | TH_ACK;
	t[14] = 0xFF; t[15] = 0xFF;
	/* MSS 1460, SACK-permitted, timestamps, NOP, wscale 7 */
	uint8_t opts[20] = { 2, 4, 0x05, 0xB4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 1, 3, 3, 7 };
	memcpy(t + 20, opts, 20);
	memcpy(t + thl, payload, plen);
	return tot;
}

static void
decode_ethernet_ipv4_tcp(void)
{
	uint8_t f[256];
	struct decoded d;
	size_t n;

	memset(f, 0, 14);
	f[12] = 0x08;
	n = 14 + ipv4_tcp(f + 14, "hello", 4, 0);
	T_EQ_U(decode_frame(STH_DLT_EN10MB, f, n, &d), DEC_OK);
	T_EQ_U(d.family, 4);
	T_EQ_U(d.sport, 12345);
	T_EQ_U(d.dport, 80);
	T_EQ_U(d.seq, 0xAABBCCDD);
	T_EQ_U(d.ack, 7);
	T_EQ_U(d.mss, 1460);
	T_EQ_U(d.wscale, 7);
	T_CHECK(d.sack_ok && d.has_ts);
	T_EQ_U(d.tsval, 1);
	T_EQ_U(d.tsecr, 2);
	T_EQ_U(d.payload_len, 5);
	T_CHECK(memcmp(d.payload, "hello", 5) == 0);
	T_CHECK(!d.is_fragment);
	/* Ethernet padding beyond the IP total length is not payload. */
	memset(f + n, 0xEE, 10);
	T_EQ_U(decode_frame(STH_DLT_EN10MB, f, n + 10, &d), DEC_OK);
	T_EQ_U(d.payload_len, 5);
	/* Every truncation of the frame is refused or reported, never read past. */
	for (size_t k = 0; k < n; k++) {
		enum decode_res r = decode_frame(STH_DLT_EN10MB, f, k, &d);
		T_CHECK(r != DEC_OK || d.missing > 0);
	}
}

static void
decode_vlan_qinq_sll_sll2_null_raw(void)
{
	uint8_t f[256], ip[128];
	struct decoded d;
	size_t n = ipv4_tcp(ip, "x", 0, 0);

	/* QinQ: 88a8, 8100, then IPv4. */
	memset(f, 0, 22);
	f[12] = 0x88; f[13] = 0xA8; f[16] = 0x81; f[17] = 0x00; f[20] = 0x08; f[21] = 0x00;
	memcpy(f + 22, ip, n);
	T_EQ_U(decode_frame(STH_DLT_EN10MB, f, 22 + n, &d), DEC_OK);
	T_EQ_U(d.l3_off, 22);
	/* SLL */
	memset(f, 0, 16);
	f[14] = 0x08;
	memcpy(f + 16, ip, n);
	T_EQ_U(decode_frame(STH_DLT_LINUX_SLL, f, 16 + n, &d), DEC_OK);
	/* SLL2 */
	memset(f, 0, 20);
	f[0] = 0x08;
	memcpy(f + 20, ip, n);
	T_EQ_U(decode_frame(STH_DLT_LINUX_SLL2, f, 20 + n, &d), DEC_OK);
	/* BSD null, host order AF_INET = 2 */
	uint32_t af = 2;
	memcpy(f, &af, 4);
	memcpy(f + 4, ip, n);
	T_EQ_U(decode_frame(STH_DLT_NULL, f, 4 + n, &d), DEC_OK);
	/* raw */
	T_EQ_U(decode_frame(STH_DLT_RAW, ip, n, &d), DEC_OK);
	T_EQ_U(decode_frame(STH_DLT_RAW_LT, ip, n, &d), DEC_OK);
	/* ARP is not IP, not an error */
	memset(f, 0, 60);
	f[12] = 0x08; f[13] = 0x06;
	T_EQ_U(decode_frame(STH_DLT_EN10MB, f, 60, &d), DEC_NOT_IP);
	T_EQ_U(decode_frame(12345, f, 60, &d), DEC_UNSUPPORTED_LINK);
}

static void
decode_ipv6_ext_headers_and_fragments(void)
{
	uint8_t p[200];
	struct decoded d;

	memset(p, 0, sizeof(p));
	p[0] = 0x60;
	p[6] = 0;		/* hop-by-hop */
	p[8] = 0x20; p[9] = 0x01; p[23] = 1;
	p[24] = 0x20; p[25] = 0x01; p[39] = 2;
	p[40] = 60; p[41] = 0;	/* -> destination options, 8 bytes */
	p[48] = 17; p[49] = 0;	/* -> UDP */
	p[56] = 0x13; p[57] = 0xC4; p[58] = 0x13; p[59] = 0xC4; p[61] = 12;
	memcpy(p + 64, "SIP!", 4);
	p[5] = 68 - 40;
	T_EQ_U(decode_ip(p, 68, &d), DEC_OK);
	T_EQ_U(d.family, 6);
	T_EQ_U(d.proto, 17);
	T_EQ_U(d.sport, 5060);
	T_EQ_U(d.payload_len, 4);
	/* A fragment header with an offset: a fragment. */
	p[6] = 44;
	p[40] = 17; p[41] = 0; p[42] = 0x00; p[43] = 0x11;	/* offset 16, M=1 */
	p[44] = 0; p[45] = 0; p[46] = 0x12; p[47] = 0x34;
	T_EQ_U(decode_ip(p, 68, &d), DEC_OK);
	T_CHECK(d.is_fragment && d.more_frags);
	T_EQ_U(d.frag_off, 16);
	T_EQ_U(d.frag_id, 0x1234);
	T_EQ_U(d.frag_proto, 17);
	/* A truncated extension header. */
	p[6] = 0;
	p[41] = 10;
	T_EQ_U(decode_ip(p, 68, &d), DEC_TRUNC_IP6_EXT);
}

static void
decode_bad_headers(void)
{
	uint8_t p[128];
	struct decoded d;
	size_t n = ipv4_tcp(p, "abc", 0, 0);

	p[0] = 0x44;		/* IHL 16 bytes */
	T_EQ_U(decode_ip(p, n, &d), DEC_BAD_IP_HLEN);
	p[0] = 0x45;
	p[20 + 12] = 0x40;	/* TCP data offset 16 */
	T_EQ_U(decode_ip(p, n, &d), DEC_BAD_TCP_HLEN);
	p[20 + 12] = 0xA0;
	p[20 + 20] = 2; p[20 + 21] = 40;	/* option longer than the header */
	T_EQ_U(decode_ip(p, n, &d), DEC_BAD_TCP_OPT);
	p[2] = 0; p[3] = 10;	/* total length below the header */
	T_EQ_U(decode_ip(p, n, &d), DEC_BAD_IP_LEN);
	/* IPv4 fragment */
	n = ipv4_tcp(p, "abc", 0, 1);
	T_EQ_U(decode_ip(p, n, &d), DEC_OK);
	T_CHECK(d.is_fragment);
	/* snaplen: header says more than captured */
	n = ipv4_tcp(p, "abcdefgh", 0, 0);
	T_EQ_U(decode_ip(p, n - 3, &d), DEC_OK);
	T_EQ_U(d.missing, 3);
	T_EQ_U(d.payload_len, 5);
	T_CHECK(strcmp(decode_res_name(DEC_TRUNC_TCP), "truncated_tcp") == 0);
}

static void
decode_hashes_symmetric(void)
{
	uint8_t a[16] = { 10, 0, 0, 1 }, b[16] = { 10, 0, 0, 2 };

	T_EQ_U(decode_pair_hash(4, a, b), decode_pair_hash(4, b, a));
	T_EQ_U(decode_flow_hash(4, a, 1000, b, 80), decode_flow_hash(4, b, 80, a, 1000));
	T_CHECK(decode_flow_hash(4, a, 1000, b, 80) != decode_flow_hash(4, a, 1001, b, 80));
}

/* SipHash-2-4 against the reference vectors (key 00..0f, message 00..n-1),
 * so that siphash13, the same code with other round counts, is right too;
 * the keyed flow hash is symmetric and depends on its key. */
static void
siphash_vectors_and_keyed_flow_hash(void)
{
	struct sipkey k = { 0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL }, k2 = { 1, 2 };
	uint8_t m[16], a[4] = { 10, 0, 0, 1 }, b[4] = { 10, 0, 0, 2 };

	for (int i = 0; i < 16; i++)
		m[i] = (uint8_t)i;
	T_EQ_U(siphash24(&k, m, 0), 0x726fdb47dd0e0e31ULL);
	T_EQ_U(siphash24(&k, m, 8), 0x93f5f5799a932462ULL);
	T_EQ_U(siphash24(&k, m, 15), 0xa129ca6149be45e5ULL);
	T_CHECK(siphash13(&k, m, 15) != siphash24(&k, m, 15));
	T_EQ_U(decode_flow_hash_keyed(&k, 4, a, 1000, b, 80), decode_flow_hash_keyed(&k, 4, b, 80, a, 1000));
	T_CHECK(decode_flow_hash_keyed(&k, 4, a, 1000, b, 80) != decode_flow_hash_keyed(&k2, 4, a, 1000, b, 80));
	T_CHECK(decode_flow_hash_keyed(&k, 4, a, 1000, b, 80) != decode_flow_hash_keyed(&k, 4, a, 1001, b, 80));
	/* siphash13_16 is siphash13 of its 16 bytes; an IPv4 flow's keyed
	 * hash is siphash13 of (lower address, higher, their ports, 4, 0, 0,
	 * 0), the order by address, then by port */
	for (uint64_t i = 1; i < 4000; i++) {
		uint8_t w[16], x[4], y[4];
		uint64_t m0 = fmix64(i), m1 = fmix64(~i), r = fmix64(i * 3);
		uint16_t px = (uint16_t)(r >> 32), py = (uint16_t)(i % 5 == 0 ? px + i % 3 : r >> 48);
		struct sipkey kk = { fmix64(i + 7), fmix64(i + 9) };
		for (int j = 0; j < 8; j++) {
			w[j] = (uint8_t)(m0 >> (8 * j));
			w[8 + j] = (uint8_t)(m1 >> (8 * j));
		}
		T_EQ_U(siphash13_16(&kk, m0, m1), siphash13(&kk, w, 16));
		memcpy(x, &r, 4);
		memcpy(y, i % 7 == 0 ? x : (const uint8_t *)&m0, 4);	/* equal addresses too */
		const bool swap = memcmp(x, y, 4) > 0 || (memcmp(x, y, 4) == 0 && px > py);
		memcpy(w, swap ? y : x, 4);
		memcpy(w + 4, swap ? x : y, 4);
		w[8] = (uint8_t)((swap ? py : px) >> 8); w[9] = (uint8_t)(swap ? py : px);
		w[10] = (uint8_t)((swap ? px : py) >> 8); w[11] = (uint8_t)(swap ? px : py);
		w[12] = 4; w[13] = w[14] = w[15] = 0;
		T_EQ_U(decode_flow_hash_keyed(&kk, 4, x, px, y, py), (uint32_t)siphash13(&kk, w, 16));
		T_EQ_U(decode_flow_hash_keyed(&kk, 4, y, py, x, px), (uint32_t)siphash13(&kk, w, 16));
	}
}

/* capd's VoIP routing: the protocol of every fragment, the ports of the
 * first only, through IPv6 extension headers. */
static void
l4_peek_for_routing(void)
{
	uint8_t v4[28] = { 0x45, 0, 0, 28, 0, 1, 0x20, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
		0x13, 0xc4, 0x1f, 0x40, 0, 8, 0, 0 };
	uint8_t v6[40 + 8 + 8] = { 0x60, 0, 0, 0, 0, 16, 0, 64 };
	uint8_t proto;
	uint16_t sp, dp;

	T_CHECK(decode_l4_peek(v4, sizeof(v4), 0, 4, &proto, &sp, &dp) == 4);
	T_CHECK(proto == 17 && sp == 5060 && dp == 8000);	/* the first fragment (MF set) */
	v4[7] = 0x10;						/* offset 128: a later one */
	T_CHECK(decode_l4_peek(v4, sizeof(v4), 0, 4, &proto, &sp, &dp) == 4);
	T_CHECK(proto == 17 && sp == 0 && dp == 0);
	v4[9] = 6;
	v4[7] = 0;
	v4[6] = 0;
	T_CHECK(decode_l4_peek(v4, sizeof(v4), 0, 4, &proto, &sp, &dp) == 4);
	T_CHECK(proto == 6 && sp == 5060);
	/* IPv6: destination options, then a fragment header (next: UDP) */
	v6[6] = 60;
	v6[40] = 44;
	v6[41] = 0;
	v6[48] = 17;
	v6[50] = 0;
	v6[51] = 1;		/* offset 0, more fragments: the first */
	T_CHECK(decode_l4_peek(v6, sizeof(v6), 0, 6, &proto, &sp, &dp) == 6);
	T_CHECK(proto == 17);
	v6[50] = 0x10;		/* a later fragment */
	T_CHECK(decode_l4_peek(v6, sizeof(v6), 0, 6, &proto, &sp, &dp) == 6);
	T_CHECK(proto == 17 && sp == 0);
	T_CHECK(decode_l4_peek(v6, 20, 0, 6, &proto, &sp, &dp) == -1);
}

/* Tunnels: PPPoE, GRE (IP, TEB, ERSPAN II), GTP-U with an extension
 * header; the inner UDP datagram is what decode reports. */
static size_t
inner_udp(uint8_t *p)
{
	static const uint8_t ip[28] = { 0x45, 0, 0, 28 + 4, 0, 1, 0, 0, 64, 17, 0, 0, 192, 168, 1, 1,
		192, 168, 1, 2, 0x13, 0xc4, 0x13, 0xc4, 0, 12, 0, 0 };
	memcpy(p, ip, 28);
	memcpy(p + 28, "SIP!", 4);
	return 32;
}

static size_t
outer_ip(uint8_t *p, uint8_t proto, size_t payload)
{
	static const uint8_t ip[20] = { 0x45, 0, 0, 0, 0, 2, 0, 0, 64, 0, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2 };
	memcpy(p, ip, 20);
	p[2] = (uint8_t)((20 + payload) >> 8);
	p[3] = (uint8_t)(20 + payload);
	p[9] = proto;
	return 20;
}

static void
check_inner(const uint8_t *f, size_t n, int dlt)
{
	struct decoded d;

	memset(&d, 0, sizeof(d));
	T_CHECK(decode_frame(dlt, f, n, &d) == DEC_OK);
	T_CHECK(d.proto == 17 && d.sport == 5060 && d.src[0] == 192 && d.src[3] == 1);
	T_CHECK(d.payload_len == 4 && memcmp(d.payload, "SIP!", 4) == 0);
}

static void
decode_tunnels(void)
{
	uint8_t f[256], in[64];
	size_t n, k, il = inner_udp(in);
	static const uint8_t eth_ip[14] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0x08, 0x00 };

	/* PPPoE session: Ethernet, 0x8864, 6 bytes, PPP protocol 0x0021 */
	memcpy(f, eth_ip, 14);
	f[12] = 0x88;
	f[13] = 0x64;
	memcpy(f + 14, (const uint8_t[]){ 0x11, 0, 0, 1, 0, (uint8_t)(il + 2), 0x00, 0x21 }, 8);
	memcpy(f + 22, in, il);
	check_inner(f, 22 + il, STH_DLT_EN10MB);

	/* GRE carrying IPv4, with a key */
	k = outer_ip(f, 47, 8 + il);
	memcpy(f + k, (const uint8_t[]){ 0x20, 0, 0x08, 0x00, 0, 0, 0, 7 }, 8);
	memcpy(f + k + 8, in, il);
	check_inner(f, k + 8 + il, STH_DLT_RAW);

	/* ERSPAN type II: GRE with a sequence number, 8 bytes, Ethernet */
	n = 4 + 4 + 8 + 14 + il;
	k = outer_ip(f, 47, n);
	memcpy(f + k, (const uint8_t[]){ 0x10, 0, 0x88, 0xBE, 0, 0, 0, 1 }, 8);
	memset(f + k + 8, 0, 8);
	f[k + 8] = 0x10;	/* version 1 (type II) */
	memcpy(f + k + 16, eth_ip, 14);
	memcpy(f + k + 30, in, il);
	check_inner(f, k + n, STH_DLT_RAW);

	/* GTP-U G-PDU with a sequence number and one extension header */
	{
		uint8_t g[16] = { 0x36, 0xFF, 0, 0, 0, 0, 0, 9, 0, 1, 0, 0x85, 1, 0, 0, 0 };
		uint8_t udp[8] = { 0x08, 0x68, 0x08, 0x68, 0, 0, 0, 0 };
		n = 8 + 16 + il;
		k = outer_ip(f, 17, n);
		udp[5] = (uint8_t)n;
		memcpy(f + k, udp, 8);
		memcpy(f + k + 8, g, 16);
		memcpy(f + k + 24, in, il);
		check_inner(f, k + n, STH_DLT_RAW);
		/* not a G-PDU (an echo request): the outer UDP datagram stands */
		f[k + 9] = 1;
		{
			struct decoded d;
			memset(&d, 0, sizeof(d));
			T_CHECK(decode_frame(STH_DLT_RAW, f, k + n, &d) == DEC_OK);
			T_CHECK(d.sport == 2152 && d.src[0] == 10);
		}
	}
}

/* Dealing frames to engines: a tunnel's frame by the pair inside (the
 * same engine as the bare other direction), a fragmented tunnel datagram
 * where its first fragment went, a fragment before its first by the outer
 * pair. */
static void
shard_by_inner_pair(void)
{
	uint8_t bare[128], rev[128], tun[192], frag2[64];
	struct shard_frags *F = calloc(1, sizeof(*F));
	size_t n = ipv4_tcp(bare, "hello", 0, 0), k;
	unsigned W = 64, s_in, s_out;

	/* the reverse direction, bare: 10.0.0.2 -> 10.0.0.1 */
	memcpy(rev, bare, n);
	memcpy(rev + 12, bare + 16, 4);
	memcpy(rev + 16, bare + 12, 4);
	/* the forward direction in IP in IP, outer 192.0.2.1 -> 192.0.2.9 */
	k = outer_ip(tun, 4, n);
	memcpy(tun + 12, "\xc0\x00\x02\x01\xc0\x00\x02\x09", 8);
	memcpy(tun + k, bare, n);
	s_in = decode_shard(STH_DLT_RAW, rev, (uint32_t)n, W, false, NULL, 0, F);
	T_EQ_U(decode_shard(STH_DLT_RAW, tun, (uint32_t)(k + n), W, false, NULL, 0, F), s_in);
	T_EQ_U(decode_shard(STH_DLT_RAW, bare, (uint32_t)n, W, false, NULL, 0, F), s_in);
	/* the pair 10.0.0.1/10.0.0.2 and the outer pair deal apart here (W = 64) */
	s_out = decode_shard_pick(decode_pair_hash(4, tun + 12, tun + 16), W);
	T_CHECK(s_out != s_in);

	/* the tunnel datagram in two fragments: the first holds the inner
	 * header (24 bytes of payload), the second the rest */
	tun[6] = 0x20;				/* MF */
	tun[2] = 0; tun[3] = 20 + 24;
	T_EQ_U(decode_shard(STH_DLT_RAW, tun, 20 + 24, W, false, NULL, 0, F), s_in);
	memcpy(frag2, tun, 20);
	frag2[6] = 0; frag2[7] = 3;		/* offset 24 bytes, last */
	frag2[2] = 0; frag2[3] = (uint8_t)(20 + n - 24);
	memcpy(frag2 + 20, bare + 24, n - 24);
	T_EQ_U(decode_shard(STH_DLT_RAW, frag2, (uint32_t)(20 + n - 24), W, false, NULL, 0, F), s_in);
	/* another datagram (id): its first fragment not seen, the outer pair */
	frag2[5] ^= 1;
	T_EQ_U(decode_shard(STH_DLT_RAW, frag2, (uint32_t)(20 + n - 24), W, false, NULL, 0, F), s_out);
	/* with no memory of fragments, a fragment goes by its outer pair */
	frag2[5] ^= 1;
	T_EQ_U(decode_shard(STH_DLT_RAW, frag2, (uint32_t)(20 + n - 24), W, false, NULL, 0, NULL), s_out);
	/* VoIP: tunnels to engine 0, as before */
	T_EQ_U(decode_shard(STH_DLT_RAW, tun, 20 + 24, W, true, NULL, 0, F), 0);
	free(F);
}

/* decode_frame's path for the common frame decodes as the general one:
 * the frame as it is, and variants of its TCP header (options: MSS,
 * window scale, SACK-permitted, timestamps, a bad length), its IP total
 * length (0 for TSO, short, beyond the capture) and its flags. */
static void
frame_as_full(const uint8_t *v, uint32_t cl, unsigned i)
{
	/* MSS, NOP, window scale, SACK-permitted, timestamps, end: 24 bytes */
	static const uint8_t opts[24] = { 2, 4, 5, 180, 1, 3, 3, 7, 4, 2, 8, 10, 0, 0, 0, 9, 0, 0, 0, 4, 0, 0, 0, 0 };
	uint8_t w[256 + sizeof(opts)];
	struct decoded a, b;
	enum decode_res ra, rb;
	uint32_t wl = cl + (uint32_t)sizeof(opts);

	memcpy(w, v, cl);
	ra = decode_frame(STH_DLT_EN10MB, w, cl, &a);
	rb = decode_frame_full(STH_DLT_EN10MB, w, cl, &b);
	T_CHECK(decode_same(ra, &a, rb, &b));
	if (cl < 54 || w[14] != 0x45)
		return;
	/* the options after the 20-byte TCP header, the data offset 11
	 * words (or 15: payload read as options; or 4: too short) */
	memcpy(w, v, 54);
	memcpy(w + 54, opts, sizeof(opts));
	memcpy(w + 54 + sizeof(opts), v + 54, cl - 54);
	w[14 + 20 + 12] = (uint8_t)((i % 3 == 0 ? 15 : i % 3 == 1 ? 4 : 11) << 4);
	w[16] = (uint8_t)((wl - 14) >> 8);
	w[17] = (uint8_t)(wl - 14);
	if (i % 5 == 0)
		w[16] = w[17] = 0;		/* TSO: the capture's length */
	if (i % 7 == 0)
		w[17] = (uint8_t)(w[17] + 40);	/* beyond the capture */
	if (i % 11 == 0)
		w[17] = 19;			/* shorter than its header */
	w[14 + 6] = i % 9 == 0 ? 0x40 : 0;	/* DF */
	ra = decode_frame(STH_DLT_EN10MB, w, wl, &a);
	rb = decode_frame_full(STH_DLT_EN10MB, w, wl, &b);
	T_CHECK(decode_same(ra, &a, rb, &b));
	if (i % 3 == 2 && i % 11 != 0 && w[23] == 6 && w[20] == 0 && ra == DEC_OK)
		T_CHECK(a.has_ts && a.tsval == 9 && a.tsecr == 4 && a.mss == 1460 && a.wscale == 7 && a.sack_ok);
}

/* The same on real traffic: every frame of every public capture
 * (tests/corpus: other stacks and taps, VLAN, SLL, IP in IP, GRE, IPv6,
 * fragments, pcapng), decoded both ways, each frame as the engine gets it
 * from libpcap.  Run from the top of the tree (tests/run.sh is). */
static void
corpus_frames_as_full(void)
{
	DIR *dir = opendir("tests/corpus");
	struct dirent *e;
	unsigned long frames = 0, fast = 0, files = 0, named = 0;

	T_CHECK(dir != NULL);
	if (dir == NULL)
		return;
	while ((e = readdir(dir)) != NULL) {
		char path[512], err[PCAP_ERRBUF_SIZE];
		struct pcap_pkthdr *h;
		const u_char *pkt;
		pcap_t *pc;
		if (strstr(e->d_name, ".pcap") == NULL)
			continue;
		snprintf(path, sizeof(path), "tests/corpus/%s", e->d_name);
		named++;
		if ((pc = pcap_open_offline(path, err)) == NULL) {
			printf("#   %s: %s\n", path, err);
			continue;
		}
		files++;
		int dlt = pcap_datalink(pc);
		while (pcap_next_ex(pc, &h, &pkt) == 1) {
			struct decoded a, b;
			enum decode_res ra = decode_frame(dlt, pkt, h->caplen, &a);
			enum decode_res rb = decode_frame_full(dlt, pkt, h->caplen, &b);
			if (!decode_same(ra, &a, rb, &b))
				printf("#   %s: frame %lu decodes differently\n", e->d_name, frames);
			T_CHECK(decode_same(ra, &a, rb, &b));
			frames++;
			fast += dlt == STH_DLT_EN10MB && h->caplen >= 34 && pkt[12] == 8 && pkt[13] == 0 &&
			    pkt[14] == 0x45 && pkt[23] == 6;
		}
		pcap_close(pc);
	}
	closedir(dir);
	printf("# %lu frames of %lu public captures, %lu of them on the common frame's path\n",
	    frames, files, fast);
	T_EQ_U(files, named);		/* every one read */
	T_CHECK(files >= 12);
	T_CHECK(fast > 1000 && frames > fast);
}

/* decode_shard_quick (the inline path every --shards engine takes for
 * every frame) deals as decode_shard does: Ethernet IPv4 TCP with its
 * addresses varied, both ways, fragments, truncations, VLAN, other link
 * types and protocols, VoIP on; and decode_shard_pick stays below n and
 * spreads. */
static void
shard_quick_as_decode_shard(void)
{
	uint8_t f[256], v[256];
	unsigned seen[7] = { 0 };
	size_t n;

	memset(f, 0, 14);
	f[12] = 0x08;
	n = 14 + ipv4_tcp(f + 14, "hello", 0, 0);
	for (unsigned i = 0; i < 20000; i++) {
		uint32_t r = (uint32_t)fmix64(i + 1);
		unsigned W = 2 + i % 6;
		bool voip = i % 11 == 0;
		size_t len = n;
		memcpy(v, f, n);
		memcpy(v + 26, &r, 4);			/* source address */
		v[33] = (uint8_t)(i >> 3);		/* destination's last byte */
		if (i % 2)				/* the other direction */
			for (int k = 0; k < 4; k++) {
				uint8_t t = v[26 + k];
				v[26 + k] = v[30 + k];
				v[30 + k] = t;
			}
		if (i % 13 == 0)
			v[23] = 17;			/* UDP */
		if (i % 13 == 1) {			/* IP in IP: by the pair inside */
			memmove(v + 34, v + 14, n - 14);
			outer_ip(v + 14, 4, n - 14);
			v[29] = (uint8_t)i;		/* outer source's last byte */
			len += 20;
		}
		if (i % 17 == 0)
			v[20] = 0x20;			/* a fragment (MF) */
		if (i % 19 == 0) {			/* a VLAN tag */
			memmove(v + 16, v + 12, len - 12);
			v[12] = 0x81; v[13] = 0x00; v[14] = 0; v[15] = 5;
			len += 4;
		}
		uint32_t cl = i % 23 == 0 ? (uint32_t)(i / 23 % 40) : (uint32_t)len;
		unsigned s = decode_shard(STH_DLT_EN10MB, v, cl, W, voip, NULL, 0, NULL);
		frame_as_full(v, cl, i);
		T_EQ_U(decode_shard_quick(STH_DLT_EN10MB, v, cl, W, voip, NULL, 0, NULL), s);
		T_EQ_U(decode_shard_quick(STH_DLT_RAW, v + 14, cl > 14 ? cl - 14 : 0, W, voip, NULL, 0, NULL),
		    decode_shard(STH_DLT_RAW, v + 14, cl > 14 ? cl - 14 : 0, W, voip, NULL, 0, NULL));
		T_CHECK(s < W);
		if (W == 7 && !voip && cl == len)	/* (a truncated frame: 0) */
			seen[s]++;
	}
	for (unsigned k = 0; k < 7; k++)	/* ~415 each */
		T_CHECK(seen[k] > 330 && seen[k] < 530);
	T_EQ_U(decode_shard_pick(UINT32_MAX, 256), 255);
	T_EQ_U(decode_shard_pick(0, 256), 0);
}

int
main(void)
{
	T_RUN(decode_ethernet_ipv4_tcp);
	T_RUN(decode_vlan_qinq_sll_sll2_null_raw);
	T_RUN(decode_ipv6_ext_headers_and_fragments);
	T_RUN(decode_bad_headers);
	T_RUN(decode_hashes_symmetric);
	T_RUN(siphash_vectors_and_keyed_flow_hash);
	T_RUN(l4_peek_for_routing);
	T_RUN(decode_tunnels);
	T_RUN(shard_by_inner_pair);
	T_RUN(shard_quick_as_decode_shard);
	T_RUN(corpus_frames_as_full);
	return T_DONE();
}
