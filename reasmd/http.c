/*
 * http.c — HTTP/1.x (RFC 9112) request and status lines, the first
 * protocol analyser (analyser.h).
 *
 * Each direction of a session is a series of messages: a start line and
 * headers (the head, at most HTTP_HEAD_MAX bytes), then a body framed by
 * Transfer-Encoding: chunked, Content-Length, or (responses only) the end
 * of the connection.  A request becomes an `http_request` event and a
 * response an `http_response` event (category http) once the message is
 * complete: method, path, host, status, the head's and the body's bytes,
 * the stream offset where it began.  Responses are paired with requests
 * in order (pipelining), which also tells a response to HEAD has no body.
 *
 * A gap inside a body of known length only shortens what was seen of it
 * (the event says "gap": true); a gap anywhere else, a head that does not
 * parse or is too long, or a chunk size that is not hex, loses the message:
 * the direction looks for the next start line at the start of a line
 * (counted as a resync).  101 Switching Protocols and a 2xx to CONNECT end
 * HTTP on the session.  Heads are buffered per direction (growing to
 * HTTP_HEAD_MAX) under one limit for all sessions (HTTP_MEM_MAX): beyond,
 * a message is skipped and counted.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>

#include "analyser.h"
#include "counters.h"
#include "util.h"

#define HTTP_HEAD_MAX (16 * 1024)
#define HTTP_MEM_MAX ((size_t)64 << 20)
#define HTTP_PIPELINE 32	/* requests awaiting their responses, by method */
#define HTTP_PATHS 4		/* ... the first of them with their paths */
#define HTTP_PATH_KEPT 48

enum hstate {
	H_START,	/* before a message: empty lines are skipped */
	H_HEAD,		/* collecting the start line and headers */
	H_BODY_LEN,	/* body_left bytes to go */
	H_CHUNK_SIZE,	/* a chunk-size line */
	H_CHUNK_DATA,	/* body_left bytes of chunk data, then its CRLF */
	H_CHUNK_CRLF,
	H_TRAILER,	/* trailer lines up to an empty one */
	H_BODY_CLOSE,	/* a response body up to the end of the connection */
	H_LOST,		/* after a loss: waiting for a line start */
	H_DONE,		/* not HTTP any more (an upgrade, a tunnel) */
};

struct hdir {
	uint8_t st;
	bool tentative;		/* this head began at a guessed line start */
	bool line_start;	/* H_LOST: the next byte starts a line */
	bool gap, chunked;
	uint8_t eol;		/* head_add's line-end state */
	char *buf;		/* the head being collected */
	size_t blen, bcap;
	uint64_t msg_off, body_left, body_bytes, head_bytes;
	unsigned line_len;	/* H_CHUNK_SIZE / H_TRAILER: this line so far */
	char chunk_line[24];
	struct json_object *ev;	/* the event, sent when the message ends */
};

struct hflow {
	struct hdir d[2];
	/* Requests not answered yet, oldest first (request qh + k is slot
	 * (qh + k) % HTTP_PIPELINE): each one's method (an index into
	 * methods[]), and the path of those that were among the first
	 * HTTP_PATHS when they came (haspath).  Small on purpose: a state is
	 * made for every session that starts like HTTP. */
	uint8_t qm[HTTP_PIPELINE];
	uint32_t haspath;
	char qp[HTTP_PATHS][HTTP_PATH_KEPT];
	uint32_t qh, qn;
	bool any;			/* a message parsed: this is HTTP */
};

_Static_assert(sizeof(struct hflow) <= 512, "an HTTP session's state stays small");

struct heng {
	size_t mem;
	uint64_t requests, responses, resyncs, mem_skips;
};

static const char *const methods[] = { "GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS",
	"PATCH", "CONNECT", "TRACE", "PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK",
	"UNLOCK", "REPORT", "SEARCH", "PURGE" };
#define NMETHODS (sizeof(methods) / sizeof(methods[0]))

static void *
h_init(struct reasm *R)
{
	(void)R;
	return xcalloc(1, sizeof(struct heng));
}

static void
h_free(void *eng)
{
	free(eng);
}

/* Could p[0..n) begin a request line (dir 0) or a status line (dir 1)?
 * AN_MAYBE when it is a proper prefix of one. */
