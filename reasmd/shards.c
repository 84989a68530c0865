/*
 * shards.c — reasmd -r FILE --shards N: N engines on one capture, on all
 * cores.
 *
 * Processes, not threads: the engine is single-threaded by design (its
 * rate limiters, files.c's writer and the hold queue are per process), so
 * N children are N whole engines with nothing shared and nothing locked,
 * each in its own sandbox, and one that faults takes only itself.  The
 * parent reads the capture and deals each frame to the engine capd would
 * give it (decode_shard: by unordered address pair, a tunnel's by the pair
 * inside, VoIP to engine 0) over
 * a pipe, in batches.  It ticks every engine with the capture time of the
 * whole file, at the moments the one engine would tick itself, so every
 * timer (idle, gap grace, fragments) fires at the same capture time as in
 * a one-engine run and the output is the same (session ids aside).
 *
 * On the pipe: struct dealt, then caplen bytes; caplen DEALT_TICK is a
 * tick (ts only).
 *
 * That is for a stream (stdin, a pipe).  A regular file is read by every
 * engine itself, on an open file of its own (shards_read): each decodes
 * every frame's addresses and keeps its own, the others only move its
 * clock, as in the one engine.  Nothing is copied through a pipe and no
 * dealer takes a core: on 64-byte frames the dealer's reading, copying
 * and writing cost as much as an engine's work.
 *
 * At its end each child writes its struct reasm_stats on the stats pipe;
 * the parent adds them up for the totals line.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <pcap/pcap.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "reasmd.h"
#include "util.h"

#define DEALT_TICK UINT32_MAX
#define DEAL_BUF ((size_t)256 << 10)	/* a batch: one write per engine */
#define DEAL_MAX_CAP ((uint32_t)64 << 20)	/* a frame larger is not a frame */

struct dealt {
	uint64_t ts;
	uint32_t caplen, len;
};

/* an engine's counters, at its end, on the stats pipe */
struct report {
	uint32_t shard;
	struct reasm_stats st;
};
_Static_assert(sizeof(struct report) <= 4096, "a report is one atomic pipe write");

struct shard_deal {
	unsigned n;
	int fd[256];
	pid_t pid[256];
	int stats_fd;			/* read end: every child's counters */
	uint8_t *buf[256];
	size_t have[256];
	uint64_t write_errors;
	uint32_t batched[256];		/* frames in each engine's batch */
	uint64_t lost[256];		/* frames an engine that was gone did not get */
	struct shard_frags frags;	/* where tunnels' fragmented datagrams went */
};

int
shards_fork(unsigned n, int *in, int *stats_fd, struct shard_deal **deal)
{
	struct shard_deal *D = xcalloc(1, sizeof(*D));
	int sp[2];

	if (pipe(sp) < 0)
		fatal("pipe");
	D->n = n;
	D->stats_fd = sp[0];
	fflush(NULL);
	for (unsigned k = 0; k < n; k++) {
		int p[2];
		pid_t pid;
		if (pipe(p) < 0)
			fatal("pipe");
#ifdef F_SETPIPE_SZ
		(void)fcntl(p[1], F_SETPIPE_SZ, 1 << 20);	/* fewer wake-ups; a hint */
#endif
		pid = fork();
		if (pid < 0)
			fatal("fork");
		if (pid == 0) {
			/* the child: its pipe's read end, the stats pipe's write end */
			for (unsigned j = 0; j < k; j++) {
				close(D->fd[j]);
				free(D->buf[j]);
			}
			close(p[1]);
			close(sp[0]);
			*in = p[0];
			*stats_fd = sp[1];
			free(D);
			return (int)k;
		}
		close(p[0]);
		D->fd[k] = p[1];
		D->pid[k] = pid;
		D->buf[k] = xmalloc(DEAL_BUF);
	}
	close(sp[1]);
	*deal = D;
	return -1;
}

static void
deal_flush(struct shard_deal *D, unsigned k)
{
	if (D->have[k] == 0 || D->fd[k] < 0)
		return;
	if (write_all(D->fd[k], D->buf[k], D->have[k]) < 0) {
		/* the engine is gone: what it would have read is lost with it
		 * (its exit status says so below) */
		log_warn("engine %u of %u", k, D->n);
		close(D->fd[k]);
		D->fd[k] = -1;
		D->write_errors++;
		D->lost[k] += D->batched[k];
	}
	D->have[k] = 0;
	D->batched[k] = 0;
}

