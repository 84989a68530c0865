/*
 * recio.h — records on plain byte streams (pipes, files, stdin/stdout).
 *
 * A writer buffers records and writes them with the stream header first; a
 * reader checks the header (magic, byte order, version) and then every
 * record (wire_rec_check) before handing it out.  A pcap file fed by
 * mistake is recognised and named in the error.
 */
#ifndef STH_RECIO_H
#define STH_RECIO_H

#include <stddef.h>
#include <stdint.h>

#include "wire.h"

struct recw;
struct recr;

/* Creates a writer on fd (not closed by recw_close unless own_fd).
 * Nothing is written until the first record or recw_flush. */
struct recw *recw_open(int fd, int own_fd);

/*
 * Appends one record: the fixed body `fixed` (flen bytes) and the variable
 * part `var` (vlen bytes), padded.  Returns 0 or -1 (errno set, e.g. EPIPE
 * when the reader went away); after an error every later call fails.
 */
int recw_put(struct recw *w, unsigned type, const void *fixed, size_t flen,
    const void *var, size_t vlen);
int recw_flush(struct recw *w);
/* Flushes and frees.  Returns the flush result. */
int recw_close(struct recw *w);
/* The same, and *lost gets recw_lost() as it ends. */
int recw_close_keep(struct recw *w, uint64_t *lost);
/* Has a write failed (the reader gone, a full disk)?  Then nothing more is
 * written, and recw_lost() counts the record bytes that were not. */
int recw_failed(const struct recw *w);
uint64_t recw_lost(const struct recw *w);

/* Opens a reader on fd and checks the stream header.  Returns NULL and a
 * message in err on a bad header or an empty input. */
struct recr *recr_open(int fd, int own_fd, char *err, size_t errlen);

/*
 * Reads the next record.  Returns 1 with *rec pointing at the record
 * (valid until the next call), 0 at a clean end of input, -1 with a message
 * in err (truncated or malformed record).
 */
int recr_next(struct recr *r, const struct wire_rec **rec, char *err, size_t errlen);
void recr_close(struct recr *r);

/* Body of a record after its header. */
static inline const void *
rec_body(const struct wire_rec *r)
{
	return r + 1;
}

#endif
