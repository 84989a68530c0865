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
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"
#include "opts.h"
#include "analyser.h"
#include "privdrop.h"
#include "reasmd.h"
#include "recio.h"
#include "sandbox.h"
#include "util.h"
#include "counters.h"
#include "ctlc.h"

enum { OPT_EVENTS = OPT_DAEMON_BASE, OPT_MAX_OPEN, OPT_FROM, OPT_SHARD, OPT_LISTEN, OPT_SINKS,
	OPT_GENERATION, OPT_CTL, OPT_VOIP, OPT_SIPUSER, OPT_APPEND, OPT_NO_STREAMS, OPT_MAX_TOTAL, OPT_MAX_FILES, OPT_SHARDS };

static volatile sig_atomic_t reasmd_stop;

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
	    "      --shards N      -r: N engines in parallel, each taking the frames of\n"
	    "                      its address pairs as capd shards them (a file: each\n"
	    "                      engine reads it; stdin: dealt to them) (default 1;\n"
	    "                      -o and --events are shared, a line a write; not -w)\n"
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
	    "      --max-total-bytes N  -o DIR keeps its stream files under N bytes, the\n"
	    "                      oldest removed first (io.output.files.max_total_bytes)\n"
	    "      --max-files N   ... and at most N of them (io.output.files.max_files)\n"
	    "      --append        -o DIR's sessions.jsonl and calls.jsonl are added to, not\n"
	    "                      truncated: a line a write (the shards of a run share DIR)\n"
	    "      --no-streams    -o DIR gets sessions.jsonl (and calls.jsonl), not the streams\n"
	    "      --voip          follow SIP calls and their RTP (voip.enabled): -o DIR gets\n"
	    "                      calls.jsonl, --events the calls and rtp events, stderr a call table\n"
	    "      --sipuser P,..  only calls whose From, To, P-Asserted-Identity or request URI\n"
	    "                      user matches (voip.sipuser; x* prefix, *x suffix; numbers\n"
	    "                      compared without +, 00, 011 and separators); implies --voip\n"
	    "%s", opts_common_help);
}

/* Closes every session with `reason`, completes the outputs (the -o files
 * and sessions.jsonl, -w, --events, the sinks), prints the summary and
 * frees the engine: the one teardown of both runs. */
static void
reasmd_finish(struct reasm *R, unsigned reason, const char *wfile)
{
	reasm_close_all(R, reason);
	an_finish(R);
	files_finish(R);
	fan_finish(R);
	ev_flush(R);
	struct onewrite ow;
	sinks_summary(R->sinks, onewrite_open(&ow, stderr));
	onewrite_close(&ow);
	if (R->out.w) {
		bool said = R->out.w_reported;
		int r = recw_close_keep(R->out.w, &R->st.w_lost);
		R->st.w_failed = r < 0;
		if (r < 0 && !said)
			log_warn("-w %s", wfile);
	}
	R->out.w = NULL;
	if (R->out.events && R->out.events != stdout)
		fclose(R->out.events);
	R->out.events = NULL;
	reasm_summary(R, onewrite_open(&ow, stderr));
	onewrite_close(&ow);
	reasm_free(R);
	sinks_free(R->sinks);
	R->sinks = NULL;
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
			sinks_flush(R->sinks);
			ctlc_reply(R->ctl, id, true, NULL);
		} else
			ctlc_reply(R->ctl, id, false, "not_found");
		return;
	}
	ctlc_reply(R->ctl, id, false, "unknown_cmd");
}

/* A reload's live keys (common/ctlc.h): voip.sipuser, and which sinks
 * the run still has (an output disabled: its slot is given nothing more,
 * and nothing is counted for it). */
static struct conf *live_conf;

static void
on_reconfigure(struct json_object *live, void *arg)
{
	struct reasm *R = arg;
	struct json_object *v;

	if (live_conf != NULL && json_object_object_get_ex(live, "voip.sipuser", &v))
		conf_strlist_set_json(&live_conf->sipuser, v);
	if (json_object_object_get_ex(live, "_sinks", &v) && json_object_is_type(v, json_type_array))
		sinks_retain(R->sinks, v);
}

/* ctld is back (restarted): it learns the sessions open now. */
static void
on_ctl_back(void *arg)
{
	ev_ctl_snapshot(arg);
}

/* Every second, and once more at the end: the shard's counters, for
 * ctld's stats and metrics (common/counters.h). */
