/* test_voip.c — the VoIP parsers (reasmd/sip.c, sdp.c, rtp.c), the
 * targeting rules, and the call states of the analyser (voip.c) fed SIP
 * datagrams directly; its call_end events are read back from --events. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <json-c/json.h>

#include "analyser.h"
#include "conf.h"
#include "counters.h"
#include "log.h"
#include "reasmd.h"
#include "voip.h"
#include "t.h"

static struct str
S(const char *s)
{
	return (struct str){ s, strlen(s) };
}

static bool
eq(struct str a, const char *b)
{
	return a.n == strlen(b) && memcmp(a.p, b, a.n) == 0;
}

static void
sip_request_compact_folded(void)
{
	const char *m =
	    "INVITE sip:bob@example.com SIP/2.0\r\n"
	    "v: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\r\n"
	    "f: \"Alice\" <sip:+1-555-0100@example.com>;tag=1\r\n"
	    "t: <sip:bob@example.com>\r\n"
	    "i: abc@10.0.0.1\r\n"
	    "CSEQ: 1\r\n"
	    "  INVITE\r\n"
	    "c: application/sdp\r\n"
	    "l: 4\r\n"
	    "\r\n"
	    "v=0\r\n";
	struct sip_msg s;

	T_CHECK(sip_start_line((const uint8_t *)m, strlen(m)));
	T_CHECK(sip_parse((const uint8_t *)m, strlen(m), false, &s) == SIP_OK);
	T_CHECK(s.request && s.method == SIP_INVITE);
	T_CHECK(eq(s.ruri, "sip:bob@example.com"));
	T_CHECK(eq(s.call_id, "abc@10.0.0.1"));
	T_EQ_U(s.cseq, 1);
	T_CHECK(s.cseq_mid == SIP_INVITE);	/* folded onto the next line */
	T_CHECK(eq(sip_uri_user(s.from), "+1-555-0100"));
	T_CHECK(eq(sip_uri_user(s.to), "bob"));
	T_CHECK(eq(s.content_type, "application/sdp"));
	T_EQ_U(s.body_len, 4);	/* Content-Length wins over the datagram's rest */
}

static void
sip_stream_framing(void)
{
	const char *two =
	    "SIP/2.0 200 OK\r\nCall-ID: x\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
	    "SIP/2.0 180 Ringing\r\ni: y\r\nCSeq: 1 INVITE\r\nl: 3\r\n\r\nabc";
	struct sip_msg s;
	size_t n = strlen(two), first;

	T_CHECK(sip_parse((const uint8_t *)two, n, true, &s) == SIP_OK);
	T_CHECK(!s.request && s.status == 200 && s.cseq_mid == SIP_BYE);
	first = s.len;
	T_CHECK(sip_parse((const uint8_t *)two + first, n - first, true, &s) == SIP_OK);
	T_CHECK(s.status == 180 && eq(s.call_id, "y") && s.body_len == 3);
	T_EQ_U(first + s.len, n);
	/* a message cut anywhere is MORE, never OK and never a crash */
	for (size_t k = 1; k < n - first; k++)
		T_CHECK(sip_parse((const uint8_t *)two + first, k, true, &s) == SIP_MORE);
	T_CHECK(sip_parse((const uint8_t *)"HTTP/1.1 200 OK\r\n\r\n", 19, true, &s) == SIP_BAD);
	T_CHECK(!sip_start_line((const uint8_t *)"GET / HTTP/1.1", 14));
	T_CHECK(sip_start_line((const uint8_t *)"OPTIONS sips:x SIP/2.0", 22));
	T_CHECK(sip_start_line((const uint8_t *)"MESSAGE tel:+1 SIP/2.0", 22));
}

