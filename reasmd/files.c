/*
 * files.c — -o DIR: each session direction's bytes in DIR/<id>.requests
 * and DIR/<id>.responses, and a line per session in DIR/sessions.jsonl.
 *
 * -o keeps at most runtime.max_open_files buffers in use: the least
 * recently written is handed over and its file reopened for append when
 * needed, so a million sessions never run into EMFILE.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "reasmd.h"
#include "util.h"

static const char *const dir_names[2] = { "requests", "responses" };

TAILQ_HEAD(slotq, oslot);

struct files {
	int jsonl;			/* sessions.jsonl: a line a write (O_APPEND) */
	unsigned max_fds;		/* stream files the writer keeps open */
	struct oslot *slots;		/* max_open_files of them, on first use */
	struct slotq used;		/* in use, least recently written first */
	struct slotq free;
};

int
files_open(struct reasm *R, char *err, size_t errlen)
{
	if (R->out.dir != NULL) {
		R->files = xcalloc(1, sizeof(*R->files));
		R->files->jsonl = -1;
		TAILQ_INIT(&R->files->used);
		TAILQ_INIT(&R->files->free);
		char p[4096];
		int fd;
		if (mkdir_p(R->out.dir, 0755) < 0) {
			snprintf(err, errlen, "%s: %s", R->out.dir, strerror(errno));
			return -1;
		}
		/* The directory stays open: files are made with openat(), which
		 * needs no search permission on its parents after the drop. */
		R->out.dirfd = open(R->out.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		snprintf(p, sizeof(p), "%s/sessions.jsonl", R->out.dir);
		/* --append (several shards share DIR): lines are added, each
		 * one write at the end, never truncating another's */
		fd = R->out.dirfd < 0 ? -1 : openat(R->out.dirfd, "sessions.jsonl",
		    O_WRONLY | O_CREAT | O_APPEND | (R->out.append ? 0 : O_TRUNC) | O_CLOEXEC, 0644);
		if (fd < 0) {
			snprintf(err, errlen, "%s: %s", p, strerror(errno));
			return -1;
		}
		R->files->jsonl = fd;
		/* The writer keeps up to max_open_files stream files open, and
		 * at most half the descriptors the process may have (the rest
		 * stay for its sockets; past them an EMFILE closes the writer's
		 * first).  Read now: the sandbox refuses getrlimit later. */
		unsigned nf = R->out.max_open_files ? R->out.max_open_files : 1;
		struct rlimit rl;
		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur / 2 < nf)
			nf = rl.rlim_cur / 2 > 4 ? (unsigned)(rl.rlim_cur / 2) : 4;
		R->files->max_fds = nf;
		if (R->conf != NULL && R->conf->voip_enabled) {
			/* the voip analyser's calls.jsonl, opened now as well: the
			 * file may be another's (the launcher made it) */
			R->out.calls_fd = openat(R->out.dirfd, "calls.jsonl", O_WRONLY | O_CREAT |
			    O_APPEND | (R->out.append ? 0 : O_TRUNC) | O_CLOEXEC, 0644);
			if (R->out.calls_fd < 0) {
				snprintf(err, errlen, "%s/calls.jsonl: %s", R->out.dir, strerror(errno));
				return -1;
			}
		}
	}
	return 0;
}

/*
 * -o output: slots and a writer thread.
 *
 * A direction that writes gets a slot: a buffer from a bounded pool
 * (runtime.max_open_files buffers for slots plus WQ_SPARE in flight, of
 * a page and of 32 KiB each).  A
 * full buffer, a slot taken back for another direction (least recently
 * written first), or the session's close hands the buffer to the writer
 * thread as a job: open the file (create, or append after the first
 * job), write, close.  At most WQ_MAX_QUEUED buffers wait for the writer;
 * past that the reassembler waits, so the pages touched are the slots in
 * use and 1 MiB (the whole pool could wait before: 18 MiB of RSS).  One
 * thread does every job in order, so the files of a
 * session are complete before its sessions.jsonl line (also a job) is
 * written, and only one output file is open at a time.  When the pool is
 * empty the reassembler waits for the writer: memory stays bounded.
 */
