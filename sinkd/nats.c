/*
 * nats.c — the nats family (io.output.nats): what a tap sees, published to
 * a NATS JetStream stream, so that any number of consumers on any host
 * read it, replay it and acknowledge it.
 *
 * Subjects, under io.output.nats.subject_prefix (default "steth") and the
 * sensor name (io.output.nats.sensor, default the host name):
 *
 *   <prefix>.<sensor>.event.<cat>      every other event of the reasmd shards
 *   <prefix>.<sensor>.session.<shard>  a session's summary (its session_summary event)
 *   <prefix>.<sensor>.call             a call's summary (its call_end event:
 *                                      the calls.jsonl line and the envelope)
 *   <prefix>.<sensor>.chunk.<shard>    stream bytes (publish: chunks)
 *   <prefix>.<sensor>.packet.<shard>   captured frames (publish: packets)
 *   <prefix>.<sensor>.loss             the sequence ranges this sink dropped
 *
 * JSON records get "sensor", "run" (a random id drawn when this process
 * starts: ids repeat across runs), "kind" and "seq" (a sequence per kind:
 * a consumer sees a gap).  Binary messages (chunks, packets) carry the same
 * in headers (Steth-Sensor, Steth-Run, Steth-Kind, Steth-Seq, and
 * Steth-Session, Steth-Dir, Steth-Offset for chunks).  Every message has
 * Nats-Msg-Id "<sensor>.<run>.<n>": a resend is dropped by the server as
 * a duplicate inside the stream's window, and a restarted sinkd, with a
 * new run id, never collides with its predecessor.
 *
 * Threads.  sinkd's event loop never waits for the broker: it appends to
 * a queue bounded by queue_bytes and queue_msgs (what does not fit is
 * counted, nats_queue_full, and its sequence numbers remembered) and goes
 * on.  A publisher thread connects (libnats retries in the background
 * while the broker is down), makes the stream when it is absent, and
 * publishes asynchronously, at most max_pending awaiting their ack; a
 * stall there blocks this thread only.  libnats's own threads deliver the
 * acks: a negative or missing one (ack_timeout_ms) sends the message again
 * up to `retries` times, then counts it (nats_nack, nats_timeout).  While
 * the connection is down nothing is published; what is in flight times
 * out and is resent after the reconnect, and the server drops what it
 * already had.  The loop learns the thread's state by reading the shared
 * counters under the mutex (every second for ctld, every 50 ms while
 * draining): no event crosses threads, so the loop stays single-threaded
 * as far as libevent knows.
 *
 * The books: produced = acked + Σ dropped + pending (queued, waiting to be
 * resent, in flight), per sink, at any time; at the end pending is 0 or
 * counted as nats_shutdown.  A `loss` record names every dropped range
 * once the broker takes messages again.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/queue.h>
#include <event2/event.h>

#include "counters.h"
#include "log.h"
#include "siphash.h"
#include "sinkd.h"
#include "util.h"

#ifdef HAVE_NATS
#include <nats/nats.h>

enum nkind { NK_EVENT, NK_SESSION, NK_CALL, NK_CHUNK, NK_PACKET, NK_LOSS, NK_MAX };
static const char *const nk_names[NK_MAX] = { "event", "session", "call", "chunk", "packet", "loss" };
/* io.output.nats.publish's words, in nkind order */
static const char *const nk_publish[NK_MAX] = { "events", "sessions", "calls", "chunks", "packets", NULL };
enum ndrop { ND_QUEUE_FULL, ND_NACK, ND_TIMEOUT, ND_TOO_LARGE, ND_SHUTDOWN, ND_MAX };
static const char *const nd_names[ND_MAX] = { "queue_full", "nack", "timeout", "too_large", "shutdown" };

#define LOSS_RANGES 64		/* ranges a kind remembers between loss records */
#define HDR_ROOM 1024		/* headers and subject, below max_payload */

struct nmsg {
	STAILQ_ENTRY(nmsg) q;
	uint8_t kind, dir;
	bool binary;
	uint64_t seq, session, off;
	size_t len;
	char *subj;
	uint8_t *data;
};
STAILQ_HEAD(nmsgq, nmsg);

struct lossv {
	uint64_t from[LOSS_RANGES], to[LOSS_RANGES];
	size_t n;
	uint64_t omitted;		/* ranges that did not fit, counted */
};

struct nstate {
	struct sinkd *D;
	char sensor[128], run[24], prefix[128];
	bool want[NK_MAX];
	uint64_t q_max_bytes, q_max_msgs;
	int retries;
	int64_t ack_timeout_ms;
	uint64_t seq[NK_MAX - 1];	/* the loop's kinds; loss is the thread's */
	struct event *ev_drain;

	/* Shared with the publisher thread and libnats's: under mu. */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct nmsgq q;
	uint64_t q_bytes, q_msgs;
	natsMsg **retry;
	size_t nretry, retry_cap;
	bool stop, draining, connected, stream_ok;
	uint64_t inflight, gseq, loss_seq;
	uint64_t produced[NK_MAX], acked[NK_MAX], dropped[ND_MAX];
	uint64_t published, resent, duplicates, reconnects, disconnects;
	size_t max_payload;
	struct lossv loss[NK_MAX];
	bool loss_pending;
	uint64_t loss_next_ms;		/* the next round of loss records, not before */

