/*
 * pcapout.c — the pcap family: the original frames to .pcapng (our own
 * writer, common/pcapng.c) or .pcap (libpcap's pcap_dump), one file per
 * session or one rolling file of every frame.
 *
 * Two threads.  The loop (main thread) takes packet records, picks each
 * frame's file and queues it; a writer thread does all file I/O, so a slow
 * disk never holds the loop (and through it reasmd) back.  The queue holds
 * at most io.output.pcap.queue_size frames: beyond that a frame is dropped
 * and counted as pcap_queue_full (per session and in total).  The frames
 * waiting (in the queue, or in the rolling file's heap) live in a pool
 * bounded by io.output.pcap.queue_bytes: small frames in buffers of
 * POOL_TINY or POOL_SMALL bytes kept and reused (two free lists: a
 * 64-byte frame in a 2 KiB buffer spread the queue over 32 times the
 * cache lines), larger ones allocated as they come; a
 * frame the pool has no room for is pcap_queue_full too.
 *
 * Per-session files are named as the Go version names them,
 * {lip}_{lport}__{rip}_{rport}__{startms}__open.{ext}, and renamed on close
 * to ..__{startms}__{endms}__{reason}.{ext}, close_grace_ms of capture
 * time after the close so that late frames (the last ACK) still go in.
 * At most runtime.max_open_files are open: the least recently written is
 * closed and reopened for append.
 *
 * Per-call files (voip.per_call_pcap, --per-call): reasmd --voip names in
 * each packet record the calls the frame belongs to (their SIP, every
 * segment and fragment of it, and their media), after a call_open record;
 * each call's frames go to its own file, named by voip.pcap_name
 * ({timestamp} {callid} {from} {to} {state}), "__open" while the call
 * lasts, renamed ..__{endms}__{state} when its call_close comes (reasmd
 * sends it voip.media_grace_sec after the call's end).  A pcapng file's
 * section header is written with room for a longer comment, and the
 * call's summary (its calls.jsonl line) is written there at the close.
 * voip.pcap_rotate_bytes starts a new part ("-part2", ...); the part
 * before is renamed ..__{ms}__continued.  A frame of two calls goes to both.
 *
 * The rolling file holds every frame, merged across the shards in
 * timestamp order: frames wait in a heap until every live shard's
 * watermark (its ticks and frames) has passed them; rotate_bytes starts a
 * new file.
 *
 * Errors: a directory that cannot be written disables the output (a
 * warning, and every frame counted as pcap_write_error); a failed write
 * (a full disk) truncates the file back to its last whole record, closes
 * it, counts the frames that did not make it as pcap_write_error and
 * every later frame for that file the same way.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pcap/pcap.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "evjson.h"
#include "log.h"
#include "pcapng.h"
#include "privdrop.h"
#include "sinkd.h"
#include "sipuser.h"
#include "util.h"

#define PIFACES 16
#define FBUF (64 * 1024)

struct pifc {
	bool known;
	int dlt, snaplen;
	char name[32];
};

/* A file, owned by the writer thread once queued. */
struct pfile {
	uint64_t session_id;		/* 0: the rolling file, or a call's */
	uint64_t call_id;		/* a call's file: its id */
	/* Strings of their own length (a session's pfile lives as long as
	 * the session: many may be open at once). */
	char *base;			/* name up to "__" + state */
	char *name;			/* current name in the directory (once created) */
	char *comment;			/* the pcapng header's; freed once written */
	size_t shb_size;		/* pcapng: the header's size kept for a later
					 * comment (a call's summary); 0: as it needs */
	char *summary;			/* written into that header at the close */
	char *final_base;		/* the name at the close, when not the open one's */
	bool discard;			/* removed at the close (a dialog, not a call) */
	int fd;				/* -1 while closed (LRU) */
	bool created, failed;
	uint64_t size, good;		/* bytes in the file; up to the last flushed record */
	int dlt;			/* classic pcap: the file's link type */
	int8_t ifmap[PIFACES];		/* pcapng: interface id -> file index */
	int nif;
	uint8_t *buf;
	size_t blen;
	uint32_t bpkts;			/* packets in buf */
	TAILQ_ENTRY(pfile) lru;		/* open files, least recently written first */
	bool in_lru;
	SLIST_ENTRY(pfile) done;	/* finished, for the loop thread */
	/* books, written by the writer thread */
	uint64_t packets, write_errors;
	/* the close */
	uint64_t end_ms;
	char reason[24];
};

enum jkind { J_PKT, J_IFACE, J_CLOSE, J_ROTATE, J_STOP };

/* the heap's entry: a frame and its timestamp */
struct hent {
	uint64_t ts;
	struct job *j;
};

struct job {
	struct job *next;
	enum jkind kind;
	uint32_t alloc;			/* J_PKT: bytes it holds of the pool */
	struct pfile *pf;
	uint64_t ts_ns;
	uint32_t ifid, caplen, origlen;
	struct pifc ifc;
	uint8_t data[];
};

/* A finished file the retention limits count (oldest first). */
struct kept {
	char *name;
	uint64_t size;
};

struct pstate {
	int dirfd;
	/* retention: io.output.pcap.max_total_bytes, max_files (0: none); the
	 * writer thread's, the counts read under mu */
	uint64_t ret_max_bytes, ret_max_files, kept_bytes, ret_files, ret_bytes;
	struct kept *kept;
	size_t kept_head, kept_n, kept_cap;
	char *dir;
	bool disabled, pcapng, per_session;
	const char *ext;
	uint64_t grace_ns;
	struct pifc ifc[PIFACES];	/* loop's copy */
	/* the queue */
	pthread_t th;
	bool th_started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct job *qhead, *qtail;
	size_t qpackets, qmax;
	/* the frames' pool (under mu): small buffers kept for reuse, and the
	 * bytes of the pool and of larger frames in use, at most pool_max */
	struct job *pool_free, *pool_tiny;	/* idle SMALL_ALLOC, TINY_ALLOC buffers */
	uint64_t pool_bytes, pool_max;
	size_t pool_jobs;		/* frame jobs alive (queued, written, in the heap) */
	bool pool_waiting;
	bool abandon;
	bool wait_when_full;		/* a record stream (-r): wait, lose nothing */
	pthread_cond_t cv_space;
	pthread_cond_t cv_stopped;	/* writer_stopped became true */
	bool stop_queued;		/* a J_STOP is on the queue */
	bool stuck;			/* abandoned, and the writer did not stop in time */
	/* done notifications (writer -> loop) */
	int donefd[2];
	struct event *ev_done;
	SLIST_HEAD(, pfile) done;	/* finished per-session files */
	bool stopped, writer_stopped;
	uint8_t hdr[PIFACES][64];	/* classic pcap: the file header libpcap wrote */
	size_t hdrlen[PIFACES];
	/* the writer's own state */
	struct pifc wifc[PIFACES];
	TAILQ_HEAD(, pfile) lru;
	unsigned nopen, max_open;
	long long max_open_cfg;
	uint64_t fd_limit_hits;		/* EMFILE/ENFILE met: a file closed to open another */
	pcap_t *dead[PIFACES];
	pcap_dumper_t *dumper[PIFACES];
	FILE *memf;
	char *membuf;
	size_t memcap;
	/* rolling */
	struct pfile *roll;
	char rollname[64];
	uint64_t rotate_bytes, roll_seq, roll_bytes;
	/* The rolling file's frames waiting for the watermarks (held_push):
	 * a run, oldest first, of frames whose timestamps never went down,
	 * and a heap of the rest. */
	struct job *run_head, *run_tail;
	size_t nrun;
	struct hent *heap;
	size_t nheap;
	uint64_t *wm;			/* per input: watermark */
	uint64_t roll_last_ts;		/* newest frame released to the file */
	bool *wm_live;
	/* closing sessions, in the order their closes came (a FIFO: the
	 * oldest is due first, so a check looks at the head only) */
	struct ssn **closing;
	size_t chead, nclosing, capclosing;
	/* per-call files */
	bool per_call, roll_on;
	struct pcall **cb;		/* by call id */
	size_t cnb, ncalls, max_calls;
	const char *call_pattern;
	uint64_t call_rotate;
	uint64_t calls, call_frames, calls_full, not_in_call, calls_discarded, calls_untargeted;
	/* totals */
	uint64_t packets, queue_full, write_errors, not_in_session, shutdown_dropped,
	    files, forced_order, out_of_order, interrupted;
	_Atomic uint64_t w_written, w_errors, w_abandoned;
	_Atomic uint64_t w_jobs;	/* jobs the writer did: its progress */
};

/* What a session keeps in the loop. */
struct pssn {
	struct pfile *pf;
	uint64_t packets, queue_full, write_errors_disabled;
	bool close_sent;
};

/* A call with a file (the loop's). */
struct pcall {
	struct pcall *hnext;
	uint64_t id;
	struct pfile *pf;
	char *base;			/* its name from voip.pcap_name */
	char *callid, *from, *to;
	uint64_t start_ns;
	unsigned part;
	uint64_t part_bytes;
	uint64_t frames, queue_full;
};

static struct pstate *P;

#define CALL_SHB 8192		/* a per-call file's section header: room for its summary */

#define PNAME_MAX 320		/* a file name: base, "-k", "__", end, reason, ext */

static void
pfile_rename(struct pfile *f, const char *name)
{
	free(f->name);
	f->name = xstrdup(name);
}

static void
pfile_free(struct pfile *f)
{
	if (f == NULL)
		return;
	free(f->base);
	free(f->name);
	free(f->comment);
	free(f->summary);
	free(f->final_base);
	free(f);
}

/* ---------------- the writer thread ---------------- */

static void
lru_unlink(struct pstate *S, struct pfile *f)
{
	if (f->in_lru) {
		TAILQ_REMOVE(&S->lru, f, lru);
		f->in_lru = false;
	}
}

static void
lru_touch(struct pstate *S, struct pfile *f)
{
	lru_unlink(S, f);
	TAILQ_INSERT_TAIL(&S->lru, f, lru);
	f->in_lru = true;
}