#define OSLOT_BUF (32 * 1024)
#define OSMALL_BUF (4096 - 64)	/* a direction's first buffer: a page, malloc's header and ours included */
#define WQ_SPARE 64
#define WQ_MAX_QUEUED 32	/* buffers handed to the writer and not back: 1 MiB */
/* Jobs of any kind waiting for the writer: sessions.jsonl lines (under a
 * KiB each, most of them) and empty files need no buffer, and a run of
 * short sessions made them faster than one thread writes them (200,000
 * sessions: 90 MiB of lines queued).  Past this the reassembler waits. */
#define WQ_MAX_JOBS 4096
#define WLINES_BUF (64 * 1024)	/* sessions.jsonl lines written together */

/*
 * A direction starts with a small buffer and moves to a 32 KiB one (its
 * bytes copied, at most a page) only when it outgrows it: a request of a
 * few hundred bytes held a whole 32 KiB buffer, and the pages of the big
 * pool a process touches are the big buffers in use at once.
 */
struct obuf {
	struct obuf *next;
	uint32_t len, cap;
	uint8_t data[];
};

struct oslot {
	TAILQ_ENTRY(oslot) q;		/* the in-use list, or the free list */
	struct session *s;
	int dir;
	struct obuf *b;
};

enum { WJ_WRITE, WJ_LINE, WJ_FLUSH };

struct wjob {
	struct wjob *next;
	int kind;
	bool append;
	uint64_t sid;		/* WJ_WRITE: the file's session; WJ_LINE: the session whose
				 * files are now finished (0: none) */
	int dir;		/* WJ_WRITE: the file's direction */
	char name[48];
	struct obuf *b;		/* WJ_WRITE (NULL: create an empty file) */
	char *line;		/* WJ_LINE */
};

struct kfile {
	char name[48];
	uint64_t size;
};

/*
 * The writer keeps the stream files it writes open, up to
 * runtime.max_open_files (the least recently written closed first, and
 * every file of a session once its sessions.jsonl line comes): an open
 * and a close for each 32 KiB written were a tenth of bulk -o.  The
 * writer's alone; a hash on (session, direction), an LRU list.
 */
struct wfd {
	uint64_t sid;
	int dir, fd;
	int hnext;		/* the bucket's chain (-1: end) */
	int prev, next;		/* the LRU list, most recent first; the free list on next */
};

struct writer {
	pthread_mutex_t mu;
	pthread_cond_t cv_job, cv_buf;
	struct wjob *head, *tail;
	struct obuf *free_bufs;		/* OSLOT_BUF buffers */
	struct obuf *free_small;	/* OSMALL_BUF buffers */
	unsigned made[2], max_bufs;	/* buffers made (big, small), and the most of each */
	bool stop, started, sleeping, buf_waiting;
	unsigned queued;		/* buffers with the writer */
	unsigned jobs;			/* jobs with the writer (of every kind) */
	pthread_t th;
	int dirfd;
	int jsonl;
	uint64_t error_bytes;		/* stream bytes not written */
	uint64_t error_lines;		/* sessions.jsonl lines not (wholly) written */
	char dir[256];
	/* retention: the finished stream files, oldest first (the writer's) */
	uint64_t max_bytes, max_files, kept_bytes, ret_files, ret_bytes;
	struct kfile *kept;
	size_t kept_head, kept_n, kept_cap;
	/* the open stream files (the writer's) */
	struct wfd *fds;
	int *fbucket;
	unsigned nfds, maxfds, nbuckets;
	int lru_head, lru_tail, free_fd;
};

static struct writer W = { .mu = PTHREAD_MUTEX_INITIALIZER,
    .cv_job = PTHREAD_COND_INITIALIZER, .cv_buf = PTHREAD_COND_INITIALIZER };

