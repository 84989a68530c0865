/*
 * source.c — capd's packet sources: live interfaces (one libpcap handle
 * each, opened, configured and activated while privileged) or one capture
 * file (only its descriptor is opened while privileged; libpcap parses it
 * after the drop).  Reading is driven by the event loop: a live handle's
 * selectable descriptor, or for a file a read event that re-arms itself,
 * paced by --speed and held back while a ring is full in block mode.
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <inttypes.h>
#include <limits.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "capd.h"
#include "log.h"
#include "util.h"

#define READ_BATCH 512

static void
source_on_live(evutil_socket_t fd, short what, void *arg);

static void
handle_packet(struct capd *C, int src, const struct pcap_pkthdr *h, const uint8_t *data)
{
	unsigned shard = 0;

	C->captured_packets++;
	C->captured_bytes += h->caplen;
	if (shard_dispatch(C, src, h, data, &shard) < 0) {
		/* Block mode, full ring: keep it until the shard has room. */
		C->pend = true;
		C->pend_shard = shard;
		C->pend_src = src;
		C->pend_hdr = *h;
		memcpy(C->pend_data, data, h->caplen);
	}
}

static void
live_cb(u_char *user, const struct pcap_pkthdr *h, const u_char *data)
{
	struct capd *C = (struct capd *)user;
	int src = 0;

	/* Which handle: pcap_dispatch is called per source with C as user;
	 * the source index rides in C->pend_src meanwhile. */
	src = C->pend_src;
	C->src[src].read++;
	handle_packet(C, src, h, data);
}

/*
 * The kernel capture buffer.  libpcap's default (2 MiB) loses packets in
 * an ordinary burst: with segmentation offload a veth or loopback frame is
 * tens of KB, and an 8 MB transfer dropped 100-500 packets in our runs
 * (tests/bench/bench-capbuf.sh; 8 MiB and more dropped none).  The default
 * is 64 MiB per interface, 8x that measured need, for a loaded machine.
 * In immediate mode libpcap uses TPACKET_V2, one fixed slot per packet
 * whatever its size (up to 64 KiB with offload), so the same bytes hold
 * far fewer packets: 256 MiB there.  -B / scapy_bufsize override both.
 */
#define CAPD_BUFFER_DEFAULT (64LL << 20)
#define CAPD_BUFFER_IMMEDIATE (256LL << 20)

/*
 * The capture timeout (io.input.capture.timeout_ms, 100 ms by default).
 * With TPACKET_V3 (every mode but immediate) the kernel hands over a block
 * of frames when it is full or when this many ms have passed since it
 * opened, so a frame can become readable up to that long after its
 * timestamp: at a low rate, the latency.  A shorter one costs next to
 * nothing while nothing comes (the kernel's timer hands over no empty
 * block).
 */
static int64_t
capture_timeout_ms(const struct capd *C)
{
	return C->c->capture_timeout_ms;	/* 1..1000, the schema's range */
}

/*
 * How far behind the wall clock a live tick stays.  A tick is a
 * watermark (no frame older than it follows: sinks close per-session
 * files and merge shards by it), so it must not pass a frame still in a
 * block the kernel has not handed over: the timeout, plus room for the
 * retire timer's granularity (a jiffy) and for being scheduled late.
 * Immediate mode hands each frame over at once: only that room.
 */
#define CAPD_TICK_ROOM_NS (20ULL * 1000000)

uint64_t
source_tick_lag_ns(const struct capd *C)
{
	if (C->speed < 0)
		return CAPD_TICK_ROOM_NS;
	return (uint64_t)capture_timeout_ms(C) * 1000000 + CAPD_TICK_ROOM_NS;
}

int64_t
capture_buffer_bytes(const struct capd *C)
{
	if (C->c->scapy_bufsize > 0)
		return C->c->scapy_bufsize;
	return C->speed < 0 ? CAPD_BUFFER_IMMEDIATE : CAPD_BUFFER_DEFAULT;
}

/*
 * The bytes of the kernel's capture ring behind a live handle, as mapped
 * (Linux: the handle's socket in /proc/self/maps), 0 where not known.
 * What it takes can be well over the buffer asked for: in immediate mode
 * (TPACKET_V2) libpcap makes each slot big enough for the largest frame
 * (64 KiB and its header with segmentation offload) and each kernel block
 * a power of two pages, one such slot to a 128 KiB block, twice the buffer.
 */
