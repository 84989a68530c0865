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

enum { OPT_EVENTS = OPT_DAEMON_BASE, OPT_MAX_OPEN };

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
	    "Rebuilds the byte streams of every TCP connection in a capture.\n\n"
	    "  -r FILE|-           read a pcap or pcapng file, or stdin\n"
	    "  -o DIR              write DIR/<session>.requests, .responses and sessions.jsonl\n"
	    "  -w FILE|-           write the record stream (see stethoscope-dump)\n"
	    "      --events FILE|- write session events as JSON lines\n"
	    "      --max-open-files N  open stream files at most (runtime.max_open_files)\n"
	    "%s", opts_common_help);
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
		{ NULL, 0, NULL, 0 },
	};
	struct daemon_opts o;
	struct conf c;
	const char *rfile = NULL, *odir = NULL, *wfile = NULL, *events = NULL, *maxopen = NULL;
	char err[PCAP_ERRBUF_SIZE + 256];
	struct reasm R;
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
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (rfile != NULL)
		opts_override(&o, "io.input.capture.file", rfile);
	if (maxopen != NULL)
		opts_override(&o, "runtime.max_open_files", maxopen);
	opts_load_config(&o, &c);
	if (rfile == NULL) {
		log_errorx("no input: give -r FILE (or -r - for stdin); live input comes from capd");
		usage(stderr);
		conf_free(&c);
		return 2;
	}
	if (odir == NULL && wfile == NULL && events == NULL)
		log_info("no output chosen (-o, -w, --events): printing the summary only");

	/* Acquire: the input and the outputs, before any privilege drop. */
	in = strcmp(rfile, "-") == 0 ? stdin : fopen(rfile, "rb");
	if (in == NULL)
		fatal("%s", rfile);
	if (wfile != NULL)
		wf = open_out(wfile, "-w");
	reasm_init(&R, &c, 0, 0);
	R.out.dir = odir;
	R.out.max_open_files = (unsigned)c.max_open_files;
	R.out.events = events ? open_out(events, "--events") : NULL;
	R.out.w = wf ? recw_open(fileno(wf), 0) : NULL;
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

	p = pcap_fopen_offline_with_tstamp_precision(in, PCAP_TSTAMP_PRECISION_NANO, err);
	if (p == NULL)
		fatalx("%s: %s", rfile, err);
	R.out.linktype = pcap_datalink(p);
	R.out.snaplen = pcap_snapshot(p);
	out_interface(&R);
	opts_ready(&o);

	while (!reasmd_stop && (r = pcap_next_ex(p, &h, &pkt)) >= 0) {
		uint64_t ts = (uint64_t)h->ts.tv_sec * NSEC_PER_SEC + (uint64_t)h->ts.tv_usec;
		if (r == 0)
			continue;
		reasm_frame(&R, ts, pkt, h->caplen, h->len);
	}
	if (!reasmd_stop && r == PCAP_ERROR)
		log_warnx("%s: %s (the sessions read so far are closed with reason eof)", rfile, pcap_geterr(p));
	reasm_close_all(&R, reasmd_stop ? CLOSE_SHUTDOWN : CLOSE_EOF);
	out_finish(&R);
	if (R.out.w && recw_close(R.out.w) < 0)
		log_warn("-w %s", wfile);
	if (R.out.events && R.out.events != stdout)
		fclose(R.out.events);
	reasm_summary(&R, stderr);
	reasm_free(&R);
	pcap_close(p);
	conf_free(&c);
	return 0;
}