static void
sip_uris(void)
{
	T_CHECK(eq(sip_uri_user(S("\"Ivan\" <sip:5514540002@200.57.7.195:55061;user=phone>;tag=x")),
	    "5514540002"));
	T_CHECK(eq(sip_uri_user(S("<tel:+1-212-555-0101;phone-context=example.com>")), "+1-212-555-0101"));
	T_CHECK(eq(sip_uri_user(S("<sip:200.57.7.195:55061;user=phone>")), ""));
	T_CHECK(eq(sip_uri_user(S("sip:alice;p=1@host")), "alice"));
	T_CHECK(eq(sip_uri_user(S("sips:bob@b.example")), "bob"));
	T_CHECK(eq(sip_uri_user(S("no uri here")), ""));
}

static void
targeting_rules(void)
{
	static const struct {
		const char *pattern, *user;
		bool match;
	} t[] = {
		{ "alice", "alice", true },
		{ "lic", "alice", true },		/* plain: contains */
		{ "ALI", "alice", true },		/* any case */
		{ "ali*", "alice", true },		/* prefix */
		{ "ali*", "xalice", false },
		{ "*ice", "alice", true },		/* suffix */
		{ "*ali", "alice", false },
		{ "a\\*b", "xa*by", true },		/* a literal star */
		{ "a\\*b", "xaab", false },
		{ "+4930*", "+4930123456", true },
		{ "+4930*", "004930123456", true },	/* 00 on the header's side */
		{ "+4930*", "01149301234", true },	/* 011 */
		{ "004930*", "+49 (30) 123-456", true },	/* separators, both sides */
		{ "+4930*", "4930123", true },
		{ "+4930*", "+4940123", false },
		{ "*0101", "+1-212-555-0101", true },	/* a tel: header's number */
		{ "5550101", "+1.212.555.0101", true },
		{ "+4930*", "alice4930", false },	/* not a number: compared as text */
		{ "*", "anyone", true },
		{ "", "anyone", false },
	};
	for (size_t k = 0; k < sizeof(t) / sizeof(t[0]); k++) {
		bool got = sip_user_match(t[k].pattern, S(t[k].user));
		if (got != t[k].match)
			printf("#   pattern \"%s\" user \"%s\": %d, want %d\n", t[k].pattern, t[k].user,
			    got, t[k].match);
		T_CHECK(got == t[k].match);
	}
}

static void
sip_multipart(void)
{
	const char *ct = "multipart/mixed;boundary=unique-boundary-1";
	const char *body =
	    "--unique-boundary-1\r\n"
	    "Content-Type: application/isup\r\n\r\n"
	    "xyz\r\n"
	    "--unique-boundary-1\r\n"
	    "Content-Type: application/sdp\r\n\r\n"
	    "v=0\r\nc=IN IP4 10.1.1.1\r\nm=audio 4000 RTP/AVP 0\r\n"
	    "\r\n--unique-boundary-1--\r\n";
	const uint8_t *p;
	size_t n;
	struct sdp s;

	T_CHECK(sip_multipart_part(S(ct), (const uint8_t *)body, strlen(body), "application/sdp", &p, &n));
	T_CHECK(sdp_parse(p, n, &s) == 1);
	T_EQ_U(s.m[0].port, 4000);
	T_CHECK(!sip_multipart_part(S("application/sdp"), (const uint8_t *)body, strlen(body),
	    "application/sdp", &p, &n));
}

static void
sdp_media(void)
{
	const char *b =
	    "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\n"
	    "c=IN IP4 10.0.0.1\r\n"
	    "m=audio 4000 RTP/AVP 0 101\r\n"
	    "a=rtpmap:101 telephone-event/8000\r\n"
	    "a=rtcp:4005 IN IP4 10.0.0.9\r\n"
	    "m=video 5000 RTP/AVP 96\r\n"
	    "c=IN IP6 2001:db8::1\r\n"
	    "a=rtpmap:96 H264/90000\r\n"
	    "a=rtcp-mux\r\n"
	    "m=audio 0 RTP/AVP 0\r\n"
	    "m=image 6000 udptl t38\n";
	struct sdp s;
	uint8_t a6[16];

	T_EQ_U(sdp_parse((const uint8_t *)b, strlen(b), &s), 4);
	T_CHECK(s.m[0].family == 4 && s.m[0].port == 4000 && s.m[0].rtcp_port == 4005 && s.m[0].rtp);
	T_CHECK(s.m[0].rtcp_addr[3] == 9 && s.m[0].addr[3] == 1);
	T_CHECK(s.m[0].nmap == 1 && s.m[0].map[0].pt == 101 && s.m[0].map[0].rate == 8000);
	T_EQ_U(s.m[0].nfmt, 2);
	inet_pton(AF_INET6, "2001:db8::1", a6);
	T_CHECK(s.m[1].family == 6 && memcmp(s.m[1].addr, a6, 16) == 0 && s.m[1].rtcp_mux);
	T_CHECK(s.m[1].map[0].rate == 90000);
	T_CHECK(s.m[2].port == 0);		/* disabled */
	T_CHECK(s.m[3].port == 6000 && !s.m[3].rtp);	/* T.38: not RTP */
}