/* A write failed: back to the last whole record, close, count. */
static void
file_fail(struct pstate *S, struct pfile *f, int err)
{
	static struct log_rl rl;

	log_ratelimited(&rl, 3, 10000, LOG_WARNING, "%s/%s: %s: the file is closed at its last "
	    "whole record; its further frames are counted as pcap_write_error", S->dir, f->name,
	    strerror(err));
	if (f->fd >= 0) {
		if (ftruncate(f->fd, (off_t)f->good) < 0)
			log_warn("%s/%s: truncating after the failed write", S->dir, f->name);
		close(f->fd);
		f->fd = -1;
		S->nopen--;
		lru_unlink(S, f);
	}
	f->write_errors += f->bpkts;
	S->w_errors += f->bpkts;
	f->blen = 0;
	f->bpkts = 0;
	f->size = f->good;
	f->failed = true;
	free(f->buf);
	f->buf = NULL;
}

static void
file_flush(struct pstate *S, struct pfile *f)
{
	size_t off = 0;

	while (off < f->blen) {
		ssize_t n = write(f->fd, f->buf + off, f->blen - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			file_fail(S, f, n < 0 ? errno : ENOSPC);
			return;
		}
		off += (size_t)n;
	}
	S->w_written += f->bpkts;
	f->packets += f->bpkts;
	f->good += f->blen;
	f->blen = 0;
	f->bpkts = 0;
}

static void
file_close_fd(struct pstate *S, struct pfile *f)
{
	if (f->fd < 0)
		return;
	file_flush(S, f);
	if (f->fd < 0)
		return;
	close(f->fd);
	f->fd = -1;
	S->nopen--;
	lru_unlink(S, f);
	free(f->buf);
	f->buf = NULL;
}

/* Makes room for one more open file (runtime.max_open_files). */
static void
file_room(struct pstate *S)
{
	while (S->nopen >= S->max_open && !TAILQ_EMPTY(&S->lru))
		file_close_fd(S, TAILQ_FIRST(&S->lru));
}

/* openat in the directory; out of descriptors (EMFILE, ENFILE), the
 * least recently written file is closed and the open tried again, and
 * max_open comes down to what the process may have open (it is reopened
 * for append when written again): a low `ulimit -n` costs reopens, not
 * frames. */
static int
open_in_dir(struct pstate *S, const char *name, int flags)
{
	for (;;) {
		int fd = openat(S->dirfd, name, flags, 0644);
		if (fd >= 0 || (errno != EMFILE && errno != ENFILE) || TAILQ_EMPTY(&S->lru))
			return fd;
		S->fd_limit_hits++;
		if (S->max_open > S->nopen) {
			S->max_open = S->nopen > 1 ? S->nopen - 1 : 1;
			log_warnx("io.output.pcap: %s with %u files open: at most %u are kept open from now "
			    "on (runtime.max_open_files is %lld; raise `ulimit -n`); the others are reopened "
			    "when written (pcap_fd_limit)", strerror(errno), S->nopen, S->max_open,
			    (long long)S->max_open_cfg);
		}
		file_close_fd(S, TAILQ_FIRST(&S->lru));
	}
}

