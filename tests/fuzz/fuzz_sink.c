/* fuzz_sink.c — sinkd's record handling (sessions, books, orphans) on
 * arbitrary records, as a peer's ring would hand them: each record is
 * checked (wire_rec_check) and then given to the core. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "sinkd.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct family fam = { .name = "fuzz", .wants = REC_WANT_ALL };

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct conf c;
	static int init;
	struct sinkd D;
	uint64_t buf[8192];
	size_t off = 0;
	char err[256];

	if (!init) {
		struct conf_diag diag = { 0 };
		log_set_console_level(LOG_NONE);
		conf_load(&c, NULL, NULL, 0, 0, &diag);
		conf_diag_free(&diag);
		c.max_sessions = 64;
		init = 1;
	}
	sinkd_init(&D, &c, &fam);
	D.base = event_base_new();
	D.nin = 1;
	while (off + sizeof(struct wire_rec) <= size) {
		struct wire_rec h;
		memcpy(&h, data + off, sizeof(h));
		size_t avail = size - off;
		if (h.len < sizeof(h) || h.len > avail || h.len > sizeof(buf))
			break;
		memcpy(buf, data + off, h.len);
		if (wire_rec_check((const struct wire_rec *)buf, h.len, err, sizeof(err)) < 0)
			break;
		sinkd_record(&D, 0, (const struct wire_rec *)buf);
		off += wire_padded(h.len);
	}
	sinkd_start_drain(&D);
	sinkd_free(&D);
	event_base_free(D.base);
	return 0;
}
