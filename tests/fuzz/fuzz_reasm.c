/*
 * fuzz_reasm.c — the reassembler driven by packet sequences.  Input: one
 * byte of settings, then frames as [length u16 big-endian][raw IP bytes].
 * Each frame is copied to a buffer of exactly its size (ASan catches any
 * read past it) and given 1 ms after the previous one; the settings byte
 * picks small limits so that the limit paths run too.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"
#include "reasmd.h"
#include "recio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *confs[] = {
		"{}",
		"{reasm:{ooo_bytes_per_dir:2048, max_sessions:4, frag_memcap:4096}}",
		"{io:{input:{capture:{session_idle_sec:0.01}}}, runtime:{close_grace_ms:0}}",
		"{reasm:{memcap:1048576, ooo_bytes_per_dir:0}, io:{input:{capture:{local_ip:'10.0.0.1'}}, mapping:{role:'server'}}}",
	};
	struct conf c;
	struct conf_diag d;
	struct reasm R;
	uint64_t ts = 1000000000ULL;
	size_t i = 1;
	int devnull;

	if (size < 1)
		return 0;
	log_set_console_level(LOG_NONE);
	const char *ct = confs[data[0] % 4];
	conf_load_text(&c, "fuzz", ct, strlen(ct), 0, &d);
	conf_diag_free(&d);
	if (reasm_init(&R, &c, 1, 2, NULL, 0) < 0)
		abort();
	R.out.linktype = STH_DLT_RAW;
	devnull = open("/dev/null", O_WRONLY);
	R.out.w = recw_open(devnull, 1);
	while (i + 2 <= size) {
		size_t n = ((size_t)data[i] << 8) | data[i + 1];
		uint8_t *f;
		i += 2;
		if (n > size - i)
			n = size - i;
		f = malloc(n ? n : 1);
		memcpy(f, data + i, n);
		ts += (data[0] & 0x80) ? 5000000000ULL : 1000000ULL;
		reasm_frame(&R, STH_DLT_RAW, ts, f, (uint32_t)n, (uint32_t)n);
		free(f);
		i += n;
	}
	reasm_close_all(&R, CLOSE_EOF);
	recw_close(R.out.w);
	R.out.w = NULL;
	reasm_free(&R);
	conf_free(&c);
	return 0;
}