/*
 * Retention (io.output.files.max_total_bytes, max_files; --max-total-bytes,
 * --max-files): the finished stream files, oldest first; beyond a limit the
 * oldest are removed and counted.  A session's files join once its
 * sessions.jsonl line is written (never one still being written); the
 * .jsonl files themselves are never removed.  Shards sharing a directory
 * keep each their share of the limits.
 */
static void
keep_file(const char *name, uint64_t size)
{
	if (W.kept_n == W.kept_cap) {
		size_t nc = W.kept_cap ? 2 * W.kept_cap : 64;
		struct kfile *k = xcalloc(nc, sizeof(*k));
		for (size_t i = 0; i < W.kept_n; i++)
			k[i] = W.kept[(W.kept_head + i) % W.kept_cap];
		free(W.kept);
		W.kept = k;
		W.kept_cap = nc;
		W.kept_head = 0;
	}
	size_t t = (W.kept_head + W.kept_n++) % W.kept_cap;
	snprintf(W.kept[t].name, sizeof(W.kept[t].name), "%s", name);
	W.kept[t].size = size;
	W.kept_bytes += size;
	while (W.kept_n > 0 && ((W.max_bytes && W.kept_bytes > W.max_bytes) ||
	    (W.max_files && W.kept_n > W.max_files))) {
		size_t h = W.kept_head;
		if (unlinkat(W.dirfd, W.kept[h].name, 0) < 0 && errno != ENOENT) {
			static struct log_rl rl;
			log_ratelimited(&rl, 1, 10000, LOG_WARNING, "%s/%s: removing it for the retention limits: %s",
			    W.dir, W.kept[h].name, strerror(errno));
		} else {
			pthread_mutex_lock(&W.mu);
			W.ret_files++;
			W.ret_bytes += W.kept[h].size;
			pthread_mutex_unlock(&W.mu);
		}
		W.kept_bytes -= W.kept[h].size;
		W.kept_head = (W.kept_head + 1) % W.kept_cap;
		W.kept_n--;
	}
}

static void
keep_session(uint64_t sid)
{
	for (int k = 0; k < 2; k++) {
		char name[48];
		struct stat st;
		snprintf(name, sizeof(name), "%" PRIu64 ".%s", sid, dir_names[k]);
		if (fstatat(W.dirfd, name, &st, 0) == 0)
			keep_file(name, (uint64_t)st.st_size);
	}
}

