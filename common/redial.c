/*
 * redial.c — reconnecting with back-off (redial.h).
 */
#include "redial.h"
#include "util.h"

static void
schedule(struct redial *r, unsigned ms)
{
	struct timeval tv = timeval_of_ms(ms);

	evtimer_add(r->ev, &tv);
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct redial *r = arg;
	char err[256];

	(void)fd;
	(void)what;
	int rc = r->fn(r->arg, err, sizeof(err));

	if (rc < 0) {
		unsigned ms = backoff_next(&r->bo);
		log_ratelimited(&r->rl, 1, 30000, LOG_WARNING, "%s (retrying in %u ms)", err, ms);
		schedule(r, ms);
		return;
	}
	backoff_reset(&r->bo);
	if (rc == 0)
		log_info("reconnected to %s", r->what);
}

void
redial_init(struct redial *r, struct event_base *base, const char *what, redial_fn fn, void *arg)
{
	r->ev = evtimer_new(base, on_timer, r);
	backoff_init(&r->bo, 100, 5000);
	r->fn = fn;
	r->arg = arg;
	r->what = what;
	r->rl = (struct log_rl){ 0 };
}

unsigned
redial_lost(struct redial *r)
{
	unsigned ms = backoff_next(&r->bo);

	schedule(r, ms);
	return ms;
}

void
redial_reset(struct redial *r)
{
	backoff_reset(&r->bo);
}

void
redial_free(struct redial *r)
{
	if (r->ev)
		event_free(r->ev);
	r->ev = NULL;
}
