/*
 * listener.c — the listener family: every session gets a requests port and
 * a responses port (io.output.listener) that consumers connect to.
 *
 * Per direction:
 *   - until the first consumer connects, a startup buffer keeps the bytes
 *     from the start of the session, up to buffer_bytes (c2s_ / s2c_);
 *     beyond that the oldest go (startup_buffer_full) and the first
 *     consumer's stream starts after that hole (an event says so);
 *   - the first consumer gets the startup buffer, then live bytes; a later
 *     consumer gets the live bytes from when it connects;
 *   - each consumer has its own output buffer of max_output_buffer_bytes:
 *     a chunk that does not fit is dropped for that consumer alone and
 *     counted (output_buffer_full), so a slow consumer slows nobody;
 *   - ports stay open close_linger_sec after the session closes; then the
 *     listening socket closes, consumers are flushed and closed (one that
 *     makes no progress for close_linger_sec is cut off, its unwritten
 *     bytes counted), and the ports go back to the range.
 *
 * The books of a direction (sinkd.h) follow its primary consumer: the
 * first one, then, when it leaves, the oldest still connected.  Bytes that
 * arrive while no consumer is connected (after the first) are
 * consumer_absent; startup bytes never taken are consumer_absent too.
 * Each consumer also has its own account (joined at offset, delivered,
 * output_buffer_full), in listener_disconnected and in sink_summary.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>

#include "bev.h"
#include "evjson.h"
#include "log.h"
#include "sinkd.h"
#include "util.h"

#define ACCOUNTS_KEPT 16

struct ldir;

struct lcons {
	struct lcons *next;
	struct ldir *L;
	struct bufferevent *bev;
	char peer[80];
	bool first, primary;
	uint64_t joined_off, enq, drp;	/* bytes queued / dropped for it */
	uint64_t enq0, drp0;		/* at the moment it became primary */
	uint64_t extra;			/* the startup bytes it was given: room on top
					 * of max_output_buffer_bytes until written */
	size_t last_len;
	uint64_t last_progress_ns;
};

struct account {
	char peer[80];
	bool first;
	uint64_t joined_off, delivered, output_buffer_full;
};

struct ldir {
	struct lsess *ls;
	int dir;
	int port;			/* -1: none */
	struct evconnlistener *lev;
	struct sbuf sb;			/* startup buffer, until the first consumer */
	bool ever;			/* a consumer has connected */
	struct lcons *cons, *primary;
	struct account acct[ACCOUNTS_KEPT];
	unsigned nacct, consumers;
	bool done;
};

struct lsess {
	struct ssn *s;
	struct ldir d[2];
	bool no_ports, closed, lingered;
	int busy;			/* inside a loop over its consumers: finish later */
	uint64_t close_wall_ns;
	struct event *ev_timer;
};

struct lstate {
	struct sinkd *D;
	int family;			/* AF_INET / AF_INET6 of bind_ip */
	struct sockaddr_storage bind;
	socklen_t bindlen;
	int lo, hi;			/* the port range */
	uint8_t *used;
	int cursor;
	bool first_done;
	uint64_t max_out, linger_ns;
	uint64_t no_ports_sessions, consumers, cutoffs;
};

static struct lstate *LS;

static void ldir_maybe_done(struct ldir *L);
static void ls_finish(struct lsess *ls);

static uint64_t
outlen(const struct lcons *c)
{
	return evbuffer_get_length(bufferevent_get_output(c->bev));
}

/* ---- ports ---- */

static struct evconnlistener *listen_on(struct lstate *S, int port, void *arg);

static bool
port_free(const struct lstate *S, int p)
{
	return p >= S->lo && p <= S->hi && !S->used[p - S->lo];
}

static void
port_mark(struct lstate *S, int p, bool used)
{
	if (p >= S->lo && p <= S->hi)
		S->used[p - S->lo] = used;
}

