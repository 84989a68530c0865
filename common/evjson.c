/*
 * evjson.c — event objects (see evjson.h).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evjson.h"
#include "util.h"

struct json_object *
evjson_new(uint64_t ts_ns, const char *cat, const char *event)
{
	struct json_object *o = json_object_new_object();
	char ts[40];

	fmt_iso8601(ts, sizeof(ts), ts_ns);
	json_object_object_add(o, "ts", json_object_new_string(ts));
	json_object_object_add(o, "cat", json_object_new_string(cat));
	json_object_object_add(o, "event", json_object_new_string(event));
	return o;
}

void
evjson_add_u64(struct json_object *o, const char *key, uint64_t v)
{
	json_object_object_add(o, key, json_object_new_int64((int64_t)v));
}

/* The flow's members, worked out once for both ways of writing them. */
struct flow_text {
	char a[64], b[64];	/* client, server address */
	const char *lip, *rip;	/* local, remote address (local_side != 0) */
	int lport, rport;
};

static void
flow_text(const struct wire_flow *fl, struct flow_text *x)
{
	int lc = fl->local_side == 1;

	addr_fmt(fl->family, fl->client_ip, x->a, sizeof(x->a));
	addr_fmt(fl->family, fl->server_ip, x->b, sizeof(x->b));
	x->lip = lc ? x->a : x->b;
	x->rip = lc ? x->b : x->a;
	x->lport = lc ? fl->client_port : fl->server_port;
	x->rport = lc ? fl->server_port : fl->client_port;
}

void
evjson_add_flow(struct json_object *o, uint64_t session_id, const struct wire_flow *fl)
{
	struct flow_text x;
	struct json_object *f = json_object_new_object();

	flow_text(fl, &x);
	evjson_add_u64(f, "session_id", session_id);
	json_object_object_add(f, "client_ip", json_object_new_string(x.a));
	json_object_object_add(f, "client_port", json_object_new_int(fl->client_port));
	json_object_object_add(f, "server_ip", json_object_new_string(x.b));
	json_object_object_add(f, "server_port", json_object_new_int(fl->server_port));
	if (fl->local_side) {
		json_object_object_add(f, "local_ip", json_object_new_string(x.lip));
		json_object_object_add(f, "local_port", json_object_new_int(x.lport));
		json_object_object_add(f, "remote_ip", json_object_new_string(x.rip));
		json_object_object_add(f, "remote_port", json_object_new_int(x.rport));
	}
	json_object_object_add(f, "role_guessed", json_object_new_boolean(fl->role_guessed));
	json_object_object_add(o, "flow", f);
}

const char *
evjson_text(struct json_object *o)
{
	return json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
}

/* ---- events as text ---- */

static void
evt_room(struct evtext *t, size_t n)
{
	if (t->len + n + 1 <= t->cap)
		return;
	size_t cap = t->cap * 2;
	while (cap < t->len + n + 1)
		cap *= 2;
	if (t->p == t->buf) {
		t->p = xmalloc(cap);
		memcpy(t->p, t->buf, t->len);
	} else
		t->p = xrealloc(t->p, cap);
	t->cap = cap;
}

static void
evt_put(struct evtext *t, const char *s, size_t n)
{
	evt_room(t, n);
	memcpy(t->p + t->len, s, n);
	t->len += n;
}

/* s as a JSON string, escaped as json-c escapes it (but for '/': the
 * events are printed with JSON_C_TO_STRING_NOSLASHESCAPE) */
static void
evt_quote(struct evtext *t, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const char *run = s;

	evt_put(t, "\"", 1);
	for (;; s++) {
		unsigned char c = (unsigned char)*s;
		char e[6];
		size_t en = 2;
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		evt_put(t, run, (size_t)(s - run));
		run = s + 1;
		if (c == 0)
			break;
		e[0] = '\\';
		switch (c) {
		case '"': e[1] = '"'; break;
		case '\\': e[1] = '\\'; break;
		case '\b': e[1] = 'b'; break;
		case '\f': e[1] = 'f'; break;
		case '\n': e[1] = 'n'; break;
		case '\r': e[1] = 'r'; break;
		case '\t': e[1] = 't'; break;
		default:
			memcpy(e + 1, "u00", 3);
			e[4] = hex[c >> 4];
			e[5] = hex[c & 15];
			en = 6;
		}
		evt_put(t, e, en);
	}
	evt_put(t, "\"", 1);
}

