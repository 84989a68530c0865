/*
 * redial.h — reconnecting with back-off, for every consumer that must get
 * its producer back after a restart (ctld's link, reasmd's capd input,
 * sinkd's reasmd inputs): one timer, one back-off (100 ms doubling to
 * 5 s), one rate-limited warning while it fails, one line when it is back.
 */
#ifndef STH_REDIAL_H
#define STH_REDIAL_H

#include <stddef.h>
#include <event2/event.h>

#include "chan.h"
#include "log.h"

/* One attempt: 0 when connected, -1 (with a reason in err) when not yet,
 * 1 to stop trying (the consumer is ending). */
typedef int (*redial_fn)(void *arg, char *err, size_t errlen);

struct redial {
	struct event *ev;
	struct backoff bo;
	redial_fn fn;
	void *arg;
	const char *what;		/* the producer, for the log: a path */
	struct log_rl rl;
};

void redial_init(struct redial *r, struct event_base *base, const char *what, redial_fn fn,
    void *arg);
/* The producer went away: the next attempt after the back-off delay.
 * Returns that delay in ms (for the caller's own line). */
unsigned redial_lost(struct redial *r);
/* Connected by other means (the first connection): the back-off starts over. */
void redial_reset(struct redial *r);
void redial_free(struct redial *r);

#endif
