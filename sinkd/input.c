/*
 * input.c — where a sink's records come from.
 *
 * --from RUN/reasmd.N.sock (once per shard): connect, hello with the
 * family's wants, a ring per shard.  A shard that goes away without its
 * end-of-stream record has its open sessions ended (their books say
 * complete: false) and is reconnected with back-off (the launcher
 * restarts it).
 *
 * -r - (or a file): a reader thread turns the byte stream into records in
 * an in-process ring, so that both kinds of input reach the same loop the
 * same way.  The stream is lossless: the thread waits when the ring is
 * full.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "chan.h"
#include "log.h"
#include "recio.h"
#include "ringev.h"
#include "redial.h"
#include "sinkd.h"
#include "util.h"

struct input {
	struct sinkd *D;
	unsigned idx;
	const char *path;		/* NULL: the stream reader */
	struct ringev *re;
	struct redial rd;
	bool rd_init;
	bool eos, done;
	uint64_t connects;
	/* stream reader */
	pthread_t th;
	bool th_started;
	_Atomic bool th_done;
	int fd, tsock, stream_fd;
	struct ring *ring;		/* --from: the ring; stream: the producer side */
	struct ring *cring;		/* stream: the consumer side (its own mapping) */
};

static int
input_rec(const struct wire_rec *rec, void *arg)
{
	struct input *I = arg;

	if (rec->type == REC_EOS)
		I->eos = true;
	return sinkd_record(I->D, I->idx, rec);
}

static void
input_lost(struct ringev *re, void *arg)
{
	struct input *I = arg;

	(void)re;
	if (I->eos || I->path == NULL || I->D->draining) {
		if (!I->eos && I->path == NULL)
			log_warnx("the record stream ended without its end-of-stream record "
			    "(a truncated input): open sessions end incomplete");
		if (!I->done) {
			I->done = true;
			if (!I->eos)
				sinkd_input_lost(I->D, I->idx);
			if (!I->eos)
				sinkd_input_done(I->D, I->idx, true);
		}
		return;
	}
	log_warnx("%s went away before its end of stream; its open sessions end here, "
	    "reconnecting", I->path);
	sinkd_input_lost(I->D, I->idx);
	redial_lost(&I->rd);
}

static int
input_open(struct input *I, char *err, size_t errlen)
{
	struct msg_hello h;
	struct ring *r;
	int sock;
	char name[32];

	snprintf(name, sizeof(name), "sinkd %s", I->D->fam->name);
	chan_hello_init(&h, ROLE_SINKD, 0, 0, I->D->wants | REC_WANT(REC_EOS), name);
	if ((sock = chan_open_ring(I->path, &h, &r, 5000, err, errlen)) < 0)
		return -1;
	if (I->re != NULL)
		ringev_free(I->re);
	I->re = NULL;
	I->fd = sock;
	I->ring = r;
	I->connects++;
	return 0;
}

static void
input_go(struct input *I)
{
	I->re = ringev_consumer_new(I->D->base, I->fd, I->ring, input_rec, input_lost, I, 1024);
	I->ring = NULL;
	I->fd = -1;
}

/* One attempt to get a reasmd back (redial.h); none while draining. */
static int
input_redial(void *arg, char *err, size_t errlen)
{
	struct input *I = arg;

	if (I->D->draining)
		return 1;
	if (input_open(I, err, errlen) < 0)
		return -1;
	input_go(I);
	return 0;
}

static struct input *
input_new(struct sinkd *D)
{
	struct input *I;

	if (D->nin == SINKD_MAX_INPUTS)
		return NULL;
	I = xcalloc(1, sizeof(*I));
	I->D = D;
	I->idx = D->nin;
	I->fd = -1;
	I->tsock = -1;
	D->in[D->nin++] = I;
	return I;
}

int
input_connect(struct sinkd *D, const char *path, char *err, size_t errlen)
{
	struct input *I = input_new(D);

	if (I == NULL) {
		snprintf(err, errlen, "at most %d inputs", SINKD_MAX_INPUTS);
		return -1;
	}
	I->path = path;
	return input_open(I, err, errlen);
}

/* ---- json under the launcher: a control client of ctld ---- */

static int sub_fd = -1;

int
input_subscribe_connect(struct sinkd *D, char *err, size_t errlen)
{
	sub_fd = chan_connect(D->subscribe, err, errlen);
	return sub_fd < 0 ? -1 : 0;
}