/* Binds the two ports of a session.  Returns 0 or -1 (range exhausted). */
static int
ports_take(struct lstate *S, struct lsess *ls)
{
	struct sinkd *D = S->D;
	int n = S->hi - S->lo + 1;

	if (!S->first_done) {
		S->first_done = true;
		int fr = (int)D->c->lst_first_requests_port, fs = (int)D->c->lst_first_responses_port;
		if (fr > 0 && fs > 0) {
			ls->d[0].lev = listen_on(S, fr, &ls->d[0]);
			ls->d[1].lev = ls->d[0].lev ? listen_on(S, fs, &ls->d[1]) : NULL;
			if (ls->d[0].lev && ls->d[1].lev) {
				ls->d[0].port = fr;
				ls->d[1].port = fs;
				port_mark(S, fr, true);
				port_mark(S, fs, true);
				return 0;
			}
			log_warnx("first_requests_port %d / first_responses_port %d: cannot bind (%s); "
			    "taking ports from the range", fr, fs, strerror(errno));
			if (ls->d[0].lev)
				evconnlistener_free(ls->d[0].lev);
			ls->d[0].lev = NULL;
		}
	}
	for (int k = 0; k < 2; k++) {
		int tries = 0;
		while (tries++ < n) {
			int p = S->lo + S->cursor;
			S->cursor = (S->cursor + 1) % n;
			if (!port_free(S, p))
				continue;
			ls->d[k].lev = listen_on(S, p, &ls->d[k]);
			if (ls->d[k].lev != NULL) {
				ls->d[k].port = p;
				port_mark(S, p, true);
				break;
			}
			/* Taken by someone else: skip it this time round. */
		}
		if (ls->d[k].lev == NULL) {
			if (k == 1) {
				evconnlistener_free(ls->d[0].lev);
				ls->d[0].lev = NULL;
				port_mark(S, ls->d[0].port, false);
				ls->d[0].port = -1;
			}
			return -1;
		}
	}
	return 0;
}

/* ---- consumers ---- */

static void
cons_event(struct lcons *c, const char *name, uint64_t written, uint64_t unwritten)
{
	struct ldir *L = c->L;
	struct json_object *o = sinkd_event(LS->D, "output", name, L->ls->s);

	json_object_object_add(o, "direction", json_object_new_string(sd_dir_names[L->dir]));
	json_object_object_add(o, "port", json_object_new_int(L->port));
	json_object_object_add(o, "consumer", json_object_new_string(c->peer));
	json_object_object_add(o, "first", json_object_new_boolean(c->first));
	evjson_add_u64(o, "joined_offset", c->joined_off);
	if (strcmp(name, "listener_disconnected") == 0) {
		evjson_add_u64(o, "delivered", written);
		evjson_add_u64(o, "output_buffer_full", c->drp + unwritten);
	}
	sinkd_emit(LS->D, o);
}

static void
make_primary(struct lcons *c)
{
	c->primary = true;
	c->enq0 = c->enq;
	c->drp0 = c->drp;
	c->L->primary = c;
}

/*
 * A consumer is finished (it went away, or we close it): its own account,
 * and, if it was the primary, the direction's books.  `shutdown`: the
 * unwritten bytes are the drain's (shutdown_timeout), not the consumer's.
 */
