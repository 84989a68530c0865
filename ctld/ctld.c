/*
 * ctld.c — the control plane: the daemons' events and counters in, the
 * control clients' commands in and events out (DESIGN.md section 7).
 *
 * Daemons connect to ctld.sock (common/ctlc.h).  Clients connect over TCP
 * (control.bind_ip:listen_port) or the Unix socket, speak JSON lines, and
 * get every event of the categories they subscribed to (default_cats on
 * connect).  A client whose output buffer passes CTL_CLIENT_BUF is cut off
 * and counted, so a slow client never holds anything back.  A line over
 * 64 KiB or bad JSON gets a control_error and the connection stays usable.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <event2/listener.h>

#include "ctld.h"
#include "evjson.h"
#include "log.h"
#include "util.h"

#define CTL_LINE_MAX (64 * 1024)
#define CTL_CLIENT_BUF (8u << 20)

static struct ctld *G;

/* ---------------- helpers ---------------- */

static bool
cat_in(struct json_object *cats, const char *cat)
{
	size_t n = json_object_array_length(cats);

	for (size_t i = 0; i < n; i++) {
		const char *c = json_object_get_string(json_object_array_get_idx(cats, i));
		if (c && (strcmp(c, cat) == 0 || strcmp(c, "all") == 0))
			return true;
	}
	return false;
}

static struct json_object *
default_cats(void)
{
	struct json_object *a = json_object_new_array();

	for (size_t i = 0; i < G->c->ctl_default_cats.n; i++)
		json_object_array_add(a, json_object_new_string(G->c->ctl_default_cats.v[i]));
	return a;
}

static void
client_close(struct client *k, const char *why)
{
	struct client **pp = &G->clients;

	if (why)
		log_info("control client %s: %s", k->peer, why);
	while (*pp && *pp != k)
		pp = &(*pp)->next;
	if (*pp)
		*pp = k->next;
	G->nclients--;
	bufferevent_free(k->bev);
	json_object_put(k->cats);
	free(k);
}

static void
client_send(struct client *k, const char *txt, size_t len)
{
	struct evbuffer *out = bufferevent_get_output(k->bev);

	if (evbuffer_get_length(out) + len + 1 > CTL_CLIENT_BUF) {
		/* Not reading: cut off, counted; the others go on. */
		G->slow_clients_cut++;
		k->dead = true;
		return;
	}
	evbuffer_add(out, txt, len);
	evbuffer_add(out, "\n", 1);
}

static void
client_send_obj(struct client *k, struct json_object *o)
{
	const char *t = evjson_text(o);

	client_send(k, t, strlen(t));
	json_object_put(o);
}

static void
reap_dead(void)
{
	for (struct client *k = G->clients, *nx; k; k = nx) {
		nx = k->next;
		if (k->dead)
			client_close(k, "cut off: it did not read its events (slow client)");
	}
}

static struct json_object *
reply(const char *cmd, bool ok, const char *error)
{
	struct json_object *o = evjson_new(now_wall_ns(), "control", "control_reply");

	json_object_object_add(o, "reply_to", json_object_new_string(cmd ? cmd : ""));
	json_object_object_add(o, "ok", json_object_new_boolean(ok));
	if (error)
		json_object_object_add(o, "error", json_object_new_string(error));
	return o;
}

/* ---------------- sessions and counters from the daemons ---------------- */

static void
sess_put(uint64_t id, struct json_object *ev)
{
	char key[32];
	struct json_object *flow;

	snprintf(key, sizeof(key), "%" PRIu64, id);
	if (json_object_object_get_ex(ev, "flow", &flow)) {
		struct json_object *s = json_object_new_object();
		json_object_object_add(s, "flow", json_object_get(flow));
		json_object_object_add(s, "opened", json_object_get(json_object_object_get(ev, "ts")));
		json_object_object_add(s, "shard", json_object_new_int((int)sid_shard(id)));
		json_object_object_add(G->sessions, key, s);
	}
}

static void
sess_del(uint64_t id)
{
	char key[32];

	snprintf(key, sizeof(key), "%" PRIu64, id);
	json_object_object_del(G->sessions, key);
}

