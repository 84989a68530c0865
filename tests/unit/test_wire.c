/* test_wire.c — record streams: round trip, and every bad header and
 * record rejected with a clear message. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "evjson.h"
#include "recio.h"
#include "t.h"
#include "wire.h"

static int
tmpfile_fd(void)
{
	char path[] = "/tmp/sth-wire-XXXXXX";
	int fd = mkstemp(path);
	unlink(path);
	return fd;
}

static void
wire_roundtrip(void)
{
	int fd = tmpfile_fd();
	struct recw *w = recw_open(fd, 0);
	struct rec_chunk c = { .session_id = 42, .offset = 7, .dir = DIR_RESPONSES };
	struct rec_tick t = { 123456789 };
	const struct wire_rec *r;
	char err[128];
	static char big[300000];

	memset(big, 'x', sizeof(big));
	T_CHECK(recw_put(w, REC_CHUNK, &c, sizeof(c), "hello", 5) == 0);
	T_CHECK(recw_put(w, REC_TICK, &t, sizeof(t), NULL, 0) == 0);
	T_CHECK(recw_put(w, REC_CHUNK, &c, sizeof(c), big, sizeof(big)) == 0);
	T_CHECK(recw_close(w) == 0);
	lseek(fd, 0, SEEK_SET);
	struct recr *rr = recr_open(fd, 1, err, sizeof(err));
	T_CHECK(rr != NULL);
	if (rr == NULL)
		return;
	T_EQ_U(recr_next(rr, &r, err, sizeof(err)), 1);
	T_EQ_U(r->type, REC_CHUNK);
	T_EQ_U(r->len, 8 + sizeof(c) + 5);
	T_EQ_U(((const struct rec_chunk *)rec_body(r))->session_id, 42);
	T_CHECK(memcmp((const char *)rec_body(r) + sizeof(c), "hello", 5) == 0);
	T_EQ_U(recr_next(rr, &r, err, sizeof(err)), 1);
	T_EQ_U(((const struct rec_tick *)rec_body(r))->ts_ns, 123456789);
	T_EQ_U(recr_next(rr, &r, err, sizeof(err)), 1);
	T_EQ_U(r->len, 8 + sizeof(c) + sizeof(big));
	T_EQ_U(recr_next(rr, &r, err, sizeof(err)), 0);
	recr_close(rr);
}

static void
expect_open_error(const void *bytes, size_t n, const char *msg)
{
	int fd = tmpfile_fd();
	char err[256] = "";
	struct recr *rr;

	(void)!write(fd, bytes, n);
	lseek(fd, 0, SEEK_SET);
	rr = recr_open(fd, 1, err, sizeof(err));
	T_CHECK(rr == NULL);
	if (rr)
		recr_close(rr);
	T_EQ_S(err, msg);
}

static void
wire_bad_headers(void)
{
	uint32_t pcap[4] = { 0xa1b2c3d4, 0, 0, 0 };
	struct wire_stream_hdr h = { WIRE_MAGIC, 99, WIRE_BOM, 16, 0 };

	expect_open_error(pcap, sizeof(pcap), "this is a pcap file, not a stethoscope record stream (read it with reasmd -r)");
	expect_open_error(&h, sizeof(h), "record stream version 99, this build reads version 4");
	expect_open_error("", 0, "empty input: no record stream header");
	expect_open_error("abcdefghijklmnopq", 17, "not a stethoscope record stream (magic 0x64636261, expected 0x52485453)");
}

static void
wire_bad_records(void)
{
	char err[256];
	uint8_t buf[64] = { 0 };
	struct wire_rec *r = (struct wire_rec *)buf;

	r->type = 77;
	r->len = 16;
	T_CHECK(wire_rec_check(r, 64, err, sizeof(err)) < 0);
	T_EQ_S(err, "unknown record type 77 (not one of this build's, record version 4)");
	r->type = REC_CHUNK;
	r->len = 10;
	T_CHECK(wire_rec_check(r, 64, err, sizeof(err)) < 0);
	T_EQ_S(err, "chunk record with bad length 10");
	r->type = REC_PACKET;
	r->len = 8 + 32 + 4;
	((struct rec_packet *)(r + 1))->caplen = 5;	/* says 5, holds 4 */
	T_CHECK(wire_rec_check(r, 64, err, sizeof(err)) < 0);
	r->len = 100;
	T_CHECK(wire_rec_check(r, 64, err, sizeof(err)) < 0);
	T_EQ_S(err, "truncated packet record (100 bytes, 64 available)");
	{
		/* a packet naming two calls: the ids, then the frame */
		uint64_t b2[16] = { 0 };
		struct wire_rec *q = (struct wire_rec *)b2;
		struct rec_packet *p = (struct rec_packet *)(q + 1);
		q->type = REC_PACKET;
		p->caplen = p->origlen = 4;
		p->ncalls = 2;
		q->len = 8 + 32 + 16 + 4;
		T_CHECK(wire_rec_check(q, sizeof(b2), err, sizeof(err)) == 0);
		((uint64_t *)(p + 1))[1] = 42;
		T_CHECK(rec_packet_calls(p)[1] == 42);
		T_CHECK(rec_packet_frame(p) == (const uint8_t *)(p + 1) + 16);
		p->ncalls = 3;		/* more ids than the record holds */
		T_CHECK(wire_rec_check(q, sizeof(b2), err, sizeof(err)) < 0);
		p->ncalls = WIRE_MAX_CALLS + 1;
		T_CHECK(wire_rec_check(q, sizeof(b2), err, sizeof(err)) < 0);
		/* call_open: the three strings exactly */
		struct rec_call_open *o = (struct rec_call_open *)(q + 1);
		memset(b2, 0, sizeof(b2));
		q->type = REC_CALL_OPEN;
		o->callid_len = 5;
		o->from_len = 1;
		o->to_len = 2;
		q->len = 8 + 24 + 8;
		T_CHECK(wire_rec_check(q, sizeof(b2), err, sizeof(err)) == 0);
		o->to_len = 3;
		T_CHECK(wire_rec_check(q, sizeof(b2), err, sizeof(err)) < 0);
		/* call_close: a NUL-ended state */
		struct rec_call_close *c = (struct rec_call_close *)(q + 1);
		memset(b2, 0, sizeof(b2));
		q->type = REC_CALL_CLOSE;
		q->len = 8 + 48;
		T_CHECK(wire_rec_check(q, sizeof(b2), err, sizeof(err)) == 0);
		memset(c->state, 'x', sizeof(c->state));
		T_CHECK(wire_rec_check(q, sizeof(b2), err, sizeof(err)) < 0);
		/* message: a family, and the lengths add up */
		struct rec_message *m = (struct rec_message *)(q + 1);
		memset(b2, 0, sizeof(b2));
		q->type = REC_MESSAGE;
		m->family = 4;
		m->corr_len = 3;
		m->len = 5;
		q->len = 8 + 64 + 8;
		T_CHECK(wire_rec_check(q, sizeof(b2), err, sizeof(err)) == 0);
		m->family = 5;
		T_CHECK(wire_rec_check(q, sizeof(b2), err, sizeof(err)) < 0);
		m->family = 6;
		m->len = 6;
		T_CHECK(wire_rec_check(q, sizeof(b2), err, sizeof(err)) < 0);
	}
	T_EQ_S(wire_close_reason_name(CLOSE_IDLE), "idle_timeout");
	T_EQ_U(wire_close_reason_parse("rst"), CLOSE_RST);
	T_CHECK(sid_shard(sid_make(3, 17, 99)) == 17 && sid_gen(sid_make(3, 17, 99)) == 3);
	T_CHECK(sid_make(255, 255, (1ULL << 37) - 1) < (1ULL << 53));
}