	/* The publisher thread's. */
	natsOptions *opts;
	natsConnection *nc;
	jsCtx *js;
	pthread_t th;
	bool th_started;
	char **servers;
	int nservers;
};

static void
loss_add(struct nstate *S, int kind, uint64_t seq)
{
	struct lossv *l = &S->loss[kind];

	if (kind == NK_LOSS)
		return;	/* a loss record lost is counted, not named: no record of it (no loop) */

	S->loss_pending = true;
	if (l->n > 0 && l->to[l->n - 1] + 1 == seq) {
		l->to[l->n - 1] = seq;
		return;
	}
	if (l->n == LOSS_RANGES) {
		l->omitted++;
		return;
	}
	l->from[l->n] = l->to[l->n] = seq;
	l->n++;
}

/* The sensor name as one subject token: letters, digits, '-' and '_'. */
static void
token_clean(char *s)
{
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		    *s == '-' || *s == '_'))
			*s = '_';
}

/* ---- the loop's side: records in, messages queued ---- */

static bool
enqueue(struct nstate *S, int kind, const char *suffix, const void *data, size_t len,
    bool binary, uint64_t session, int dir, uint64_t off)
{
	uint64_t seq = ++S->seq[kind];
	char subj[400];
	size_t sl;
	struct nmsg *m;

	sl = (size_t)snprintf(subj, sizeof(subj), "%s.%s.%s%s%s", S->prefix, S->sensor, nk_names[kind],
	    suffix ? "." : "", suffix ? suffix : "");
	if (sl >= sizeof(subj))
		sl = sizeof(subj) - 1;
	pthread_mutex_lock(&S->mu);
	S->produced[kind]++;
	if (len + HDR_ROOM > S->max_payload) {
		S->dropped[ND_TOO_LARGE]++;
		loss_add(S, kind, seq);
		pthread_mutex_unlock(&S->mu);
		return false;
	}
	if (S->q_bytes + len > S->q_max_bytes || S->q_msgs + 1 > S->q_max_msgs) {
		static struct log_rl rl;
		bool up = S->connected;
		S->dropped[ND_QUEUE_FULL]++;
		loss_add(S, kind, seq);
		pthread_mutex_unlock(&S->mu);
		log_ratelimited(&rl, 1, 10000, LOG_WARNING, "nats: the queue is full (%s, the broker is %s): "
		    "messages dropped, counted (nats_queue_full)", "io.output.nats.queue_bytes/queue_msgs",
		    up ? "slow" : "away");
		return false;
	}
	S->q_bytes += len;
	S->q_msgs++;
	pthread_mutex_unlock(&S->mu);

	m = xmalloc(sizeof(*m) + sl + 1 + len);
	m->kind = (uint8_t)kind;
	m->dir = (uint8_t)dir;
	m->binary = binary;
	m->seq = seq;
	m->session = session;
	m->off = off;
	m->len = len;
	m->subj = (char *)(m + 1);
	memcpy(m->subj, subj, sl + 1);
	m->data = (uint8_t *)m->subj + sl + 1;
	if (len)
		memcpy(m->data, data, len);

	pthread_mutex_lock(&S->mu);
	STAILQ_INSERT_TAIL(&S->q, m, q);
	pthread_cond_signal(&S->cv);
	pthread_mutex_unlock(&S->mu);
	return true;
}

/* A JSON record: o with the envelope added, queued.  Takes o. */
static void
enqueue_json(struct nstate *S, int kind, const char *suffix, struct json_object *o, unsigned shard)
{
	const char *txt;
	size_t len;

	json_object_object_add(o, "sensor", json_object_new_string(S->sensor));
	json_object_object_add(o, "run", json_object_new_string(S->run));
	json_object_object_add(o, "kind", json_object_new_string(nk_names[kind]));
	json_object_object_add(o, "seq", json_object_new_int64((int64_t)(S->seq[kind] + 1)));
	json_object_object_add(o, "shard", json_object_new_int((int)shard));
	txt = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, &len);
	enqueue(S, kind, suffix, txt, len, false, 0, 0, 0);
	json_object_put(o);
}