static void
deal_put(struct shard_deal *D, unsigned k, uint64_t ts, const uint8_t *data, uint32_t caplen,
    uint32_t len)
{
	struct dealt h = { ts, data ? caplen : DEALT_TICK, len };
	size_t need = sizeof(h) + (data ? caplen : 0);

	if (D->fd[k] < 0) {		/* the engine is gone: counted */
		if (data)
			D->lost[k]++;
		return;
	}
	if (D->have[k] + need > DEAL_BUF)
		deal_flush(D, k);
	if (need > DEAL_BUF) {		/* (a frame larger than a batch) */
		if (D->fd[k] >= 0 && (write_all(D->fd[k], &h, sizeof(h)) < 0 ||
		    write_all(D->fd[k], data, caplen) < 0)) {
			log_warn("engine %u of %u", k, D->n);
			close(D->fd[k]);
			D->fd[k] = -1;
			D->write_errors++;
			D->lost[k]++;
		}
		return;
	}
	if (data)
		D->batched[k]++;
	memcpy(D->buf[k] + D->have[k], &h, sizeof(h));
	if (data)
		memcpy(D->buf[k] + D->have[k] + sizeof(h), data, caplen);
	D->have[k] += need;
}

int
shards_deal(struct shard_deal *D, pcap_t *p, struct pcapread *rd, const struct conf *c,
    volatile sig_atomic_t *stop)
{
	const uint8_t *pkt;
	uint32_t caplen, len;
	int dlt = pcap_datalink(p);
	uint64_t ts, now = 0, last_tick = 0;

	while (!*stop && pcapread_next(rd, &ts, &pkt, &caplen, &len) > 0) {
		/* the one engine's tick, at the same capture time, for all */
		if (ts > now)
			now = ts;
		if (now - last_tick >= REASM_TICK_NS) {
			last_tick = now;
			for (unsigned k = 0; k < D->n; k++)
				deal_put(D, k, now, NULL, 0, 0);
		}
		deal_put(D, decode_shard_quick(dlt, pkt, caplen, D->n, c->voip_enabled, c->sip_ports.v,
		    c->sip_ports.n, &D->frags), ts, pkt, caplen, len);
	}
	return shards_wait(D);
}

/* The engines that read the file themselves stop when the parent is
 * told to: it passes SIGINT and SIGTERM on. */
static struct shard_deal *forward_to;

static void
forward_signal(int sig)
{
	int e = errno;

	if (forward_to != NULL)
		for (unsigned k = 0; k < forward_to->n; k++)
			if (forward_to->pid[k] > 0)
				kill(forward_to->pid[k], sig);
	errno = e;
}

void
shards_forward_signals(struct shard_deal *D)
{
	forward_to = D;
	signal(SIGINT, forward_signal);
	signal(SIGTERM, forward_signal);
}

/* Every engine's counters and end; the totals. */
int
shards_wait(struct shard_deal *D)
{
	struct reasm_stats sum;
	struct report one;
	uint64_t took[256] = { 0 };
	unsigned got = 0;
	int status = 0;

	memset(&sum, 0, sizeof(sum));
	for (unsigned k = 0; k < D->n; k++) {
		deal_flush(D, k);
		if (D->fd[k] >= 0)
			close(D->fd[k]);
		free(D->buf[k]);
	}
	/* every engine's counters, then their ends */
	for (;;) {
		size_t have = 0;
		ssize_t n = 0;
		while (have < sizeof(one) && (n = read(D->stats_fd, (char *)&one + have, sizeof(one) - have)) > 0)
			have += (size_t)n;
		if (n < 0 && errno == EINTR)
			continue;
		if (have < sizeof(one))
			break;
		got++;
		if (one.shard < D->n)
			took[one.shard] = one.st.packets;
		sum.packets += one.st.packets;
		sum.tcp_packets += one.st.tcp_packets;
		sum.sessions += one.st.sessions;
		sum.bytes_delivered += one.st.bytes_delivered;
		sum.gaps += one.st.gaps;
		sum.gap_bytes += one.st.gap_bytes;
	}
	close(D->stats_fd);
	for (unsigned k = 0; k < D->n; k++) {
		int st;
		while (waitpid(D->pid[k], &st, 0) < 0 && errno == EINTR)
			;
		if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
			continue;
		if (WIFEXITED(st))
			log_errorx("engine %u of %u exited with status %d", k, D->n, WEXITSTATUS(st));
		else
			log_errorx("engine %u of %u was killed by signal %d: its sessions are lost", k, D->n,
			    WTERMSIG(st));
		status = 1;
	}
	fprintf(stderr, "reasmd: %u engines together: %llu packets (%llu TCP), %llu sessions, %llu bytes "
	    "delivered, %llu gaps (%llu bytes)%s\n", D->n, (unsigned long long)sum.packets,
	    (unsigned long long)sum.tcp_packets, (unsigned long long)sum.sessions,
	    (unsigned long long)sum.bytes_delivered, (unsigned long long)sum.gaps,
	    (unsigned long long)sum.gap_bytes, got == D->n ? "" : " (an engine did not report: see above)");
	for (unsigned k = 0; k < D->n; k++)
		if (D->lost[k])
			fprintf(stderr, "reasmd: engine %u of %u was gone: %llu frames dealt to it were lost\n", k,
			    D->n, (unsigned long long)D->lost[k]);
	fprintf(stderr, "reasmd: frames each engine took:");
	for (unsigned k = 0; k < D->n; k++)
		fprintf(stderr, " %llu", (unsigned long long)took[k]);
	fprintf(stderr, "\n");
	if (got != D->n)
		status = 1;
	forward_to = NULL;
	free(D);
	return status;
}

