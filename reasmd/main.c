/*
 * reasmd/main.c — the reassembler: reads packets (a pcap/pcapng file or
 * stdin), rebuilds every TCP connection's byte streams and writes them.
 *
 *   reasmd -r FILE|- [-o DIR] [-w FILE|-] [--events FILE|-] [options]
 *
 * Reads top to bottom: options, configuration, open the input (before the
 * privilege drop, as tcpdump does), drop privileges, run, summary.
 */
#include <errno.h>
#include <fcntl.h>
#include <pcap/pcap.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"
#include "opts.h"
#include "privdrop.h"
#include "reasmd.h"
#include "recio.h"
#include "util.h"
#include "chan.h"
#include "ctlc.h"
#include "ringev.h"

#define CAPD_IFACES 16

enum { OPT_EVENTS = OPT_DAEMON_BASE, OPT_MAX_OPEN, OPT_FROM, OPT_SHARD, OPT_LISTEN, OPT_SINKS,
	OPT_GENERATION, OPT_CTL };

static volatile sig_atomic_t reasmd_stop;

/* ---- input from capd's ring (--from SOCK --shard N/W) ---- */

struct ringin {
	struct reasm *R;
	struct event_base *base;
	const char *path;
	unsigned shard, nshards;
	struct ringev *re;
	int pend_sock;			/* connected, waiting for the sinks */
	struct ring *pend_ring;
	struct event *ev_retry;
	struct backoff bo;
	int dlt[CAPD_IFACES];
	bool eos, stop;
};

static int
ringin_record(const struct wire_rec *rec, void *arg)
{
	struct ringin *I = arg;
	const void *b = rec + 1;

	switch (rec->type) {
	case REC_INTERFACE: {
		const struct rec_interface *i = b;
		char name[32];
		size_t nl = MIN((size_t)i->name_len, sizeof(name) - 1);
		memcpy(name, i + 1, nl);
		name[nl] = '\0';
		if (i->id < CAPD_IFACES)
			I->dlt[i->id] = (int)i->linktype;
		if (I->R->out.linktype < 0) {
			I->R->out.linktype = (int)i->linktype;
			I->R->out.snaplen = (int)i->snaplen;
		}
		out_interface(I->R, i->id, (int)i->linktype, (int)i->snaplen, name);
		break;
	}
	case REC_PACKET: {
		const struct rec_packet *p = b;
		int dlt = p->ifid < CAPD_IFACES ? I->dlt[p->ifid] : -1;
		I->R->cur_ifid = p->ifid;
		reasm_frame(I->R, dlt, p->ts_ns, (const uint8_t *)(p + 1), p->caplen, p->origlen);
		break;
	}
	case REC_TICK:
		reasm_tick(I->R, ((const struct rec_tick *)b)->ts_ns);
		break;
	case REC_EOS:
		I->eos = true;
		break;
	default:
		break;
	}
	return 0;
}

static void ringin_connect(evutil_socket_t fd, short what, void *arg);

static void
ringin_lost(struct ringev *re, void *arg)
{
	struct ringin *I = arg;
	unsigned ms;
	struct timeval tv;

	(void)re;
	if (I->eos || I->stop) {
		event_base_loopbreak(I->base);
		return;
	}
	ms = backoff_next(&I->bo);
	log_warnx("capd went away; reconnecting to %s in %u ms (sessions stay open)", I->path, ms);
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(I->ev_retry, &tv);
}

static void
ringin_idle(struct ringev *re, void *arg)
{
	struct ringin *I = arg;

	(void)re;
	sinks_flush(I->R);
}

/* Starts reading capd's ring (once the sinks reasmd waits for are there). */
static void
ringin_go(void *arg)
{
	struct ringin *I = arg;

	if (I->pend_ring == NULL)
		return;
	I->re = ringev_consumer_new(I->base, I->pend_sock, I->pend_ring, ringin_record,
	    ringin_lost, I, 1024);
	ringev_set_idle(I->re, ringin_idle);
	I->pend_ring = NULL;
	I->pend_sock = -1;
}

/* Connects (again) to capd and starts reading its ring.  Returns 0 or -1
 * (a retry is scheduled when the loop runs). */
static int
ringin_open(struct ringin *I, char *err, size_t errlen)
{
	struct msg_hello h;
	struct ring *r;
	int sock;
	char name[32];

	snprintf(name, sizeof(name), "reasmd %u/%u", I->shard, I->nshards);
	chan_hello_init(&h, ROLE_REASMD, I->shard, I->nshards,
	    REC_WANT(REC_INTERFACE) | REC_WANT(REC_PACKET) | REC_WANT(REC_TICK) | REC_WANT(REC_EOS), name);
	if ((sock = chan_open_ring(I->path, &h, &r, 5000, err, errlen)) < 0)
		return -1;
	if (I->re != NULL)
		ringev_free(I->re);
	I->re = NULL;
	I->pend_sock = sock;
	I->pend_ring = r;
	backoff_reset(&I->bo);
	if (sinks_ready(I->R))
		ringin_go(I);
	return 0;
}