static uint64_t
ring_bytes_of(pcap_t *p)
{
	uint64_t total = 0;
#ifdef __linux__
	char want[64], line[PATH_MAX + 256];
	struct stat st;
	FILE *f;
	int fd = pcap_get_selectable_fd(p);

	if (fd < 0 || fstat(fd, &st) < 0 || (f = fopen("/proc/self/maps", "r")) == NULL)
		return 0;
	snprintf(want, sizeof(want), "socket:[%llu]", (unsigned long long)st.st_ino);
	while (fgets(line, sizeof(line), f) != NULL) {
		unsigned long long lo, hi;
		size_t n = strcspn(line, "\n");
		line[n] = '\0';
		if (n >= strlen(want) && strcmp(line + n - strlen(want), want) == 0 &&
		    sscanf(line, "%llx-%llx", &lo, &hi) == 2 && hi > lo)
			total += hi - lo;
	}
	fclose(f);
#else
	(void)p;
#endif
	return total;
}

uint64_t
source_ring_bytes(const struct capd *C)
{
	uint64_t most = 0;

	for (int k = 0; k < C->nsrc; k++)
		if (C->src[k].ring_bytes > most)
			most = C->src[k].ring_bytes;
	return most;
}

int
source_open_live(struct capd *C, const char *ifaces, char *err, size_t errlen)
{
	char *list = xstrdup(ifaces), *save = NULL;
	char perr[PCAP_ERRBUF_SIZE];

	for (char *name = strtok_r(list, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
		struct source *s;
		pcap_t *p;
		int r;

		while (*name == ' ')
			name++;
		if (C->nsrc == CAPD_MAX_IF) {
			snprintf(err, errlen, "more than %d interfaces", CAPD_MAX_IF);
			goto bad;
		}
		p = pcap_create(name, perr);
		if (p == NULL) {
			snprintf(err, errlen, "%s: %s", name, perr);
			goto bad;
		}
		pcap_set_snaplen(p, (int)C->c->snaplen);
		pcap_set_promisc(p, C->c->promisc ? 1 : 0);
		pcap_set_timeout(p, (int)capture_timeout_ms(C));
		pcap_set_buffer_size(p, (int)capture_buffer_bytes(C));
		pcap_set_tstamp_precision(p, PCAP_TSTAMP_PRECISION_NANO);
		if (C->speed < 0)	/* --immediate rides on a negative speed */
			pcap_set_immediate_mode(p, 1);
		r = pcap_activate(p);
		if (r == PCAP_ERROR_PERM_DENIED || (r == PCAP_ERROR && geteuid() != 0 &&
		    strstr(pcap_geterr(p), "ermission") != NULL)) {
			snprintf(err, errlen, "%s: no permission to capture (%s). Run capd as root, or give it the "
			    "capabilities: setcap cap_net_raw,cap_net_admin+ep %s", name, pcap_geterr(p), "capd");
			pcap_close(p);
			goto bad;
		}
		if (r == PCAP_ERROR_NO_SUCH_DEVICE) {
			C->iface_missing = true;
			snprintf(err, errlen, "%s: no such interface (%s)", name, pcap_geterr(p));
			pcap_close(p);
			goto bad;
		}
		if (r < 0) {
			snprintf(err, errlen, "%s: %s", name, pcap_geterr(p));
			pcap_close(p);
			goto bad;
		}
		if (r > 0)
			log_warnx("%s: %s", name, pcap_statustostr(r));
		s = &C->src[C->nsrc];
		memset(s, 0, sizeof(*s));
		s->p = p;
		s->ifid = C->nsrc;
		s->dlt = pcap_datalink(p);
		s->snaplen = pcap_snapshot(p);
		s->ring_bytes = ring_bytes_of(p);
		sth_strlcpy(s->name, name, sizeof(s->name));
		C->nsrc++;
	}
	free(list);
	if (C->nsrc == 0) {
		snprintf(err, errlen, "no interface given");
		return -1;
	}
	/* A socket for interface-state ioctls after the drop. */
	C->ifsock = socket(AF_INET, SOCK_DGRAM, 0);
	return 0;
bad:
	free(list);
	return -1;
}

int
source_open_file_fd(struct capd *C, const char *path, char *err, size_t errlen)
{
	C->in_name = path;
	C->in = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	if (C->in == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	C->file_mode = true;
	return 0;
}

/* After the drop: libpcap reads the file's header. */
int
source_start_file(struct capd *C, char *err, size_t errlen)
{
	char perr[PCAP_ERRBUF_SIZE];
	struct source *s = &C->src[0];
	pcap_t *p = pcap_fopen_offline_with_tstamp_precision(C->in, PCAP_TSTAMP_PRECISION_NANO, perr);

	if (p == NULL) {
		snprintf(err, errlen, "%s: %s", C->in_name, perr);
		return -1;
	}
	memset(s, 0, sizeof(*s));
	s->p = p;
	s->dlt = pcap_datalink(p);
	s->snaplen = pcap_snapshot(p);
	sth_strlcpy(s->name, C->in_name, sizeof(s->name));
	C->nsrc = 1;
	return 0;
}

int
source_set_filter(struct capd *C, const char *filter, char *err, size_t errlen)
{
	for (int k = 0; k < C->nsrc; k++) {
		struct bpf_program prog;
		if (pcap_compile(C->src[k].p, &prog, filter, 1, PCAP_NETMASK_UNKNOWN) < 0) {
			snprintf(err, errlen, "filter \"%s\": %s", filter, pcap_geterr(C->src[k].p));
			return -1;
		}
		if (pcap_setfilter(C->src[k].p, &prog) < 0) {
			snprintf(err, errlen, "%s: setting the filter: %s", C->src[k].name, pcap_geterr(C->src[k].p));
			pcap_freecode(&prog);
			return -1;
		}
		pcap_freecode(&prog);
	}
	return 0;
}

/* Reads from one live handle until it has nothing more (non-blocking). */
static void
live_drain(struct capd *C, int k)
{
	int n;

	if (C->pend)
		return;
	do {
		C->pend_src = k;
		n = pcap_dispatch(C->src[k].p, READ_BATCH, live_cb, (u_char *)C);
	} while (n > 0 && !C->pend && !C->stopping);
	if (n == PCAP_ERROR) {
		log_errorx("%s: %s: capture stopped", C->src[k].name, pcap_geterr(C->src[k].p));
		C->exit_code = CAPD_EXIT_IFACE_LOST;
		event_base_loopbreak(C->base);
	}
	shards_flush(C);
}

static void
source_on_live(evutil_socket_t fd, short what, void *arg)
{
	struct capd *C = arg;

	(void)fd;
	(void)what;
	for (int k = 0; k < C->nsrc; k++)
		live_drain(C, k);
}

/* The capture time of a paced replay: where the original clock is now. */
static uint64_t
pace_target_mono(struct capd *C, uint64_t ts)
{
	return C->start_mono_ns + (uint64_t)((double)(ts - C->first_ts_ns) / C->speed);
}

static void
file_read(evutil_socket_t fd, short what, void *arg)
{
	struct capd *C = arg;
	struct pcap_pkthdr *h;
	const u_char *data;
	int r = 1;

	(void)fd;
	(void)what;
	if (C->pend || C->eof || C->stopping)
		return;
	if (C->serve && C->block && !shards_all_connected(C))
		return;		/* a lossless replay waits for every shard */
	for (int n = 0; n < READ_BATCH && !C->pend; n++) {
		r = pcap_next_ex(C->src[0].p, &h, &data);
		if (r != 1)
			break;
		if (C->speed > 0) {
			uint64_t ts = capd_ts_ns(h);
			if (C->first_ts_ns == 0) {
				C->first_ts_ns = ts;
				C->start_mono_ns = now_mono_ns();
			}
			uint64_t due = ts < C->first_ts_ns ? C->start_mono_ns : pace_target_mono(C, ts);
			uint64_t now = now_mono_ns();
			if (due > now + 1000000) {
				/* Not yet: keep it and come back at its time. */
				struct timeval tv = { (time_t)((due - now) / NSEC_PER_SEC),
				    (suseconds_t)(((due - now) % NSEC_PER_SEC) / 1000) };
				C->captured_packets++;
				C->captured_bytes += h->caplen;
				C->pend = true;
				C->pend_src = 0;
				C->pend_hdr = *h;
				C->pend_shard = (unsigned)-1;	/* not dispatched yet */
				memcpy(C->pend_data, data, h->caplen);
				shards_flush(C);
				event_add(C->ev_pace, &tv);
				return;
			}
		}
		handle_packet(C, 0, h, data);
	}
	shards_flush(C);
	if (r == 1 || C->pend) {
		if (!C->pend)
			event_active(C->ev_read, EV_TIMEOUT, 0);
		return;
	}
	if (r == PCAP_ERROR)
		log_warnx("%s: %s (stopping at the last good packet)", C->in_name, pcap_geterr(C->src[0].p));
	C->eof = true;
	log_info("%s: end of file after %llu packets", C->in_name, (unsigned long long)C->captured_packets);
	event_base_loopbreak(C->base);
}

/* Hands on the packet held back, then reads on. */
void
source_resume(struct capd *C)
{
	if (C == NULL || C->stopping)
		return;
	if (C->pend) {
		struct capd *c = C;
		if (c->pend_shard == (unsigned)-1) {
			/* A paced packet whose time has come. */
			unsigned shard = 0;
			c->pend = false;
			if (shard_dispatch(c, c->pend_src, &c->pend_hdr, c->pend_data, &shard) < 0) {
				c->pend = true;
				c->pend_shard = shard;
				return;
			}
		} else if (c->serve) {
			if (shard_push(c, c->pend_shard, c->pend_src, &c->pend_hdr, c->pend_data) < 0)
				return;
			c->pend = false;
		} else
			c->pend = false;
		shards_flush(c);
	}
	if (C->file_mode)
		event_active(C->ev_read, EV_TIMEOUT, 0);
	else
		for (int k = 0; k < C->nsrc; k++)
			live_drain(C, k);
}

static void
on_pace(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	source_resume(arg);
}

void
source_arm(struct capd *C)
{
	C->pend_data = xmalloc(262144 + 64);
	C->ev_pace = event_new(C->base, -1, 0, on_pace, C);
	if (C->file_mode) {
		C->ev_read = event_new(C->base, -1, 0, file_read, C);
		event_active(C->ev_read, EV_TIMEOUT, 0);
		return;
	}
	for (int k = 0; k < C->nsrc; k++) {
		int fd;
		char perr[PCAP_ERRBUF_SIZE];
		if (pcap_setnonblock(C->src[k].p, 1, perr) < 0)
			log_warnx("%s: %s", C->src[k].name, perr);
		fd = pcap_get_selectable_fd(C->src[k].p);
		if (fd >= 0) {
			C->src[k].ev = event_new(C->base, fd, EV_READ | EV_PERSIST, source_on_live, C);
			event_add(C->src[k].ev, NULL);
		}
	}
}

/*
 * Live, at a stop or a restart: the kernel hands a buffer block to capd
 * when the block fills or when its timeout (timeout_ms) passes, so what it
 * captured just before the signal may sit in a block nobody can read yet
 * (a short transfer then a SIGTERM: all of it).  The loop runs on for the
 * timeout and FINAL_DRAIN_ROOM_MS more (250 ms by default), reading as
 * blocks come and waiting for ring space as usual; a second signal ends it
 * at once.  What the kernel says it kept for capd and capd never read is
 * counted as capture_unread.
 */
#define FINAL_DRAIN_ROOM_MS 150

static void
on_drain_end(evutil_socket_t fd, short what, void *arg)
{
	struct capd *C = arg;

	(void)fd;
	(void)what;
	for (int k = 0; k < C->nsrc; k++)
		live_drain(C, k);
	C->stopping = true;
	event_base_loopbreak(C->base);
}

void
source_final_drain(struct capd *C)
{
	struct timeval tv = timeval_of_ms(capture_timeout_ms(C) + FINAL_DRAIN_ROOM_MS);
	struct event *ev;

	if (C->file_mode || C->exit_code == CAPD_EXIT_IFACE_LOST)
		return;
	C->stopping = false;
	ev = evtimer_new(C->base, on_drain_end, C);
	evtimer_add(ev, &tv);
	for (int k = 0; k < C->nsrc; k++)
		live_drain(C, k);
	event_base_dispatch(C->base);
	event_free(ev);
	C->stopping = true;
	source_read_stats(C);
	for (int k = 0; k < C->nsrc; k++) {
		struct source *s = &C->src[k];
		/* ps_recv counts the kernel's drops too (Linux adds tp_drops
		 * to tp_packets); elsewhere it may count what the filter
		 * refused, so only a positive rest is believed */
#ifdef __linux__
		uint64_t kept = s->received > s->kernel_drops ? s->received - s->kernel_drops : 0;
		s->unread = kept > s->read ? kept - s->read : 0;
#endif
		if (s->unread > 0)
			log_warnx("%s: %" PRIu64 " packets the kernel captured were unread at the stop "
			    "(capture_unread)", s->name, s->unread);
	}
}

void
source_read_stats(struct capd *C)
{
	for (int k = 0; k < C->nsrc && !C->file_mode; k++) {
		struct source *s = &C->src[k];
		struct pcap_stat st;
		if (pcap_stats(s->p, &st) < 0)
			continue;
		/* The counters are 32-bit and wrap: add the differences. */
		s->kernel_drops += (uint32_t)(st.ps_drop - s->last.ps_drop);
		s->if_drops += (uint32_t)(st.ps_ifdrop - s->last.ps_ifdrop);
		s->received += (uint32_t)(st.ps_recv - s->last.ps_recv);
		s->last = st;
	}
}

/* Returns -1 (and says why) when a live interface went away or down. */
int
source_check_ifaces(struct capd *C)
{
	for (int k = 0; k < C->nsrc && !C->file_mode && C->ifsock >= 0; k++) {
		struct ifreq ifr;
		if (strcmp(C->src[k].name, "any") == 0)
			continue;
		memset(&ifr, 0, sizeof(ifr));
		sth_strlcpy(ifr.ifr_name, C->src[k].name, sizeof(ifr.ifr_name));
		if (ioctl(C->ifsock, SIOCGIFFLAGS, &ifr) < 0) {
			log_errorx("%s: interface went away (%s)", C->src[k].name, strerror(errno));
			return -1;
		}
		if (!(ifr.ifr_flags & IFF_UP)) {
			log_errorx("%s: interface is down", C->src[k].name);
			return -1;
		}
	}
	return 0;
}
