/* fuzz_conf.c — the json-ish reader and the schema walk on arbitrary text. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf c;
	struct conf_diag d;

	if (size > 65536)
		return 0;
	conf_load_text(&c, "fuzz", (const char *)data, size, 0, &d);
	if (d.nerrors == 0) {
		char *f = conf_capture_filter(&c);
		free(f);
	}
	conf_free(&c);
	conf_diag_free(&d);
	return 0;
}