/* the separator and key before a member of the innermost level */
static void
evt_key(struct evtext *t, const char *key)
{
	if (t->n[t->depth - 1])
		evt_put(t, ",", 1);
	t->n[t->depth - 1] = 1;
	if (key != NULL) {
		evt_quote(t, key);
		evt_put(t, ":", 1);
	}
}

static void
evt_push(struct evtext *t, const char *key, char open, char close)
{
	if (t->depth > 0)
		evt_key(t, key);
	if (t->depth >= EVT_DEPTH)
		abort();
	evt_put(t, &open, 1);
	t->close[t->depth] = close;
	t->n[t->depth++] = 0;
}

void
evt_begin(struct evtext *t)
{
	t->p = t->buf;
	t->len = 0;
	t->cap = sizeof(t->buf);
	t->depth = 0;
	evt_push(t, NULL, '{', '}');
}

void
evt_event(struct evtext *t, uint64_t ts_ns, const char *cat, const char *event)
{
	char ts[40];

	evt_begin(t);
	fmt_iso8601(ts, sizeof(ts), ts_ns);
	evt_str(t, "ts", ts);
	evt_str(t, "cat", cat);
	evt_str(t, "event", event);
}

void
evt_u64(struct evtext *t, const char *key, uint64_t v)
{
	char b[24];
	int n = snprintf(b, sizeof(b), "%" PRIu64, v);

	evt_key(t, key);
	evt_put(t, b, (size_t)n);
}

void
evt_str(struct evtext *t, const char *key, const char *v)
{
	evt_key(t, key);
	evt_quote(t, v);
}

void
evt_bool(struct evtext *t, const char *key, int v)
{
	evt_key(t, key);
	evt_put(t, v ? "true" : "false", v ? 4 : 5);
}

void
evt_json(struct evtext *t, const char *key, struct json_object *o)
{
	const char *s = json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);

	evt_key(t, key);
	evt_put(t, s, strlen(s));
}

void
evt_object(struct evtext *t, const char *key)
{
	evt_push(t, key, '{', '}');
}

void
evt_array(struct evtext *t, const char *key)
{
	evt_push(t, key, '[', ']');
}

void
evt_up(struct evtext *t)
{
	if (t->depth == 0)
		abort();
	t->depth--;
	evt_put(t, &t->close[t->depth], 1);
}

void
evt_flow(struct evtext *t, uint64_t session_id, const struct wire_flow *fl)
{
	struct flow_text x;

	flow_text(fl, &x);
	evt_object(t, "flow");
	evt_u64(t, "session_id", session_id);
	evt_str(t, "client_ip", x.a);
	evt_u64(t, "client_port", fl->client_port);
	evt_str(t, "server_ip", x.b);
	evt_u64(t, "server_port", fl->server_port);
	if (fl->local_side) {
		evt_str(t, "local_ip", x.lip);
		evt_u64(t, "local_port", (uint64_t)x.lport);
		evt_str(t, "remote_ip", x.rip);
		evt_u64(t, "remote_port", (uint64_t)x.rport);
	}
	evt_bool(t, "role_guessed", fl->role_guessed);
	evt_up(t);
}

const char *
evt_end(struct evtext *t, size_t *len)
{
	while (t->depth > 0)
		evt_up(t);
	evt_room(t, 0);
	t->p[t->len] = '\0';
	if (len)
		*len = t->len;
	return t->p;
}

void
evt_free(struct evtext *t)
{
	if (t->p != t->buf)
		free(t->p);
	t->p = t->buf;
	t->len = 0;
}
