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
	uint8_t *kept = NULL;		/* the frame pcapread_peek said comes next */
	uint32_t kept_len = 0;
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
		if (kept != NULL && (ca != kept_len || memcmp(da, kept, ca) != 0))
			abort();	/* the peek told another frame */
		free(kept);
		kept = NULL;
		{
			const uint8_t *pd;
			uint32_t pc;
			if (pcapread_peek(rd, 4, &pd, &pc) == 1 && pc > 0)
				fuzz_peek_sink ^= pd[pc - 1];	/* in bounds (ASan) */
			if (pcapread_peek(rd, 1, &pd, &pc) == 1) {
				kept = malloc(pc ? pc : 1);
				memcpy(kept, pd, pc);
				kept_len = pc;
			}
		}
	}
	free(kept);
	pcapread_free(rd);
	pcap_close(pa);
	pcap_close(pb);
	return 0;
}