/* Writes what it can of p (a full disk may take a part): how much. */
static size_t
write_some(int fd, const void *p, size_t n)
{
	const char *c = p;
	size_t done = 0;

	while (done < n) {
		ssize_t w = write(fd, c + done, n - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		done += (size_t)w;
	}
	return done;
}

/*
 * sessions.jsonl lines are gathered and written together, a write for a
 * run of them rather than one each (a write per short session was a
 * third of the writer's time); the run ends at a job of another kind, so
 * a session's line still follows its files.
 */
static struct {
	char buf[WLINES_BUF];
	size_t len, n;
	uint64_t sid[WLINES_BUF / 64];	/* each line's session (0: none) */
	size_t end[WLINES_BUF / 64];	/* and where it ends in buf */
} WL;

/* Writes n lines (p[0..len), line i ending at end[i]); what a full disk
 * refused is counted a line at a time. */
static void
lines_write(const char *p, size_t len, size_t n, const uint64_t *sid, const size_t *end)
{
	size_t w = write_some(W.jsonl, p, len);

	if (w < len) {
		static struct log_rl rl;
		uint64_t lost = 0;
		for (size_t i = 0; i < n; i++)
			lost += end[i] > w;
		pthread_mutex_lock(&W.mu);
		W.error_lines += lost;
		pthread_mutex_unlock(&W.mu);
		log_ratelimited(&rl, 3, 10000, LOG_WARNING, "%s/sessions.jsonl: %s", W.dir,
		    strerror(errno));
	}
	if (W.max_bytes || W.max_files)
		for (size_t i = 0; i < n; i++)
			if (sid[i])
				keep_session(sid[i]);
}

static void
lines_flush(void)
{
	if (WL.n > 0)
		lines_write(WL.buf, WL.len, WL.n, WL.sid, WL.end);
	WL.len = WL.n = 0;
}

static unsigned
fd_bucket(uint64_t sid, int dir)
{
	return (unsigned)((sid * 2 + (uint64_t)dir) * 0x9E3779B97F4A7C15ULL >> 40) & (W.nbuckets - 1);
}

static int *
fd_link(uint64_t sid, int dir)
{
	int *l = &W.fbucket[fd_bucket(sid, dir)];

	while (*l >= 0 && (W.fds[*l].sid != sid || W.fds[*l].dir != dir))
		l = &W.fds[*l].hnext;
	return l;
}

static void
lru_out(int i)
{
	struct wfd *e = &W.fds[i];

	if (e->prev >= 0)
		W.fds[e->prev].next = e->next;
	else
		W.lru_head = e->next;
	if (e->next >= 0)
		W.fds[e->next].prev = e->prev;
	else
		W.lru_tail = e->prev;
}

static void
lru_front(int i)
{
	struct wfd *e = &W.fds[i];

	e->prev = -1;
	e->next = W.lru_head;
	if (W.lru_head >= 0)
		W.fds[W.lru_head].prev = i;
	else
		W.lru_tail = i;
	W.lru_head = i;
}

/* Closes the open file of (sid, dir), if any. */
static void
fd_close(uint64_t sid, int dir)
{
	int *l, i;

	if (*(l = fd_link(sid, dir)) < 0)
		return;
	i = *l;
	*l = W.fds[i].hnext;
	lru_out(i);
	close(W.fds[i].fd);
	W.fds[i].next = W.free_fd;
	W.free_fd = i;
	W.nfds--;
}

/* Closes the least recently written open file: false when none is. */
static bool
fd_close_oldest(void)
{
	if (W.lru_tail < 0)
		return false;
	fd_close(W.fds[W.lru_tail].sid, W.fds[W.lru_tail].dir);
	return true;
}

/* The open file of a WJ_WRITE job (opened, or created, when not open);
 * -1 with errno when it cannot be. */
static int
fd_get(const struct wjob *j)
{
	int *l = fd_link(j->sid, j->dir), fd, i;

	if (*l >= 0) {
		i = *l;
		lru_out(i);
		lru_front(i);
		return W.fds[i].fd;
	}
	for (;;) {
		fd = openat(W.dirfd, j->name, O_WRONLY | O_CREAT | O_CLOEXEC | O_APPEND |
		    (j->append ? 0 : O_TRUNC), 0644);
		/* out of descriptors: the writer's go first */
		if (fd >= 0 || (errno != EMFILE && errno != ENFILE) || !fd_close_oldest())
			break;
	}
	if (fd < 0)
		return fd;
	if (W.nfds == W.maxfds)
		fd_close_oldest();
	i = W.free_fd;
	W.free_fd = W.fds[i].next;
	W.fds[i].sid = j->sid;
	W.fds[i].dir = j->dir;
	W.fds[i].fd = fd;
	l = &W.fbucket[fd_bucket(j->sid, j->dir)];
	W.fds[i].hnext = *l;
	*l = i;
	lru_front(i);
	W.nfds++;
	return fd;
}

static void
fds_init(unsigned max)
{
	W.maxfds = max;
	for (W.nbuckets = 16; W.nbuckets < 2 * max; W.nbuckets *= 2)
		;
	W.fds = xcalloc(max, sizeof(*W.fds));
	W.fbucket = xmalloc(W.nbuckets * sizeof(*W.fbucket));
	for (unsigned b = 0; b < W.nbuckets; b++)
		W.fbucket[b] = -1;
	for (unsigned i = 0; i < max; i++)
		W.fds[i].next = i + 1 < max ? (int)i + 1 : -1;
	W.free_fd = 0;
	W.lru_head = W.lru_tail = -1;
	W.nfds = 0;
}

static void
fds_free(void)
{
	while (fd_close_oldest())
		;
	free(W.fds);
	free(W.fbucket);
	W.fds = NULL;
	W.fbucket = NULL;
}

static void
writer_do(struct wjob *j)
{
	if (j->kind == WJ_LINE) {
		size_t n = strlen(j->line);
		if (j->sid) {
			/* the session's files are finished */
			fd_close(j->sid, 0);
			fd_close(j->sid, 1);
		}
		if (WL.len + n > sizeof(WL.buf) || WL.n == sizeof(WL.sid) / sizeof(WL.sid[0]))
			lines_flush();
		if (n > sizeof(WL.buf)) {
			/* longer than the buffer (many gaps kept): written alone */
			lines_write(j->line, n, 1, &j->sid, &n);
		} else {
			memcpy(WL.buf + WL.len, j->line, n);
			WL.len += n;
			WL.sid[WL.n] = j->sid;
			WL.end[WL.n++] = WL.len;
		}
		free(j->line);
		return;
	}
	lines_flush();
	if (j->kind == WJ_FLUSH)
		return;		/* (the lines before it are written) */
	int fd = fd_get(j);
	size_t n = j->b ? j->b->len : 0, w = 0;
	if (fd < 0 || (n > 0 && (w = write_some(fd, j->b->data, n)) < n)) {
		/* what was written stays; the rest is counted */
		static struct log_rl rl;
		int err = errno;
		pthread_mutex_lock(&W.mu);
		W.error_bytes += n - w;
		pthread_mutex_unlock(&W.mu);
		log_ratelimited(&rl, 3, 10000, LOG_WARNING, "%s/%s: %s", W.dir, j->name, strerror(err));
		if (fd >= 0)
			fd_close(j->sid, j->dir);	/* (opened afresh next time) */
	}
}

static void *
writer_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&W.mu);
	for (;;) {
		struct wjob *j, *done = NULL;
		struct obuf *freed[2] = { NULL, NULL }, *last[2] = { NULL, NULL };
		unsigned nfreed = 0, njobs = 0;
		while (W.head == NULL && !W.stop) {
			W.sleeping = true;
			pthread_cond_wait(&W.cv_job, &W.mu);
		}
		W.sleeping = false;
		if (W.head == NULL)
			break;
		/* Take the whole queue: one lock round per batch. */
		j = W.head;
		W.head = W.tail = NULL;
		pthread_mutex_unlock(&W.mu);
		while (j) {
			struct wjob *n = j->next;
			writer_do(j);
			if (j->b) {
				int small = j->b->cap == OSMALL_BUF;
				nfreed++;
				j->b->next = freed[small];
				if (freed[small] == NULL)
					last[small] = j->b;
				freed[small] = j->b;
			}
			j->next = done;
			done = j;
			j = n;
			njobs++;
		}
		lines_flush();
		while (done) {
			struct wjob *n = done->next;
			free(done);
			done = n;
		}
		pthread_mutex_lock(&W.mu);
		W.jobs -= njobs;
		if (W.buf_waiting && !nfreed)
			pthread_cond_signal(&W.cv_buf);
		if (nfreed) {
			W.queued -= nfreed;
			if (freed[0]) {
				last[0]->next = W.free_bufs;
				W.free_bufs = freed[0];
			}
			if (freed[1]) {
				last[1]->next = W.free_small;
				W.free_small = freed[1];
			}
			if (W.buf_waiting)
				pthread_cond_signal(&W.cv_buf);
		}
	}
	pthread_mutex_unlock(&W.mu);
	fds_free();
	return NULL;
}