static void
cons_end(struct lcons *c, bool shutdown_left)
{
	struct ldir *L = c->L;
	struct ssn *s = L->ls->s;
	uint64_t unwritten = outlen(c), written = c->enq - unwritten;

	cons_event(c, "listener_disconnected", written, unwritten);
	if (L->nacct < ACCOUNTS_KEPT) {
		struct account *a = &L->acct[L->nacct++];
		sth_strlcpy(a->peer, c->peer, sizeof(a->peer));
		a->first = c->first;
		a->joined_off = c->joined_off;
		a->delivered = written;
		a->output_buffer_full = c->drp + unwritten;
	}
	if (c->primary) {
		/* The queue is first in, first out: what it wrote beyond enq0
		 * is what was assigned to it as the primary. */
		uint64_t mine_w = written > c->enq0 ? written - c->enq0 : 0;
		uint64_t mine_q = c->enq - c->enq0;
		sinkd_deliver(LS->D, s, L->dir, mine_w);
		sinkd_drop(LS->D, s, L->dir, SD_OUTPUT_BUFFER_FULL, c->drp - c->drp0);
		sinkd_drop(LS->D, s, L->dir, shutdown_left ? SD_SHUTDOWN_TIMEOUT : SD_OUTPUT_BUFFER_FULL,
		    mine_q - mine_w);
		L->primary = NULL;
	}
	for (struct lcons **pp = &L->cons; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	if (L->primary == NULL && L->cons != NULL)
		make_primary(L->cons);	/* the oldest still connected */
	bufferevent_free(c->bev);
	free(c);
	ldir_maybe_done(L);
}

static void
cons_read(struct bufferevent *bev, void *arg)
{
	(void)arg;
	/* Consumers have nothing to say: what they send is discarded. */
	evbuffer_drain(bufferevent_get_input(bev), evbuffer_get_length(bufferevent_get_input(bev)));
}

static void
cons_write(struct bufferevent *bev, void *arg)
{
	struct lcons *c = arg;

	(void)bev;
	c->last_progress_ns = now_mono_ns();
	/* All written: a consumer of a lingered session is done. */
	if (c->L->ls->lingered && outlen(c) == 0)
		cons_end(c, false);
}

static void
cons_ev(struct bufferevent *bev, short what, void *arg)
{
	struct lcons *c = arg;

	if ((what & BEV_EVENT_EOF) && (what & BEV_EVENT_READING) && !(what & BEV_EVENT_ERROR)) {
		/* It closed its sending side: it may still read. */
		bufferevent_disable(bev, EV_READ);
		return;
	}
	cons_end(c, false);
}

static void
cons_put(struct lcons *c, const void *p, size_t n)
{
	uint64_t have = outlen(c);

	if (c->extra > 0 && have <= LS->max_out)
		c->extra = 0;		/* the startup bytes are out */
	if (have + n > LS->max_out + c->extra) {
		bev_write_now(c->bev);	/* what the socket takes now is not lost */
		have = outlen(c);
	}
	if (have + n > LS->max_out + c->extra) {
		c->drp += n;
		return;
	}
	evbuffer_add(bufferevent_get_output(c->bev), p, n);
	c->enq += n;
}

static void
on_accept(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa, int salen,
    void *arg)
{
	struct ldir *L = arg;
	struct lcons *c = xcalloc(1, sizeof(*c));
	char host[64];
	uint16_t port = 0;

	(void)lev;
	(void)salen;
	if (sa->sa_family == AF_INET6) {
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)sa)->sin6_addr, host, sizeof(host));
		port = ntohs(((struct sockaddr_in6 *)sa)->sin6_port);
	} else {
		inet_ntop(AF_INET, &((struct sockaddr_in *)sa)->sin_addr, host, sizeof(host));
		port = ntohs(((struct sockaddr_in *)sa)->sin_port);
	}
	snprintf(c->peer, sizeof(c->peer), "%s:%u", host, port);
	c->L = L;
	c->bev = sinkd_consumer_bev(LS->D, fd);
	c->last_progress_ns = now_mono_ns();
	bufferevent_setcb(c->bev, cons_read, cons_write, cons_ev, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	c->next = NULL;
	{
		struct lcons **pp = &L->cons;
		while (*pp)
			pp = &(*pp)->next;
		*pp = c;
	}
	LS->consumers++;
	L->consumers++;
	if (!L->ever) {
		/* The first: the startup buffer, then live. */
		L->ever = true;
		c->first = true;
		c->joined_off = L->sb.off;
		make_primary(c);
		if (sbuf_live(&L->sb)) {
			size_t n = sbuf_take(LS->D, &L->sb, bufferevent_get_output(c->bev), "listener");
			c->enq += n;
			c->extra = n;
		}
	} else {
		c->joined_off = L->ls->s->d[L->dir].next_off;
		if (L->primary == NULL)
			make_primary(c);
	}
	cons_event(c, "listener_connected", 0, 0);
	if (L->ls->lingered && outlen(c) == 0)
		cons_end(c, false);
}

