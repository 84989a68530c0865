/*
 * capd.h — the capture daemon's state, shared by its files: main.c
 * (start-up, privilege drop, loop), source.c (libpcap handles: live
 * interfaces or a file, pacing, counters), shard.c (the reasmd shards on
 * capd.sock: hello, rings, packets, ticks).
 */
#ifndef CAPD_H
#define CAPD_H

#include <pcap/pcap.h>
#include <stdbool.h>
#include <stdint.h>
#include <event2/event.h>

#include "conf.h"
#include "ringev.h"
#include "wire.h"

#define CAPD_MAX_IF 16
#define CAPD_EXIT_IFACE_LOST 3	/* distinct status: the launcher restarts capd */

struct shard {
	unsigned idx;
	struct ringev *re;		/* NULL while no reasmd is connected */
	uint64_t handed_packets, handed_bytes;
	uint64_t ring_full_packets, ring_full_bytes;
	uint64_t disconnects;
};

struct source {
	pcap_t *p;
	char name[64];
	int ifid, dlt, snaplen;
	struct event *ev;
	struct pcap_stat last;		/* the kernel's counters as last read */
	uint64_t kernel_drops, if_drops, received;
	uint64_t read;			/* packets capd read from this handle */
	uint64_t unread;		/* captured by the kernel, unread at the stop */
	uint64_t ring_bytes;		/* the kernel's ring as mapped, 0 = not known */
};

struct capd {
	struct event_base *base;
	struct conf *c;
	unsigned nshards;
	struct shard *shards;
	struct shard_frags *frags;	/* where tunnels' fragmented datagrams went (shards > 1) */
	bool serve;			/* shards on capd.sock */
	bool iface_missing;		/* the live interface does not exist (exit 3) */
	int lfd;
	struct acceptor *acc;		/* capd.sock: consumers' hellos, never blocking */
	struct source src[CAPD_MAX_IF];
	int nsrc;
	bool file_mode, block, eof, stopping;
	bool keep_shards;		/* SIGUSR2: stop without ending the shards' input */
	double speed;
	FILE *in;			/* -r: opened before the drop */
	const char *in_name;
	pcap_dumper_t *dumper;
	FILE *wfile;			/* -w: opened before the drop */
	int ifsock;			/* for interface-state ioctls */
	uint64_t captured_packets, captured_bytes;
	uint64_t last_ts_ns;		/* capture time */
	uint64_t first_ts_ns, start_mono_ns;	/* --speed pacing */
	uint64_t not_ip_packets;
	struct event *ev_read, *ev_tick, *ev_stats, *ev_pace;
	/* A packet read but not yet handed on (full ring in block mode, or
	 * waiting for its time under --speed). */
	bool pend;
	unsigned pend_shard;
	int pend_src;
	struct pcap_pkthdr pend_hdr;
	uint8_t *pend_data;
	int exit_code;
	struct ctlc *ctl;		/* --ctl: counters to ctld */
	void (*resume)(struct capd *);	/* shard.c: the capture may go on */
};

/* source.c */
/* The kernel capture buffer each interface gets (-B, scapy_bufsize, or the
 * default for the mode). */
int64_t capture_buffer_bytes(const struct capd *C);
int source_open_live(struct capd *C, const char *ifaces, char *err, size_t errlen);
int source_open_file_fd(struct capd *C, const char *path, char *err, size_t errlen);
int source_start_file(struct capd *C, char *err, size_t errlen);
int source_set_filter(struct capd *C, const char *filter, char *err, size_t errlen);
void source_arm(struct capd *C);
void source_resume(struct capd *C);
uint64_t source_tick_lag_ns(const struct capd *C);
uint64_t source_ring_bytes(const struct capd *C);
void source_read_stats(struct capd *C);
void source_final_drain(struct capd *C);
int source_check_ifaces(struct capd *C);

/* shard.c: the shards.  It knows nothing of the sources: when a ring has
 * room again or a shard comes or goes, it calls `resume` (main.c passes
 * source_resume), which takes up a capture held back in block mode. */
void shard_listen_events(struct capd *C, void (*resume)(struct capd *));
/* Hands one packet on: -w, then its shard's ring.  Returns 0, or -1 when
 * the shard's ring is full in block mode (the caller keeps the packet). */
int shard_dispatch(struct capd *C, int src, const struct pcap_pkthdr *h,
    const uint8_t *data, unsigned *shard_out);
int shard_push(struct capd *C, unsigned shard, int src, const struct pcap_pkthdr *h,
    const uint8_t *data);
unsigned shard_of(struct capd *C, int dlt, const uint8_t *data, uint32_t caplen);
bool shards_all_connected(const struct capd *C);
void shards_tick(struct capd *C, uint64_t ts_ns);
void shards_flush(struct capd *C);
void shards_close(struct capd *C);
void capd_print_counters(struct capd *C, FILE *f);
/* Every counter of the table (common/counters.h) capd keeps. */
struct ctr_enc;
void capd_counters(const struct capd *C, struct ctr_enc *e);
uint64_t capd_ts_ns(const struct pcap_pkthdr *h);

#endif
