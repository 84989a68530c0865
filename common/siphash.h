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

/* siphash13 of a 16-byte message given as two words, m0 its first eight
 * bytes read little-endian and m1 the next eight: inline, no loop, no
 * tail (every segment's flow is hashed; an IPv4 flow's key fits). */
#define SIPH_ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPH_ROUND(v0, v1, v2, v3) do { \
	v0 += v1; v1 = SIPH_ROTL(v1, 13); v1 ^= v0; v0 = SIPH_ROTL(v0, 32); \
	v2 += v3; v3 = SIPH_ROTL(v3, 16); v3 ^= v2; \
	v0 += v3; v3 = SIPH_ROTL(v3, 21); v3 ^= v0; \
	v2 += v1; v1 = SIPH_ROTL(v1, 17); v1 ^= v2; v2 = SIPH_ROTL(v2, 32); \
} while (0)
static inline uint64_t
siphash13_16(const struct sipkey *k, uint64_t m0, uint64_t m1)
{
	uint64_t v0 = 0x736f6d6570736575ULL ^ k->k0, v1 = 0x646f72616e646f6dULL ^ k->k1;
	uint64_t v2 = 0x6c7967656e657261ULL ^ k->k0, v3 = 0x7465646279746573ULL ^ k->k1;
	const uint64_t b = (uint64_t)16 << 56;

	v3 ^= m0;
	SIPH_ROUND(v0, v1, v2, v3);
	v0 ^= m0;
	v3 ^= m1;
	SIPH_ROUND(v0, v1, v2, v3);
	v0 ^= m1;
	v3 ^= b;
	SIPH_ROUND(v0, v1, v2, v3);
	v0 ^= b;
	v2 ^= 0xff;
	SIPH_ROUND(v0, v1, v2, v3);
	SIPH_ROUND(v0, v1, v2, v3);
	SIPH_ROUND(v0, v1, v2, v3);
	return v0 ^ v1 ^ v2 ^ v3;
}
uint64_t siphash24(const struct sipkey *k, const void *p, size_t n);

/* A random key from the system (getentropy); if there is none, one made
 * from the time and the process id, and a log line says so. */
void sipkey_random(struct sipkey *k);

#endif