static bool
flow_wanted(uint64_t id)
{
	char key[32];

	if (G->flow_all)
		return true;
	snprintf(key, sizeof(key), "%" PRIu64, id);
	return json_object_object_get_ex(G->flow_ids, key, NULL);
}

/* An event from a daemon: bookkeeping, then to every subscriber. */
void
ctld_event(struct ctld *D, struct dconn *d, const char *line, size_t len)
{
	struct json_object *o, *v, *flow, *sid;
	const char *cat = NULL, *name = NULL;
	uint64_t id = 0;

	(void)D;
	o = json_tokener_parse(line);
	if (o == NULL || !json_object_is_type(o, json_type_object)) {
		G->bad_daemon_lines++;
		json_object_put(o);
		return;
	}
	if (json_object_object_get_ex(o, "hello", &v)) {
		sth_strlcpy(d->name, json_object_get_string(v), sizeof(d->name));
		d->shard = json_object_object_get_ex(o, "shard", &v) ? json_object_get_int(v) : 0;
		log_info("daemon %s (shard %d) connected", d->name, d->shard);
		json_object_put(o);
		return;
	}
	if (json_object_object_get_ex(o, "reply", &v)) {
		uint64_t rid = (uint64_t)json_object_get_int64(v);
		for (size_t i = 0; i < PENDING_MAX; i++)
			if (G->pending[i].id == rid && G->pending[i].client) {
				struct client *k = G->pending[i].client;
				struct json_object *ok, *err;
				bool good = json_object_object_get_ex(o, "ok", &ok) && json_object_get_boolean(ok);
				struct json_object *r = reply(G->pending[i].cmd, good,
				    !good && json_object_object_get_ex(o, "error", &err) ? json_object_get_string(err) : NULL);
				evjson_add_u64(r, "session_id", G->pending[i].session_id);
				client_send_obj(k, r);
				G->pending[i].client = NULL;
				G->pending[i].id = 0;
			}
		json_object_put(o);
		reap_dead();
		return;
	}
	if (json_object_object_get_ex(o, "cat", &v))
		cat = json_object_get_string(v);
	if (json_object_object_get_ex(o, "event", &v))
		name = json_object_get_string(v);
	if (cat == NULL || name == NULL) {
		G->bad_daemon_lines++;
		json_object_put(o);
		return;
	}
	if (strcmp(name, "daemon_counters") == 0) {
		char key[64];
		struct json_object *cs;
		snprintf(key, sizeof(key), "%s.%d", d->name, d->shard);
		if (json_object_object_get_ex(o, "counters", &cs))
			json_object_object_add(G->counters, key, json_object_get(cs));
		json_object_put(o);
		return;
	}
	if (json_object_object_get_ex(o, "flow", &flow) &&
	    json_object_object_get_ex(flow, "session_id", &sid))
		id = (uint64_t)json_object_get_int64(sid);
	G->events++;
	if (strcmp(name, "shard_lost") == 0)
		G->shard_lost++;
	if (id && strcmp(name, "tcp_open") == 0)
		sess_put(id, o);
	else if (id && strcmp(name, "session_summary") == 0 && strcmp(d->name, "reasmd") == 0)
		sess_del(id);
	if (strcmp(cat, "flow") == 0 && !flow_wanted(id)) {
		json_object_put(o);
		return;		/* tcp_note only for sessions enabled with tcp_flow_enable */
	}
	for (struct client *k = G->clients; k; k = k->next)
		if (!k->dead && cat_in(k->cats, cat))
			client_send(k, line, len);
	json_object_put(o);
	reap_dead();
}

/* ---------------- commands ---------------- */

static bool
authorized(struct json_object *cmd)
{
	struct json_object *t;

	if (G->c->ctl_token == NULL || *G->c->ctl_token == '\0')
		return true;
	return json_object_object_get_ex(cmd, "token", &t) &&
	    strcmp(json_object_get_string(t), G->c->ctl_token) == 0;
}

