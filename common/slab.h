/*
 * slab.h — objects of one size carved from big chunks.
 *
 * For a table of many small objects looked up at random (reasmd's TCP
 * sessions: a million of them is half a gigabyte): once the slab holds
 * SLAB_BIG_AFTER bytes its chunks are 2 MiB, aligned, and asked to be huge
 * pages where the system has them (madvise MADV_HUGEPAGE; elsewhere plain
 * pages), so a lookup does not also miss the TLB.  Small slabs stay in
 * 64 KiB chunks of ordinary pages: a process with a few objects does not
 * hold a 2 MiB page for them.
 *
 * Freed objects go on a free list and are handed out again; the chunks
 * go back only at slab_release, so the memory a slab holds is that of
 * the most objects it had at once (the caller bounds that count).  Under
 * AddressSanitizer every object is its own calloc, so a use after free is
 * still found.  Not thread-safe: one slab per thread.
 */
#ifndef STH_SLAB_H
#define STH_SLAB_H

#include <stddef.h>

/* Under AddressSanitizer: every object its own calloc */
#if defined(__SANITIZE_ADDRESS__)
#define SLAB_PLAIN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SLAB_PLAIN 1
#endif
#endif

struct slab {
	size_t size;		/* an object's bytes, a multiple of 8 */
	size_t held;		/* chunk bytes held */
	void *chunks;		/* the chunks, a list through their first word */
	char *bump, *end;	/* the newest chunk's part not yet handed out */
	void *free;		/* freed objects, a list through their first word */
};

void slab_init(struct slab *S, size_t size);
/* A zeroed object (the process exits, as xcalloc does, when there is no
 * memory). */
void *slab_zalloc(struct slab *S);
void slab_free(struct slab *S, void *p);
/* Every chunk back; every object handed out is gone (under
 * AddressSanitizer, free them first: each is its own allocation). */
void slab_release(struct slab *S);

/* xcalloc for a big array looked up at random (a hash table's buckets):
 * from 2 MiB up, aligned and asked to be huge pages.  free() frees it. */
void *xcalloc_huge(size_t n, size_t size);

#endif
