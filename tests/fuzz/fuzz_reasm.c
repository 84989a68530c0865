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
	/* max_sessions 4096 where no limit is meant: an input (at most a
	 * few thousand frames) never reaches it, and the session table is
	 * then 4,096 buckets, not the default's million, each walked at the
	 * end of every input (that walk was most of the time: 800 inputs/s) */
	static const char *confs[] = {
		"{reasm:{max_sessions:4096}}",
		"{reasm:{ooo_bytes_per_dir:2048, max_sessions:4, frag_memcap:4096}}",
		"{reasm:{max_sessions:4096}, io:{input:{capture:{session_idle_sec:0.01}}}, runtime:{close_grace_ms:0}}",
		/* (an explicit filter: local_ip alone asks for the template's keys) */
		"{reasm:{max_sessions:4096, memcap:1048576, ooo_bytes_per_dir:0}, io:{input:{capture:{local_ip:'10.0.0.1', bpf-filter:'tcp'}}, mapping:{role:'server'}}}",
	};
	static struct conf cs[4];
	static int loaded;
	struct reasm R;
	uint64_t ts = 1000000000ULL;
	size_t i = 1;
	int devnull;

	if (size < 1)
		return 0;
	if (!loaded) {
		log_set_console_level(LOG_NONE);
		for (int k = 0; k < 4; k++) {
			struct conf_diag d;
			if (conf_load_text(&cs[k], "fuzz", confs[k], strlen(confs[k]), 0, &d) != 0)
				abort();
			conf_diag_free(&d);
		}
		loaded = 1;
	}
	if (reasm_init(&R, &cs[data[0] % 4], 1, 2, NULL, 0) < 0)
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
	return 0;
}
