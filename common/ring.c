/*
 * ring.c — lock-free SPSC record ring in shared memory.
 *
 * Layout of the mapping (page 0 is the control block, data follows):
 *
 *   offset 0    magic, version, size, data offset       (written once)
 *   offset 64   head, eof        - written by the producer only
 *   offset 128  cons_sleeping    - set by the consumer, cleared by the producer
 *   offset 192  tail             - written by the consumer only
 *   offset 256  prod_sleeping    - set by the producer, cleared by the consumer
 *   offset 4096 data[size]
 *
 * head and tail count bytes ever written / released; they are 64-bit and
 * never wrap in practice (2^64 bytes), and the index into data is
 * `count & (size - 1)` because size is a power of two.  head - tail is the
 * number of bytes in use, always in [0, size]; unsigned subtraction keeps
 * that right even if the counters did wrap.
 *
 * Memory ordering:
 * - The producer writes a record's bytes, then stores head with RELEASE;
 *   the consumer loads head with ACQUIRE before it reads the bytes.  The
 *   pair makes every byte below head visible to the consumer.
 * - The consumer reads a record, then stores tail with RELEASE; the
 *   producer loads tail with ACQUIRE before it overwrites that space.  The
 *   pair makes sure the consumer has finished reading what is overwritten.
 * - The sleep handshake is Dekker's: the consumer stores cons_sleeping = 1
 *   and then loads head; the producer stores head and then loads
 *   cons_sleeping.  With only acquire/release both loads could see the old
 *   values (store-load reordering is allowed even on x86), the consumer
 *   would sleep and the producer would not ring it: a lost wake-up.  A
 *   SEQ_CST fence between the store and the load on both sides forbids
 *   that: at least one side sees the other's store.  The producer clears
 *   the flag with an exchange, so one sleep gets one doorbell.  The same
 *   argument, mirrored, covers prod_sleeping and tail.
 *
 * Hostile peer: the consumer copies size at attach and checks every record
 * length against it; the producer checks that tail never passes head.
 * The memory is sealed (F_SEAL_SHRINK | F_SEAL_GROW) so that neither side
 * can truncate it under the other and make it fault.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ring.h"
#include "util.h"

#define RING_MAGIC	0x474e4952u	/* "RING" */
#define RING_VERSION	1
#define RING_HDR	4096u
#define RING_WRAP	0xFFFFu		/* record type: skip to the start */
#define CACHELINE	64

struct ring_ctl {
	uint32_t magic, version;
	uint64_t size, data_off;
	char pad0[CACHELINE - 24];
	_Alignas(CACHELINE) _Atomic uint64_t head;
	_Atomic uint32_t eof;
	_Alignas(CACHELINE) _Atomic uint32_t cons_sleeping;
	_Alignas(CACHELINE) _Atomic uint64_t tail;
	_Alignas(CACHELINE) _Atomic uint32_t prod_sleeping;
};
_Static_assert(sizeof(struct ring_ctl) <= RING_HDR, "ring control block");

struct ring {
	struct ring_ctl *ctl;
	unsigned char *data;
	size_t size, mask, maplen;
	int fd;			/* producer: the memfd; consumer: -1 */
	uint64_t head;		/* producer: local head (committed, maybe unpublished) */
	uint64_t tail;		/* consumer: local tail (consumed, maybe unreleased) */
	uint64_t cached;	/* producer: last tail seen; consumer: last head seen */
	uint32_t cur_len;	/* consumer: padded length of the peeked record */
	struct ring_stats st;
};

