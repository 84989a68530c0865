/*
 * output.c — what reasmd writes: per-session stream files and
 * sessions.jsonl (-o DIR), the record stream (-w), the session events as
 * JSON lines (--events).
 *
 * -o keeps at most runtime.max_open_files stream files open: the least
 * recently written is closed and reopened for append when needed, so a
 * million sessions never run into EMFILE.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctlc.h"
#include "evjson.h"
#include "log.h"
#include "reasmd.h"
#include "recio.h"
#include "util.h"

static const char *const dir_names[2] = { "requests", "responses" };

int
out_init(struct reasm *R, char *err, size_t errlen)
{
	if (R->out.dir != NULL) {
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
		fd = R->out.dirfd < 0 ? -1 : openat(R->out.dirfd, "sessions.jsonl",
		    O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0 || (R->sessions_jsonl = fdopen(fd, "w")) == NULL) {
			snprintf(err, errlen, "%s: %s", p, strerror(errno));
			return -1;
		}
	}
	return 0;
}

void
out_interface(struct reasm *R, uint32_t id, int dlt, int snaplen, const char *name)
{
	struct reasm_iface *i;
	struct rec_interface r;

	if (id >= REASM_IFACES)
		return;
	i = &R->ifs[id];
	i->known = true;
	i->dlt = dlt;
	i->snaplen = snaplen;
	sth_strlcpy(i->name, name, sizeof(i->name));
	r = (struct rec_interface){ id, (uint32_t)dlt, (uint32_t)snaplen, (uint32_t)strlen(i->name) };
	if (R->out.w != NULL)
		recw_put(R->out.w, REC_INTERFACE, &r, sizeof(r), i->name, r.name_len);
	if (sinks_want(R, REC_INTERFACE))
		sinks_put(R, REC_INTERFACE, &r, sizeof(r), i->name, r.name_len, NULL, 0, 0);
}

void
out_interface_to(struct reasm *R, unsigned idx)
{
	for (uint32_t id = 0; id < REASM_IFACES; id++) {
		const struct reasm_iface *i = &R->ifs[id];
		if (!i->known)
			continue;
		struct rec_interface r = { id, (uint32_t)i->dlt, (uint32_t)i->snaplen,
		    (uint32_t)strlen(i->name) };
		sinks_put_to(R, idx, REC_INTERFACE, &r, sizeof(r), i->name, r.name_len);
	}
	sinks_flush(R);
}

static void
session_flow(const struct session *s, struct wire_flow *f)
{
	memset(f, 0, sizeof(*f));
	f->family = s->family;
	f->role_guessed = s->role_guessed;
	f->local_side = s->local_side;
	f->client_port = s->cport;
	f->server_port = s->sport;
	memcpy(f->client_ip, s->cip, 16);
	memcpy(f->server_ip, s->sip, 16);
}

static void
flow_json(const struct session *s, struct json_object *o)
{
	struct wire_flow f;

	session_flow(s, &f);
	evjson_add_flow(o, s->id, &f);
}

static void
emit_event(struct reasm *R, struct session *s, const char *cat, const char *name,
    struct json_object *extra)
{
	struct json_object *o;
	const char *txt;
	bool to_sinks = sinks_want(R, REC_EVENT);

	if (R->out.events == NULL && R->out.w == NULL && !to_sinks && R->ctl == NULL) {
		json_object_put(extra);
		return;
	}
	o = evjson_new(R->now_ns, cat, name);
	flow_json(s, o);
	if (extra) {
		json_object_object_foreach(extra, k, v)
			json_object_object_add(o, k, json_object_get(v));
		json_object_put(extra);
	}
	txt = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (R->out.events)
		fprintf(R->out.events, "%s\n", txt);
	if (R->ctl)
		ctlc_send(R->ctl, txt, strlen(txt));
	if (R->out.w || to_sinks) {
		struct rec_event e = { (uint32_t)strlen(txt), 0 };
		if (R->out.w)
			recw_put(R->out.w, REC_EVENT, &e, sizeof(e), txt, e.json_len);
		if (to_sinks)
			sinks_put(R, REC_EVENT, &e, sizeof(e), txt, e.json_len, NULL, 0, 0);
	}
	json_object_put(o);
}

void
out_tick(struct reasm *R)
{
	if (R->out.events)
		fflush(R->out.events);
	if (R->out.w || R->sinks) {
		/* The watermark: no frame older than this will follow (a
		 * datagram still being reassembled holds it back).  A stream
		 * (-w) carries it too, for a sink that reads it (sinkd -r). */
		uint64_t fo = R->frags ? frag_oldest_ns(R->frags) : UINT64_MAX;
		struct rec_tick t = { fo <= R->now_ns ? (fo ? fo - 1 : 0) : R->now_ns };
		if (R->out.w) {
			recw_put(R->out.w, REC_TICK, &t, sizeof(t), NULL, 0);
			recw_flush(R->out.w);
		}
		if (sinks_want(R, REC_TICK))
			sinks_put(R, REC_TICK, &t, sizeof(t), NULL, 0, NULL, 0, 0);
		if (R->sinks)
			sinks_flush(R);
	}
}

