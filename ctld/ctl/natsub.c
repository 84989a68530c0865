/*
 * natsub.c — stethoscope-ctl's NATS side: read what sinkd nats published.
 *
 *   subscribe --nats URL [--durable NAME] [--filter SUBJECT] [--from start|new|SEQ]
 *             [--stream NAME] [--count N] [--idle SEC]
 *     every record as a JSON line on standard output, each acknowledged
 *     only after it was written and flushed (at-least-once: a consumer
 *     that dies before the ack gets the message again from a durable).
 *   calls --nats URL [--stream NAME] [--prefix P] [--idle SEC]
 *     the calls of every sensor in the stream, merged: one line per call,
 *     the sensors that saw it and each one's record; RTP a sensor saw
 *     without its SIP joins the call whose SDP named one of its ends while
 *     its signalling went on ("rtp_elsewhere").
 *
 * A pull consumer: the tool asks for batches, so a slow terminal slows the
 * tool, never the broker.  Without --durable it is ephemeral (the server
 * forgets it once the tool is gone).  Binary records (chunks, packets)
 * print as JSON with their headers and the bytes in base64.
 */
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "natsub.h"

#ifdef HAVE_NATS
#include <nats/nats.h>

static volatile sig_atomic_t stop;

static void
on_stop(int sig)
{
	(void)sig;
	stop = 1;
}

static char *
b64(const unsigned char *p, size_t n)
{
	static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *o = malloc(4 * ((n + 2) / 3) + 1), *q = o;

	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0) |
		    (i + 2 < n ? p[i + 2] : 0);
		*q++ = t[v >> 18 & 63];
		*q++ = t[v >> 12 & 63];
		*q++ = i + 1 < n ? t[v >> 6 & 63] : '=';
		*q++ = i + 2 < n ? t[v & 63] : '=';
	}
	*q = '\0';
	return o;
}

/* The record of m as one JSON line (malloc'd), its stream sequence added. */
static char *
record_line(natsMsg *m)
{
	const char *d = natsMsg_GetData(m);
	int n = natsMsg_GetDataLength(m);
	struct json_object *o = NULL;
	jsMsgMetaData *meta = NULL;
	char *line;

	if (n > 0 && d[0] == '{')
		o = json_tokener_parse(d);
	if (o == NULL || !json_object_is_type(o, json_type_object)) {
		const char **keys = NULL;
		int nk = 0;
		char *data = b64((const unsigned char *)d, (size_t)(n > 0 ? n : 0));
		json_object_put(o);
		o = json_object_new_object();
		if (natsMsgHeader_Keys(m, &keys, &nk) == NATS_OK) {
			struct json_object *h = json_object_new_object();
			for (int i = 0; i < nk; i++) {
				const char *v = NULL;
				if (natsMsgHeader_Get(m, keys[i], &v) == NATS_OK && v)
					json_object_object_add(h, keys[i], json_object_new_string(v));
			}
			json_object_object_add(o, "headers", h);
			free((void *)keys);
		}
		json_object_object_add(o, "data_b64", json_object_new_string(data));
		free(data);
	}
	json_object_object_add(o, "subject", json_object_new_string(natsMsg_GetSubject(m)));
	if (natsMsg_GetMetaData(&meta, m) == NATS_OK) {
		json_object_object_add(o, "stream_seq", json_object_new_int64((int64_t)meta->Sequence.Stream));
		jsMsgMetaData_Destroy(meta);
	}
	line = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return line;
}

struct subopts {
	const char *url, *durable, *filter, *from, *stream, *prefix;
	long long count;
	double idle;
};