static int
ring_memfd(size_t len, char *err, size_t errlen)
{
	int fd = -1;

#if defined(__linux__) && defined(MFD_ALLOW_SEALING)
	fd = memfd_create("stethoscope-ring", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd >= 0) {
		if (ftruncate(fd, (off_t)len) < 0 ||
		    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
			snprintf(err, errlen, "memfd: %s", strerror(errno));
			close(fd);
			return -1;
		}
		return fd;
	}
#endif
	/* Fallback: a POSIX shared memory object, unlinked at once so that it
	 * lives only as long as the descriptors. */
	for (int tries = 0; tries < 16 && fd < 0; tries++) {
		char name[64];
		snprintf(name, sizeof(name), "/sth-ring-%ld-%u", (long)getpid(),
		    (unsigned)(now_mono_ns() ^ (uint64_t)tries * 2654435761u));
		fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
		if (fd >= 0)
			shm_unlink(name);
	}
	if (fd < 0 || ftruncate(fd, (off_t)len) < 0) {
		snprintf(err, errlen, "shm_open: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	fd_set_cloexec(fd);
	return fd;
}

struct ring *
ring_create(size_t size, char *err, size_t errlen)
{
	struct ring *r;
	void *m;
	int fd;

	if (size < 65536 || (size & (size - 1)) != 0 || size > ((size_t)1 << 40)) {
		snprintf(err, errlen, "ring size %zu: expected a power of two >= 65536", size);
		return NULL;
	}
	fd = ring_memfd(RING_HDR + size, err, errlen);
	if (fd < 0)
		return NULL;
	m = mmap(NULL, RING_HDR + size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED) {
		snprintf(err, errlen, "mmap %zu bytes: %s", RING_HDR + size, strerror(errno));
		close(fd);
		return NULL;
	}
	r = xcalloc(1, sizeof(*r));
	r->ctl = m;
	r->data = (unsigned char *)m + RING_HDR;
	r->size = size;
	r->mask = size - 1;
	r->maplen = RING_HDR + size;
	r->fd = fd;
	r->ctl->magic = RING_MAGIC;
	r->ctl->version = RING_VERSION;
	r->ctl->size = size;
	r->ctl->data_off = RING_HDR;
	atomic_store_explicit(&r->ctl->head, 0, memory_order_relaxed);
	atomic_store_explicit(&r->ctl->tail, 0, memory_order_relaxed);
	return r;
}

struct ring *
ring_attach(int fd, char *err, size_t errlen)
{
	struct stat sb;
	struct ring *r;
	struct ring_ctl *ctl;
	void *m;
	size_t size;

	if (fstat(fd, &sb) < 0 || sb.st_size < (off_t)(RING_HDR + 65536)) {
		snprintf(err, errlen, "ring descriptor: not a ring (size %lld)", (long long)sb.st_size);
		return NULL;
	}
#if defined(__linux__) && defined(F_GET_SEALS)
	{
		int seals = fcntl(fd, F_GET_SEALS);
		/* memfd: must be sealed.  EINVAL: a shm_open object, which has
		 * no seals on this system; accept it as the fallback. */
		if (seals >= 0 && (seals & (F_SEAL_SHRINK | F_SEAL_GROW)) !=
		    (F_SEAL_SHRINK | F_SEAL_GROW)) {
			snprintf(err, errlen, "ring memory is not sealed against shrinking and growing");
			return NULL;
		}
	}
#endif
	m = mmap(NULL, (size_t)sb.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED) {
		snprintf(err, errlen, "mmap ring: %s", strerror(errno));
		return NULL;
	}
	ctl = m;
	size = (size_t)ctl->size;
	if (ctl->magic != RING_MAGIC || ctl->version != RING_VERSION ||
	    ctl->data_off != RING_HDR || size < 65536 || (size & (size - 1)) != 0 ||
	    RING_HDR + size != (size_t)sb.st_size) {
		snprintf(err, errlen, "ring header is invalid (magic 0x%08x, version %u, size %zu)",
		    ctl->magic, ctl->version, size);
		munmap(m, (size_t)sb.st_size);
		return NULL;
	}
	r = xcalloc(1, sizeof(*r));
	r->ctl = ctl;
	r->data = (unsigned char *)m + RING_HDR;
	r->size = size;
	r->mask = size - 1;
	r->maplen = (size_t)sb.st_size;
	r->fd = -1;
	r->tail = atomic_load_explicit(&ctl->tail, memory_order_relaxed);
	return r;
}

int ring_fd(const struct ring *r) { return r->fd; }
size_t ring_size(const struct ring *r) { return r->size; }
size_t ring_max_record(const struct ring *r) { return r->size / 4; }
const struct ring_stats *ring_stats(const struct ring *r) { return &r->st; }

void
ring_free(struct ring *r)
{
	if (r == NULL)
		return;
	munmap(r->ctl, r->maplen);
	if (r->fd >= 0)
		close(r->fd);
	free(r);
}

/* Free bytes as the producer sees them; refreshes the cached tail only
 * when the cached value does not leave enough room. */
static size_t
ring_free_bytes(struct ring *r, size_t need)
{
	size_t used = (size_t)(r->head - r->cached);

	if (r->size - used >= need)
		return r->size - used;
	/* ACQUIRE pairs with the consumer's RELEASE store of tail: the
	 * consumer is done with every byte below it. */
	uint64_t t = atomic_load_explicit(&r->ctl->tail, memory_order_acquire);
	if (t - r->cached <= r->head - r->cached)	/* never past head */
		r->cached = t;
	used = (size_t)(r->head - r->cached);
	return r->size - used;
}

size_t
ring_space(struct ring *r)
{
	return ring_free_bytes(r, r->size);
}

void *
ring_reserve(struct ring *r, uint32_t len)
{
	size_t padded = wire_padded(len);
	size_t pos = (size_t)(r->head & r->mask);
	size_t contig = r->size - pos;

	if (len < sizeof(struct wire_rec) || padded > ring_max_record(r))
		return NULL;
	if (padded > contig) {
		/* Needs the rest of the buffer (a wrap marker) plus the record. */
		if (ring_free_bytes(r, contig + padded) < contig + padded)
			return NULL;
		struct wire_rec *w = (struct wire_rec *)(r->data + pos);
		w->type = RING_WRAP;
		w->flags = 0;
		w->len = (uint32_t)contig;
		r->head += contig;
		pos = 0;
	} else if (ring_free_bytes(r, padded) < padded)
		return NULL;
	return r->data + pos;
}

void
ring_commit(struct ring *r, unsigned type, uint32_t len)
{
	struct wire_rec *w = (struct wire_rec *)(r->data + (r->head & r->mask));

	w->type = (uint16_t)type;
	w->flags = 0;
	w->len = len;
	r->head += wire_padded(len);
	r->st.records++;
	r->st.bytes += len;
}

int
ring_push(struct ring *r, unsigned type, const void *fixed, size_t flen,
    const void *var, size_t vlen, bool count_drop)
{
	size_t len = sizeof(struct wire_rec) + flen + vlen;
	unsigned char *p;

	if (len > UINT32_MAX || (p = ring_reserve(r, (uint32_t)len)) == NULL) {
		if (count_drop) {
			r->st.drop_records++;
			r->st.drop_bytes += len;
		}
		return -1;
	}
	if (flen)
		memcpy(p + sizeof(struct wire_rec), fixed, flen);
	if (vlen)
		memcpy(p + sizeof(struct wire_rec) + flen, var, vlen);
	ring_commit(r, type, (uint32_t)len);
	return 0;
}

int
ring_publish(struct ring *r)
{
	/* RELEASE pairs with the consumer's ACQUIRE load of head. */
	atomic_store_explicit(&r->ctl->head, r->head, memory_order_release);
	/* Dekker: head store, then cons_sleeping load (see the top). */
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&r->ctl->cons_sleeping, memory_order_relaxed) &&
	    atomic_exchange_explicit(&r->ctl->cons_sleeping, 0, memory_order_relaxed)) {
		r->st.wakeups_sent++;
		return 1;
	}
	return 0;
}

