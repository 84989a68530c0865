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
put(struct reasm *R, const char *txt, size_t len)
{
	if (R->out.events)
		fprintf(R->out.events, "%s\n", txt);
	if (R->ctl)
		ctlc_send(R->ctl, txt, len);
	fan_event(R, txt, len);
}

void
ev_start(const struct reasm *R, struct evtext *t, const struct session *s, const char *cat,
    const char *name)
{
	evt_event(t, R->now_ns, cat, name);
	if (s != NULL)
		ev_flow_text(s, t);
}

void
ev_send(struct reasm *R, struct evtext *t)
{
	size_t len;
	const char *txt = evt_end(t, &len);

	put(R, txt, len);
	evt_free(t);
}

static void
snap_one(struct reasm *R, struct session *s, void *arg)
{
	struct evtext t;
	size_t len;
	const char *txt;

	(void)arg;
	/* dated when it opened, as its tcp_open was */
	evt_event(&t, s->first_ns, "session", "session_snapshot");
	ev_flow_text(s, &t);
	txt = evt_end(&t, &len);
	ctlc_send(R->ctl, txt, len);
	evt_free(&t);
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
	struct evtext t;

	if (!ev_wanted(R)) {
		json_object_put(extra);
		return;
	}
	ev_start(R, &t, s, cat, name);
	if (extra) {
		json_object_object_foreach(extra, k, v)
			evt_json(&t, k, v);
		json_object_put(extra);
	}
	ev_send(R, &t);
}

static void
dir_text(const struct session *s, int k, const char *outdir, struct evtext *t)
{
	const struct rdir *D = &s->d[k];
	char fn[64];

	evt_object(t, dir_names[k]);
	evt_u64(t, "stream_bytes", D->c.stream_bytes);
	evt_u64(t, "bytes", D->c.delivered);
	evt_u64(t, "packets", D->c.packets);
	evt_u64(t, "retransmitted_bytes", D->c.retrans_bytes);
	evt_u64(t, "late_bytes", D->c.late_bytes);
	evt_u64(t, "late_after_gap_bytes", D->c.late_after_gap);
	evt_u64(t, "overlap_bytes", D->c.overlap_bytes);
	evt_u64(t, "overlap_conflicts", D->c.overlap_conflicts);
	evt_u64(t, "gap_count", D->c.gap_count);
	evt_u64(t, "gap_bytes", D->c.gap_bytes);
	evt_u64(t, "ooo_limit_bytes", D->c.dropped_ooo);
	evt_array(t, "gaps");
	for (uint64_t i = 0; i < D->c.gap_count && i < GAPS_KEPT; i++) {
		evt_object(t, NULL);
		evt_u64(t, "offset", D->gapv[i].off);
		evt_u64(t, "length", D->gapv[i].len);
		evt_up(t);
	}
	evt_up(t);
	if (outdir) {
		snprintf(fn, sizeof(fn), "%" PRIu64 ".%s", s->id, dir_names[k]);
		evt_str(t, "file", fn);
	}
	evt_up(t);
}

void
ev_summary_text(const struct reasm *R, const struct session *s, unsigned reason,
    struct evtext *t)
{
	char t1[40], t2[40];
	const char *outdir = R->out.no_streams ? NULL : R->out.dir;

	fmt_iso8601(t1, sizeof(t1), s->first_ns);
	fmt_iso8601(t2, sizeof(t2), s->last_ns);
	evt_str(t, "reason", wire_close_reason_name(reason));
	evt_str(t, "first_ts", t1);
	evt_str(t, "last_ts", t2);
	dir_text(s, 0, outdir, t);
	dir_text(s, 1, outdir, t);
}

void
ev_flow_text(const struct session *s, struct evtext *t)
{
	struct wire_flow f;

	session_flow(s, &f);
	evt_flow(t, s->id, &f);
}

void
ev_flush(struct reasm *R)
{
	if (R->out.events)
		fflush(R->out.events);
}