static void
put_rtp(uint8_t *p, uint8_t pt, uint16_t seq, uint32_t ts, uint32_t ssrc)
{
	p[0] = 0x80;
	p[1] = pt;
	p[2] = (uint8_t)(seq >> 8);
	p[3] = (uint8_t)seq;
	p[4] = (uint8_t)(ts >> 24);
	p[5] = (uint8_t)(ts >> 16);
	p[6] = (uint8_t)(ts >> 8);
	p[7] = (uint8_t)ts;
	p[8] = (uint8_t)(ssrc >> 24);
	p[9] = (uint8_t)(ssrc >> 16);
	p[10] = (uint8_t)(ssrc >> 8);
	p[11] = (uint8_t)ssrc;
}

/* Feeds seqs[] (each 20 ms of 8 kHz audio after the one before it in the
 * list, arriving exactly on time unless late[] says by how many ms). */
static void
feed_seqs(struct rtp_stats *s, const int *seqs, size_t n, const int *late_ms)
{
	uint8_t p[12];
	struct rtp_hdr h;

	memset(s, 0, sizeof(*s));
	for (size_t k = 0; k < n; k++) {
		uint16_t seq = (uint16_t)seqs[k];
		uint32_t ts = (uint32_t)(seqs[k] * 160);
		uint64_t at = (uint64_t)seqs[k] * 20000000ull + (late_ms ? (uint64_t)late_ms[k] * 1000000ull : 0);
		put_rtp(p, 0, seq, ts, 7);
		T_CHECK(rtp_parse(p, sizeof(p), &h));
		rtp_update(s, &h, at, 8000);
	}
}

static void
rtp_loss_rules(void)
{
	struct rtp_stats s;
	int inorder[100], gap[] = { 1, 2, 3, 9, 10 }, dup[] = { 1, 2, 2, 3 }, reord[] = { 1, 3, 2, 4 },
	    wrap[] = { 65533, 65534, 65535, 0, 1, 3 }, restart[] = { 10, 11, 12, 40000, 40001, 40002 },
	    stray[] = { 10, 11, 40000, 12, 13 };

	for (int k = 0; k < 100; k++)
		inorder[k] = 1000 + k;
	feed_seqs(&s, inorder, 100, NULL);
	T_EQ_U(s.received, 100);
	T_CHECK(rtp_lost(&s) == 0);
	T_CHECK(s.max_jitter_ms < 0.001);	/* on time: no jitter */
	feed_seqs(&s, gap, 5, NULL);
	T_CHECK(rtp_lost(&s) == 5);
	feed_seqs(&s, dup, 4, NULL);
	T_EQ_U(s.duplicates, 1);
	T_CHECK(rtp_lost(&s) == -1);		/* a duplicate counts as received */
	feed_seqs(&s, reord, 4, NULL);
	T_EQ_U(s.out_of_order, 1);
	T_EQ_U(s.duplicates, 0);
	T_CHECK(rtp_lost(&s) == 0);
	feed_seqs(&s, wrap, 6, NULL);
	T_EQ_U(s.cycles, 65536);
	T_CHECK(rtp_lost(&s) == 1);		/* 2 missing across the wrap */
	feed_seqs(&s, restart, 6, NULL);
	T_EQ_U(s.restarts, 1);
	T_CHECK(rtp_lost(&s) == 0);
	feed_seqs(&s, stray, 5, NULL);
	T_EQ_U(s.restarts, 0);
	T_EQ_U(s.received, 5);
	T_CHECK(rtp_lost(&s) == -1);		/* the stray is one more than expected */
}

