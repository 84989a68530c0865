/*
 * dump.c — stethoscope-dump: prints a record stream one record a line,
 * as `tcpdump -r` prints packets.  It reads a stream from a file or stdin,
 * or attaches to a producer's socket (capd.sock, reasmd.N.sock) as a
 * consumer and prints what arrives.
 *
 *   stethoscope-dump [-x|-A] [-c COUNT] [FILE|-]
 *   stethoscope-dump [-x|-A] [-c COUNT] --from SOCKET [--shard N/W] [--wants TYPES]
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chan.h"
#include "log.h"
#include "recio.h"
#include "ring.h"
#include "util.h"
#include "wire.h"

static int dump_hex, dump_ascii;
static volatile sig_atomic_t dump_stop;

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: stethoscope-dump [-x|-A] [-c COUNT] [FILE|-]\n"
	    "       stethoscope-dump [-x|-A] [-c COUNT] --from SOCKET [--shard N/W] [--wants TYPES]\n"
	    "Prints a stethoscope record stream, one record a line.\n\n"
	    "  FILE, -             read a record stream from a file or stdin (default -)\n"
	    "      --from SOCKET   attach to a producer's socket (capd.sock, reasmd.N.sock)\n"
	    "      --shard N/W     the shard to ask for (with capd.sock; default 0/1)\n"
	    "      --wants TYPES   record types wanted, comma-separated (default all)\n"
	    "  -c COUNT            stop after COUNT records\n"
	    "  -x                  print payload bytes in hex\n"
	    "  -A                  print payload bytes as ASCII\n"
	    "  -h, --help          this help\n");
}

static void
fmt_ts(char *buf, size_t size, uint64_t ns)
{
	snprintf(buf, size, "%" PRIu64 ".%09" PRIu64, ns / NSEC_PER_SEC, ns % NSEC_PER_SEC);
}

static void
print_bytes(const uint8_t *p, size_t n)
{
	if (dump_hex) {
		for (size_t k = 0; k < n; k += 16) {
			printf("\t0x%04zx: ", k);
			for (size_t j = k; j < k + 16 && j < n; j++)
				printf(" %02x", p[j]);
			printf("\n");
		}
	} else if (dump_ascii) {
		printf("\t");
		for (size_t k = 0; k < n; k++)
			putchar(p[k] == '\n' ? '\n' : (isprint(p[k]) ? p[k] : '.'));
		printf("\n");
	}
}

static const char *
dir_name(unsigned d)
{
	return d == DIR_REQUESTS ? "requests" : "responses";
}

static void
print_counters(const char *name, const struct wire_dir_counters *c)
{
	printf(" %s={stream=%" PRIu64 " delivered=%" PRIu64 " gap=%" PRIu64 "/%" PRIu64
	    " packets=%" PRIu64 " retrans=%" PRIu64 " overlap=%" PRIu64 "/%" PRIu64
	    " ooo_drop=%" PRIu64 " sink_drop=%" PRIu64 " late=%" PRIu64 " late_after_gap=%" PRIu64 "}",
	    name, c->stream_bytes, c->delivered, c->gap_bytes, c->gap_count, c->packets,
	    c->retrans_bytes, c->overlap_bytes, c->overlap_conflicts, c->dropped_ooo,
	    c->dropped_sink, c->late_bytes, c->late_after_gap);
}

/* Prints one (already checked) record. */
static void
print_record(const struct wire_rec *r)
{
	const void *b = rec_body(r);
	char ts[40], a1[64], a2[64];

	switch (r->type) {
	case REC_INTERFACE: {
		const struct rec_interface *i = b;
		printf("interface id=%u linktype=%u snaplen=%u name=%.*s\n", i->id,
		    i->linktype, i->snaplen, (int)i->name_len, (const char *)(i + 1));
		break;
	}
	case REC_PACKET: {
		const struct rec_packet *p = b;
		fmt_ts(ts, sizeof(ts), p->ts_ns);
		printf("packet ts=%s if=%u caplen=%u len=%u session=%" PRIu64, ts, p->ifid,
		    p->caplen, p->origlen, p->session_id);
		if (p->session_id)
			printf(" dir=%s", dir_name(p->dir));
		for (unsigned k = 0; k < p->ncalls; k++)
			printf("%s%" PRIu64, k ? "," : " calls=", rec_packet_calls(p)[k]);
		printf("\n");
		print_bytes(rec_packet_frame(p), p->caplen);
		break;
	}
	case REC_CALL_OPEN: {
		const struct rec_call_open *o = b;
		const char *t = (const char *)(o + 1);
		fmt_ts(ts, sizeof(ts), o->ts_ns);
		printf("call_open id=%" PRIu64 " ts=%s call_id=%.*s from=%.*s to=%.*s\n", o->call_id, ts,
		    (int)o->callid_len, t, (int)o->from_len, t + o->callid_len, (int)o->to_len,
		    t + o->callid_len + o->from_len);
		break;
	}
	case REC_MESSAGE: {
		const struct rec_message *m = b;
		const char *t = (const char *)(m + 1);
		fmt_ts(ts, sizeof(ts), m->ts_ns);
		addr_fmt(m->family, m->src, a1, sizeof(a1));
		addr_fmt(m->family, m->dst, a2, sizeof(a2));
		printf("message ts=%s kind=%s %s %s%s%s:%u -> %s%s%s:%u call=%" PRIu64 " corr=%.*s len=%u\n",
		    ts, m->kind == MSGK_SIP ? "sip" : m->kind == MSGK_RTCP_JSON ? "rtcp" : "?",
		    m->proto == 6 ? "tcp" : "udp", m->family == 6 ? "[" : "", a1, m->family == 6 ? "]" : "",
		    m->sport, m->family == 6 ? "[" : "", a2, m->family == 6 ? "]" : "", m->dport,
		    m->call_id, (int)m->corr_len, t, m->len);
		print_bytes((const uint8_t *)t + m->corr_len, m->len);
		break;
	}
	case REC_CALL_CLOSE: {
		const struct rec_call_close *c = b;
		fmt_ts(ts, sizeof(ts), c->end_ns);
		printf("call_close id=%" PRIu64 " end=%s state=%s\n", c->call_id, ts, c->state);
		printf("  %.*s\n", (int)c->json_len, (const char *)(c + 1));
		break;
	}
	case REC_SESSION_OPEN: {
		const struct rec_session_open *o = b;
		fmt_ts(ts, sizeof(ts), o->ts_ns);
		addr_fmt(o->flow.family, o->flow.client_ip, a1, sizeof(a1));
		addr_fmt(o->flow.family, o->flow.server_ip, a2, sizeof(a2));
		printf("session_open id=%" PRIu64 " ts=%s client=%s%s%s:%u server=%s%s%s:%u role_guessed=%u\n",
		    o->session_id, ts, o->flow.family == 6 ? "[" : "", a1,
		    o->flow.family == 6 ? "]" : "", o->flow.client_port,
		    o->flow.family == 6 ? "[" : "", a2, o->flow.family == 6 ? "]" : "",
		    o->flow.server_port, o->flow.role_guessed);
		break;
	}
	case REC_SESSION_JOIN: {
		const struct rec_session_join *j = b;
		printf("session_join id=%" PRIu64 " off=%" PRIu64 "/%" PRIu64 " missed=%" PRIu64 "/%" PRIu64 "\n",
		    j->open.session_id, j->off[0], j->off[1], j->missed[0], j->missed[1]);
		break;
	}
	case REC_CHUNK: {
		const struct rec_chunk *c = b;
		size_t n = r->len - sizeof(*r) - sizeof(*c);
		printf("chunk session=%" PRIu64 " dir=%s offset=%" PRIu64 " len=%zu\n",
		    c->session_id, dir_name(c->dir), c->offset, n);
		print_bytes((const uint8_t *)(c + 1), n);
		break;
	}
	case REC_GAP: {
		const struct rec_gap *g = b;
		printf("gap session=%" PRIu64 " dir=%s offset=%" PRIu64 " len=%" PRIu64 "\n",
		    g->session_id, dir_name(g->dir), g->offset, g->len);
		break;
	}
	case REC_SESSION_CLOSE: {
		const struct rec_session_close *c = b;
		fmt_ts(ts, sizeof(ts), c->ts_ns);
		printf("session_close id=%" PRIu64 " ts=%s reason=%s", c->session_id, ts,
		    wire_close_reason_name(c->reason));
		print_counters("requests", &c->dir[0]);
		print_counters("responses", &c->dir[1]);
		printf("\n");
		break;
	}
	case REC_TICK: {
		const struct rec_tick *t = b;
		fmt_ts(ts, sizeof(ts), t->ts_ns);
		printf("tick ts=%s\n", ts);
		break;
	}
	case REC_EVENT: {
		const struct rec_event *e = b;
		printf("event %.*s\n", (int)e->json_len, (const char *)(e + 1));
		break;
	}
	case REC_EOS:
		printf("eos\n");
		break;
	}
}

