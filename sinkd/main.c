/*
 * sinkd/main.c — the sink daemon, one process per output family.
 *
 *   sinkd FAMILY --from RUN/reasmd.0.sock [--from ...] [options]
 *   sinkd FAMILY -r FILE|- [options]
 *
 * Reads top to bottom: options, configuration, acquisition (the inputs,
 * the family's directories and files) while privileged, the drop, the
 * loop, the drain, the summary.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>

#include "conf.h"
#include "ctlc.h"
#include "log.h"
#include "opts.h"
#include "privdrop.h"
#include "sandbox.h"
#include "sinkd.h"
#include "util.h"

enum { OPT_FROM = OPT_DAEMON_BASE, OPT_EVENTS, OPT_APPEND_EVENTS, OPT_RESUME, OPT_RESUBSCRIBE, OPT_DIR, OPT_PER_SESSION, OPT_PER_CALL, OPT_SIPUSER, OPT_HOST, OPT_PORT, OPT_TRANSPORT, OPT_FORMAT,
	OPT_ROTATE, OPT_CTL, OPT_SUBSCRIBE, OPT_URL, OPT_SENSOR, OPT_PUBLISH };

static const struct family *const families[] = {
	&family_listener, &family_connector, &family_pcap, &family_json, &family_hep, &family_nats,
};

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: sinkd FAMILY --from RUN/reasmd.N.sock [--from ...] [options]\n"
	    "       sinkd FAMILY -r FILE|- [options]\n"
	    "Serves one output family from reasmd's records.  FAMILY is one of:\n"
	    "  listener    per-session ports consumers connect to (io.output.listener)\n"
	    "  connector   per-session connections to host:ports (io.output.remote-host)\n"
	    "  pcap        .pcap/.pcapng files, per session, per call or rolling (io.output.pcap)\n"
	    "  json        one JSON object per line per event (io.output.json)\n"
	    "  hep         SIP messages and RTCP reports (reasmd --voip) to a Homer\n"
	    "              collector, HEPv3 over UDP or TCP (io.output.hep)\n"
	    "  nats        events, session and call summaries (and, chosen, stream\n"
	    "              chunks and packets) to a NATS JetStream stream (io.output.nats)\n\n"
	    "      --from SOCK     a reasmd shard's socket (give one per shard)\n"
	    "  -r FILE|-           read a record stream (reasmd -w) instead\n"
	    "      --events FILE|- write this sink's events (ports, consumers, drops,\n"
	    "                      the books of every session) as JSON lines\n"
	    "      --append-events add to the --events file instead of starting it anew\n"
	    "                      (stethoscope-run: a restarted sink keeps the earlier lines)\n"
	    "      --ctl SOCK      send them, and counters, to ctld (RUN/ctld.sock)\n"
	    "      --subscribe SOCK  json: take every daemon's events from ctld's control\n"
	    "                      socket (RUN/control.sock) instead of --from\n"
	    "      --resume        json, with --subscribe: go on after the last numbered\n"
	    "                      event in io.output.json.path (ctld sends again what it\n"
	    "                      keeps of the rest; stethoscope-run: a restarted sink)\n"
	    "      --resubscribe   json, with --subscribe: when ctld goes away, subscribe\n"
	    "                      again once it is back (stethoscope-run restarts it)\n"
	    "  pcap:\n"
	    "      --dir DIR       where the files go (io.output.pcap.dir)\n"
	    "      --per-session   one file per session (io.output.pcap.per_session)\n"
	    "      --per-call      one file per call, reasmd --voip's (voip.per_call_pcap)\n"
	    "      --sipuser P,..  per-call files only for calls whose From or To user\n"
	    "                      matches (voip.sipuser; reasmd --sipuser also looks at\n"
	    "                      P-Asserted-Identity and the request URI)\n"
	    "      --format F      pcapng or pcap (io.output.pcap.format)\n"
	    "      --rotate-bytes N  rolling file: start a new one after N bytes\n"
	    "  hep:\n"
	    "      --host H        the collector (io.output.hep.host; default 127.0.0.1)\n"
	    "      --port N        its port (io.output.hep.port; default 9060)\n"
	    "      --transport T   udp or tcp (io.output.hep.transport)\n"
	    "  nats:\n"
	    "      --url URL[,URL]  the servers (io.output.nats.url)\n"
	    "      --sensor NAME   this tap's name in subjects (io.output.nats.sensor;\n"
	    "                      default the host name)\n"
	    "      --publish K,..  events, sessions, calls, chunks, packets\n"
	    "                      (io.output.nats.publish; default events,sessions,calls)\n"
	    "  json:\n"
	    "  -o FILE|-           where the events go (io.output.json.path; default -)\n"
	    "%s\n"
	    "Exit status: 0 after a clean end (the inputs ended, or SIGTERM/SIGINT and\n"
	    "the drain), 1 on a runtime failure, 2 on a usage or configuration error.\n"
	    "SIGUSR1 prints the counters.\n", opts_common_help);
}

static void
on_counters(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	sinkd_send_counters(arg, false);
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct sinkd *D = arg;

	(void)what;
	if (sig == SIGUSR1) {
		struct onewrite ow;
		sinkd_summary(D, onewrite_open(&ow, stderr));
		onewrite_close(&ow);
		return;
	}
	if (D->draining) {
		log_warnx("second signal: stopping now");
		if (D->fam->abandon)
			D->fam->abandon(D);
		sinkd_drained(D);
		return;
	}
	log_info("stopping: draining (runtime.drain_timeout_ms %lld)",
	    (long long)D->c->drain_timeout_eff_ms);
	sinkd_start_drain(D);
}

/* A reload's live keys (common/ctlc.h): voip.sipuser, for the per-call files. */
static void
on_reconfigure(struct json_object *live, void *arg)
{
	struct sinkd *D = arg;
	struct json_object *v;

	if (json_object_object_get_ex(live, "voip.sipuser", &v))
		conf_strlist_set_json(&D->c->sipuser, v);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		COMMON_LONGOPTS,
		{ "from", required_argument, NULL, OPT_FROM },
		{ "events", required_argument, NULL, OPT_EVENTS },
		{ "append-events", no_argument, NULL, OPT_APPEND_EVENTS },
		{ "resume", no_argument, NULL, OPT_RESUME },
		{ "resubscribe", no_argument, NULL, OPT_RESUBSCRIBE },
		{ "dir", required_argument, NULL, OPT_DIR },
		{ "per-session", no_argument, NULL, OPT_PER_SESSION },
		{ "per-call", no_argument, NULL, OPT_PER_CALL },
		{ "sipuser", required_argument, NULL, OPT_SIPUSER },
		{ "host", required_argument, NULL, OPT_HOST },
		{ "port", required_argument, NULL, OPT_PORT },
		{ "transport", required_argument, NULL, OPT_TRANSPORT },
		{ "format", required_argument, NULL, OPT_FORMAT },
		{ "rotate-bytes", required_argument, NULL, OPT_ROTATE },
		{ "ctl", required_argument, NULL, OPT_CTL },
		{ "subscribe", required_argument, NULL, OPT_SUBSCRIBE },
		{ "url", required_argument, NULL, OPT_URL },
		{ "sensor", required_argument, NULL, OPT_SENSOR },
		{ "publish", required_argument, NULL, OPT_PUBLISH },
		{ NULL, 0, NULL, 0 },
	};
	struct daemon_opts o;
	struct conf c;
	struct sinkd D;
	const struct family *fam = NULL;
	const char *from[SINKD_MAX_INPUTS], *rfile = NULL, *events = NULL, *opath = NULL;
	bool append_events = false, resume = false, resubscribe = false;
	const char *ctl_path = NULL, *subscribe = NULL;
	unsigned nfrom = 0;
	char err[512];
	int ch;
	bool per_session = false, sipuser = false;

	static char prog[32] = "sinkd";

	if (argc > 1 && argv[1][0] != '-') {
		for (size_t k = 0; k < ARRAY_SIZE(families); k++)
			if (strcmp(argv[1], families[k]->name) == 0)
				fam = families[k];
		if (fam == NULL) {
			fprintf(stderr, "sinkd: unknown family \"%s\": expected listener, connector, pcap, json, hep or nats\n",
			    argv[1]);
			return 2;
		}
		argv[1] = argv[0];
		argv++;
		argc--;
		snprintf(prog, sizeof(prog), "sinkd %s", fam->name);
	}
	opts_init(&o, prog);
	while ((ch = getopt_long(argc, argv, COMMON_SHORTOPTS "r:o:", longopts, NULL)) != -1) {
		if (opts_common(&o, ch, optarg))
			continue;
		switch (ch) {
		case OPT_FROM:
			if (nfrom == SINKD_MAX_INPUTS) {
				fprintf(stderr, "sinkd: at most %d --from\n", SINKD_MAX_INPUTS);
				return 2;
			}
			from[nfrom++] = optarg;
			break;
		case 'r': rfile = optarg; break;
		case 'o': opath = optarg; break;
		case OPT_EVENTS: events = optarg; break;
		case OPT_APPEND_EVENTS: append_events = true; break;
		case OPT_RESUME: resume = true; break;
		case OPT_RESUBSCRIBE: resubscribe = true; break;
		case OPT_CTL: ctl_path = optarg; break;
		case OPT_SUBSCRIBE: subscribe = optarg; break;
		case OPT_DIR: opts_override(&o, "io.output.pcap.dir", optarg); break;
		case OPT_PER_SESSION: per_session = true; break;
		case OPT_PER_CALL: opts_override(&o, "voip.per_call_pcap", "true"); break;
		case OPT_SIPUSER:
			opts_override(&o, "voip.sipuser", optarg);
			sipuser = true;
			break;
		case OPT_HOST: opts_override(&o, "io.output.hep.host", optarg); break;
		case OPT_PORT: opts_override(&o, "io.output.hep.port", optarg); break;
		case OPT_TRANSPORT: opts_override(&o, "io.output.hep.transport", optarg); break;
		case OPT_FORMAT: opts_override(&o, "io.output.pcap.format", optarg); break;
		case OPT_ROTATE: opts_override(&o, "io.output.pcap.rotate_bytes", optarg); break;
		case OPT_URL: opts_override(&o, "io.output.nats.url", optarg); break;
		case OPT_SENSOR: opts_override(&o, "io.output.nats.sensor", optarg); break;
		case OPT_PUBLISH: opts_override(&o, "io.output.nats.publish", optarg); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "sinkd: unexpected argument \"%s\"\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (sipuser && fam != NULL && fam != &family_pcap) {
		fprintf(stderr, "sinkd: --sipuser is pcap's (its per-call files); reasmd --sipuser "
		    "chooses the calls every output gets\n");
		return 2;
	}
	if (per_session)
		opts_override(&o, "io.output.pcap.per_session", "true");
	if (opath != NULL)
		opts_override(&o, "io.output.json.path", opath);
	opts_load_config(&o, &c);
	if (fam == NULL) {
		log_errorx("which output family? sinkd listener|connector|pcap|json ...");
		usage(stderr);
		conf_free(&c);
		return 2;
	}
	if (subscribe != NULL && (fam != &family_json || nfrom || rfile)) {
		log_errorx("--subscribe RUN/control.sock is for the json family, instead of --from or -r");
		conf_free(&c);
		return 2;
	}
	if (subscribe == NULL && (nfrom == 0) == (rfile == NULL)) {
		log_errorx("give --from RUN/reasmd.N.sock (once per shard) or -r FILE|-, not both");
		conf_free(&c);
		return 2;
	}
	if ((resume || resubscribe) && subscribe == NULL) {
		log_errorx("--resume and --resubscribe are for the json family with --subscribe");
		conf_free(&c);
		return 2;
	}
	sinkd_init(&D, &c, fam);
	D.resume = resume;
	D.resubscribe = resubscribe;
	if (rfile != NULL)
		D.block = D.stream_input = true;	/* a stream is read at the sink's pace */
	D.events = events == NULL ? NULL : strcmp(events, "-") == 0 ? stdout : fopen(events, append_events ? "a" : "w");
	if (events != NULL && D.events == NULL)
		fatal("--events %s", events);

	/* Acquire, while privileged: the inputs and the family's resources. */
	for (unsigned k = 0; k < nfrom; k++)
		if (input_connect(&D, from[k], err, sizeof(err)) < 0)
			fatalx("--from %s", err);
	if (subscribe != NULL) {
		D.subscribe = subscribe;
		if (input_subscribe_connect(&D, err, sizeof(err)) < 0)
			fatalx("--subscribe %s", err);
	}
	if (ctl_path != NULL) {
		char cname[32];
		snprintf(cname, sizeof(cname), "sinkd %s", fam->name);
		if ((D.ctl = ctlc_connect(ctl_path, cname, 0, err, sizeof(err))) == NULL)
			fatalx("--ctl %s", err);
	}
	if (rfile != NULL) {
		int fd = strcmp(rfile, "-") == 0 ? 0 : open(rfile, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			fatal("-r %s", rfile);
		if (input_stdin(&D, fd, err, sizeof(err)) < 0)
			fatalx("-r %s: %s", rfile, err);
	}
	if (fam->prepare && fam->prepare(&D, err, sizeof(err)) < 0) {
		log_errorx("%s", err);
		inputs_free(&D);
		sinkd_free(&D);
		if (D.events && D.events != stdout)
			fclose(D.events);
		conf_free(&c);
		return 2;
	}
	{
		/* Into the run directory, where it reconnects to the
		 * reasmd shards and ctld (a sink reading -r into an empty
		 * one); the connector resolves host names: no chroot. */
		struct privdrop_opts po = { c.user, c.group, NULL, { 0 } };
		const char *socks[SINKD_MAX_INPUTS + 2];
		unsigned ns = 0;
		for (unsigned k = 0; k < nfrom; k++)
			socks[ns++] = from[k];
		socks[ns++] = ctl_path;
		socks[ns++] = subscribe;
		if (fam->resolves)
			log_info("no chroot: the %s family resolves host names", fam->name);
		else
			privdrop_root(&po, socks, ns, "/run/stethoscope");
		if (privdrop(&po, err, sizeof(err)) < 0)
			fatalx("%s", err);
	}
	signal(SIGPIPE, SIG_IGN);
	D.base = event_base_new();
	D.ev_sig[0] = evsignal_new(D.base, SIGTERM, on_signal, &D);
	D.ev_sig[1] = evsignal_new(D.base, SIGINT, on_signal, &D);
	D.ev_sig[2] = evsignal_new(D.base, SIGUSR1, on_signal, &D);
	for (int k = 0; k < 3; k++)
		event_add(D.ev_sig[k], NULL);
	{
		/* Only now are peers' records read. */
		int r = sandbox_enter(strcmp(fam->name, "listener") == 0 ? SANDBOX_SINKD_LISTENER :
		    strcmp(fam->name, "connector") == 0 || strcmp(fam->name, "hep") == 0 ||
		    strcmp(fam->name, "nats") == 0 ?
		    SANDBOX_SINKD_CONNECTOR : SANDBOX_SINKD,
		    err, sizeof(err));
		if (r < 0)
			fatalx("%s", err);
		log_info("%s", sandbox_line(r));
	}
	if (fam->start)
		fam->start(&D);
	input_start(&D);
	if (D.ctl != NULL) {
		struct timeval sec = { 1, 0 };
		ctlc_start(D.ctl, D.base, NULL, NULL);
		ctlc_on_reconfigure(D.ctl, on_reconfigure, &D);
		D.ev_counters = event_new(D.base, -1, EV_PERSIST, on_counters, &D);
		event_add(D.ev_counters, &sec);
	}
	log_info("serving %s from %u input%s", fam->name, D.nin, D.nin == 1 ? "" : "s");
	opts_ready(&o);
	event_base_dispatch(D.base);

	struct onewrite ow;
	sinkd_summary(&D, onewrite_open(&ow, stderr));
	onewrite_close(&ow);
	if (D.ctl != NULL) {
		sinkd_send_counters(&D, true);
		event_free(D.ev_counters);
	}
	if (fam->free)
		fam->free(&D);
	inputs_free(&D);
	sinkd_free(&D);
	for (int k = 0; k < 3; k++)
		event_free(D.ev_sig[k]);
	if (D.events && D.events != stdout)
		fclose(D.events);
	ctlc_free(D.ctl);
	event_base_free(D.base);
	conf_free(&c);
	return D.exit_code;
}