static struct evconnlistener *
listen_on(struct lstate *S, int port, void *arg)
{
	struct sockaddr_storage ss = S->bind;
	int fd, one = 1;
	struct evconnlistener *lev;

	if (ss.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)port);
	else
		((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
	fd = socket(ss.ss_family, SOCK_STREAM, 0);
	if (fd < 0)
		return NULL;
	fd_set_cloexec(fd);
	fd_set_nonblock(fd);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, S->bindlen) < 0 || listen(fd, 16) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return NULL;
	}
	lev = evconnlistener_new(S->D->base, on_accept, arg, LEV_OPT_CLOSE_ON_FREE, -1, fd);
	if (lev == NULL)
		close(fd);
	return lev;
}

/* ---- sessions ---- */

static void
ldir_maybe_done(struct ldir *L)
{
	struct lsess *ls = L->ls;

	if (L->done || !ls->lingered || L->cons != NULL || L->lev != NULL)
		return;
	L->done = true;
	ls_finish(ls);
}

/* Both directions settled: the session is done (not while a loop over
 * its consumers runs; that loop calls again when it ends). */
static void
ls_finish(struct lsess *ls)
{
	if (ls->busy || !ls->d[0].done || !ls->d[1].done)
		return;
	if (ls->ev_timer)
		event_free(ls->ev_timer);
	ls->ev_timer = NULL;
	sinkd_session_done(LS->D, ls->s);
}

/* close_linger_sec after the close: no more consumers; flush the ones
 * there are; the ports go back to the range. */
static void
linger_end(struct lsess *ls)
{
	ls->busy++;
	ls->lingered = true;
	for (int k = 0; k < 2; k++) {
		struct ldir *L = &ls->d[k];
		if (L->lev) {
			evconnlistener_free(L->lev);
			L->lev = NULL;
			port_mark(LS, L->port, false);
		}
		sbuf_discard(LS->D, &L->sb, SD_CONSUMER_ABSENT);	/* nobody came for these */
	}
	for (int k = 0; k < 2; k++) {
		struct ldir *L = &ls->d[k];
		for (struct lcons *c = L->cons, *nx; c; c = nx) {
			nx = c->next;
			c->last_progress_ns = now_mono_ns();
			c->last_len = outlen(c);
			if (c->last_len == 0)
				cons_end(c, false);
		}
		if (!L->done)
			ldir_maybe_done(L);
	}
	ls->busy--;
	ls_finish(ls);
}

static void
ls_timer(evutil_socket_t fd, short what, void *arg)
{
	struct lsess *ls = arg;
	uint64_t now = now_mono_ns();

	(void)fd;
	(void)what;
	if (!ls->lingered) {
		if (now - ls->close_wall_ns >= LS->linger_ns || LS->D->stop_now)
			linger_end(ls);
		return;
	}
	/* Flushing: cut off a consumer that made no progress for a linger. */
	ls->busy++;
	for (int k = 0; k < 2; k++)
		for (struct lcons *c = ls->d[k].cons, *nx; c; c = nx) {
			size_t n = outlen(c);
			nx = c->next;
			if (n < c->last_len || n == 0) {
				c->last_len = n;
				c->last_progress_ns = now;
			}
			if (n == 0)
				cons_end(c, false);
			else if (now - c->last_progress_ns >= LS->linger_ns) {
				LS->cutoffs++;
				log_info("session %" PRIu64 ": consumer %s made no progress for %.1f s: "
				    "closed, %zu unwritten bytes counted", ls->s->id, c->peer,
				    (double)LS->linger_ns / 1e9, n);
				cons_end(c, false);
			}
		}
	ls->busy--;
	ls_finish(ls);
}

