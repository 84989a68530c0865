/*
 * ringstress.c — moves records through a ring between two processes (or
 * two threads) and checks them; also the ring benchmark.
 *
 *   ringstress block N [RING_BYTES]     lossless: every record arrives intact
 *   ringstress drop N [RING_BYTES]      drops counted exactly: received +
 *                                       dropped == N, missing seqs == dropped
 *   ringstress threads N [RING_BYTES]   block mode, two threads (for TSan)
 *   ringstress bench SIZE SECONDS       records/s and GB/s, fixed-size records
 *   ringstress memcpy                   memcpy bandwidth over 256 MiB
 *
 * Records carry a sequence number, a length drawn from the sequence number
 * (0..1500 bytes of payload) and a checksum of payload bytes that are also
 * a function of the sequence number, so the consumer can check every byte.
 * The ring's descriptor travels to the child over a socketpair with
 * SCM_RIGHTS, as between the daemons.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "chan.h"
#include "ring.h"
#include "util.h"

struct body {
	uint64_t seq;
	uint64_t sum;
};

static size_t
payload_len(uint64_t seq, size_t fixed)
{
	return fixed != (size_t)-1 ? fixed : (size_t)(fmix64(seq) % 1501);
}

static void
fill(uint8_t *p, size_t n, uint64_t seq)
{
	uint64_t x = fmix64(seq + 1);

	for (size_t k = 0; k < n; k++) {
		if ((k & 7) == 0)
			x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		p[k] = (uint8_t)(x >> ((k & 7) * 8));
	}
}

static uint64_t
checksum(const uint8_t *p, size_t n)
{
	uint64_t h = 1469598103934665603ULL;

	for (size_t k = 0; k < n; k++)
		h = (h ^ p[k]) * 1099511628211ULL;
	return h;
}

struct run {
	int sock;
	struct ring *ring;
	uint64_t n;		/* records to send (0: until deadline) */
	bool drop, verify;
	size_t fixed;		/* fixed payload size or (size_t)-1 */
	uint64_t deadline_ns;
	/* results */
	uint64_t sent, dropped, received, corrupt, missing, out_of_order, bytes;
};

static void
producer(struct run *R)
{
	uint8_t buf[2048];
	struct body b;
	uint64_t seq = 0, since = 0;

	while (R->n ? seq < R->n : now_mono_ns() < R->deadline_ns) {
		size_t n = payload_len(seq, R->fixed);
		if (R->verify) {
			fill(buf, n, seq);
			b.sum = checksum(buf, n);
		} else
			b.sum = 0;
		b.seq = seq;
		if (ring_push(R->ring, REC_TICK, &b, sizeof(b), buf, n, R->drop) < 0) {
			if (R->drop) {
				R->dropped++;
				seq++;
				continue;
			}
			if (ring_publish(R->ring))
				ring_ring(R->sock, MSG_WAKE_CONSUMER);
			since = 0;
			if (ring_producer_sleep(R->ring, (uint32_t)(sizeof(struct wire_rec) + sizeof(b) + n)))
				ring_wait(R->sock, 100);
			continue;
		}
		R->sent++;
		R->bytes += n + sizeof(b) + sizeof(struct wire_rec);
		seq++;
		if (++since >= 64) {
			since = 0;
			if (ring_publish(R->ring))
				ring_ring(R->sock, MSG_WAKE_CONSUMER);
		}
	}
	ring_close_producer(R->ring);
	/* Always ring at the end: the consumer may be waiting for the EOF. */
	ring_publish(R->ring);
	ring_ring(R->sock, MSG_WAKE_CONSUMER);
}