void
out_open(struct reasm *R, struct session *s)
{
	struct json_object *x = json_object_new_object();

	if (R->out.w || sinks_want(R, REC_SESSION_OPEN)) {
		struct rec_session_open o;
		memset(&o, 0, sizeof(o));
		o.session_id = s->id;
		o.ts_ns = R->now_ns;
		session_flow(s, &o.flow);
		if (R->out.w)
			recw_put(R->out.w, REC_SESSION_OPEN, &o, sizeof(o), NULL, 0);
		if (R->sinks)
			sinks_put(R, REC_SESSION_OPEN, &o, sizeof(o), NULL, 0, s, 0, 0);
	}
	emit_event(R, s, "session", "tcp_open", x);
}

/*
 * -o output: slots and a writer thread.
 *
 * A direction that writes gets a slot: a 32 KiB buffer from a bounded pool
 * (runtime.max_open_files buffers for slots plus WQ_SPARE in flight).  A
 * full buffer, a slot taken back for another direction (least recently
 * written first), or the session's close hands the buffer to the writer
 * thread as a job: open the file (create, or append after the first job),
 * write, close.  One thread does every job in order, so the files of a
 * session are complete before its sessions.jsonl line (also a job) is
 * written, and only one output file is open at a time.  When the pool is
 * empty the reassembler waits for the writer: memory stays bounded.
 */
#define OSLOT_BUF (32 * 1024)
#define WQ_SPARE 64

struct obuf {
	struct obuf *next;
	size_t len;
	uint8_t data[OSLOT_BUF];
};

struct oslot {
	struct oslot *prev, *next;	/* in-use list, or the free list (next) */
	struct session *s;
	int dir;
	struct obuf *b;
};

enum { WJ_WRITE, WJ_LINE, WJ_FLUSH };

struct wjob {
	struct wjob *next;
	int kind;
	bool append;
	char name[48];
	struct obuf *b;		/* WJ_WRITE (NULL: create an empty file) */
	char *line;		/* WJ_LINE */
};

struct writer {
	pthread_mutex_t mu;
	pthread_cond_t cv_job, cv_buf;
	struct wjob *head, *tail;
	struct obuf *free_bufs;
	bool stop, started, sleeping, buf_waiting;
	pthread_t th;
	int dirfd;
	FILE *jsonl;
	uint64_t error_bytes;
	char dir[256];
};

static struct writer W = { .mu = PTHREAD_MUTEX_INITIALIZER,
    .cv_job = PTHREAD_COND_INITIALIZER, .cv_buf = PTHREAD_COND_INITIALIZER };