static struct dconn *
shard_conn(unsigned shard)
{
	for (struct dconn *d = G->daemons; d; d = d->next)
		if (strcmp(d->name, "reasmd") == 0 && (unsigned)d->shard == shard)
			return d;
	return NULL;
}

struct json_object *
ctld_stats(void)
{
	struct json_object *s = json_object_new_object();

	evjson_add_u64(s, "sessions_open", (uint64_t)json_object_object_length(G->sessions));
	evjson_add_u64(s, "control_clients", G->nclients);
	evjson_add_u64(s, "events", G->events);
	evjson_add_u64(s, "slow_clients_cut", G->slow_clients_cut);
	evjson_add_u64(s, "shard_lost", G->shard_lost);
	json_object_object_add(s, "daemons", json_object_get(G->counters));
	return s;
}

static void
command(struct client *k, const char *line)
{
	struct json_object *o = json_tokener_parse(line), *v, *sid;
	const char *cmd;

	if (o == NULL || !json_object_is_type(o, json_type_object)) {
		struct json_object *e = evjson_new(now_wall_ns(), "control", "control_error");
		json_object_object_add(e, "error", json_object_new_string("bad_json"));
		client_send_obj(k, e);
		json_object_put(o);
		return;
	}
	if (!json_object_object_get_ex(o, "cmd", &v) || (cmd = json_object_get_string(v)) == NULL) {
		client_send_obj(k, reply("", false, "unknown_cmd"));
		json_object_put(o);
		return;
	}
	G->commands++;
	bool has_sid = json_object_object_get_ex(o, "session_id", &sid);
	uint64_t id = has_sid ? (uint64_t)json_object_get_int64(sid) : 0;
	if (strcmp(cmd, "ping") == 0) {
		struct json_object *r = reply(cmd, true, NULL);
		json_object_object_add(r, "pong", json_object_new_boolean(true));
		client_send_obj(k, r);
	} else if (strcmp(cmd, "stats") == 0) {
		struct json_object *r = reply(cmd, true, NULL);
		json_object_object_add(r, "stats", ctld_stats());
		client_send_obj(k, r);
	} else if (strcmp(cmd, "subscribe") == 0) {
		struct json_object *cats;
		if (!json_object_object_get_ex(o, "cats", &cats) || !json_object_is_type(cats, json_type_array))
			client_send_obj(k, reply(cmd, false, "missing_cats"));
		else {
			json_object_put(k->cats);
			k->cats = json_object_get(cats);
			struct json_object *r = reply(cmd, true, NULL);
			json_object_object_add(r, "cats", json_object_get(cats));
			client_send_obj(k, r);
		}
	} else if (strcmp(cmd, "subscribe_default") == 0) {
		json_object_put(k->cats);
		k->cats = default_cats();
		struct json_object *r = reply(cmd, true, NULL);
		json_object_object_add(r, "cats", json_object_get(k->cats));
		client_send_obj(k, r);
	} else if (strcmp(cmd, "tcp_flow_enable") == 0 || strcmp(cmd, "tcp_flow_disable") == 0) {
		bool en = strcmp(cmd, "tcp_flow_enable") == 0;
		if (!authorized(o))
			client_send_obj(k, reply(cmd, false, "unauthorized"));
		else {
			char key[32];
			if (!has_sid)
				G->flow_all = en;
			else {
				snprintf(key, sizeof(key), "%" PRIu64, id);
				if (en)
					json_object_object_add(G->flow_ids, key, json_object_new_boolean(true));
				else
					json_object_object_del(G->flow_ids, key);
			}
			client_send_obj(k, reply(cmd, true, NULL));
		}
	} else if (strcmp(cmd, "list_sessions") == 0) {
		struct json_object *r = reply(cmd, true, NULL), *a = json_object_new_array();
		json_object_object_foreach(G->sessions, key, val) {
			struct json_object *e = json_object_get(val);
			(void)key;
			json_object_array_add(a, e);
		}
		json_object_object_add(r, "sessions", a);
		client_send_obj(k, r);
	} else if (strcmp(cmd, "get_session") == 0) {
		char key[32];
		struct json_object *s;
		snprintf(key, sizeof(key), "%" PRIu64, id);
		if (!has_sid)
			client_send_obj(k, reply(cmd, false, "missing_session_id"));
		else if (!json_object_object_get_ex(G->sessions, key, &s))
			client_send_obj(k, reply(cmd, false, "not_found"));
		else {
			struct json_object *r = reply(cmd, true, NULL);
			json_object_object_add(r, "session", json_object_get(s));
			client_send_obj(k, r);
		}
	} else if (strcmp(cmd, "close_session") == 0 || strcmp(cmd, "close") == 0) {
		struct dconn *d;
		if (!authorized(o))
			client_send_obj(k, reply(cmd, false, "unauthorized"));
		else if (!has_sid)
			client_send_obj(k, reply(cmd, false, "missing_session_id"));
		else if ((d = shard_conn(sid_shard(id))) == NULL)
			client_send_obj(k, reply(cmd, false, "not_found"));
		else {
			/* To the shard that owns it; its answer is the reply. */
			size_t i;
			char l[160];
			for (i = 0; i < PENDING_MAX && G->pending[i].client; i++)
				;
			if (i == PENDING_MAX)
				i = (size_t)(G->next_id % PENDING_MAX);
			G->pending[i].id = ++G->next_id;
			G->pending[i].client = k;
			G->pending[i].session_id = id;
			sth_strlcpy(G->pending[i].cmd, cmd, sizeof(G->pending[i].cmd));
			int n = snprintf(l, sizeof(l), "{\"cmd\":\"close_session\",\"session_id\":%" PRIu64
			    ",\"id\":%" PRIu64 "}\n", id, G->pending[i].id);
			bufferevent_write(d->bev, l, (size_t)n);
		}
	} else if (strcmp(cmd, "reload") == 0) {
		client_send_obj(k, reply(cmd, false, authorized(o) ? "restart_needed" : "unauthorized"));
	} else if (strcmp(cmd, "list_calls") == 0 || strcmp(cmd, "get_call") == 0) {
		client_send_obj(k, reply(cmd, false, "voip_not_in_this_build"));
	} else
		client_send_obj(k, reply(cmd, false, "unknown_cmd"));
	json_object_put(o);
}

