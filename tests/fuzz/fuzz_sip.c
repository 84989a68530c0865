/*
 * fuzz_sip.c — SIP on hostile bytes: the message parser as a datagram and
 * as a stream, the URI, parameter, multipart and targeting helpers on
 * what it found, then the voip analyser's TCP framing driven by a script
 * (as fuzz_http's: c & 0x80 a gap in direction c & 1 of the next byte's
 * length; else the next (c & 0x3f) + 1 bytes are data of direction c & 1),
 * and the input as one UDP datagram to the analyser.  Every piece is
 * copied to a buffer of exactly its size (ASan catches a read past it).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "analyser.h"
#include "conf.h"
#include "log.h"
#include "reasmd.h"
#include "voip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
helpers(const struct sip_msg *m)
{
	const struct str hs[] = { m->from, m->to, m->pai, m->ruri, m->contact };
	const uint8_t *part;
	size_t plen;
	struct str v;
	struct sdp s;

	for (size_t k = 0; k < sizeof(hs) / sizeof(hs[0]); k++) {
		struct str u = sip_uri_user(hs[k]);
		(void)sip_user_match("+4930*", u);
		(void)sip_user_match("*ali\\*ce", u);
		(void)sip_param(hs[k], "expires", &v);
	}
	if (sip_multipart_part(m->content_type, m->body, m->body_len, "application/sdp", &part, &plen))
		(void)sdp_parse(part, plen, &s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct conf c;
	static struct reasm R;
	static bool init;
	struct an_ctx x;
	struct sip_msg m;
	uint64_t off[2] = { 0, 0 };
	uint8_t *copy;
	void *eng, *flow;
	size_t i = 0;

	if (!init) {
		struct conf_diag d;
		const char *cf = "{ voip: { enabled: true, max_message_bytes: 2048 } }";
		log_set_console_level(LOG_NONE);
		conf_load_text(&c, "fuzz", cf, strlen(cf), 0, &d);
		conf_diag_free(&d);
		if (reasm_init(&R, &c, 0, 0, NULL, 0) < 0)
			abort();
		init = true;
	}
	copy = malloc(size ? size : 1);
	memcpy(copy, data, size);
	if (sip_parse(copy, size, false, &m) == SIP_OK)
		helpers(&m);
	if (sip_parse(copy, size, true, &m) == SIP_OK)
		helpers(&m);
	R.ctl = NULL;
	R.out.events = NULL;
	x = (struct an_ctx){ &R, NULL, 1000000000ull };
	eng = an_voip.init(&R);
	flow = an_voip.open(eng, &x);
	while (i < size) {
		uint8_t ctl = data[i++];
		int dir = ctl & 1;
		if (ctl & 0x80) {
			uint64_t len = i < size ? data[i++] + 1u : 1;
			an_voip.gap(eng, flow, &x, dir, off[dir], len);
			off[dir] += len;
			continue;
		}
		size_t n = (size_t)(ctl & 0x3f) + 1;
		if (n > size - i)
			n = size - i;
		uint8_t *p = malloc(n ? n : 1);
		memcpy(p, data + i, n);
		i += n;
		if (n > 0)
			an_voip.data(eng, flow, &x, dir, off[dir], p, n);
		off[dir] += n;
		free(p);
		x.now_ns += 1000000;
	}
	an_voip.close(eng, flow, &x, CLOSE_FIN);
	{
		struct decoded d;
		memset(&d, 0, sizeof(d));
		d.family = 4;
		d.proto = 17;
		d.sport = d.dport = 5060;
		d.payload = copy;
		d.payload_len = size;
		an_voip.datagram(eng, &x, &d);
	}
	an_voip.finish(eng, &x);
	an_voip.free(eng);
	free(copy);
	return 0;
}
