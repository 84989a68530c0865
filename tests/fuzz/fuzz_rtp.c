/*
 * fuzz_rtp.c — RTP and RTCP headers and a stream's statistics on hostile
 * packets.  The input is a list of packets, each a length byte and that
 * many bytes (an exact-size copy), with an arrival time of its own; the
 * loss must stay within what was received and expected, the jitter
 * finite and not negative; an RTCP packet's Homer JSON (HEP) parses back.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "voip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rtp_stats st;
	uint64_t at = 1000000000ull;
	size_t i = 0;

	memset(&st, 0, sizeof(st));
	while (i < size) {
		size_t n = data[i++];
		struct rtp_hdr h;
		uint32_t ssrc;
		uint8_t *p;
		if (n > size - i)
			n = size - i;
		p = malloc(n ? n : 1);
		memcpy(p, data + i, n);
		i += n;
		if (rtcp_parse(p, n, &ssrc)) {
			/* Homer's JSON of it: parses back as JSON */
			struct json_object *j = rtcp_homer_json(p, n);
			const char *js = json_object_to_json_string(j);
			struct json_object *back = json_tokener_parse(js);
			if (back == NULL)
				abort();
			json_object_put(back);
			json_object_put(j);
		}
		if (rtp_parse(p, n, &h)) {
			uint32_t rate = rtp_static_rate(h.pt);
			at += (uint64_t)(n ? p[0] : 1) * 1000000ull;
			rtp_update(&st, &h, at, rate ? rate : (h.pt & 1 ? 48000 : 0));
			(void)rtp_static_codec(h.pt);
		}
		free(p);
	}
	if (st.started) {
		int64_t lost = rtp_lost(&st);
		if (!isfinite(st.jitter) || st.jitter < 0 || st.max_jitter_ms < 0)
			abort();
		if (lost < -(int64_t)st.received)
			abort();
	}
	return 0;
}
