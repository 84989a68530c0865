/*
 * chan.c — Unix-socket channels: listen, connect, framed messages with
 * descriptor passing, the hello handshake and reconnect back-off.
 */
#include <errno.h>
#include <stdarg.h>
#include <grp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "chan.h"
#include "privdrop.h"
#include "log.h"
#include "ring.h"
#include "util.h"

static int
chan_addr(const char *path, struct sockaddr_un *sun, char *err, size_t errlen)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (sth_strlcpy(sun->sun_path, path, sizeof(sun->sun_path)) >= sizeof(sun->sun_path)) {
		snprintf(err, errlen, "%s: socket path longer than %zu bytes", path,
		    sizeof(sun->sun_path) - 1);
		return -1;
	}
	return 0;
}

int
chan_listen(const char *path, const char *group, char *err, size_t errlen)
{
	struct sockaddr_un sun;
	int fd;

	if (chan_addr(path, &sun, err, errlen) < 0)
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	fd_set_cloexec(fd);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		int probe, live;
		if (errno != EADDRINUSE)
			goto bad;
		/* Stale (nobody listening) is replaced; live is an error. */
		probe = socket(AF_UNIX, SOCK_STREAM, 0);
		live = probe >= 0 && connect(probe, (struct sockaddr *)&sun, sizeof(sun)) == 0;
		if (probe >= 0)
			close(probe);
		if (live) {
			snprintf(err, errlen, "%s: another daemon is listening there", path);
			close(fd);
			return -1;
		}
		unlink(path);
		if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
			goto bad;
	}
	if (chmod(path, 0770) < 0)
		goto bad;
	if (group != NULL && geteuid() == 0) {
		struct group *g = getgrnam(group);
		if (g != NULL && chown(path, 0, g->gr_gid) < 0)
			goto bad;
	}
	if (listen(fd, 64) < 0)
		goto bad;
	return fd;
bad:
	snprintf(err, errlen, "%s: %s", path, strerror(errno));
	close(fd);
	return -1;
}

int
chan_connect(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sun;
	int fd, e;

	/* After a chroot into the run directory, the same socket by the
	 * name it has there (a producer that restarted binds it again). */
	if (chan_addr(privdrop_path(path), &sun, err, errlen) < 0)
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	fd_set_cloexec(fd);
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		e = errno;
		snprintf(err, errlen, "%s: %s", path, strerror(e));
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

int
chan_send(int fd, unsigned type, const void *body, size_t len, int pass_fd)
{
	struct wire_msg m = { (uint16_t)type, (uint16_t)len };
	struct iovec iov[2] = { { &m, sizeof(m) }, { (void *)(uintptr_t)body, len } };
	struct msghdr mh;
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} cm;
	ssize_t n;

	if (len > WIRE_MSG_MAX) {
		errno = EMSGSIZE;
		return -1;
	}
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = iov;
	mh.msg_iovlen = len ? 2 : 1;
	if (pass_fd >= 0) {
		memset(&cm, 0, sizeof(cm));
		mh.msg_control = cm.buf;
		mh.msg_controllen = sizeof(cm.buf);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
	}
	do
		n = sendmsg(fd, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -1;
	if ((size_t)n < sizeof(m) + len) {
		/* The rest goes without the descriptor (already sent). */
		const char *all = (const char *)&m;
		size_t off = (size_t)n;
		if (off < sizeof(m)) {
			if (write_all(fd, all + off, sizeof(m) - off) < 0)
				return -1;
			off = sizeof(m);
		}
		if (write_all(fd, (const char *)body + (off - sizeof(m)), len - (off - sizeof(m))) < 0)
			return -1;
	}
	return 0;
}

/* Waits until fd is readable or the deadline passes. 1, 0 (timeout), -1. */
static int
chan_wait(int fd, uint64_t deadline)
{
	for (;;) {
		struct pollfd p = { fd, POLLIN, 0 };
		int ms = -1, n;
		if (deadline) {
			uint64_t now = now_mono_ns();
			if (now >= deadline)
				return 0;
			ms = (int)((deadline - now + 999999) / 1000000);
		}
		n = poll(&p, 1, ms);
		if (n < 0 && errno == EINTR)
			continue;
		return n < 0 ? -1 : n;
	}
}

int
chan_recv(int fd, unsigned *type, void *body, size_t cap, int *fd_out,
    int timeout_ms, char *err, size_t errlen)
{
	uint64_t deadline = timeout_ms >= 0 ? now_mono_ns() + (uint64_t)timeout_ms * 1000000 : 0;
	struct wire_msg m;
	size_t got = 0;

	if (fd_out)
		*fd_out = -1;
	/* The header, with any passed descriptor riding on its first byte. */
	while (got < sizeof(m)) {
		struct iovec iov = { (char *)&m + got, sizeof(m) - got };
		struct msghdr mh;
		union {
			struct cmsghdr h;
			char buf[CMSG_SPACE(sizeof(int) * 4)];
		} cm;
		ssize_t n;
		int w = chan_wait(fd, deadline);

		if (w <= 0) {
			snprintf(err, errlen, w == 0 ? "timeout waiting for the peer" : "poll: %s", strerror(errno));
			return -1;
		}
		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = cm.buf;
		mh.msg_controllen = sizeof(cm.buf);
		n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC_IF);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0) {
			snprintf(err, errlen, n == 0 ? "peer closed the connection" : "recvmsg: %s", strerror(errno));
			return -1;
		}
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
				continue;
			size_t nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (size_t k = 0; k < nfd; k++) {
				int pfd;
				memcpy(&pfd, CMSG_DATA(c) + k * sizeof(int), sizeof(int));
				fd_set_cloexec(pfd);
				if (fd_out && *fd_out < 0)
					*fd_out = pfd;
				else
					close(pfd);	/* more than we asked for */
			}
		}
		got += (size_t)n;
	}
	if (m.len > cap || m.len > WIRE_MSG_MAX) {
		snprintf(err, errlen, "%s message with %u body bytes (at most %zu)",
		    wire_msg_name(m.type), m.len, cap);
		goto bad;
	}
	for (got = 0; got < m.len;) {
		ssize_t n;
		int w = chan_wait(fd, deadline);
		if (w <= 0) {
			snprintf(err, errlen, "timeout reading a %s message", wire_msg_name(m.type));
			goto bad;
		}
		n = recv(fd, (char *)body + got, m.len - got, 0);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0) {
			snprintf(err, errlen, "peer closed in the middle of a message");
			goto bad;
		}
		got += (size_t)n;
	}
	*type = m.type;
	return (int)m.len;
