/*
 * recio.c — buffered record streams over file descriptors.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "recio.h"
#include "util.h"

#define RECW_BUF (256 * 1024)

struct recw {
	int fd, own_fd, failed, started;
	uint64_t lost;			/* record bytes not written since it failed */
	size_t n;
	unsigned char buf[RECW_BUF];
};

struct recw *
recw_open(int fd, int own_fd)
{
	struct recw *w = xmalloc(sizeof(*w));

	w->fd = fd;
	w->own_fd = own_fd;
	w->failed = 0;
	w->started = 0;
	w->lost = 0;
	w->n = 0;
	return w;
}

int
recw_flush(struct recw *w)
{
	if (w->failed)
		return -1;
	if (!w->started) {
		struct wire_stream_hdr h = { WIRE_MAGIC, WIRE_VERSION, WIRE_BOM,
		    sizeof(struct wire_stream_hdr), 0 };
		w->started = 1;
		if (write_all(w->fd, &h, sizeof(h)) < 0) {
			w->failed = 1;
			return -1;
		}
	}
	if (w->n > 0 && write_all(w->fd, w->buf, w->n) < 0) {
		w->failed = 1;
		w->lost += w->n;	/* (what was buffered: some of it may have gone) */
		w->n = 0;
		return -1;
	}
	w->n = 0;
	return 0;
}

uint64_t
recw_lost(const struct recw *w)
{
	return w ? w->lost : 0;
}

int
recw_failed(const struct recw *w)
{
	return w ? w->failed : 0;
}

int
recw_put(struct recw *w, unsigned type, const void *fixed, size_t flen,
    const void *var, size_t vlen)
{
	struct wire_rec h;
	size_t total = sizeof(h) + flen + vlen;
	size_t padded;
	static const unsigned char zeros[WIRE_ALIGN];

	if (w->failed) {
		w->lost += wire_padded((uint32_t)total);
		return -1;
	}
	if (total > WIRE_MAX_REC) {
		errno = EMSGSIZE;
		return -1;
	}
	padded = wire_padded((uint32_t)total);
	h.type = (uint16_t)type;
	h.flags = 0;
	h.len = (uint32_t)total;
	if (w->n + padded > sizeof(w->buf) && recw_flush(w) < 0) {
		w->lost += padded;
		return -1;
	}
	if (padded > sizeof(w->buf)) {
		/* A record larger than the buffer goes out directly. */
		if (write_all(w->fd, &h, sizeof(h)) < 0 ||
		    (flen && write_all(w->fd, fixed, flen) < 0) ||
		    (vlen && write_all(w->fd, var, vlen) < 0) ||
		    (padded > total && write_all(w->fd, zeros, padded - total) < 0)) {
			w->failed = 1;
			w->lost += padded;
			return -1;
		}
		return 0;
	}
	memcpy(w->buf + w->n, &h, sizeof(h));
	if (flen)
		memcpy(w->buf + w->n + sizeof(h), fixed, flen);
	if (vlen)
		memcpy(w->buf + w->n + sizeof(h) + flen, var, vlen);
	memset(w->buf + w->n + total, 0, padded - total);
	w->n += padded;
	return 0;
}

int
recw_close_keep(struct recw *w, uint64_t *lost)
{
	int r;

	if (w == NULL)
		return 0;
	r = recw_flush(w);
	*lost = w->lost;
	if (w->own_fd)
		close(w->fd);
	free(w);
	return r;
}

int
recw_close(struct recw *w)
{
	int r;

	if (w == NULL)
		return 0;
	r = recw_flush(w);
	if (w->own_fd)
		close(w->fd);
	free(w);
	return r;
}

/* The read buffer starts at 64 KiB (a pipe's worth: a short stream, or a
 * fuzzer's input, costs no more) and doubles while reads fill it, up to
 * 1 MiB (a file read in large blocks); a record larger takes its size. */
#define RECR_CAP_MIN (64 * 1024)
#define RECR_CAP_MAX (1024 * 1024)

struct recr {
	int fd, own_fd;
	unsigned char *buf;
	size_t cap, start, end;	/* unread bytes are buf[start..end) */
	int eof;
};

/* Makes at least `need` unread bytes available unless EOF. Returns the
 * number available, or -1 on a read error. */
