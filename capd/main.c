/*
 * capd/main.c — the capture daemon: the only privileged process.
 *
 * Reads top to bottom: options and configuration; acquire what needs
 * privileges (capture handles opened, configured, activated and filtered;
 * for -r only the file's descriptor; the -w output; capd.sock bound); drop
 * privileges (chroot to an empty directory, setgroups, setresgid,
 * setresuid, no_new_privs, verified) and enter the sandbox; then read
 * packets, hand them to the shards and to -w, until the end of the file,
 * SIGTERM/SIGINT (flush the rings, exit 0) or a lost interface (exit 3).
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "acceptor.h"
#include "capd.h"
#include "counters.h"
#include "ctlc.h"
#include "decode.h"
#include "chan.h"
#include "log.h"
#include "opts.h"
#include "privdrop.h"
#include "sandbox.h"
#include "util.h"

enum { OPT_SPEED = OPT_DAEMON_BASE, OPT_NO_PROMISC, OPT_IMMEDIATE, OPT_TIMEOUT, OPT_SHARDS, OPT_CTL };

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: capd -i IFACE[,IFACE...]|any [options]\n"
	    "       capd -r FILE|- [--speed X] [options]\n"
	    "The privileged capture daemon of stethoscope: captures packets, drops its\n"
	    "privileges before reading any, and hands them to the reasmd shards on\n"
	    "RUN_DIR/capd.sock and/or writes them as pcap (-w).\n\n"
	    "  -i IFACE            capture on IFACE (also \"a,b\" or \"any\"); io.input.capture.iface\n"
	    "  -r FILE|-           read a pcap/pcapng file or stdin instead\n"
	    "      --speed X       pace a replay at X times the original rate (0: as fast as possible)\n"
	    "  -f FILTER           BPF filter (else the config's bpf-filter template, else \"tcp\")\n"
	    "  -s SNAPLEN          bytes captured per packet (io.input.capture.snaplen)\n"
	    "  -B KIB              capture buffer in KiB, as tcpdump -B (scapy_bufsize, in bytes);\n"
	    "                      default 65536 (64 MiB), 262144 with --immediate\n"
	    "      --no-promisc    do not put the interface in promiscuous mode\n"
	    "      --immediate     deliver packets at once (low latency, more wake-ups)\n"
	    "      --timeout MS    the kernel hands over a block of packets at most MS ms\n"
	    "                      after its first: the latency at a low rate (1..1000,\n"
	    "                      default 100, not with --immediate; timeout_ms)\n"
	    "  -w FILE|-           also write the packets as pcap (like tcpdump -w)\n"
	    "  -Z USER             user to run as after opening the capture (runtime.capture_user)\n"
	    "      --shards W      number of reasmd shards (runtime.workers)\n"
	    "      --ctl SOCK      send the counters to ctld every second (RUN/ctld.sock)\n"
	    "Exit status: 0 done (end of file, SIGTERM), 1 error, 2 bad usage or config,\n"
	    "3 a live interface went away, is down or does not exist.  SIGUSR1 prints the\n"
	    "counters.\n\n"
	    "%s", opts_common_help);
}

static struct capd C;

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	(void)arg;
	if (sig == SIGUSR1) {
		struct onewrite ow;
		source_read_stats(&C);
		capd_print_counters(&C, onewrite_open(&ow, stderr));
		onewrite_close(&ow);
		return;
	}
	if (sig == SIGUSR2) {
		/* stethoscope-run restarts capd for a new capture (a reload):
		 * the shards' input does not end, they keep their sessions */
		log_info("SIGUSR2: stopping for a restart (the shards keep their sessions)");
		C.keep_shards = true;
		C.stopping = true;
		event_base_loopbreak(C.base);
		return;
	}
	log_info("%s: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	C.stopping = true;
	event_base_loopbreak(C.base);
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	uint64_t t;

	(void)fd;
	(void)what;
	(void)arg;
	if (!C.file_mode) {
		/* Live: also drain handles whose descriptors stay quiet until
		 * a buffer block fills; then tick with the time no frame still
		 * in the kernel can be older than (the tick is a watermark). */
		source_resume(&C);
		t = now_wall_ns() - source_tick_lag_ns(&C);
	} else if (C.speed > 0 && C.first_ts_ns != 0)
		t = C.first_ts_ns + (uint64_t)((double)(now_mono_ns() - C.start_mono_ns) * C.speed);
	else
		t = C.last_ts_ns;
	if (t > C.last_ts_ns && !C.file_mode)
		C.last_ts_ns = t;
	shards_tick(&C, t);
	if (C.dumper != NULL && pcap_dump_flush(C.dumper) < 0) {
		/* The reader of a pipe went away, or the disk is full: say so
		 * and stop writing; with nothing else to feed, stop. */
		log_warn("-w: writing the packets failed; -w is off from now on");
		pcap_dump_close(C.dumper);
		C.dumper = NULL;
		if (!C.serve) {
			C.exit_code = 1;
			event_base_loopbreak(C.base);
		}
	}
}

