/*
 * ctlc.c — a daemon's line to ctld (see ctlc.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "bev.h"
#include "chan.h"
#include "ctlc.h"
#include "log.h"
#include "redial.h"
#include "util.h"

struct ctlc {
	char *path, *daemon;
	int shard;
	int fd;				/* connected, not yet started */
	struct event_base *base;
	struct bufferevent *bev;
	struct redial rd;
	ctlc_cmd_cb cb;
	void *arg;
	void (*reconf)(struct json_object *, void *);
	void *reconf_arg;
	void (*reconn)(void *);
	void *reconn_arg;
	bool started;
	uint64_t dropped;
};

static void ctlc_attach(struct ctlc *c, int fd);

/* One attempt to get ctld back (redial.h). */
static int
ctlc_redial(void *arg, char *err, size_t errlen)
{
	struct ctlc *c = arg;
	int s = chan_connect(c->path, err, errlen);

	if (s < 0)
		return -1;
	ctlc_attach(c, s);
	if (c->reconn)
		c->reconn(c->reconn_arg);
	return 0;
}

/* The live keys of a reload: the verbosities here, the rest by the daemon. */
static void
ctlc_reconfigure(struct ctlc *c, struct json_object *o)
{
	struct json_object *live, *v;
	int l;

	if (!json_object_object_get_ex(o, "live", &live) || !json_object_is_type(live, json_type_object))
		return;
	/* said before the verbosities change (it may be the last INFO line) */
	log_info("reload: the new configuration is applied");
	if (json_object_object_get_ex(live, "logging.console.verbosity", &v) &&
	    (l = log_level_parse(json_object_get_string(v))) >= 0)
		log_set_console_level((enum log_level)l);
	if (json_object_object_get_ex(live, "logging.file.verbosity", &v) &&
	    (l = log_level_parse(json_object_get_string(v))) >= 0)
		log_set_file_level((enum log_level)l);
	if (c->reconf)
		c->reconf(live, c->reconf_arg);
}

void
ctlc_on_reconfigure(struct ctlc *c, void (*fn)(struct json_object *, void *), void *arg)
{
	if (c == NULL)
		return;
	c->reconf = fn;
	c->reconf_arg = arg;
}

void
ctlc_on_reconnect(struct ctlc *c, void (*fn)(void *), void *arg)
{
	if (c == NULL)
		return;
	c->reconn = fn;
	c->reconn_arg = arg;
}

static void
ctlc_lost(struct ctlc *c)
{
	if (c->bev)
		bufferevent_free(c->bev);
	c->bev = NULL;
	log_warnx("lost ctld (%s); events are counted as dropped until it is back (retrying in %u ms)",
	    c->path, redial_lost(&c->rd));
}

static void
ctlc_read(struct bufferevent *bev, void *arg)
{
	struct ctlc *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	char *line;
	size_t n;

	while ((line = evbuffer_readln(in, &n, EVBUFFER_EOL_LF)) != NULL) {
		struct json_object *o = json_tokener_parse(line), *id, *cmd;
		if (o != NULL && json_object_object_get_ex(o, "cmd", &cmd) &&
		    strcmp(json_object_get_string(cmd), "reconfigure") == 0)
			ctlc_reconfigure(c, o);
		else if (o != NULL && json_object_object_get_ex(o, "cmd", &cmd) && c->cb) {
			uint64_t i = json_object_object_get_ex(o, "id", &id) ?
			    (uint64_t)json_object_get_int64(id) : 0;
			c->cb(o, i, c->arg);
		}
		json_object_put(o);
		free(line);
	}
	if (evbuffer_get_length(in) > 65536)
		evbuffer_drain(in, evbuffer_get_length(in));
}

static void
ctlc_ev(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)what;
	ctlc_lost(arg);
}

static void
ctlc_attach(struct ctlc *c, int fd)
{
	char hello[160];
	int n;

	evutil_make_socket_nonblocking(fd);
	c->bev = bufferevent_socket_new(c->base, fd, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(c->bev, ctlc_read, NULL, ctlc_ev, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	n = ctlc_hello_line(hello, sizeof(hello), c->daemon, c->shard);
	bufferevent_write(c->bev, hello, (size_t)n);
}

int
ctlc_hello_line(char *buf, size_t size, const char *daemon, int shard)
{
	struct json_object *o = json_object_new_object();
	int n;

	json_object_object_add(o, "hello", json_object_new_string(daemon));
	json_object_object_add(o, "shard", json_object_new_int(shard));
	json_object_object_add(o, "v", json_object_new_int(CTL_LINK_VERSION));
	n = snprintf(buf, size, "%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return n < (int)size ? n : (int)size - 1;
}

struct ctlc *
ctlc_connect(const char *path, const char *daemon, int shard, char *err, size_t errlen)
{
	struct ctlc *c;
	int fd = chan_connect(path, err, errlen);

	if (fd < 0)
		return NULL;
	c = xcalloc(1, sizeof(*c));
	c->path = xstrdup(path);
	c->daemon = xstrdup(daemon);
	c->shard = shard;
	c->fd = fd;
	return c;
}

void
ctlc_start(struct ctlc *c, struct event_base *base, ctlc_cmd_cb cb, void *arg)
{
	c->base = base;
	c->cb = cb;
	c->arg = arg;
	redial_init(&c->rd, base, c->path, ctlc_redial, c);
	ctlc_attach(c, c->fd);
	c->fd = -1;
}

void
ctlc_send(struct ctlc *c, const char *json, size_t len)
{
	if (c == NULL)
		return;
	if (c->bev == NULL ||
	    evbuffer_get_length(bufferevent_get_output(c->bev)) + len + 1 > CTLC_BUF) {
		c->dropped++;
		return;
	}
	bufferevent_write(c->bev, json, len);
	bufferevent_write(c->bev, "\n", 1);
}

void
ctlc_reply(struct ctlc *c, uint64_t id, bool ok, const char *error)
{
	char line[256];
	int n = snprintf(line, sizeof(line), "{\"reply\":%llu,\"ok\":%s%s%s%s}",
	    (unsigned long long)id, ok ? "true" : "false", error ? ",\"error\":\"" : "",
	    error ? error : "", error ? "\"" : "");

	ctlc_send(c, line, (size_t)n);
}

uint64_t ctlc_dropped(const struct ctlc *c) { return c ? c->dropped : 0; }

void
ctlc_free(struct ctlc *c)
{
	if (c == NULL)
		return;
	if (c->bev) {
		/* What is queued goes out before the end (best effort). */
		evutil_socket_t fd = bufferevent_getfd(c->bev);
		struct timeval tv = { 1, 0 };
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		while (bev_write_now(c->bev) > 0)
			;
		bufferevent_free(c->bev);
	}
	if (c->fd >= 0)
		close(c->fd);
	redial_free(&c->rd);
	free(c->path);
	free(c->daemon);
	free(c);
}
