/*
 * pcapread.c — a pcap file's frames, read in large blocks.
 *
 * libpcap reads a savefile a frame at a time (a header, then the data,
 * through stdio, copied into its buffer): about 100 ns a frame before the
 * engine sees it, the bare read loop's ceiling.  A regular pcap file of a
 * common link type is read here instead, 256 KiB a read(), and each frame is
 * handed on where it lies in the block.  The frames are libpcap's exactly:
 * the first record libpcap would treat specially (longer than the snapshot
 * length, cut short at the end) is where libpcap takes over, from that record on (the FILE it
 * reads is put there), with its own checks and messages.  pcapng, stdin,
 * versions before 2.4 (their lengths in the other order) and the link types
 * whose pseudo-header libpcap rewrites are libpcap's from the start.  STH_PCAP_READER=
 * libpcap turns this off (the tests compare both).
 */
#include <errno.h>
#include <pcap/pcap.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "reasmd.h"
#include "util.h"

#define BLK_SIZE ((size_t)1 << 18)
#define BLK_MAX_CAP 262144u		/* libpcap's largest snapshot length */

struct pcapread {
	pcap_t *p;
	FILE *in;
	const char *name;
	int fd;
	bool fast, swapped, nano;
	uint32_t limit;			/* the largest caplen taken here */
	uint8_t *buf;
	size_t cap, have, off;
	off_t buf_at;			/* the file offset of buf[0] */
	bool eof;
	/* pcapread_peek's place: the frame ra_n frames after the one at off
	 * starts at ra_off (a reader that looks the same distance ahead
	 * before every frame walks each frame's header once, not k times) */
	size_t ra_off;
	unsigned ra_n;
};

static uint32_t
rd32(const uint8_t *p, bool swapped)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return swapped ? __builtin_bswap32(v) : v;
}

/* Link types whose frames libpcap hands on as they are in the file (no
 * pseudo-header it rewrites); a byte-swapped file, only those without a
 * pseudo-header at all. */
static bool
plain_dlt(int dlt, bool swapped)
{
	switch (dlt) {
	case DLT_EN10MB:
	case DLT_RAW:
#ifdef DLT_IPV4
	case DLT_IPV4:
	case DLT_IPV6:
#endif
		return true;
	case DLT_NULL:
	case DLT_LOOP:
	case DLT_LINUX_SLL:
		return !swapped;
	default:
		return false;
	}
}

struct pcapread *
pcapread_open(pcap_t *p, FILE *in, const char *name)
{
	struct pcapread *r = xcalloc(1, sizeof(*r));
	const char *env = getenv("STH_PCAP_READER");
	uint8_t h[24];
	struct stat st;
	uint32_t magic;
	int snap = pcap_snapshot(p);

	r->p = p;
	r->in = in;
	r->name = name;
	r->fd = fileno(in);
	if ((env && strcmp(env, "libpcap") == 0) || r->fd < 0 || fstat(r->fd, &st) < 0 ||
	    !S_ISREG(st.st_mode) || pread(r->fd, h, sizeof(h), 0) != (ssize_t)sizeof(h))
		return r;
	memcpy(&magic, h, 4);
	switch (magic) {
	case 0xa1b2c3d4: break;
	case 0xa1b23c4d: r->nano = true; break;
	case 0xd4c3b2a1: r->swapped = true; break;
	case 0x4d3cb2a1: r->swapped = r->nano = true; break;
	default: return r;		/* pcapng, or a pcap variant */
	}
	/* version 2.4 on: before 2.3 the two lengths were the other way
	 * round, at 2.3 maybe (libpcap guesses): those are libpcap's */
	if (pcap_major_version(p) != 2 || pcap_minor_version(p) < 4)
		return r;
	if (!plain_dlt(pcap_datalink(p), r->swapped) || snap <= 0 || lseek(r->fd, 24, SEEK_SET) != 24)
		return r;
	r->limit = (uint32_t)snap < BLK_MAX_CAP ? (uint32_t)snap : BLK_MAX_CAP;
	r->cap = BLK_SIZE + 16 + BLK_MAX_CAP;
	r->buf = xmalloc(r->cap);
	r->buf_at = 24;
	r->fast = true;
	return r;
}