/* ---------------- client connections ---------------- */

static void
client_read(struct bufferevent *bev, void *arg)
{
	struct client *k = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	for (;;) {
		size_t n;
		struct evbuffer_ptr p = evbuffer_search_eol(in, NULL, &n, EVBUFFER_EOL_LF);
		if (p.pos < 0) {
			if (evbuffer_get_length(in) > CTL_LINE_MAX) {
				/* Too long: say so, skip to its end. */
				evbuffer_drain(in, evbuffer_get_length(in));
				if (!k->skipping) {
					struct json_object *e = evjson_new(now_wall_ns(), "control", "control_error");
					json_object_object_add(e, "error", json_object_new_string("line_too_long"));
					client_send_obj(k, e);
				}
				k->skipping = true;
			}
			break;
		}
		char *line = xmalloc((size_t)p.pos + 1);
		evbuffer_remove(in, line, (size_t)p.pos);
		line[p.pos] = '\0';
		evbuffer_drain(in, n);
		if (k->skipping || p.pos > CTL_LINE_MAX) {
			if (!k->skipping) {
				struct json_object *e = evjson_new(now_wall_ns(), "control", "control_error");
				json_object_object_add(e, "error", json_object_new_string("line_too_long"));
				client_send_obj(k, e);
			}
			k->skipping = false;
		} else if (p.pos > 0)
			command(k, line);
		free(line);
		if (k->dead)
			break;
	}
	if (k->dead)
		client_close(k, "cut off: it did not read its replies");
}

static void
client_ev(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)what;
	client_close(arg, "disconnected");
}