static void
consumer(struct run *R)
{
	uint64_t expect = 0, since = 0;
	uint8_t buf[2048];

	for (;;) {
		bool corrupt;
		const struct wire_rec *w = ring_peek(R->ring, &corrupt);
		if (corrupt) {
			R->corrupt++;
			return;
		}
		if (w == NULL) {
			if (ring_release(R->ring))
				ring_ring(R->sock, MSG_WAKE_PRODUCER);
			if (ring_eof(R->ring)) {
				/* Records dropped after the last one received. */
				if (R->n > expect)
					R->missing += R->n - expect;
				return;
			}
			if (ring_consumer_sleep(R->ring))
				ring_wait(R->sock, 100);
			continue;
		}
		struct body b;
		size_t n = w->len - sizeof(*w) - sizeof(b);
		memcpy(&b, w + 1, sizeof(b));
		if (b.seq < expect)
			R->out_of_order++;
		else {
			R->missing += b.seq - expect;
			expect = b.seq + 1;
		}
		if (R->verify) {
			const uint8_t *p = (const uint8_t *)(w + 1) + sizeof(b);
			fill(buf, n, b.seq);
			if (n != payload_len(b.seq, R->fixed) || checksum(p, n) != b.sum ||
			    memcmp(p, buf, n) != 0)
				R->corrupt++;
		}
		R->received++;
		R->bytes += w->len;
		ring_consume(R->ring);
		if (++since >= 64) {
			since = 0;
			if (ring_release(R->ring))
				ring_ring(R->sock, MSG_WAKE_PRODUCER);
		}
	}
}

/* Runs producer here and consumer in a child process; the child reports
 * its counters back over the socket. */
static int
two_processes(struct run *R, size_t ring_bytes)
{
	int sv[2], rp[2];
	char err[256];
	pid_t pid;

	/* the ring and its doorbells on the socketpair, the result on a pipe */
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0 || pipe(rp) < 0)
		return -1;
	R->ring = ring_create(ring_bytes, err, sizeof(err));
	if (R->ring == NULL) {
		fprintf(stderr, "ringstress: %s\n", err);
		return -1;
	}
	pid = fork();
	if (pid == 0) {
		struct run C = *R;
		unsigned type;
		int rfd;
		uint64_t res[5];
		char body[64];
		close(sv[0]);
		close(rp[0]);
		C.sock = sv[1];
		if (chan_recv(C.sock, &type, body, sizeof(body), &rfd, 5000, err, sizeof(err)) < 0 || rfd < 0) {
			fprintf(stderr, "ringstress child: %s\n", err);
			_exit(1);
		}
		C.ring = ring_attach(rfd, err, sizeof(err));
		close(rfd);
		if (C.ring == NULL) {
			fprintf(stderr, "ringstress child: %s\n", err);
			_exit(1);
		}
		C.bytes = 0;
		consumer(&C);
		res[0] = C.received;
		res[1] = C.corrupt;
		res[2] = C.missing;
		res[3] = C.out_of_order;
		res[4] = C.bytes;
		if (write_all(rp[1], res, sizeof(res)) < 0)
			_exit(1);
		_exit(0);
	}
	close(sv[1]);
	close(rp[1]);
	R->sock = sv[0];
	if (chan_send(R->sock, MSG_HELLO_OK, "", 0, ring_fd(R->ring)) < 0)
		return -1;
	producer(R);
	{
		uint64_t res[5];
		ssize_t got = 0, n;
		while (got < (ssize_t)sizeof(res) &&
		    (n = read(rp[0], (char *)res + got, sizeof(res) - (size_t)got)) > 0)
			got += n;
		close(rp[0]);
		if (got != (ssize_t)sizeof(res)) {
			fprintf(stderr, "ringstress: no result from the consumer\n");
			return -1;
		}
		R->received = res[0];
		R->corrupt = res[1];
		R->missing = res[2];
		R->out_of_order = res[3];
	}
	waitpid(pid, NULL, 0);
	return 0;
}

static void *
thread_consumer(void *arg)
{
	consumer(arg);
	return NULL;
}

static double
secs(uint64_t ns)
{
	return (double)ns / 1e9;
}