static bool counters_final;

static void
send_counters(evutil_socket_t fd, short what, void *arg)
{
	struct reasm *R = arg;
	struct ctr_enc *e = ctr_enc_new(OWN_REASMD);

	(void)fd;
	(void)what;
	reasm_counters(R, e);
	ctr_set(e, CTR_CTL_DROPPED, ctlc_dropped(R->ctl));
	const char *line = ctr_enc_line(e, counters_final);
	ctlc_send(R->ctl, line, strlen(line));
	ctr_enc_free(e);
}

/* A sink connected: it gets every interface known so far. */
static void
on_sink_connect(unsigned idx, void *arg)
{
	struct reasm *R = input_reasm(arg);

	if (sinks_want_one(R->sinks, idx, REC_INTERFACE))
		fan_interfaces_to(R, idx);
	if (sinks_want_one(R->sinks, idx, REC_SESSION_JOIN))
		fan_joins_to(R, idx);
}

static void
on_stop_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	input_stop(arg);
}

/* The capture FILE (or "-", stdin), opened: its reader; exits on failure. */
static struct pcapread *
open_capture(const char *rfile, FILE **in, pcap_t **p)
{
	char err[PCAP_ERRBUF_SIZE];

	*in = strcmp(rfile, "-") == 0 ? stdin : fopen(rfile, "rb");
	if (*in == NULL)
		fatal("%s", rfile);
	*p = pcap_fopen_offline_with_tstamp_precision(*in, PCAP_TSTAMP_PRECISION_NANO, err);
	if (*p == NULL)
		fatalx("%s: %s", rfile, err);
	return pcapread_open(*p, *in, rfile);
}


/* capd's ring, to its end of stream or a signal; the sinks and ctld on
 * the same loop. */