static void
rtp_jitter_rfc3550(void)
{
	struct rtp_stats s;
	int seqs[200], late[200];
	double j = 0;

	/* every other packet 10 ms late: |D| = 80 ts units each time */
	for (int k = 0; k < 200; k++) {
		seqs[k] = k;
		late[k] = k % 2 ? 10 : 0;
	}
	feed_seqs(&s, seqs, 200, late);
	for (int k = 1; k < 200; k++)
		j += (80.0 - j) / 16.0;
	T_CHECK(s.jitter > j - 0.01 && s.jitter < j + 0.01);
	T_CHECK(s.max_jitter_ms > 9.9 && s.max_jitter_ms <= 10.0);
	T_EQ_U(rtp_static_rate(6), 16000);
	T_EQ_U(rtp_static_rate(10), 44100);
	T_EQ_U(rtp_static_rate(16), 11025);
	T_EQ_U(rtp_static_rate(17), 22050);
	T_EQ_U(rtp_static_rate(34), 90000);
	T_EQ_U(rtp_static_rate(96), 0);
	{
		/* a compound packet: an RR with two blocks, then an SDES */
		uint8_t rr[8 + 48 + 8] = { 0x82, 201, 0, 13, 0, 0, 0, 1 };
		struct rtcp_block b[4];
		rr[8 + 3] = 7;				/* block 1: SSRC 7 */
		rr[8 + 5] = 0xFF; rr[8 + 6] = 0xFF; rr[8 + 7] = 0xFE;	/* lost -2 */
		rr[8 + 14] = 0x01; rr[8 + 15] = 0x40;	/* jitter 320 */
		rr[32 + 3] = 8;				/* block 2: SSRC 8 */
		rr[32 + 7] = 5;
		rr[56] = 0x81; rr[57] = 202; rr[59] = 1;
		T_EQ_U(rtcp_blocks(rr, sizeof(rr), b, 4), 2);
		T_CHECK(b[0].ssrc == 7 && b[0].lost == -2 && b[0].jitter == 320);
		T_CHECK(b[1].ssrc == 8 && b[1].lost == 5);
		T_EQ_U(rtcp_blocks(rr, 20, b, 4), 0);	/* cut short: nothing read past it */
	}
	{
		uint8_t r[8] = { 0x80, 200, 0, 1, 0, 0, 0, 9 };
		uint32_t ssrc;
		struct rtp_hdr h;
		T_CHECK(rtcp_parse(r, sizeof(r), &ssrc) && ssrc == 9);
		T_CHECK(!rtp_parse(r, sizeof(r), &h));
	}
}

/* ---------------- the analyser: calls and their states ---------------- */

static struct reasm R;
static struct conf C;
static FILE *evf;
static void *eng;
static uint64_t now = 1700000000000000000ull;

static void
start(const char *conf)
{
	struct conf_diag d;

	memset(&R, 0, sizeof(R));
	conf_load_text(&C, "t", conf, strlen(conf), 0, &d);
	conf_diag_free(&d);
	T_CHECK(reasm_init(&R, &C, 0, 0, NULL, 0) == 0);
	evf = tmpfile();
	R.out.events = evf;
	eng = an_voip.init(&R);
}

static void
stop(void)
{
	an_voip.free(eng);
	fclose(evf);
	R.out.events = NULL;
	reasm_free(&R);
	conf_free(&C);
}