int
main(int argc, char **argv)
{
	struct run R;
	size_t ring_bytes = 1 << 20;
	uint64_t n = 0;

	memset(&R, 0, sizeof(R));
	R.fixed = (size_t)-1;
	R.verify = true;
	if (argc < 2)
		goto usage;
	if (argc > 2)
		n = strtoull(argv[2], NULL, 10);
	if (argc > 3)
		ring_bytes = strtoull(argv[3], NULL, 10);
	if (strcmp(argv[1], "block") == 0 || strcmp(argv[1], "drop") == 0) {
		uint64_t t0 = now_mono_ns();
		R.n = n;
		R.drop = argv[1][0] == 'd';
		if (two_processes(&R, ring_bytes) < 0)
			return 1;
		printf("mode=%s records=%" PRIu64 " sent=%" PRIu64 " received=%" PRIu64
		    " dropped=%" PRIu64 " missing=%" PRIu64 " corrupt=%" PRIu64
		    " out_of_order=%" PRIu64 " seconds=%.2f\n", argv[1], n, R.sent,
		    R.received, R.dropped, R.missing, R.corrupt, R.out_of_order,
		    secs(now_mono_ns() - t0));
		ring_free(R.ring);
		if (R.corrupt || R.out_of_order || R.received != R.sent ||
		    R.missing != R.dropped || R.sent + R.dropped != n)
			return 1;
		return 0;
	}
	if (strcmp(argv[1], "threads") == 0) {
		struct run C;
		pthread_t th;
		int sv[2];
		char err[256];
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
			return 1;
		R.n = n;
		R.ring = ring_create(ring_bytes, err, sizeof(err));
		if (R.ring == NULL)
			return 1;
		C = R;
		R.sock = sv[0];
		C.sock = sv[1];
		C.ring = ring_attach(ring_fd(R.ring), err, sizeof(err));
		if (C.ring == NULL)
			return 1;
		pthread_create(&th, NULL, thread_consumer, &C);
		producer(&R);
		pthread_join(th, NULL);
		ring_free(C.ring);
		ring_free(R.ring);
		printf("mode=threads records=%" PRIu64 " received=%" PRIu64 " corrupt=%" PRIu64 "\n",
		    n, C.received, C.corrupt);
		return C.received == n && C.corrupt == 0 && C.missing == 0 ? 0 : 1;
	}
	if (strcmp(argv[1], "bench") == 0 && argc > 3) {
		uint64_t t0;
		double s;
		R.fixed = strtoull(argv[2], NULL, 10) - sizeof(struct body) - sizeof(struct wire_rec);
		R.verify = false;
		t0 = now_mono_ns();
		R.deadline_ns = t0 + (uint64_t)(atof(argv[3]) * 1e9);
		size_t rb = argc > 4 ? strtoull(argv[4], NULL, 10) : (64u << 20);
		if (two_processes(&R, rb) < 0)
			return 1;
		s = secs(now_mono_ns() - t0);
		ring_free(R.ring);
		printf("ring %4s-byte records, %zu MiB ring: %.2f M records/s, %.2f GB/s (%" PRIu64 " records, %.1f s, received %" PRIu64 ")\n",
		    argv[2], rb >> 20, (double)R.received / s / 1e6,
		    (double)R.received * (double)strtoull(argv[2], NULL, 10) / s / 1e9,
		    R.received, s, R.received);
		return R.received == R.sent ? 0 : 1;
	}
	if (strcmp(argv[1], "memcpy") == 0) {
		size_t sz = 256u << 20;
		uint8_t *a = xmalloc(sz), *b = xmalloc(sz);
		double best = 0;
		memset(a, 1, sz);
		memset(b, 2, sz);
		for (int rep = 0; rep < 5; rep++) {
			uint64_t t0 = now_mono_ns();
			memcpy(b, a, sz);
			double s = secs(now_mono_ns() - t0);
			if ((double)sz / s > best)
				best = (double)sz / s;
			a[rep] = b[sz - 1 - (size_t)rep];
		}
		printf("memcpy 256 MiB: %.2f GB/s\n", best / 1e9);
		free(a);
		free(b);
		return 0;
	}
usage:
	fprintf(stderr, "usage: ringstress block|drop|threads N [RING_BYTES] | bench SIZE SECONDS | memcpy\n");
	return 2;
}
