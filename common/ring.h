/*
 * ring.h — the shared-memory single-producer single-consumer record ring
 * of DESIGN.md section 3.
 *
 * The producer creates the ring (a sealed memfd, or shm_open + unlink
 * where memfd is missing) and passes its descriptor to the consumer over a
 * Unix socket (chan.h); records are struct wire_rec headers plus bodies,
 * padded to 8 bytes, laid out contiguously with a wrap marker where a
 * record would not fit before the end of the buffer.
 *
 * Doorbells both ways: a consumer that finds the ring empty announces that
 * it sleeps (ring_consumer_sleep) and the producer, after publishing, learns
 * that it must ring it (ring_publish returns 1); in block mode a producer
 * that finds the ring full announces it (ring_producer_sleep) and the
 * consumer, after releasing space, learns it must ring the producer
 * (ring_release returns 1).  The doorbell itself is a message on the
 * socket (MSG_WAKE_CONSUMER / MSG_WAKE_PRODUCER); ring_wait_*() wait for
 * one with poll(), and ringev.h does the same inside a libevent loop.
 */
#ifndef STH_RING_H
#define STH_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h"

struct ring;

struct ring_stats {
	uint64_t records, bytes;		/* pushed (producer) or consumed (consumer) */
	uint64_t drop_records, drop_bytes;	/* drop mode: rejected when full */
	uint64_t full_waits;			/* block mode: times the producer slept */
	uint64_t wakeups_sent;			/* doorbells rung by this side */
};

/* Creates a ring of `size` data bytes (a power of two, >= 64 KiB).
 * Returns NULL with a message in err. */
struct ring *ring_create(size_t size, char *err, size_t errlen);

/* Maps the ring behind fd (consumer side).  Checks the header and, where
 * the system has seals, that the memory is sealed against shrinking and
 * growing.  fd is not kept (closed by the caller).  NULL + err on failure. */
struct ring *ring_attach(int fd, char *err, size_t errlen);

/* The descriptor to pass to the consumer (producer side; owned by ring). */
int ring_fd(const struct ring *r);
size_t ring_size(const struct ring *r);
void ring_free(struct ring *r);

/* Largest record (header included) the ring accepts: a quarter of it. */
size_t ring_max_record(const struct ring *r);

/* ---- producer ---- */

/*
 * Reserves room for a record of `len` bytes (header included) and returns
 * where to write it, or NULL when there is no room now (or len is larger
 * than ring_max_record).  ring_commit() then writes the header and
 * advances; nothing is visible to the consumer before ring_publish().
 */
void *ring_reserve(struct ring *r, uint32_t len);
void ring_commit(struct ring *r, unsigned type, uint32_t len);

/* Copies a record in: reserve + copy + commit.  Returns 0, or -1 when full
 * (counted as a drop if count_drop). */
int ring_push(struct ring *r, unsigned type, const void *fixed, size_t flen,
    const void *var, size_t vlen, bool count_drop);

/* Free bytes the producer could use now (reads the consumer's tail). */
size_t ring_space(struct ring *r);

/* Makes committed records visible.  Returns 1 if the consumer sleeps and
 * must be sent a doorbell, else 0. */
int ring_publish(struct ring *r);

/* Producer found the ring full (block mode): announces that it sleeps.
 * Returns 1 if it must now wait for MSG_WAKE_PRODUCER, 0 if `len` bytes
 * became free meanwhile (retry at once). */
int ring_producer_sleep(struct ring *r, uint32_t len);

/* ---- consumer ---- */

/*
 * The next record, or NULL when the ring is empty.  *corrupt is set when
 * the shared memory holds something impossible (a bad length): the peer
 * is then to be dropped.  The record stays valid until ring_consume().
 */
const struct wire_rec *ring_peek(struct ring *r, bool *corrupt);
void ring_consume(struct ring *r);

/* Makes consumed space available to the producer.  Returns 1 if the
 * producer sleeps and must be sent a doorbell. */
int ring_release(struct ring *r);

/* Consumer found the ring empty: announces that it sleeps.  Returns 1 if it
 * must now wait for MSG_WAKE_CONSUMER, 0 if records arrived meanwhile. */
int ring_consumer_sleep(struct ring *r);

/* Has the producer marked the end of its stream (ring_close_producer)? */
bool ring_eof(struct ring *r);
/* Producer: no more records will come (the consumer sees ring_eof once it
 * has read everything).  Publish after it. */
void ring_close_producer(struct ring *r);

const struct ring_stats *ring_stats(const struct ring *r);

/* ---- doorbells over a socket, with poll() ---- */

/* Sends a doorbell message of type MSG_WAKE_* on sock (non-blocking: a
 * full socket buffer already holds a doorbell, so EAGAIN is success).
 * Returns 0 or -1 when the peer is gone. */
int ring_ring(int sock, unsigned msg_type);

/* Waits up to timeout_ms (-1 forever) for a message on sock and discards
 * doorbells.  Returns 1 if woken, 0 on timeout, -1 if the peer is gone. */
int ring_wait(int sock, int timeout_ms);

#endif