static uint32_t
parse_wants(const char *s)
{
	uint32_t w = 0;
	char *dup = xstrdup(s), *save = NULL;

	for (char *t = strtok_r(dup, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		unsigned k;
		for (k = 1; k < REC_TYPE_MAX; k++)
			if (strcmp(t, wire_rec_name(k)) == 0)
				break;
		if (k == REC_TYPE_MAX) {
			fprintf(stderr, "stethoscope-dump: --wants: unknown record type \"%s\"\n", t);
			exit(2);
		}
		w |= REC_WANT(k);
	}
	free(dup);
	return w;
}

static void
on_signal(int sig)
{
	(void)sig;
	dump_stop = 1;
}

static int
dump_socket(const char *path, unsigned shard, unsigned nshards, uint32_t wants,
    uint64_t count)
{
	struct msg_hello h;
	struct msg_hello_ok ok;
	char err[256];
	int rfd, sock;
	struct ring *r;
	uint64_t n = 0;

	chan_hello_init(&h, ROLE_DUMP, shard, nshards, wants, "stethoscope-dump");
	sock = chan_handshake(path, &h, &ok, &rfd, 5000, err, sizeof(err));
	if (sock < 0) {
		fprintf(stderr, "stethoscope-dump: %s\n", err);
		return 1;
	}
	r = ring_attach(rfd, err, sizeof(err));
	close(rfd);
	if (r == NULL) {
		fprintf(stderr, "stethoscope-dump: %s\n", err);
		close(sock);
		return 1;
	}
	while (!dump_stop && (count == 0 || n < count)) {
		bool corrupt;
		const struct wire_rec *rec = ring_peek(r, &corrupt);
		if (corrupt) {
			fprintf(stderr, "stethoscope-dump: the ring is corrupt\n");
			break;
		}
		if (rec == NULL) {
			if (ring_release(r))
				ring_ring(sock, MSG_WAKE_PRODUCER);
			fflush(stdout);
			if (ring_eof(r))
				break;
			if (ring_consumer_sleep(r) && ring_wait(sock, 1000) < 0) {
				/* Producer gone: print what it left, then stop. */
				while ((rec = ring_peek(r, &corrupt)) != NULL && !corrupt) {
					print_record(rec);
					ring_consume(r);
				}
				break;
			}
			continue;
		}
		if (wire_rec_check(rec, rec->len, err, sizeof(err)) < 0) {
			fprintf(stderr, "stethoscope-dump: %s\n", err);
			break;
		}
		print_record(rec);
		ring_consume(r);
		n++;
		if ((n & 255) == 0 && ring_release(r))
			ring_ring(sock, MSG_WAKE_PRODUCER);
	}
	fflush(stdout);
	ring_free(r);
	close(sock);
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "from", required_argument, NULL, 'F' },
		{ "shard", required_argument, NULL, 'S' },
		{ "wants", required_argument, NULL, 'W' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *from = NULL;
	unsigned shard = 0, nshards = 1;
	uint32_t wants = REC_WANT_ALL;
	uint64_t count = 0, n = 0;
	const struct wire_rec *rec;
	struct recr *rr;
	char err[256];
	int ch, fd = 0, rc = 0;

	log_init("stethoscope-dump");
	signal(SIGPIPE, SIG_IGN);
	while ((ch = getopt_long(argc, argv, "xAc:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'x': dump_hex = 1; break;
		case 'A': dump_ascii = 1; break;
		case 'c':
			if (parse_u64(optarg, 1, UINT64_MAX, &count) < 0) {
				fprintf(stderr, "stethoscope-dump: -c: expected a positive count, found \"%s\"\n", optarg);
				return 2;
			}
			break;
		case 'F': from = optarg; break;
		case 'S':
			if (sscanf(optarg, "%u/%u", &shard, &nshards) != 2 || nshards == 0 || shard >= nshards) {
				fprintf(stderr, "stethoscope-dump: --shard: expected N/W with N < W, found \"%s\"\n", optarg);
				return 2;
			}
			break;
		case 'W': wants = parse_wants(optarg); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (from != NULL) {
		struct sigaction sa;
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_signal;
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		return dump_socket(from, shard, nshards, wants, count);
	}
	if (optind < argc && strcmp(argv[optind], "-") != 0) {
		fd = open(argv[optind], O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			fprintf(stderr, "stethoscope-dump: %s: %s\n", argv[optind], strerror(errno));
			return 1;
		}
	}
	rr = recr_open(fd, fd != 0, err, sizeof(err));
	if (rr == NULL) {
		fprintf(stderr, "stethoscope-dump: %s\n", err);
		return 1;
	}
	for (;;) {
		int r = recr_next(rr, &rec, err, sizeof(err));
		if (r == 0)
			break;
		if (r < 0) {
			fprintf(stderr, "stethoscope-dump: %s\n", err);
			rc = 1;
			break;
		}
		if (!(wants & REC_WANT(rec->type)))
			continue;
		print_record(rec);
		if (count && ++n >= count)
			break;
	}
	recr_close(rr);
	if (fflush(stdout) != 0 && errno != EPIPE)
		rc = 1;
	return rc;
}
