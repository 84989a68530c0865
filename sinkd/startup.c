/*
 * startup.c — startup buffers: what a direction holds until its first
 * consumer (listener) or its first connection (connector) takes it.
 *
 * Per buffer the newest `cap` bytes are kept (the Go version's
 * buffer_bytes / c2s_buffer_bytes / s2c_buffer_bytes); per sinkd every
 * buffer together stays under sink.memcap, so that many sessions whose
 * consumers never come cannot exhaust memory.  Either way the oldest bytes
 * go first, counted as startup_buffer_full for their session and
 * direction, and the stream that is finally handed on starts after the
 * hole, with a tcp_gap event that says where it is.
 *
 * The live buffers sit on one list ordered by the age of the oldest byte
 * they hold: a buffer joins at the tail when it gets bytes while empty, so
 * the head always holds the oldest bytes of the sinkd.
 */
#include <event2/buffer.h>

#include "evjson.h"
#include "sinkd.h"

static void
sb_unlink(struct sinkd *D, struct sbuf *sb)
{
	if (!sb->listed)
		return;
	TAILQ_REMOVE(&D->sbufs, sb, q);
	sb->listed = false;
}

static void
sb_append(struct sinkd *D, struct sbuf *sb)
{
	TAILQ_INSERT_TAIL(&D->sbufs, sb, q);
	sb->listed = true;
}

/* Drops the oldest n bytes of sb: startup_buffer_full. */
static void
sb_cut(struct sinkd *D, struct sbuf *sb, size_t n)
{
	evbuffer_drain(sb->b, n);
	sb->off += n;
	D->sb_total -= n;
	sinkd_drop(D, sb->s, sb->dir, SD_STARTUP_BUFFER_FULL, n);
	if (evbuffer_get_length(sb->b) == 0)
		sb_unlink(D, sb);	/* back on the list with its next bytes */
}

void
sbuf_init(struct sinkd *D, struct sbuf *sb, struct ssn *s, int dir, uint64_t cap)
{
	(void)D;
	sb->listed = false;
	sb->b = evbuffer_new();
	sb->s = s;
	sb->dir = dir;
	sb->cap = cap;
	sb->off = 0;
}

void
sbuf_add(struct sinkd *D, struct sbuf *sb, const void *p, size_t n)
{
	size_t have;

	if (n == 0)
		return;
	if (evbuffer_get_length(sb->b) == 0)
		sb_append(D, sb);
	evbuffer_add(sb->b, p, n);
	D->sb_total += n;
	have = evbuffer_get_length(sb->b);
	if (have > sb->cap)
		sb_cut(D, sb, have - (size_t)sb->cap);
	while (D->sb_total > (uint64_t)D->c->sink_memcap && !TAILQ_EMPTY(&D->sbufs)) {
		struct sbuf *o = TAILQ_FIRST(&D->sbufs);
		size_t cut = evbuffer_get_length(o->b);
		if (cut > D->sb_total - (uint64_t)D->c->sink_memcap)
			cut = (size_t)(D->sb_total - (uint64_t)D->c->sink_memcap);
		D->sb_memcap_bytes += cut;
		sb_cut(D, o, cut);
	}
}

size_t
sbuf_take(struct sinkd *D, struct sbuf *sb, struct evbuffer *dst, const char *family)
{
	size_t n;

	if (sb->b == NULL)
		return 0;
	n = evbuffer_get_length(sb->b);
	if (n > 0)
		sb_unlink(D, sb);
	D->sb_total -= n;
	evbuffer_add_buffer(dst, sb->b);
	evbuffer_free(sb->b);
	sb->b = NULL;
	if (sb->off > 0) {
		struct json_object *o = sinkd_event(D, "session", "tcp_gap", sb->s);
		json_object_object_add(o, "direction", json_object_new_string(sd_dir_names[sb->dir]));
		evjson_add_u64(o, "offset", 0);
		evjson_add_u64(o, "length", sb->off);
		json_object_object_add(o, "why", json_object_new_string("startup_buffer_full"));
		json_object_object_add(o, "family", json_object_new_string(family));
		sinkd_emit(D, o);
	}
	return n;
}

void
sbuf_discard(struct sinkd *D, struct sbuf *sb, int why)
{
	size_t n;

	if (sb->b == NULL)
		return;
	n = evbuffer_get_length(sb->b);
	if (n > 0)
		sb_unlink(D, sb);
	D->sb_total -= n;
	if (why < SD_MAX)
		sinkd_drop(D, sb->s, sb->dir, (enum sd_reason)why, n);
	evbuffer_free(sb->b);
	sb->b = NULL;
}
