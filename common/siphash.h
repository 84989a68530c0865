/*
 * siphash.h — SipHash (Aumasson and Bernstein, 2012), a keyed hash for the
 * tables that hold what the network sends: with a random key per process,
 * nobody outside can craft flows that all land in one bucket.
 *
 * siphash13 (1 compression round, 3 finalization rounds) is what the
 * tables use, as CPython and Rust's HashMap do: the key is secret and the
 * input short.  siphash24 is the reference variant, for the test vectors.
 */
#ifndef STH_SIPHASH_H
#define STH_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

struct sipkey {
	uint64_t k0, k1;
};

uint64_t siphash13(const struct sipkey *k, const void *p, size_t n);
uint64_t siphash24(const struct sipkey *k, const void *p, size_t n);

/* A random key from the system (getentropy); if there is none, one made
 * from the time and the process id, and a log line says so. */
void sipkey_random(struct sipkey *k);

#endif