static ssize_t
recr_fill(struct recr *r, size_t need)
{
	if (r->end - r->start >= need)
		return (ssize_t)(r->end - r->start);
	if (r->start > 0) {
		memmove(r->buf, r->buf + r->start, r->end - r->start);
		r->end -= r->start;
		r->start = 0;
	}
	if (need > r->cap) {
		r->cap = need;
		r->buf = xrealloc(r->buf, r->cap);
	}
	while (r->end < need && !r->eof) {
		ssize_t n = read(r->fd, r->buf + r->end, r->cap - r->end);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0)
			r->eof = 1;
		r->end += (size_t)n;
		if (r->end == r->cap && r->cap < RECR_CAP_MAX) {
			/* a full buffer: there is more to read, read more at once */
			r->cap *= 2;
			r->buf = xrealloc(r->buf, r->cap);
		}
	}
	return (ssize_t)(r->end - r->start);
}

struct recr *
recr_open(int fd, int own_fd, char *err, size_t errlen)
{
	struct recr *r = xcalloc(1, sizeof(*r));
	struct wire_stream_hdr h;
	ssize_t n;

	r->fd = fd;
	r->own_fd = own_fd;
	r->cap = RECR_CAP_MIN;
	r->buf = xmalloc(r->cap);
	n = recr_fill(r, sizeof(h));
	if (n < 0) {
		snprintf(err, errlen, "read error: %s", strerror(errno));
		goto bad;
	}
	if (n == 0) {
		snprintf(err, errlen, "empty input: no record stream header");
		goto bad;
	}
	if ((size_t)n < sizeof(h)) {
		snprintf(err, errlen, "truncated record stream header (%zd bytes)", n);
		goto bad;
	}
	memcpy(&h, r->buf, sizeof(h));
	if (h.magic != WIRE_MAGIC) {
		uint32_t m = h.magic;
		if (m == 0xa1b2c3d4 || m == 0xd4c3b2a1 || m == 0xa1b23c4d || m == 0x4d3cb2a1)
			snprintf(err, errlen, "this is a pcap file, not a stethoscope record stream (read it with reasmd -r)");
		else if (m == 0x0a0d0d0a)
			snprintf(err, errlen, "this is a pcapng file, not a stethoscope record stream (read it with reasmd -r)");
		else
			snprintf(err, errlen, "not a stethoscope record stream (magic 0x%08x, expected 0x%08x)", m, WIRE_MAGIC);
		goto bad;
	}
	if (h.bom != WIRE_BOM) {
		snprintf(err, errlen, "record stream written with another byte order");
		goto bad;
	}
	if (h.version != WIRE_VERSION) {
		snprintf(err, errlen, "record stream version %u, this build reads version %u",
		    h.version, WIRE_VERSION);
		goto bad;
	}
	if (h.hdr_len < sizeof(h) || h.hdr_len > 4096) {
		snprintf(err, errlen, "bad record stream header length %u", h.hdr_len);
		goto bad;
	}
	if (recr_fill(r, h.hdr_len) < (ssize_t)h.hdr_len) {
		snprintf(err, errlen, "truncated record stream header");
		goto bad;
	}
	r->start += h.hdr_len;
	return r;
bad:
	recr_close(r);
	return NULL;
}

int
recr_next(struct recr *r, const struct wire_rec **rec, char *err, size_t errlen)
{
	struct wire_rec h;
	ssize_t n;
	uint32_t padded;

	n = recr_fill(r, sizeof(h));
	if (n < 0) {
		snprintf(err, errlen, "read error: %s", strerror(errno));
		return -1;
	}
	if (n == 0)
		return 0;
	if ((size_t)n < sizeof(h)) {
		snprintf(err, errlen, "truncated record header at end of input (%zd bytes)", n);
		return -1;
	}
	memcpy(&h, r->buf + r->start, sizeof(h));
	if (h.len < sizeof(h) || h.len > WIRE_MAX_REC) {
		snprintf(err, errlen, "record with bad length %u", h.len);
		return -1;
	}
	padded = wire_padded(h.len);
	n = recr_fill(r, padded);
	if (n < 0) {
		snprintf(err, errlen, "read error: %s", strerror(errno));
		return -1;
	}
	if ((size_t)n < h.len) {
		snprintf(err, errlen, "truncated %s record at end of input (%zd of %u bytes)",
		    wire_rec_name(h.type), n, h.len);
		return -1;
	}
	if (wire_rec_check((const struct wire_rec *)(r->buf + r->start), h.len, err, errlen) < 0)
		return -1;
	*rec = (const struct wire_rec *)(r->buf + r->start);
	r->start += (size_t)n < padded ? (size_t)n : padded;
	return 1;
}

void
recr_close(struct recr *r)
{
	if (r == NULL)
		return;
	if (r->own_fd)
		close(r->fd);
	free(r->buf);
	free(r);
}