static void
writer_do(struct wjob *j)
{
	if (j->kind == WJ_LINE) {
		fputs(j->line, W.jsonl);
		free(j->line);
		return;
	}
	if (j->kind == WJ_FLUSH) {
		fflush(W.jsonl);
		return;
	}
	int fd = openat(W.dirfd, j->name, O_WRONLY | O_CREAT | O_CLOEXEC |
	    (j->append ? O_APPEND : O_TRUNC), 0644);
	size_t n = j->b ? j->b->len : 0;
	if (fd < 0 || (n > 0 && write_all(fd, j->b->data, n) < 0)) {
		static struct log_rl rl;
		pthread_mutex_lock(&W.mu);
		W.error_bytes += n;
		pthread_mutex_unlock(&W.mu);
		log_ratelimited(&rl, 3, 10000, LOG_WARNING, "%s/%s: %s", W.dir, j->name, strerror(errno));
	}
	if (fd >= 0)
		close(fd);
}

static void *
writer_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&W.mu);
	for (;;) {
		struct wjob *j, *done = NULL;
		struct obuf *freed = NULL, *last = NULL;
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
				j->b->next = freed;
				if (freed == NULL)
					last = j->b;
				freed = j->b;
			}
			j->next = done;
			done = j;
			j = n;
		}
		fflush(W.jsonl);
		while (done) {
			struct wjob *n = done->next;
			free(done);
			done = n;
		}
		pthread_mutex_lock(&W.mu);
		if (freed) {
			last->next = W.free_bufs;
			W.free_bufs = freed;
			if (W.buf_waiting)
				pthread_cond_signal(&W.cv_buf);
		}
	}
	pthread_mutex_unlock(&W.mu);
	fflush(W.jsonl);
	return NULL;
}

static void
writer_push(struct wjob *j)
{
	pthread_mutex_lock(&W.mu);
	if (W.tail)
		W.tail->next = j;
	else
		W.head = j;
	W.tail = j;
	if (W.sleeping)
		pthread_cond_signal(&W.cv_job);
	pthread_mutex_unlock(&W.mu);
}

/* A free buffer; waits for the writer when the pool is empty. */
static struct obuf *
buf_get(void)
{
	struct obuf *b;

	pthread_mutex_lock(&W.mu);
	while (W.free_bufs == NULL) {
		W.buf_waiting = true;
		if (W.sleeping)
			pthread_cond_signal(&W.cv_job);
		pthread_cond_wait(&W.cv_buf, &W.mu);
	}
	W.buf_waiting = false;
	b = W.free_bufs;
	W.free_bufs = b->next;
	pthread_mutex_unlock(&W.mu);
	b->len = 0;
	return b;
}

static void
writer_start(struct reasm *R)
{
	unsigned n = (R->out.max_open_files ? R->out.max_open_files : 1) + WQ_SPARE;

	W.dirfd = R->out.dirfd;
	W.jsonl = R->sessions_jsonl;
	sth_strlcpy(W.dir, R->out.dir, sizeof(W.dir));
	for (unsigned k = 0; k < n; k++) {
		struct obuf *b = xmalloc(sizeof(*b));
		b->next = W.free_bufs;
		W.free_bufs = b;
	}
	if (pthread_create(&W.th, NULL, writer_main, NULL) != 0)
		fatalx("cannot start the output thread");
	W.started = true;
}