static void
wire_truncated_stream(void)
{
	int fd = tmpfile_fd();
	struct recw *w = recw_open(fd, 0);
	struct rec_tick t = { 1 };
	const struct wire_rec *r;
	char err[256];

	recw_put(w, REC_TICK, &t, sizeof(t), NULL, 0);
	recw_put(w, REC_TICK, &t, sizeof(t), NULL, 0);
	recw_close(w);
	T_CHECK(ftruncate(fd, 16 + 16 + 10) == 0);
	lseek(fd, 0, SEEK_SET);
	struct recr *rr = recr_open(fd, 1, err, sizeof(err));
	T_EQ_U(recr_next(rr, &r, err, sizeof(err)), 1);
	T_CHECK(recr_next(rr, &r, err, sizeof(err)) < 0);
	T_EQ_S(err, "truncated tick record at end of input (10 of 16 bytes)");
	recr_close(rr);
}

/* The events written as text equal json-c's plain printing of the same
 * members: every byte value in a string, nesting, a flow both ways round,
 * and text far past the inline buffer. */
static void
evt_matches_json_c(void)
{
	struct evtext t;
	struct json_object *o = evjson_new(1700000000123456789ULL, "session", "x"), *a, *e;
	struct wire_flow f;
	char s[256];
	size_t len;
	const char *txt, *want;

	for (int i = 1; i < 256; i++)
		s[i - 1] = (char)i;
	s[255] = '\0';
	memset(&f, 0, sizeof(f));
	f.family = 6;
	f.client_ip[15] = 1;
	f.server_ip[0] = 0xfe;
	f.server_ip[1] = 0x80;
	f.client_port = 65535;
	f.server_port = 5060;
	f.local_side = 2;
	f.role_guessed = 1;

	evt_event(&t, 1700000000123456789ULL, "session", "x");
	evt_flow(&t, 18446744073709551615ULL >> 1, &f);
	evjson_add_flow(o, 18446744073709551615ULL >> 1, &f);
	evt_str(&t, "every \"byte\"/\\", s);
	json_object_object_add(o, "every \"byte\"/\\", json_object_new_string(s));
	evt_array(&t, "list");
	a = json_object_new_array();
	for (int i = 0; i < 200; i++) {
		evt_object(&t, NULL);
		evt_u64(&t, "offset", (uint64_t)i * 1000003);
		evt_bool(&t, "odd", i & 1);
		evt_up(&t);
		e = json_object_new_object();
		json_object_object_add(e, "offset", json_object_new_int64((int64_t)i * 1000003));
		json_object_object_add(e, "odd", json_object_new_boolean(i & 1));
		json_object_array_add(a, e);
	}
	evt_up(&t);
	json_object_object_add(o, "list", a);
	evt_array(&t, "empty");
	json_object_object_add(o, "empty", json_object_new_array());
	evt_up(&t);
	evt_object(&t, "nothing");
	json_object_object_add(o, "nothing", json_object_new_object());
	/* left open: evt_end closes it */
	txt = evt_end(&t, &len);
	want = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	T_EQ_S(txt, want);
	T_EQ_U(len, strlen(want));
	T_CHECK(len > sizeof(t.buf));
	evt_free(&t);

	/* a flow seen from the client's side, IPv4, small enough for buf */
	json_object_put(o);
	o = json_object_new_object();
	memset(&f, 0, sizeof(f));
	f.family = 4;
	memcpy(f.client_ip, "\x0a\x00\x00\x01", 4);
	memcpy(f.server_ip, "\xc0\xa8\x01\xfe", 4);
	f.client_port = 40000;
	f.server_port = 80;
	f.local_side = 1;
	evt_begin(&t);
	evt_u64(&t, "session_id", 0);
	evt_flow(&t, 7, &f);
	evjson_add_u64(o, "session_id", 0);
	evjson_add_flow(o, 7, &f);
	T_EQ_S(evt_end(&t, NULL), evjson_text(o));
	T_CHECK(t.p == t.buf);
	evt_free(&t);
	json_object_put(o);
}

int
main(void)
{
	T_RUN(wire_roundtrip);
	T_RUN(wire_bad_headers);
	T_RUN(wire_bad_records);
	T_RUN(wire_truncated_stream);
	T_RUN(evt_matches_json_c);
	return T_DONE();
}
