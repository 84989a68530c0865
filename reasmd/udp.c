/*
 * udp.c — UDP datagrams: counted, offered to the analysers that claim
 * their ports or content (analyser.h; a SIP message or an RTP packet), and
 * passed on as packets (a rolling pcap file has every frame), tagged with
 * the calls the analyser says they belong to.  UDP keeps
 * no flow table of its own: an analyser keeps what it needs (calls span
 * flows), bounded by its own limits.
 */
#include "analyser.h"
#include "reasmd.h"

void
udp_datagram(struct reasm *R, const struct decoded *d, const struct frame *fr, size_t nfr)
{
	R->st.udp_packets++;
	R->st.udp_bytes += d->payload_len;
	R->ntags = 0;
	an_datagram(R, d, nfr > 0 ? fr[nfr - 1].ts_ns : R->now_ns);
	/* with the calls the analyser found it belongs to (a SIP message's,
	 * the RTP of calls) */
	for (size_t k = 0; k < nfr; k++)
		fan_packet(R, NULL, 0, &fr[k], R->tags, R->ntags);
	R->ntags = 0;
}
