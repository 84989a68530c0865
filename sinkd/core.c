/*
 * core.c — sinkd's sessions and books: records from the inputs go to the
 * family; each session direction keeps the terms of the accounting
 * equation (sinkd.h), checked and published when the family has settled
 * the session.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "counters.h"
#include "ctlc.h"
#include "evjson.h"
#include "log.h"
#include "recio.h"
#include "sinkd.h"
#include "util.h"

const char *const sd_reason_names[SD_MAX] = {
	"startup_buffer_full", "output_buffer_full", "consumer_absent", "no_ports",
	"shutdown_timeout",
};
const char *const sd_dir_names[2] = { "requests", "responses" };

void
sinkd_init(struct sinkd *D, struct conf *c, const struct family *f)
{
	memset(D, 0, sizeof(*D));
	D->c = c;
	D->fam = f;
	D->wants = f->wants_of ? f->wants_of(c) : f->wants;
	/* Started (or restarted) mid-run: told of the sessions already open. */
	if (D->wants & REC_WANT(REC_SESSION_OPEN))
		D->wants |= REC_WANT(REC_SESSION_JOIN);
	D->per_session = -1;
	D->block = c->overflow == OVERFLOW_BLOCK;
	D->max_sessions = (size_t)c->max_sessions;
	D->nbuckets = 4096;
	D->buckets = xcalloc(D->nbuckets, sizeof(*D->buckets));
	TAILQ_INIT(&D->ssns);
	TAILQ_INIT(&D->sbufs);
}

static size_t
bucket_of(const struct sinkd *D, uint64_t id)
{
	id ^= id >> 29;
	id *= 0xbf58476d1ce4e5b9ULL;
	id ^= id >> 32;
	return (size_t)(id & (D->nbuckets - 1));
}

struct ssn *
sinkd_find(struct sinkd *D, uint64_t id)
{
	for (struct ssn *s = D->buckets[bucket_of(D, id)]; s; s = s->hnext)
		if (s->id == id)
			return s;
	return NULL;
}

static void
grow(struct sinkd *D)
{
	size_t n = D->nbuckets * 2;
	struct ssn **b = xcalloc(n, sizeof(*b));
	struct ssn **old = D->buckets;
	size_t on = D->nbuckets;

	D->buckets = b;
	D->nbuckets = n;
	for (size_t k = 0; k < on; k++)
		for (struct ssn *s = old[k], *nx; s; s = nx) {
			size_t i = bucket_of(D, s->id);
			nx = s->hnext;
			s->hnext = b[i];
			b[i] = s;
		}
	free(old);
}

uint64_t
ssn_start_ms(const struct ssn *s)
{
	return s->open.ts_ns / 1000000;
}

struct json_object *
sinkd_event(struct sinkd *D, const char *cat, const char *name, const struct ssn *s)
{
	struct json_object *o = evjson_new(now_wall_ns(), cat, name);

	json_object_object_add(o, "sink", json_object_new_string(D->fam->name));
	if (s != NULL)
		evjson_add_flow(o, s->id, &s->open.flow);
	return o;
}

void
sinkd_emit(struct sinkd *D, struct json_object *o)
{
	const char *t = evjson_text(o);

	if (D->events != NULL) {
		fprintf(D->events, "%s\n", t);
		fflush(D->events);
	}
	if (D->ctl != NULL)
		ctlc_send(D->ctl, t, strlen(t));
	json_object_put(o);
}

void
sinkd_drop(struct sinkd *D, struct ssn *s, int dir, enum sd_reason r, uint64_t n)
{
	if (n == 0)
		return;
	D->drop[r] += n;
	if (s != NULL)
		s->d[dir].drop[r] += n;
}

void
sinkd_deliver(struct sinkd *D, struct ssn *s, int dir, uint64_t n)
{
	D->delivered += n;
	if (s != NULL)
		s->d[dir].delivered += n;
}