static int
start_like(int dir, const uint8_t *p, size_t n)
{
	if (dir != 0) {
		static const char h[] = "HTTP/1.";
		size_t k = MIN(n, sizeof(h) - 1);
		if (memcmp(p, h, k) != 0)
			return AN_NO;
		return k < sizeof(h) - 1 ? AN_MAYBE : AN_YES;
	}
	for (size_t i = 0; i < NMETHODS; i++) {
		size_t ml = strlen(methods[i]);
		if (n > ml) {
			if (memcmp(p, methods[i], ml) == 0 && p[ml] == ' ')
				return AN_YES;
		} else if (memcmp(p, methods[i], n) == 0)
			return AN_MAYBE;
	}
	return AN_NO;
}

static int
h_match_content(void *eng, int dir, const uint8_t *p, size_t n)
{
	(void)eng;
	if (dir < 0 || n == 0)
		return AN_NO;
	return start_like(dir, p, n);
}

static void *
h_open(void *eng, const struct an_ctx *x)
{
	(void)eng;
	(void)x;
	return xcalloc(1, sizeof(struct hflow));
}

static void
head_free(struct heng *E, struct hdir *H)
{
	E->mem -= H->bcap;
	free(H->buf);
	H->buf = NULL;
	H->blen = H->bcap = 0;
}

static void
lose(struct heng *E, struct hdir *H, bool count)
{
	if (count)
		E->resyncs++;
	json_object_put(H->ev);
	H->ev = NULL;
	head_free(E, H);
	H->st = H_LOST;
	H->line_start = false;
	H->tentative = false;
}

/* The message is complete: its event goes out. */
static void
finish(struct heng *E, struct hflow *F, const struct an_ctx *x, int dir)
{
	struct hdir *H = &F->d[dir];

	if (H->ev != NULL) {
		json_object_object_add(H->ev, "body_bytes", json_object_new_uint64(H->body_bytes));
		if (H->chunked)
			json_object_object_add(H->ev, "chunked", json_object_new_boolean(true));
		if (H->gap)
			json_object_object_add(H->ev, "gap", json_object_new_boolean(true));
		an_event(x, "http", dir == 0 ? "http_request" : "http_response", H->ev);
		H->ev = NULL;
		if (dir == 0)
			E->requests++;
		else
			E->responses++;
	}
	H->st = H_START;
	H->gap = H->chunked = false;
	H->body_bytes = 0;
}

/* Case-insensitive header name match at the start of line l. */
static const char *
header_value(const char *l, const char *end, const char *name)
{
	size_t n = strlen(name);

	if ((size_t)(end - l) <= n || strncasecmp(l, name, n) != 0 || l[n] != ':')
		return NULL;
	l += n + 1;
	while (l < end && (*l == ' ' || *l == '\t'))
		l++;
	return l;
}