static void
sip(const char *fmt, const char *callid, const char *extra)
{
	char msg[2048];
	struct decoded d;
	struct an_ctx x;
	const char *at = strstr(fmt, "%s");

	/* the template with the Call-ID where it says %s */
	snprintf(msg, sizeof(msg), "%.*s%s%s", (int)(at - fmt), fmt, callid, at + 2);
	if (extra)
		strncat(msg, extra, sizeof(msg) - strlen(msg) - 1);
	memset(&d, 0, sizeof(d));
	d.family = 4;
	d.proto = 17;
	d.src[0] = 10;
	d.dst[0] = 10;
	d.dst[3] = 2;
	d.sport = d.dport = 5060;
	d.payload = (const uint8_t *)msg;
	d.payload_len = strlen(msg);
	now += 1000000;
	R.now_ns = now;
	x = (struct an_ctx){ &R, NULL, now };
	T_CHECK(an_voip.datagram(eng, &x, &d));
}

#define INV "INVITE sip:bob@b SIP/2.0\r\nFrom: <sip:alice@a>;tag=1\r\nTo: <sip:bob@b>\r\nCall-ID: %s\r\nCSeq: 1 INVITE\r\n\r\n"
#define INV2 "INVITE sip:bob@b SIP/2.0\r\nFrom: <sip:alice@a>;tag=1\r\nTo: <sip:bob@b>\r\nCall-ID: %s\r\nCSeq: 2 INVITE\r\n\r\n"
#define RESP(code, method) "SIP/2.0 " code " X\r\nFrom: <sip:alice@a>;tag=1\r\nTo: <sip:bob@b>;tag=2\r\nCall-ID: %s\r\nCSeq: 1 " method "\r\n\r\n"
#define RESP2(code, method) "SIP/2.0 " code " X\r\nFrom: <sip:alice@a>;tag=1\r\nTo: <sip:bob@b>;tag=2\r\nCall-ID: %s\r\nCSeq: 2 " method "\r\n\r\n"
#define BYE "BYE sip:alice@a SIP/2.0\r\nFrom: <sip:bob@b>;tag=2\r\nTo: <sip:alice@a>;tag=1\r\nCall-ID: %s\r\nCSeq: 5 BYE\r\n\r\n"
#define CANCEL "CANCEL sip:bob@b SIP/2.0\r\nFrom: <sip:alice@a>;tag=1\r\nTo: <sip:bob@b>\r\nCall-ID: %s\r\nCSeq: 1 CANCEL\r\n\r\n"
#define REG "REGISTER sip:b SIP/2.0\r\nFrom: <sip:carol@b>;tag=1\r\nTo: <sip:carol@b>\r\nCall-ID: %s\r\nCSeq: 1 REGISTER\r\n\r\n"
#define OPT "OPTIONS sip:b SIP/2.0\r\nFrom: <sip:dave@b>;tag=1\r\nTo: <sip:b>\r\nCall-ID: %s\r\nCSeq: 1 OPTIONS\r\n\r\n"

/* call_id -> "state final_status messages users" of the call_end events */
static const char *
ended(const char *callid)
{
	static char out[256], line[1 << 16];

	out[0] = '\0';
	fflush(evf);
	rewind(evf);
	while (fgets(line, sizeof(line), evf)) {
		struct json_object *o = json_tokener_parse(line), *v;
		if (o == NULL)
			continue;
		if (json_object_object_get_ex(o, "event", &v) && strcmp(json_object_get_string(v), "call_end") == 0 &&
		    json_object_object_get_ex(o, "call_id", &v) && strcmp(json_object_get_string(v), callid) == 0) {
			struct json_object *st, *fs, *n, *f, *t;
			json_object_object_get_ex(o, "state", &st);
			json_object_object_get_ex(o, "final_status", &fs);
			json_object_object_get_ex(o, "sip_messages", &n);
			json_object_object_get_ex(o, "from_user", &f);
			json_object_object_get_ex(o, "to_user", &t);
			snprintf(out, sizeof(out), "%s %s %d %s>%s", json_object_get_string(st),
			    fs ? json_object_get_string(fs) : "null", json_object_get_int(n),
			    json_object_get_string(f), json_object_get_string(t));
		}
		json_object_put(o);
	}
	fseek(evf, 0, SEEK_END);
	return out;
}