/* Opens (creates, or reopens for append) f.  Returns 0 or -1 (failed). */
static int
file_open(struct pstate *S, struct pfile *f)
{
	if (f->failed)
		return -1;
	if (f->fd >= 0) {
		lru_touch(S, f);
		return 0;
	}
	file_room(S);
	if (!f->created) {
		char name[PNAME_MAX];
		for (int k = 1; k < 100; k++) {
			if (k == 1)
				snprintf(name, sizeof(name), "%s__open.%s", f->base, S->ext);
			else
				snprintf(name, sizeof(name), "%s-%d__open.%s", f->base, k, S->ext);
			f->fd = open_in_dir(S, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC);
			if (f->fd >= 0 || errno != EEXIST)
				break;
		}
		if (f->session_id == 0 && f->call_id == 0 && f->fd >= 0) {
			/* The rolling file has no state in its name. */
			char plain[PNAME_MAX];
			snprintf(plain, sizeof(plain), "%s.%s", f->base, S->ext);
			if (renameat(S->dirfd, name, S->dirfd, plain) == 0)
				memcpy(name, plain, sizeof(name));
		}
		pfile_rename(f, name);
		f->created = f->fd >= 0;
		if (f->created)
			S->files++;
	} else
		f->fd = open_in_dir(S, f->name, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (f->fd < 0) {
		int e = errno;
		log_warnx("%s/%s: %s: its frames are counted as pcap_write_error", S->dir,
		    f->name ? f->name : f->base, strerror(e));
		f->failed = true;
		return -1;
	}
	f->buf = xmalloc(FBUF);
	S->nopen++;
	lru_touch(S, f);
	return 0;
}

/* Appends bytes that belong together (a header, or one record). */
static int
file_put(struct pstate *S, struct pfile *f, const void *p, size_t n, bool packet)
{
	if (f->blen + n > FBUF) {
		file_flush(S, f);
		if (f->fd < 0)
			return -1;
	}
	if (n > FBUF) {
		/* Larger than the buffer: straight out. */
		ssize_t w = write(f->fd, p, n);
		if (w != (ssize_t)n) {
			f->bpkts = packet;
			file_fail(S, f, w < 0 ? errno : ENOSPC);
			return -1;
		}
		f->good += n;
		f->size += n;
		if (packet) {
			f->packets++;
			S->w_written++;
		}
		return 0;
	}
	memcpy(f->buf + f->blen, p, n);
	f->blen += n;
	f->size += n;
	f->bpkts += packet;
	return 0;
}

/* Classic pcap through libpcap: pcap_dump formats into a memory stream
 * and the bytes go out through file_put like every other. */
static int
classic_bytes(struct pstate *S, int dlt, int snaplen, const struct pcap_pkthdr *h,
    const uint8_t *data, bool header, const uint8_t **out, size_t *outlen)
{
	int slot = -1;

	for (int k = 0; k < PIFACES; k++)
		if (S->dead[k] != NULL && pcap_datalink(S->dead[k]) == dlt) {
			slot = k;
			break;
		}
	if (slot < 0) {
		for (int k = 0; k < PIFACES && slot < 0; k++)
			if (S->dead[k] == NULL)
				slot = k;
		if (slot < 0)
			return -1;
		S->dead[slot] = pcap_open_dead_with_tstamp_precision(dlt, snaplen > 0 ? snaplen : 262144,
		    PCAP_TSTAMP_PRECISION_NANO);
		rewind(S->memf);
		S->dumper[slot] = S->dead[slot] ? pcap_dump_fopen(S->dead[slot], S->memf) : NULL;
		if (S->dumper[slot] == NULL)
			return -1;
		/* Keep the file header libpcap wrote, for every file of this
		 * link type. */
		fflush(S->memf);
		long hl = ftell(S->memf);
		if (hl <= 0 || (size_t)hl > sizeof(S->hdr[slot]))
			return -1;
		memcpy(S->hdr[slot], S->membuf, (size_t)hl);
		S->hdrlen[slot] = (size_t)hl;
	}
	rewind(S->memf);
	if (header) {
		*out = S->hdr[slot];
		*outlen = S->hdrlen[slot];
		return 0;
	}
	pcap_dump((u_char *)S->dumper[slot], h, data);
	fflush(S->memf);
	long n = ftell(S->memf);
	if (n <= 0)
		return -1;
	*out = (const uint8_t *)S->membuf;
	*outlen = (size_t)n;
	return 0;
}

/* A frame's record: written, or counted as pcap_write_error. */
static void
put_packet(struct pstate *S, struct pfile *f, const void *p, size_t n)
{
	if (f->fd < 0 || file_put(S, f, p, n, true) < 0) {
		f->write_errors++;
		S->w_errors++;
	}
}

static void
write_packet(struct pstate *S, struct job *j)
{
	struct pfile *f = j->pf;
	const struct pifc *ic = j->ifid < PIFACES ? &S->wifc[j->ifid] : NULL;
	uint8_t hdr[1024];
	size_t n;

	if (f->failed || ic == NULL || !ic->known) {
		f->write_errors++;
		S->w_errors++;
		if (ic == NULL || !ic->known) {
			static struct log_rl rl;
			log_ratelimited(&rl, 1, 60000, LOG_WARNING, "a frame of an interface no "
			    "interface record described: counted as pcap_write_error");
		}
		return;
	}
	bool fresh = !f->created;
	if (file_open(S, f) < 0) {
		f->write_errors++;
		S->w_errors++;
		return;
	}
	if (S->pcapng) {
		if (fresh) {
			if (f->shb_size > 0) {
				/* room kept for the summary written at the close */
				uint8_t *b = xmalloc(f->shb_size);
				n = pcapng_shb_sized(b, f->shb_size, f->comment, f->shb_size);
				file_put(S, f, b, n, false);
				free(b);
			} else {
				n = pcapng_shb(hdr, sizeof(hdr), f->comment);
				file_put(S, f, hdr, n, false);
			}
			free(f->comment);
			f->comment = NULL;
			for (int k = 0; k < PIFACES; k++)
				f->ifmap[k] = -1;
		}
		if (f->ifmap[j->ifid] < 0 && f->fd >= 0) {
			n = pcapng_idb(hdr, sizeof(hdr), (uint16_t)ic->dlt, (uint32_t)ic->snaplen, ic->name);
			file_put(S, f, hdr, n, false);
			f->ifmap[j->ifid] = (int8_t)f->nif++;
		}
		if (f->fd < 0) {
			f->write_errors++;
			S->w_errors++;
			return;
		}
		size_t len = pcapng_epb_len(j->caplen, NULL);
		if (len <= FBUF) {
			/* Built in place in the file's buffer. */
			if (f->blen + len > FBUF)
				file_flush(S, f);
			if (f->fd < 0) {
				f->write_errors++;
				S->w_errors++;
				return;
			}
			n = pcapng_epb(f->buf + f->blen, FBUF - f->blen, (uint32_t)f->ifmap[j->ifid],
			    j->ts_ns, j->data, j->caplen, j->origlen, NULL);
			f->blen += n;
			f->size += n;
			f->bpkts++;
		} else {
			uint8_t *b = xmalloc(len);
			n = pcapng_epb(b, len, (uint32_t)f->ifmap[j->ifid], j->ts_ns, j->data,
			    j->caplen, j->origlen, NULL);
			put_packet(S, f, b, n);
			free(b);
		}
		return;
	}
	/* classic pcap: one link type per file */
	const uint8_t *out;
	size_t outlen;
	struct pcap_pkthdr h;
	if (fresh) {
		f->dlt = ic->dlt;
		if (classic_bytes(S, ic->dlt, ic->snaplen, NULL, NULL, true, &out, &outlen) < 0) {
			file_fail(S, f, EINVAL);
			f->write_errors++;
			S->w_errors++;
			return;
		}
		file_put(S, f, out, outlen, false);
	}
	if (ic->dlt != f->dlt) {
		static struct log_rl rl;
		log_ratelimited(&rl, 1, 60000, LOG_WARNING, "%s: a frame of link type %d in a pcap "
		    "file of link type %d: counted as pcap_write_error (pcapng holds both)",
		    f->name, ic->dlt, f->dlt);
		f->write_errors++;
		S->w_errors++;
		return;
	}
	h.ts.tv_sec = (time_t)(j->ts_ns / NSEC_PER_SEC);
	h.ts.tv_usec = (suseconds_t)(j->ts_ns % NSEC_PER_SEC);
	h.caplen = j->caplen;
	h.len = j->origlen < j->caplen ? j->caplen : j->origlen;
	if (f->fd < 0 || classic_bytes(S, ic->dlt, ic->snaplen, &h, j->data, false, &out, &outlen) < 0) {
		f->write_errors++;
		S->w_errors++;
		return;
	}
	put_packet(S, f, out, outlen);
}

/* Tells the loop that f is finished (NULL: the writer stopped). */
static void
notify_done(struct pstate *S, struct pfile *f)
{
	char c = 1;

	pthread_mutex_lock(&S->mu);
	if (f != NULL) {
		SLIST_INSERT_HEAD(&S->done, f, done);
	} else {
		S->writer_stopped = true;
		pthread_cond_broadcast(&S->cv_stopped);
	}
	pthread_mutex_unlock(&S->mu);
	if (write(S->donefd[1], &c, 1) < 0 && errno != EAGAIN)
		log_warn("pcap: notifying the loop");
}

/* A call's summary into the section header kept for it. */
static void
write_summary(struct pstate *S, struct pfile *f)
{
	uint8_t *b;
	size_t n;
	int fd;

	if (!S->pcapng || f->shb_size == 0 || f->summary == NULL || !f->created || f->failed)
		return;
	if ((fd = openat(S->dirfd, f->name, O_WRONLY | O_CLOEXEC)) < 0) {
		log_warn("%s/%s: writing the call's summary", S->dir, f->name);
		return;
	}
	b = xmalloc(f->shb_size);
	n = pcapng_shb_sized(b, f->shb_size, f->summary, f->shb_size);
	if (n == 0 || pwrite(fd, b, n, 0) != (ssize_t)n)
		log_warn("%s/%s: writing the call's summary", S->dir, f->name);
	free(b);
	close(fd);
}

static void retain(struct pstate *S, const char *name, uint64_t size);

/* Per-session (per-call) close: flush, close, rename to its final name. */
static void
write_close(struct pstate *S, struct pfile *f)
{
	file_close_fd(S, f);
	if (f->discard) {
		if (f->created && unlinkat(S->dirfd, f->name, 0) < 0)
			log_warn("%s/%s: removing it", S->dir, f->name);
		return;
	}
	write_summary(S, f);
	if (f->created) {
		char final[PNAME_MAX];
		const char *open_suffix = strstr(f->name, "__open.");
		size_t keep = open_suffix ? (size_t)(open_suffix - f->name) : strlen(f->name);
		if (f->final_base != NULL) {
			/* a name with the call's state in it: not over another */
			for (int k = 1; k < 100; k++) {
				if (k == 1)
					snprintf(final, sizeof(final), "%s__%" PRIu64 "__%s.%s",
					    f->final_base, f->end_ms, f->reason, S->ext);
				else
					snprintf(final, sizeof(final), "%s-%d__%" PRIu64 "__%s.%s",
					    f->final_base, k, f->end_ms, f->reason, S->ext);
				if (faccessat(S->dirfd, final, F_OK, 0) < 0)
					break;
			}
		} else
			snprintf(final, sizeof(final), "%.*s__%" PRIu64 "__%s.%s", (int)keep, f->name,
			    f->end_ms, f->reason, S->ext);
		if (renameat(S->dirfd, f->name, S->dirfd, final) < 0)
			log_warn("%s/%s: renaming to %s", S->dir, f->name, final);
		else
			pfile_rename(f, final);
		retain(S, f->name, f->size);
	}
}

/*
 * Retention: a finished file joins the kept list (the directory's finished
 * files, oldest first, those of earlier runs too); while the list is over
 * max_total_bytes or max_files, its oldest file is removed and counted.
 * A file still open is never on the list.
 */
static void
retain(struct pstate *S, const char *name, uint64_t size)
{
	if (S->ret_max_bytes == 0 && S->ret_max_files == 0)
		return;
	if (S->kept_n == S->kept_cap) {
		size_t nc = S->kept_cap ? 2 * S->kept_cap : 64;
		struct kept *k = xcalloc(nc, sizeof(*k));
		for (size_t i = 0; i < S->kept_n; i++)
			k[i] = S->kept[(S->kept_head + i) % S->kept_cap];
		free(S->kept);
		S->kept = k;
		S->kept_cap = nc;
		S->kept_head = 0;
	}
	S->kept[(S->kept_head + S->kept_n++) % S->kept_cap] = (struct kept){ xstrdup(name), size };
	S->kept_bytes += size;
	while (S->kept_n > 1 && ((S->ret_max_bytes && S->kept_bytes > S->ret_max_bytes) ||
	    (S->ret_max_files && S->kept_n > S->ret_max_files))) {
		struct kept *k = &S->kept[S->kept_head];
		if (unlinkat(S->dirfd, k->name, 0) < 0 && errno != ENOENT) {
			static struct log_rl rl;
			log_ratelimited(&rl, 1, 10000, LOG_WARNING, "%s/%s: removing it for the retention limits: %s",
			    S->dir, k->name, strerror(errno));
		} else {
			pthread_mutex_lock(&S->mu);
			S->ret_files++;
			S->ret_bytes += k->size;
			pthread_mutex_unlock(&S->mu);
		}
		S->kept_bytes -= k->size;
		free(k->name);
		S->kept_head = (S->kept_head + 1) % S->kept_cap;
		S->kept_n--;
	}
}

static int
kept_cmp(const void *a, const void *b)
{
	const struct kept *x = a, *y = b;

	return x->size < y->size ? -1 : x->size > y->size;	/* (size holds the mtime here) */
}

/* Files still "__open" when this sink starts were left by one that died
 * (a kill, a crash): their frames up to the death are in them, the rest
 * went with it.  They are renamed "__interrupted" (never appended to:
 * their last block may be cut) and counted. */
static void
interrupted_scan(struct pstate *S)
{
	int fd;
	DIR *d;
	struct dirent *e;

	if ((fd = dup(S->dirfd)) < 0)
		return;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return;
	}
	rewinddir(d);	/* (a dup shares the offset another scan left at the end) */
	while ((e = readdir(d)) != NULL) {
		char *at = strstr(e->d_name, "__open.");
		char to[NAME_MAX + 32];
		struct stat st;
		if (at == NULL || (strcmp(at, "__open.pcap") != 0 && strcmp(at, "__open.pcapng") != 0) ||
		    fstatat(S->dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
			continue;
		snprintf(to, sizeof(to), "%.*s__interrupted%s", (int)(at - e->d_name), e->d_name,
		    at + strlen("__open"));
		if (renameat(S->dirfd, e->d_name, S->dirfd, to) == 0) {
			S->interrupted++;
			log_warnx("io.output.pcap: %s was left open by a sink that died: renamed %s "
			    "(pcap_files_interrupted)", e->d_name, to);
		}
	}
	closedir(d);
}

/* The finished files already in the directory, oldest first (before the
 * sandbox: it reads the directory). */
static void
retain_scan(struct pstate *S)
{
	int fd;
	DIR *d;
	struct dirent *e;
	struct kept *v = NULL;
	size_t n = 0, cap = 0;

	if ((S->ret_max_bytes == 0 && S->ret_max_files == 0) || (fd = dup(S->dirfd)) < 0)
		return;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return;
	}
	rewinddir(d);	/* (a dup shares the offset another scan left at the end) */
	while ((e = readdir(d)) != NULL) {
		struct stat st;
		size_t l = strlen(e->d_name);
		bool ours = (l > 5 && strcmp(e->d_name + l - 5, ".pcap") == 0) ||
		    (l > 7 && strcmp(e->d_name + l - 7, ".pcapng") == 0);
		if (!ours || strstr(e->d_name, "__open") != NULL ||
		    fstatat(S->dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			v = xrealloc(v, cap * sizeof(*v));
		}
		/* sorted by mtime (ns), then kept with their sizes */
		v[n].name = xstrdup(e->d_name);
		v[n].size = (uint64_t)st.st_mtim.tv_sec * 1000000000ULL + (uint64_t)st.st_mtim.tv_nsec;
		n++;
	}
	closedir(d);
	if (n > 1)
		qsort(v, n, sizeof(*v), kept_cmp);
	for (size_t i = 0; i < n; i++) {
		struct stat st;
		if (fstatat(S->dirfd, v[i].name, &st, AT_SYMLINK_NOFOLLOW) == 0)
			retain(S, v[i].name, (uint64_t)st.st_size);
		free(v[i].name);
	}
	free(v);
	if (n)
		log_info("io.output.pcap: %zu finished files already in %s count toward the retention limits",
		    n, S->dir);
}

static void job_free(struct pstate *S, struct job *j);
static void jobs_free(struct pstate *S, struct job *list);

#define FLUSH_MS 200

/* Every open file's buffered frames to its file. */
static void
flush_open(struct pstate *S)
{
	struct pfile *f, *nx;

	for (f = TAILQ_FIRST(&S->lru); f != NULL; f = nx) {
		nx = TAILQ_NEXT(f, lru);	/* (a failed write unlinks f) */
		if (f->blen > 0)
			file_flush(S, f);
	}
}

static void *
writer_main(void *arg)
{
	struct pstate *S = arg;

	bool dirty = false;
	struct timespec flushed;

	clock_gettime(CLOCK_REALTIME, &flushed);
	for (;;) {
		struct job *j;
		pthread_mutex_lock(&S->mu);
		while (S->qhead == NULL) {
			/* Idle with frames in the files' buffers: out they go, at
			 * most every FLUSH_MS, so that a file grows as its frames
			 * come (a live call's can be tailed) and a burst still
			 * writes in large pieces.  Nothing buffered: a plain
			 * wait (idle is idle). */
			if (!dirty) {
				pthread_cond_wait(&S->cv, &S->mu);
				continue;
			}
			struct timespec due = timespec_plus_ms(flushed, FLUSH_MS);
			if (pthread_cond_timedwait(&S->cv, &S->mu, &due) == ETIMEDOUT &&
			    S->qhead == NULL) {
				pthread_mutex_unlock(&S->mu);
				flush_open(S);
				dirty = false;
				clock_gettime(CLOCK_REALTIME, &flushed);
				pthread_mutex_lock(&S->mu);
			}
		}
		/* The whole queue at once: one lock round a batch, not two a
		 * frame (the loop and this thread took turns on the lock). */
		struct job *batch = S->qhead, *done = NULL;
		S->qhead = S->qtail = NULL;
		if (S->qpackets >= S->qmax)
			pthread_cond_broadcast(&S->cv_space);
		S->qpackets = 0;
		bool abandon = S->abandon;
		pthread_mutex_unlock(&S->mu);

		while ((j = batch) != NULL) {
			batch = j->next;
			atomic_fetch_add_explicit(&S->w_jobs, 1, memory_order_relaxed);
			switch (j->kind) {
			case J_PKT:
				if (abandon) {
					j->pf->write_errors++;
					S->w_abandoned++;
				} else {
					write_packet(S, j);
					dirty = true;
				}
				break;
			case J_IFACE:
				if (j->ifid < PIFACES)
					S->wifc[j->ifid] = j->ifc;
				break;
			case J_CLOSE:
				write_close(S, j->pf);
				notify_done(S, j->pf);
				break;
			case J_ROTATE:
				/* The rolling file is finished: closed, its name kept. */
				file_close_fd(S, j->pf);
				if (j->pf->created)
					retain(S, j->pf->name, j->pf->size);
				notify_done(S, j->pf);
				break;
			case J_STOP:
				while (!TAILQ_EMPTY(&S->lru))
					file_close_fd(S, TAILQ_FIRST(&S->lru));
				jobs_free(S, done);
				free(j);
				notify_done(S, NULL);
				return NULL;
			}
			if (j->kind == J_PKT) {
				j->next = done;	/* back to the pool together */
				done = j;
			} else
				free(j);
		}
		jobs_free(S, done);
	}
}

/* ---------------- the loop's side ---------------- */

/* Appends under the lock held.  The writer waits only on an empty queue:
 * a wake-up is owed only when this job makes it non-empty. */
static void
q_append(struct pstate *S, struct job *j)
{
	j->next = NULL;
	if (S->qtail)
		S->qtail->next = j;
	else {
		S->qhead = j;
		pthread_cond_signal(&S->cv);
	}
	S->qtail = j;
	if (j->kind == J_PKT)
		S->qpackets++;
}

static void
q_push(struct pstate *S, struct job *j)
{
	pthread_mutex_lock(&S->mu);
	q_append(S, j);
	pthread_mutex_unlock(&S->mu);
}

/* Room on the writer's queue for this many frames (with a record stream
 * as input: waits for some).  Only the writer changes it meanwhile, and
 * only to make more. */
static size_t
q_room(struct pstate *S)
{
	size_t room;

	pthread_mutex_lock(&S->mu);
	if (S->wait_when_full)
		while (S->qpackets >= S->qmax && !S->abandon)
			pthread_cond_wait(&S->cv_space, &S->mu);
	room = S->qpackets < S->qmax ? S->qmax - S->qpackets : 0;
	pthread_mutex_unlock(&S->mu);
	return room;
}

/* Is the queue full?  With a record stream as input the loop waits for
 * room instead (nothing else depends on its pace): never full. */
static bool
q_full(struct pstate *S)
{
	return q_room(S) == 0;
}

static struct job *
job_new(enum jkind k, struct pfile *pf, size_t extra)
{
	struct job *j = xmalloc(sizeof(*j) + extra);

	memset(j, 0, sizeof(*j));
	j->kind = k;
	j->pf = pf;
	return j;
}

#define POOL_SMALL 2048		/* a frame buffer: an Ethernet frame and then some */
#define SMALL_ALLOC ((uint32_t)(sizeof(struct job) + POOL_SMALL))
#define POOL_TINY 192		/* headers, ACKs, small datagrams */
#define TINY_ALLOC ((uint32_t)(sizeof(struct job) + POOL_TINY))

/* The free list of a buffer's size, NULL for a large one. */
static struct job **
pool_list(struct pstate *S, uint32_t alloc)
{
	return alloc == TINY_ALLOC ? &S->pool_tiny : alloc == SMALL_ALLOC ? &S->pool_free : NULL;
}

/* the rolling file's frames waiting for the watermarks (held_push) */
static size_t
held_n(const struct pstate *S)
{
	return S->nrun + S->nheap;
}

/* A frame job from the pool, or NULL when the pool has no room (with a
 * record stream as input: waits for the writer instead). */
static struct job *
frame_new(struct pstate *S, struct pfile *pf, uint32_t caplen)
{
	uint32_t need = caplen <= POOL_TINY ? TINY_ALLOC : caplen <= POOL_SMALL ? SMALL_ALLOC :
	    (uint32_t)sizeof(struct job) + caplen;
	struct job **fl = pool_list(S, need);
	struct job *j = NULL;

	pthread_mutex_lock(&S->mu);
	for (;;) {
		if (fl != NULL && *fl != NULL) {
			j = *fl;
			*fl = j->next;
			break;
		}
		/* a frame may take the room of buffers of the other sizes kept idle */
		while (S->pool_bytes + need > S->pool_max && (S->pool_free != NULL || S->pool_tiny != NULL)) {
			struct job **from = S->pool_free != NULL ? &S->pool_free : &S->pool_tiny;
			struct job *f = *from;
			*from = f->next;
			S->pool_bytes -= f->alloc;
			free(f);
		}
		if (S->pool_bytes + need <= S->pool_max) {
			S->pool_bytes += need;
			break;
		}
		/* Wait (a record stream: lossless) only for frames the writer
		 * holds; the heap's are the caller's to release. */
		if (!S->wait_when_full || S->abandon || S->pool_jobs <= held_n(S)) {
			pthread_mutex_unlock(&S->mu);
			return NULL;
		}
		S->pool_waiting = true;
		pthread_cond_wait(&S->cv_space, &S->mu);
	}
	S->pool_jobs++;
	pthread_mutex_unlock(&S->mu);
	if (j == NULL)
		j = xmalloc(need);
	memset(j, 0, sizeof(*j));
	j->kind = J_PKT;
	j->pf = pf;
	j->alloc = need;
	return j;
}

/* Frame jobs (a list on ->next), done: their buffers back to the pool
 * under one lock. */
static void
jobs_free(struct pstate *S, struct job *list)
{
	struct job *big = NULL, *j;

	if (list == NULL)
		return;
	pthread_mutex_lock(&S->mu);
	while ((j = list) != NULL) {
		list = j->next;
		S->pool_jobs--;
		struct job **fl = pool_list(S, j->alloc);
		if (fl != NULL) {
			j->next = *fl;
			*fl = j;
		} else {
			S->pool_bytes -= j->alloc;
			j->next = big;
			big = j;
		}
	}
	if (S->pool_waiting) {
		S->pool_waiting = false;
		pthread_cond_signal(&S->cv_space);
	}
	pthread_mutex_unlock(&S->mu);
	while ((j = big) != NULL) {
		big = j->next;
		free(j);
	}
}

/* Any job, done: a frame's buffer back to the pool. */
static void
job_free(struct pstate *S, struct job *j)
{
	if (j->kind != J_PKT) {
		free(j);
		return;
	}
	pthread_mutex_lock(&S->mu);
	S->pool_jobs--;
	struct job **fl = pool_list(S, j->alloc);
	if (fl != NULL) {
		j->next = *fl;
		*fl = j;
		j = NULL;
	} else
		S->pool_bytes -= j->alloc;
	if (S->pool_waiting) {
		S->pool_waiting = false;
		pthread_cond_signal(&S->cv_space);
	}
	pthread_mutex_unlock(&S->mu);
	free(j);
}

static void
flow_names(const struct ssn *s, char *l, size_t ll, uint16_t *lport, char *r, size_t rl,
    uint16_t *rport)
{
	const struct wire_flow *f = &s->open.flow;
	bool server_local = f->local_side == 2;

	addr_fmt(f->family, server_local ? f->server_ip : f->client_ip, l, ll);
	addr_fmt(f->family, server_local ? f->client_ip : f->server_ip, r, rl);
	*lport = server_local ? f->server_port : f->client_port;
	*rport = server_local ? f->client_port : f->server_port;
}

/* A file named by base and described by comment (printf formats). */
static struct pfile *
pfile_new(uint64_t sid, const char *base, const char *comment)
{
	struct pfile *f = xcalloc(1, sizeof(*f));

	f->session_id = sid;
	f->fd = -1;
	f->base = xstrdup(base);
	f->comment = xstrdup(comment);
	return f;
}

static void
roll_new(struct pstate *S, uint64_t ts_ns)
{
	char base[PNAME_MAX - 64], comment[128];
	struct pfile *f;

	snprintf(base, sizeof(base), "%s_%" PRIu64 "_%" PRIu64, S->rollname,
	    ts_ns / 1000000, ++S->roll_seq);
	snprintf(comment, sizeof(comment), "stethoscope: every frame, from %" PRIu64
	    " ms since the epoch", ts_ns / 1000000);
	f = pfile_new(0, base, comment);
	S->roll = f;
	S->roll_bytes = 0;
}

/* Queues one frame for file f.  Returns false when the queue is full. */
static bool
queue_frame(struct pstate *S, struct pfile *f, const struct rec_packet *p)
{
	struct job *j;

	if (q_full(S) || (j = frame_new(S, f, p->caplen)) == NULL) {
		S->queue_full++;
		return false;
	}
	j->ts_ns = p->ts_ns;
	j->ifid = p->ifid;
	j->caplen = p->caplen;
	j->origlen = p->origlen;
	memcpy(j->data, rec_packet_frame(p), p->caplen);
	q_push(S, j);
	return true;
}

/* ---- the rolling file: a heap by timestamp, released by watermark ---- */

/* An entry keeps its frame's timestamp: a comparison reads the heap's
 * array, not the frames (with a quarter of a million frames waiting, each
 * a miss: heap_pop was the pcap sink's first symbol at 800,000 frames/s). */
static void
heap_push(struct pstate *S, struct job *j)
{
	size_t i = S->nheap++;

	while (i > 0) {
		size_t up = (i - 1) / 2;
		if (!(j->ts_ns < S->heap[up].ts))
			break;
		S->heap[i] = S->heap[up];
		i = up;
	}
	S->heap[i] = (struct hent){ j->ts_ns, j };
}

static struct job *
heap_pop(struct pstate *S)
{
	struct job *top = S->heap[0].j;
	struct hent last = S->heap[--S->nheap];
	size_t i = 0;

	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= S->nheap)
			break;
		if (c + 1 < S->nheap && S->heap[c + 1].ts < S->heap[c].ts)
			c++;
		if (!(S->heap[c].ts < last.ts))
			break;
		S->heap[i] = S->heap[c];
		i = c;
	}
	if (S->nheap > 0)
		S->heap[i] = last;
	return top;
}