static void
on_client(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
	struct client *k = xcalloc(1, sizeof(*k));
	char host[64] = "unix";

	(void)l;
	(void)salen;
	(void)arg;
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)sa)->sin_addr, host, sizeof(host));
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)sa)->sin6_addr, host, sizeof(host));
	snprintf(k->peer, sizeof(k->peer), "%s", host);
	k->bev = bufferevent_socket_new(G->base, fd, BEV_OPT_CLOSE_ON_FREE);
	k->cats = default_cats();
	bufferevent_setcb(k->bev, client_read, NULL, client_ev, k);
	bufferevent_enable(k->bev, EV_READ | EV_WRITE);
	k->next = G->clients;
	G->clients = k;
	G->nclients++;
	G->clients_total++;
	struct json_object *e = evjson_new(now_wall_ns(), "control", "control_connected");
	json_object_object_add(e, "cats", json_object_get(k->cats));
	client_send_obj(k, e);
}

/* ---------------- daemon connections ---------------- */

static void
dconn_close(struct dconn *d)
{
	struct dconn **pp = &G->daemons;

	while (*pp && *pp != d)
		pp = &(*pp)->next;
	if (*pp)
		*pp = d->next;
	if (d->name[0])
		log_info("daemon %s (shard %d) disconnected", d->name, d->shard);
	bufferevent_free(d->bev);
	free(d);
}

static void
dconn_read(struct bufferevent *bev, void *arg)
{
	struct dconn *d = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	char *line;
	size_t n;

	while ((line = evbuffer_readln(in, &n, EVBUFFER_EOL_LF)) != NULL) {
		ctld_event(G, d, line, n);
		free(line);
	}
	if (evbuffer_get_length(in) > 4 * CTL_LINE_MAX) {
		G->bad_daemon_lines++;
		evbuffer_drain(in, evbuffer_get_length(in));
	}
}

static void
dconn_ev(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)what;
	dconn_close(arg);
}

static void
on_daemon(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
	struct dconn *d = xcalloc(1, sizeof(*d));

	(void)l;
	(void)sa;
	(void)salen;
	(void)arg;
	d->bev = bufferevent_socket_new(G->base, fd, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(d->bev, dconn_read, NULL, dconn_ev, d);
	bufferevent_enable(d->bev, EV_READ | EV_WRITE);
	d->next = G->daemons;
	G->daemons = d;
}

/* ---------------- the periodic stats line and metrics ---------------- */

static uint64_t
sum_counter(const char *name)
{
	uint64_t s = 0;

	json_object_object_foreach(G->counters, key, cs) {
		struct json_object *v;
		(void)key;
		if (json_object_object_get_ex(cs, name, &v))
			s += (uint64_t)json_object_get_int64(v);
	}
	return s;
}

static void
on_stats(evutil_socket_t fd, short what, void *arg)
{
	struct json_object *e = evjson_new(now_wall_ns(), "stats", "stats");

	(void)fd;
	(void)what;
	(void)arg;
	log_info("stats: %d sessions open, %" PRIu64 " bytes delivered by reasmd, gap %" PRIu64
	    ", sink_ring_full %" PRIu64 ", sinks delivered %" PRIu64 " dropped %" PRIu64
	    ", pcap frames %" PRIu64 " (queue_full %" PRIu64 ", write_error %" PRIu64 "), ring_full %"
	    PRIu64 ", pcap_kernel %" PRIu64, json_object_object_length(G->sessions),
	    sum_counter("bytes_delivered"), sum_counter("gap_bytes"), sum_counter("sink_ring_full_bytes"),
	    sum_counter("delivered"), sum_counter("dropped"), sum_counter("pcap_written"),
	    sum_counter("pcap_queue_full"), sum_counter("pcap_write_error"), sum_counter("ring_full"),
	    sum_counter("pcap_kernel"));
	json_object_object_add(e, "stats", ctld_stats());
	const char *t = evjson_text(e);
	for (struct client *k = G->clients; k; k = k->next)
		if (!k->dead && cat_in(k->cats, "stats"))
			client_send(k, t, strlen(t));
	json_object_put(e);
	reap_dead();
}

static void
on_metrics(struct evhttp_request *req, void *arg)
{
	struct evbuffer *b = evbuffer_new();

	(void)arg;
	evbuffer_add_printf(b, "# HELP stethoscope_sessions_open Sessions open (reasmd).\n"
	    "# TYPE stethoscope_sessions_open gauge\nstethoscope_sessions_open %d\n",
	    json_object_object_length(G->sessions));
	evbuffer_add_printf(b, "# TYPE stethoscope_events_total counter\nstethoscope_events_total %" PRIu64 "\n",
	    G->events);
	evbuffer_add_printf(b, "# TYPE stethoscope_control_clients gauge\nstethoscope_control_clients %u\n",
	    G->nclients);
	evbuffer_add_printf(b, "# TYPE stethoscope_slow_clients_cut_total counter\n"
	    "stethoscope_slow_clients_cut_total %" PRIu64 "\n", G->slow_clients_cut);
	evbuffer_add_printf(b, "# TYPE stethoscope_shard_lost_total counter\n"
	    "stethoscope_shard_lost_total %" PRIu64 "\n", G->shard_lost);
	evbuffer_add_printf(b, "# HELP stethoscope_counter Every daemon's counters, by daemon, shard and name.\n"
	    "# TYPE stethoscope_counter untyped\n");
	json_object_object_foreach(G->counters, key, cs) {
		char dname[64];
		const char *dot = strrchr(key, '.');
		size_t dl = dot ? (size_t)(dot - key) : strlen(key);
		snprintf(dname, sizeof(dname), "%.*s", (int)dl, key);
		json_object_object_foreach(cs, name, v)
			evbuffer_add_printf(b, "stethoscope_counter{daemon=\"%s\",shard=\"%s\",name=\"%s\"} %" PRId64 "\n",
			    dname, dot ? dot + 1 : "0", name, json_object_get_int64(v));
	}
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	    "text/plain; version=0.0.4");
	evhttp_send_reply(req, HTTP_OK, "OK", b);
	evbuffer_free(b);
}

