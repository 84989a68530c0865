/*
 * connector.c — the connector family (io.output.remote-host): for every
 * session, one connection to host:requests_port carrying the requests and
 * one to host:responses_port carrying the responses.
 *
 * Until a direction's target is first connected, its bytes wait in the
 * direction's startup buffer (buffer_bytes / c2s_ / s2c_, startup.c, but
 * never less than max_output_buffer_bytes, what a dial used to get),
 * exactly as for the listener's first consumer: beyond it the oldest go
 * (startup_buffer_full) and the target's stream starts after a tcp_gap
 * event.  A target that is down later (refused, timed out after
 * timeouts.connect seconds, or gone) is retried every timeouts.retry-every
 * seconds; while it is down its bytes wait in a buffer of
 * max_output_buffer_bytes, and what does not fit is dropped and counted
 * (output_buffer_full).  A target
 * that is up has an output buffer of the same size, with the same rule,
 * so a slow target only ever costs itself.  Bytes written to a connection
 * that then breaks are lost with it: consumer_absent.  After the session
 * closes, a target is flushed and closed; one that is down gets one more
 * attempt, after which what it holds is consumer_absent; one that makes no
 * progress for close_linger_sec is cut off (output_buffer_full).
 *
 * Events (category output): connector_connected (the first connection),
 * connector_reconnect (a later one), connector_disconnected.
 */
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "bev.h"
#include "evjson.h"
#include "log.h"
#include "sinkd.h"
#include "util.h"

enum cstate { C_DOWN, C_CONNECTING, C_UP };

struct csess;

struct ctarget {
	struct csess *cs;
	int dir;
	enum cstate st;
	struct bufferevent *bev;
	struct sbuf sb;			/* until the first connection */
	struct evbuffer *pend;		/* held while down, later */
	struct event *ev_timer;		/* retry, connect timeout */
	uint64_t enq;			/* queued on this connection */
	unsigned connects, failures;
	bool last_try, done;
	size_t last_len;
	uint64_t last_progress_ns;
};

struct csess {
	struct ssn *s;
	struct ctarget t[2];
	bool closed;
	struct event *ev_watch;		/* after the close: progress */
};

struct cstate_g {
	struct sinkd *D;
	struct sockaddr_storage addr[2];
	socklen_t addrlen[2];
	char name[2][300];
	uint64_t max_out, linger_ns;
	struct timeval connect_tv, retry_tv;
	uint64_t connects, reconnects, disconnects, failures;
};

static struct cstate_g *CS;

static void target_connect(struct ctarget *t);
static void target_settle(struct ctarget *t);

static uint64_t
outlen(const struct ctarget *t)
{
	return t->bev ? evbuffer_get_length(bufferevent_get_output(t->bev)) : 0;
}

static void
t_event(struct ctarget *t, const char *name, uint64_t a, uint64_t b)
{
	struct json_object *o = sinkd_event(CS->D, "output", name, t->cs->s);

	json_object_object_add(o, "direction", json_object_new_string(sd_dir_names[t->dir]));
	json_object_object_add(o, "target", json_object_new_string(CS->name[t->dir]));
	if (strcmp(name, "connector_disconnected") == 0) {
		evjson_add_u64(o, "delivered", a);
		evjson_add_u64(o, "lost", b);
	} else
		evjson_add_u64(o, "buffered", a);
	sinkd_emit(CS->D, o);
}

static void
schedule(struct ctarget *t, const struct timeval *tv)
{
	evtimer_del(t->ev_timer);
	evtimer_add(t->ev_timer, tv);
}

/* The connection ends: what it wrote is delivered, the rest is lost with it. */
static void
target_down(struct ctarget *t, enum sd_reason unwritten_as, bool event)
{
	struct ssn *s = t->cs->s;
	uint64_t left = outlen(t), written = t->enq - left;

	sinkd_deliver(CS->D, s, t->dir, written);
	sinkd_drop(CS->D, s, t->dir, unwritten_as, left);
	if (event) {
		CS->disconnects++;
		t_event(t, "connector_disconnected", written, left);
	}
	if (t->bev)
		bufferevent_free(t->bev);
	t->bev = NULL;
	t->enq = 0;
	t->st = C_DOWN;
}