/* A list of jobs, in order, onto the queue in one lock round (one wake-up
 * of the writer at most, where a frame at a time could wake it for each). */
static void
q_push_list(struct pstate *S, struct job *head)
{
	pthread_mutex_lock(&S->mu);
	while (head != NULL) {
		struct job *n = head->next;
		q_append(S, head);
		head = n;
	}
	pthread_mutex_unlock(&S->mu);
}

#define ROLL_BATCH 256	/* frames released to the writer in one lock round */

/* Frame j onto the rolling file (a new one when none is open): appended
 * at *tail with the rotation it brings, if any; returns the new tail. */
static struct job **
roll_take(struct pstate *S, struct job *j, struct job **tail)
{
	if (S->roll == NULL)
		roll_new(S, j->ts_ns);
	j->pf = S->roll;
	if (j->ts_ns > S->roll_last_ts)
		S->roll_last_ts = j->ts_ns;
	S->roll_bytes += S->pcapng ? pcapng_epb_len(j->caplen, NULL) : 16 + (uint64_t)j->caplen;
	*tail = j;
	tail = &j->next;
	if (S->rotate_bytes > 0 && S->roll_bytes >= S->rotate_bytes) {
		struct job *r = job_new(J_ROTATE, S->roll, 0);
		*tail = r;
		tail = &r->next;
		S->roll = NULL;
	}
	return tail;
}