static void
nats_event(struct sinkd *D, unsigned input, const char *txt, size_t len)
{
	struct nstate *S = D->fs;
	struct json_object *o, *v;
	const char *cat = "none", *name = "";
	char suffix[64];
	int kind;
	struct json_tokener *tok = json_tokener_new();

	o = json_tokener_parse_ex(tok, txt, (int)len);
	if (o == NULL || !json_object_is_type(o, json_type_object) || json_tokener_get_parse_end(tok) != len) {
		/* not ours to judge: sent on as it came, under event.none */
		json_object_put(o);
		o = json_object_new_object();
		json_object_object_add(o, "text", json_object_new_string_len(txt, (int)len));
	}
	json_tokener_free(tok);
	if (json_object_object_get_ex(o, "cat", &v) && json_object_is_type(v, json_type_string))
		cat = json_object_get_string(v);
	if (json_object_object_get_ex(o, "event", &v) && json_object_is_type(v, json_type_string))
		name = json_object_get_string(v);
	kind = strcmp(name, "session_summary") == 0 ? NK_SESSION : strcmp(name, "call_end") == 0 ? NK_CALL : NK_EVENT;
	if (!S->want[kind]) {
		json_object_put(o);
		return;
	}
	if (kind == NK_SESSION)
		snprintf(suffix, sizeof(suffix), "%u", input);
	else {
		snprintf(suffix, sizeof(suffix), "%s", cat);
		token_clean(suffix);
	}
	enqueue_json(S, kind, kind == NK_CALL ? NULL : suffix, o, input);
}

static void
nats_chunk(struct sinkd *D, struct ssn *s, int dir, uint64_t off, const uint8_t *p, size_t n)
{
	struct nstate *S = D->fs;
	char suffix[16];
	size_t most;

	snprintf(suffix, sizeof(suffix), "%u", s->input);
	pthread_mutex_lock(&S->mu);
	most = S->max_payload - HDR_ROOM;
	pthread_mutex_unlock(&S->mu);
	while (n > 0) {
		size_t k = n < most ? n : most;
		if (enqueue(S, NK_CHUNK, suffix, p, k, true, s->id, dir, off))
			sinkd_deliver(D, s, dir, k);
		else
			sinkd_drop(D, s, dir, SD_OUTPUT_BUFFER_FULL, k);
		p += k;
		off += k;
		n -= k;
	}
}

static void
nats_close(struct sinkd *D, struct ssn *s)
{
	sinkd_session_done(D, s);
}

static void
nats_packet(struct sinkd *D, unsigned input, const struct rec_packet *p)
{
	struct nstate *S = D->fs;
	char suffix[16];

	snprintf(suffix, sizeof(suffix), "%u", input);
	enqueue(S, NK_PACKET, suffix, rec_packet_frame(p), p->caplen, true, 0, 0, p->ts_ns);
}

/* ---- the publisher thread ---- */

static void
hdr_u64(natsMsg *m, const char *k, uint64_t v)
{
	char b[24];

	snprintf(b, sizeof(b), "%" PRIu64, v);
	natsMsgHeader_Set(m, k, b);
}

static uint64_t
hdr_get_u64(natsMsg *m, const char *k)
{
	const char *v = NULL;

	if (natsMsgHeader_Get(m, k, &v) != NATS_OK || v == NULL)
		return 0;
	return strtoull(v, NULL, 10);
}

static int
hdr_kind(natsMsg *m)
{
	const char *v = NULL;

	if (natsMsgHeader_Get(m, "Steth-Kind", &v) == NATS_OK && v != NULL)
		for (int k = 0; k < NK_MAX; k++)
			if (strcmp(v, nk_names[k]) == 0)
				return k;
	return NK_EVENT;
}

/* Under mu: the natsMsg of m, with its headers.  Frees m. */
static natsMsg *
make_msg(struct nstate *S, struct nmsg *m)
{
	natsMsg *nm = NULL;
	char id[200];

	if (natsMsg_Create(&nm, m->subj, NULL, (const char *)m->data, (int)m->len) != NATS_OK) {
		free(m);
		return NULL;
	}
	snprintf(id, sizeof(id), "%s.%s.%" PRIu64, S->sensor, S->run, ++S->gseq);
	natsMsgHeader_Set(nm, "Nats-Msg-Id", id);
	natsMsgHeader_Set(nm, "Steth-Kind", nk_names[m->kind]);
	hdr_u64(nm, "Steth-Seq", m->seq);
	if (m->binary) {
		natsMsgHeader_Set(nm, "Steth-Sensor", S->sensor);
		natsMsgHeader_Set(nm, "Steth-Run", S->run);
		if (m->kind == NK_CHUNK) {
			hdr_u64(nm, "Steth-Session", m->session);
			natsMsgHeader_Set(nm, "Steth-Dir", m->dir ? "responses" : "requests");
			hdr_u64(nm, "Steth-Offset", m->off);
		} else
			hdr_u64(nm, "Steth-Ts-Ns", m->off);
	}
	free(m);
	return nm;
}