static void
t_read(struct bufferevent *bev, void *arg)
{
	(void)arg;
	evbuffer_drain(bufferevent_get_input(bev), evbuffer_get_length(bufferevent_get_input(bev)));
}

static void
t_write(struct bufferevent *bev, void *arg)
{
	struct ctarget *t = arg;

	(void)bev;
	t->last_progress_ns = now_mono_ns();
	if (t->cs->closed && outlen(t) == 0 && evbuffer_get_length(t->pend) == 0)
		target_settle(t);
}

static void
t_ev(struct bufferevent *bev, short what, void *arg)
{
	struct ctarget *t = arg;

	if (what & BEV_EVENT_CONNECTED) {
		size_t n = evbuffer_get_length(t->pend);
		if (sbuf_live(&t->sb))
			n += sbuf_take(CS->D, &t->sb, t->pend, "connector");
		evtimer_del(t->ev_timer);
		t->st = C_UP;
		t->connects++;
		CS->connects++;
		if (t->connects > 1)
			CS->reconnects++;
		t_event(t, t->connects == 1 ? "connector_connected" : "connector_reconnect", n, 0);
		evbuffer_add_buffer(bufferevent_get_output(bev), t->pend);
		t->enq += n;
		t->last_progress_ns = now_mono_ns();
		bufferevent_enable(bev, EV_READ | EV_WRITE);
		if (t->cs->closed && n == 0)
			target_settle(t);
		return;
	}
	if ((what & BEV_EVENT_EOF) && (what & BEV_EVENT_READING) && !(what & BEV_EVENT_ERROR) &&
	    t->st == C_UP) {
		/* It closed its sending side; it may still read. */
		bufferevent_disable(bev, EV_READ);
		return;
	}
	if (t->st == C_CONNECTING) {
		bufferevent_free(t->bev);
		t->bev = NULL;
		t->st = C_DOWN;
		t->failures++;
		CS->failures++;
		{
			static struct log_rl rl;
			log_ratelimited(&rl, 3, 10000, LOG_INFO, "connector: %s: %s (retrying every %ld s)",
			    CS->name[t->dir], evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()),
			    (long)CS->retry_tv.tv_sec);
		}
		if (t->last_try) {
			target_settle(t);
			return;
		}
		schedule(t, &CS->retry_tv);
		return;
	}
	target_down(t, SD_CONSUMER_ABSENT, true);
	if (t->cs->closed)
		t->last_try = true;
	schedule(t, &CS->retry_tv);
}

static void
t_timer(evutil_socket_t fd, short what, void *arg)
{
	struct ctarget *t = arg;

	(void)fd;
	(void)what;
	if (t->st == C_CONNECTING) {
		/* timeouts.connect passed */
		bufferevent_free(t->bev);
		t->bev = NULL;
		t->st = C_DOWN;
		t->failures++;
		CS->failures++;
		if (t->last_try) {
			target_settle(t);
			return;
		}
		schedule(t, &CS->retry_tv);
		return;
	}
	if (t->st == C_DOWN) {
		if (t->cs->closed)
			t->last_try = true;
		target_connect(t);
	}
}

static void
target_connect(struct ctarget *t)
{
	t->bev = sinkd_consumer_bev(CS->D, -1);
	bufferevent_setcb(t->bev, t_read, t_write, t_ev, t);
	t->st = C_CONNECTING;
	t->enq = 0;
	if (bufferevent_socket_connect(t->bev, (struct sockaddr *)&CS->addr[t->dir],
	    (int)CS->addrlen[t->dir]) < 0) {
		/* Refused at once (no route, ...): like any failure. */
		t_ev(t->bev, BEV_EVENT_ERROR, t);
		return;
	}
	schedule(t, &CS->connect_tv);
}