static void
call_states(void)
{
	struct an_ctx x;

	start("{}");
	sip(INV, "c1", NULL); sip(RESP("200", "INVITE"), "c1", NULL); sip(BYE, "c1", NULL);
	sip(RESP("200", "BYE"), "c1", NULL);
	sip(INV, "c2", NULL); sip(RESP("180", "INVITE"), "c2", NULL); sip(RESP("200", "INVITE"), "c2", NULL);
	sip(INV, "c3", NULL); sip(CANCEL, "c3", NULL); sip(RESP("200", "CANCEL"), "c3", NULL);
	sip(RESP("487", "INVITE"), "c3", NULL);
	sip(INV, "c4", NULL); sip(RESP("486", "INVITE"), "c4", NULL);
	/* a challenge, then the INVITE again with credentials: one call */
	sip(INV, "c5", NULL); sip(RESP("407", "INVITE"), "c5", NULL); sip(INV2, "c5", NULL);
	sip(RESP2("200", "INVITE"), "c5", NULL);
	sip(INV, "c6", NULL);
	/* a 200 to PRACK is not an answer */
	sip(INV, "c7", NULL); sip(RESP("183", "INVITE"), "c7", NULL); sip(RESP2("200", "PRACK"), "c7", NULL);
	/* a 2xx beats a crossing CANCEL */
	sip(INV, "c8", NULL); sip(CANCEL, "c8", NULL); sip(RESP("200", "INVITE"), "c8", NULL);
	/* the INVITE not captured: a response to it makes the call */
	sip(RESP("200", "INVITE"), "c9", NULL);
	sip(REG, "r1", NULL); sip(RESP("401", "REGISTER"), "r1", NULL); sip(RESP2("200", "REGISTER"), "r1", NULL);
	sip(OPT, "o1", NULL); sip(RESP("200", "OPTIONS"), "o1", NULL);
	x = (struct an_ctx){ &R, NULL, now };
	an_voip.finish(eng, &x);
	T_EQ_S(ended("c1"), "terminated 200 4 alice>bob");
	T_EQ_S(ended("c2"), "confirmed 200 3 alice>bob");
	T_EQ_S(ended("c3"), "cancelled 487 4 alice>bob");
	T_EQ_S(ended("c4"), "failed 486 2 alice>bob");
	T_EQ_S(ended("c5"), "confirmed 200 4 alice>bob");
	T_EQ_S(ended("c6"), "early null 1 alice>bob");
	T_EQ_S(ended("c7"), "early null 3 alice>bob");
	T_EQ_S(ended("c8"), "confirmed 200 3 alice>bob");
	T_EQ_S(ended("c9"), "confirmed 200 1 alice>bob");
	T_EQ_S(ended("r1"), "registered-only 200 3 carol>carol");
	T_EQ_S(ended("o1"), "");		/* other dialogs are counted, not listed */
	stop();
}

static void
call_targeting(void)
{
	struct an_ctx x;

	start("{ voip: { sipuser: [\"bo*\"] } }");
	sip(INV, "t1", NULL);
	sip(REG, "t2", NULL);
	x = (struct an_ctx){ &R, NULL, now };
	an_voip.finish(eng, &x);
	T_EQ_S(ended("t1"), "early null 1 alice>bob");
	T_EQ_S(ended("t2"), "");		/* carol is not a target */
	stop();
}

/* TCP framing: a 64 KiB INVITE in 1,400-byte pieces, keep-alives between
 * messages, one over voip.max_message_bytes skipped, a gap resynchronised
 * at the next start line. */