static int
parse(int argc, char **argv, struct subopts *o, const char *what)
{
	const char *bad = "";

	memset(o, 0, sizeof(*o));
	o->stream = "STETH";
	o->prefix = "steth";
	o->from = "start";
	for (int i = 0; i < argc; i += 2) {	/* every option takes a value */
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		bad = a;
		if (v == NULL)
			goto bad;
		if (strcmp(a, "--nats") == 0)
			o->url = v;
		else if (strcmp(a, "--durable") == 0)
			o->durable = v;
		else if (strcmp(a, "--filter") == 0)
			o->filter = v;
		else if (strcmp(a, "--from") == 0)
			o->from = v;
		else if (strcmp(a, "--stream") == 0)
			o->stream = v;
		else if (strcmp(a, "--prefix") == 0)
			o->prefix = v;
		else if (strcmp(a, "--count") == 0)
			o->count = atoll(v);
		else if (strcmp(a, "--idle") == 0)
			o->idle = atof(v);
		else
			goto bad;
	}
	if (o->url == NULL) {
		fprintf(stderr, "stethoscope-ctl %s: give --nats URL (the broker, nats://HOST:4222)\n", what);
		return -1;
	}
	if (o->durable && strpbrk(o->durable, ".*> \t")) {
		fprintf(stderr, "stethoscope-ctl %s: --durable: a name without '.', '*', '>' or spaces\n", what);
		return -1;
	}
	return 0;
bad:
	fprintf(stderr, "stethoscope-ctl %s: %s \"%s\" (see stethoscope-ctl --help)\n", what,
	    strncmp(bad, "--", 2) == 0 ? "a value is missing after, or unknown:" : "unexpected", bad);
	return -1;
}

struct conn {
	natsConnection *nc;
	jsCtx *js;
	natsSubscription *sub;
};

static int
open_sub(struct conn *C, const struct subopts *o, const char *filter, const char *what)
{
	jsSubOptions so;
	jsErrCode jerr = 0;
	natsStatus s;
	char *end;

	memset(C, 0, sizeof(*C));
	s = natsConnection_ConnectTo(&C->nc, o->url);
	if (s == NATS_OK)
		s = natsConnection_JetStream(&C->js, C->nc, NULL);
	if (s != NATS_OK) {
		fprintf(stderr, "stethoscope-ctl %s: %s: %s\n", what, o->url, natsStatus_GetText(s));
		return -1;
	}
	jsSubOptions_Init(&so);
	so.Stream = o->stream;
	so.Config.AckPolicy = js_AckExplicit;
	so.Config.MaxAckPending = 4096;
	if (strcmp(o->from, "start") == 0)
		so.Config.DeliverPolicy = js_DeliverAll;
	else if (strcmp(o->from, "new") == 0)
		so.Config.DeliverPolicy = js_DeliverNew;
	else {
		unsigned long long seq = strtoull(o->from, &end, 10);
		if (*end != '\0' || seq == 0) {
			fprintf(stderr, "stethoscope-ctl %s: --from: expected start, new or a stream sequence, found \"%s\"\n",
			    what, o->from);
			return -1;
		}
		so.Config.DeliverPolicy = js_DeliverByStartSequence;
		so.Config.OptStartSeq = seq;
	}
	s = js_PullSubscribe(&C->sub, C->js, filter, o->durable, NULL, &so, &jerr);
	if (s != NATS_OK) {
		fprintf(stderr, "stethoscope-ctl %s: stream %s, subjects %s: %s (JetStream error %d)\n", what,
		    o->stream, filter, nats_GetLastError(NULL) ? nats_GetLastError(NULL) : natsStatus_GetText(s),
		    (int)jerr);
		return -1;
	}
	return 0;
}

static void
close_sub(struct conn *C)
{
	if (C->sub)
		natsSubscription_Destroy(C->sub);
	jsCtx_Destroy(C->js);
	natsConnection_Destroy(C->nc);
	memset(C, 0, sizeof(*C));
}

static double
now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + t.tv_nsec / 1e9;
}

/* Fetches until stop, --count, or --idle seconds without a message; each
 * message to fn (which says whether it was handled: only then is it acked). */
static int
pull(struct conn *C, const struct subopts *o, bool (*fn)(natsMsg *m, void *arg), void *arg)
{
	long long n = 0;
	double last = now_s();

	signal(SIGINT, on_stop);
	signal(SIGTERM, on_stop);
	signal(SIGPIPE, SIG_IGN);
	while (!stop && (o->count == 0 || n < o->count)) {
		natsMsgList list = { 0 };
		int want = o->count ? (int)(o->count - n < 256 ? o->count - n : 256) : 256;
		natsStatus s = natsSubscription_Fetch(&list, C->sub, want, 500, NULL);
		if (s == NATS_TIMEOUT) {
			if (o->idle > 0 && now_s() - last >= o->idle)
				break;
			continue;
		}
		if (s != NATS_OK) {
			fprintf(stderr, "stethoscope-ctl: fetch: %s\n", natsStatus_GetText(s));
			if (s == NATS_CONNECTION_CLOSED || s == NATS_INVALID_SUBSCRIPTION)
				return 1;
			continue;
		}
		last = now_s();
		for (int i = 0; i < list.Count; i++) {
			if (!fn(list.Msgs[i], arg)) {
				natsMsgList_Destroy(&list);
				return 1;
			}
			natsMsg_Ack(list.Msgs[i], NULL);
			n++;
		}
		natsMsgList_Destroy(&list);
	}
	return 0;
}

