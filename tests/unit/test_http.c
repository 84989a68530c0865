/* test_http.c — the http analyser (reasmd/http.c) fed stream bytes
 * directly, in pieces of every size, with gaps; its events are read back
 * from --events text. */
#include <stdio.h>
#include <string.h>
#include <json-c/json.h>

#include "analyser.h"
#include "conf.h"
#include "counters.h"
#include "log.h"
#include "reasmd.h"
#include "t.h"

static struct reasm R;
static struct conf C;
static FILE *evf;
static void *eng, *flow;
static struct an_ctx X;

static void
start(void)
{
	struct conf_diag d;

	conf_load_text(&C, "t", "{}", 2, 0, &d);
	conf_diag_free(&d);
	T_CHECK(reasm_init(&R, &C, 0, 0, NULL, 0) == 0);
	evf = tmpfile();
	R.out.events = evf;
	eng = an_http.init(&R);
	X = (struct an_ctx){ &R, NULL, 0 };
	flow = an_http.open(eng, &X);
}

/* Feeds n bytes of direction dir in pieces of `piece` bytes (0: whole). */
static int
feed(int dir, uint64_t *off, const char *p, size_t n, size_t piece)
{
	int r = AN_KEEP;

	while (n > 0 && r == AN_KEEP) {
		size_t k = piece && piece < n ? piece : n;
		r = an_http.data(eng, flow, &X, dir, *off, (const uint8_t *)p, k);
		*off += k;
		p += k;
		n -= k;
	}
	return r;
}

/* The events so far, as one string "event method/status path ..." per line. */
static void
finish(char *out, size_t size, unsigned reason)
{
	char line[65536];

	if (flow)
		an_http.close(eng, flow, &X, reason);
	flow = NULL;
	fflush(evf);
	rewind(evf);
	out[0] = '\0';
	while (fgets(line, sizeof(line), evf)) {
		struct json_object *o = json_tokener_parse(line), *v;
		char one[512];
		const char *ev = json_object_get_string(json_object_object_get(o, "event"));
		if (strcmp(ev, "http_request") == 0)
			snprintf(one, sizeof(one), "req %s %s host=%s body=%lld off=%lld%s\n",
			    json_object_get_string(json_object_object_get(o, "method")),
			    json_object_get_string(json_object_object_get(o, "path")),
			    json_object_object_get_ex(o, "host", &v) ? json_object_get_string(v) : "-",
			    (long long)json_object_get_int64(json_object_object_get(o, "body_bytes")),
			    (long long)json_object_get_int64(json_object_object_get(o, "offset")),
			    json_object_object_get_ex(o, "gap", &v) ? " gap" : "");
		else
			snprintf(one, sizeof(one), "resp %d for=%s body=%lld off=%lld%s%s\n",
			    json_object_get_int(json_object_object_get(o, "status")),
			    json_object_object_get_ex(o, "request", &v) ?
			    json_object_get_string(json_object_object_get(v, "method")) : "-",
			    (long long)json_object_get_int64(json_object_object_get(o, "body_bytes")),
			    (long long)json_object_get_int64(json_object_object_get(o, "offset")),
			    json_object_object_get_ex(o, "chunked", &v) ? " chunked" : "",
			    json_object_object_get_ex(o, "gap", &v) ? " gap" : "");
		strncat(out, one, size - strlen(out) - 1);
		json_object_put(o);
	}
	fclose(evf);
	R.out.events = NULL;
	an_http.free(eng);
	reasm_free(&R);
	conf_free(&C);
}

static const char reqs[] =
    "GET /a HTTP/1.1\r\nHost: example.org\r\n\r\n"
    "POST /form HTTP/1.1\r\nHost: example.org\r\nContent-Length: 11\r\n\r\nhello=world"
    "HEAD /b HTTP/1.0\r\n\r\n"
    "PUT /up HTTP/1.1\r\nhost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nabcde\r\n0\r\nX-Trailer: 1\r\n\r\n";
static const char resps[] =
    "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"
    "HTTP/1.1 100 Continue\r\n\r\n"
    "HTTP/1.1 201 Created\r\ncontent-length: 0\r\n\r\n"
    "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n"
    "HTTP/1.1 204 No Content\r\n\r\n";
static const char expect[] =
    "req GET /a host=example.org body=0 off=0\n"
    "req POST /form host=example.org body=11 off=38\n"
    "req HEAD /b host=- body=0 off=111\n"
    "req PUT /up host=x body=5 off=131\n"
    "resp 200 for=GET body=3 off=0\n"
    "resp 100 for=- body=0 off=41\n"
    "resp 201 for=POST body=0 off=66\n"
    "resp 200 for=HEAD body=0 off=109\n"
    "resp 204 for=PUT body=0 off=150\n";

/* Pipelined requests and responses, fed whole and in every piece size:
 * the same events. */