bad:
	if (fd_out && *fd_out >= 0) {
		close(*fd_out);
		*fd_out = -1;
	}
	return -1;
}

void
chan_hello_init(struct msg_hello *h, unsigned role, unsigned shard,
    unsigned nshards, uint32_t wants, const char *name)
{
	memset(h, 0, sizeof(*h));
	h->magic = WIRE_MAGIC;
	h->version = WIRE_VERSION;
	h->role = (uint16_t)role;
	h->shard = shard;
	h->nshards = nshards;
	h->wants = wants;
	sth_strlcpy(h->name, name, sizeof(h->name));
}

int
chan_hello_check(const void *body, int len, struct msg_hello *out,
    char *err, size_t errlen)
{
	if (len != (int)sizeof(*out)) {
		snprintf(err, errlen, "hello of %d bytes, expected %zu", len, sizeof(*out));
		return -1;
	}
	memcpy(out, body, sizeof(*out));
	out->name[sizeof(out->name) - 1] = '\0';
	if (out->magic != WIRE_MAGIC) {
		snprintf(err, errlen, "hello with bad magic 0x%08x", out->magic);
		return -1;
	}
	if (out->version != WIRE_VERSION) {
		snprintf(err, errlen, "peer speaks protocol version %u, this build speaks %u",
		    out->version, WIRE_VERSION);
		return -1;
	}
	if (out->role < ROLE_CAPD || out->role >= ROLE_MAX) {
		snprintf(err, errlen, "hello with unknown role %u", out->role);
		return -1;
	}
	return 0;
}

int
chan_handshake(const char *path, const struct msg_hello *h,
    struct msg_hello_ok *ok, int *ring_fd, int timeout_ms,
    char *err, size_t errlen)
{
	char body[WIRE_MSG_MAX + 1];
	unsigned type;
	int fd, n;

	*ring_fd = -1;
	fd = chan_connect(path, err, errlen);
	if (fd < 0)
		return -1;
	if (chan_send(fd, MSG_HELLO, h, sizeof(*h), -1) < 0) {
		snprintf(err, errlen, "%s: sending hello: %s", path, strerror(errno));
		goto bad;
	}
	n = chan_recv(fd, &type, body, WIRE_MSG_MAX, ring_fd, timeout_ms, err, errlen);
	if (n < 0)
		goto bad;
	if (type == MSG_REJECT) {
		body[n] = '\0';
		snprintf(err, errlen, "%s: refused: %s", path, body);
		goto bad;
	}
	if (type != MSG_HELLO_OK || n != (int)sizeof(*ok) || *ring_fd < 0) {
		snprintf(err, errlen, "%s: expected hello_ok with a ring, got %s", path, wire_msg_name(type));
		goto bad;
	}
	memcpy(ok, body, sizeof(*ok));
	return fd;
bad:
	if (*ring_fd >= 0)
		close(*ring_fd);
	*ring_fd = -1;
	close(fd);
	return -1;
}

void
backoff_init(struct backoff *b, unsigned min_ms, unsigned max_ms)
{
	b->min_ms = min_ms ? min_ms : 100;
	b->max_ms = max_ms < b->min_ms ? b->min_ms : max_ms;
	b->cur_ms = b->min_ms;
}

unsigned
backoff_next(struct backoff *b)
{
	unsigned d = b->cur_ms;

	b->cur_ms = b->cur_ms >= b->max_ms / 2 ? b->max_ms : b->cur_ms * 2;
	return d;
}

void
backoff_reset(struct backoff *b)
{
	b->cur_ms = b->min_ms;
}

int
chan_open_ring(const char *path, const struct msg_hello *h, struct ring **ring,
    int timeout_ms, char *err, size_t errlen)
{
	struct msg_hello_ok ok;
	int sock, rfd;

	sock = chan_handshake(path, h, &ok, &rfd, timeout_ms, err, errlen);
	if (sock < 0)
		return -1;
	*ring = ring_attach(rfd, err, errlen);
	close(rfd);
	if (*ring == NULL) {
		close(sock);
		return -1;
	}
	return sock;
}