static void
tcp_framing(void)
{
	static char big[70000], huge[300000];
#define HDR "INVITE sip:bob@b SIP/2.0\r\nFrom: <sip:alice@a>;tag=1\r\nTo: <sip:bob@b>\r\n" \
	    "Call-ID: %s\r\nCSeq: 1 INVITE\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n\r\n"
	struct an_ctx x;
	void *flow;
	uint64_t off = 0;
	size_t n;

	start("{}");
	x = (struct an_ctx){ &R, NULL, now };
	flow = an_voip.open(eng, &x);
	n = (size_t)snprintf(big, sizeof(big), HDR, "big1", (size_t)65536);
	memset(big + n, 'x', 65536);
	n += 65536;
	memcpy(big + n, "\r\n\r\n", 4);	/* keep-alives */
	n += 4;
	for (size_t k = 0; k < n; k += 1400) {
		size_t m = n - k < 1400 ? n - k : 1400;
		T_CHECK(an_voip.data(eng, flow, &x, 0, off, (const uint8_t *)big + k, m) == AN_KEEP);
		off += m;
	}
	/* over 256 KiB: skipped, then the next message is read */
	n = (size_t)snprintf(huge, sizeof(huge), HDR, "huge1", (size_t)280000);
	memset(huge + n, 'y', 280000);
	n += 280000;
	n += (size_t)snprintf(huge + n, sizeof(huge) - n, "SIP/2.0 200 OK\r\nCall-ID: big1\r\n"
	    "CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n");
	for (size_t k = 0; k < n; k += 4096) {
		size_t m = n - k < 4096 ? n - k : 4096;
		an_voip.data(eng, flow, &x, 0, off, (const uint8_t *)huge + k, m);
		off += m;
	}
	/* a gap in the middle of a message: what follows it resynchronises */
	an_voip.data(eng, flow, &x, 0, off, (const uint8_t *)"BYE sip:a SIP/2.0\r\nCall-", 25);
	an_voip.gap(eng, flow, &x, 0, off + 25, 100);
	{
		const char *rest = "ID: big1\r\nCSeq: 2 BYE\r\n\r\nBYE sip:a SIP/2.0\r\nCall-ID: big1\r\n"
		    "CSeq: 2 BYE\r\nl: 0\r\n\r\n";
		an_voip.data(eng, flow, &x, 0, off + 125, (const uint8_t *)rest, strlen(rest));
	}
	an_voip.close(eng, flow, &x, CLOSE_FIN);
	an_voip.finish(eng, &x);
	T_EQ_S(ended("big1"), "terminated 200 3 alice>bob");
	T_EQ_S(ended("huge1"), "");
	{
		FILE *f = tmpfile();
		an_voip.summary(eng, f);
		rewind(f);
		char line[1024] = "";
		T_CHECK(fgets(line, sizeof(line), f) != NULL);
		T_CHECK(strstr(line, "1 over voip.max_message_bytes") != NULL);
		T_CHECK(strstr(line, "3 SIP messages") != NULL);
		fclose(f);
	}
	stop();
}

/* SIP over WebSocket: the handshake, a masked message in two frames
 * (the second with a 16-bit length), a ping between them, the answer
 * unmasked in one frame. */
static size_t
ws_frame(uint8_t *o, int op, bool fin, const char *p, size_t n, bool masked)
{
	static const uint8_t key[4] = { 0x12, 0x34, 0x56, 0x78 };
	size_t h = 2;

	o[0] = (uint8_t)((fin ? 0x80 : 0) | op);
	if (n < 126)
		o[1] = (uint8_t)n;
	else {
		o[1] = 126;
		o[2] = (uint8_t)(n >> 8);
		o[3] = (uint8_t)n;
		h = 4;
	}
	if (masked) {
		o[1] |= 0x80;
		memcpy(o + h, key, 4);
		h += 4;
	}
	for (size_t k = 0; k < n; k++)
		o[h + k] = (uint8_t)p[k] ^ (masked ? key[k % 4] : 0);
	return h + n;
}