/* Under mu: the loss records, one per kind that dropped something, queued first. */
static void
loss_flush(struct nstate *S)
{
	for (int k = NK_MAX - 1; k >= 0; k--) {
		struct lossv *l = &S->loss[k];
		struct json_object *o, *a;
		const char *txt;
		size_t len, sl;
		struct nmsg *m;
		char subj[300];

		if (l->n == 0 && l->omitted == 0)
			continue;
		o = json_object_new_object();
		a = json_object_new_array();
		json_object_object_add(o, "sensor", json_object_new_string(S->sensor));
		json_object_object_add(o, "run", json_object_new_string(S->run));
		json_object_object_add(o, "kind", json_object_new_string("loss"));
		json_object_object_add(o, "seq", json_object_new_int64((int64_t)S->loss_seq + 1));
		json_object_object_add(o, "of", json_object_new_string(nk_names[k]));
		for (size_t i = 0; i < l->n; i++) {
			struct json_object *r = json_object_new_array();
			json_object_array_add(r, json_object_new_int64((int64_t)l->from[i]));
			json_object_array_add(r, json_object_new_int64((int64_t)l->to[i]));
			json_object_array_add(a, r);
		}
		json_object_object_add(o, "ranges", a);
		json_object_object_add(o, "ranges_omitted", json_object_new_int64((int64_t)l->omitted));
		txt = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, &len);
		sl = (size_t)snprintf(subj, sizeof(subj), "%s.%s.loss", S->prefix, S->sensor);
		m = xmalloc(sizeof(*m) + sl + 1 + len);
		memset(m, 0, sizeof(*m));
		m->kind = NK_LOSS;
		m->seq = ++S->loss_seq;
		m->len = len;
		m->subj = (char *)(m + 1);
		memcpy(m->subj, subj, sl + 1);
		m->data = (uint8_t *)m->subj + sl + 1;
		memcpy(m->data, txt, len);
		json_object_put(o);
		S->produced[NK_LOSS]++;
		S->q_bytes += len;
		S->q_msgs++;
		STAILQ_INSERT_HEAD(&S->q, m, q);
		l->n = 0;
		l->omitted = 0;
	}
	S->loss_pending = false;
}

static void
retry_push(struct nstate *S, natsMsg *m)
{
	if (S->nretry == S->retry_cap) {
		S->retry_cap = S->retry_cap ? 2 * S->retry_cap : 64;
		S->retry = xrealloc(S->retry, S->retry_cap * sizeof(*S->retry));
	}
	S->retry[S->nretry++] = m;
}

/* libnats's thread: an ack, a negative ack, or none in time. */
static void
on_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
	struct nstate *S = closure;
	int kind = hdr_kind(msg);

	(void)js;
	pthread_mutex_lock(&S->mu);
	if (S->inflight)
		S->inflight--;
	if (pa != NULL) {
		S->acked[kind]++;
		if (pa->Duplicate)
			S->duplicates++;
	} else {
		uint64_t attempt = hdr_get_u64(msg, "Steth-Attempt");
		if ((int)attempt < S->retries && !S->stop) {
			hdr_u64(msg, "Steth-Attempt", attempt + 1);
			retry_push(S, msg);
			msg = NULL;
			S->resent++;
		} else {
			bool to = pae != NULL && pae->Err == NATS_TIMEOUT;
			S->dropped[to ? ND_TIMEOUT : ND_NACK]++;
			loss_add(S, kind, hdr_get_u64(msg, "Steth-Seq"));
		}
	}
	pthread_cond_signal(&S->cv);
	pthread_mutex_unlock(&S->mu);
	natsMsg_Destroy(msg);
}

static void
on_connected(natsConnection *nc, void *closure)
{
	struct nstate *S = closure;
	int64_t mp = natsConnection_GetMaxPayload(nc);

	pthread_mutex_lock(&S->mu);
	S->connected = true;
	if (mp > HDR_ROOM * 2)
		S->max_payload = (size_t)mp;
	pthread_cond_signal(&S->cv);
	pthread_mutex_unlock(&S->mu);
	log_info("nats: connected");
}

static void
on_reconnected(natsConnection *nc, void *closure)
{
	struct nstate *S = closure;

	on_connected(nc, closure);
	pthread_mutex_lock(&S->mu);
	S->reconnects++;
	pthread_mutex_unlock(&S->mu);
}

static void
on_disconnected(natsConnection *nc, void *closure)
{
	struct nstate *S = closure;

	(void)nc;
	pthread_mutex_lock(&S->mu);
	if (S->connected) {
		S->connected = false;
		S->disconnects++;
		if (!S->stop)
			log_warnx("nats: disconnected from the broker: holding messages (io.output.nats.queue_bytes), reconnecting");
	}
	pthread_mutex_unlock(&S->mu);
}