static void
ssn_unlink(struct sinkd *D, struct ssn *s)
{
	struct ssn **pp = &D->buckets[bucket_of(D, s->id)];

	while (*pp != s)
		pp = &(*pp)->hnext;
	*pp = s->hnext;
	TAILQ_REMOVE(&D->ssns, s, q);
	D->nsessions--;
}

struct bufferevent *
sinkd_consumer_bev(struct sinkd *D, int fd)
{
	struct bufferevent *bev = bufferevent_socket_new(D->base, fd, BEV_OPT_CLOSE_ON_FREE);

	/* libevent writes 16 KiB a wake-up by default: far less than a batch
	 * of records brings. */
	if (bev != NULL)
		bufferevent_set_max_single_write(bev, 1 << 20);
	return bev;
}

/* The books of one direction, as JSON; *ok says whether they balance. */
static struct json_object *
books_json(const struct ssn *s, int k, bool *ok)
{
	const struct sdir *d = &s->d[k];
	struct json_object *o = json_object_new_object();
	uint64_t drops = 0, stream = 0, gap = d->gap_bytes, ringfull = d->unseen, missed = d->missed;

	for (int r = 0; r < SD_MAX; r++)
		drops += d->drop[r];
	if (s->have_close) {
		const struct wire_dir_counters *c = &s->close.dir[k];
		stream = c->stream_bytes;
		gap = c->gap_bytes;
		ringfull = c->dropped_sink;
		/* What reasmd handed out minus what it could not put in our
		 * ring is what we received; what we received is settled. */
		*ok = d->received + ringfull + missed == c->delivered &&
		    d->delivered + drops == d->received &&
		    stream == d->delivered + drops + gap + ringfull + missed;
		evjson_add_u64(o, "stream_bytes", stream);
	} else {
		*ok = d->delivered + drops == d->received;
	}
	evjson_add_u64(o, "received", d->received);
	evjson_add_u64(o, "delivered", d->delivered);
	evjson_add_u64(o, "gap_bytes", gap);
	evjson_add_u64(o, "sink_ring_full", ringfull);
	if (s->joined)
		evjson_add_u64(o, "missed_start", missed);
	for (int r = 0; r < SD_MAX; r++)
		evjson_add_u64(o, sd_reason_names[r], d->drop[r]);
	json_object_object_add(o, "balanced", json_object_new_boolean(*ok));
	return o;
}

/*
 * The family settled the session: check and publish its books, free it.
 * `extra` members of the family (consumers, files) may be added by it to
 * the summary through the fam pointer before this call.
 */
void
sinkd_session_done(struct sinkd *D, struct ssn *s)
{
	struct json_object *o = sinkd_event(D, "drops", "sink_summary", s);
	bool ok0, ok1;

	json_object_object_add(o, "complete", json_object_new_boolean(s->have_close));
	if (s->have_close)
		json_object_object_add(o, "reason",
		    json_object_new_string(wire_close_reason_name(s->close.reason)));
	ok0 = ok1 = true;
	if (D->wants & REC_WANT(REC_CHUNK)) {
		json_object_object_add(o, "requests", books_json(s, 0, &ok0));
		json_object_object_add(o, "responses", books_json(s, 1, &ok1));
	}
	if (D->fam->books)
		D->fam->books(D, s, o, &ok1);
	else
		free(s->fam);
	s->fam = NULL;
	if (!(ok0 && ok1)) {
		D->sessions_unbalanced++;
		log_warnx("session %" PRIu64 ": the books do not balance: %s", s->id, evjson_text(o));
	}
	if (!s->have_close)
		D->sessions_incomplete++;
	D->sessions_done++;
	sinkd_emit(D, o);
	ssn_unlink(D, s);
	free(s);
	if (D->draining && D->nsessions == 0 && !D->fam->drain_waits && !D->sub_barrier)
		sinkd_drained(D);
}