/* libpcap from the record at file offset `at` on. */
static void
to_libpcap(struct pcapread *r, off_t at)
{
	r->fast = false;
	if (fseeko(r->in, at, SEEK_SET) < 0)
		log_warn("%s: cannot go back to offset %lld for libpcap", r->name, (long long)at);
}

int
pcapread_peek(struct pcapread *r, unsigned k, const uint8_t **data, uint32_t *caplen)
{
	uint32_t c;

	if (!r->fast || k == 0)
		return 0;
	if (r->ra_n > k - 1) {		/* nearer than before: from the start */
		r->ra_off = r->off;
		r->ra_n = 0;
	}
	for (;;) {
		const uint8_t *h = r->buf + r->ra_off;
		if (r->have - r->ra_off < 16)
			return 0;
		c = rd32(h + 8, r->swapped);
		if (c > r->limit || r->have - r->ra_off < 16 + (size_t)c)
			return 0;
		if (r->ra_n == k - 1) {
			*data = h + 16;
			*caplen = c;
			return 1;
		}
		r->ra_off += 16 + (size_t)c;
		r->ra_n++;
	}
}

int
pcapread_next(struct pcapread *r, uint64_t *ts, const uint8_t **data, uint32_t *caplen, uint32_t *len)
{
	while (r->fast) {
		if (r->have - r->off >= 16) {
			const uint8_t *h = r->buf + r->off;
			uint32_t c = rd32(h + 8, r->swapped);
			if (c > r->limit) {
				to_libpcap(r, r->buf_at + (off_t)r->off);
				break;
			}
			if (r->have - r->off >= 16 + (size_t)c) {
				/* the fraction as libpcap reads it: signed in a file
				 * of this machine's byte order (a value over 2^31
				 * counts backwards), unsigned once swapped */
				uint32_t fr = rd32(h + 4, r->swapped);
				uint64_t f = r->swapped ? (uint64_t)fr : (uint64_t)(int64_t)(int32_t)fr;
				*ts = (uint64_t)rd32(h, r->swapped) * NSEC_PER_SEC + f * (r->nano ? 1 : 1000);
				*caplen = c;
				*len = rd32(h + 12, r->swapped);
				*data = h + 16;
				r->off += 16 + (size_t)c;
				if (r->ra_n > 0)
					r->ra_n--;
				else
					r->ra_off = r->off;
				return 1;
			}
		}
		if (r->eof) {
			if (r->off == r->have)
				return 0;
			/* a record cut short: libpcap says so, as it would */
			to_libpcap(r, r->buf_at + (off_t)r->off);
			break;
		}
		/* what is left of the block to the front, then more */
		memmove(r->buf, r->buf + r->off, r->have - r->off);
		r->buf_at += (off_t)r->off;
		r->have -= r->off;
		r->ra_off -= r->off;
		r->off = 0;
		ssize_t n = read(r->fd, r->buf + r->have, r->cap - r->have);
		if (n > 0)
			r->have += (size_t)n;
		else if (n == 0)
			r->eof = true;
		else if (errno != EINTR) {
			to_libpcap(r, r->buf_at);
			break;
		}
	}
	for (;;) {
		struct pcap_pkthdr *h;
		const u_char *pkt;
		int n = pcap_next_ex(r->p, &h, &pkt);
		if (n == 0)
			continue;
		if (n == PCAP_ERROR_BREAK)
			return 0;
		if (n < 0) {
			log_warnx("%s: %s (the sessions read so far are closed with reason eof)", r->name,
			    pcap_geterr(r->p));
			return -1;
		}
		/* seconds: an unsigned 32-bit field in the file */
		*ts = (uint64_t)(uint32_t)h->ts.tv_sec * NSEC_PER_SEC + (uint64_t)h->ts.tv_usec;
		*caplen = h->caplen;
		*len = h->len;
		*data = pkt;
		return 1;
	}
}

void
pcapread_free(struct pcapread *r)
{
	if (r == NULL)
		return;
	free(r->buf);
	free(r);
}
