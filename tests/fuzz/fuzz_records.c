/* fuzz_records.c — the record-stream reader on arbitrary bytes: a
 * stream header is prepended so the fuzzer reaches the records. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "recio.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fds[2];
	struct wire_stream_hdr h = { WIRE_MAGIC, WIRE_VERSION, WIRE_BOM, 16, 0 };
	char err[256];
	struct recr *r;
	const struct wire_rec *rec;
	FILE *tmp = tmpfile();

	(void)fds;
	if (tmp == NULL || size > 1 << 20)
		return 0;
	if (size > 0 && data[0] == 'R')	/* raw: let the fuzzer reach the header checks */
		fwrite(data + 1, 1, size - 1, tmp);
	else {
		fwrite(&h, 1, sizeof(h), tmp);
		fwrite(data, 1, size, tmp);
	}
	fflush(tmp);
	rewind(tmp);
	r = recr_open(dup(fileno(tmp)), 1, err, sizeof(err));
	fclose(tmp);
	if (r == NULL)
		return 0;
	while (recr_next(r, &rec, err, sizeof(err)) == 1)
		;
	recr_close(r);
	return 0;
}
