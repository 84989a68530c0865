/*
 * ringev.h — a ring and its socket inside a libevent loop.
 *
 * Consumer: records are handed to a callback in batches; an empty ring
 * puts the consumer to sleep on its socket (the doorbell handshake of
 * ring.h); space released wakes a producer that sleeps.  Producer: pushes
 * records, publishes on flush (and when a batch is large), rings the
 * consumer; in block mode a full ring makes push fail until the consumer
 * frees space, when the space callback runs.  Either side: end of file on
 * the socket runs the lost callback once ("peer lost"), after which the
 * object is to be freed.
 */
#ifndef STH_RINGEV_H
#define STH_RINGEV_H

#include <stdbool.h>
#include <event2/event.h>

#include "ring.h"

struct ringev;

/* Returns 0 to go on, -1 to stop (the peer is then reported lost). */
typedef int (*ringev_record_cb)(const struct wire_rec *rec, void *arg);
typedef void (*ringev_cb)(struct ringev *re, void *arg);

/* Takes ownership of sock and ring.  batch: records per callback run
 * before yielding to the loop (0: 1024). */
struct ringev *ringev_consumer_new(struct event_base *base, int sock,
    struct ring *ring, ringev_record_cb on_record, ringev_cb on_lost,
    void *arg, unsigned batch);

struct ringev *ringev_producer_new(struct event_base *base, int sock,
    struct ring *ring, bool block, ringev_cb on_space, ringev_cb on_lost,
    void *arg);

/* Producer: pushes a record.  Returns 0, or -1 when the ring is full: in
 * drop mode the record is counted as dropped; in block mode nothing is
 * counted and on_space runs once there is room for it. */
int ringev_push(struct ringev *re, unsigned type, const void *fixed,
    size_t flen, const void *var, size_t vlen);
/* Consumer: on_idle runs each time the ring is found empty, before the
 * consumer sleeps (a place to flush what the records produced). */
void ringev_set_idle(struct ringev *re, ringev_cb on_idle);

/*
 * Producer, block mode, for callers that cannot yield to the loop in the
 * middle of their work: pushes a record, waiting on the socket for the
 * consumer to make room.  Logs every warn_ms while it waits.  Returns 0,
 * or -1 when the consumer is gone (then reported lost) or the record is
 * larger than the ring takes.
 */
int ringev_push_wait(struct ringev *re, unsigned type, const void *fixed,
    size_t flen, const void *var, size_t vlen, unsigned warn_ms, const char *who);

/* Producer: publishes what was pushed and rings a sleeping consumer. */
void ringev_flush(struct ringev *re);
/* Producer: marks the end of the stream and flushes. */
void ringev_close_producer(struct ringev *re);

struct ring *ringev_ring(struct ringev *re);
bool ringev_lost(const struct ringev *re);
void ringev_free(struct ringev *re);

#endif
