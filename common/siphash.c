/*
 * siphash.c — SipHash-c-d over a byte string (siphash.h).
 */
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifdef __APPLE__
#include <sys/random.h>		/* getentropy */
#endif

#include "log.h"
#include "siphash.h"
#include "util.h"

#define SIPROUND SIPH_ROUND(v0, v1, v2, v3)

/* Little-endian 64-bit load, whatever the host. */
static inline uint64_t
le64(const uint8_t *p)
{
	return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 |
	    (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 | (uint64_t)p[7] << 56;
}

/* Inlined into each caller, so that the rounds (c, d) are constants and
 * the loops over them unrolled: siphash13 hashes every segment's flow. */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((always_inline))
#endif
static inline uint64_t
siphash(const struct sipkey *k, const void *data, size_t n, int c, int d)
{
	const uint8_t *p = data, *end = p + (n & ~(size_t)7);
	uint64_t v0 = 0x736f6d6570736575ULL ^ k->k0, v1 = 0x646f72616e646f6dULL ^ k->k1;
	uint64_t v2 = 0x6c7967656e657261ULL ^ k->k0, v3 = 0x7465646279746573ULL ^ k->k1;
	uint64_t b = (uint64_t)n << 56, m;

	for (; p < end; p += 8) {
		m = le64(p);
		v3 ^= m;
		for (int i = 0; i < c; i++)
			SIPROUND;
		v0 ^= m;
	}
	for (size_t i = 0; i < (n & 7); i++)
		b |= (uint64_t)p[i] << (8 * i);
	v3 ^= b;
	for (int i = 0; i < c; i++)
		SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	for (int i = 0; i < d; i++)
		SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

uint64_t
siphash13(const struct sipkey *k, const void *p, size_t n)
{
	return siphash(k, p, n, 1, 3);
}

uint64_t
siphash24(const struct sipkey *k, const void *p, size_t n)
{
	return siphash(k, p, n, 2, 4);
}

void
sipkey_random(struct sipkey *k)
{
	uint8_t b[16];

	if (getentropy(b, sizeof(b)) == 0) {
		k->k0 = le64(b);
		k->k1 = le64(b + 8);
		return;
	}
	log_warnx("no random bytes from the system (getentropy): the hash tables use a key "
	    "made from the time and the process id, which an attacker may guess");
	k->k0 = now_mono_ns() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)time(NULL);
	k->k1 = now_wall_ns() * 0x9e3779b97f4a7c15ULL;
}