static void
l_open(struct sinkd *D, struct ssn *s)
{
	struct lsess *ls = xcalloc(1, sizeof(*ls));

	s->fam = ls;
	ls->s = s;
	for (int k = 0; k < 2; k++) {
		ls->d[k].ls = ls;
		ls->d[k].dir = k;
		ls->d[k].port = -1;
		sbuf_init(D, &ls->d[k].sb, s, k, (uint64_t)(k == 0 ? D->c->c2s_buffer_bytes :
		    D->c->s2c_buffer_bytes));
	}
	if (ports_take(LS, ls) < 0) {
		struct json_object *o = sinkd_event(D, "ports", "listener_no_ports", s);
		ls->no_ports = true;
		LS->no_ports_sessions++;
		log_warnx("session %" PRIu64 ": the port range %d-%d is exhausted: its bytes are "
		    "counted as no_ports", s->id, LS->lo, LS->hi);
		sinkd_emit(D, o);
		for (int k = 0; k < 2; k++)
			sbuf_discard(D, &ls->d[k].sb, SD_MAX);
		return;
	}
	struct json_object *o = sinkd_event(D, "ports", "listener_ports", s);
	json_object_object_add(o, "requests_port", json_object_new_int(ls->d[0].port));
	json_object_object_add(o, "responses_port", json_object_new_int(ls->d[1].port));
	sinkd_emit(D, o);
}

static void
l_chunk(struct sinkd *D, struct ssn *s, int dir, uint64_t off, const uint8_t *p, size_t n)
{
	struct lsess *ls = s->fam;
	struct ldir *L = &ls->d[dir];

	(void)off;
	if (ls->no_ports) {
		sinkd_drop(D, s, dir, SD_NO_PORTS, n);
		return;
	}
	if (!L->ever) {
		sbuf_add(D, &L->sb, p, n);	/* the newest buffer_bytes are kept */
		return;
	}
	if (L->primary == NULL)
		sinkd_drop(D, s, dir, SD_CONSUMER_ABSENT, n);
	for (struct lcons *c = L->cons; c; c = c->next)
		cons_put(c, p, n);
}

static void
l_close(struct sinkd *D, struct ssn *s)
{
	struct lsess *ls = s->fam;
	struct timeval tv = { 0, 250000 };

	(void)D;
	if (ls->no_ports) {
		ls->lingered = true;
		ls->d[0].done = ls->d[1].done = true;
		sinkd_session_done(D, s);
		return;
	}
	ls->closed = true;
	ls->close_wall_ns = now_mono_ns();
	ls->ev_timer = event_new(D->base, -1, EV_PERSIST, ls_timer, ls);
	event_add(ls->ev_timer, &tv);
	if (LS->linger_ns == 0)
		linger_end(ls);
}

static void
l_abandon(struct sinkd *D)
{
	for (struct ssn *s = TAILQ_FIRST(&D->ssns), *nx; s; s = nx) {
		struct lsess *ls = s->fam;
		nx = TAILQ_NEXT(s, q);
		if (ls == NULL)
			continue;
		ls->busy++;
		if (!ls->lingered)
			linger_end(ls);
		for (int k = 0; k < 2; k++)
			while (ls->d[k].cons)
				cons_end(ls->d[k].cons, true);
		ls->busy--;
		ls_finish(ls);
	}
}

static void
l_books(struct sinkd *D, struct ssn *s, struct json_object *o, bool *ok)
{
	struct lsess *ls = s->fam;

	(void)D;
	(void)ok;
	if (ls == NULL)
		return;
	for (int k = 0; k < 2; k++) {
		struct ldir *L = &ls->d[k];
		struct json_object *a = json_object_new_array(), *d;
		for (unsigned i = 0; i < L->nacct; i++) {
			struct json_object *e = json_object_new_object();
			json_object_object_add(e, "consumer", json_object_new_string(L->acct[i].peer));
			json_object_object_add(e, "first", json_object_new_boolean(L->acct[i].first));
			evjson_add_u64(e, "joined_offset", L->acct[i].joined_off);
			evjson_add_u64(e, "delivered", L->acct[i].delivered);
			evjson_add_u64(e, "output_buffer_full", L->acct[i].output_buffer_full);
			json_object_array_add(a, e);
		}
		if (json_object_object_get_ex(o, sd_dir_names[k], &d)) {
			json_object_object_add(d, "port", json_object_new_int(L->port));
			json_object_object_add(d, "consumers", a);
		} else
			json_object_put(a);
	}
	free(ls);
	s->fam = NULL;
}

