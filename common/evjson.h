/*
 * evjson.h — the control plane's event objects (DESIGN.md section 7),
 * built in one place for every daemon: {"ts", "cat", "event", ...} and the
 * flow object {"session_id", "client_ip", ..., "local_ip", ...}.
 */
#ifndef STH_EVJSON_H
#define STH_EVJSON_H

#include <json-c/json.h>
#include <stdint.h>

#include "wire.h"

/* A new event object with ts (ISO-8601 UTC of ts_ns), cat and event. */
struct json_object *evjson_new(uint64_t ts_ns, const char *cat, const char *event);

/* Adds "flow" (with session_id) to o. */
void evjson_add_flow(struct json_object *o, uint64_t session_id, const struct wire_flow *f);

/* The compact one-line text of o (valid while o lives). */
const char *evjson_text(struct json_object *o);

/* Adds an integer member. */
void evjson_add_u64(struct json_object *o, const char *key, uint64_t v);

/*
 * The same events written straight as text, member by member, with no
 * object built: what a hot path uses (reasmd writes several events for
 * every session).  The text is what json-c's plain printing of the same
 * members gives.  Members go into the innermost open object or array (key
 * NULL inside an array); evt_end closes what is open and returns the text,
 * valid until evt_free.  Nesting is at most EVT_DEPTH deep (deeper is a
 * programming error: abort).
 */
#define EVT_DEPTH 8
struct evtext {
	char *p;		/* the text: buf, or the heap once it outgrew buf */
	size_t len, cap;
	unsigned depth;
	char close[EVT_DEPTH];	/* '}' or ']' of each open level */
	unsigned char n[EVT_DEPTH];	/* members written at each level (0, 1: more) */
	char buf[1024];
};

/* Starts t with {"ts":..,"cat":..,"event":.. */
void evt_event(struct evtext *t, uint64_t ts_ns, const char *cat, const char *event);
/* Starts t with an empty object ({) to fill. */
void evt_begin(struct evtext *t);
void evt_u64(struct evtext *t, const char *key, uint64_t v);
void evt_str(struct evtext *t, const char *key, const char *v);
void evt_bool(struct evtext *t, const char *key, int v);
/* A member whose value is o's text (o is not consumed). */
void evt_json(struct evtext *t, const char *key, struct json_object *o);
void evt_object(struct evtext *t, const char *key);
void evt_array(struct evtext *t, const char *key);
/* Closes the innermost open object or array. */
void evt_up(struct evtext *t);
/* "flow": {...} as evjson_add_flow writes it. */
void evt_flow(struct evtext *t, uint64_t session_id, const struct wire_flow *f);
/* Closes everything open; the text (NUL-terminated) and its length. */
const char *evt_end(struct evtext *t, size_t *len);
void evt_free(struct evtext *t);

#endif