static bool
dec_u64(const char *p, const char *end, uint64_t *out)
{
	uint64_t v = 0;
	const char *s = p;

	while (p < end && isdigit((unsigned char)*p)) {
		if (v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(*p++ - '0');
	}
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	*out = v;
	return p > s && p == end;
}

static struct json_object *
jstr(const char *p, size_t n)
{
	return json_object_new_string_len(p, (int)n);
}

/*
 * The head in H->buf (start line, headers, the empty line) is complete.
 * Returns 0 with the body's framing set, or -1 (not a message).
 */
static int
parse_head(struct hflow *F, int dir, struct hdir *H)
{
	const char *b = H->buf, *end = b + H->blen, *l = b, *eol;
	const char *sp1, *sp2;
	uint64_t clen = 0;
	bool have_clen = false, chunked = false, head_req = false, no_body = false;
	struct json_object *ev = json_object_new_object();
	unsigned status = 0;
	int method = -1;
	const char *path = NULL;
	size_t plen = 0;
	bool pop = false, tunnel = false;

	eol = memchr(l, '\n', (size_t)(end - l));
	if (eol == NULL)
		goto bad;
	const char *le = eol > l && eol[-1] == '\r' ? eol - 1 : eol;
	if ((sp1 = memchr(l, ' ', (size_t)(le - l))) == NULL)
		goto bad;
	if (dir == 0) {
		/* METHOD SP target SP HTTP/1.x */
		if ((sp2 = memchr(sp1 + 1, ' ', (size_t)(le - sp1 - 1))) == NULL ||
		    le - sp2 - 1 != 8 || memcmp(sp2 + 1, "HTTP/1.", 7) != 0 ||
		    start_like(0, (const uint8_t *)l, (size_t)(le - l)) != AN_YES)
			goto bad;
		json_object_object_add(ev, "method", jstr(l, (size_t)(sp1 - l)));
		json_object_object_add(ev, "path", jstr(sp1 + 1, (size_t)(sp2 - sp1 - 1)));
		json_object_object_add(ev, "version", jstr(sp2 + 1, 8));
		for (size_t i = 0; i < NMETHODS; i++)
			if ((size_t)(sp1 - l) == strlen(methods[i]) && memcmp(l, methods[i], (size_t)(sp1 - l)) == 0)
				method = (int)i;
		path = sp1 + 1;
		plen = MIN((size_t)(sp2 - sp1 - 1), (size_t)HTTP_PATH_KEPT - 1);
	} else {
		/* HTTP/1.x SP 3DIGIT SP reason */
		if (sp1 - l != 8 || memcmp(l, "HTTP/1.", 7) != 0 || le - sp1 < 4 ||
		    !isdigit((unsigned char)sp1[1]) || !isdigit((unsigned char)sp1[2]) ||
		    !isdigit((unsigned char)sp1[3]) || (le - sp1 > 4 && sp1[4] != ' '))
			goto bad;
		status = (unsigned)((sp1[1] - '0') * 100 + (sp1[2] - '0') * 10 + (sp1[3] - '0'));
		json_object_object_add(ev, "version", jstr(l, 8));
		json_object_object_add(ev, "status", json_object_new_int((int)status));
		if (le - sp1 > 5)
			json_object_object_add(ev, "reason", jstr(sp1 + 5, (size_t)(le - sp1 - 5)));
		if (status >= 200 || status == 101) {
			/* the request it answers (a 1xx other than 101 is interim) */
			if (F->qn > 0) {
				unsigned slot = F->qh % HTTP_PIPELINE;
				const char *m = methods[F->qm[slot]];
				struct json_object *r = json_object_new_object();
				json_object_object_add(r, "method", json_object_new_string(m));
				if (F->haspath & (1u << slot))
					json_object_object_add(r, "path",
					    json_object_new_string(F->qp[F->qh % HTTP_PATHS]));
				json_object_object_add(ev, "request", r);
				head_req = strcmp(m, "HEAD") == 0;
				tunnel = strcmp(m, "CONNECT") == 0 && status / 100 == 2;
				pop = true;
			}
		}
		no_body = head_req || status / 100 == 1 || status == 204 || status == 304;
	}
	/* headers */
	for (l = eol + 1; l < end; l = eol + 1) {
		const char *v;
		if ((eol = memchr(l, '\n', (size_t)(end - l))) == NULL)
			break;
		le = eol > l && eol[-1] == '\r' ? eol - 1 : eol;
		if (le == l)
			break;	/* the empty line */
		if ((v = header_value(l, le, "Content-Length")) != NULL) {
			uint64_t n;
			if (!dec_u64(v, le, &n) || (have_clen && n != clen))
				goto bad;	/* RFC 9112 6.3: unrecoverable */
			clen = n;
			have_clen = true;
		} else if ((v = header_value(l, le, "Transfer-Encoding")) != NULL) {
			/* chunked when it is the last coding */
			const char *t = le;
			while (t > v && (t[-1] == ' ' || t[-1] == '\t'))
				t--;
			chunked = t - v >= 7 && strncasecmp(t - 7, "chunked", 7) == 0;
		} else if (dir == 0 && (v = header_value(l, le, "Host")) != NULL)
			json_object_object_add(ev, "host", jstr(v, (size_t)(le - v)));
	}
	/* A message: the request waits for its response, a response takes it. */
	if (dir == 0 && method >= 0 && F->qn < HTTP_PIPELINE) {
		uint32_t a = F->qh + F->qn++;
		F->qm[a % HTTP_PIPELINE] = (uint8_t)method;
		F->haspath &= ~(1u << (a % HTTP_PIPELINE));
		if (F->qn <= HTTP_PATHS) {
			memcpy(F->qp[a % HTTP_PATHS], path, plen);
			F->qp[a % HTTP_PATHS][plen] = '\0';
			F->haspath |= 1u << (a % HTTP_PIPELINE);
		}
	}
	if (pop) {
		F->qh++;
		F->qn--;
	}
	json_object_object_add(ev, "offset", json_object_new_uint64(H->msg_off));
	json_object_object_add(ev, "header_bytes", json_object_new_uint64(H->blen));
	if (have_clen)
		json_object_object_add(ev, "content_length", json_object_new_uint64(clen));
	H->ev = ev;
	H->head_bytes = H->blen;
	H->chunked = false;
	if (no_body)
		H->st = H_START;
	else if (chunked) {
		H->chunked = true;
		H->st = H_CHUNK_SIZE;
		H->line_len = 0;
	} else if (have_clen) {
		H->body_left = clen;
		H->st = clen ? H_BODY_LEN : H_START;
	} else
		H->st = dir == 0 ? H_START : H_BODY_CLOSE;
	if (dir == 1 && (status == 101 || tunnel))
		H->st = H_DONE;
	return 0;
bad:
	json_object_put(ev);
	return -1;
}

/*
 * Appends to the head what belongs to it: up to and including its empty
 * line.  Returns 1 when the head is complete, 0 when more is needed, -1
 * when it is too long or no memory is left for it.  H->eol counts where
 * the last line ends: 0 inside a line, 1 just after a LF, 2 after a CR
 * at a line's start.
 */
static int
head_add(struct heng *E, struct hdir *H, const uint8_t *p, size_t n, size_t *used)
{
	size_t k;
	int done = 0;

	for (k = 0; k < n && !done; k++) {
		if (p[k] == '\n') {
			if (H->eol >= 1)
				done = 1;
			H->eol = 1;
		} else if (p[k] == '\r' && H->eol == 1)
			H->eol = 2;
		else if (p[k] != '\r')
			H->eol = 0;
	}
	*used = k;
	if (H->blen + k > HTTP_HEAD_MAX)
		return -1;
	if (H->blen + k > H->bcap) {
		size_t cap = H->bcap ? H->bcap : 512;
		while (cap < H->blen + k)
			cap *= 2;
		cap = MIN(cap, (size_t)HTTP_HEAD_MAX);
		if (E->mem - H->bcap + cap > HTTP_MEM_MAX) {
			E->mem_skips++;
			return -1;
		}
		E->mem += cap - H->bcap;
		H->buf = xrealloc(H->buf, cap);
		H->bcap = cap;
	}
	memcpy(H->buf + H->blen, p, k);
	H->blen += k;
	return done;
}

static int
h_data(void *eng, void *flow, const struct an_ctx *x, int dir, uint64_t off, const uint8_t *p,
    size_t n)
{
	struct heng *E = eng;
	struct hflow *F = flow;
	struct hdir *H = &F->d[dir];

	while (n > 0) {
		size_t k;
		switch (H->st) {
		case H_DONE:
			return AN_KEEP;
		case H_LOST:
			/* the next line start that looks like a start line */
			if (!H->line_start) {
				const uint8_t *nl = memchr(p, '\n', n);
				if (nl == NULL)
					return AN_KEEP;
				k = (size_t)(nl - p) + 1;
				p += k, off += k, n -= k;
				H->line_start = true;
				continue;
			}
			if (start_like(dir, p, n) == AN_NO) {
				H->line_start = false;
				continue;
			}
			H->tentative = true;
			H->st = H_START;
			continue;
		case H_START:
			if (*p == '\r' || *p == '\n') {
				p++, off++, n--;
				continue;
			}
			H->st = H_HEAD;
			H->msg_off = off;
			H->blen = 0;
			H->eol = 0;
			continue;
		case H_HEAD: {
			int r = head_add(E, H, p, n, &k);
			p += k, off += k, n -= k;
			/* a first line that cannot start a message is not worth more */
			if (r == 0 && H->blen >= 8 && start_like(dir, (const uint8_t *)H->buf,
			    MIN(H->blen, (size_t)16)) == AN_NO)
				r = -1;
			if (r < 0) {
				if (!F->any && !H->tentative)
					return AN_DETACH;
				lose(E, H, !H->tentative);
				continue;
			}
			if (r == 0)
				return AN_KEEP;
			if (parse_head(F, dir, H) < 0) {
				if (!F->any && !H->tentative)
					return AN_DETACH;
				lose(E, H, !H->tentative);
				continue;
			}
			F->any = true;
			H->tentative = false;
			head_free(E, H);
			if (H->st == H_START || H->st == H_DONE) {
				uint8_t st = H->st;
				finish(E, F, x, dir);
				if (st == H_DONE) {
					H->st = H_DONE;
					F->d[!dir].st = H_DONE;
				}
			}
			continue;
		}
		case H_BODY_LEN:
		case H_CHUNK_DATA:
			k = (size_t)MIN((uint64_t)n, H->body_left);
			H->body_left -= k;
			H->body_bytes += k;
			p += k, off += k, n -= k;
			if (H->body_left == 0) {
				if (H->st == H_BODY_LEN)
					finish(E, F, x, dir);
				else
					H->st = H_CHUNK_CRLF;
			}
			continue;
		case H_CHUNK_CRLF:
			if (*p == '\n')
				H->st = H_CHUNK_SIZE, H->line_len = 0;
			else if (*p != '\r') {
				lose(E, H, true);
				continue;
			}
			p++, off++, n--;
			continue;
		case H_CHUNK_SIZE:
			if (*p != '\n') {
				if (H->line_len < sizeof(H->chunk_line) - 1)
					H->chunk_line[H->line_len] = (char)*p;
				H->line_len++;
				p++, off++, n--;
				continue;
			}
			p++, off++, n--;
			{
				uint64_t v = 0;
				unsigned i, digits = 0;
				unsigned len = MIN(H->line_len, (unsigned)sizeof(H->chunk_line) - 1);
				for (i = 0; i < len && isxdigit((unsigned char)H->chunk_line[i]); i++, digits++) {
					if (v >> 60)
						break;
					v = v * 16 + (uint64_t)(isdigit((unsigned char)H->chunk_line[i]) ?
					    H->chunk_line[i] - '0' : (tolower((unsigned char)H->chunk_line[i]) - 'a' + 10));
				}
				/* after the digits: extensions (;...), spaces, CR */
				if (digits == 0 || (i < len && H->chunk_line[i] != ';' && H->chunk_line[i] != '\r' &&
				    H->chunk_line[i] != ' ' && H->chunk_line[i] != '\t') || (v >> 60)) {
					lose(E, H, true);
					continue;
				}
				H->line_len = 0;
				if (v == 0)
					H->st = H_TRAILER;
				else {
					H->body_left = v;
					H->st = H_CHUNK_DATA;
				}
			}
			continue;
		case H_TRAILER:
			/* lines up to an empty one ("\r\n" or "\n") */
			if (*p == '\n') {
				bool empty = H->line_len == 0;
				H->line_len = 0;
				p++, off++, n--;
				if (empty)
					finish(E, F, x, dir);
				continue;
			}
			if (*p != '\r')
				H->line_len++;
			p++, off++, n--;
			continue;
		case H_BODY_CLOSE:
			H->body_bytes += n;
			return AN_KEEP;
		}
	}
	return AN_KEEP;
}

static void
h_gap(void *eng, void *flow, const struct an_ctx *x, int dir, uint64_t off, uint64_t len)
{
	struct heng *E = eng;
	struct hflow *F = flow;
	struct hdir *H = &F->d[dir];

	(void)x;
	(void)off;
	switch (H->st) {
	case H_DONE:
		return;
	case H_BODY_CLOSE:
		H->body_bytes += len;
		H->gap = true;
		return;
	case H_BODY_LEN:
	case H_CHUNK_DATA:
		if (len <= H->body_left) {
			H->body_left -= len;
			H->body_bytes += len;
			H->gap = true;
			if (H->body_left == 0) {
				if (H->st == H_BODY_LEN)
					finish(E, F, x, dir);
				else
					H->st = H_CHUNK_CRLF;
			}
			return;
		}
		break;
	default:
		break;
	}
	if (H->st != H_LOST)
		lose(E, H, true);
	H->line_start = true;	/* the bytes after a gap may begin a message */
}

static void
h_close(void *eng, void *flow, const struct an_ctx *x, unsigned reason)
{
	struct heng *E = eng;
	struct hflow *F = flow;

	for (int k = 0; k < 2; k++) {
		struct hdir *H = &F->d[k];
		/* A body up to the end of the connection ends here; a detached
		 * or unfinished message is not reported. */
		if (H->st == H_BODY_CLOSE && reason != 0)
			finish(E, F, x, k);
		json_object_put(H->ev);
		head_free(E, H);
	}
	free(F);
}

static void
h_summary(void *eng, FILE *f)
{
	struct heng *E = eng;

	fprintf(f, "reasmd: http: %" PRIu64 " requests, %" PRIu64 " responses, %" PRIu64
	    " resyncs (%" PRIu64 " heads skipped at the memory limit)\n", E->requests, E->responses,
	    E->resyncs, E->mem_skips);
}

static void
h_counters(void *eng, struct ctr_enc *e)
{
	struct heng *E = eng;

	ctr_set(e, CTR_R_HTTP_REQUESTS, E->requests);
	ctr_set(e, CTR_R_HTTP_RESPONSES, E->responses);
	ctr_set(e, CTR_R_HTTP_RESYNC, E->resyncs);
}

const struct analyser an_http = {
	.name = "http",
	.init = h_init,
	.free = h_free,
	.match_content = h_match_content,
	.open = h_open,
	.data = h_data,
	.gap = h_gap,
	.close = h_close,
	.summary = h_summary,
	.counters = h_counters,
};