/* ---------------- set-up ---------------- */

int
ctld_open(struct ctld *D, char *err, size_t errlen)
{
	G = D;
	D->sessions = json_object_new_object();
	D->counters = json_object_new_object();
	D->flow_ids = json_object_new_object();
	D->daemon_lev = evconnlistener_new(D->base, on_daemon, NULL, LEV_OPT_CLOSE_ON_FREE, -1, D->daemon_fd);
	if (D->unix_fd >= 0)
		D->unix_lev = evconnlistener_new(D->base, on_client, NULL, LEV_OPT_CLOSE_ON_FREE, -1, D->unix_fd);
	if (D->tcp_fd >= 0)
		D->tcp_lev = evconnlistener_new(D->base, on_client, NULL, LEV_OPT_CLOSE_ON_FREE, -1, D->tcp_fd);
	if (D->http_fd >= 0) {
		D->http = evhttp_new(D->base);
		if (D->http == NULL || evhttp_accept_socket(D->http, D->http_fd) < 0) {
			snprintf(err, errlen, "metrics: cannot serve HTTP");
			return -1;
		}
		evhttp_set_cb(D->http, "/metrics", on_metrics, NULL);
	}
	if (D->c->stats_interval > 0) {
		struct timeval tv = { (time_t)D->c->stats_interval,
		    (suseconds_t)((D->c->stats_interval - (double)(time_t)D->c->stats_interval) * 1e6) };
		D->ev_stats = event_new(D->base, -1, EV_PERSIST, on_stats, NULL);
		event_add(D->ev_stats, &tv);
	}
	return 0;
}

void
ctld_close(struct ctld *D)
{
	while (D->clients)
		client_close(D->clients, NULL);
	while (D->daemons)
		dconn_close(D->daemons);
	if (D->daemon_lev)
		evconnlistener_free(D->daemon_lev);
	if (D->unix_lev)
		evconnlistener_free(D->unix_lev);
	if (D->tcp_lev)
		evconnlistener_free(D->tcp_lev);
	if (D->http)
		evhttp_free(D->http);
	if (D->ev_stats)
		event_free(D->ev_stats);
	json_object_put(D->sessions);
	json_object_put(D->counters);
	json_object_put(D->flow_ids);
}