/* Frames wait for the watermarks in a run and a heap.  The run takes a
 * frame as old as the run's newest or newer, at its end: one shard's
 * frames, in capture order, all go there, at no cost.  The heap takes the
 * others (another shard's a little behind, a merged capture's).  The
 * oldest frame is at the front of one of the two (held_n counts both). */

/* the oldest frame's timestamp; false: none waits */
static bool
held_oldest(const struct pstate *S, uint64_t *ts)
{
	if (S->nrun == 0 && S->nheap == 0)
		return false;
	if (S->nrun == 0)
		*ts = S->heap[0].ts;
	else if (S->nheap == 0 || S->run_head->ts_ns <= S->heap[0].ts)
		*ts = S->run_head->ts_ns;
	else
		*ts = S->heap[0].ts;
	return true;
}

static void
held_push(struct pstate *S, struct job *j)
{
	if (S->nrun > 0 && j->ts_ns < S->run_tail->ts_ns) {
		heap_push(S, j);
		return;
	}
	j->next = NULL;
	if (S->nrun++ == 0)
		S->run_head = j;
	else
		S->run_tail->next = j;
	S->run_tail = j;
}

/* the oldest frame, out (one waits) */
static struct job *
held_pop(struct pstate *S)
{
	struct job *j;

	if (S->nrun == 0 || (S->nheap > 0 && S->heap[0].ts < S->run_head->ts_ns))
		return heap_pop(S);
	j = S->run_head;
	S->run_head = j->next;
	if (--S->nrun == 0)
		S->run_head = S->run_tail = NULL;
	return j;
}

/* Frames onto the rolling file, oldest first: at most n, those at or
 * under wm, ROLL_BATCH at most a lock round; returns how many went.  A
 * frame with no room on the queue is counted pcap_queue_full and freed. */
static size_t
roll_out(struct pstate *S, size_t n, uint64_t wm)
{
	size_t out = 0;

	uint64_t ts;

	while (n > 0 && held_oldest(S, &ts) && ts <= wm) {
		size_t room = q_room(S), k = 0;
		struct job *head = NULL, **tail = &head;
		if (room == 0) {
			S->queue_full++;
			job_free(S, held_pop(S));
			n--;
			continue;
		}
		for (; k < room && k < n && k < ROLL_BATCH && held_oldest(S, &ts) && ts <= wm; k++)
			tail = roll_take(S, held_pop(S), tail);
		*tail = NULL;
		n -= k;
		out += k;
		q_push_list(S, head);
	}
	return out;
}

/* The frames every shard's tick has passed (all: every one). */
static void
roll_release(struct sinkd *D, struct pstate *S, bool all)
{
	uint64_t wm = UINT64_MAX;

	for (unsigned k = 0; !all && k < D->nin; k++)
		if (S->wm_live[k] && S->wm[k] < wm)
			wm = S->wm[k];
	roll_out(S, SIZE_MAX, wm);
}

/* The heap's oldest ROLL_BATCH frames now, whatever the watermarks say:
 * the heap or the pool is full.  A batch, not a frame: a stream whose
 * ticks come far apart (a file's, one tick in a fifth of a second of a
 * gigabit flow) filled the pool and then handed the writer one frame a
 * lock round and a wake-up, 18 times slower than per-session files. */
static void
roll_force(struct pstate *S)
{
	S->forced_order += roll_out(S, ROLL_BATCH, UINT64_MAX);
}

/* One frame onto the rolling file now (out of the heap's order). */
static void
roll_release_one(struct pstate *S, struct job *j)
{
	struct job *head = NULL;

	if (q_room(S) == 0) {
		S->queue_full++;
		job_free(S, j);
		return;
	}
	*roll_take(S, j, &head) = NULL;
	q_push_list(S, head);
}

/* ---- family hooks ---- */