static int
l_prepare(struct sinkd *D, char *err, size_t errlen)
{
	struct lstate *S = xcalloc(1, sizeof(*S));
	const char *ip = D->c->lst_bind_ip ? D->c->lst_bind_ip : "0.0.0.0";
	struct sockaddr_in *s4 = (struct sockaddr_in *)&S->bind;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&S->bind;

	LS = S;
	D->fs = S;
	S->D = D;
	S->lo = (int)D->c->lst_range_start;
	S->hi = (int)D->c->lst_range_end;
	if (S->lo <= 0 || S->hi < S->lo || S->hi > 65535) {
		snprintf(err, errlen, "io.output.listener: port_range_start and port_range_end are "
		    "needed (1..65535, end >= start), found %d-%d", S->lo, S->hi);
		goto fail;
	}
	if (inet_pton(AF_INET, ip, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		S->bindlen = sizeof(*s4);
	} else if (inet_pton(AF_INET6, ip, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		S->bindlen = sizeof(*s6);
	} else {
		snprintf(err, errlen, "io.output.listener.bind_ip: expected an IPv4 or IPv6 address, "
		    "found \"%s\"", ip);
		goto fail;
	}
	S->used = xcalloc((size_t)(S->hi - S->lo + 1), 1);
	S->max_out = (uint64_t)D->c->max_output_buffer_bytes;
	S->linger_ns = (uint64_t)(D->c->close_linger_sec * 1e9);
	return 0;
fail:
	free(S);
	LS = NULL;
	D->fs = NULL;
	return -1;
}

static void
l_start(struct sinkd *D)
{
	log_info("listener: ports %d-%d on %s, startup buffer %lld/%lld bytes, "
	    "%lld bytes per consumer", LS->lo, LS->hi,
	    D->c->lst_bind_ip ? D->c->lst_bind_ip : "0.0.0.0",
	    (long long)D->c->c2s_buffer_bytes, (long long)D->c->s2c_buffer_bytes,
	    (long long)LS->max_out);
}

static void
l_summary(struct sinkd *D, FILE *f)
{
	(void)D;
	fprintf(f, "sinkd listener: %" PRIu64 " consumers, %" PRIu64 " cut off for making no "
	    "progress, %" PRIu64 " sessions without ports (range exhausted)\n",
	    LS->consumers, LS->cutoffs, LS->no_ports_sessions);
}

static void
l_counters(struct sinkd *D, struct ctr_enc *e)
{
	(void)D;
	ctr_set(e, CTR_S_CONSUMERS, LS->consumers);
	ctr_set(e, CTR_S_CUTOFFS, LS->cutoffs);
	ctr_set(e, CTR_S_NO_PORTS_SESSIONS, LS->no_ports_sessions);
}

static void
l_free(struct sinkd *D)
{
	for (struct ssn *s = TAILQ_FIRST(&D->ssns); s; s = TAILQ_NEXT(s, q)) {
		struct lsess *ls = s->fam;
		if (ls == NULL)
			continue;
		for (int k = 0; k < 2; k++) {
			struct ldir *L = &ls->d[k];
			if (L->lev)
				evconnlistener_free(L->lev);
			sbuf_discard(D, &L->sb, SD_MAX);
			for (struct lcons *c = L->cons, *nx; c; c = nx) {
				nx = c->next;
				bufferevent_free(c->bev);
				free(c);
			}
		}
		if (ls->ev_timer)
			event_free(ls->ev_timer);
		free(ls);
		s->fam = NULL;
	}
	free(LS->used);
	free(LS);
	LS = NULL;
}

const struct family family_listener = {
	.name = "listener",
	.wants = REC_WANT(REC_SESSION_OPEN) | REC_WANT(REC_CHUNK) | REC_WANT(REC_GAP) |
	    REC_WANT(REC_SESSION_CLOSE) | REC_WANT(REC_TICK) | REC_WANT(REC_EOS),
	.prepare = l_prepare,
	.start = l_start,
	.open = l_open,
	.chunk = l_chunk,
	.close = l_close,
	.abandon = l_abandon,
	.books = l_books,
	.summary = l_summary,
	.counters = l_counters,
	.free = l_free,
};
