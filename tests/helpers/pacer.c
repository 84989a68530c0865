/*
 * pacer.c — sends a capture's frames out of an interface at a set rate,
 * for the live ceiling's paced steps (tests/bench/bench-ceiling.sh).
 * trafgen's own pacing sends a frame and sleeps, a syscall and a timer a
 * frame, and reaches about 350,000 frames/s here whatever it is asked for;
 * its top ("max", no pacing) is its ring, as fast as it goes.
 *
 *   pacer IFACE FILE N RATE
 *
 * The frames of FILE (a classic pcap of Ethernet frames, read whole, at
 * most 1,000,000 of them) go round robin, N in all, in bursts of up to 64
 * (one sendmmsg on a packet socket that bypasses the qdisc) at the times
 * RATE frames a second puts them: a burst leaves when its first frame is
 * due and takes the frames due by then, so the rate over a second is RATE
 * and a late wake-up is made up at once.  Prints "SENT PPS": the frames
 * the kernel took and the rate over the sending time.  Linux only (a
 * packet socket); elsewhere it says so and fails.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef __linux__
#include <net/if.h>
#include <linux/if_packet.h>
#include <sys/socket.h>
#include <unistd.h>

#define BURST 64
#define MAX_FRAMES 1000000u
#define MAX_CAP 65535u

struct frame {
	const uint8_t *p;
	uint32_t len;
};

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint32_t
rd32(const uint8_t *p, int swapped)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return swapped ? __builtin_bswap32(v) : v;
}

/* FILE's frames (data kept in *buf); their number, or 0 with a message */
static size_t
load(const char *name, uint8_t **buf, struct frame **fr)
{
	FILE *f = fopen(name, "rb");
	long size;
	size_t n = 0, off = 24;
	uint32_t magic;
	int swapped;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 24 || fseek(f, 0, SEEK_SET) != 0) {
		fprintf(stderr, "pacer: %s: %s\n", name, f ? "not a pcap file" : strerror(errno));
		if (f)
			fclose(f);
		return 0;
	}
	*buf = malloc((size_t)size);
	*fr = calloc(MAX_FRAMES, sizeof(**fr));
	if (*buf == NULL || *fr == NULL || fread(*buf, 1, (size_t)size, f) != (size_t)size) {
		fprintf(stderr, "pacer: %s: cannot read it\n", name);
		fclose(f);
		return 0;
	}
	fclose(f);
	memcpy(&magic, *buf, 4);
	if (magic != 0xa1b2c3d4 && magic != 0xa1b23c4d && magic != 0xd4c3b2a1 && magic != 0x4d3cb2a1) {
		fprintf(stderr, "pacer: %s: not a classic pcap file\n", name);
		return 0;
	}
	swapped = magic == 0xd4c3b2a1 || magic == 0x4d3cb2a1;
	if (rd32(*buf + 20, swapped) != 1) {
		fprintf(stderr, "pacer: %s: not Ethernet (link type %u)\n", name, rd32(*buf + 20, swapped));
		return 0;
	}
	while (off + 16 <= (size_t)size && n < MAX_FRAMES) {
		uint32_t c = rd32(*buf + off + 8, swapped);
		if (c > MAX_CAP || off + 16 + c > (size_t)size)
			break;
		if (c >= 14)
			(*fr)[n++] = (struct frame){ *buf + off + 16, c };
		off += 16 + c;
	}
	if (n == 0)
		fprintf(stderr, "pacer: %s: no frames\n", name);
	return n;
}

int
main(int argc, char **argv)
{
	struct mmsghdr m[BURST];
	struct iovec iov[BURST];
	struct sockaddr_ll to;
	struct frame *fr = NULL;
	uint8_t *buf = NULL;
	uint64_t n, rate, sent = 0, t0, t1, stuck = 0;
	size_t nf, next = 0;
	char *end;
	int s, one = 1;

	if (argc != 5) {
		fprintf(stderr, "usage: pacer IFACE FILE N RATE (frames a second)\n");
		return 2;
	}
	n = strtoull(argv[3], &end, 10);
	if (*end != '\0' || n == 0) {
		fprintf(stderr, "pacer: N: expected a count above 0, found \"%s\"\n", argv[3]);
		return 2;
	}
	rate = strtoull(argv[4], &end, 10);
	if (*end != '\0' || rate == 0 || rate > 100000000) {
		fprintf(stderr, "pacer: RATE: expected 1..100000000 frames a second, found \"%s\"\n", argv[4]);
		return 2;
	}
	if ((nf = load(argv[2], &buf, &fr)) == 0)
		return 1;
	memset(&to, 0, sizeof(to));
	to.sll_family = AF_PACKET;
	to.sll_ifindex = (int)if_nametoindex(argv[1]);
	if (to.sll_ifindex == 0) {
		fprintf(stderr, "pacer: %s: no such interface\n", argv[1]);
		return 1;
	}
	/* protocol 0: this socket sends only, it receives nothing */
	if ((s = socket(AF_PACKET, SOCK_RAW, 0)) < 0 || bind(s, (struct sockaddr *)&to, sizeof(to)) < 0) {
		fprintf(stderr, "pacer: packet socket on %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
#ifdef PACKET_QDISC_BYPASS
	(void)setsockopt(s, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one));
#endif
	(void)one;
	t0 = now_ns();
	while (sent < n) {
		/* the frames due by now, at most a burst; else sleep to the next */
		uint64_t t = now_ns() - t0, due = (uint64_t)((double)t * (double)rate / 1e9) + 1;
		unsigned k = 0;
		int r;
		if (due > n)
			due = n;
		if (due <= sent) {
			uint64_t at = t0 + (uint64_t)((double)sent * 1e9 / (double)rate);
			struct timespec ts = { (time_t)(at / 1000000000u), (long)(at % 1000000000u) };
			clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
			continue;
		}
		for (; k < BURST && sent + k < due; k++) {
			const struct frame *f = &fr[(next + k) % nf];
			iov[k] = (struct iovec){ (void *)f->p, f->len };
			memset(&m[k], 0, sizeof(m[k]));
			m[k].msg_hdr.msg_iov = &iov[k];
			m[k].msg_hdr.msg_iovlen = 1;
		}
		r = sendmmsg(s, m, k, 0);
		if (r <= 0) {
			/* the device busy: a moment, and again; two seconds
			 * without a frame taken is an error, not a wait */
			if (r == 0 || errno == EINTR || errno == ENOBUFS || errno == EAGAIN) {
				struct timespec ts = { 0, 50000 };
				if (stuck == 0)
					stuck = now_ns();
				else if (now_ns() - stuck > 2000000000u) {
					fprintf(stderr, "pacer: %s takes no frame (2 s): %s\n", argv[1],
					    r == 0 ? "none sent" : strerror(errno));
					break;
				}
				nanosleep(&ts, NULL);
				continue;
			}
			fprintf(stderr, "pacer: sendmmsg: %s\n", strerror(errno));
			break;
		}
		stuck = 0;
		sent += (uint64_t)r;
		next = (next + (size_t)r) % nf;
	}
	t1 = now_ns();
	printf("%llu %.0f\n", (unsigned long long)sent, t1 > t0 ? (double)sent * 1e9 / (double)(t1 - t0) : 0.0);
	close(s);
	free(fr);
	free(buf);
	return sent == n ? 0 : 1;
}
#else
int
main(void)
{
	fprintf(stderr, "pacer: needs Linux (a packet socket)\n");
	return 1;
}
#endif
