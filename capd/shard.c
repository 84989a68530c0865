/*
 * shard.c — capd's consumers: one reasmd per shard, each on its own ring.
 *
 * A shard connects to capd.sock and says which shard it is (N of W); capd
 * answers with a fresh sealed ring.  Packets go to shard
 * hash(unordered address pair) * W / 2^32, so both directions of a connection
 * and every fragment of a datagram meet in one shard; a tunnel's packets
 * by the pair inside (decode_shard).  A full ring drops
 * and counts (ring_full, packets and bytes, per shard) in drop mode, or
 * holds the capture back in block mode; a shard that is not connected has
 * its packets counted under ring_full too.  Every 100 ms each shard gets a
 * tick with the capture time.
 */
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "acceptor.h"
#include "capd.h"
#include "chan.h"
#include "counters.h"
#include "decode.h"
#include "log.h"
#include "util.h"

uint64_t
capd_ts_ns(const struct pcap_pkthdr *h)
{
	/* The handles are opened with nanosecond precision. */
	/* Capture files hold seconds as an unsigned 32-bit field (libpcap
	 * reads it signed): times after 2038 stay after 2038. */
	return (uint64_t)(uint32_t)h->ts.tv_sec * NSEC_PER_SEC + (uint64_t)h->ts.tv_usec;
}

unsigned
shard_of(struct capd *C, int dlt, const uint8_t *data, uint32_t caplen)
{
	return decode_shard_quick(dlt, data, caplen, C->nshards, C->c->voip_enabled,
	    C->c->sip_ports.v, C->c->sip_ports.n, C->frags);
}

static struct capd *shard_capd;	/* the one capd of this process */

static void
shard_space(struct ringev *re, void *arg)
{
	(void)re;
	(void)arg;
	shard_capd->resume(shard_capd);
}

static void
shard_lost(struct ringev *re, void *arg)
{
	struct shard *S = arg;

	(void)re;
	log_warnx("shard %u disconnected; its packets are counted as ring_full until it reconnects", S->idx);
	S->disconnects++;
	ringev_free(S->re);
	S->re = NULL;
	/* A capture held back for this shard goes on (its packets drop). */
	shard_capd->resume(shard_capd);
}

static void
shard_send_interfaces(struct capd *C, struct shard *S)
{
	for (int k = 0; k < C->nsrc; k++) {
		struct rec_interface i = { (uint32_t)C->src[k].ifid, (uint32_t)C->src[k].dlt,
		    (uint32_t)C->src[k].snaplen, (uint32_t)strlen(C->src[k].name) };
		ringev_push(S->re, REC_INTERFACE, &i, sizeof(i), C->src[k].name, i.name_len);
	}
	ringev_flush(S->re);
}

/* A consumer said hello (acceptor.c read it without blocking the loop). */
static void
shard_on_hello(int fd, const struct msg_hello *hp, void *arg)
{
	struct capd *C = arg;
	struct msg_hello h = *hp;
	struct shard *S;

	if (h.role != ROLE_REASMD && h.role != ROLE_DUMP) {
		acceptor_refuse(C->acc, fd, "%s: capd.sock serves reasmd shards; a sink connects to "
		    "reasmd.N.sock", h.name);
		return;
	}
	if (h.nshards != C->nshards || h.shard >= C->nshards) {
		acceptor_refuse(C->acc, fd, "capd runs %u shard%s (runtime.workers); %s asked for "
		    "shard %u/%u", C->nshards, C->nshards == 1 ? "" : "s", h.name, h.shard, h.nshards);
		return;
	}
	S = &C->shards[h.shard];
	if (S->re != NULL) {
		acceptor_refuse(C->acc, fd, "shard %u/%u is already connected", h.shard, h.nshards);
		return;
	}
	S->re = acceptor_attach(C->acc, fd, &h, (size_t)C->c->ring_bytes, h.shard, C->block,
	    shard_space, shard_lost, S);
	if (S->re == NULL)
		return;
	log_info("shard %u/%u connected (%s)", h.shard, h.nshards, h.name);
	shard_send_interfaces(C, S);
	C->resume(C);
}

void
shard_listen_events(struct capd *C, void (*resume)(struct capd *))
{
	shard_capd = C;
	C->resume = resume;
	C->acc = acceptor_new(C->base, C->lfd, "a consumer", 2000, 64, shard_on_hello, C);
}

bool
shards_all_connected(const struct capd *C)
{
	for (unsigned k = 0; k < C->nshards; k++)
		if (C->shards[k].re == NULL)
			return false;
	return true;
}

int
shard_push(struct capd *C, unsigned shard, int src, const struct pcap_pkthdr *h,
    const uint8_t *data)
{
	struct shard *S = &C->shards[shard];
	struct rec_packet p = { capd_ts_ns(h), 0, (uint32_t)C->src[src].ifid, h->caplen,
	    h->len < h->caplen ? h->caplen : h->len, 0, 0, { 0 } };
	size_t bytes = sizeof(struct wire_rec) + sizeof(p) + h->caplen;

	if (S->re == NULL) {
		S->ring_full_packets++;
		S->ring_full_bytes += h->caplen;
		return 0;
	}
	if (ringev_push(S->re, REC_PACKET, &p, sizeof(p), data, h->caplen) < 0) {
		if (C->block && !ringev_lost(S->re) && bytes <= ring_max_record(ringev_ring(S->re)))
			return -1;	/* held back: shard_space resumes */
		S->ring_full_packets++;
		S->ring_full_bytes += h->caplen;
		return 0;
	}
	S->handed_packets++;
	S->handed_bytes += h->caplen;
	return 0;
}

