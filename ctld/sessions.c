/*
 * sessions.c — ctld's table of open sessions, for list_sessions and
 * get_session: what a tcp_open said (its flow and time), by session id.
 *
 * Each session is one allocation holding its flow and its time as the
 * compact JSON text reasmd sent, in a hash by id and a list in the order
 * they opened.  list_sessions writes that text straight into the client's
 * buffer (no object per session, however many); get_session makes one
 * object.  About 250 bytes a session; at most control.max_sessions.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <event2/buffer.h>
#include <json-c/json.h>

#include "ctld.h"
#include "util.h"

struct sent {
	uint64_t id;
	struct sent *hnext;
	TAILQ_ENTRY(sent) q;
	uint16_t flow_len;		/* text[0..flow_len): its flow; then its ts */
	char text[];			/* compact JSON, each NUL-terminated */
};

struct sesstab {
	struct sent **b;
	size_t nb, n;
	TAILQ_HEAD(, sent) all;		/* oldest first */
};

static size_t
bucket(const struct sesstab *t, uint64_t id)
{
	/* ids are reasmd's own (generation, shard, counter), not a peer's
	 * choice: a multiplicative hash spreads them */
	return (size_t)((id * 0x9e3779b97f4a7c15ULL) >> 17) & (t->nb - 1);
}

struct sesstab *
sesstab_new(void)
{
	struct sesstab *t = xcalloc(1, sizeof(*t));

	t->nb = 1024;
	t->b = xcalloc(t->nb, sizeof(*t->b));
	TAILQ_INIT(&t->all);
	return t;
}

static struct sent **
find(struct sesstab *t, uint64_t id)
{
	struct sent **pp = &t->b[bucket(t, id)];

	while (*pp != NULL && (*pp)->id != id)
		pp = &(*pp)->hnext;
	return pp;
}

static void
grow(struct sesstab *t)
{
	size_t onb = t->nb;
	struct sent **ob = t->b;

	t->nb *= 2;
	t->b = xcalloc(t->nb, sizeof(*t->b));
	for (size_t i = 0; i < onb; i++)
		for (struct sent *e = ob[i], *nx; e != NULL; e = nx) {
			size_t h = bucket(t, e->id);
			nx = e->hnext;
			e->hnext = t->b[h];
			t->b[h] = e;
		}
	free(ob);
}

bool
sesstab_has(struct sesstab *t, uint64_t id)
{
	return *find(t, id) != NULL;
}

static const char *
text_of(struct json_object *o)
{
	return json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE);
}

void
sesstab_put(struct sesstab *t, uint64_t id, struct json_object *opened, struct json_object *flow)
{
	char *ftxt = xstrdup(text_of(flow));
	const char *otxt = text_of(opened);	/* "null" for NULL */
	size_t fl = strlen(ftxt), ol = strlen(otxt);
	struct sent **pp = find(t, id), *e;

	if (fl > UINT16_MAX) {
		/* not a flow reasmd writes (a few hundred bytes) */
		free(ftxt);
		return;
	}
	if (*pp != NULL) {
		/* the same id again (a repeated tcp_open): the newer wins */
		e = *pp;
		*pp = e->hnext;
		TAILQ_REMOVE(&t->all, e, q);
		free(e);
		t->n--;
	}
	e = xmalloc(sizeof(*e) + fl + 1 + ol + 1);
	e->id = id;
	e->flow_len = (uint16_t)fl;
	memcpy(e->text, ftxt, fl + 1);
	memcpy(e->text + fl + 1, otxt, ol + 1);
	free(ftxt);
	if (t->n >= t->nb)
		grow(t);
	pp = &t->b[bucket(t, id)];
	e->hnext = *pp;
	*pp = e;
	TAILQ_INSERT_TAIL(&t->all, e, q);
	t->n++;
}

static void
unlink_free(struct sesstab *t, struct sent **pp)
{
	struct sent *e = *pp;

	*pp = e->hnext;
	TAILQ_REMOVE(&t->all, e, q);
	free(e);
	t->n--;
}

void
sesstab_del(struct sesstab *t, uint64_t id)
{
	struct sent **pp = find(t, id);

	if (*pp != NULL)
		unlink_free(t, pp);
}

size_t
sesstab_drop_shard(struct sesstab *t, unsigned shard)
{
	size_t n = 0;

	for (struct sent *e = TAILQ_FIRST(&t->all), *nx; e != NULL; e = nx) {
		nx = TAILQ_NEXT(e, q);
		if (sid_shard(e->id) == shard) {
			unlink_free(t, find(t, e->id));
			n++;
		}
	}
	return n;
}

size_t
sesstab_count(const struct sesstab *t)
{
	return t->n;
}

struct json_object *
sesstab_get(struct sesstab *t, uint64_t id)
{
	struct sent *e = *find(t, id);
	struct json_object *o, *flow;

	if (e == NULL)
		return NULL;
	o = json_object_new_object();
	flow = json_tokener_parse(e->text);
	json_object_object_add(o, "flow", flow ? flow : json_object_new_object());
	json_object_object_add(o, "opened", json_tokener_parse(e->text + e->flow_len + 1));
	json_object_object_add(o, "shard", json_object_new_int((int)sid_shard(e->id)));
	return o;
}

size_t
sesstab_write(const struct sesstab *t, struct evbuffer *out)
{
	const struct sent *e;
	size_t n = 0;

	TAILQ_FOREACH(e, &t->all, q) {
		evbuffer_add_printf(out, "%s{\"flow\":%s,\"opened\":%s,\"shard\":%u}",
		    n++ ? "," : "", e->text, e->text + e->flow_len + 1, sid_shard(e->id));
	}
	return n;
}

void
sesstab_free(struct sesstab *t)
{
	if (t == NULL)
		return;
	while (!TAILQ_EMPTY(&t->all)) {
		struct sent *e = TAILQ_FIRST(&t->all);
		TAILQ_REMOVE(&t->all, e, q);
		free(e);
	}
	free(t->b);
	free(t);
}
