/*
 * chan.h — the Unix-socket channels between daemons (DESIGN.md section 3).
 *
 * A producer binds a listening socket in the run directory before it drops
 * privileges (mode 0770, group runtime.group), so that a consumer that
 * restarts can always reconnect.  A consumer connects and sends a hello
 * (magic, protocol version, role, shard, the record types it wants); the
 * producer answers hello-ok with the ring's descriptor (SCM_RIGHTS) or a
 * reject with a reason.  After that the socket carries doorbells only;
 * end of file on it is "peer lost".
 */
#ifndef STH_CHAN_H
#define STH_CHAN_H

#include <stddef.h>
#include <stdint.h>

#include "wire.h"

/* Binds and listens on path (a stale socket is replaced; a live one is an
 * error).  group may be NULL.  Returns the fd or -1 with err. */
int chan_listen(const char *path, const char *group, char *err, size_t errlen);

/* Connects to path.  Returns the fd or -1 with err (errno kept). */
int chan_connect(const char *path, char *err, size_t errlen);

/* Sends one message, optionally passing a descriptor.  Blocking.
 * Returns 0 or -1. */
int chan_send(int fd, unsigned type, const void *body, size_t len, int pass_fd);

/*
 * Receives one message within timeout_ms (-1: no limit): its type, up to
 * cap body bytes, and a passed descriptor (or -1).  A body larger than
 * cap or WIRE_MSG_MAX is a protocol error.  Returns the body length, or
 * -1 with err ("peer closed", "timeout", ...).
 */
int chan_recv(int fd, unsigned *type, void *body, size_t cap, int *fd_out,
    int timeout_ms, char *err, size_t errlen);

/* Fills a hello for role/shard/wants with the given name. */
void chan_hello_init(struct msg_hello *h, unsigned role, unsigned shard,
    unsigned nshards, uint32_t wants, const char *name);

/* Producer: checks a received hello body.  Returns 0 or -1 with err. */
int chan_hello_check(const void *body, int len, struct msg_hello *out,
    char *err, size_t errlen);

/*
 * Consumer: connects, sends the hello and waits for hello-ok and the ring
 * descriptor.  Returns the socket (and *ring_fd) or -1 with err; a reject
 * puts the producer's reason in err.
 */
int chan_handshake(const char *path, const struct msg_hello *h,
    struct msg_hello_ok *ok, int *ring_fd, int timeout_ms,
    char *err, size_t errlen);

struct ring;

/* Consumer: chan_handshake, then maps the ring it was given.  Returns the
 * socket (and *ring) or -1 with err. */
int chan_open_ring(const char *path, const struct msg_hello *h, struct ring **ring,
    int timeout_ms, char *err, size_t errlen);

/* Producer: accepting consumers, their hellos, refusing them or giving
 * them a ring is common/acceptor.h's job. */

/* Exponential back-off for reconnects: 100 ms doubling to max_ms. */
struct backoff {
	unsigned cur_ms, min_ms, max_ms;
};
void backoff_init(struct backoff *b, unsigned min_ms, unsigned max_ms);
unsigned backoff_next(struct backoff *b);	/* the delay to wait now */
void backoff_reset(struct backoff *b);

#endif