int
ring_producer_sleep(struct ring *r, uint32_t len)
{
	size_t need = wire_padded(len);
	size_t contig = r->size - (size_t)(r->head & r->mask);

	if (need > contig)
		need += contig;
	r->st.full_waits++;
	atomic_store_explicit(&r->ctl->prod_sleeping, 1, memory_order_relaxed);
	/* Dekker: prod_sleeping store, then tail load. */
	atomic_thread_fence(memory_order_seq_cst);
	if (ring_free_bytes(r, need) >= need) {
		atomic_store_explicit(&r->ctl->prod_sleeping, 0, memory_order_relaxed);
		return 0;
	}
	return 1;
}

void
ring_close_producer(struct ring *r)
{
	atomic_store_explicit(&r->ctl->eof, 1, memory_order_release);
}

const struct wire_rec *
ring_peek(struct ring *r, bool *corrupt)
{
	*corrupt = false;
	for (;;) {
		if (r->cached == r->tail) {
			/* ACQUIRE pairs with the producer's RELEASE of head. */
			r->cached = atomic_load_explicit(&r->ctl->head, memory_order_acquire);
			if (r->cached == r->tail)
				return NULL;
			if (r->cached - r->tail > r->size) {
				*corrupt = true;
				return NULL;
			}
		}
		size_t pos = (size_t)(r->tail & r->mask);
		size_t avail = (size_t)(r->cached - r->tail);
		size_t contig = r->size - pos;
		const struct wire_rec *w = (const struct wire_rec *)(r->data + pos);
		/* Copy the header once: the producer must not be able to change
		 * the length between the check and the use. */
		uint16_t type = w->type;
		uint32_t len = w->len;

		if (avail < sizeof(*w)) {
			*corrupt = true;
			return NULL;
		}
		if (type == RING_WRAP) {
			if (len != contig || len > avail) {
				*corrupt = true;
				return NULL;
			}
			r->tail += contig;
			continue;
		}
		if (len < sizeof(*w) || wire_padded(len) > contig ||
		    wire_padded(len) > avail) {
			*corrupt = true;
			return NULL;
		}
		r->cur_len = wire_padded(len);
		return w;
	}
}