/* A target has nothing more to do: what it still holds is counted. */
static void
target_settle(struct ctarget *t)
{
	struct csess *cs = t->cs;

	if (t->done)
		return;
	if (t->st == C_UP)
		target_down(t, SD_OUTPUT_BUFFER_FULL, false);
	else if (t->bev) {
		bufferevent_free(t->bev);
		t->bev = NULL;
	}
	sinkd_drop(CS->D, cs->s, t->dir, SD_CONSUMER_ABSENT, evbuffer_get_length(t->pend));
	evbuffer_drain(t->pend, evbuffer_get_length(t->pend));
	sbuf_discard(CS->D, &t->sb, SD_CONSUMER_ABSENT);	/* never connected */
	evtimer_del(t->ev_timer);
	t->done = true;
	if (cs->t[0].done && cs->t[1].done) {
		if (cs->ev_watch)
			event_free(cs->ev_watch);
		cs->ev_watch = NULL;
		for (int k = 0; k < 2; k++) {
			event_free(cs->t[k].ev_timer);
			evbuffer_free(cs->t[k].pend);
		}
		sinkd_session_done(CS->D, cs->s);
	}
}

static void
c_open(struct sinkd *D, struct ssn *s)
{
	struct csess *cs = xcalloc(1, sizeof(*cs));

	s->fam = cs;
	cs->s = s;
	for (int k = 0; k < 2; k++) {
		struct ctarget *t = &cs->t[k];
		t->cs = cs;
		t->dir = k;
		t->pend = evbuffer_new();
		/* Never less than max_output_buffer_bytes: a dial takes a
		 * moment, and a burst (a ring flush) may come first. */
		sbuf_init(D, &t->sb, s, k, MAX((uint64_t)(k == 0 ? D->c->c2s_buffer_bytes :
		    D->c->s2c_buffer_bytes), CS->max_out));
		t->ev_timer = evtimer_new(D->base, t_timer, t);
	}
	target_connect(&cs->t[0]);
	target_connect(&cs->t[1]);
}

static void
c_chunk(struct sinkd *D, struct ssn *s, int dir, uint64_t off, const uint8_t *p, size_t n)
{
	struct csess *cs = s->fam;
	struct ctarget *t = &cs->t[dir];

	(void)off;
	if (sbuf_live(&t->sb)) {
		sbuf_add(D, &t->sb, p, n);	/* not connected yet */
		return;
	}
	if (t->st == C_UP) {
		if (outlen(t) + n > CS->max_out)
			bev_write_now(t->bev);	/* what the socket takes now is not lost */
		if (outlen(t) + n > CS->max_out) {
			sinkd_drop(D, s, dir, SD_OUTPUT_BUFFER_FULL, n);
			return;
		}
		evbuffer_add(bufferevent_get_output(t->bev), p, n);
		t->enq += n;
		return;
	}
	if (evbuffer_get_length(t->pend) + n > CS->max_out) {
		sinkd_drop(D, s, dir, SD_OUTPUT_BUFFER_FULL, n);
		return;
	}
	evbuffer_add(t->pend, p, n);
}

static void
c_watch(evutil_socket_t fd, short what, void *arg)
{
	struct csess *cs = arg;
	uint64_t now = now_mono_ns();

	(void)fd;
	(void)what;
	for (int k = 0; k < 2; k++) {
		struct ctarget *t = &cs->t[k];
		if (t->done || t->st != C_UP)
			continue;
		size_t n = outlen(t);
		if (n < t->last_len) {
			t->last_len = n;
			t->last_progress_ns = now;
		}
		bool last = cs->t[!k].done;	/* settling this one ends the session */
		if (n == 0)
			target_settle(t);
		else if (now - t->last_progress_ns >= CS->linger_ns) {
			log_info("session %" PRIu64 ": %s made no progress for %.1f s: closed, %zu "
			    "unwritten bytes counted", cs->s->id, CS->name[k], (double)CS->linger_ns / 1e9, n);
			target_settle(t);
		} else
			continue;
		if (last)
			return;		/* cs is gone */
	}
}