static bool counters_final;

static void
on_stats(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	source_read_stats(&C);
	if (C.ctl != NULL) {
		struct ctr_enc *e = ctr_enc_new(OWN_CAPD);
		capd_counters(&C, e);
		ctr_set(e, CTR_CTL_DROPPED, ctlc_dropped(C.ctl));
		const char *line = ctr_enc_line(e, counters_final);
		ctlc_send(C.ctl, line, strlen(line));
		ctr_enc_free(e);
	}
	if (!counters_final && source_check_ifaces(&C) < 0) {
		C.exit_code = CAPD_EXIT_IFACE_LOST;
		event_base_loopbreak(C.base);
	}
}

/* Frees what the loop used (the sanitizers check that nothing leaks). */
static void
capd_free(struct capd *c)
{
	for (unsigned k = 0; k < c->nshards; k++)
		if (c->shards[k].re != NULL)
			ringev_free(c->shards[k].re);
	free(c->shards);
	free(c->frags);
	for (int k = 0; k < c->nsrc; k++) {
		if (c->src[k].ev)
			event_free(c->src[k].ev);
		pcap_close(c->src[k].p);
	}
	acceptor_free(c->acc);
	if (c->ev_read)
		event_free(c->ev_read);
	if (c->ev_pace)
		event_free(c->ev_pace);
	event_free(c->ev_tick);
	event_free(c->ev_stats);
	event_base_free(c->base);
	free(c->pend_data);
	if (c->lfd >= 0)
		close(c->lfd);
	if (c->ifsock >= 0)
		close(c->ifsock);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		COMMON_LONGOPTS,
		{ "speed", required_argument, NULL, OPT_SPEED },
		{ "no-promisc", no_argument, NULL, OPT_NO_PROMISC },
		{ "immediate", no_argument, NULL, OPT_IMMEDIATE },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "shards", required_argument, NULL, OPT_SHARDS },
		{ "ctl", required_argument, NULL, OPT_CTL },
		{ NULL, 0, NULL, 0 },
	};
	struct daemon_opts o;
	struct conf c;
	const char *wpath = NULL, *filter_arg = NULL, *ctl_path = NULL;
	char err[512], bufsize[32], pathbuf[512], mode[64];
	bool immediate = false;
	int ch;

	opts_init(&o, "capd");
	memset(&C, 0, sizeof(C));
	C.lfd = -1;
	C.ifsock = -1;
	while ((ch = getopt_long(argc, argv, COMMON_SHORTOPTS "i:r:f:s:B:w:Z:", longopts, NULL)) != -1) {
		if (opts_common(&o, ch, optarg))
			continue;
		switch (ch) {
		case 'i': opts_override(&o, "io.input.capture.iface", optarg); break;
		case 'r': opts_override(&o, "io.input.capture.file", optarg); break;
		case 'f': filter_arg = optarg; opts_override(&o, "io.input.capture.bpf-filter", optarg); break;
		case 's': opts_override(&o, "io.input.capture.snaplen", optarg); break;
		case 'B': {
			uint64_t kib;
			if (parse_u64(optarg, 1, 2u * 1024 * 1024, &kib) < 0) {
				fprintf(stderr, "capd: -B: expected a buffer size in KiB, found \"%s\"\n", optarg);
				return 2;
			}
			snprintf(bufsize, sizeof(bufsize), "%llu", (unsigned long long)kib * 1024);
			opts_override(&o, "io.input.capture.scapy_bufsize", bufsize);
			break;
		}
		case 'w': wpath = optarg; break;
		case 'Z': opts_override(&o, "runtime.capture_user", optarg); break;
		case OPT_SPEED: {
			char *end;
			C.speed = strtod(optarg, &end);
			if (*optarg == '\0' || *end != '\0' || C.speed < 0 || C.speed > 1e6) {
				fprintf(stderr, "capd: --speed: expected a rate factor >= 0, found \"%s\"\n", optarg);
				return 2;
			}
			break;
		}
		case OPT_NO_PROMISC: opts_override(&o, "io.input.capture.promisc", "false"); break;
		case OPT_IMMEDIATE: immediate = true; break;
		case OPT_TIMEOUT: opts_override(&o, "io.input.capture.timeout_ms", optarg); break;
		case OPT_SHARDS: opts_override(&o, "runtime.workers", optarg); break;
		case OPT_CTL: ctl_path = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "capd: unexpected argument \"%s\"\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	opts_load_config(&o, &c);
	C.c = &c;
	C.nshards = (unsigned)c.workers;
	C.shards = xcalloc(C.nshards, sizeof(*C.shards));
	if (C.nshards > 1)
		C.frags = xcalloc(1, sizeof(*C.frags));
	for (unsigned k = 0; k < C.nshards; k++)
		C.shards[k].idx = k;
	C.block = c.overflow == OVERFLOW_BLOCK;
	/* Shards are served unless capd only writes a pipe (-w without --run-dir). */
	C.serve = wpath == NULL || o.run_dir != NULL;
	if (c.file == NULL && c.iface == NULL) {
		log_errorx("nothing to capture: give -i IFACE or -r FILE (or io.input.capture.iface/file)");
		usage(stderr);
		free(C.shards);
		conf_free(&c);
		return 2;
	}
	immediate = immediate || c.immediate;	/* --immediate, or the key */
	if (immediate && c.file == NULL)
		C.speed = -1;	/* see source_open_live */

	/* ---- acquire, privileged ---- */
	if (c.file != NULL) {
		if (source_open_file_fd(&C, c.file, err, sizeof(err)) < 0)
			fatalx("%s", err);
	} else {
		char *filter;
		if (source_open_live(&C, c.iface, err, sizeof(err)) < 0) {
			if (C.iface_missing) {
				/* the launcher waits for it (status 3) */
				log_errorx("%s", err);
				exit(CAPD_EXIT_IFACE_LOST);
			}
			fatalx("%s", err);
		}
		filter = conf_capture_filter(&c);
		if (source_set_filter(&C, filter, err, sizeof(err)) < 0)
			fatalx("%s", err);
		if (immediate)
			snprintf(mode, sizeof(mode), "immediate mode");
		else
			snprintf(mode, sizeof(mode), "blocks handed over within %lld ms", (long long)c.capture_timeout_ms);
		log_info("capturing on %s with filter \"%s\", capture buffer %lld MiB per interface%s, %s", c.iface, filter,
		    (long long)(capture_buffer_bytes(&C) >> 20), c.scapy_bufsize > 0 ? "" : " (default)", mode);
		/* what the kernel's ring really takes, where it is more */
		if (source_ring_bytes(&C) > (uint64_t)capture_buffer_bytes(&C) + (capture_buffer_bytes(&C) >> 2))
			log_warnx("the kernel's capture ring takes %llu MiB per interface for the %lld MiB asked:%s "
			    "lower scapy_bufsize (capd -B) bounds it", (unsigned long long)(source_ring_bytes(&C) >> 20),
			    (long long)(capture_buffer_bytes(&C) >> 20),
			    immediate ? " immediate mode keeps a fixed slot a packet (64 KiB with segmentation "
			    "offload) in whole blocks; io.input.capture.timeout_ms gives low latency with packed "
			    "blocks instead;" : "");
		free(filter);
		if (immediate)
			C.speed = 0;
	}
	if (wpath != NULL) {
		C.wfile = strcmp(wpath, "-") == 0 ? stdout : fopen(wpath, "wb");
		if (C.wfile == NULL)
			fatal("-w %s", wpath);
	}
	if (ctl_path != NULL && (C.ctl = ctlc_connect(ctl_path, "capd", 0, err, sizeof(err))) == NULL)
		fatalx("--ctl %s", err);
	if (C.serve) {
		if (mkdir_p(c.run_dir, 0750) < 0)
			fatal("run directory %s", c.run_dir);
		snprintf(pathbuf, sizeof(pathbuf), "%s/capd.sock", c.run_dir);
		C.lfd = chan_listen(pathbuf, c.group, err, sizeof(err));
		if (C.lfd < 0)
			fatalx("%s", err);
		if (geteuid() == 0) {
			/* The shards run as runtime.user in runtime.group. */
			struct group *g = getgrnam(c.group);
			if (g != NULL && chown(c.run_dir, 0, g->gr_gid) == 0)
				chmod(c.run_dir, 0750);
		}
	}

	/* ---- drop privileges, then the sandbox ---- */
	{
		/* Into the run directory when it reconnects to ctld there,
		 * else into an empty one. */
		struct privdrop_opts po = { c.capture_user, c.group, NULL, { 0 } };
		privdrop_root(&po, &ctl_path, 1, C.serve ? c.run_dir : "/run/stethoscope");
		if (privdrop(&po, err, sizeof(err)) < 0)
			fatalx("%s", err);
		log_info("running as uid %ld (effective %ld), gid %ld", (long)getuid(), (long)geteuid(), (long)getgid());
	}
	signal(SIGPIPE, SIG_IGN);
	C.base = event_base_new();
	if (C.base == NULL)
		fatalx("cannot create the event loop");
	{
		int r = sandbox_enter(SANDBOX_CAPD, err, sizeof(err));
		if (r < 0)
			fatalx("%s", err);
		log_info("%s", sandbox_line(r));
	}

	/* ---- only now is packet data read ---- */
	if (C.file_mode) {
		char *filter;
		if (source_start_file(&C, err, sizeof(err)) < 0)
			fatalx("%s", err);
		if (filter_arg != NULL || conf_given(&c, "io.input.capture.bpf-filter") || c.local_ip || c.remote_ip) {
			filter = conf_capture_filter(&c);
			if (source_set_filter(&C, filter, err, sizeof(err)) < 0)
				fatalx("%s", err);
			free(filter);
		}
	}
	if (C.wfile != NULL) {
		for (int k = 1; k < C.nsrc; k++)
			if (C.src[k].dlt != C.src[0].dlt)
				fatalx("-w: %s and %s have different link types; one pcap file needs one",
				    C.src[0].name, C.src[k].name);
		C.dumper = pcap_dump_fopen(C.src[0].p, C.wfile);
		if (C.dumper == NULL)
			fatalx("-w %s: %s", wpath, pcap_geterr(C.src[0].p));
	}
	{
		struct event *sigs[5];
		int signos[5] = { SIGTERM, SIGINT, SIGUSR1, SIGHUP, SIGUSR2 };
		struct timeval tick = { 0, 100000 }, sec = { 1, 0 };
		for (int k = 0; k < 5; k++) {
			sigs[k] = evsignal_new(C.base, signos[k], on_signal, NULL);
			if (signos[k] != SIGHUP)
				event_add(sigs[k], NULL);
		}
		C.ev_tick = event_new(C.base, -1, EV_PERSIST, on_tick, NULL);
		event_add(C.ev_tick, &tick);
		if (C.ctl != NULL)
			ctlc_start(C.ctl, C.base, NULL, NULL);
		C.ev_stats = event_new(C.base, -1, EV_PERSIST, on_stats, NULL);
		event_add(C.ev_stats, &sec);
		if (C.serve)
			shard_listen_events(&C, source_resume);
		source_arm(&C);
		opts_ready(&o);
		if (C.file_mode && C.serve && C.block)
			log_info("waiting for %u shard%s before reading (block mode: a replay is lossless)",
			    C.nshards, C.nshards == 1 ? "" : "s");
		event_base_dispatch(C.base);
		/* what the kernel captured before the signal goes out too */
		source_final_drain(&C);
		for (int k = 0; k < 5; k++)
			event_free(sigs[k]);
	}

	/* ---- the end: everything captured goes out, then EOF ---- */
	if (C.pend && C.serve) {
		/* read and never handed over (a full ring at the end): count it */
		C.shards[C.pend_shard < C.nshards ? C.pend_shard : 0].ring_full_packets++;
	}
	source_read_stats(&C);
	if (C.ctl != NULL) {
		counters_final = true;
		on_stats(-1, 0, NULL);	/* the last counters */
		ctlc_free(C.ctl);
		C.ctl = NULL;
	}
	if (C.exit_code == CAPD_EXIT_IFACE_LOST || C.keep_shards)
		/* Not the end of the input: the interface may come back and the
		 * launcher start capd again.  No end of stream for the shards,
		 * which keep their sessions and reconnect to the next capd. */
		shards_flush(&C);
	else
		shards_close(&C);
	if (C.dumper != NULL) {
		pcap_dump_flush(C.dumper);
		pcap_dump_close(C.dumper);
	}
	struct onewrite ow;
	capd_print_counters(&C, onewrite_open(&ow, stderr));
	onewrite_close(&ow);
	capd_free(&C);
	conf_free(&c);
	return C.exit_code;
}