/* The stream: made when absent, used as it is when present. */
static bool
ensure_stream(struct nstate *S)
{
	const char *name = S->D->c->nats_stream;
	jsStreamInfo *si = NULL;
	jsErrCode jerr = 0;
	natsStatus s;
	char subj[300];

	snprintf(subj, sizeof(subj), "%s.>", S->prefix);
	s = js_GetStreamInfo(&si, S->js, name, NULL, &jerr);
	if (s == NATS_NOT_FOUND) {
		jsStreamConfig cfg;
		const char *subjs[1] = { subj };
		jsStreamConfig_Init(&cfg);
		cfg.Name = name;
		cfg.Subjects = subjs;
		cfg.SubjectsLen = 1;
		cfg.Storage = js_FileStorage;
		cfg.Discard = js_DiscardOld;
		cfg.MaxBytes = S->D->c->nats_stream_max_bytes;
		cfg.Duplicates = S->D->c->nats_duplicate_window_sec * 1000000000LL;
		s = js_AddStream(&si, S->js, &cfg, NULL, &jerr);
		if (s == NATS_OK)
			log_info("nats: made stream %s (subjects %s, file storage, max_bytes %lld, duplicate window %llds, discard old)",
			    name, subj, (long long)cfg.MaxBytes, (long long)S->D->c->nats_duplicate_window_sec);
		else if (jerr == JSStreamNameExistErr)	/* another sensor was first */
			s = js_GetStreamInfo(&si, S->js, name, NULL, &jerr);
	} else if (s == NATS_OK && si != NULL && si->Config != NULL) {
		const jsStreamConfig *sc = si->Config;
		char diff[400] = "";
		size_t n = 0;
		bool covers = false;
		for (int k = 0; k < sc->SubjectsLen; k++)
			covers = covers || strcmp(sc->Subjects[k], subj) == 0 || strcmp(sc->Subjects[k], ">") == 0;
#define DIFF(cond, what) \
		if ((cond) && n < sizeof(diff)) \
			n += (size_t)snprintf(diff + n, sizeof(diff) - n, "%s%s", n ? "; " : "", what)
		DIFF(!covers, "its subjects do not name the prefix's");
		DIFF(sc->Duplicates < 1000000000LL, "a duplicate window under a second");
		DIFF(sc->Discard == js_DiscardNew, "discard new: when full it refuses messages (counted as nats_nack)");
		DIFF(sc->MaxMsgs > 0, "a message limit");
		DIFF(sc->Storage != js_FileStorage, "memory storage");
#undef DIFF
		if (n)
			log_warnx("nats: stream %s exists with other settings (%s): used as it is", name, diff);
	}
	jsStreamInfo_Destroy(si);
	if (s != NATS_OK) {
		static struct log_rl rl;
		log_ratelimited(&rl, 1, 30000, LOG_WARNING, "nats: stream %s: %s (JetStream error %d): retrying",
		    name, natsStatus_GetText(s), (int)jerr);
		return false;
	}
	return true;
}

static uint64_t
mono_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

static void
wait_ms(struct nstate *S, long ms)
{
	struct timespec ts = wall_in_ms(ms);

	pthread_cond_timedwait(&S->cv, &S->mu, &ts);
}

/* Publishes m (not under mu).  False: it did not go; m is back in the retry list. */
static bool
publish(struct nstate *S, natsMsg *m)
{
	jsPubOptions po;
	natsStatus s;
	bool first = hdr_get_u64(m, "Steth-Attempt") == 0;

	jsPubOptions_Init(&po);
	po.MaxWait = S->ack_timeout_ms;
	pthread_mutex_lock(&S->mu);
	S->inflight++;
	pthread_mutex_unlock(&S->mu);
	s = js_PublishMsgAsync(S->js, &m, &po);
	pthread_mutex_lock(&S->mu);
	if (s != NATS_OK) {
		S->inflight--;
		if (s == NATS_MAX_PAYLOAD) {
			S->dropped[ND_TOO_LARGE]++;
			loss_add(S, hdr_kind(m), hdr_get_u64(m, "Steth-Seq"));
			natsMsg_Destroy(m);
		} else
			retry_push(S, m);
	} else if (first)
		S->published++;	/* (m is the library's now) */
	pthread_mutex_unlock(&S->mu);
	return s == NATS_OK || s == NATS_MAX_PAYLOAD;
}

static void *
pub_main(void *arg)
{
	struct nstate *S = arg;
	natsStatus s;
	jsOptions jo;

	s = natsConnection_Connect(&S->nc, S->opts);
	if (s != NATS_OK && s != NATS_NOT_YET_CONNECTED) {
		log_warnx("nats: %s: %s; no message will be published", S->D->c->nats_url,
		    natsStatus_GetText(s));
		pthread_mutex_lock(&S->mu);
		while (!S->stop)
			wait_ms(S, 1000);
		pthread_mutex_unlock(&S->mu);
		return NULL;
	}
	if (s == NATS_NOT_YET_CONNECTED)
		log_warnx("nats: %s: not reachable yet; holding messages and retrying every second",
		    S->D->c->nats_url);
	else
		on_connected(S->nc, S);	/* libnats calls it only after a failed first try */
	jsOptions_Init(&jo);
	jo.PublishAsync.MaxPending = S->D->c->nats_max_pending;
	jo.PublishAsync.AckHandler = on_ack;
	jo.PublishAsync.AckHandlerClosure = S;
	jo.PublishAsync.StallWait = 200;
	jo.Wait = 5000;
	if ((s = natsConnection_JetStream(&S->js, S->nc, &jo)) != NATS_OK) {
		log_warnx("nats: JetStream context: %s", natsStatus_GetText(s));
		return NULL;
	}

	pthread_mutex_lock(&S->mu);
	while (!S->stop) {
		natsMsg *m = NULL;

		if (!S->connected) {
			wait_ms(S, 200);
			continue;
		}
		if (!S->stream_ok) {
			bool ok;
			pthread_mutex_unlock(&S->mu);
			ok = ensure_stream(S);
			pthread_mutex_lock(&S->mu);
			S->stream_ok = ok;
			if (!ok)
				wait_ms(S, 1000);
			continue;
		}
		if (S->loss_pending && mono_ms() >= S->loss_next_ms) {
			loss_flush(S);	/* at most one round a second: ranges gather */
			S->loss_next_ms = mono_ms() + 1000;
		}
		if (S->nretry > 0) {
			m = S->retry[0];
			memmove(S->retry, S->retry + 1, --S->nretry * sizeof(*S->retry));
		} else if (!STAILQ_EMPTY(&S->q)) {
			struct nmsg *n = STAILQ_FIRST(&S->q);
			STAILQ_REMOVE_HEAD(&S->q, q);
			S->q_bytes -= n->len;
			S->q_msgs--;
			m = make_msg(S, n);
			if (m == NULL) {
				S->dropped[ND_NACK]++;
				continue;
			}
		} else {
			wait_ms(S, S->loss_pending ? 100 : 500);
			continue;
		}
		pthread_mutex_unlock(&S->mu);
		bool went = publish(S, m);
		pthread_mutex_lock(&S->mu);
		if (!went)
			wait_ms(S, 100);	/* disconnected, or max_pending in flight */
	}
	pthread_mutex_unlock(&S->mu);
	return NULL;
}