static void
sip_over_websocket(void)
{
	static uint8_t c2s[4096], s2c[4096];
	char inv[600];
	const char *req = "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nSec-WebSocket-Protocol: sip\r\n\r\n";
	const char *resp = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n";
	const char *ok = "SIP/2.0 200 OK\r\nCall-ID: ws1\r\nCSeq: 1 INVITE\r\n\r\n";
	struct an_ctx x;
	void *flow;
	size_t n = 0, m = 0, il;

	il = (size_t)snprintf(inv, sizeof(inv), "INVITE sip:bob@b SIP/2.0\r\nFrom: <sip:alice@a>;tag=1\r\n"
	    "To: <sip:bob@b>\r\nCall-ID: ws1\r\nCSeq: 1 INVITE\r\nX-Pad: %0300d\r\n\r\n", 0);
	memcpy(c2s, req, strlen(req));
	n = strlen(req);
	n += ws_frame(c2s + n, 1, false, inv, 50, true);
	n += ws_frame(c2s + n, 9, true, "ping", 4, true);	/* control frames may come between */
	n += ws_frame(c2s + n, 0, true, inv + 50, il - 50, true);
	memcpy(s2c, resp, strlen(resp));
	m = strlen(resp);
	m += ws_frame(s2c + m, 1, true, ok, strlen(ok), false);
	start("{}");
	x = (struct an_ctx){ &R, NULL, now };
	flow = an_voip.open(eng, &x);
	/* in pieces of 7 bytes, both directions interleaved */
	for (size_t k = 0; k < n || k < m; k += 7) {
		if (k < n)
			an_voip.data(eng, flow, &x, 0, k, c2s + k, n - k < 7 ? n - k : 7);
		if (k < m)
			an_voip.data(eng, flow, &x, 1, k, s2c + k, m - k < 7 ? m - k : 7);
	}
	an_voip.close(eng, flow, &x, CLOSE_FIN);
	an_voip.finish(eng, &x);
	T_EQ_S(ended("ws1"), "confirmed 200 2 alice>bob");
	stop();
}

/* A call with more streams than it lists: the one too many is counted and
 * said, not lost unseen. */
static void
streams_beyond_a_call(void)
{
	static const char sdp_inv[] = "INVITE sip:bob@b SIP/2.0\r\nFrom: <sip:alice@a>;tag=1\r\n"
	    "To: <sip:bob@b>\r\nCall-ID: %s\r\nCSeq: 1 INVITE\r\nContent-Type: application/sdp\r\n\r\n"
	    "v=0\r\nc=IN IP4 10.0.0.2\r\nm=audio 7000 RTP/AVP 0\r\n";
	struct an_ctx x;
	char line[1024] = "";
	FILE *f;

	start("{}");
	sip(sdp_inv, "many", NULL);
	for (int k = 0; k < 40; k++) {
		uint8_t p[12 + 160];
		struct decoded d;
		memset(p, 0, sizeof(p));
		put_rtp(p, 0, 1, 160, (uint32_t)(100 + k));
		memset(&d, 0, sizeof(d));
		d.family = 4;
		d.proto = 17;
		d.src[0] = 10;
		d.src[3] = 9;
		d.dst[0] = 10;
		d.dst[3] = 2;
		d.sport = (uint16_t)(20000 + 2 * k);
		d.dport = 7000;
		d.payload = p;
		d.payload_len = sizeof(p);
		x = (struct an_ctx){ &R, NULL, now };
		T_CHECK(an_voip.datagram(eng, &x, &d));
	}
	x = (struct an_ctx){ &R, NULL, now };
	an_voip.finish(eng, &x);
	T_EQ_S(ended("many"), "early null 1 alice>bob");
	f = tmpfile();
	an_voip.summary(eng, f);
	rewind(f);
	while (fgets(line, sizeof(line), f) && strstr(line, "not listed with a call") == NULL)
		;
	T_CHECK(strstr(line, "reasmd: voip: 8 streams not listed with a call of theirs") != NULL);
	fclose(f);
	stop();
}

int
main(void)
{
	log_set_console_level(LOG_NONE);
	T_RUN(sip_request_compact_folded);
	T_RUN(sip_stream_framing);
	T_RUN(sip_uris);
	T_RUN(targeting_rules);
	T_RUN(sip_multipart);
	T_RUN(sdp_media);
	T_RUN(rtp_loss_rules);
	T_RUN(rtp_jitter_rfc3550);
	T_RUN(call_states);
	T_RUN(call_targeting);
	T_RUN(tcp_framing);
	T_RUN(sip_over_websocket);
	T_RUN(streams_beyond_a_call);
	return T_DONE();
}