static void
ringin_connect(evutil_socket_t fd, short what, void *arg)
{
	struct ringin *I = arg;
	char err[256];

	(void)fd;
	(void)what;
	if (ringin_open(I, err, sizeof(err)) < 0) {
		unsigned ms = backoff_next(&I->bo);
		struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
		static struct log_rl rl;
		log_ratelimited(&rl, 1, 30000, LOG_WARNING, "%s (retrying in %u ms)", err, ms);
		evtimer_add(I->ev_retry, &tv);
	} else
		log_info("connected to %s as shard %u/%u", I->path, I->shard, I->nshards);
}

static void
ringin_signal(evutil_socket_t sig, short what, void *arg)
{
	struct ringin *I = arg;

	(void)sig;
	(void)what;
	I->stop = true;
	event_base_loopbreak(I->base);
}

static void
on_signal(int sig)
{
	(void)sig;
	reasmd_stop = 1;
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: reasmd -r FILE|- [-o DIR] [-w FILE|-] [--events FILE|-] [options]\n"
	    "       reasmd --from RUN/capd.sock --shard N/W [--listen RUN/reasmd.N.sock [--sinks K]]\n"
	    "              [-o DIR] [-w FILE|-] [--events FILE|-]\n"
	    "Rebuilds the byte streams of every TCP connection in a capture.\n\n"
	    "  -r FILE|-           read a pcap or pcapng file, or stdin\n"
	    "      --from SOCK     read the packets capd hands to one shard (capd.sock)\n"
	    "      --shard N/W     which shard this is, of how many (default 0/1)\n"
	    "      --listen SOCK   serve the sink daemons on SOCK (RUN/reasmd.N.sock)\n"
	    "      --ctl SOCK      send events and counters to ctld, take its commands (RUN/ctld.sock)\n"
	    "      --sinks K       read nothing until K sinks are connected (default 0)\n"
	    "      --generation G  session ids of this start (0..255; a restarted shard's ids\n"
	    "                      must not repeat the ones before: the launcher counts starts)\n"
	    "  -o DIR              write DIR/<session>.requests, .responses and sessions.jsonl\n"
	    "  -w FILE|-           write the record stream (see stethoscope-dump)\n"
	    "      --events FILE|- write session events as JSON lines\n"
	    "      --max-open-files N  open stream files at most (runtime.max_open_files)\n"
	    "%s", opts_common_help);
}

/* Closes every session with `reason`, completes the outputs (the -o files
 * and sessions.jsonl, -w, --events) and prints the summary. */
static void
reasmd_finish(struct reasm *R, unsigned reason, const char *wfile)
{
	reasm_close_all(R, reason);
	out_finish(R);
	sinks_summary(R, stderr);
	if (R->out.w && recw_close(R->out.w) < 0)
		log_warn("-w %s", wfile);
	R->out.w = NULL;
	if (R->out.events && R->out.events != stdout)
		fclose(R->out.events);
	reasm_summary(R, stderr);
	reasm_free(R);
	sinks_free(R);
	ctlc_free(R->ctl);
	R->ctl = NULL;
}

/* ctld asks: close_session. */
static void
on_ctl_command(struct json_object *cmd, uint64_t id, void *arg)
{
	struct reasm *R = arg;
	struct json_object *v;
	const char *c = json_object_object_get_ex(cmd, "cmd", &v) ? json_object_get_string(v) : "";

	if (strcmp(c, "close_session") == 0 && json_object_object_get_ex(cmd, "session_id", &v)) {
		uint64_t sid = (uint64_t)json_object_get_int64(v);
		if (reasm_close_id(R, sid, CLOSE_CONTROL) == 0) {
			log_info("session %llu closed by a control command", (unsigned long long)sid);
			sinks_flush(R);
			ctlc_reply(R->ctl, id, true, NULL);
		} else
			ctlc_reply(R->ctl, id, false, "not_found");
		return;
	}
	ctlc_reply(R->ctl, id, false, "unknown_cmd");
}

/* Every second: the shard's counters, for ctld's stats and metrics. */
static void
send_counters(evutil_socket_t fd, short what, void *arg)
{
	struct reasm *R = arg;
	char line[1024];
	int n;

	(void)fd;
	(void)what;
	n = snprintf(line, sizeof(line), "{\"cat\":\"stats\",\"event\":\"daemon_counters\",\"counters\":{"
	    "\"packets\":%llu,\"sessions_open\":%llu,\"sessions\":%llu,\"bytes_delivered\":%llu,"
	    "\"gap_bytes\":%llu,\"table_full\":%llu,\"ooo_limit\":%llu,\"ctl_events_dropped\":%llu}}",
	    (unsigned long long)R->st.packets, (unsigned long long)R->nsessions,
	    (unsigned long long)R->st.sessions, (unsigned long long)R->st.bytes_delivered,
	    (unsigned long long)R->st.gap_bytes, (unsigned long long)R->st.table_full_packets,
	    (unsigned long long)R->st.ooo_limit_bytes, (unsigned long long)ctlc_dropped(R->ctl));
	ctlc_send(R->ctl, line, (size_t)n);
}