static struct ssn *
ssn_new(struct sinkd *D, unsigned input, const struct rec_session_open *o)
{
	struct ssn *s;
	size_t i;

	if (D->nsessions >= D->max_sessions) {
		D->table_full_sessions++;
		return NULL;
	}
	if (D->nsessions >= D->nbuckets)
		grow(D);
	s = xcalloc(1, sizeof(*s));
	s->id = o->session_id;
	s->input = input;
	s->open = *o;
	i = bucket_of(D, s->id);
	s->hnext = D->buckets[i];
	D->buckets[i] = s;
	TAILQ_INSERT_TAIL(&D->ssns, s, q);
	D->nsessions++;
	D->sessions++;
	return s;
}

static void
orphan(struct sinkd *D, const struct wire_rec *rec)
{
	static struct log_rl rl;

	D->orphan_records++;
	D->orphan_bytes += rec->len;
	log_ratelimited(&rl, 3, 10000, LOG_WARNING, "a %s record for a session this sink "
	    "never saw open (its open was lost): counted as orphan", wire_rec_name(rec->type));
}

/* Bytes the stream skipped without a gap record: chunks reasmd could not
 * put into our ring (sink_ring_full, which the close record totals). */
static void
advance(struct sinkd *D, struct sdir *d, uint64_t off)
{
	if (off > d->next_off) {
		d->unseen += off - d->next_off;
		D->unseen += off - d->next_off;
	}
	d->next_off = off;
}

int
sinkd_record(struct sinkd *D, unsigned input, const struct wire_rec *rec)
{
	const void *b = rec_body(rec);
	struct ssn *s;

	/* A record stream carries every type; a ring only what was asked. */
	if (rec->type < 32 && !(D->wants & REC_WANT(rec->type)) && rec->type != REC_EOS)
		return 0;

	switch (rec->type) {
	case REC_INTERFACE: {
		const struct rec_interface *i = b;
		char name[64];
		size_t n = MIN((size_t)i->name_len, sizeof(name) - 1);
		memcpy(name, i + 1, n);
		name[n] = '\0';
		if (D->fam->iface)
			D->fam->iface(D, input, i, name);
		break;
	}
	case REC_SESSION_OPEN: {
		const struct rec_session_open *o = b;
		if (D->draining || sinkd_find(D, o->session_id) != NULL)
			break;
		if (o->ts_ns > D->last_ts_ns)
			D->last_ts_ns = o->ts_ns;
		s = ssn_new(D, input, o);
		if (s != NULL && D->fam->open)
			D->fam->open(D, s);
		break;
	}
	case REC_SESSION_JOIN: {
		/* Open before this sink came: its start is missed (a gap to
		 * the consumers), counted apart so the books still balance. */
		const struct rec_session_join *j = b;
		if (D->draining || sinkd_find(D, j->open.session_id) != NULL)
			break;
		s = ssn_new(D, input, &j->open);
		if (s == NULL)
			break;
		s->joined = true;
		for (int k = 0; k < 2; k++) {
			s->d[k].next_off = j->off[k];
			s->d[k].missed = j->missed[k];
			D->missed += j->missed[k];
		}
		D->sessions_joined++;
		if (D->fam->open)
			D->fam->open(D, s);
		{
			struct json_object *e = sinkd_event(D, "drops", "session_joined", s);
			evjson_add_u64(e, "requests_missed", j->missed[0]);
			evjson_add_u64(e, "responses_missed", j->missed[1]);
			evjson_add_u64(e, "requests_offset", j->off[0]);
			evjson_add_u64(e, "responses_offset", j->off[1]);
			sinkd_emit(D, e);
		}
		break;
	}
	case REC_CHUNK: {
		const struct rec_chunk *c = b;
		size_t n = rec->len - sizeof(*rec) - sizeof(*c);
		if ((s = sinkd_find(D, c->session_id)) == NULL || s->ended) {
			orphan(D, rec);
			break;
		}
		struct sdir *d = &s->d[c->dir & 1];
		advance(D, d, c->offset);
		d->next_off = c->offset + n;
		d->received += n;
		D->received += n;
		if (D->fam->chunk)
			D->fam->chunk(D, s, c->dir & 1, c->offset, (const uint8_t *)(c + 1), n);
		else
			sinkd_deliver(D, s, c->dir & 1, n);
		break;
	}
	case REC_GAP: {
		const struct rec_gap *g = b;
		if ((s = sinkd_find(D, g->session_id)) == NULL || s->ended) {
			orphan(D, rec);
			break;
		}
		struct sdir *d = &s->d[g->dir & 1];
		advance(D, d, g->offset);
		d->next_off = g->offset + g->len;
		d->gap_bytes += g->len;
		D->gap_bytes += g->len;
		if (D->fam->gap)
			D->fam->gap(D, s, g->dir & 1, g->offset, g->len);
		break;
	}
	case REC_SESSION_CLOSE: {
		const struct rec_session_close *c = b;
		if ((s = sinkd_find(D, c->session_id)) == NULL || s->ended) {
			orphan(D, rec);
			break;
		}
		s->close = *c;
		s->have_close = true;
		s->ended = true;
		D->ring_full += c->dir[0].dropped_sink + c->dir[1].dropped_sink;
		if (c->ts_ns > D->last_ts_ns)
			D->last_ts_ns = c->ts_ns;
		if (D->fam->close)
			D->fam->close(D, s);
		else
			sinkd_session_done(D, s);
		break;
	}
	case REC_PACKET:
		if (D->fam->packet)
			D->fam->packet(D, input, b);
		break;
	case REC_CALL_OPEN:
		if (D->fam->call_open && !D->draining)
			D->fam->call_open(D, input, b);
		break;
	case REC_MESSAGE:
		if (D->fam->message)
			D->fam->message(D, input, b);
		break;
	case REC_CALL_CLOSE:
		if (D->fam->call_close)
			D->fam->call_close(D, input, b);
		break;
	case REC_TICK: {
		uint64_t ts = ((const struct rec_tick *)b)->ts_ns;
		if (ts > D->last_ts_ns)
			D->last_ts_ns = ts;
		if (D->fam->tick)
			D->fam->tick(D, input, ts);
		break;
	}
	case REC_EVENT: {
		const struct rec_event *e = b;
		if (D->fam->event)
			D->fam->event(D, input, (const char *)(e + 1), e->json_len);
		break;
	}
	case REC_EOS:
		sinkd_input_done(D, input, false);
		break;
	default:
		break;
	}
	return 0;
}