static void
writer_push(struct wjob *j)
{
	pthread_mutex_lock(&W.mu);
	while (W.jobs >= WQ_MAX_JOBS || (j->b != NULL && W.queued >= WQ_MAX_QUEUED)) {
		W.buf_waiting = true;
		if (W.sleeping)
			pthread_cond_signal(&W.cv_job);
		pthread_cond_wait(&W.cv_buf, &W.mu);
	}
	W.buf_waiting = false;
	if (j->b != NULL)
		W.queued++;
	W.jobs++;
	if (W.tail)
		W.tail->next = j;
	else
		W.head = j;
	W.tail = j;
	if (W.sleeping)
		pthread_cond_signal(&W.cv_job);
	pthread_mutex_unlock(&W.mu);
}

/* A free buffer, small or big; waits for the writer when that pool is
 * empty (either pool has a buffer for every slot, and WQ_SPARE more).
 * A buffer is made when first needed: one made and written up front
 * (its free-list link) was a page touched for good. */
static struct obuf *
buf_get(bool small)
{
	struct obuf *b, **pool = small ? &W.free_small : &W.free_bufs;
	unsigned *made = &W.made[small];

	pthread_mutex_lock(&W.mu);
	if (*pool == NULL && *made < W.max_bufs) {
		(*made)++;
		pthread_mutex_unlock(&W.mu);
		b = xmalloc(sizeof(*b) + (small ? OSMALL_BUF : OSLOT_BUF));
		b->cap = small ? OSMALL_BUF : OSLOT_BUF;
		b->len = 0;
		return b;
	}
	while (*pool == NULL) {
		W.buf_waiting = true;
		if (W.sleeping)
			pthread_cond_signal(&W.cv_job);
		pthread_cond_wait(&W.cv_buf, &W.mu);
	}
	W.buf_waiting = false;
	b = *pool;
	*pool = b->next;
	pthread_mutex_unlock(&W.mu);
	b->len = 0;
	return b;
}

