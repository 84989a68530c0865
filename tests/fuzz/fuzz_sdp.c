/*
 * fuzz_sdp.c — the SDP parser (reasmd/sdp.c) on hostile bytes, from an
 * exact-size copy (ASan catches a read past it); what it found is
 * checked for the bounds it promises.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "voip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy = malloc(size ? size : 1);
	struct sdp s;
	unsigned n;

	memcpy(copy, data, size);
	n = sdp_parse(copy, size, &s);
	if (n > SDP_MAX_MEDIA)
		abort();
	for (unsigned k = 0; k < n; k++) {
		if (s.m[k].nmap > SDP_MAX_MAPS || s.m[k].nfmt > SDP_MAX_MAPS)
			abort();
		if (s.m[k].family != 0 && s.m[k].family != 4 && s.m[k].family != 6)
			abort();
		for (unsigned j = 0; j < s.m[k].nmap; j++)
			if (s.m[k].map[j].pt > 127 || memchr(s.m[k].map[j].name, 0, sizeof(s.m[k].map[j].name)) == NULL)
				abort();
	}
	free(copy);
	return 0;
}