/* ---- the family ---- */

static uint32_t
nats_wants(const struct conf *c)
{
	uint32_t w = REC_WANT(REC_EVENT) | REC_WANT(REC_EOS);

	for (size_t k = 0; k < c->nats_publish.n; k++) {
		if (strcmp(c->nats_publish.v[k], "chunks") == 0)
			w |= REC_WANT(REC_SESSION_OPEN) | REC_WANT(REC_CHUNK) | REC_WANT(REC_GAP) |
			    REC_WANT(REC_SESSION_CLOSE);
		if (strcmp(c->nats_publish.v[k], "packets") == 0)
			w |= REC_WANT(REC_PACKET);
	}
	return w;
}

static int
nats_prepare(struct sinkd *D, char *err, size_t errlen)
{
	const struct conf *c = D->c;
	struct nstate *S = xcalloc(1, sizeof(*S));
	struct sipkey k;
	natsStatus s;
	char *urls, *save = NULL;

	S->D = D;
	D->fs = S;
	pthread_mutex_init(&S->mu, NULL);
	pthread_cond_init(&S->cv, NULL);
	STAILQ_INIT(&S->q);
	S->max_payload = 1024 * 1024;	/* the server's default, until it says */
	S->q_max_bytes = (uint64_t)c->nats_queue_bytes;
	S->q_max_msgs = (uint64_t)c->nats_queue_msgs;
	S->retries = (int)c->nats_retries;
	S->ack_timeout_ms = c->nats_ack_timeout_ms;
	if (c->nats_sensor != NULL)
		snprintf(S->sensor, sizeof(S->sensor), "%s", c->nats_sensor);
	else if (gethostname(S->sensor, sizeof(S->sensor) - 1) != 0)
		snprintf(S->sensor, sizeof(S->sensor), "sensor");
	token_clean(S->sensor);
	snprintf(S->prefix, sizeof(S->prefix), "%s", c->nats_prefix);
	for (char *p = S->prefix; *p; p++)
		if (*p == ' ' || *p == '*' || *p == '>' || *p == '\t')
			*p = '_';
	sipkey_random(&k);
	snprintf(S->run, sizeof(S->run), "%016" PRIx64, k.k0);
	if (c->nats_run_id != NULL) {
		snprintf(S->run, sizeof(S->run), "%s", c->nats_run_id);
		token_clean(S->run);
	}
	for (size_t j = 0; j < c->nats_publish.n; j++)
		for (int kind = 0; kind < NK_MAX; kind++)
			if (nk_publish[kind] && strcmp(c->nats_publish.v[j], nk_publish[kind]) == 0)
				S->want[kind] = true;

	/* The connection's options, checked now: a bad URL or credentials
	 * file is a configuration error, not a runtime one. */
	urls = xstrdup(c->nats_url);
	for (char *u = strtok_r(urls, ", ", &save); u; u = strtok_r(NULL, ", ", &save)) {
		S->servers = xrealloc(S->servers, (size_t)(S->nservers + 1) * sizeof(char *));
		S->servers[S->nservers++] = xstrdup(u);
	}
	free(urls);
	s = natsOptions_Create(&S->opts);
	if (s == NATS_OK && S->nservers > 0)
		s = natsOptions_SetServers(S->opts, (const char **)S->servers, S->nservers);
	if (s == NATS_OK)
		s = natsOptions_SetName(S->opts, "stethoscope sinkd nats");
	if (s == NATS_OK)
		s = natsOptions_SetRetryOnFailedConnect(S->opts, true, on_connected, S);
	if (s == NATS_OK)
		s = natsOptions_SetMaxReconnect(S->opts, -1);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectWait(S->opts, 1000);
	if (s == NATS_OK)
		s = natsOptions_SetTimeout(S->opts, 2000);
	if (s == NATS_OK)
		s = natsOptions_SetDisconnectedCB(S->opts, on_disconnected, S);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectedCB(S->opts, on_reconnected, S);
	if (s == NATS_OK && c->nats_user)
		s = natsOptions_SetUserInfo(S->opts, c->nats_user, c->nats_password);
	if (s == NATS_OK && c->nats_token)
		s = natsOptions_SetToken(S->opts, c->nats_token);
	if (s == NATS_OK && c->nats_creds)
		s = natsOptions_SetUserCredentialsFromFiles(S->opts, c->nats_creds, NULL);
	if (s == NATS_OK && (c->nats_tls_ca || c->nats_tls_cert))
		s = natsOptions_SetSecure(S->opts, true);
	if (s == NATS_OK && c->nats_tls_ca)
		s = natsOptions_LoadCATrustedCertificates(S->opts, c->nats_tls_ca);
	if (s == NATS_OK && c->nats_tls_cert)
		s = natsOptions_LoadCertificatesChain(S->opts, c->nats_tls_cert, c->nats_tls_key);
	if (s != NATS_OK) {
		const char *t = nats_GetLastError(NULL);
		snprintf(err, errlen, "io.output.nats: %s", t && *t ? t : natsStatus_GetText(s));
		return -1;
	}
	return 0;
}