/* Gives back a buffer that holds no bytes (never was the writer's). */
static void
buf_put(struct obuf *b)
{
	struct obuf **pool = b->cap == OSMALL_BUF ? &W.free_small : &W.free_bufs;

	pthread_mutex_lock(&W.mu);
	b->next = *pool;
	*pool = b;
	if (W.buf_waiting)
		pthread_cond_signal(&W.cv_buf);
	pthread_mutex_unlock(&W.mu);
}

static void
writer_start(struct reasm *R)
{
	unsigned n = (R->out.max_open_files ? R->out.max_open_files : 1) + WQ_SPARE;

	W.dirfd = R->out.dirfd;
	W.max_bytes = R->out.max_total_bytes;
	W.max_files = R->out.max_files;
	W.jsonl = R->files->jsonl;
	sth_strlcpy(W.dir, R->out.dir, sizeof(W.dir));
	W.max_bufs = n;
	fds_init(R->files->max_fds);
	if (pthread_create(&W.th, NULL, writer_main, NULL) != 0)
		fatalx("cannot start the output thread");
	W.started = true;
}

static void
writer_stop(void)
{
	if (!W.started)
		return;
	pthread_mutex_lock(&W.mu);
	W.stop = true;
	pthread_cond_signal(&W.cv_job);
	pthread_mutex_unlock(&W.mu);
	pthread_join(W.th, NULL);
	W.started = false;
	for (int k = 0; k < 2; k++) {
		struct obuf **pool = k ? &W.free_small : &W.free_bufs;
		while (*pool) {
			struct obuf *b = *pool;
			*pool = b->next;
			free(b);
		}
	}
}

/* Hands a slot's buffer (if it holds bytes) to the writer. */
static void
slot_flush(struct reasm *R, struct oslot *o, bool keep)
{
	struct wjob *j;

	(void)R;
	if (o->b == NULL || o->b->len == 0)
		return;
	j = xcalloc(1, sizeof(*j));
	j->kind = WJ_WRITE;
	j->append = o->s->d[o->dir].written;
	snprintf(j->name, sizeof(j->name), "%" PRIu64 ".%s", o->s->id, dir_names[o->dir]);
	j->sid = o->s->id;
	j->dir = o->dir;
	j->b = o->b;
	o->s->d[o->dir].written = true;
	o->b = keep ? buf_get(false) : NULL;	/* (keep: the direction outgrew a small one) */
	writer_push(j);
}

