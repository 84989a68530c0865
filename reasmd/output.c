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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
out_interface(struct reasm *R)
{
	if (R->out.w != NULL) {
		struct rec_interface i = { 0, (uint32_t)R->out.linktype, (uint32_t)R->out.snaplen, 4 };
		recw_put(R->out.w, REC_INTERFACE, &i, sizeof(i), "file", 4);
	}
}

void
out_finish(struct reasm *R)
{
	if (R->sessions_jsonl)
		fclose(R->sessions_jsonl);
	if (R->out.dirfd >= 0)
		close(R->out.dirfd);
	if (R->out.w) {
		recw_put(R->out.w, REC_EOS, NULL, 0, NULL, 0);
		recw_flush(R->out.w);
	}
	if (R->out.events)
		fflush(R->out.events);
}

static void
flow_json(const struct session *s, struct json_object *o)
{
	char a[64], b[64];
	struct json_object *f = json_object_new_object();

	addr_fmt(s->family, s->cip, a, sizeof(a));
	addr_fmt(s->family, s->sip, b, sizeof(b));
	json_object_object_add(f, "session_id", json_object_new_int64((int64_t)s->id));
	json_object_object_add(f, "client_ip", json_object_new_string(a));
	json_object_object_add(f, "client_port", json_object_new_int(s->cport));
	json_object_object_add(f, "server_ip", json_object_new_string(b));
	json_object_object_add(f, "server_port", json_object_new_int(s->sport));
	if (s->local_side) {
		bool lc = s->local_side == 1;
		json_object_object_add(f, "local_ip", json_object_new_string(lc ? a : b));
		json_object_object_add(f, "local_port", json_object_new_int(lc ? s->cport : s->sport));
		json_object_object_add(f, "remote_ip", json_object_new_string(lc ? b : a));
		json_object_object_add(f, "remote_port", json_object_new_int(lc ? s->sport : s->cport));
	}
	json_object_object_add(f, "role_guessed", json_object_new_boolean(s->role_guessed));
	json_object_object_add(o, "flow", f);
}

static void
emit_event(struct reasm *R, struct session *s, const char *cat, const char *name,
    struct json_object *extra)
{
	struct json_object *o;
	const char *txt;
	char ts[40];

	if (R->out.events == NULL && R->out.w == NULL) {
		json_object_put(extra);
		return;
	}
	o = json_object_new_object();
	fmt_iso8601(ts, sizeof(ts), R->now_ns);
	json_object_object_add(o, "ts", json_object_new_string(ts));
	json_object_object_add(o, "cat", json_object_new_string(cat));
	json_object_object_add(o, "event", json_object_new_string(name));
	flow_json(s, o);
	if (extra) {
		json_object_object_foreach(extra, k, v)
			json_object_object_add(o, k, json_object_get(v));
		json_object_put(extra);
	}
	txt = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (R->out.events)
		fprintf(R->out.events, "%s\n", txt);
	if (R->out.w) {
		struct rec_event e = { (uint32_t)strlen(txt), 0 };
		recw_put(R->out.w, REC_EVENT, &e, sizeof(e), txt, e.json_len);
	}
	json_object_put(o);
}

void
out_open(struct reasm *R, struct session *s)
{
	struct json_object *x = json_object_new_object();

	if (R->out.w) {
		struct rec_session_open o;
		memset(&o, 0, sizeof(o));
		o.session_id = s->id;
		o.ts_ns = R->now_ns;
		o.flow.family = s->family;
		o.flow.role_guessed = s->role_guessed;
		o.flow.local_side = s->local_side;
		o.flow.client_port = s->cport;
		o.flow.server_port = s->sport;
		memcpy(o.flow.client_ip, s->cip, 16);
		memcpy(o.flow.server_ip, s->sip, 16);
		recw_put(R->out.w, REC_SESSION_OPEN, &o, sizeof(o), NULL, 0);
	}
	emit_event(R, s, "session", "tcp_open", x);
}

