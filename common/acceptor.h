/*
 * acceptor.h — a producer's listening socket, served without ever
 * blocking its event loop (DESIGN.md section 3).
 *
 * The producer's half of the peer layer (the consumer's is redial.h):
 * accept, hello, the producer's role check, the ring, one "peer lost"
 * callback.  A connection that arrives is a pending peer: its hello is read
 * as it comes, without waiting, under a deadline.  A complete, valid hello
 * goes to the callback with the socket (blocking again, as the rest of
 * chan.h expects), which answers acceptor_refuse() or acceptor_attach().
 * A peer that sends something else is refused at once, one that stays
 * silent past the deadline is dropped, each with a log line and a count.  At most `max_pending` peers wait at a time: beyond, the one that
 * has waited longest is dropped (a real peer says hello at once), so a
 * flood of connections costs a bounded few descriptors and never a packet.
 */
#ifndef STH_ACCEPTOR_H
#define STH_ACCEPTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <event2/event.h>

#include "ringev.h"
#include "wire.h"

struct acceptor;
/* A peer said a valid hello: fd is its socket (the callee owns it). */
typedef void (*acceptor_cb)(int fd, const struct msg_hello *h, void *arg);

/* Serves lfd (made non-blocking) on base: `who` names the peers in logs
 * ("a consumer", "a sink"). */
struct acceptor *acceptor_new(struct event_base *base, int lfd, const char *who,
    unsigned deadline_ms, unsigned max_pending, acceptor_cb cb, void *arg);
/* The callback's two answers (the role and shard checks are the
 * producer's).  Refuse: logged (rate-limited), told why, closed, counted
 * with the dropped peers. */
void acceptor_refuse(struct acceptor *a, int fd, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Admit: a ring of ring_bytes is made and sent with hello-ok, and the peer
 * is served in the acceptor's loop as ringev_producer_new() says, on_lost
 * running once when it goes.  NULL when no ring could be made or sent (the
 * peer is refused or lost, and counted). */
struct ringev *acceptor_attach(struct acceptor *a, int fd, const struct msg_hello *h,
    size_t ring_bytes, unsigned shard, bool block, ringev_cb on_space, ringev_cb on_lost,
    void *arg);

/* Peers dropped so far: bad hellos, silent past the deadline, over the
 * limit, refused by the callback. */
uint64_t acceptor_dropped(const struct acceptor *a);
/* Closes the pending peers, not lfd. */
void acceptor_free(struct acceptor *a);

#endif
