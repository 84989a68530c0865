/*
 * fuzz_pcapng.c — the pcapng writer (common/pcapng.c) on whatever the pcap
 * sink may hand it, read back by libpcap: every block must be one libpcap
 * reads, every frame as it was written.
 *
 * Input, read as a script (missing bytes are zeros):
 *   u8 flags: 1 a section comment, 2 an if_name, 4 sized section header
 *   u16 link type, u32 snapshot length
 *   then records until the input ends: u8 comment length (0: none),
 *   the comment, u64 time (ns), u16 captured length, u16 extra original
 *   length, the frame's bytes (what is left of the input if fewer).
 * Comments and names are taken as they come (NUL bytes end them early,
 * as a C string would).
 */
#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pcapng.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NREC 64

struct in {
	const uint8_t *p;
	size_t n;
};

static uint64_t
take(struct in *in, size_t k)
{
	uint64_t v = 0;

	for (size_t i = 0; i < k; i++) {
		v = v << 8 | (in->n ? *in->p : 0);
		if (in->n) {
			in->p++;
			in->n--;
		}
	}
	return v;
}

static char *
take_str(struct in *in, size_t len)
{
	char *s = calloc(1, len + 1);

	for (size_t i = 0; i < len && in->n; i++, in->p++, in->n--)
		s[i] = (char)*in->p;
	return s;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t buf[1 << 21];
	struct in in = { data, size };
	size_t off = 0, n;
	uint8_t flags = (uint8_t)take(&in, 1);
	uint16_t dlt = (uint16_t)take(&in, 2);
	uint32_t snap = (uint32_t)take(&in, 4);
	struct { uint64_t ts; uint32_t caplen, origlen; const uint8_t *data; } rec[NREC];
	size_t nrec = 0;
	char errbuf[PCAP_ERRBUF_SIZE];

	if (size > 1 << 20)
		return 0;
	/* libpcap takes only the link types it knows and a snapshot length
	 * it can use; the pcap sink writes those it captured with */
	if (pcap_datalink_val_to_name(dlt) == NULL)
		dlt = 1;
	if (snap == 0 || snap > 262144)
		snap = 262144;
	char *sc = (flags & 1) ? take_str(&in, take(&in, 1)) : NULL;
	char *name = (flags & 2) ? take_str(&in, take(&in, 1)) : NULL;
	if (flags & 4) {
		size_t want = (pcapng_shb_len(sc) + 3 + (size_t)take(&in, 1) * 4) & ~(size_t)3;
		if (want > 65536)
			want = 65536;
		n = pcapng_shb_sized(buf, sizeof(buf), sc, want);
		if (n != 0 && n != want)
			abort();
		if (n == 0 && want >= pcapng_shb_len(NULL) + 4)
			abort();	/* refused a size it takes */
		if (n == 0)
			n = pcapng_shb(buf, sizeof(buf), sc);
	} else {
		n = pcapng_shb(buf, sizeof(buf), sc);
		if (n != pcapng_shb_len(sc))
			abort();
	}
	off += n;
	n = pcapng_idb(buf + off, sizeof(buf) - off, dlt, snap, name);
	if (n != pcapng_idb_len(name))
		abort();
	off += n;
	while (in.n > 0 && nrec < NREC) {
		char *c = NULL;
		size_t cl = (size_t)take(&in, 1);
		if (cl)
			c = take_str(&in, cl - 1);
		uint64_t ts = take(&in, 8);
		uint32_t caplen = (uint32_t)take(&in, 2), extra = (uint32_t)take(&in, 2);
		if (caplen > in.n)
			caplen = (uint32_t)in.n;
		if (caplen > snap)
			caplen = snap;
		size_t want = pcapng_epb_len(caplen, c);
		n = pcapng_epb(buf + off, sizeof(buf) - off, 0, ts, in.p, caplen, caplen + extra, c);
		free(c);
		if (n == 0 && want <= sizeof(buf) - off)
			abort();	/* refused a block that fits */
		if (n == 0)
			break;		/* the buffer is full: the caller writes it out first */
		if (n != want)
			abort();
		rec[nrec].ts = ts;
		rec[nrec].caplen = caplen;
		rec[nrec].origlen = caplen + extra;
		rec[nrec].data = in.p;
		nrec++;
		off += n;
		in.p += caplen;
		in.n -= caplen;
	}
	free(sc);
	free(name);

	FILE *f = fmemopen(buf, off, "rb");
	if (f == NULL)
		abort();
	pcap_t *p = pcap_fopen_offline_with_tstamp_precision(f, PCAP_TSTAMP_PRECISION_NANO, errbuf);
	if (p == NULL) {
		fprintf(stderr, "fuzz_pcapng: libpcap refuses the file: %s\n", errbuf);
		abort();
	}
	if (pcap_datalink(p) != dlt || (uint32_t)pcap_snapshot(p) != snap)
		abort();
	for (size_t k = 0; k < nrec; k++) {
		struct pcap_pkthdr *h;
		const u_char *d;
		int rc = pcap_next_ex(p, &h, &d);
		if (rc != 1) {
			fprintf(stderr, "fuzz_pcapng: frame %zu of %zu: %s\n", k, nrec, rc == -1 ? pcap_geterr(p) : "missing");
			abort();
		}
		uint64_t ts = (uint64_t)h->ts.tv_sec * 1000000000u + (uint64_t)h->ts.tv_usec;
		if (ts != rec[k].ts || h->caplen != rec[k].caplen || h->len != rec[k].origlen ||
		    memcmp(d, rec[k].data, h->caplen) != 0) {
			fprintf(stderr, "fuzz_pcapng: frame %zu differs: ts %llu/%llu caplen %u/%u len %u/%u\n", k,
			    (unsigned long long)ts, (unsigned long long)rec[k].ts, h->caplen, rec[k].caplen,
			    h->len, rec[k].origlen);
			abort();
		}
	}
	struct pcap_pkthdr *h;
	const u_char *d;
	if (pcap_next_ex(p, &h, &d) != -2)
		abort();	/* nothing after the last frame */
	pcap_close(p);
	return 0;
}
