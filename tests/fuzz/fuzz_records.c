/* fuzz_records.c — the record-stream reader on arbitrary bytes: a
 * stream header is prepended so the fuzzer reaches the records. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "recio.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One file for the whole run, in memory where there is a tmpfs: each
 * input is written over it (a tmpfile() an input, on a disk, made this
 * target run at 230 inputs a second). */
static int
scratch(void)
{
	static int fd = -1;

	if (fd < 0) {
		char path[64];
		snprintf(path, sizeof(path), "%s/fuzz_records.%ld",
		    access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp", (long)getpid());
		fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
		if (fd < 0)
			abort();
		unlink(path);
	}
	return fd;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wire_stream_hdr h = { WIRE_MAGIC, WIRE_VERSION, WIRE_BOM, 16, 0 };
	char err[256];
	struct recr *r;
	const struct wire_rec *rec;
	int fd = scratch();

	if (size > 1 << 20)
		return 0;
	if (ftruncate(fd, 0) < 0)
		abort();
	if (size > 0 && data[0] == 'R') {	/* raw: let the fuzzer reach the header checks */
		if (pwrite(fd, data + 1, size - 1, 0) != (ssize_t)(size - 1))
			abort();
	} else {
		if (pwrite(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h) ||
		    pwrite(fd, data, size, (off_t)sizeof(h)) != (ssize_t)size)
			abort();
	}
	if (lseek(fd, 0, SEEK_SET) != 0)
		abort();
	r = recr_open(dup(fd), 1, err, sizeof(err));
	if (r == NULL)
		return 0;
	while (recr_next(r, &rec, err, sizeof(err)) == 1)
		;
	recr_close(r);
	return 0;
}