static void
nats_start(struct sinkd *D)
{
	struct nstate *S = D->fs;

	log_info("nats: publishing %s%s%s%s%s to %s as sensor %s (run %s), subjects %s.%s.>, stream %s",
	    S->want[NK_EVENT] ? "events " : "", S->want[NK_SESSION] ? "sessions " : "",
	    S->want[NK_CALL] ? "calls " : "", S->want[NK_CHUNK] ? "chunks " : "",
	    S->want[NK_PACKET] ? "packets " : "", D->c->nats_url, S->sensor, S->run, S->prefix,
	    S->sensor, D->c->nats_stream);
	if (pthread_create(&S->th, NULL, pub_main, S) != 0)
		fatal("nats: the publisher thread");
	S->th_started = true;
}

static uint64_t
pending_locked(const struct nstate *S)
{
	return S->q_msgs + S->nretry + S->inflight;
}

static void
on_drain_tick(evutil_socket_t fd, short what, void *arg)
{
	struct sinkd *D = arg;
	struct nstate *S = D->fs;
	bool done;

	(void)fd;
	(void)what;
	pthread_mutex_lock(&S->mu);
	done = pending_locked(S) == 0 && !S->loss_pending;
	pthread_mutex_unlock(&S->mu);
	if (done) {
		event_del(S->ev_drain);
		sinkd_drained(D);
	}
}

static void
nats_drain(struct sinkd *D)
{
	struct nstate *S = D->fs;
	struct timeval t = { 0, 50000 };

	pthread_mutex_lock(&S->mu);
	S->draining = true;
	pthread_cond_signal(&S->cv);
	pthread_mutex_unlock(&S->mu);
	if (S->ev_drain == NULL)
		S->ev_drain = event_new(D->base, -1, EV_PERSIST, on_drain_tick, D);
	event_add(S->ev_drain, &t);
}

/* Stops the thread and the connection; what is still pending is counted
 * (nats_shutdown) with its sequence numbers. */
static void
nats_stop(struct nstate *S)
{
	if (S->th_started) {
		pthread_mutex_lock(&S->mu);
		S->stop = true;
		pthread_cond_broadcast(&S->cv);
		pthread_mutex_unlock(&S->mu);
		pthread_join(S->th, NULL);
		S->th_started = false;
	}
	if (S->js != NULL && S->published > 0) {
		/* (libnats 3.4 crashes here before a first async publish) */
		natsMsgList pl;
		if (js_PublishAsyncGetPendingList(&pl, S->js) == NATS_OK) {
			pthread_mutex_lock(&S->mu);
			for (int i = 0; i < pl.Count; i++) {
				S->dropped[ND_SHUTDOWN]++;
				loss_add(S, hdr_kind(pl.Msgs[i]), hdr_get_u64(pl.Msgs[i], "Steth-Seq"));
				if (S->inflight)
					S->inflight--;
			}
			pthread_mutex_unlock(&S->mu);
			natsMsgList_Destroy(&pl);
		}
	}
	if (S->nc != NULL)
		natsConnection_Close(S->nc);
	pthread_mutex_lock(&S->mu);
	while (!STAILQ_EMPTY(&S->q)) {
		struct nmsg *m = STAILQ_FIRST(&S->q);
		STAILQ_REMOVE_HEAD(&S->q, q);
		S->dropped[ND_SHUTDOWN]++;
		loss_add(S, m->kind, m->seq);
		S->q_bytes -= m->len;
		S->q_msgs--;
		free(m);
	}
	for (size_t i = 0; i < S->nretry; i++) {
		S->dropped[ND_SHUTDOWN]++;
		loss_add(S, hdr_kind(S->retry[i]), hdr_get_u64(S->retry[i], "Steth-Seq"));
		natsMsg_Destroy(S->retry[i]);
	}
	S->nretry = 0;
	/* acks that never came once the connection closed */
	S->dropped[ND_SHUTDOWN] += S->inflight;
	S->inflight = 0;
	pthread_mutex_unlock(&S->mu);
}