void
sinkd_input_lost(struct sinkd *D, unsigned input)
{
	/* The sessions of a lost shard end here: their books cannot be
	 * checked against a close record (complete: false). */
	for (struct ssn *s = TAILQ_FIRST(&D->ssns), *nx; s; s = nx) {
		nx = TAILQ_NEXT(s, q);
		if (s->input == input && !s->ended) {
			s->ended = true;
			s->close.session_id = s->id;
			s->close.reason = CLOSE_SHUTDOWN;
			if (D->fam->close)
				D->fam->close(D, s);
			else
				sinkd_session_done(D, s);
		}
	}
}

static void
drain_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct sinkd *D = arg;

	(void)fd;
	(void)what;
	if (D->drained)
		return;
	log_warnx("drain: %" PRIu64 " ms passed; what is still held is counted as shutdown_timeout",
	    (uint64_t)D->c->drain_timeout_eff_ms);
	if (D->fam->abandon)
		D->fam->abandon(D);
	sinkd_drained(D);
}

void
sinkd_start_drain(struct sinkd *D)
{
	struct timeval tv;

	if (D->draining)
		return;
	D->draining = true;
	/* Sessions that are still open end here (their shard ended or we
	 * stop): nothing more will come for them. */
	for (unsigned k = 0; k < D->nin; k++)
		sinkd_input_lost(D, k);
	tv = timeval_of_ms(D->c->drain_timeout_eff_ms);
	D->ev_drain_deadline = evtimer_new(D->base, drain_deadline, D);
	evtimer_add(D->ev_drain_deadline, &tv);
	if (D->fam->drain)
		D->fam->drain(D);
	if (D->subscribe != NULL && input_subscribe_drain(D))
		return;		/* the events still on their way from ctld first */
	if (!D->fam->drain_waits && D->nsessions == 0)
		sinkd_drained(D);
}