static void
writer_stop(struct reasm *R)
{
	if (!W.started)
		return;
	pthread_mutex_lock(&W.mu);
	W.stop = true;
	pthread_cond_signal(&W.cv_job);
	pthread_mutex_unlock(&W.mu);
	pthread_join(W.th, NULL);
	W.started = false;
	R->st.write_error_bytes += W.error_bytes;
	while (W.free_bufs) {
		struct obuf *b = W.free_bufs;
		W.free_bufs = b->next;
		free(b);
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
	j->append = o->s->written[o->dir];
	snprintf(j->name, sizeof(j->name), "%" PRIu64 ".%s", o->s->id, dir_names[o->dir]);
	j->b = o->b;
	o->s->written[o->dir] = true;
	o->b = keep ? buf_get() : NULL;
	writer_push(j);
}

static void
slot_unlink(struct reasm *R, struct oslot *o)
{
	if (o->prev)
		o->prev->next = o->next;
	else
		R->shead = o->next;
	if (o->next)
		o->next->prev = o->prev;
	else
		R->stail = o->prev;
	o->prev = o->next = NULL;
}

/* Flushes a slot and gives it back (its buffer goes to the writer or,
 * when empty, to the slot's next user). */
static void
slot_release(struct reasm *R, struct oslot *o)
{
	slot_flush(R, o, false);
	o->s->slot[o->dir] = NULL;
	slot_unlink(R, o);
	o->s = NULL;
	o->next = R->sfree;
	R->sfree = o;
}

/* The slots and the writer thread, on first use (after the drop). */
static void
slots_init(struct reasm *R)
{
	unsigned n = R->out.max_open_files ? R->out.max_open_files : 1;

	if (R->slots != NULL)
		return;
	R->slots = xcalloc(n, sizeof(*R->slots));
	for (unsigned k = 0; k < n; k++) {
		R->slots[k].next = R->sfree;
		R->sfree = &R->slots[k];
	}
	writer_start(R);
}

static struct oslot *
slot_get(struct reasm *R, struct session *s, int dir)
{
	struct oslot *o = s->slot[dir];

	if (o != NULL) {
		if (R->stail != o) {
			slot_unlink(R, o);
			goto append;
		}
		return o;
	}
	slots_init(R);
	if (R->sfree == NULL)
		slot_release(R, R->shead);
	o = R->sfree;
	R->sfree = o->next;
	o->s = s;
	o->dir = dir;
	if (o->b == NULL)
		o->b = buf_get();
	o->b->len = 0;
	s->slot[dir] = o;
append:
	o->prev = R->stail;
	o->next = NULL;
	if (R->stail)
		R->stail->next = o;
	else
		R->shead = o;
	R->stail = o;
	return o;
}

static void
files_close(struct reasm *R, struct session *s)
{
	for (int k = 0; k < 2; k++) {
		if (s->slot[k] != NULL)
			slot_release(R, s->slot[k]);
		if (!s->written[k]) {
			/* An empty direction still gets its (empty) file. */
			struct wjob *j = xcalloc(1, sizeof(*j));
			slots_init(R);
			j->kind = WJ_WRITE;
			snprintf(j->name, sizeof(j->name), "%" PRIu64 ".%s", s->id, dir_names[k]);
			writer_push(j);
			s->written[k] = true;
		}
	}
}

void
out_chunk(struct reasm *R, struct session *s, int dir, uint64_t off, const uint8_t *p, size_t n)
{
	if (R->out.dir) {
		const uint8_t *q = p;
		size_t left = n;
		while (left > 0) {
			struct oslot *o = slot_get(R, s, dir);
			size_t k = MIN(left, OSLOT_BUF - o->b->len);
			memcpy(o->b->data + o->b->len, q, k);
			o->b->len += k;
			q += k;
			left -= k;
			if (o->b->len == OSLOT_BUF)
				slot_flush(R, o, true);
		}
	}
	if (R->out.w || sinks_want(R, REC_CHUNK)) {
		/* Chunks are cut to fit a record (and a ring's largest). */
		size_t cut = R->sinks ? MIN((size_t)1 << 20, (size_t)R->conf->ring_bytes / 8)
		    : (size_t)1 << 20;
		while (n > 0) {
			size_t k = MIN(n, cut);
			struct rec_chunk c = { s->id, off, (uint8_t)dir, { 0 } };
			if (R->out.w)
				recw_put(R->out.w, REC_CHUNK, &c, sizeof(c), p, k);
			if (R->sinks)
				sinks_put(R, REC_CHUNK, &c, sizeof(c), p, k, s, dir, k);
			p += k;
			off += k;
			n -= k;
		}
	}
}

void
out_gap(struct reasm *R, struct session *s, int dir, uint64_t off, uint64_t len)
{
	struct json_object *x = json_object_new_object();

	if (R->out.w || R->sinks) {
		struct rec_gap g = { s->id, off, len, (uint8_t)dir, { 0 } };
		if (R->out.w)
			recw_put(R->out.w, REC_GAP, &g, sizeof(g), NULL, 0);
		if (R->sinks)
			sinks_put(R, REC_GAP, &g, sizeof(g), NULL, 0, s, dir, 0);
	}
	json_object_object_add(x, "direction", json_object_new_string(dir_names[dir]));
	json_object_object_add(x, "offset", json_object_new_int64((int64_t)off));
	json_object_object_add(x, "length", json_object_new_int64((int64_t)len));
	emit_event(R, s, "session", "tcp_gap", x);
}

void
out_half_close(struct reasm *R, struct session *s, int dir)
{
	struct json_object *x = json_object_new_object();

	json_object_object_add(x, "direction", json_object_new_string(dir_names[dir]));
	emit_event(R, s, "session", "tcp_half_close", x);
}

void
out_note(struct reasm *R, struct session *s, int dir, const char *note,
    uint64_t off, uint64_t len)
{
	struct json_object *x = json_object_new_object();

	json_object_object_add(x, "direction", json_object_new_string(dir_names[dir]));
	json_object_object_add(x, "note", json_object_new_string(note));
	json_object_object_add(x, "offset", json_object_new_int64((int64_t)off));
	json_object_object_add(x, "length", json_object_new_int64((int64_t)len));
	emit_event(R, s, "flow", "tcp_note", x);
}

static struct json_object *
dir_json(const struct session *s, int k, const char *outdir)
{
	const struct rdir *D = &s->d[k];
	struct json_object *o = json_object_new_object(), *g = json_object_new_array();
	char fn[64];

	json_object_object_add(o, "stream_bytes", json_object_new_int64((int64_t)D->c.stream_bytes));
	json_object_object_add(o, "bytes", json_object_new_int64((int64_t)D->c.delivered));
	json_object_object_add(o, "packets", json_object_new_int64((int64_t)D->c.packets));
	json_object_object_add(o, "retransmitted_bytes", json_object_new_int64((int64_t)D->c.retrans_bytes));
	json_object_object_add(o, "late_bytes", json_object_new_int64((int64_t)D->c.late_bytes));
	json_object_object_add(o, "late_after_gap_bytes", json_object_new_int64((int64_t)D->c.late_after_gap));
	json_object_object_add(o, "overlap_bytes", json_object_new_int64((int64_t)D->c.overlap_bytes));
	json_object_object_add(o, "overlap_conflicts", json_object_new_int64((int64_t)D->c.overlap_conflicts));
	json_object_object_add(o, "gap_count", json_object_new_int64((int64_t)D->c.gap_count));
	json_object_object_add(o, "gap_bytes", json_object_new_int64((int64_t)D->c.gap_bytes));
	json_object_object_add(o, "ooo_limit_bytes", json_object_new_int64((int64_t)D->c.dropped_ooo));
	for (uint64_t i = 0; i < D->c.gap_count && i < GAPS_KEPT; i++) {
		struct json_object *e = json_object_new_object();
		json_object_object_add(e, "offset", json_object_new_int64((int64_t)D->gapv[i].off));
		json_object_object_add(e, "length", json_object_new_int64((int64_t)D->gapv[i].len));
		json_object_array_add(g, e);
	}
	json_object_object_add(o, "gaps", g);
	if (outdir) {
		snprintf(fn, sizeof(fn), "%" PRIu64 ".%s", s->id, dir_names[k]);
		json_object_object_add(o, "file", json_object_new_string(fn));
	}
	return o;
}

void
out_close(struct reasm *R, struct session *s, unsigned reason)
{
	struct json_object *x = json_object_new_object();
	char t1[40], t2[40];

	if (R->out.dir)
		files_close(R, s);
	if (R->out.w || R->sinks) {
		struct rec_session_close c;
		memset(&c, 0, sizeof(c));
		c.session_id = s->id;
		c.ts_ns = R->now_ns;
		c.reason = reason;
		c.dir[0] = s->d[0].c;
		c.dir[1] = s->d[1].c;
		if (R->out.w)
			recw_put(R->out.w, REC_SESSION_CLOSE, &c, sizeof(c), NULL, 0);
		if (R->sinks)
			sinks_put_close(R, s, &c);
	}
	json_object_object_add(x, "reason", json_object_new_string(wire_close_reason_name(reason)));
	{
		struct json_object *c = json_object_new_object();
		json_object_object_add(c, "reason", json_object_new_string(wire_close_reason_name(reason)));
		emit_event(R, s, "session", "tcp_close", c);
	}
	fmt_iso8601(t1, sizeof(t1), s->first_ns);
	fmt_iso8601(t2, sizeof(t2), s->last_ns);
	json_object_object_add(x, "first_ts", json_object_new_string(t1));
	json_object_object_add(x, "last_ts", json_object_new_string(t2));
	json_object_object_add(x, "requests", dir_json(s, 0, R->out.dir));
	json_object_object_add(x, "responses", dir_json(s, 1, R->out.dir));
	if (R->sessions_jsonl) {
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "session_id", json_object_new_int64((int64_t)s->id));
		flow_json(s, o);
		json_object_object_foreach(x, k, v)
			json_object_object_add(o, k, json_object_get(v));
		/* Through the writer, after the session's files. */
		struct wjob *j = xcalloc(1, sizeof(*j));
		const char *txt = json_object_to_json_string_ext(o,
		    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
		size_t tl = strlen(txt);
		j->kind = WJ_LINE;
		j->line = xmalloc(tl + 2);
		memcpy(j->line, txt, tl);
		j->line[tl] = '\n';
		j->line[tl + 1] = '\0';
		writer_push(j);
		json_object_put(o);
	}
	emit_event(R, s, "session", "session_summary", x);
}

void
out_packet(struct reasm *R, struct session *s, int dir, const struct frame *f)
{
	if (R->out.w || sinks_want(R, REC_PACKET)) {
		struct rec_packet p = { f->ts_ns, s ? s->id : 0, R->cur_ifid, f->caplen,
		    f->origlen < f->caplen ? f->caplen : f->origlen, (uint8_t)dir, { 0 } };
		if (R->out.w)
			recw_put(R->out.w, REC_PACKET, &p, sizeof(p), f->data, f->caplen);
		if (R->sinks)
			sinks_put(R, REC_PACKET, &p, sizeof(p), f->data, f->caplen, s, dir, 0);
	}
}

void
out_finish(struct reasm *R)
{
	if (R->slots != NULL) {
		for (struct oslot *o = R->sfree; o; o = o->next)
			if (o->b) {
				pthread_mutex_lock(&W.mu);
				o->b->next = W.free_bufs;
				W.free_bufs = o->b;
				pthread_mutex_unlock(&W.mu);
				o->b = NULL;
			}
	}
	writer_stop(R);
	if (R->sessions_jsonl)
		fclose(R->sessions_jsonl);
	free(R->slots);
	R->slots = NULL;
	if (R->out.dirfd >= 0)
		close(R->out.dirfd);
	if (R->out.w) {
		recw_put(R->out.w, REC_EOS, NULL, 0, NULL, 0);
		recw_flush(R->out.w);
	}
	sinks_eos(R);
	if (R->out.events)
		fflush(R->out.events);
}