static void
sub_read(struct bufferevent *bev, void *arg)
{
	struct sinkd *D = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	char *line;
	size_t n;

	while ((line = evbuffer_readln(in, &n, EVBUFFER_EOL_LF)) != NULL) {
		if (D->sub_barrier && strstr(line, "\"reply_to\":\"drain_barrier\"") != NULL) {
			/* every event the daemons sent is in: the drain may end */
			free(line);
			D->sub_barrier = false;
			if (D->draining && D->nsessions == 0 && !D->fam->drain_waits)
				sinkd_drained(D);
			return;
		}
		/* Until ctld answers the subscribe, it sends its default
		 * categories, unnumbered: the subscription starts at the
		 * answer (a resumed one then gets what it missed, numbered) */
		if (D->sub_waiting) {
			if (strstr(line, "\"reply_to\":\"subscribe\"") != NULL)
				D->sub_waiting = false;
			free(line);
			continue;
		}
		/* ctld's answers to this sink itself are not events to keep */
		if (strstr(line, "\"reply_to\":\"subscribe\"") == NULL &&
		    strstr(line, "\"event\":\"control_connected\"") == NULL && D->fam->event)
			D->fam->event(D, 0, line, n);
		free(line);
	}
}

static void sub_start(struct sinkd *D);

/* --resubscribe: ctld died (the launcher restarts it); until it is back,
 * every 250 ms.  A new ctld numbers its events anew: nothing to resume. */
static void
sub_retry(evutil_socket_t fd, short what, void *arg)
{
	struct sinkd *D = arg;
	struct timeval quarter = { 0, 250000 };
	char err[256];

	(void)fd;
	(void)what;
	if (D->draining)
		return;
	if ((sub_fd = chan_connect(D->subscribe, err, sizeof(err))) < 0) {
		event_add(D->ev_sub_retry, &quarter);
		return;
	}
	/* a new ctld: everything it has seen, from its start (since 0) */
	log_info("subscribed to ctld again (%s)", D->subscribe);
	D->resume_have = true;
	D->resume_since = 0;
	sub_start(D);
}

static void
sub_ev(struct bufferevent *bev, short what, void *arg)
{
	struct sinkd *D = arg;

	(void)bev;
	(void)what;
	if (D->resubscribe && !D->draining) {
		struct timeval quarter = { 0, 250000 };
		log_warnx("ctld closed the subscription (%s): subscribing again when it is back "
		    "(what it had not sent died with it)", D->subscribe);
		bufferevent_free(D->sub);
		D->sub = NULL;
		if (D->ev_sub_retry == NULL)
			D->ev_sub_retry = evtimer_new(D->base, sub_retry, D);
		event_add(D->ev_sub_retry, &quarter);
		return;
	}
	log_warnx("ctld closed the subscription (%s): no more events", D->subscribe);
	bufferevent_disable(D->sub, EV_READ | EV_WRITE);
	if (D->sub_barrier) {
		D->sub_barrier = false;
		if (D->draining && D->nsessions == 0 && !D->fam->drain_waits)
			sinkd_drained(D);
	}
	sinkd_start_drain(D);
}

bool
input_subscribe_drain(struct sinkd *D)
{
	static const char cmd[] = "{\"cmd\":\"drain_barrier\"}\n";

	if (D->sub == NULL || !(bufferevent_get_enabled(D->sub) & EV_READ))
		return false;
	bufferevent_write(D->sub, cmd, sizeof(cmd) - 1);
	D->sub_barrier = true;
	return true;
}