/* The frame k frames after the one at off, when it is whole in buf. */
static const uint8_t *
dealt_peek(const uint8_t *buf, size_t off, size_t have, unsigned k, uint32_t *caplen)
{
	struct dealt h;

	while (have - off >= sizeof(h)) {
		memcpy(&h, buf + off, sizeof(h));
		if (h.caplen == DEALT_TICK) {
			off += sizeof(h);
			continue;
		}
		if (h.caplen > DEAL_MAX_CAP || have - off < sizeof(h) + h.caplen)
			return NULL;
		if (k-- == 0) {
			*caplen = h.caplen;
			return buf + off + sizeof(h);
		}
		off += sizeof(h) + h.caplen;
	}
	return NULL;
}

unsigned
shards_run(struct reasm *R, int in, volatile sig_atomic_t *stop)
{
	struct readahead ra = { .i = 0 };
	size_t cap = (size_t)1 << 20, have = 0, off = 0;
	uint8_t *buf = xmalloc(cap);
	bool eof = false;

	while (!*stop) {
		struct dealt h;
		if (have - off >= sizeof(h)) {
			memcpy(&h, buf + off, sizeof(h));
			if (h.caplen == DEALT_TICK) {
				reasm_tick(R, h.ts);
				off += sizeof(h);
				continue;
			}
			if (h.caplen > DEAL_MAX_CAP)
				fatalx("engine %u: a dealt frame of %u bytes: the pipe is out of step", R->shard, h.caplen);
			if (have - off >= sizeof(h) + h.caplen) {
				if (tcp_readahead_wanted(R)) {
					uint32_t c = 0;
					const uint8_t *p = dealt_peek(buf, off, have, READAHEAD, &c);
					tcp_readahead(R, &ra, R->out.linktype, p, c);
				}
				reasm_frame(R, R->out.linktype, h.ts, buf + off + sizeof(h), h.caplen, h.len);
				off += sizeof(h) + h.caplen;
				continue;
			}
			if (sizeof(h) + h.caplen > cap) {
				cap = sizeof(h) + h.caplen;
				buf = xrealloc(buf, cap);
			}
		}
		if (eof)
			break;
		/* what is left to the front, then more */
		memmove(buf, buf + off, have - off);
		have -= off;
		off = 0;
		ssize_t n = read(in, buf + have, cap - have);
		if (n > 0)
			have += (size_t)n;
		else if (n == 0)
			eof = true;
		else if (errno != EINTR)
			fatal("engine %u: its pipe", R->shard);
	}
	if (eof && have != off)
		log_warnx("engine %u: the dealer ended in the middle of a frame", R->shard);
	free(buf);
	close(in);
	return *stop ? CLOSE_SHUTDOWN : CLOSE_EOF;
}

unsigned
shards_read(struct reasm *R, struct pcapread *rd, int dlt, unsigned nshards, const struct conf *c,
    volatile sig_atomic_t *stop)
{
	struct readahead ra = { .i = 0 };
	struct shard_frags frags;
	const uint8_t *pkt;
	uint32_t caplen, len;
	uint64_t ts;
	bool ahead = false;		/* tcp_readahead_wanted, asked every 1024 frames */
	unsigned nfr = 0;

	memset(&frags, 0, sizeof(frags));
	while (!*stop && pcapread_next(rd, &ts, &pkt, &caplen, &len) > 0) {
		if ((nfr++ & 1023) == 0)
			ahead = tcp_readahead_wanted(R);
		if (nshards > 1 && decode_shard_quick(dlt, pkt, caplen, nshards, c->voip_enabled,
		    c->sip_ports.v, c->sip_ports.n, &frags) != R->shard) {
			reasm_tick(R, ts);	/* another engine's: the clock (and what is due) */
			continue;
		}
		if (ahead) {
			const uint8_t *p = NULL;
			uint32_t cl = 0;
			if (pcapread_peek(rd, READAHEAD, &p, &cl) != 1)
				p = NULL;
			tcp_readahead(R, &ra, dlt, p, cl);
		}
		reasm_frame(R, dlt, ts, pkt, caplen, len);
	}
	return *stop ? CLOSE_SHUTDOWN : CLOSE_EOF;
}

void
shards_report(unsigned shard, const struct reasm_stats *st, int stats_fd)
{
	struct report r;

	memset(&r, 0, sizeof(r));
	r.shard = shard;
	r.st = *st;
	/* one write, under PIPE_BUF: the reports of the engines never mix */
	if (write_all(stats_fd, &r, sizeof(r)) < 0)
		log_warn("the counters to the parent");
	close(stats_fd);
}