static void
nats_abandon(struct sinkd *D)
{
	struct nstate *S = D->fs;

	if (S->ev_drain)
		event_del(S->ev_drain);
	nats_stop(S);
	sinkd_drained(D);
}

static uint64_t
sum(const uint64_t *v, int n)
{
	uint64_t t = 0;

	for (int k = 0; k < n; k++)
		t += v[k];
	return t;
}

static void
nats_summary(struct sinkd *D, FILE *f)
{
	struct nstate *S = D->fs;
	uint64_t produced, acked, dropped, pending;

	pthread_mutex_lock(&S->mu);
	produced = sum(S->produced, NK_MAX);
	acked = sum(S->acked, NK_MAX);
	dropped = sum(S->dropped, ND_MAX);
	pending = pending_locked(S);
	fprintf(f, "sinkd nats: %" PRIu64 " messages produced (", produced);
	for (int k = 0; k < NK_MAX; k++)
		fprintf(f, "%s%s %" PRIu64, k ? ", " : "", nk_names[k], S->produced[k]);
	fprintf(f, "), %" PRIu64 " acked, %" PRIu64 " dropped (", acked, dropped);
	for (int k = 0; k < ND_MAX; k++)
		fprintf(f, "%s%s %" PRIu64, k ? ", " : "", nd_names[k], S->dropped[k]);
	fprintf(f, "), %" PRIu64 " pending; %" PRIu64 " resent, %" PRIu64 " duplicates the server dropped, "
	    "%" PRIu64 " reconnects; books %s\n", pending, S->resent, S->duplicates, S->reconnects,
	    produced == acked + dropped + pending ? "balance" : "DO NOT BALANCE");
	pthread_mutex_unlock(&S->mu);
}

static void
nats_counters(struct sinkd *D, struct ctr_enc *e)
{
	struct nstate *S = D->fs;

	pthread_mutex_lock(&S->mu);
	for (int k = 0; k < NK_MAX; k++) {
		ctr_set_label(e, CTR_S_NATS_PRODUCED, nk_names[k], S->produced[k]);
		ctr_set_label(e, CTR_S_NATS_ACKED, nk_names[k], S->acked[k]);
	}
	ctr_set(e, CTR_S_NATS_PUBLISHED, S->published);
	ctr_set(e, CTR_S_NATS_QUEUE_FULL, S->dropped[ND_QUEUE_FULL]);
	ctr_set(e, CTR_S_NATS_NACK, S->dropped[ND_NACK]);
	ctr_set(e, CTR_S_NATS_TIMEOUT, S->dropped[ND_TIMEOUT]);
	ctr_set(e, CTR_S_NATS_TOO_LARGE, S->dropped[ND_TOO_LARGE]);
	ctr_set(e, CTR_S_NATS_SHUTDOWN, S->dropped[ND_SHUTDOWN]);
	ctr_set(e, CTR_S_NATS_RESENT, S->resent);
	ctr_set(e, CTR_S_NATS_RECONNECTS, S->reconnects);
	ctr_set(e, CTR_S_NATS_PENDING, pending_locked(S));
	ctr_set(e, CTR_S_NATS_CONNECTED, S->connected);
	ctr_set(e, CTR_S_NATS_STREAM_OK, S->stream_ok);
	pthread_mutex_unlock(&S->mu);
}

static void
nats_free(struct sinkd *D)
{
	struct nstate *S = D->fs;

	nats_stop(S);
	if (S->ev_drain)
		event_free(S->ev_drain);
	jsCtx_Destroy(S->js);
	natsConnection_Destroy(S->nc);
	natsOptions_Destroy(S->opts);
	/* libnats's threads may still be delivering the close (its
	 * disconnected callback takes S->mu): wait for them before S goes */
	if (nats_CloseAndWait(5000) != NATS_OK)
		log_warnx("nats: the client library did not stop within 5 s");
	for (int i = 0; i < S->nservers; i++)
		free(S->servers[i]);
	free(S->servers);
	free(S->retry);
	pthread_mutex_destroy(&S->mu);
	pthread_cond_destroy(&S->cv);
	free(S);
}

const struct family family_nats = {
	.name = "nats",
	.wants = REC_WANT(REC_EVENT),
	.wants_of = nats_wants,
	.drain_waits = true,
	.resolves = true,
	.prepare = nats_prepare,
	.start = nats_start,
	.chunk = nats_chunk,
	.close = nats_close,
	.packet = nats_packet,
	.event = nats_event,
	.drain = nats_drain,
	.abandon = nats_abandon,
	.summary = nats_summary,
	.counters = nats_counters,
	.free = nats_free,
};

#else	/* no libnats in this build */

static int
nats_prepare(struct sinkd *D, char *err, size_t errlen)
{
	(void)D;
	snprintf(err, errlen, "this build has no NATS support: install libnats-dev and rebuild");
	return -1;
}

const struct family family_nats = {
	.name = "nats",
	.wants = REC_WANT(REC_EVENT),
	.prepare = nats_prepare,
};

#endif
