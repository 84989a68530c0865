/*
 * recserve.c — a minimal producer for tests: binds SOCKET, prints
 * "listening", accepts one consumer, checks its hello, and sends the
 * records of a record-stream FILE that the consumer wants through a ring
 * (block mode), then marks the end and waits for the consumer to leave.
 *
 *   recserve SOCKET FILE
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "chan.h"
#include "recio.h"
#include "ring.h"
#include "util.h"

int
main(int argc, char **argv)
{
	char err[256], body[WIRE_MSG_MAX];
	struct msg_hello h;
	struct msg_hello_ok ok = { 65536, 0, 0 };
	const struct wire_rec *rec;
	struct recr *rr;
	struct ring *r;
	unsigned type;
	int lfd, c, n, fd;

	if (argc != 3) {
		fprintf(stderr, "usage: recserve SOCKET FILE\n");
		return 2;
	}
	lfd = chan_listen(argv[1], NULL, err, sizeof(err));
	if (lfd < 0) {
		fprintf(stderr, "recserve: %s\n", err);
		return 1;
	}
	printf("listening\n");
	fflush(stdout);
	c = accept(lfd, NULL, NULL);
	n = chan_recv(c, &type, body, sizeof(body), NULL, 5000, err, sizeof(err));
	if (n < 0 || type != MSG_HELLO || chan_hello_check(body, n, &h, err, sizeof(err)) < 0) {
		chan_send(c, MSG_REJECT, err, strlen(err), -1);
		fprintf(stderr, "recserve: bad hello: %s\n", err);
		return 1;
	}
	r = ring_create(65536, err, sizeof(err));
	ok.shard = h.shard;
	chan_send(c, MSG_HELLO_OK, &ok, sizeof(ok), ring_fd(r));
	fd = open(argv[2], O_RDONLY);
	rr = recr_open(fd, 1, err, sizeof(err));
	if (rr == NULL) {
		fprintf(stderr, "recserve: %s\n", err);
		return 1;
	}
	while (recr_next(rr, &rec, err, sizeof(err)) == 1) {
		if (!(h.wants & REC_WANT(rec->type)))
			continue;
		while (ring_push(r, rec->type, rec + 1, rec->len - sizeof(*rec), NULL, 0, false) < 0) {
			if (ring_publish(r))
				ring_ring(c, MSG_WAKE_CONSUMER);
			if (ring_producer_sleep(r, rec->len) && ring_wait(c, 5000) < 0)
				return 1;
		}
	}
	ring_close_producer(r);
	ring_publish(r);
	ring_ring(c, MSG_WAKE_CONSUMER);
	/* Until the consumer hangs up. */
	while (ring_wait(c, 10000) > 0)
		;
	recr_close(rr);
	ring_free(r);
	return 0;
}