static void
c_close(struct sinkd *D, struct ssn *s)
{
	struct csess *cs = s->fam;
	struct timeval tv = { 0, 250000 };

	cs->closed = true;
	cs->ev_watch = event_new(D->base, -1, EV_PERSIST, c_watch, cs);
	event_add(cs->ev_watch, &tv);
	for (int k = 0; k < 2; k++) {
		struct ctarget *t = &cs->t[k];
		bool last = cs->t[!k].done;
		t->last_len = outlen(t);
		t->last_progress_ns = now_mono_ns();
		/* Nothing held: done now.  A target that is down and holds
		 * bytes gets its next retry, its last (t_timer). */
		if ((t->st == C_UP && outlen(t) == 0) ||
		    (t->st == C_DOWN && evbuffer_get_length(t->pend) == 0 &&
		    (!sbuf_live(&t->sb) || evbuffer_get_length(t->sb.b) == 0))) {
			target_settle(t);
			if (last)
				return;
		}
	}
}

static void
c_abandon(struct sinkd *D)
{
	for (struct ssn *s = TAILQ_FIRST(&D->ssns), *nx; s; s = nx) {
		struct csess *cs = s->fam;
		nx = TAILQ_NEXT(s, q);
		if (cs == NULL)
			continue;
		for (int k = 0; k < 2; k++) {
			struct ctarget *t = &cs->t[k];
			if (t->done)
				continue;
			if (t->st == C_UP)
				target_down(t, SD_SHUTDOWN_TIMEOUT, false);
			sinkd_drop(D, s, k, SD_SHUTDOWN_TIMEOUT, evbuffer_get_length(t->pend));
			evbuffer_drain(t->pend, evbuffer_get_length(t->pend));
			sbuf_discard(D, &t->sb, SD_SHUTDOWN_TIMEOUT);
			bool last = cs->t[!k].done;
			target_settle(t);
			if (last)
				break;	/* the session is gone */
		}
	}
}

static int
resolve(struct cstate_g *S, int k, const char *host, long port, char *err, size_t errlen)
{
	struct addrinfo hints, *ai;
	char ps[16];
	int r;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	snprintf(ps, sizeof(ps), "%ld", port);
	if ((r = getaddrinfo(host, ps, &hints, &ai)) != 0) {
		snprintf(err, errlen, "io.output.remote-host.host %s: %s", host, gai_strerror(r));
		return -1;
	}
	memcpy(&S->addr[k], ai->ai_addr, ai->ai_addrlen);
	S->addrlen[k] = ai->ai_addrlen;
	freeaddrinfo(ai);
	snprintf(S->name[k], sizeof(S->name[k]), "%s:%ld", host, port);
	return 0;
}

static int
c_prepare(struct sinkd *D, char *err, size_t errlen)
{
	struct cstate_g *S = xcalloc(1, sizeof(*S));
	const char *host = D->c->conn_host ? D->c->conn_host : "127.0.0.1";
	double c = D->c->conn_connect_sec, r = D->c->conn_retry_every_sec;

	CS = S;
	D->fs = S;
	S->D = D;
	if (D->c->conn_requests_port <= 0 || D->c->conn_responses_port <= 0) {
		snprintf(err, errlen, "io.output.remote-host: requests_port and responses_port are needed");
		goto fail;
	}
	if (resolve(S, 0, host, (long)D->c->conn_requests_port, err, errlen) < 0 ||
	    resolve(S, 1, host, (long)D->c->conn_responses_port, err, errlen) < 0)
		goto fail;
	S->max_out = (uint64_t)D->c->max_output_buffer_bytes;
	S->linger_ns = (uint64_t)(D->c->close_linger_sec * 1e9);
	if (S->linger_ns < 1000000000ULL)
		S->linger_ns = 1000000000ULL;
	S->connect_tv.tv_sec = (time_t)c;
	S->connect_tv.tv_usec = (suseconds_t)((c - (double)(time_t)c) * 1e6);
	S->retry_tv.tv_sec = (time_t)r;
	S->retry_tv.tv_usec = (suseconds_t)((r - (double)(time_t)r) * 1e6);
	return 0;
fail:
	free(S);
	CS = NULL;
	D->fs = NULL;
	return -1;
}

