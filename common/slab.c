/*
 * slab.c — objects of one size carved from big chunks (slab.h).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "log.h"
#include "slab.h"
#include "util.h"

#define SLAB_SMALL ((size_t)64 << 10)
#define SLAB_BIG ((size_t)2 << 20)	/* a huge page on x86-64 and arm64 */
#define SLAB_BIG_AFTER ((size_t)8 << 20)
/* a chunk's first bytes link it to the next one */
#define SLAB_HEAD 64

void
slab_init(struct slab *S, size_t size)
{
	memset(S, 0, sizeof(*S));
	S->size = (size < sizeof(void *) ? sizeof(void *) : size + 7) & ~(size_t)7;
}

#ifdef SLAB_PLAIN
void *
slab_zalloc(struct slab *S)
{
	return xcalloc(1, S->size);
}

void
slab_free(struct slab *S, void *p)
{
	(void)S;
	free(p);
}
#else
static void
slab_grow(struct slab *S)
{
	size_t n = S->held >= SLAB_BIG_AFTER ? SLAB_BIG : SLAB_SMALL;
	void *c = NULL;

	if (posix_memalign(&c, n == SLAB_BIG ? SLAB_BIG : 4096, n) != 0 || c == NULL)
		fatalx("out of memory allocating a %zu-byte slab", n);
#ifdef MADV_HUGEPAGE
	/* advice only: where huge pages are off, ordinary pages serve */
	if (n == SLAB_BIG)
		(void)madvise(c, n, MADV_HUGEPAGE);
#endif
	*(void **)c = S->chunks;
	S->chunks = c;
	S->held += n;
	S->bump = (char *)c + SLAB_HEAD;
	S->end = (char *)c + n;
}

void *
slab_zalloc(struct slab *S)
{
	void *p;

	if (S->free != NULL) {
		p = S->free;
		S->free = *(void **)p;
	} else {
		if (S->bump == NULL || (size_t)(S->end - S->bump) < S->size)
			slab_grow(S);
		p = S->bump;
		S->bump += S->size;
	}
	return memset(p, 0, S->size);
}

void
slab_free(struct slab *S, void *p)
{
	if (p == NULL)
		return;
	*(void **)p = S->free;
	S->free = p;
}
#endif

void
slab_release(struct slab *S)
{
	while (S->chunks != NULL) {
		void *c = S->chunks;
		S->chunks = *(void **)c;
		free(c);
	}
	slab_init(S, S->size);
}

void *
xcalloc_huge(size_t n, size_t size)
{
	void *p = NULL;

	if (size != 0 && n > SIZE_MAX / size)
		fatalx("out of memory allocating %zu x %zu bytes", n, size);
	if (n * size < SLAB_BIG)
		return xcalloc(n, size);
	if (posix_memalign(&p, SLAB_BIG, n * size) != 0 || p == NULL)
		fatalx("out of memory allocating %zu x %zu bytes", n, size);
#ifdef MADV_HUGEPAGE
	(void)madvise(p, n * size & ~(SLAB_BIG - 1), MADV_HUGEPAGE);
#endif
	return memset(p, 0, n * size);
}
