/* test_slab.c — common/slab.c: objects zeroed, apart and aligned; freed
 * ones handed out again before the slab grows; big chunks on 2 MiB
 * boundaries once the slab is big; xcalloc_huge zeroed and aligned. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "slab.h"
#include "t.h"

#define N 100000
#define SZ 100	/* not a multiple of 8: rounded up */

static void
slab_objects(void)
{
	static unsigned char *p[N];
	struct slab S;
	size_t held;
	int bad = 0;

	slab_init(&S, SZ);
	T_EQ_U(S.size, 104);
	for (int i = 0; i < N; i++) {
		p[i] = slab_zalloc(&S);
		for (int k = 0; k < SZ; k++)
			bad += p[i][k] != 0;
		T_CHECK(((uintptr_t)p[i] & 7) == 0);
		memset(p[i], i & 0xff, SZ);
	}
	T_EQ_U(bad, 0);
	/* every object kept its own bytes: none overlaps another */
	for (int i = 0; i < N; i++)
		for (int k = 0; k < SZ; k++)
			bad += p[i][k] != (i & 0xff);
	T_EQ_U(bad, 0);
	held = S.held;
#ifndef SLAB_PLAIN
	T_CHECK(held >= (size_t)N * 104);
	T_CHECK(held <= (size_t)N * 104 + ((size_t)4 << 20));
	/* past 8 MiB the chunks are 2 MiB on 2 MiB boundaries */
	T_CHECK(((uintptr_t)S.chunks & (((uintptr_t)2 << 20) - 1)) == 0);
#endif
	/* freed objects come back zeroed, and the slab does not grow */
	for (int i = 0; i < N; i += 2)
		slab_free(&S, p[i]);
	for (int i = 0; i < N; i += 2) {
		p[i] = slab_zalloc(&S);
		for (int k = 0; k < SZ; k++)
			bad += p[i][k] != 0;
	}
	T_EQ_U(bad, 0);
	T_EQ_U(S.held, held);
	for (int i = 1; i < N; i += 2)
		for (int k = 0; k < SZ; k++)
			bad += p[i][k] != (i & 0xff);
	T_EQ_U(bad, 0);
	slab_free(&S, NULL);
#ifdef SLAB_PLAIN
	for (int i = 0; i < N; i++)
		slab_free(&S, p[i]);
#endif
	slab_release(&S);
	T_EQ_U(S.held, 0);
	T_CHECK(S.chunks == NULL && S.free == NULL);
	/* a small slab holds one small chunk */
	p[0] = slab_zalloc(&S);
#ifndef SLAB_PLAIN
	T_EQ_U(S.held, 64 << 10);
#else
	slab_free(&S, p[0]);
#endif
	slab_release(&S);
}

static void
huge_array(void)
{
	size_t n = (3 << 20) / sizeof(void *);
	void **a = xcalloc_huge(n, sizeof(void *));
	size_t nz = 0;
	int *small = xcalloc_huge(10, sizeof(int));

	for (size_t i = 0; i < n; i++)
		nz += a[i] != NULL;
	T_EQ_U(nz, 0);
	T_CHECK(((uintptr_t)a & (((uintptr_t)2 << 20) - 1)) == 0);
	a[n - 1] = a;
	free(a);
	T_EQ_U(small[9], 0);
	free(small);
}

int
main(void)
{
	T_RUN(slab_objects);
	T_RUN(huge_array);
	return T_DONE();
}