int
shard_dispatch(struct capd *C, int src, const struct pcap_pkthdr *h,
    const uint8_t *data, unsigned *shard_out)
{
	unsigned s;

	C->last_ts_ns = capd_ts_ns(h);
	if (C->dumper != NULL)
		pcap_dump((u_char *)C->dumper, h, data);
	if (!C->serve)
		return 0;
	s = shard_of(C, C->src[src].dlt, data, h->caplen);
	*shard_out = s;
	return shard_push(C, s, src, h, data);
}

void
shards_tick(struct capd *C, uint64_t ts_ns)
{
	struct rec_tick t = { ts_ns };

	for (unsigned k = 0; k < C->nshards; k++)
		if (C->shards[k].re != NULL) {
			ringev_push(C->shards[k].re, REC_TICK, &t, sizeof(t), NULL, 0);
			ringev_flush(C->shards[k].re);
		}
}

void
shards_flush(struct capd *C)
{
	for (unsigned k = 0; k < C->nshards; k++)
		if (C->shards[k].re != NULL)
			ringev_flush(C->shards[k].re);
}

void
shards_close(struct capd *C)
{
	for (unsigned k = 0; k < C->nshards; k++)
		if (C->shards[k].re != NULL) {
			ringev_push(C->shards[k].re, REC_EOS, NULL, 0, NULL, 0);
			ringev_close_producer(C->shards[k].re);
		}
}

void
capd_print_counters(struct capd *C, FILE *f)
{
	uint64_t handed = 0, full = 0, kernel = 0;

	for (unsigned k = 0; k < C->nshards; k++) {
		handed += C->shards[k].handed_packets;
		full += C->shards[k].ring_full_packets;
	}
	fprintf(f, "capd: captured %" PRIu64 " packets (%" PRIu64 " bytes): handed to shards %" PRIu64
	    ", ring_full %" PRIu64 "\n", C->captured_packets, C->captured_bytes, handed, full);
	for (unsigned k = 0; C->serve && k < C->nshards; k++) {
		struct shard *S = &C->shards[k];
		fprintf(f, "capd: shard %u: handed %" PRIu64 " packets (%" PRIu64 " bytes), ring_full %"
		    PRIu64 " packets (%" PRIu64 " bytes), disconnects %" PRIu64 "%s\n", k,
		    S->handed_packets, S->handed_bytes, S->ring_full_packets, S->ring_full_bytes,
		    S->disconnects, S->re ? "" : " (not connected)");
	}
	if (C->serve)
		fprintf(f, "capd: peers_dropped %" PRIu64 " (bad or silent hellos, refused consumers)\n",
		    acceptor_dropped(C->acc));
	for (int k = 0; k < C->nsrc; k++) {
		struct source *s = &C->src[k];
		if (C->file_mode)
			continue;
		kernel += s->kernel_drops + s->if_drops;
		fprintf(f, "capd: %s: pcap_kernel %" PRIu64 " packets (dropped by the kernel %" PRIu64
		    ", by the interface %" PRIu64 "), received %" PRIu64 ", capture_unread %" PRIu64 "\n",
		    s->name, s->kernel_drops + s->if_drops, s->kernel_drops, s->if_drops, s->received,
		    s->unread);
	}
	(void)kernel;
	fflush(f);
}

void
capd_counters(const struct capd *C, struct ctr_enc *e)
{
	char k[16];

	ctr_set(e, CTR_CAPTURED, C->captured_packets);
	ctr_set(e, CTR_CAPTURED_BYTES, C->captured_bytes);
	ctr_set(e, CTR_PEERS_DROPPED, acceptor_dropped(C->acc));
	ctr_declare(e, CTR_HANDED);
	ctr_declare(e, CTR_RING_FULL);
	ctr_declare(e, CTR_RING_FULL_BYTES);
	ctr_declare(e, CTR_SHARD_DISCONNECTS);
	for (unsigned i = 0; i < C->nshards; i++) {
		const struct shard *S = &C->shards[i];
		snprintf(k, sizeof(k), "%u", i);
		ctr_set_label(e, CTR_HANDED, k, S->handed_packets);
		ctr_set_label(e, CTR_RING_FULL, k, S->ring_full_packets);
		ctr_set_label(e, CTR_RING_FULL_BYTES, k, S->ring_full_bytes);
		ctr_set_label(e, CTR_SHARD_DISCONNECTS, k, S->disconnects);
	}
	ctr_declare(e, CTR_PCAP_KERNEL);
	ctr_declare(e, CTR_IF_RECEIVED);
	ctr_declare(e, CTR_CAPTURE_UNREAD);
	for (int i = 0; i < C->nsrc && !C->file_mode; i++) {
		const struct source *s = &C->src[i];
		ctr_set_label(e, CTR_PCAP_KERNEL, s->name, s->kernel_drops + s->if_drops);
		ctr_set_label(e, CTR_IF_RECEIVED, s->name, s->received);
		ctr_set_label(e, CTR_CAPTURE_UNREAD, s->name, s->unread);
	}
}
