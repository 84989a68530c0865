/* pcaploop.c — the bare libpcap read loop (pcap_next_ex, nothing else):
 * the ceiling for anything that reads a capture file. */
#include <pcap/pcap.h>
#include <stdio.h>

int
main(int argc, char **argv)
{
	char err[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr *h;
	const u_char *p;
	unsigned long long n = 0, bytes = 0;
	pcap_t *pc;

	if (argc != 2 || (pc = pcap_open_offline(argv[1], err)) == NULL) {
		fprintf(stderr, "usage: pcaploop FILE (%s)\n", argc == 2 ? err : "");
		return 1;
	}
	while (pcap_next_ex(pc, &h, &p) == 1) {
		n++;
		bytes += h->caplen;
	}
	printf("packets=%llu bytes=%llu\n", n, bytes);
	pcap_close(pc);
	return 0;
}
