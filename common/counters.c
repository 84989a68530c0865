/*
 * counters.c — the counter table, its encoder and decoder, and the views
 * generated from it (see counters.h).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <event2/buffer.h>
#include <json-c/json.h>

#include "counters.h"
#include "util.h"

#define CTR_ROW(id, o, k, key, m, u, l, f, s, h) \
	[CTR_##id] = { key, m, u, l, f, s, h, OWN_##o, KIND_##k },
const struct ctr_def ctr_defs[CTR_MAX] = { CTR_TABLE(CTR_ROW) };
#undef CTR_ROW

const char *const ctr_owner_names[OWN_MAX] = { "capd", "reasmd", "sinkd", "ctld", "any" };

int
ctr_owner_of(const char *daemon)
{
	for (int o = 0; o < OWN_ANY; o++) {
		size_t n = strlen(ctr_owner_names[o]);
		if (strncmp(daemon, ctr_owner_names[o], n) == 0 && (daemon[n] == '\0' || daemon[n] == ' '))
			return o;
	}
	return -1;
}

bool
ctr_applies(enum ctr_id id, int owner, const char *family)
{
	const struct ctr_def *d = &ctr_defs[id];

	if (d->owner == OWN_ANY)
		return owner != OWN_CTLD;
	if (d->owner != owner)
		return false;
	return d->family == NULL || (family != NULL && strcmp(d->family, family) == 0);
}

/* ---- encoder ---- */

struct ctr_enc {
	enum ctr_owner owner;
	struct json_object *counters;
	char *line;
};

struct ctr_enc *
ctr_enc_new(enum ctr_owner owner)
{
	struct ctr_enc *e = xcalloc(1, sizeof(*e));

	e->owner = owner;
	e->counters = json_object_new_object();
	return e;
}

void
ctr_set(struct ctr_enc *e, enum ctr_id id, uint64_t v)
{
	json_object_object_add(e->counters, ctr_defs[id].key, json_object_new_uint64(v));
}

static struct json_object *
labelled(struct ctr_enc *e, enum ctr_id id)
{
	struct json_object *o;

	if (!json_object_object_get_ex(e->counters, ctr_defs[id].key, &o)) {
		o = json_object_new_object();
		json_object_object_add(e->counters, ctr_defs[id].key, o);
	}
	return o;
}

void
ctr_declare(struct ctr_enc *e, enum ctr_id id)
{
	(void)labelled(e, id);
}

void
ctr_set_label(struct ctr_enc *e, enum ctr_id id, const char *label, uint64_t v)
{
	struct json_object *o = labelled(e, id);

	if (json_object_object_length(o) < CTR_LABELS_MAX)
		json_object_object_add(o, label, json_object_new_uint64(v));
}

const char *
ctr_enc_line(struct ctr_enc *e, bool final)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "cat", json_object_new_string("stats"));
	json_object_object_add(o, "event", json_object_new_string("daemon_counters"));
	json_object_object_add(o, "final", json_object_new_boolean(final));
	json_object_object_add(o, "counters", e->counters);
	free(e->line);
	e->line = xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);		/* and the counters: a new set for the next line */
	e->counters = json_object_new_object();
	return e->line;
}

void
ctr_enc_free(struct ctr_enc *e)
{
	if (e == NULL)
		return;
	json_object_put(e->counters);
	free(e->line);
	free(e);
}

/* ---- decoder ---- */

static int
find_key(const char *key, int owner)
{
	for (int i = 0; i < CTR_MAX; i++)
		if (strcmp(ctr_defs[i].key, key) == 0 &&
		    (ctr_defs[i].owner == owner || (ctr_defs[i].owner == OWN_ANY && owner != OWN_CTLD)))
			return i;
	return -1;
}

static bool
count_of(struct json_object *v, uint64_t *out)
{
	if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0)
		return false;
	*out = json_object_get_uint64(v);
	return true;
}

void
ctr_vals_clear(struct ctr_vals *v)
{
	for (int i = 0; i < CTR_MAX; i++)
		free(v->lv[i]);
	memset(v, 0, sizeof(*v));
}

int
ctr_decode(struct json_object *ev, int owner, struct ctr_vals *out, char *err, size_t errlen)
{
	struct json_object *cs, *f;
	int bad = 0;

	ctr_vals_clear(out);
	out->owner = owner;
	*err = '\0';
	out->final = json_object_object_get_ex(ev, "final", &f) && json_object_get_boolean(f);
	if (!json_object_object_get_ex(ev, "counters", &cs) || !json_object_is_type(cs, json_type_object)) {
		snprintf(err, errlen, "no \"counters\" object");
		return 1;
	}
	json_object_object_foreach(cs, key, v) {
		int id = find_key(key, owner);
		uint64_t x;
		if (id < 0) {
			if (!bad++)
				snprintf(err, errlen, "\"%.48s\" is no %s counter", key,
				    owner >= 0 && owner < OWN_MAX ? ctr_owner_names[owner] : "known");
			continue;
		}
		if (ctr_defs[id].label == NULL) {
			if (!count_of(v, &x)) {
				if (!bad++)
					snprintf(err, errlen, "\"%s\": not a count", key);
				continue;
			}
			out->have[id] = true;
			out->v[id] = x;
			continue;
		}
		if (!json_object_is_type(v, json_type_object)) {
			if (!bad++)
				snprintf(err, errlen, "\"%s\": expected {%s: count}", key, ctr_defs[id].label);
			continue;
		}
		out->have[id] = true;
		out->lv[id] = xcalloc(CTR_LABELS_MAX, sizeof(struct ctr_lv));
		json_object_object_foreach(v, lab, lvv) {
			if (out->nlv[id] == CTR_LABELS_MAX || strlen(lab) >= sizeof(out->lv[id][0].label) ||
			    !count_of(lvv, &x)) {
				if (!bad++)
					snprintf(err, errlen, "\"%s\": a bad or extra %s value", key,
					    ctr_defs[id].label);
				continue;
			}
			struct ctr_lv *l = &out->lv[id][out->nlv[id]++];
			sth_strlcpy(l->label, lab, sizeof(l->label));
			l->v = x;
			out->v[id] += x;
		}
	}
	return bad;
}