static void
file_unlink_lru(struct reasm *R, struct session *s)
{
	if (s->fprev)
		s->fprev->fnext = s->fnext;
	else if (R->fhead == s)
		R->fhead = s->fnext;
	if (s->fnext)
		s->fnext->fprev = s->fprev;
	else if (R->ftail == s)
		R->ftail = s->fprev;
	s->fprev = s->fnext = NULL;
}

static void
files_close(struct reasm *R, struct session *s)
{
	for (int k = 0; k < 2; k++)
		if (s->fd[k] >= 0) {
			close(s->fd[k]);
			s->fd[k] = -1;
			R->open_files--;
		}
	file_unlink_lru(R, s);
}

static int
file_for(struct reasm *R, struct session *s, int dir)
{
	char p[4096];

	if (s->fd[dir] >= 0) {
		if (R->ftail != s) {
			file_unlink_lru(R, s);
			goto append;
		}
		return s->fd[dir];
	}
	while (R->open_files + 1 > R->out.max_open_files && R->fhead != NULL)
		files_close(R, R->fhead);
	snprintf(p, sizeof(p), "%" PRIu64 ".%s", s->id, dir_names[dir]);
	s->fd[dir] = openat(R->out.dirfd, p, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (s->fd[dir] < 0) {
		static struct log_rl rl;
		log_ratelimited(&rl, 3, 10000, LOG_WARNING, "%s/%s: %s", R->out.dir, p, strerror(errno));
		return -1;
	}
	R->open_files++;
	file_unlink_lru(R, s);
append:
	s->fprev = R->ftail;
	s->fnext = NULL;
	if (R->ftail)
		R->ftail->fnext = s;
	else
		R->fhead = s;
	R->ftail = s;
	return s->fd[dir];
}

void
out_chunk(struct reasm *R, struct session *s, int dir, uint64_t off, const uint8_t *p, size_t n)
{
	if (R->out.dir) {
		int fd = file_for(R, s, dir);
		if (fd < 0 || write_all(fd, p, n) < 0) {
			static struct log_rl rl;
			R->st.write_error_bytes += n;
			log_ratelimited(&rl, 3, 10000, LOG_WARNING, "session %" PRIu64 ": cannot write %s: %s",
			    s->id, dir_names[dir], strerror(errno));
		}
	}
	if (R->out.w) {
		/* Chunks are cut to fit a record. */
		while (n > 0) {
			size_t k = MIN(n, (size_t)1 << 20);
			struct rec_chunk c = { s->id, off, (uint8_t)dir, { 0 } };
			recw_put(R->out.w, REC_CHUNK, &c, sizeof(c), p, k);
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

	if (R->out.w) {
		struct rec_gap g = { s->id, off, len, (uint8_t)dir, { 0 } };
		recw_put(R->out.w, REC_GAP, &g, sizeof(g), NULL, 0);
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

	if (R->out.dir) {
		/* Empty directions still get their (empty) file. */
		for (int k = 0; k < 2; k++)
			if (s->fd[k] < 0 && s->d[k].c.delivered == 0)
				file_for(R, s, k);
		files_close(R, s);
	}
	if (R->out.w) {
		struct rec_session_close c;
		memset(&c, 0, sizeof(c));
		c.session_id = s->id;
		c.ts_ns = R->now_ns;
		c.reason = reason;
		c.dir[0] = s->d[0].c;
		c.dir[1] = s->d[1].c;
		recw_put(R->out.w, REC_SESSION_CLOSE, &c, sizeof(c), NULL, 0);
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
		fprintf(R->sessions_jsonl, "%s\n",
		    json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
		fflush(R->sessions_jsonl);
		json_object_put(o);
	}
	emit_event(R, s, "session", "session_summary", x);
}

void
out_packet(struct reasm *R, struct session *s, int dir, const struct frame *f)
{
	if (R->out.w) {
		struct rec_packet p = { f->ts_ns, s->id, 0, f->caplen,
		    f->origlen < f->caplen ? f->caplen : f->origlen, (uint8_t)dir, { 0 } };
		recw_put(R->out.w, REC_PACKET, &p, sizeof(p), f->data, f->caplen);
	}
}
