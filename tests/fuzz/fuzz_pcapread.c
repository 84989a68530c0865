/* fuzz_pcapread.c — the block reader against libpcap itself: the input is
 * a capture file; read once through pcapread and once through bare
 * pcap_next_ex, every frame (time, lengths, bytes) and the end (a clean
 * end or an error) must agree.  A difference aborts. */
#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "reasmd.h"

extern volatile uint8_t fuzz_peek_sink;
volatile uint8_t fuzz_peek_sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static FILE *
file_of(const uint8_t *data, size_t size)
{
	FILE *f = tmpfile();

	if (f == NULL)
		abort();
	if (size && fwrite(data, 1, size, f) != size)
		abort();
	rewind(f);
	return f;
}

/* libpcap's next frame, as pcapread falls back to it */
static int
ref_next(pcap_t *p, uint64_t *ts, const uint8_t **d, uint32_t *caplen, uint32_t *len)
{
	for (;;) {
		struct pcap_pkthdr *h;
		const u_char *pkt;
		int n = pcap_next_ex(p, &h, &pkt);
		if (n == 0)
			continue;
		if (n == PCAP_ERROR_BREAK)
			return 0;
		if (n < 0)
			return -1;
		*ts = (uint64_t)(uint32_t)h->ts.tv_sec * 1000000000ULL + (uint64_t)h->ts.tv_usec;
		*caplen = h->caplen;
		*len = h->len;
		*d = pkt;
		return 1;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[PCAP_ERRBUF_SIZE];
	FILE *fa = file_of(data, size), *fb = file_of(data, size);
	pcap_t *pa, *pb;
	struct pcapread *rd;

	log_set_console_level(LOG_NONE);
	pa = pcap_fopen_offline_with_tstamp_precision(fa, PCAP_TSTAMP_PRECISION_NANO, err);
	pb = pcap_fopen_offline_with_tstamp_precision(fb, PCAP_TSTAMP_PRECISION_NANO, err);
	if ((pa == NULL) != (pb == NULL))
		abort();
	if (pa == NULL) {
		fclose(fa);
		fclose(fb);
		return 0;
	}
	rd = pcapread_open(pa, fa, "fuzz");
	/* what pcapread_peek said frame k will be (its k - 1st frame looking
	 * 1 ahead, its k - 3rd looking 3 ahead: the same distance frame after
	 * frame walks on from where it was, a nearer one starts again) */
	uint8_t *kept[8] = { NULL };
	uint32_t kept_len[8] = { 0 };
	for (unsigned k = 0; k < 100000; k++) {
		uint64_t ta = 0, tb = 0;
		const uint8_t *da = NULL, *db = NULL;
		uint32_t ca = 0, cb = 0, la = 0, lb = 0;
		int ra = pcapread_next(rd, &ta, &da, &ca, &la);
		int rb = ref_next(pb, &tb, &db, &cb, &lb);
		if (ra != rb) {
			if (getenv("FUZZ_SAY"))
				fprintf(stderr, "frame %u: pcapread says %d, libpcap %d (%s)\n", k, ra, rb,
				    pcap_geterr(pb));
			abort();
		}
		if (ra <= 0)
			break;
		if (ta != tb || ca != cb || la != lb || memcmp(da, db, ca) != 0) {
			if (getenv("FUZZ_SAY"))
				fprintf(stderr, "frame %u: ts %llu/%llu caplen %u/%u len %u/%u\n", k,
				    (unsigned long long)ta, (unsigned long long)tb, ca, cb, la, lb);
			abort();
		}
		if (kept[k % 8] != NULL && (ca != kept_len[k % 8] || memcmp(da, kept[k % 8], ca) != 0))
			abort();	/* the peek told another frame */
		free(kept[k % 8]);
		kept[k % 8] = NULL;
		for (int dist = 3; dist >= 1; dist -= 2) {
			const uint8_t *pd;
			uint32_t pc;
			/* 1 ahead on every fifth frame only: 3 ahead walks on the
			 * other four */
			if (dist == 1 && k % 5 != 0)
				break;
			if (pcapread_peek(rd, dist, &pd, &pc) != 1)
				continue;
			if (pc > 0)
				fuzz_peek_sink ^= pd[pc - 1];	/* in bounds (ASan) */
			free(kept[(k + dist) % 8]);
			kept[(k + dist) % 8] = malloc(pc ? pc : 1);
			memcpy(kept[(k + dist) % 8], pd, pc);
			kept_len[(k + dist) % 8] = pc;
		}
	}
	for (int i = 0; i < 8; i++)
		free(kept[i]);
	pcapread_free(rd);
	pcap_close(pa);
	pcap_close(pb);
	return 0;
}