static void
sub_start(struct sinkd *D)
{
	char line[1024];
	size_t off = 0;
	const struct conf_strlist *l = &D->c->json_cats;

	D->sub_waiting = true;
	D->sub = bufferevent_socket_new(D->base, sub_fd, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(D->sub, sub_read, NULL, sub_ev, D);
	bufferevent_enable(D->sub, EV_READ | EV_WRITE);
	off += (size_t)snprintf(line + off, sizeof(line) - off, "{\"cmd\":\"subscribe\",\"cats\":[");
	for (size_t k = 0; k < l->n && off < sizeof(line) - 64; k++)
		off += (size_t)snprintf(line + off, sizeof(line) - off, "%s\"%s\"", k ? "," : "", l->v[k]);
	/* numbered, so a restarted sink can ask for what it missed (--resume) */
	off += (size_t)snprintf(line + off, sizeof(line) - off, "],\"seq\":true");
	if (D->resume_have)
		off += (size_t)snprintf(line + off, sizeof(line) - off, ",\"since\":%" PRIu64, D->resume_since);
	off += (size_t)snprintf(line + off, sizeof(line) - off, "}\n");
	bufferevent_write(D->sub, line, off);
	sub_fd = -1;
}

/* ---- the stream reader ---- */

static void *
reader_main(void *arg)
{
	struct input *I = arg;
	char err[256];
	struct recr *r = recr_open(I->stream_fd, 0, err, sizeof(err));
	const struct wire_rec *rec;
	bool eos = false;
	int n = 1;

	if (r == NULL)
		log_errorx("input: %s", err);
	while (r != NULL && !eos && (n = recr_next(r, &rec, err, sizeof(err))) > 0) {
		size_t body = rec->len - sizeof(*rec);
		if (rec->type == REC_EOS)
			eos = true;
		for (;;) {
			if (ring_push(I->ring, rec->type, rec + 1, body, NULL, 0, false) == 0)
				break;
			if (ring_publish(I->ring))
				ring_ring(I->tsock, MSG_WAKE_CONSUMER);
			if (ring_producer_sleep(I->ring, rec->len) && ring_wait(I->tsock, -1) < 0)
				goto out;
		}
		if (ring_publish(I->ring) && ring_ring(I->tsock, MSG_WAKE_CONSUMER) < 0)
			goto out;
	}
	if (n < 0)
		log_errorx("input: %s", err);
out:
	recr_close(r);
	ring_close_producer(I->ring);
	ring_publish(I->ring);
	/* Closing our end tells the loop: it reads what is left, then sees
	 * the end (with or without the end-of-stream record). */
	shutdown(I->tsock, SHUT_RDWR);
	I->th_done = true;
	return NULL;
}

int
input_stdin(struct sinkd *D, int fd, char *err, size_t errlen)
{
	struct input *I = input_new(D);
	int sv[2];

	if (I == NULL) {
		snprintf(err, errlen, "at most %d inputs", SINKD_MAX_INPUTS);
		return -1;
	}
	/* The reader thread and the loop are producer and consumer: each has
	 * its own view of the ring (their local positions differ). */
	I->ring = ring_create((size_t)8 << 20, err, errlen);
	if (I->ring == NULL)
		return -1;
	I->cring = ring_attach(ring_fd(I->ring), err, errlen);
	if (I->cring == NULL)
		return -1;
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) {
		snprintf(err, errlen, "socketpair: %s", strerror(errno));
		return -1;
	}
	I->fd = sv[0];
	I->tsock = sv[1];
	I->stream_fd = fd;
	I->path = NULL;
	return 0;
}

void
input_start(struct sinkd *D)
{
	if (sub_fd >= 0)
		sub_start(D);
	for (unsigned k = 0; k < D->nin; k++) {
		struct input *I = D->in[k];
		redial_init(&I->rd, D->base, I->path ? I->path : "-", input_redial, I);
		I->rd_init = true;
		if (I->path != NULL) {
			input_go(I);
			continue;
		}
		/* The stream: the loop consumes the in-process ring (cring,
		 * owned by the ringev), the thread fills it (ring). */
		I->re = ringev_consumer_new(D->base, I->fd, I->cring, input_rec, input_lost, I, 1024);
		I->cring = NULL;
		I->fd = -1;
		if (pthread_create(&I->th, NULL, reader_main, I) != 0)
			fatal("pthread_create");
		I->th_started = true;
	}
}

void
inputs_free(struct sinkd *D)
{
	for (unsigned k = 0; k < D->nin; k++) {
		struct input *I = D->in[k];
		if (I->th_started) {
			/* A reader that finished is joined; one still blocked in
			 * read() (a stop before the end of its input) is left to
			 * the exit, with the ring it uses. */
			shutdown(I->tsock, SHUT_RDWR);
			for (int w = 0; w < 200 && !I->th_done; w++)
				usleep(1000);	/* it is finishing: ring_wait saw the shutdown */
			if (!I->th_done) {
				pthread_detach(I->th);
				continue;
			}
			pthread_join(I->th, NULL);
			close(I->tsock);
		}
		if (I->cring)
			ring_free(I->cring);
		if (I->re)
			ringev_free(I->re);
		if (I->ring)
			ring_free(I->ring);	/* the stream's producer side, or an unused --from ring */
		if (I->fd >= 0)
			close(I->fd);
		if (!I->th_started && I->tsock >= 0)
			close(I->tsock);
		if (I->rd_init)
			redial_free(&I->rd);
		free(I);
	}
	D->nin = 0;
	if (D->sub) {
		bufferevent_free(D->sub);
		D->sub = NULL;
	}
	if (D->ev_sub_retry) {
		event_free(D->ev_sub_retry);
		D->ev_sub_retry = NULL;
	}
}
