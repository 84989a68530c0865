/*
 * calls.c — ctld's table of VoIP calls, for list_calls and get_call: what
 * the shards' voip analysers said (call_new, call_state, call_end), by
 * Call-ID.  A call is its latest description as compact JSON text: while
 * it goes on {call_id, from_user, to_user, state}, once it ended the
 * call_end event's whole object (users, state, final status, times, RTP
 * streams).  Bounded by control.max_calls: when full, the call that ended
 * longest ago goes; with none ended, a new call is not listed and counted.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <event2/buffer.h>
#include <json-c/json.h>

#include "ctld.h"
#include "util.h"

struct centry {
	LIST_ENTRY(centry) h;
	TAILQ_ENTRY(centry) q;		/* open calls, then ended ones, oldest first */
	bool ended;
	char *id;
	char *text;
};

struct calltab {
	LIST_HEAD(, centry) *b;
	size_t nb, n, nopen, max;
	TAILQ_HEAD(, centry) open, ended;
	uint64_t full;
};

static size_t
hash_str(const struct calltab *t, const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	/* FNV-1a: Call-IDs come from the shards' analysers, one table per
	 * ctld, bounded; a chain is walked only by control commands and call
	 * events */
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ULL;
	return (size_t)h & (t->nb - 1);
}

struct calltab *
calltab_new(size_t max)
{
	struct calltab *t = xcalloc(1, sizeof(*t));

	t->nb = 4096;
	t->b = xcalloc(t->nb, sizeof(*t->b));
	t->max = max;
	TAILQ_INIT(&t->open);
	TAILQ_INIT(&t->ended);
	return t;
}

static struct centry *
find(struct calltab *t, const char *id)
{
	struct centry *e;

	LIST_FOREACH(e, &t->b[hash_str(t, id)], h)
		if (strcmp(e->id, id) == 0)
			return e;
	return NULL;
}

static void
entry_free(struct calltab *t, struct centry *e)
{
	LIST_REMOVE(e, h);
	TAILQ_REMOVE(e->ended ? &t->ended : &t->open, e, q);
	if (!e->ended)
		t->nopen--;
	free(e->id);
	free(e->text);
	free(e);
	t->n--;
}

/* base (text, or NULL for none) with the event's fields over it, without
 * the event's envelope (ts, cat, event), as text. */
static char *
body_text(const char *base, struct json_object *ev)
{
	struct json_object *o = base ? json_tokener_parse(base) : NULL;
	char *txt;

	if (o == NULL)
		o = json_object_new_object();
	json_object_object_foreach(ev, key, val) {
		if (strcmp(key, "ts") == 0 || strcmp(key, "cat") == 0 || strcmp(key, "event") == 0)
			continue;
		json_object_object_add(o, key, json_object_get(val));
	}
	txt = xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return txt;
}

void
calltab_event(struct calltab *t, const char *name, struct json_object *ev)
{
	struct json_object *v;
	const char *id;
	struct centry *e;
	bool end = strcmp(name, "call_end") == 0;

	if (!end && strcmp(name, "call_new") != 0 && strcmp(name, "call_state") != 0)
		return;
	if (!json_object_object_get_ex(ev, "call_id", &v) || !json_object_is_type(v, json_type_string))
		return;
	id = json_object_get_string(v);
	if ((e = find(t, id)) == NULL) {
		if (t->n >= t->max && !TAILQ_EMPTY(&t->ended))
			entry_free(t, TAILQ_FIRST(&t->ended));
		if (t->n >= t->max) {
			t->full++;
			return;
		}
		e = xcalloc(1, sizeof(*e));
		e->id = xstrdup(id);
		LIST_INSERT_HEAD(&t->b[hash_str(t, id)], e, h);
		TAILQ_INSERT_TAIL(&t->open, e, q);
		t->n++;
		t->nopen++;
	}
	if (end) {
		free(e->text);
		e->text = body_text(NULL, ev);
		TAILQ_REMOVE(e->ended ? &t->ended : &t->open, e, q);
		if (!e->ended)
			t->nopen--;
		e->ended = true;
		TAILQ_INSERT_TAIL(&t->ended, e, q);
	} else if (!e->ended) {
		/* what is known while it goes on: the users, the state */
		char *txt = body_text(e->text, ev);
		free(e->text);
		e->text = txt;
	} else if (strcmp(name, "call_new") == 0) {
		/* the same Call-ID went on after it ended (it timed out): the
		 * next call_end describes it again */
		TAILQ_REMOVE(&t->ended, e, q);
		e->ended = false;
		t->nopen++;
		TAILQ_INSERT_TAIL(&t->open, e, q);
	}
}

struct json_object *
calltab_get(struct calltab *t, const char *id)
{
	struct centry *e = find(t, id);
	struct json_object *o;

	if (e == NULL || e->text == NULL)
		return NULL;
	o = json_tokener_parse(e->text);
	if (o != NULL)
		json_object_object_add(o, "ended", json_object_new_boolean(e->ended));
	return o;
}

static size_t
write_list(const struct calltab *t, struct evbuffer *out, bool ended, size_t n)
{
	const struct centry *e;

	TAILQ_FOREACH(e, ended ? &t->ended : &t->open, q) {
		size_t l;
		if (e->text == NULL || (l = strlen(e->text)) < 2)
			continue;
		/* the object with "ended" added before its closing brace */
		if (n++ > 0)
			evbuffer_add(out, ",", 1);
		evbuffer_add(out, e->text, l - 1);
		evbuffer_add_printf(out, "%s\"ended\":%s}", l > 2 ? "," : "", ended ? "true" : "false");
	}
	return n;
}

size_t
calltab_write(const struct calltab *t, struct evbuffer *out)
{
	/* the calls going on, then those that ended, each oldest first */
	return write_list(t, out, true, write_list(t, out, false, 0));
}

size_t
calltab_open(const struct calltab *t)
{
	return t->nopen;
}

uint64_t
calltab_full(const struct calltab *t)
{
	return t->full;
}

void
calltab_free(struct calltab *t)
{
	if (t == NULL)
		return;
	while (!TAILQ_EMPTY(&t->open))
		entry_free(t, TAILQ_FIRST(&t->open));
	while (!TAILQ_EMPTY(&t->ended))
		entry_free(t, TAILQ_FIRST(&t->ended));
	free(t->b);
	free(t);
}
