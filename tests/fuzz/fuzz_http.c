/*
 * fuzz_http.c — the http analyser (reasmd/http.c) on hostile streams.
 * Input: a script of steps, each one control byte then its operand:
 *   c & 0x80      a gap in direction c & 1 of the next byte's length
 *   else          the next (c & 0x3f) + 1 bytes are stream data of
 *                 direction c & 1 (fewer at the end of the input)
 * Each piece is copied to a buffer of exactly its size (ASan catches any
 * read past it).  A detach ends the session as the engine would.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "analyser.h"
#include "conf.h"
#include "counters.h"
#include "log.h"
#include "reasmd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct conf c;
	static struct reasm R;
	static bool init;
	struct an_ctx x;
	uint64_t off[2] = { 0, 0 };
	void *eng, *flow;
	size_t i = 0;

	if (!init) {
		struct conf_diag d;
		log_set_console_level(LOG_NONE);
		conf_load_text(&c, "fuzz", "{}", 2, 0, &d);
		conf_diag_free(&d);
		if (reasm_init(&R, &c, 0, 0, NULL, 0) < 0)
			abort();
		init = true;
	}
	R.ctl = NULL;
	R.out.events = NULL;
	x = (struct an_ctx){ &R, NULL, 0 };
	eng = an_http.init(&R);
	flow = an_http.open(eng, &x);
	while (i < size && flow != NULL) {
		uint8_t ctl = data[i++];
		int dir = ctl & 1;
		if (ctl & 0x80) {
			uint64_t len = i < size ? data[i++] + 1u : 1;
			an_http.gap(eng, flow, &x, dir, off[dir], len);
			off[dir] += len;
			continue;
		}
		size_t n = (size_t)(ctl & 0x3f) + 1;
		if (n > size - i)
			n = size - i;
		uint8_t *p = malloc(n ? n : 1);
		memcpy(p, data + i, n);
		i += n;
		if (n > 0 && an_http.data(eng, flow, &x, dir, off[dir], p, n) == AN_DETACH) {
			an_http.close(eng, flow, &x, 0);
			flow = NULL;
		}
		off[dir] += n;
		free(p);
	}
	if (flow != NULL)
		an_http.close(eng, flow, &x, CLOSE_FIN);
	an_http.free(eng);
	return 0;
}