/* Flushes a slot and gives it back (its buffer goes to the writer or,
 * when empty, to the slot's next user). */
static void
slot_release(struct reasm *R, struct oslot *o)
{
	slot_flush(R, o, false);
	o->s->slot[o->dir] = 0;
	TAILQ_REMOVE(&R->files->used, o, q);
	o->s = NULL;
	TAILQ_INSERT_HEAD(&R->files->free, o, q);
}

/* The slots and the writer thread, on first use (after the drop). */
static void
slots_init(struct reasm *R)
{
	unsigned n = R->out.max_open_files ? R->out.max_open_files : 1;

	if (R->files->slots != NULL)
		return;
	R->files->slots = xcalloc(n, sizeof(*R->files->slots));
	for (unsigned k = 0; k < n; k++)
		TAILQ_INSERT_TAIL(&R->files->free, &R->files->slots[k], q);
	writer_start(R);
}

static struct oslot *
slot_get(struct reasm *R, struct session *s, int dir)
{
	struct oslot *o = s->slot[dir] ? &R->files->slots[s->slot[dir] - 1] : NULL;

	if (o != NULL) {
		if (TAILQ_LAST(&R->files->used, slotq) != o) {
			TAILQ_REMOVE(&R->files->used, o, q);
			goto append;
		}
		return o;
	}
	slots_init(R);
	if (TAILQ_EMPTY(&R->files->free))
		slot_release(R, TAILQ_FIRST(&R->files->used));
	o = TAILQ_FIRST(&R->files->free);
	TAILQ_REMOVE(&R->files->free, o, q);
	o->s = s;
	o->dir = dir;
	if (o->b == NULL)
		o->b = buf_get(true);
	o->b->len = 0;
	s->slot[dir] = (uint32_t)(o - R->files->slots) + 1;
append:
	TAILQ_INSERT_TAIL(&R->files->used, o, q);
	return o;
}

static void
files_session_done(struct reasm *R, struct session *s)
{
	for (int k = 0; k < 2; k++) {
		if (s->slot[k] != 0)
			slot_release(R, &R->files->slots[s->slot[k] - 1]);
		if (!s->d[k].written) {
			/* An empty direction still gets its (empty) file. */
			struct wjob *j = xcalloc(1, sizeof(*j));
			slots_init(R);
			j->kind = WJ_WRITE;
			j->sid = s->id;
			j->dir = k;
			snprintf(j->name, sizeof(j->name), "%" PRIu64 ".%s", s->id, dir_names[k]);
			writer_push(j);
			s->d[k].written = true;
		}
	}
}

void
files_data(struct reasm *R, struct session *s, int dir, const uint8_t *p, size_t n)
{
	{
		const uint8_t *q = p;
		size_t left = n;
		while (left > 0) {
			struct oslot *o = slot_get(R, s, dir);
			if (o->b->cap == OSMALL_BUF && o->b->len + left > OSMALL_BUF) {
				/* outgrown: on in a big buffer */
				struct obuf *big = buf_get(false);
				memcpy(big->data, o->b->data, o->b->len);
				big->len = o->b->len;
				buf_put(o->b);
				o->b = big;
			}
			size_t k = MIN(left, o->b->cap - o->b->len);
			memcpy(o->b->data + o->b->len, q, k);
			o->b->len += k;
			q += k;
			left -= k;
			if (o->b->len == o->b->cap)
				slot_flush(R, o, true);
		}
	}
}

void
files_close(struct reasm *R, struct session *s, unsigned reason)
{
	struct evtext t;
	struct wjob *j;
	const char *txt;
	size_t tl;

	if (R->files == NULL)
		return;
	files_session_done(R, s);
	evt_begin(&t);
	evt_u64(&t, "session_id", s->id);
	ev_flow_text(s, &t);
	ev_summary_text(R, s, reason, &t);
	txt = evt_end(&t, &tl);
	/* Through the writer, after the session's files. */
	j = xcalloc(1, sizeof(*j));
	j->kind = WJ_LINE;
	j->sid = R->out.no_streams ? 0 : s->id;
	j->line = xmalloc(tl + 2);
	memcpy(j->line, txt, tl);
	j->line[tl] = '\n';
	j->line[tl + 1] = '\0';
	writer_push(j);
	evt_free(&t);
}