static void
c_start(struct sinkd *D)
{
	(void)D;
	log_info("connector: requests to %s, responses to %s, connect timeout %ld.%03ld s, "
	    "retry every %ld.%03ld s, %llu bytes per target", CS->name[0], CS->name[1],
	    (long)CS->connect_tv.tv_sec, (long)CS->connect_tv.tv_usec / 1000,
	    (long)CS->retry_tv.tv_sec, (long)CS->retry_tv.tv_usec / 1000,
	    (unsigned long long)CS->max_out);
}

static void
c_books(struct sinkd *D, struct ssn *s, struct json_object *o, bool *ok)
{
	struct csess *cs = s->fam;
	struct json_object *d;

	(void)D;
	(void)ok;
	if (cs == NULL)
		return;
	for (int k = 0; k < 2; k++)
		if (json_object_object_get_ex(o, sd_dir_names[k], &d)) {
			json_object_object_add(d, "target", json_object_new_string(CS->name[k]));
			evjson_add_u64(d, "connects", cs->t[k].connects);
			evjson_add_u64(d, "failed_attempts", cs->t[k].failures);
		}
	free(cs);
	s->fam = NULL;
}

static void
c_summary(struct sinkd *D, FILE *f)
{
	(void)D;
	fprintf(f, "sinkd connector: %" PRIu64 " connections (%" PRIu64 " of them reconnects), %"
	    PRIu64 " disconnects, %" PRIu64 " failed attempts\n", CS->connects, CS->reconnects,
	    CS->disconnects, CS->failures);
}

static void
c_counters(struct sinkd *D, struct ctr_enc *e)
{
	(void)D;
	ctr_set(e, CTR_S_CONNECTS, CS->connects);
	ctr_set(e, CTR_S_RECONNECTS, CS->reconnects);
	ctr_set(e, CTR_S_FAILURES, CS->failures);
}

static void
c_free(struct sinkd *D)
{
	for (struct ssn *s = TAILQ_FIRST(&D->ssns); s; s = TAILQ_NEXT(s, q)) {
		struct csess *cs = s->fam;
		if (cs == NULL)
			continue;
		for (int k = 0; k < 2; k++) {
			if (cs->t[k].bev)
				bufferevent_free(cs->t[k].bev);
			if (!cs->t[k].done) {
				event_free(cs->t[k].ev_timer);
				evbuffer_free(cs->t[k].pend);
				sbuf_discard(D, &cs->t[k].sb, SD_MAX);
			}
		}
		if (cs->ev_watch)
			event_free(cs->ev_watch);
		free(cs);
		s->fam = NULL;
	}
	free(CS);
	CS = NULL;
}

const struct family family_connector = {
	.name = "connector",
	.resolves = true,
	.wants = REC_WANT(REC_SESSION_OPEN) | REC_WANT(REC_CHUNK) | REC_WANT(REC_GAP) |
	    REC_WANT(REC_SESSION_CLOSE) | REC_WANT(REC_TICK) | REC_WANT(REC_EOS),
	.prepare = c_prepare,
	.start = c_start,
	.open = c_open,
	.chunk = c_chunk,
	.close = c_close,
	.abandon = c_abandon,
	.books = c_books,
	.summary = c_summary,
	.counters = c_counters,
	.free = c_free,
};
