/* fuzz_decode.c — the frame decoder: the first byte picks the link type,
 * the rest is the frame (its top bit: VoIP dealing).  The frame is copied to a buffer of exactly its
 * size so that ASan catches any read past the capture. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "decode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

extern volatile uint8_t fuzz_sink;
volatile uint8_t fuzz_sink;

static const int dlts[] = { STH_DLT_EN10MB, STH_DLT_RAW, STH_DLT_LINUX_SLL,
    STH_DLT_LINUX_SLL2, STH_DLT_NULL, STH_DLT_LOOP, STH_DLT_IPV4, STH_DLT_IPV6 };

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct decoded d;
	uint8_t *f;
	size_t off;

	if (size < 1)
		return 0;
	f = malloc(size - 1 ? size - 1 : 1);
	memcpy(f, data + 1, size - 1);
	int dlt = dlts[data[0] % (sizeof(dlts) / sizeof(dlts[0]))];
	{
		/* the common frame's own path decodes as the general one */
		struct decoded g;
		enum decode_res rf = decode_frame(dlt, f, size - 1, &d);
		if (!decode_same(rf, &d, decode_frame_full(dlt, f, size - 1, &g), &g))
			abort();
	}
	if (decode_frame(dlt, f, size - 1, &d) == DEC_OK) {
		/* Touch every byte the decoder says is payload. */
		uint8_t sum = 0;
		for (size_t k = 0; k < d.payload_len; k++)
			sum ^= d.payload[k];
		fuzz_sink = sum;
		(void)decode_flow_hash(d.family, d.src, d.sport, d.dst, d.dport);
	}
	(void)decode_l3_offset(dlt, f, size - 1, &off);
	{
		/* dealing to engines: tunnels and their fragments decoded too */
		static struct shard_frags F;
		fuzz_sink ^= (uint8_t)decode_shard(dlt, f, (uint32_t)(size - 1), 7, data[0] & 0x80, NULL, 0, &F);
		/* the inline path deals as decode_shard does */
		if (decode_shard_quick(dlt, f, (uint32_t)(size - 1), 7, data[0] & 0x80, NULL, 0, NULL) !=
		    decode_shard(dlt, f, (uint32_t)(size - 1), 7, data[0] & 0x80, NULL, 0, NULL))
			abort();
	}
	free(f);
	return 0;
}