static FILE *
open_out(const char *path, const char *what)
{
	FILE *f = strcmp(path, "-") == 0 ? stdout : fopen(path, "w");

	if (f == NULL)
		fatal("%s %s", what, path);
	return f;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		COMMON_LONGOPTS,
		{ "events", required_argument, NULL, OPT_EVENTS },
		{ "max-open-files", required_argument, NULL, OPT_MAX_OPEN },
		{ "from", required_argument, NULL, OPT_FROM },
		{ "shard", required_argument, NULL, OPT_SHARD },
		{ "listen", required_argument, NULL, OPT_LISTEN },
		{ "sinks", required_argument, NULL, OPT_SINKS },
		{ "generation", required_argument, NULL, OPT_GENERATION },
		{ "ctl", required_argument, NULL, OPT_CTL },
		{ NULL, 0, NULL, 0 },
	};
	struct daemon_opts o;
	struct conf c;
	const char *rfile = NULL, *odir = NULL, *wfile = NULL, *events = NULL, *maxopen = NULL;
	const char *from = NULL, *listen_path = NULL, *ctl_path = NULL;
	unsigned shard = 0, nshards = 1, nsinks = 0, gen = 0;
	char err[PCAP_ERRBUF_SIZE + 256];
	struct reasm R;
	struct ringin I;
	struct pcap_pkthdr *h;
	const u_char *pkt;
	FILE *in = NULL, *wf = NULL;
	pcap_t *p;
	int ch, r;

	opts_init(&o, "reasmd");
	while ((ch = getopt_long(argc, argv, COMMON_SHORTOPTS "r:o:w:", longopts, NULL)) != -1) {
		if (opts_common(&o, ch, optarg))
			continue;
		switch (ch) {
		case 'r': rfile = optarg; break;
		case 'o': odir = optarg; break;
		case 'w': wfile = optarg; break;
		case OPT_EVENTS: events = optarg; break;
		case OPT_MAX_OPEN: maxopen = optarg; break;
		case OPT_FROM: from = optarg; break;
		case OPT_LISTEN: listen_path = optarg; break;
		case OPT_CTL: ctl_path = optarg; break;
		case OPT_GENERATION: {
			uint64_t v;
			if (parse_u64(optarg, 0, 255, &v) < 0) {
				fprintf(stderr, "reasmd: --generation: expected 0..255, found \"%s\"\n", optarg);
				return 2;
			}
			gen = (unsigned)v;
			break;
		}
		case OPT_SINKS: {
			uint64_t v;
			if (parse_u64(optarg, 0, SINKS_MAX, &v) < 0) {
				fprintf(stderr, "reasmd: --sinks: expected 0..%d, found \"%s\"\n", SINKS_MAX, optarg);
				return 2;
			}
			nsinks = (unsigned)v;
			break;
		}
		case OPT_SHARD:
			if (sscanf(optarg, "%u/%u", &shard, &nshards) != 2 || nshards == 0 ||
			    nshards > 256 || shard >= nshards) {
				fprintf(stderr, "reasmd: --shard: expected N/W with N < W <= 256, found \"%s\"\n", optarg);
				return 2;
			}
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (rfile != NULL)
		opts_override(&o, "io.input.capture.file", rfile);
	if (maxopen != NULL)
		opts_override(&o, "runtime.max_open_files", maxopen);
	opts_load_config(&o, &c);
	if (rfile == NULL && from == NULL) {
		log_errorx("no input: give -r FILE (or -r - for stdin), or --from RUN/capd.sock --shard N/W");
		usage(stderr);
		conf_free(&c);
		return 2;
	}
	if (listen_path != NULL && from == NULL) {
		log_errorx("--listen serves sinks from the capd ring: give --from RUN/capd.sock "
		    "(a file goes through capd -r FILE, or reasmd -r FILE -w - | sinkd FAMILY -r -)");
		conf_free(&c);
		return 2;
	}
	if (odir == NULL && wfile == NULL && events == NULL && listen_path == NULL)
		log_info("no output chosen (-o, -w, --events): printing the summary only");

	if (rfile != NULL && from != NULL) {
		log_errorx("-r and --from: choose one input");
		conf_free(&c);
		return 2;
	}
	/* Acquire: the input and the outputs, before any privilege drop. */
	if (rfile != NULL) {
		in = strcmp(rfile, "-") == 0 ? stdin : fopen(rfile, "rb");
		if (in == NULL)
			fatal("%s", rfile);
	}
	if (wfile != NULL)
		wf = open_out(wfile, "-w");
	reasm_init(&R, &c, gen, shard);
	R.out.dir = odir;
	R.out.max_open_files = (unsigned)c.max_open_files;
	R.out.events = events ? open_out(events, "--events") : NULL;
	R.out.w = wf ? recw_open(fileno(wf), 0) : NULL;
	memset(&I, 0, sizeof(I));
	I.pend_sock = -1;
	if (from != NULL) {
		/* Connect while privileged, like every other acquisition: the
		 * run directory may not be reachable by runtime.user. */
		I.R = &R;
		I.path = from;
		I.shard = shard;
		I.nshards = nshards;
		for (int k = 0; k < CAPD_IFACES; k++)
			I.dlt[k] = -1;
		backoff_init(&I.bo, 100, 5000);
		I.base = event_base_new();
		if (listen_path != NULL && sinks_listen(&R, I.base, listen_path, c.group, nsinks,
		    err, sizeof(err)) < 0)
			fatalx("--listen %s: %s", listen_path, err);
		if (ringin_open(&I, err, sizeof(err)) < 0)
			fatalx("%s", err);
		if (ctl_path != NULL && (R.ctl = ctlc_connect(ctl_path, "reasmd", (int)shard, err,
		    sizeof(err))) == NULL)
			fatalx("--ctl %s", err);
	}
	{
		struct privdrop_opts po = { c.user, c.group, NULL };
		if (out_init(&R, err, sizeof(err)) < 0)
			fatalx("%s", err);
		if (odir != NULL && privdrop_give(odir, &po, err, sizeof(err)) < 0)
			fatalx("-o %s", err);
		if (privdrop(&po, err, sizeof(err)) < 0)
			fatalx("%s", err);
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);

	if (from != NULL) {
		struct event *sigs[2];
		R.out.linktype = -1;
		I.ev_retry = evtimer_new(I.base, ringin_connect, &I);
		sigs[0] = evsignal_new(I.base, SIGTERM, ringin_signal, &I);
		sigs[1] = evsignal_new(I.base, SIGINT, ringin_signal, &I);
		event_add(sigs[0], NULL);
		event_add(sigs[1], NULL);
		log_info("connected to %s as shard %u/%u", from, shard, nshards);
		struct event *ev_counters = NULL;
		if (R.ctl != NULL) {
			struct timeval sec = { 1, 0 };
			ctlc_start(R.ctl, I.base, on_ctl_command, &R);
			ev_counters = event_new(I.base, -1, EV_PERSIST, send_counters, &R);
			event_add(ev_counters, &sec);
		}
		if (R.sinks != NULL) {
			log_info("serving sinks on %s%s", listen_path,
			    nsinks ? " (reading nothing until they are connected)" : "");
			sinks_start(&R, ringin_go, &I);
		}
		opts_ready(&o);
		event_base_dispatch(I.base);
		reasmd_finish(&R, I.eos ? CLOSE_EOF : CLOSE_SHUTDOWN, wfile);
		if (ev_counters)
			event_free(ev_counters);
		if (I.re)
			ringev_free(I.re);
		if (I.pend_ring) {
			ring_free(I.pend_ring);
			close(I.pend_sock);
		}
		event_free(I.ev_retry);
		event_free(sigs[0]);
		event_free(sigs[1]);
		event_base_free(I.base);
		conf_free(&c);
		return 0;
	}
	p = pcap_fopen_offline_with_tstamp_precision(in, PCAP_TSTAMP_PRECISION_NANO, err);
	if (p == NULL)
		fatalx("%s: %s", rfile, err);
	R.out.linktype = pcap_datalink(p);
	R.out.snaplen = pcap_snapshot(p);
	out_interface(&R, 0, R.out.linktype, R.out.snaplen, "file");
	opts_ready(&o);

	while (!reasmd_stop && (r = pcap_next_ex(p, &h, &pkt)) >= 0) {
		/* seconds: an unsigned 32-bit field in the file */
		uint64_t ts = (uint64_t)(uint32_t)h->ts.tv_sec * NSEC_PER_SEC + (uint64_t)h->ts.tv_usec;
		if (r == 0)
			continue;
		reasm_frame(&R, R.out.linktype, ts, pkt, h->caplen, h->len);
	}
	if (!reasmd_stop && r == PCAP_ERROR)
		log_warnx("%s: %s (the sessions read so far are closed with reason eof)", rfile, pcap_geterr(p));
	reasmd_finish(&R, reasmd_stop ? CLOSE_SHUTDOWN : CLOSE_EOF, wfile);
	pcap_close(p);
	conf_free(&c);
	return 0;
}