static bool
print_one(natsMsg *m, void *arg)
{
	char *line = record_line(m);
	bool ok = fputs(line, stdout) != EOF && putchar('\n') != EOF && fflush(stdout) == 0;

	(void)arg;
	free(line);
	if (!ok && errno != EPIPE)
		perror("stethoscope-ctl subscribe: standard output");
	return ok;
}

int
natsub_subscribe(int argc, char **argv)
{
	struct subopts o;
	struct conn C;
	char filter[300];
	int rc;

	if (parse(argc, argv, &o, "subscribe") < 0)
		return 2;
	snprintf(filter, sizeof(filter), "%s", o.filter ? o.filter : "");
	if (o.filter == NULL)
		snprintf(filter, sizeof(filter), "%s.>", o.prefix);
	if (open_sub(&C, &o, filter, "subscribe") < 0) {
		close_sub(&C);
		nats_Close();
		return 2;
	}
	rc = pull(&C, &o, print_one, NULL);
	close_sub(&C);
	nats_Close();
	return rc;
}

/* ---- calls across sensors ---- */

struct mcall {
	char *key;
	struct json_object *recs;	/* every sensor's record */
	struct json_object *rtp;	/* RTP other sensors saw without the SIP */
};
struct merge {
	struct mcall *v;
	size_t n, cap;
};

/* Seconds since the epoch of "2005-01-14T17:58:11.445315Z" (0 if not). */
static double
iso_s(struct json_object *o, const char *key)
{
	struct json_object *v;
	struct tm tm;
	const char *p, *end;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return 0;
	p = json_object_get_string(v);
	memset(&tm, 0, sizeof(tm));
	if ((end = strptime(p, "%Y-%m-%dT%H:%M:%S", &tm)) == NULL)
		return 0;
	return (double)timegm(&tm) + (*end == '.' ? atof(end) : 0);
}

static bool
json_list_has(struct json_object *a, const char *s)
{
	for (size_t j = 0; a != NULL && j < json_object_array_length(a); j++)
		if (strcmp(json_object_get_string(json_object_array_get_idx(a, j)), s) == 0)
			return true;
	return false;
}

/* RTP a sensor saw without its SIP (call_id null) */
static bool
take_rtp(natsMsg *m, void *arg)
{
	struct json_object *streams = arg, *o = json_tokener_parse(natsMsg_GetData(m)), *v;

	if (o != NULL && json_object_object_get_ex(o, "event", &v) &&
	    strcmp(json_object_get_string(v), "rtp_stream_summary") == 0 &&
	    (!json_object_object_get_ex(o, "call_id", &v) || v == NULL))
		json_object_array_add(streams, o);
	else
		json_object_put(o);
	return true;
}

static bool
take_call(natsMsg *m, void *arg)
{
	struct merge *M = arg;
	struct json_object *o = json_tokener_parse(natsMsg_GetData(m)), *v;
	const char *key;
	size_t i;

	if (o == NULL || !json_object_object_get_ex(o, "call_id", &v)) {
		json_object_put(o);
		return true;
	}
	key = json_object_get_string(v);
	for (i = 0; i < M->n; i++)
		if (strcmp(M->v[i].key, key) == 0)
			break;
	if (i == M->n) {
		if (M->n == M->cap) {
			M->cap = M->cap ? 2 * M->cap : 64;
			M->v = realloc(M->v, M->cap * sizeof(*M->v));
		}
		M->v[i].key = strdup(key);
		M->v[i].recs = json_object_new_array();
		M->v[i].rtp = NULL;
		M->n++;
	}
	json_object_array_add(M->v[i].recs, o);
	return true;
}

