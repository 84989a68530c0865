/*
 * pcapng.h — a small pcapng writer (draft-ietf-opsawg-pcapng): section
 * header, interface description and enhanced packet blocks, with the few
 * options stethoscope uses (comments, if_name, if_tsresol = 9 so that
 * timestamps are nanoseconds).  Blocks are built in a caller's buffer, in
 * host byte order (the byte-order magic tells readers which), so the
 * caller decides how and when they reach a file.
 */
#ifndef STH_PCAPNG_H
#define STH_PCAPNG_H

#include <stddef.h>
#include <stdint.h>

/* Bytes the block will take. */
size_t pcapng_shb_len(const char *comment);
size_t pcapng_idb_len(const char *name);
size_t pcapng_epb_len(uint32_t caplen, const char *comment);

/* Each writes one block at buf (cap bytes) and returns its length, or 0
 * when it does not fit.  comment / name may be NULL. */
size_t pcapng_shb(uint8_t *buf, size_t cap, const char *comment);
/* A section header of exactly `total` bytes (a multiple of 4, at most
 * 65536), the comment cut to fit: one written first can be overwritten in
 * place by another of the same size with a longer comment (a per-call
 * file's summary, known once the call ends). */
size_t pcapng_shb_sized(uint8_t *buf, size_t cap, const char *comment, size_t total);
size_t pcapng_idb(uint8_t *buf, size_t cap, uint16_t linktype, uint32_t snaplen,
    const char *name);
size_t pcapng_epb(uint8_t *buf, size_t cap, uint32_t ifidx, uint64_t ts_ns,
    const uint8_t *data, uint32_t caplen, uint32_t origlen, const char *comment);

#endif
