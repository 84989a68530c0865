/*
 * events.c — reasmd's JSON events (DESIGN.md section 7): to --events as
 * lines, to ctld, and as event records to -w and the sinks that want
 * them (fanout.c).  An event may describe a TCP session (ev_flow: it
 * carries the session's flow) or nothing of the kind (ev_emit: a call, an
 * RTP stream, an analyser's finding about a UDP flow).
 */
#include <inttypes.h>
#include <string.h>
#include <json-c/json.h>

#include "ctlc.h"
#include "evjson.h"
#include "reasmd.h"
#include "util.h"

static const char *const dir_names[2] = { "requests", "responses" };

bool
ev_wanted(const struct reasm *R)
{
	return R->out.events != NULL || R->out.w != NULL || R->ctl != NULL ||
	    sinks_want(R->sinks, REC_EVENT);
}

static void
session_flow(const struct session *s, struct wire_flow *f)
{
	memset(f, 0, sizeof(*f));
	f->family = s->family;
	f->role_guessed = s->role_guessed;
	f->local_side = s->local_side;
	f->client_port = s->cport;
	f->server_port = s->sport;
	memcpy(f->client_ip, s->cip, 16);
	memcpy(f->server_ip, s->sip, 16);
}

static void
put(struct reasm *R, struct json_object *o)
{
	const char *txt = json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	size_t len = strlen(txt);

	if (R->out.events)
		fprintf(R->out.events, "%s\n", txt);
	if (R->ctl)
		ctlc_send(R->ctl, txt, len);
	fan_event(R, txt, len);
}

static struct json_object *
make(struct reasm *R, const struct session *s, const char *cat, const char *name,
    struct json_object *extra)
{
	struct json_object *o = evjson_new(R->now_ns, cat, name);

	if (s != NULL) {
		struct wire_flow f;
		session_flow(s, &f);
		evjson_add_flow(o, s->id, &f);
	}
	if (extra) {
		json_object_object_foreach(extra, k, v)
			json_object_object_add(o, k, json_object_get(v));
		json_object_put(extra);
	}
	return o;
}

static void
snap_one(struct reasm *R, struct session *s, void *arg)
{
	/* dated when it opened, as its tcp_open was */
	struct json_object *o = evjson_new(s->first_ns, "session", "session_snapshot");
	const char *txt;

	(void)arg;
	ev_flow_into(s, o);
	txt = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	ctlc_send(R->ctl, txt, strlen(txt));
	json_object_put(o);
}

void
ev_ctl_snapshot(struct reasm *R)
{
	if (R->ctl != NULL)
		tcp_foreach_open(R, snap_one, NULL);
}

void
ev_emit(struct reasm *R, const char *cat, const char *name, struct json_object *extra)
{
	ev_flow(R, NULL, cat, name, extra);
}

void
ev_flow(struct reasm *R, const struct session *s, const char *cat, const char *name,
    struct json_object *extra)
{
	struct json_object *o;

	if (!ev_wanted(R)) {
		json_object_put(extra);
		return;
	}
	o = make(R, s, cat, name, extra);
	put(R, o);
	json_object_put(o);
}

static struct json_object *
dir_json(const struct session *s, int k, const char *outdir)
{
	const struct rdir *D = &s->d[k];
	struct json_object *o = json_object_new_object(), *g = json_object_new_array();
	char fn[64];

	json_object_object_add(o, "stream_bytes", json_object_new_int64((int64_t)D->c.stream_bytes));
	json_object_object_add(o, "bytes", json_object_new_int64((int64_t)D->c.delivered));
	json_object_object_add(o, "packets", json_object_new_int64((int64_t)D->c.packets));
	json_object_object_add(o, "retransmitted_bytes", json_object_new_int64((int64_t)D->c.retrans_bytes));
	json_object_object_add(o, "late_bytes", json_object_new_int64((int64_t)D->c.late_bytes));
	json_object_object_add(o, "late_after_gap_bytes", json_object_new_int64((int64_t)D->c.late_after_gap));
	json_object_object_add(o, "overlap_bytes", json_object_new_int64((int64_t)D->c.overlap_bytes));
	json_object_object_add(o, "overlap_conflicts", json_object_new_int64((int64_t)D->c.overlap_conflicts));
	json_object_object_add(o, "gap_count", json_object_new_int64((int64_t)D->c.gap_count));
	json_object_object_add(o, "gap_bytes", json_object_new_int64((int64_t)D->c.gap_bytes));
	json_object_object_add(o, "ooo_limit_bytes", json_object_new_int64((int64_t)D->c.dropped_ooo));
	for (uint64_t i = 0; i < D->c.gap_count && i < GAPS_KEPT; i++) {
		struct json_object *e = json_object_new_object();
		json_object_object_add(e, "offset", json_object_new_int64((int64_t)D->gapv[i].off));
		json_object_object_add(e, "length", json_object_new_int64((int64_t)D->gapv[i].len));
		json_object_array_add(g, e);
	}
	json_object_object_add(o, "gaps", g);
	if (outdir) {
		snprintf(fn, sizeof(fn), "%" PRIu64 ".%s", s->id, dir_names[k]);
		json_object_object_add(o, "file", json_object_new_string(fn));
	}
	return o;
}

struct json_object *
ev_summary(const struct reasm *R, const struct session *s, unsigned reason)
{
	struct json_object *x = json_object_new_object();
	char t1[40], t2[40];

	fmt_iso8601(t1, sizeof(t1), s->first_ns);
	fmt_iso8601(t2, sizeof(t2), s->last_ns);
	json_object_object_add(x, "reason", json_object_new_string(wire_close_reason_name(reason)));
	json_object_object_add(x, "first_ts", json_object_new_string(t1));
	json_object_object_add(x, "last_ts", json_object_new_string(t2));
	json_object_object_add(x, "requests", dir_json(s, 0, R->out.no_streams ? NULL : R->out.dir));
	json_object_object_add(x, "responses", dir_json(s, 1, R->out.no_streams ? NULL : R->out.dir));
	return x;
}

void
ev_flow_into(const struct session *s, struct json_object *o)
{
	struct wire_flow f;

	session_flow(s, &f);
	evjson_add_flow(o, s->id, &f);
}

void
ev_flush(struct reasm *R)
{
	if (R->out.events)
		fflush(R->out.events);
}