static int
po_prepare(struct sinkd *D, char *err, size_t errlen)
{
	struct pstate *S = xcalloc(1, sizeof(*S));
	struct privdrop_opts po = { D->c->user, D->c->group, NULL, { 0 } };
	const char *fmt = D->c->pcap_format ? D->c->pcap_format : "pcapng";

	(void)err;
	TAILQ_INIT(&S->lru);
	SLIST_INIT(&S->done);
	(void)errlen;
	P = S;
	D->fs = S;
	S->dirfd = -1;
	S->donefd[0] = S->donefd[1] = -1;
	S->pcapng = strcmp(fmt, "pcap") != 0;
	S->ext = S->pcapng ? "pcapng" : "pcap";
	S->per_session = D->c->pcap_per_session;
	S->per_call = D->c->voip_per_call_pcap;
	/* the rolling file: unless per-session files, or per-call files alone
	 * (sinkd --per-call; with the launcher, io.output.pcap.enabled too) */
	S->roll_on = !S->per_session && (!S->per_call || D->c->pcap_enabled);
	S->call_pattern = D->c->voip_pcap_name && *D->c->voip_pcap_name ? D->c->voip_pcap_name :
	    "{timestamp}_{callid}.pcapng";
	S->call_rotate = (uint64_t)D->c->voip_pcap_rotate_bytes;
	S->max_calls = (size_t)D->c->voip_max_calls;
	if (S->per_call) {
		S->cnb = 1024;
		while (S->cnb < S->max_calls / 2 && S->cnb < (1u << 20))
			S->cnb *= 2;
		S->cb = xcalloc(S->cnb, sizeof(*S->cb));
	}
	S->qmax = (size_t)D->c->pcap_queue_size;
	S->pool_max = (uint64_t)D->c->pcap_queue_bytes;
	S->max_open = (unsigned)D->c->max_open_files;
	S->max_open_cfg = (long long)D->c->max_open_files;
	S->rotate_bytes = (uint64_t)D->c->pcap_rotate_bytes;
	S->grace_ns = (uint64_t)D->c->close_grace_ms * 1000000;
	sth_strlcpy(S->rollname, D->c->pcap_name && *D->c->pcap_name ? D->c->pcap_name : "stethoscope",
	    sizeof(S->rollname));
	S->dir = xstrdup(D->c->pcap_dir && *D->c->pcap_dir ? D->c->pcap_dir : ".");
	if (mkdir_p(S->dir, 0755) < 0) {
		log_warnx("io.output.pcap.dir %s: %s: pcap output is disabled; every frame is counted "
		    "as pcap_write_error", S->dir, strerror(errno));
		S->disabled = true;
		return 0;
	}
	if (privdrop_give(S->dir, &po, err, errlen) < 0)
		log_warnx("io.output.pcap.dir: %s", err);
	S->dirfd = open(S->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (S->dirfd < 0) {
		log_warnx("io.output.pcap.dir %s: %s: pcap output is disabled; every frame is counted "
		    "as pcap_write_error", S->dir, strerror(errno));
		S->disabled = true;
	}
	S->ret_max_bytes = (uint64_t)D->c->pcap_max_total_bytes;
	S->ret_max_files = (uint64_t)D->c->pcap_max_files;
	if (S->dirfd >= 0) {
		interrupted_scan(S);
		retain_scan(S);
	}
	return 0;
}

static void
po_on_done(evutil_socket_t fd, short what, void *arg)
{
	struct sinkd *D = arg;
	struct pstate *S = D->fs;
	struct pfile *list, *f, *nx;
	char buf[256];
	bool stopped = false;

	(void)what;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	pthread_mutex_lock(&S->mu);
	list = SLIST_FIRST(&S->done);
	SLIST_INIT(&S->done);
	stopped = S->writer_stopped;
	pthread_mutex_unlock(&S->mu);
	for (f = list; f; f = nx) {
		nx = SLIST_NEXT(f, done);
		if (f->session_id == 0) {
			pfile_free(f);
			continue;
		}
		struct ssn *s = sinkd_find(D, f->session_id);
		if (s != NULL)
			sinkd_session_done(D, s);
		else
			pfile_free(f);
	}
	if (stopped && !S->stopped) {
		S->stopped = true;
		sinkd_drained(D);
	}
}

static void
po_start(struct sinkd *D)
{
	struct pstate *S = D->fs;

	if (!S->disabled) {
		/* Can runtime.user write there?  Find out now, not at the
		 * first session. */
		char probe[64];
		snprintf(probe, sizeof(probe), ".stethoscope-probe-%ld", (long)getpid());
		int fd = openat(S->dirfd, probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0) {
			log_warnx("io.output.pcap.dir %s: %s: pcap output is disabled; every frame "
			    "is counted as pcap_write_error", S->dir, strerror(errno));
			S->disabled = true;
		} else {
			close(fd);
			unlinkat(S->dirfd, probe, 0);
		}
	}
	S->memcap = 256 * 1024 + 65536;
	S->membuf = xmalloc(S->memcap);
	S->memf = fmemopen(S->membuf, S->memcap, "w");
	if (S->memf == NULL)
		fatal("fmemopen");
	setvbuf(S->memf, NULL, _IONBF, 0);
	S->wm = xcalloc(D->nin ? D->nin : 1, sizeof(*S->wm));
	S->wm_live = xcalloc(D->nin ? D->nin : 1, sizeof(*S->wm_live));
	for (unsigned k = 0; k < D->nin; k++)
		S->wm_live[k] = true;
	S->heap = xcalloc(S->qmax + 1, sizeof(*S->heap));
	if (pipe(S->donefd) < 0)
		fatal("pipe");
	fd_set_nonblock(S->donefd[0]);
	fd_set_nonblock(S->donefd[1]);
	fd_set_cloexec(S->donefd[0]);
	fd_set_cloexec(S->donefd[1]);
	S->ev_done = event_new(D->base, S->donefd[0], EV_READ | EV_PERSIST, po_on_done, D);
	event_add(S->ev_done, NULL);
	pthread_mutex_init(&S->mu, NULL);
	pthread_cond_init(&S->cv, NULL);
	pthread_cond_init(&S->cv_space, NULL);
	pthread_cond_init(&S->cv_stopped, NULL);
	S->wait_when_full = D->stream_input;
	if (pthread_create(&S->th, NULL, writer_main, S) != 0)
		fatal("pthread_create");
	S->th_started = true;
	log_info("pcap: %s into %s, %s%s%s", S->ext, S->dir,
	    S->per_session ? "one file per session" : S->roll_on ? "one rolling file" : "",
	    S->per_call ? (S->per_session || S->roll_on ? ", one file per call" : "one file per call") : "",
	    S->disabled ? " (disabled: the directory cannot be written)" : "");
}

static void
po_iface(struct sinkd *D, unsigned input, const struct rec_interface *i, const char *name)
{
	struct pstate *S = D->fs;
	struct job *j;

	(void)input;
	if (i->id >= PIFACES)
		return;
	S->ifc[i->id].known = true;
	S->ifc[i->id].dlt = (int)i->linktype;
	S->ifc[i->id].snaplen = (int)i->snaplen;
	sth_strlcpy(S->ifc[i->id].name, name, sizeof(S->ifc[i->id].name));
	j = job_new(J_IFACE, NULL, 0);
	j->ifid = i->id;
	j->ifc = S->ifc[i->id];
	q_push(S, j);
}

static void
po_open(struct sinkd *D, struct ssn *s)
{
	struct pstate *S = D->fs;
	struct pssn *ps = xcalloc(1, sizeof(*ps));
	char l[64], r[64], base[PNAME_MAX - 64], comment[256];
	uint16_t lp, rp;

	s->fam = ps;
	if (!S->per_session)
		return;
	flow_names(s, l, sizeof(l), &lp, r, sizeof(r), &rp);
	snprintf(base, sizeof(base), "%s_%u__%s_%u__%" PRIu64, l, lp, r, rp, ssn_start_ms(s));
	snprintf(comment, sizeof(comment), "stethoscope session %" PRIu64
	    ": local %s:%u, remote %s:%u", s->id, l, lp, r, rp);
	ps->pf = pfile_new(s->id, base, comment);
}

static void
send_close(struct pstate *S, struct ssn *s)
{
	struct pssn *ps = s->fam;

	if (ps == NULL || ps->close_sent)
		return;
	ps->close_sent = true;
	if (ps->pf == NULL)
		return;
	ps->pf->end_ms = (s->have_close ? s->close.ts_ns : s->open.ts_ns) / 1000000;
	sth_strlcpy(ps->pf->reason, s->have_close ? wire_close_reason_name(s->close.reason) :
	    "shard_lost", sizeof(ps->pf->reason));
	q_push(S, job_new(J_CLOSE, ps->pf, 0));
}

/* Sessions whose close is close_grace_ms of capture time old are done.
 * The closes are checked in the order they came, the head only: O(1) a
 * packet however many sessions are closing (closes come in capture-time
 * order from each shard; one that overtakes waits for those before it). */
static void
closing_check(struct sinkd *D, struct pstate *S, bool all)
{
	while (S->nclosing > 0) {
		struct ssn *s = S->closing[S->chead];
		if (!all && s->have_close && s->close.ts_ns + S->grace_ns > D->last_ts_ns)
			break;
		send_close(S, s);
		S->chead = (S->chead + 1) % S->capclosing;
		S->nclosing--;
	}
}

static void
po_close(struct sinkd *D, struct ssn *s)
{
	struct pstate *S = D->fs;
	struct pssn *ps = s->fam;

	if (ps == NULL || ps->pf == NULL) {
		/* Rolling mode: the session's frames are in the rolling file. */
		sinkd_session_done(D, s);
		return;
	}
	if (!s->have_close) {
		/* its input was lost: nothing more will come for it */
		send_close(S, s);
		return;
	}
	if (S->nclosing == S->capclosing) {
		/* grow, unwrapping the FIFO */
		size_t cap = S->capclosing ? 2 * S->capclosing : 64;
		struct ssn **c = xmalloc(cap * sizeof(*c));
		for (size_t k = 0; k < S->nclosing; k++)
			c[k] = S->closing[(S->chead + k) % S->capclosing];
		free(S->closing);
		S->closing = c;
		S->chead = 0;
		S->capclosing = cap;
	}
	S->closing[(S->chead + S->nclosing++) % S->capclosing] = s;
	closing_check(D, S, D->draining);
}

/* ---- per-call files ---- */

static struct pcall **
call_slot(struct pstate *S, uint64_t id)
{
	struct pcall **pp = &S->cb[(id * 0x9E3779B97F4A7C15ull) >> 48 & (S->cnb - 1)];

	while (*pp != NULL && (*pp)->id != id)
		pp = &(*pp)->hnext;
	return pp;
}

/* A value for a file name: what is not [A-Za-z0-9._@+=-] becomes '_'. */
static void
name_put(char *dst, size_t size, size_t *len, const char *v, size_t n)
{
	for (size_t k = 0; k < n && *len + 1 < size; k++) {
		char c = v[k];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '.' || c == '_' || c == '@' || c == '+' || c == '=' || c == '-';
		if (c == '.' && *len == 0)
			ok = false;	/* no hidden files */
		dst[(*len)++] = ok ? c : '_';
	}
	dst[*len] = '\0';
}

/* voip.pcap_name for a call: {callid} {from} {to} {timestamp} {state}
 * (an extension at its end is the format's). */
static void
call_name(const struct pstate *S, const struct pcall *c, const char *state, char *out, size_t size)
{
	const char *p = S->call_pattern;
	size_t len = 0, plen = strlen(p);
	char ts[40];
	time_t t = (time_t)(c->start_ns / NSEC_PER_SEC);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(ts, sizeof(ts), "%Y%m%dT%H%M%S", &tm);
	snprintf(ts + strlen(ts), sizeof(ts) - strlen(ts), ".%03uZ",
	    (unsigned)(c->start_ns % NSEC_PER_SEC / 1000000));
	if (plen > 7 && strcmp(p + plen - 7, ".pcapng") == 0)
		plen -= 7;
	else if (plen > 5 && strcmp(p + plen - 5, ".pcap") == 0)
		plen -= 5;
	out[0] = '\0';
	for (size_t k = 0; k < plen; ) {
		static const char *const names[] = { "{callid}", "{from}", "{to}", "{timestamp}", "{state}" };
		const char *vals[] = { c->callid, c->from, c->to, ts, state };
		bool done = false;
		for (size_t i = 0; i < 5 && !done; i++) {
			size_t nl = strlen(names[i]);
			if (plen - k >= nl && strncmp(p + k, names[i], nl) == 0) {
				/* a value is cut to 120 bytes: names stay short */
				size_t vl = strlen(vals[i]);
				name_put(out, size, &len, vals[i], vl > 120 ? 120 : vl);
				k += nl;
				done = true;
			}
		}
		if (!done)
			name_put(out, size, &len, p + k++, 1);
	}
	if (len == 0)
		name_put(out, size, &len, "call", 4);
}

static void
call_part(struct pstate *S, struct pcall *c)
{
	char base[PNAME_MAX - 64], comment[512];

	c->part++;
	if (c->part == 1)
		snprintf(base, sizeof(base), "%s", c->base);
	else
		snprintf(base, sizeof(base), "%s-part%u", c->base, c->part);
	snprintf(comment, sizeof(comment), "stethoscope call %s: from %s to %s%s (its summary is "
	    "written here when it ends)", c->callid, c->from, c->to,
	    c->part > 1 ? ", a later part" : "");
	c->pf = pfile_new(0, base, comment);
	c->pf->call_id = c->id;
	c->pf->shb_size = S->pcapng ? CALL_SHB : 0;
	c->part_bytes = 0;
}

static char *
str_of(const char *p, size_t n)
{
	char *s = xmalloc(n + 1);

	memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

/* voip.sipuser (sinkd --sipuser): none, or one that matches From or To. */
static bool
targeted(const struct conf *c, const char *from, size_t fl, const char *to, size_t tl)
{
	bool any = false;

	for (size_t i = 0; i < c->sipuser.n; i++) {
		if (c->sipuser.v[i][0] == '\0')
			continue;
		any = true;
		if (sipuser_match(c->sipuser.v[i], from, fl) || sipuser_match(c->sipuser.v[i], to, tl))
			return true;
	}
	return !any;
}

static void
po_call_open(struct sinkd *D, unsigned input, const struct rec_call_open *o)
{
	struct pstate *S = D->fs;
	const char *t = (const char *)(o + 1);
	struct pcall **pp, *c;
	char base[PNAME_MAX - 96];

	(void)input;
	if (!S->per_call)
		return;
	if (*(pp = call_slot(S, o->call_id)) != NULL)
		return;		/* known already */
	if (!targeted(D->c, t + o->callid_len, o->from_len, t + o->callid_len + o->from_len,
	    o->to_len)) {
		S->calls_untargeted++;
		return;
	}
	if (S->ncalls >= S->max_calls) {
		static struct log_rl rl;
		S->calls_full++;
		log_ratelimited(&rl, 1, 60000, LOG_WARNING, "voip.max_calls (%zu) calls have files "
		    "open: call %.*s gets none (pcap_calls_full %" PRIu64 ")", S->max_calls,
		    (int)o->callid_len, t, S->calls_full);
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->id = o->call_id;
	c->start_ns = o->ts_ns;
	c->callid = str_of(t, o->callid_len);
	c->from = str_of(t + o->callid_len, o->from_len);
	c->to = str_of(t + o->callid_len + o->from_len, o->to_len);
	call_name(S, c, "open", base, sizeof(base));
	c->base = xstrdup(base);
	call_part(S, c);
	*pp = c;
	S->ncalls++;
	S->calls++;
}

static void
call_free(struct pcall *c)
{
	free(c->base);
	free(c->callid);
	free(c->from);
	free(c->to);
	free(c);
}

/* The call's file is finished (reason: its state, or why it ends here). */
static void
call_finish(struct pstate *S, struct pcall *c, uint64_t end_ns, const char *reason,
    const char *summary, size_t slen)
{
	struct pfile *f = c->pf;
	char base[PNAME_MAX - 96];

	f->end_ms = end_ns / 1000000;
	sth_strlcpy(f->reason, reason, sizeof(f->reason));
	if (summary != NULL)
		f->summary = str_of(summary, slen);
	if (strstr(S->call_pattern, "{state}") != NULL) {
		call_name(S, c, reason, base, sizeof(base));
		if (c->part > 1)
			snprintf(base + strlen(base), sizeof(base) - strlen(base), "-part%u", c->part);
		f->final_base = xstrdup(base);
	}
	c->pf = NULL;
	q_push(S, job_new(J_CLOSE, f, 0));
}

static void
po_call_close(struct sinkd *D, unsigned input, const struct rec_call_close *cc)
{
	struct pstate *S = D->fs;
	struct pcall **pp, *c;
	char state[sizeof(cc->state) + 1];
	size_t len = 0;

	(void)input;
	if (!S->per_call || *(pp = call_slot(S, cc->call_id)) == NULL)
		return;
	c = *pp;
	*pp = c->hnext;
	S->ncalls--;
	name_put(state, sizeof(state), &len, cc->state, strnlen(cc->state, sizeof(cc->state)));
	if (cc->flags & CALL_F_DISCARD) {
		S->calls--;
		S->calls_discarded++;
		c->pf->discard = true;
	}
	call_finish(S, c, cc->end_ns, len ? state : "ended", (const char *)(cc + 1), cc->json_len);
	call_free(c);
}

/* A frame to the files of the calls it names. */
static void
call_frames(struct pstate *S, const struct rec_packet *p)
{
	for (unsigned k = 0; k < p->ncalls; k++) {
		struct pcall *c = *call_slot(S, rec_packet_calls(p)[k]);
		if (c == NULL) {
			S->not_in_call++;
			continue;
		}
		if (S->disabled) {
			S->write_errors++;
			continue;
		}
		S->call_frames++;
		c->frames++;
		if (!queue_frame(S, c->pf, p)) {
			c->queue_full++;
			continue;
		}
		c->part_bytes += S->pcapng ? pcapng_epb_len(p->caplen, NULL) : 16 + (uint64_t)p->caplen;
		if (S->call_rotate > 0 && c->part_bytes >= S->call_rotate) {
			call_finish(S, c, p->ts_ns, "continued", NULL, 0);
			call_part(S, c);
		}
	}
}

static void
po_packet(struct sinkd *D, unsigned input, const struct rec_packet *p)
{
	struct pstate *S = D->fs;
	struct ssn *s = p->session_id ? sinkd_find(D, p->session_id) : NULL;
	struct pssn *ps = s ? s->fam : NULL;

	S->packets++;
	if (p->ts_ns > D->last_ts_ns)
		D->last_ts_ns = p->ts_ns;
	if (S->per_call) {
		if (p->ncalls > 0)
			call_frames(S, p);
		else if (!S->per_session && !S->roll_on)
			S->not_in_call++;
		if (!S->per_session && !S->roll_on)
			return;
	}
	if (S->disabled) {
		S->write_errors++;
		if (ps)
			ps->write_errors_disabled++;
		return;
	}
	if (S->per_session) {
		if (ps == NULL || ps->pf == NULL || ps->close_sent) {
			S->not_in_session++;
			return;
		}
		ps->packets++;
		if (!queue_frame(S, ps->pf, p))
			ps->queue_full++;
		if (S->nclosing)
			closing_check(D, S, false);
		return;
	}
	if (ps)
		ps->packets++;
	if (held_n(S) >= S->qmax) {
		/* The heap is full: its oldest go now, whatever the
		 * watermarks say (a frame older than them, coming later,
		 * is written at once and counted pcap_out_of_order). */
		roll_force(S);
	}
	struct job *j;
	/* No room in the pool: the heap gives back its oldest first (as
	 * above), then the frame is counted as pcap_queue_full. */
	while ((j = frame_new(S, NULL, p->caplen)) == NULL && held_n(S) > 0)
		roll_force(S);
	if (j == NULL) {
		S->queue_full++;
		if (ps)
			ps->queue_full++;
		return;
	}
	j->ts_ns = p->ts_ns;
	j->ifid = p->ifid;
	j->caplen = p->caplen;
	j->origlen = p->origlen;
	memcpy(j->data, rec_packet_frame(p), p->caplen);
	(void)input;
	if (p->ts_ns < S->roll_last_ts) {
		/* Older than frames already written (timestamps that went
		 * backwards: a merged capture, two taps): written at once,
		 * out of order, and counted; never held or dropped. */
		S->out_of_order++;
		roll_release_one(S, j);
		return;
	}
	/* Released by the shards' ticks: a tick promises that no older
	 * frame follows from that shard (fragments of a datagram still
	 * being reassembled included). */
	held_push(S, j);
}

static void
po_tick(struct sinkd *D, unsigned input, uint64_t ts_ns)
{
	struct pstate *S = D->fs;

	if (input < D->nin && ts_ns > S->wm[input])
		S->wm[input] = ts_ns;
	if (!S->per_session)
		roll_release(D, S, false);
	if (S->nclosing)
		closing_check(D, S, false);
}

static void
po_drain(struct sinkd *D)
{
	struct pstate *S = D->fs;

	for (unsigned k = 0; k < D->nin; k++)
		S->wm_live[k] = false;
	roll_release(D, S, true);
	closing_check(D, S, true);
	for (size_t b = 0; S->cb != NULL && b < S->cnb; b++)
		while (S->cb[b] != NULL) {
			/* reasmd writes every call out before its end: these
			 * lost their input (or joined late) */
			struct pcall *c = S->cb[b];
			S->cb[b] = c->hnext;
			S->ncalls--;
			call_finish(S, c, D->last_ts_ns, "unfinished", NULL, 0);
			call_free(c);
		}
	if (S->roll != NULL) {
		q_push(S, job_new(J_ROTATE, S->roll, 0));
		S->roll = NULL;
	}
	q_push(S, job_new(J_STOP, NULL, 0));
	S->stop_queued = true;
}

/* How long the drain deadline waits, after telling the writer to give up,
 * for it to stop or at least to do another job: it counts the frames
 * it still has as shutdown_timeout and closes its files, quick unless a
 * write does not return (a hung file system).  A writer that still moves
 * (thousands of files to close on a slow machine) is waited for. */
#define ABANDON_WAIT_MS 2000

/*
 * The drain deadline (or an end without a drain): the writer counts what
 * it still has as shutdown_timeout and stops, and this waits for it, a
 * bounded while: the summary and the books that follow are then whole, and
 * nothing the writer uses is freed under it (po_free freed the sessions'
 * files while it still wrote them).  A writer that does not stop in time
 * is left alone, and said so.
 */
static void
po_abandon(struct sinkd *D)
{
	struct pstate *S = D->fs;
	struct timespec due;
	bool stopped;

	pthread_mutex_lock(&S->mu);
	S->abandon = true;
	if (!S->stop_queued && S->th_started)
		q_append(S, job_new(J_STOP, NULL, 0));
	S->stop_queued = true;
	pthread_mutex_unlock(&S->mu);
	if (!S->th_started)
		return;
	pthread_mutex_lock(&S->mu);
	for (;;) {
		uint64_t seen = atomic_load(&S->w_jobs);
		due = wall_in_ms(ABANDON_WAIT_MS);
		while (!S->writer_stopped && pthread_cond_timedwait(&S->cv_stopped, &S->mu, &due) != ETIMEDOUT)
			;
		if (S->writer_stopped || atomic_load(&S->w_jobs) == seen)
			break;
	}
	stopped = S->writer_stopped;
	pthread_mutex_unlock(&S->mu);
	if (stopped) {
		pthread_join(S->th, NULL);
		S->th_started = false;
		S->stopped = true;
	} else {
		S->stuck = true;
		log_warnx("pcap: the writer thread, told to give up, has not moved for %d ms "
		    "(a write that does not return?): the frames it still holds are not in the counts",
		    ABANDON_WAIT_MS);
	}
}

static void
po_books(struct sinkd *D, struct ssn *s, struct json_object *o, bool *ok)
{
	struct pssn *ps = s->fam;
	struct json_object *b = json_object_new_object();
	uint64_t written = 0, werr = 0;

	(void)D;
	if (ps == NULL)
		return;
	if (ps->pf != NULL) {
		written = ps->pf->packets;
		werr = ps->pf->write_errors;
		if (ps->pf->created)
			json_object_object_add(b, "file", json_object_new_string(ps->pf->name));
	}
	werr += ps->write_errors_disabled;
	evjson_add_u64(b, "packets", ps->packets);
	evjson_add_u64(b, "written", written);
	evjson_add_u64(b, "pcap_queue_full", ps->queue_full);
	evjson_add_u64(b, "pcap_write_error", werr);
	if (ps->pf != NULL || P->disabled)
		*ok = *ok && ps->packets == written + ps->queue_full + werr;
	json_object_object_add(b, "balanced", json_object_new_boolean(ps->packets == written + ps->queue_full + werr || ps->pf == NULL));
	json_object_object_add(o, "pcap", b);
	pfile_free(ps->pf);
	free(ps);
	s->fam = NULL;
}

static void
po_summary(struct sinkd *D, FILE *f)
{
	struct pstate *S = D->fs;

	fprintf(f, "sinkd pcap: %" PRIu64 " frames: written %" PRIu64 ", pcap_queue_full %" PRIu64
	    ", pcap_write_error %" PRIu64 ", shutdown_timeout %" PRIu64 "; %" PRIu64 " files in %s%s\n",
	    S->packets, (uint64_t)S->w_written, S->queue_full, S->write_errors + S->w_errors,
	    (uint64_t)S->w_abandoned, S->files, S->dir, S->disabled ? " (output disabled)" : "");
	if (S->per_call)
		fprintf(f, "sinkd pcap: %" PRIu64 " calls with files (%" PRIu64 " frames to them), "
		    "pcap_calls_full %" PRIu64 ", %" PRIu64 " not targeted (--sipuser), %" PRIu64
		    " frames of no call with a file\n", S->calls, S->call_frames, S->calls_full,
		    S->calls_untargeted, S->not_in_call);
	if (S->per_session)
		fprintf(f, "sinkd pcap: %" PRIu64 " frames belong to no session (per-session files hold "
		    "sessions' frames only)\n", S->not_in_session);
	else
		fprintf(f, "sinkd pcap: pcap_out_of_order %" PRIu64 " frames (older than frames already "
		    "written: written at once); %" PRIu64 " released before their shard's tick (the "
		    "heap or the pool full)\n", S->out_of_order, S->forced_order);
	if (S->ret_max_bytes || S->ret_max_files) {
		pthread_mutex_lock(&S->mu);
		fprintf(f, "sinkd pcap: retention (max_total_bytes %" PRIu64 ", max_files %" PRIu64 "): %" PRIu64
		    " finished files removed (%" PRIu64 " bytes), oldest first\n", S->ret_max_bytes, S->ret_max_files,
		    S->ret_files, S->ret_bytes);
		pthread_mutex_unlock(&S->mu);
	}
}

static void
po_counters(struct sinkd *D, struct ctr_enc *e)
{
	struct pstate *S = D->fs;

	ctr_set(e, CTR_S_PCAP_FRAMES, S->packets);
	ctr_set(e, CTR_S_PCAP_WRITTEN, (uint64_t)S->w_written);
	ctr_set(e, CTR_S_PCAP_QUEUE_FULL, S->queue_full);
	ctr_set(e, CTR_S_PCAP_WRITE_ERROR, S->write_errors + S->w_errors);
	ctr_set(e, CTR_S_PCAP_INTERRUPTED, S->interrupted);
	ctr_set(e, CTR_S_PCAP_FD_LIMIT, S->fd_limit_hits);
	ctr_set(e, CTR_S_PCAP_SHUTDOWN, (uint64_t)S->w_abandoned);
	ctr_set(e, CTR_S_PCAP_OUT_OF_ORDER, S->out_of_order);
	ctr_set(e, CTR_S_PCAP_NO_SESSION, S->not_in_session);
	ctr_set(e, CTR_S_PCAP_FILES, S->files);
	pthread_mutex_lock(&S->mu);
	ctr_set(e, CTR_S_PCAP_RETENTION_FILES, S->ret_files);
	ctr_set(e, CTR_S_PCAP_RETENTION_BYTES, S->ret_bytes);
	pthread_mutex_unlock(&S->mu);
	ctr_set(e, CTR_S_PCAP_CALLS, S->calls);
	ctr_set(e, CTR_S_PCAP_CALL_FRAMES, S->call_frames);
	ctr_set(e, CTR_S_PCAP_CALLS_FULL, S->calls_full);
	ctr_set(e, CTR_S_PCAP_NO_CALL, S->not_in_call);
}

static void
po_free(struct sinkd *D)
{
	struct pstate *S = D->fs;

	/* The writer first: it may still use any file. */
	if (S->th_started && !S->stopped && !S->stuck)
		po_abandon(D);
	if (S->th_started && !S->stuck) {
		pthread_join(S->th, NULL);
		S->th_started = false;
	}
	if (S->stuck)
		return;		/* (it still runs: nothing it may touch is freed; the process ends) */
	/* Finished files the loop has not taken yet: a session's is its
	 * session's to free (below), the others are freed here. */
	for (struct pfile *f = SLIST_FIRST(&S->done), *nx; f; f = nx) {
		struct ssn *s = f->session_id != 0 ? sinkd_find(D, f->session_id) : NULL;
		nx = SLIST_NEXT(f, done);
		if (s == NULL || s->fam == NULL || ((struct pssn *)s->fam)->pf != f)
			pfile_free(f);
	}
	SLIST_INIT(&S->done);
	for (struct ssn *s = TAILQ_FIRST(&D->ssns); s; s = TAILQ_NEXT(s, q)) {
		struct pssn *ps = s->fam;
		if (ps != NULL) {
			pfile_free(ps->pf);
			free(ps);
			s->fam = NULL;
		}
	}
	while (held_n(S) > 0)
		job_free(S, held_pop(S));
	for (struct job *j = S->qhead, *nx; j; j = nx) {
		nx = j->next;
		job_free(S, j);
	}
	for (struct job **fl = &S->pool_free; fl != NULL; fl = fl == &S->pool_free ? &S->pool_tiny : NULL) {
		for (struct job *j = *fl, *nx; j; j = nx) {
			nx = j->next;
			free(j);
		}
		*fl = NULL;
	}
	/* A dumper is only the memory stream they all share: closed once. */
	for (int k = 0; k < PIFACES; k++)
		if (S->dead[k])
			pcap_close(S->dead[k]);
	if (S->memf)
		fclose(S->memf);
	pfile_free(S->roll);
	for (size_t b = 0; S->cb != NULL && b < S->cnb; b++)
		while (S->cb[b] != NULL) {
			struct pcall *c = S->cb[b];
			S->cb[b] = c->hnext;
			pfile_free(c->pf);
			call_free(c);
		}
	free(S->cb);
	if (S->ev_done)
		event_free(S->ev_done);
	if (S->donefd[0] >= 0) {
		close(S->donefd[0]);
		close(S->donefd[1]);
	}
	if (S->dirfd >= 0)
		close(S->dirfd);
	free(S->membuf);
	free(S->heap);
	free(S->wm);
	free(S->wm_live);
	free(S->closing);
	free(S->dir);
	for (size_t i = 0; i < S->kept_n; i++)
		free(S->kept[(S->kept_head + i) % S->kept_cap].name);
	free(S->kept);
	free(S);
	P = NULL;
}

const struct family family_pcap = {
	.name = "pcap",
	.drain_waits = true,
	.wants = REC_WANT(REC_INTERFACE) | REC_WANT(REC_SESSION_OPEN) | REC_WANT(REC_PACKET) |
	    REC_WANT(REC_SESSION_CLOSE) | REC_WANT(REC_TICK) | REC_WANT(REC_EOS) |
	    REC_WANT(REC_CALL_OPEN) | REC_WANT(REC_CALL_CLOSE),
	.prepare = po_prepare,
	.start = po_start,
	.iface = po_iface,
	.open = po_open,
	.close = po_close,
	.packet = po_packet,
	.call_open = po_call_open,
	.call_close = po_call_close,
	.tick = po_tick,
	.drain = po_drain,
	.abandon = po_abandon,
	.books = po_books,
	.summary = po_summary,
	.counters = po_counters,
	.free = po_free,
};