void
ring_consume(struct ring *r)
{
	const struct wire_rec *w = (const struct wire_rec *)(r->data + (r->tail & r->mask));

	r->st.records++;
	r->st.bytes += w->len;
	r->tail += r->cur_len;
	r->cur_len = 0;
}

int
ring_release(struct ring *r)
{
	/* RELEASE pairs with the producer's ACQUIRE load of tail. */
	atomic_store_explicit(&r->ctl->tail, r->tail, memory_order_release);
	/* Dekker: tail store, then prod_sleeping load. */
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&r->ctl->prod_sleeping, memory_order_relaxed) &&
	    atomic_exchange_explicit(&r->ctl->prod_sleeping, 0, memory_order_relaxed)) {
		r->st.wakeups_sent++;
		return 1;
	}
	return 0;
}

int
ring_consumer_sleep(struct ring *r)
{
	atomic_store_explicit(&r->ctl->cons_sleeping, 1, memory_order_relaxed);
	/* Dekker: cons_sleeping store, then head load. */
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&r->ctl->head, memory_order_acquire) != r->tail ||
	    atomic_load_explicit(&r->ctl->eof, memory_order_acquire)) {
		atomic_store_explicit(&r->ctl->cons_sleeping, 0, memory_order_relaxed);
		return 0;
	}
	return 1;
}

bool
ring_eof(struct ring *r)
{
	return atomic_load_explicit(&r->ctl->eof, memory_order_acquire) &&
	    atomic_load_explicit(&r->ctl->head, memory_order_acquire) == r->tail;
}

int
ring_ring(int sock, unsigned msg_type)
{
	struct wire_msg m = { (uint16_t)msg_type, 0 };
	ssize_t n;

	do
		n = send(sock, &m, sizeof(m), MSG_DONTWAIT | MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	/* A doorbell is 4 bytes; a stream socket never sends part of it
	 * unless its buffer has less than 4 bytes free, in which case a
	 * doorbell is already waiting there. */
	return n < 0 ? -1 : 0;
}

int
ring_wait(int sock, int timeout_ms)
{
	struct pollfd pfd = { sock, POLLIN, 0 };
	unsigned char buf[256];
	int n;

	do
		n = poll(&pfd, 1, timeout_ms);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return n;
	/* Drain every doorbell waiting (they are all alike). */
	ssize_t got = recv(sock, buf, sizeof(buf), MSG_DONTWAIT);
	if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR))
		return -1;
	return 1;
}