struct json_object *
ctr_vals_json(const struct ctr_vals *v)
{
	struct json_object *o = json_object_new_object();

	for (int i = 0; i < CTR_MAX; i++) {
		if (!v->have[i])
			continue;
		if (ctr_defs[i].label == NULL) {
			json_object_object_add(o, ctr_defs[i].key, json_object_new_uint64(v->v[i]));
			continue;
		}
		struct json_object *l = json_object_new_object();
		for (unsigned k = 0; k < v->nlv[i]; k++)
			json_object_object_add(l, v->lv[i][k].label, json_object_new_uint64(v->lv[i][k].v));
		json_object_object_add(o, ctr_defs[i].key, l);
	}
	return o;
}

/* ---- Prometheus ---- */

/* A label value, escaped as the text format wants (\\, \", \n). */
static void
label_value(struct evbuffer *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			evbuffer_add_printf(b, "\\%c", *s);
		else if (*s == '\n')
			evbuffer_add(b, "\\n", 2);
		else
			evbuffer_add(b, s, 1);
	}
}

static void
sample(struct evbuffer *b, const struct ctr_def *d, const struct ctr_inst *in, const char *lab,
    uint64_t v)
{
	evbuffer_add_printf(b, "stethoscope_%s{daemon=\"%s\"", d->metric, in->daemon);
	if (in->inst_label != NULL) {
		evbuffer_add_printf(b, ",%s=\"", in->inst_label);
		label_value(b, in->inst_value);
		evbuffer_add(b, "\"", 1);
	}
	if (lab != NULL) {
		evbuffer_add_printf(b, ",%s=\"", d->label);
		label_value(b, lab);
		evbuffer_add(b, "\"", 1);
	}
	evbuffer_add_printf(b, "} %" PRIu64 "\n", v);
}

void
ctr_metrics(struct evbuffer *b, const struct ctr_inst *inst, size_t n)
{
	for (int i = 0; i < CTR_MAX; i++) {
		const struct ctr_def *d = &ctr_defs[i];
		bool head = false;
		for (size_t k = 0; k < n; k++) {
			const struct ctr_vals *v = inst[k].vals;
			if (!v->have[i])
				continue;
			if (!head) {
				evbuffer_add_printf(b, "# HELP stethoscope_%s %s (%s, %s)\n# TYPE stethoscope_%s %s\n",
				    d->metric, d->help, d->unit, d->scope, d->metric,
				    d->kind == KIND_GAUGE ? "gauge" : "counter");
				head = true;
			}
			if (d->label == NULL)
				sample(b, d, &inst[k], NULL, v->v[i]);
			else
				for (unsigned j = 0; j < v->nlv[i]; j++)
					sample(b, d, &inst[k], v->lv[i][j].label, v->lv[i][j].v);
		}
	}
}

/* ---- the stats line ---- */

void
ctr_stats_line(char *buf, size_t size, uint64_t (*sum)(enum ctr_id, void *), void *arg)
{
#define S(id) sum(CTR_##id, arg)
	snprintf(buf, size, "%" PRIu64 " sessions open, %" PRIu64 " bytes delivered by reasmd, gap %" PRIu64
	    ", sink_ring_full %" PRIu64 ", sinks delivered %" PRIu64 " dropped %" PRIu64
	    ", pcap frames %" PRIu64 " (queue_full %" PRIu64 ", write_error %" PRIu64 "), ring_full %"
	    PRIu64 ", pcap_kernel %" PRIu64 ", captured %" PRIu64 ", decode_error %" PRIu64
	    ", table_full %" PRIu64 ", ooo_limit %" PRIu64 ", frag_limit %" PRIu64
	    ", pcap_out_of_order %" PRIu64 ", startup_memcap %" PRIu64 ", shard_lost %" PRIu64
	    ", ctl_events_dropped %" PRIu64 ", http requests %" PRIu64 " responses %" PRIu64,
	    S(C_SESSIONS_OPEN), S(R_DELIVERED), S(R_GAP_BYTES), S(S_RING_FULL), S(S_DELIVERED),
	    S(S_DROPPED), S(S_PCAP_WRITTEN), S(S_PCAP_QUEUE_FULL), S(S_PCAP_WRITE_ERROR), S(RING_FULL),
	    S(PCAP_KERNEL), S(CAPTURED), S(R_DECODE_ERROR), S(R_TABLE_FULL), S(R_OOO_LIMIT),
	    S(R_FRAG_LIMIT), S(S_PCAP_OUT_OF_ORDER), S(S_MEMCAP), S(C_SHARD_LOST), S(CTL_DROPPED),
	    S(R_HTTP_REQUESTS), S(R_HTTP_RESPONSES));
#undef S
}