void
sinkd_drained(struct sinkd *D)
{
	if (D->drained)
		return;
	D->drained = true;
	event_base_loopbreak(D->base);
}

void
sinkd_input_done(struct sinkd *D, unsigned input, bool lost)
{
	(void)input;
	(void)lost;
	if (++D->nin_done >= D->nin)
		sinkd_start_drain(D);
}

void
sinkd_summary(struct sinkd *D, FILE *f)
{
	fprintf(f, "sinkd %s: %" PRIu64 " sessions (%" PRIu64 " settled, %" PRIu64
	    " with books that do not balance, %" PRIu64 " ended by a lost input), %" PRIu64
	    " bytes received, %" PRIu64 " delivered, gap %" PRIu64 ", sink_ring_full %" PRIu64 "\n",
	    D->fam->name, D->sessions, D->sessions_done, D->sessions_unbalanced,
	    D->sessions_incomplete, D->received, D->delivered, D->gap_bytes, D->ring_full);
	fprintf(f, "sinkd %s: dropped:", D->fam->name);
	for (int r = 0; r < SD_MAX; r++)
		fprintf(f, " %s=%" PRIu64, sd_reason_names[r], D->drop[r]);
	fprintf(f, " (bytes); orphan records %" PRIu64 ", table_full %" PRIu64 " sessions\n",
	    D->orphan_records, D->table_full_sessions);
	if (D->sessions_joined)
		fprintf(f, "sinkd %s: %" PRIu64 " sessions were open before it came (their missed start: "
		    "%" PRIu64 " bytes)\n", D->fam->name, D->sessions_joined, D->missed);
	if (D->wants & REC_WANT(REC_CHUNK))
		fprintf(f, "sinkd %s: startup buffers: %" PRIu64 " bytes of startup_buffer_full were "
		    "cut to stay under sink.memcap (%" PRId64 " bytes)\n", D->fam->name,
		    D->sb_memcap_bytes, D->c->sink_memcap);
	if (D->fam->summary)
		D->fam->summary(D, f);
	fflush(f);
}

void
sinkd_send_counters(struct sinkd *D, bool final)
{
	struct ctr_enc *e = ctr_enc_new(OWN_SINKD);

	ctr_set(e, CTR_S_SESSIONS, D->sessions);
	ctr_set(e, CTR_S_RECEIVED, D->received);
	ctr_set(e, CTR_S_DELIVERED, D->delivered);
	for (int r = 0; r < SD_MAX; r++)
		ctr_set_label(e, CTR_S_DROPPED, sd_reason_names[r], D->drop[r]);
	ctr_set(e, CTR_S_GAP, D->gap_bytes);
	ctr_set(e, CTR_S_RING_FULL, D->ring_full);
	ctr_set(e, CTR_S_UNBALANCED, D->sessions_unbalanced);
	ctr_set(e, CTR_S_ORPHANS, D->orphan_records);
	ctr_set(e, CTR_S_TABLE_FULL, D->table_full_sessions);
	ctr_set(e, CTR_S_JOINED, D->sessions_joined);
	ctr_set(e, CTR_S_MISSED, D->missed);
	ctr_set(e, CTR_S_MEMCAP, D->sb_memcap_bytes);
	ctr_set(e, CTR_CTL_DROPPED, ctlc_dropped(D->ctl));
	if (D->fam->counters)
		D->fam->counters(D, e);
	const char *line = ctr_enc_line(e, final);
	ctlc_send(D->ctl, line, strlen(line));
	ctr_enc_free(e);
}

void
sinkd_free(struct sinkd *D)
{
	struct ssn *s;

	while ((s = TAILQ_FIRST(&D->ssns)) != NULL) {
		ssn_unlink(D, s);
		free(s->fam);
		free(s);
	}
	free(D->buckets);
	if (D->ev_drain_deadline)
		event_free(D->ev_drain_deadline);
}