static void
http_pipelined_in_any_pieces(void)
{
	static char got[8192];
	size_t pieces[] = { 0, 1, 2, 3, 7, 13, 64 };

	for (size_t i = 0; i < sizeof(pieces) / sizeof(pieces[0]); i++) {
		uint64_t o0 = 0, o1 = 0;
		start();
		T_EQ_U(feed(0, &o0, reqs, sizeof(reqs) - 1, pieces[i]), AN_KEEP);
		T_EQ_U(feed(1, &o1, resps, sizeof(resps) - 1, pieces[i]), AN_KEEP);
		finish(got, sizeof(got), CLOSE_FIN);
		if (strcmp(got, expect) != 0)
			printf("#   pieces of %zu:\n%s", pieces[i], got);
		T_EQ_S(got, expect);
	}
}

/* A gap inside a body of known length: the message is still reported,
 * marked; a gap in a head loses that message only: the next is found. */
static void
http_gaps(void)
{
	static char got[4096];
	uint64_t off = 0;
	const char *a = "POST /x HTTP/1.1\r\nContent-Length: 10\r\n\r\n01";
	const char *b = "89GET /next HTTP/1.1\r\n\r\nGET /lo";
	const char *c = "HTTP/1.1\r\n\r\nGET /after HTTP/1.1\r\n\r\n";

	start();
	feed(0, &off, a, strlen(a), 0);
	an_http.gap(eng, flow, &X, 0, off, 6);
	off += 6;
	feed(0, &off, b, strlen(b), 0);
	an_http.gap(eng, flow, &X, 0, off, 5);	/* inside "GET /lost ..." */
	off += 5;
	feed(0, &off, c, strlen(c), 0);
	finish(got, sizeof(got), CLOSE_FIN);
	T_EQ_S(got,
	    "req POST /x host=- body=10 off=0 gap\n"
	    "req GET /next host=- body=0 off=50\n"
	    "req GET /after host=- body=0 off=96\n");
}

/* A response without a length runs to the end of the connection; a body
 * with a gap there is marked. */
static void
http_body_to_close(void)
{
	static char got[1024];
	uint64_t o0 = 0, o1 = 0;
	const char *q = "GET / HTTP/1.0\r\n\r\n", *r = "HTTP/1.0 200 OK\r\nServer: t\r\n\r\nsome bytes";

	start();
	feed(0, &o0, q, strlen(q), 0);
	feed(1, &o1, r, strlen(r), 3);
	an_http.gap(eng, flow, &X, 1, o1, 100);
	finish(got, sizeof(got), CLOSE_FIN);
	T_EQ_S(got, "req GET / host=- body=0 off=0\nresp 200 for=GET body=110 off=0 gap\n");
}

/* Not HTTP after all: the analyser lets go; HTTP that switches protocol
 * stops being parsed (its bytes are no requests). */
static void
http_detach_and_upgrade(void)
{
	static char got[1024];
	uint64_t o0 = 0, o1 = 0;

	start();
	T_EQ_U(feed(0, &o0, "GETS nothing here\r\n\r\n", 21, 0), AN_DETACH);
	finish(got, sizeof(got), 0);
	T_EQ_S(got, "");

	o0 = 0;
	start();
	feed(0, &o0, "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\n", 40, 0);
	feed(1, &o1, "HTTP/1.1 101 Switching Protocols\r\n\r\n\x81\x05hello", 43, 0);
	T_EQ_U(feed(0, &o0, "GET /not-http HTTP/1.1\r\n\r\n", 26, 0), AN_KEEP);
	finish(got, sizeof(got), CLOSE_FIN);
	T_EQ_S(got, "req GET /ws host=- body=0 off=0\nresp 101 for=GET body=0 off=0\n");
}

/* A head over 16 KiB is skipped and counted; the next message is found. */
static void
http_head_too_long(void)
{
	static char got[1024], big[20000];
	uint64_t off = 0;
	struct ctr_enc *e;

	start();
	feed(0, &off, "GET /first HTTP/1.1\r\n\r\n", 24, 0);
	memcpy(big, "GET /big HTTP/1.1\r\nX: ", 22);
	memset(big + 22, 'a', sizeof(big) - 22);
	feed(0, &off, big, sizeof(big), 1000);
	feed(0, &off, "\r\n\r\nGET /ok HTTP/1.1\r\n\r\n", 24, 0);
	e = ctr_enc_new(OWN_REASMD);
	an_http.counters(eng, e);
	T_CHECK(strstr(ctr_enc_line(e, false), "\"http_resyncs\":1") != NULL);
	ctr_enc_free(e);
	finish(got, sizeof(got), CLOSE_FIN);
	T_EQ_S(got, "req GET /first host=- body=0 off=0\nreq GET /ok host=- body=0 off=20028\n");
}

int
main(void)
{
	log_set_console_level(LOG_ERROR);
	T_RUN(http_pipelined_in_any_pieces);
	T_RUN(http_gaps);
	T_RUN(http_body_to_close);
	T_RUN(http_detach_and_upgrade);
	T_RUN(http_head_too_long);
	return T_DONE();
}