int
natsub_calls(int argc, char **argv)
{
	struct subopts o;
	struct conn C;
	struct merge M = { 0 };
	struct json_object *rtp = json_object_new_array();
	char filter[300];
	int rc;

	if (parse(argc, argv, &o, "calls") < 0) {
		json_object_put(rtp);
		return 2;
	}
	if (o.idle <= 0)
		o.idle = 1;
	snprintf(filter, sizeof(filter), "%s.*.call", o.prefix);
	if (open_sub(&C, &o, filter, "calls") < 0) {
		close_sub(&C);
		nats_Close();
		json_object_put(rtp);
		return 2;
	}
	rc = pull(&C, &o, take_call, &M);
	close_sub(&C);
	/* the RTP that sensors saw without its SIP */
	snprintf(filter, sizeof(filter), "%s.*.event.rtp", o.prefix);
	if (rc == 0 && open_sub(&C, &o, filter, "calls") == 0)
		rc = pull(&C, &o, take_rtp, rtp);
	close_sub(&C);
	nats_Close();
	/* Each such stream goes to the call whose SDP named one of its ends
	 * and whose signalling was going on when it began (from 2 s before the
	 * INVITE to 30 s after its last message); of several, the latest
	 * INVITE. */
	for (size_t k = 0; k < json_object_array_length(rtp); k++) {
		struct json_object *st = json_object_array_get_idx(rtp, k), *src, *dst;
		double t0 = iso_s(st, "first_ts"), best_t = 0;
		size_t best = M.n;
		if (!json_object_object_get_ex(st, "src", &src) || !json_object_object_get_ex(st, "dst", &dst))
			continue;
		for (size_t i = 0; i < M.n; i++)
			for (size_t r = 0; r < json_object_array_length(M.v[i].recs); r++) {
				struct json_object *c = json_object_array_get_idx(M.v[i].recs, r), *media;
				double inv = iso_s(c, "invite_ts"), end = iso_s(c, "end_ts");
				if (!json_object_object_get_ex(c, "media", &media) ||
				    !(json_list_has(media, json_object_get_string(src)) ||
				    json_list_has(media, json_object_get_string(dst))))
					continue;
				if (t0 < inv - 2 || t0 > end + 30 || (best < M.n && inv <= best_t))
					continue;
				best = i;
				best_t = inv;
			}
		if (best < M.n) {
			if (M.v[best].rtp == NULL)
				M.v[best].rtp = json_object_new_array();
			json_object_array_add(M.v[best].rtp, json_object_get(st));
		}
	}
	for (size_t i = 0; i < M.n; i++) {
		struct json_object *out = json_object_new_object(), *sensors = json_object_new_array();
		size_t nr = json_object_array_length(M.v[i].recs);
		for (size_t k = 0; k < nr; k++) {
			struct json_object *r = json_object_array_get_idx(M.v[i].recs, k), *s;
			const char *sn = json_object_object_get_ex(r, "sensor", &s) ? json_object_get_string(s) : "?";
			if (!json_list_has(sensors, sn))
				json_object_array_add(sensors, json_object_new_string(sn));
		}
		for (size_t k = 0; M.v[i].rtp && k < json_object_array_length(M.v[i].rtp); k++) {
			struct json_object *s, *r = json_object_array_get_idx(M.v[i].rtp, k);
			const char *sn = json_object_object_get_ex(r, "sensor", &s) ? json_object_get_string(s) : "?";
			if (!json_list_has(sensors, sn))
				json_object_array_add(sensors, json_object_new_string(sn));
		}
		json_object_object_add(out, "call_id", json_object_new_string(M.v[i].key));
		json_object_object_add(out, "sensors", sensors);
		json_object_object_add(out, "records", M.v[i].recs);
		if (M.v[i].rtp)
			json_object_object_add(out, "rtp_elsewhere", M.v[i].rtp);
		printf("%s\n", json_object_to_json_string_ext(out, JSON_C_TO_STRING_PLAIN));
		json_object_put(out);
		free(M.v[i].key);
	}
	free(M.v);
	json_object_put(rtp);
	return rc;
}

#else

int
natsub_subscribe(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "stethoscope-ctl: this build has no NATS support: install libnats-dev and rebuild\n");
	return 2;
}

int
natsub_calls(int argc, char **argv)
{
	return natsub_subscribe(argc, argv);
}

#endif