static unsigned
run_ring(struct reasm *R, struct event_base *base, struct input *I, struct daemon_opts *o)
{
	struct event *sigs[2], *ev_counters = NULL;

	sigs[0] = evsignal_new(base, SIGTERM, on_stop_signal, I);
	sigs[1] = evsignal_new(base, SIGINT, on_stop_signal, I);
	event_add(sigs[0], NULL);
	event_add(sigs[1], NULL);
	if (R->ctl != NULL) {
		struct timeval sec = { 1, 0 };
		ctlc_start(R->ctl, base, on_ctl_command, R);
		ctlc_on_reconfigure(R->ctl, on_reconfigure, R);
		ctlc_on_reconnect(R->ctl, on_ctl_back, R);
		ev_counters = event_new(base, -1, EV_PERSIST, send_counters, R);
		event_add(ev_counters, &sec);
	}
	if (R->sinks != NULL)
		sinks_start(R->sinks, input_go, on_sink_connect, I);
	opts_ready(o);
	event_base_dispatch(base);
	if (R->ctl != NULL) {
		/* The last, after every session has closed. */
		reasm_close_all(R, input_eos(I) ? CLOSE_EOF : CLOSE_SHUTDOWN);
		counters_final = true;
		send_counters(-1, 0, R);
	}
	if (ev_counters)
		event_free(ev_counters);
	event_free(sigs[0]);
	event_free(sigs[1]);
	return input_eos(I) ? CLOSE_EOF : CLOSE_SHUTDOWN;
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
		{ "voip", no_argument, NULL, OPT_VOIP },
		{ "sipuser", required_argument, NULL, OPT_SIPUSER },
		{ "append", no_argument, NULL, OPT_APPEND },
		{ "max-total-bytes", required_argument, NULL, OPT_MAX_TOTAL },
		{ "max-files", required_argument, NULL, OPT_MAX_FILES },
		{ "no-streams", no_argument, NULL, OPT_NO_STREAMS },
		{ "shards", required_argument, NULL, OPT_SHARDS },
		{ NULL, 0, NULL, 0 },
	};
	struct daemon_opts o;
	struct conf c;
	const char *rfile = NULL, *odir = NULL, *wfile = NULL, *events = NULL, *maxopen = NULL;
	bool append = false, no_streams = false, selfread = false;
	const char *from = NULL, *listen_path = NULL, *ctl_path = NULL;
	unsigned shard = 0, nshards = 1, nsinks = 0, gen = 0, engines = 1;
	int engine_in = -1, engine_stats = -1;
	char err[PCAP_ERRBUF_SIZE + 256];
	struct reasm R;
	struct input *I = NULL;
	struct pcapread *rd = NULL;
	struct event_base *base = NULL;
	FILE *in = NULL, *wf = NULL;
	pcap_t *p = NULL;
	unsigned reason;
	int ch;

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
		case OPT_VOIP: opts_override(&o, "voip.enabled", "true"); break;
		case OPT_APPEND: append = true; break;
		case OPT_MAX_TOTAL: opts_override(&o, "io.output.files.max_total_bytes", optarg); break;
		case OPT_MAX_FILES: opts_override(&o, "io.output.files.max_files", optarg); break;
		case OPT_NO_STREAMS: no_streams = true; break;
		case OPT_SIPUSER:
			opts_override(&o, "voip.enabled", "true");
			opts_override(&o, "voip.sipuser", optarg);
			break;
		case OPT_GENERATION: {
			uint64_t v;
			if (parse_u64(optarg, 0, 255, &v) < 0) {
				fprintf(stderr, "reasmd: --generation: expected 0..255, found \"%s\"\n", optarg);
				return 2;
			}
			gen = (unsigned)v;
			break;
		}
		case OPT_SHARDS: {
			uint64_t v;
			if (parse_u64(optarg, 1, 256, &v) < 0) {
				fprintf(stderr, "reasmd: --shards: expected 1..256, found \"%s\"\n", optarg);
				return 2;
			}
			engines = (unsigned)v;
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
	live_conf = &c;
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
	if (engines > 1 && (rfile == NULL || wfile != NULL || (events && strcmp(events, "-") == 0))) {
		log_errorx("--shards N reads a file (-r) into -o DIR and --events FILE: one -w stream "
		    "or --events - is one engine's (--shards 1)");
		conf_free(&c);
		return 2;
	}
	/* Acquire: the input and the outputs, before any privilege drop. */
	if (rfile != NULL)
		rd = open_capture(rfile, &in, &p);
	if (engines > 1) {
		/* N engines: the shared outputs start empty here, each engine
		 * adds its lines (a line a write) */
		struct shard_deal *deal = NULL;
		int k;
		if (events != NULL)
			fclose(open_out(events, "--events"));
		if (odir != NULL) {
			if (mkdir_p(odir, 0755) < 0)
				fatal("-o %s", odir);
			for (int f = 0; f < 2; f++) {
				char path[PATH_MAX];
				snprintf(path, sizeof(path), "%s/%s", odir, f ? "calls.jsonl" : "sessions.jsonl");
				int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
				if (fd < 0 && f == 0)
					fatal("-o %s", path);
				if (fd >= 0)
					close(fd);
			}
		}
		/* a regular file: every engine reads it itself (shards.c) */
		struct stat rst;
		selfread = strcmp(rfile, "-") != 0 && fstat(fileno(in), &rst) == 0 && S_ISREG(rst.st_mode);
		k = shards_fork(engines, &engine_in, &engine_stats, &deal);
		if (k >= 0 && selfread) {
			/* an open file of its own: the inherited one's offset is
			 * every engine's; the same file (not one put at the path
			 * since) */
			struct stat again;
			pcapread_free(rd);
			pcap_close(p);
			rd = open_capture(rfile, &in, &p);
			if (fstat(fileno(in), &again) < 0 || again.st_dev != rst.st_dev ||
			    again.st_ino != rst.st_ino)
				fatalx("%s: replaced while the engines started", rfile);
		}
		if (k < 0) {
			/* the dealer: reads the file, no packet parsed beyond the
			 * addresses; dropped and sandboxed like the engines */
			struct privdrop_opts po = { c.user, c.group, NULL, { 0 } };
			int st;
			privdrop_root(&po, NULL, 0, "/run/stethoscope");
			if (privdrop(&po, err, sizeof(err)) < 0)
				fatalx("%s", err);
			if (selfread)
				shards_forward_signals(deal);
			else {
				signal(SIGINT, on_signal);
				signal(SIGTERM, on_signal);
			}
			signal(SIGPIPE, SIG_IGN);
			if (sandbox_enter(SANDBOX_DEALER, err, sizeof(err)) < 0)
				fatalx("%s", err);
			opts_ready(&o);
			st = selfread ? shards_wait(deal) : shards_deal(deal, p, rd, &c, &reasmd_stop);
			pcapread_free(rd);
			pcap_close(p);
			conf_free(&c);
			return st;
		}
		shard = (unsigned)k;
		nshards = engines;
		append = true;
		o.ready_fd = -1;		/* the dealer says it */
	}
	if (wfile != NULL)
		wf = open_out(wfile, "-w");
	if (reasm_init(&R, &c, gen, shard, err, sizeof(err)) < 0) {
		log_errorx("%s", err);
		pcapread_free(rd);
		if (p != NULL)
			pcap_close(p);
		conf_free(&c);
		return 2;
	}
	R.out.dir = odir;
	R.out.call_table = from == NULL || c.voip_call_table;
	R.out.append = append;
	R.out.no_streams = no_streams;
	R.out.max_open_files = (unsigned)c.max_open_files;
	/* shards that share a directory keep each their share */
	R.out.max_total_bytes = (uint64_t)c.files_max_total_bytes / nshards;
	R.out.max_files = (uint64_t)c.files_max_files / nshards;
	if (c.files_max_files && R.out.max_files == 0)
		R.out.max_files = 1;
	if (engines > 1 && events != NULL) {
		/* shared: added to, a line a write */
		if ((R.out.events = fopen(events, "a")) == NULL)
			fatal("--events %s", events);
		setvbuf(R.out.events, NULL, _IOLBF, 1 << 16);
	} else
		R.out.events = events ? open_out(events, "--events") : NULL;
	R.out.w = wf ? recw_open(fileno(wf), 0) : NULL;
	if (from != NULL) {
		/* Connect while privileged, like every other acquisition: the
		 * run directory may not be reachable by runtime.user. */
		base = event_base_new();
		I = input_new(&R, base, from, shard, nshards);
		if (listen_path != NULL && (R.sinks = sinks_listen(base, listen_path, c.group, nsinks,
		    shard, (size_t)c.ring_bytes, c.overflow == OVERFLOW_BLOCK, err, sizeof(err))) == NULL)
			fatalx("--listen %s: %s", listen_path, err);
		if (input_open(I, err, sizeof(err)) < 0)
			fatalx("%s", err);
		log_info("connected to %s as shard %u/%u", from, shard, nshards);
		if (listen_path != NULL)
			log_info("serving sinks on %s%s", listen_path,
			    nsinks ? " (reading nothing until they are connected)" : "");
		if (ctl_path != NULL && (R.ctl = ctlc_connect(ctl_path, "reasmd", (int)shard, err,
		    sizeof(err))) == NULL)
			fatalx("--ctl %s", err);
	}
	{
		/* Into the run directory, where it reconnects to capd and
		 * ctld; a file's reasmd into an empty one (-o is a
		 * descriptor by then). */
		struct privdrop_opts po = { c.user, c.group, NULL, { 0 } };
		const char *socks[2] = { from, ctl_path };
		privdrop_root(&po, socks, 2, "/run/stethoscope");
		if (files_open(&R, err, sizeof(err)) < 0)
			fatalx("%s", err);
		files_retention_scan(&R, shard == 0);
		if (odir != NULL && privdrop_give(odir, &po, err, sizeof(err)) < 0)
			fatalx("-o %s", err);
		if (privdrop(&po, err, sizeof(err)) < 0)
			fatalx("%s", err);
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	{
		/* Only now are packets and peers' records read. */
		int r = sandbox_enter(SANDBOX_REASMD, err, sizeof(err));
		if (r < 0)
			fatalx("%s", err);
		log_info("%s", sandbox_line(r));
	}

	if (from != NULL)
		reason = run_ring(&R, base, I, &o);
	else if (engine_in >= 0) {
		reasm_interface(&R, 0, pcap_datalink(p), pcap_snapshot(p), "file");
		reason = selfread ? shards_read(&R, rd, pcap_datalink(p), nshards, &c, &reasmd_stop) :
		    shards_run(&R, engine_in, &reasmd_stop);
		fprintf(stderr, "reasmd: engine %u of %u:\n", shard, nshards);
	} else {
		reasm_interface(&R, 0, pcap_datalink(p), pcap_snapshot(p), "file");
		opts_ready(&o);
		reason = shards_read(&R, rd, pcap_datalink(p), 1, &c, &reasmd_stop);
	}
	reasmd_finish(&R, reason, wfile);
	pcapread_free(rd);
	if (engine_stats >= 0)
		shards_report(shard, &R.st, engine_stats);
	if (p != NULL)
		pcap_close(p);
	input_free(I);
	if (base != NULL)
		event_base_free(base);
	conf_free(&c);
	return 0;
}
