/*
 * acceptor.h — a producer's listening socket, served without ever
 * blocking its event loop (DESIGN.md section 3).
 *
 * A connection that arrives is a pending peer: its hello is read as it
 * comes, without waiting, under a deadline.  A complete, valid hello goes
 * to the callback with the socket (blocking again, as the rest of chan.h
 * expects); a peer that sends something else is refused at once, one that
 * stays silent past the deadline is dropped, each with a log line and a
 * count.  At most `max_pending` peers wait at a time: beyond, the one that
 * has waited longest is dropped (a real peer says hello at once), so a
 * flood of connections costs a bounded few descriptors and never a packet.
 */
#ifndef STH_ACCEPTOR_H
#define STH_ACCEPTOR_H

#include <stdint.h>
#include <event2/event.h>

#include "wire.h"

struct acceptor;
/* A peer said a valid hello: fd is its socket (the callee owns it). */
typedef void (*acceptor_cb)(int fd, const struct msg_hello *h, void *arg);

/* Serves lfd (made non-blocking) on base: `who` names the peers in logs
 * ("a consumer", "a sink"). */
struct acceptor *acceptor_new(struct event_base *base, int lfd, const char *who,
    unsigned deadline_ms, unsigned max_pending, acceptor_cb cb, void *arg);
/* Peers dropped so far: bad hellos, silent past the deadline, over the limit. */
uint64_t acceptor_dropped(const struct acceptor *a);
/* Closes the pending peers, not lfd. */
void acceptor_free(struct acceptor *a);

#endif