void
files_finish(struct reasm *R)
{
	struct files *F = R->files;

	if (F == NULL)
		return;
	if (F->slots != NULL) {
		struct oslot *o;
		while ((o = TAILQ_FIRST(&F->used)) != NULL)
			slot_release(R, o);
		TAILQ_FOREACH(o, &F->free, q)
			if (o->b) {
				buf_put(o->b);
				o->b = NULL;
			}
	}
	writer_stop();
	if (F->jsonl >= 0)
		close(F->jsonl);
	if (R->out.calls_fd >= 0)
		close(R->out.calls_fd);
	R->out.calls_fd = -1;
	free(F->slots);
	if (R->out.dirfd >= 0)
		close(R->out.dirfd);
	R->out.dirfd = -1;
	free(F);
	R->files = NULL;
}

static int
kfile_cmp(const void *a, const void *b)
{
	const struct kfile *x = a, *y = b;

	return x->size < y->size ? -1 : x->size > y->size;	/* (the mtime, while sorting) */
}

/* The stream files of earlier runs in -o DIR, oldest first, count toward
 * the retention limits (shard 0 takes them: one shard, not each).  Before
 * the sandbox: it reads the directory. */
void
files_retention_scan(struct reasm *R, bool first_shard)
{
	DIR *d;
	struct dirent *e;
	struct kfile *v = NULL;
	size_t n = 0, cap = 0;
	int fd;

	if (R->files == NULL || R->out.dirfd < 0 || !first_shard || R->out.no_streams ||
	    (R->out.max_total_bytes == 0 && R->out.max_files == 0) || (fd = dup(R->out.dirfd)) < 0)
		return;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return;
	}
	while ((e = readdir(d)) != NULL) {
		struct stat st;
		char *dot = strchr(e->d_name, '.');
		if (dot == NULL || dot == e->d_name || strspn(e->d_name, "0123456789") != (size_t)(dot - e->d_name) ||
		    (strcmp(dot, ".requests") != 0 && strcmp(dot, ".responses") != 0) ||
		    strlen(e->d_name) >= sizeof(v->name) ||
		    fstatat(R->out.dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			v = xrealloc(v, cap * sizeof(*v));
		}
		snprintf(v[n].name, sizeof(v[n].name), "%s", e->d_name);
		v[n].size = (uint64_t)st.st_mtim.tv_sec * 1000000000ULL + (uint64_t)st.st_mtim.tv_nsec;
		n++;
	}
	closedir(d);
	if (n > 1)
		qsort(v, n, sizeof(*v), kfile_cmp);
	W.dirfd = R->out.dirfd;
	W.max_bytes = R->out.max_total_bytes;
	W.max_files = R->out.max_files;
	snprintf(W.dir, sizeof(W.dir), "%s", R->out.dir);
	for (size_t i = 0; i < n; i++) {
		struct stat st;
		if (fstatat(R->out.dirfd, v[i].name, &st, AT_SYMLINK_NOFOLLOW) == 0)
			keep_file(v[i].name, (uint64_t)st.st_size);
	}
	free(v);
	if (n)
		log_info("-o: %zu stream files already in %s count toward the retention limits", n, R->out.dir);
}

void
files_errors(uint64_t *bytes, uint64_t *lines)
{
	pthread_mutex_lock(&W.mu);
	*bytes = W.error_bytes;
	*lines = W.error_lines;
	pthread_mutex_unlock(&W.mu);
}

void
files_retention(uint64_t *files, uint64_t *bytes)
{
	pthread_mutex_lock(&W.mu);
	*files = W.ret_files;
	*bytes = W.ret_bytes;
	pthread_mutex_unlock(&W.mu);
}
