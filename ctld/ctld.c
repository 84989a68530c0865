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

#include "ctlc.h"
#include "ctld.h"
#include "evjson.h"
#include "log.h"
#include "util.h"

#define CTL_LINE_MAX (64 * 1024)
#define CTL_CLIENT_BUF (8u << 20)

static struct ctld *G;

static void barriers_check(void);
static void stats_arm(void);
static void on_stats(evutil_socket_t fd, short what, void *arg);

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
	if (why)
		log_info("control client %s: %s", k->peer, why);
	LIST_REMOVE(k, q);
	G->nclients--;
	{
		struct evbuffer *out = bufferevent_get_output(k->bev);
		evbuffer_remove_cb_entry(out, k->out_cb);
		G->out_total -= MIN(G->out_total, evbuffer_get_length(out));
	}
	bufferevent_free(k->bev);
	json_object_put(k->cats);
	free(k);
}

/*
 * What one client may have unread: CTL_CLIENT_BUF; and while all of them
 * together have more than control.clients_memcap unread, a client over
 * its share of it (at least 64 KiB) is cut off.  1,000 clients that never
 * read cost the memcap, not 1,000 times 8 MiB; one that reads keeps up.
 */
static size_t
client_limit(size_t backlog, size_t len)
{
	uint64_t share = (uint64_t)G->c->ctl_clients_memcap / (G->nclients ? G->nclients : 1);

	if (share < 65536)
		share = 65536;
	if (G->out_total + len > (uint64_t)G->c->ctl_clients_memcap && backlog > share)
		return (size_t)share;
	return CTL_CLIENT_BUF;
}

/* Keeps the total of the clients' unread bytes. */
static void
out_changed(struct evbuffer *b, const struct evbuffer_cb_info *info, void *arg)
{
	(void)b;
	(void)arg;
	G->out_total += info->n_added;
	G->out_total -= MIN(G->out_total, info->n_deleted);
}

static void client_send_seq(struct client *k, uint64_t seq, const char *txt, size_t len);

static void
client_send(struct client *k, const char *txt, size_t len)
{
	client_send_seq(k, 0, txt, len);
}

/* An event with its number first ({"seq":N, ...}) when seq is not 0. */
static void
client_send_seq(struct client *k, uint64_t seq, const char *txt, size_t len)
{
	struct evbuffer *out = bufferevent_get_output(k->bev);
	char pre[40];
	int np = 0;

	if (seq != 0 && len > 2 && txt[0] == '{') {
		np = snprintf(pre, sizeof(pre), "{\"seq\":%" PRIu64 ",", seq);
		txt++;
		len--;
	}

	/* What a client has not read passes its limit: it is not reading;
	 * cut off, counted; the others go on.  One message larger than that
	 * (list_sessions of many sessions) still goes to a client that has
	 * read the rest: the buffer is bounded by the limit plus one message
	 * (itself bounded by control.max_sessions). */
	if (evbuffer_get_length(out) > 0 &&
	    evbuffer_get_length(out) + len + 1 > client_limit(evbuffer_get_length(out), len + 1)) {
		G->slow_clients_cut++;
		k->dead = true;
		return;
	}
	if (np > 0)
		evbuffer_add(out, pre, (size_t)np);
	evbuffer_add(out, txt, len);
	evbuffer_add(out, "\n", 1);
}

/* ---------------- the events kept for a subscriber's return ---------------- */

static void client_send_obj(struct client *k, struct json_object *o);

static void
hist_add(uint64_t seq, const char *cat, const char *line, size_t len)
{
	struct hent *h;

	if (G->c->ctl_resume_bytes <= 0)
		return;
	if (G->hn == G->hcap) {
		size_t ncap = G->hcap ? G->hcap * 2 : 1024;
		struct hent *n = xcalloc(ncap, sizeof(*n));
		for (size_t i = 0; i < G->hn; i++)
			n[i] = G->hist[(G->hhead + i) % G->hcap];
		free(G->hist);
		G->hist = n;
		G->hcap = ncap;
		G->hhead = 0;
	}
	h = &G->hist[(G->hhead + G->hn) % G->hcap];
	h->seq = seq;
	sth_strlcpy(h->cat, cat, sizeof(h->cat));
	h->line = xmalloc(len);
	memcpy(h->line, line, len);
	h->len = len;
	G->hn++;
	G->hbytes += len + sizeof(*h);
	while (G->hn > 0 && G->hbytes > (uint64_t)G->c->ctl_resume_bytes) {
		h = &G->hist[G->hhead];
		G->hbytes -= h->len + sizeof(*h);
		free(h->line);
		h->line = NULL;
		G->hhead = (G->hhead + 1) % G->hcap;
		G->hn--;
	}
}

/* An event to every subscriber of its category: numbered, and kept for a
 * subscriber's return. */
static void
broadcast(const char *cat, const char *line, size_t len)
{
	G->seq++;
	hist_add(G->seq, cat, line, len);
	for (struct client *k = LIST_FIRST(&G->clients); k; k = LIST_NEXT(k, q))
		if (!k->dead && cat_in(k->cats, cat))
			client_send_seq(k, k->seq ? G->seq : 0, line, len);
}

/*
 * A subscriber back after a restart asks for the events after `since`, its
 * last: they are sent again from what is kept; those no longer kept are an
 * events_missed event (counted).  A number from before this ctld started
 * (a ctld restart between) cannot be resumed: what the earlier ctld had
 * not sent died with it.  Returns the number of events sent again, or -1.
 */
static int64_t
hist_resume(struct client *k, uint64_t since)
{
	uint64_t oldest = G->hn ? G->hist[G->hhead].seq : G->seq + 1;
	int64_t n = 0;

	if (since < G->seq0 || since > G->seq)
		return -1;
	if (since + 1 < oldest) {
		uint64_t miss = oldest - since - 1;
		struct json_object *e = evjson_new(now_wall_ns(), "drops", "events_missed");
		evjson_add_u64(e, "from_seq", since + 1);
		evjson_add_u64(e, "to_seq", oldest - 1);
		evjson_add_u64(e, "events", miss);
		json_object_object_add(e, "reason", json_object_new_string("resume_history"));
		client_send_obj(k, e);
		G->events_missed += miss;
		log_warnx("control client %s resumes after event %" PRIu64 ": %" PRIu64 " events are no longer "
		    "kept (control.resume_bytes), counted as events_missed", k->peer, since, miss);
	}
	for (size_t i = 0; i < G->hn; i++) {
		struct hent *h = &G->hist[(G->hhead + i) % G->hcap];
		if (h->seq > since && cat_in(k->cats, h->cat)) {
			client_send_seq(k, h->seq, h->line, h->len);
			n++;
		}
	}
	return n;
}

static void
client_send_obj(struct client *k, struct json_object *o)
{
	const char *t = evjson_text(o);

	client_send(k, t, strlen(t));
	json_object_put(o);
}

/* list_sessions, list_calls: the reply with its array ("sessions" or
 * "calls") written straight from the table into the client's buffer (the
 * same limit as client_send's). */
static void
client_send_table(struct client *k, struct json_object *r, const char *what)
{
	struct evbuffer *out = bufferevent_get_output(k->bev);
	const char *head = evjson_text(r);
	size_t hl = strlen(head);

	if (evbuffer_get_length(out) > client_limit(evbuffer_get_length(out), 0)) {
		G->slow_clients_cut++;
		k->dead = true;
	} else {
		evbuffer_add(out, head, hl - 1);	/* without its closing brace */
		evbuffer_add_printf(out, ",\"%s\":[", what);
		if (strcmp(what, "calls") == 0)
			calltab_write(G->calls, out);
		else
			sesstab_write(G->sessions, out);
		evbuffer_add(out, "]}\n", 3);
	}
	json_object_put(r);
}

static void
reap_dead(void)
{
	for (struct client *k = LIST_FIRST(&G->clients), *nx; k; k = nx) {
		nx = LIST_NEXT(k, q);
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
	struct json_object *flow, *ts;

	if (sesstab_count(G->sessions) >= (size_t)G->c->ctl_max_sessions &&
	    !sesstab_has(G->sessions, id)) {
		static struct log_rl rl;
		G->sessions_table_full++;
		log_ratelimited(&rl, 1, 60000, LOG_WARNING, "%lld sessions listed (control.max_sessions): "
		    "further ones are not (sessions_table_full %" PRIu64 ")",
		    (long long)G->c->ctl_max_sessions, G->sessions_table_full);
		return;
	}
	if (json_object_object_get_ex(ev, "flow", &flow))
		sesstab_put(G->sessions, id, json_object_object_get_ex(ev, "ts", &ts) ? ts : NULL,
		    flow);
}

/* A shard died: the sessions it had open are gone with it. */
static void
sess_drop_shard(unsigned shard)
{
	size_t n = sesstab_drop_shard(G->sessions, shard);

	G->sessions_lost += n;
	if (n > 0)
		log_warnx("shard %u was lost: its %zu open sessions are no longer listed", shard, n);
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

/* The instance a daemon's counters go to, made on its first line. */
static struct dinst *
dinst_of(struct dconn *d)
{
	char key[48];
	int owner = ctr_owner_of(d->name);
	struct dinst *in;

	if (d->inst != NULL)
		return d->inst;
	if (owner < 0 || owner == OWN_CTLD)
		return NULL;
	snprintf(key, sizeof(key), "%s.%d", d->name, d->shard);
	for (unsigned i = 0; i < G->ninst; i++)
		if (strcmp(G->inst[i].key, key) == 0)
			return d->inst = &G->inst[i];
	if (G->ninst == DINST_MAX)
		return NULL;
	in = &G->inst[G->ninst++];
	sth_strlcpy(in->key, key, sizeof(in->key));
	sth_strlcpy(in->daemon, ctr_owner_names[owner], sizeof(in->daemon));
	if (owner == OWN_REASMD) {
		in->inst_label = "shard";
		snprintf(in->inst_value, sizeof(in->inst_value), "%d", d->shard);
	} else if (owner == OWN_SINKD) {
		const char *sp = strchr(d->name, ' ');
		in->inst_label = "family";
		sth_strlcpy(in->inst_value, sp ? sp + 1 : "", sizeof(in->inst_value));
	}
	in->vals.owner = owner;
	return d->inst = in;
}

/* A daemon's counters, decoded against the table (common/counters.h). */
static void
daemon_counters(struct dconn *d, struct json_object *o)
{
	struct dinst *in = dinst_of(d);
	char err[128];
	int bad;

	if (in == NULL) {
		G->bad_daemon_lines++;
		return;
	}
	in->connected = true;
	if ((bad = ctr_decode(o, in->vals.owner, &in->vals, err, sizeof(err))) > 0) {
		static struct log_rl rl;
		G->bad_daemon_lines++;
		log_ratelimited(&rl, 3, 60000, LOG_WARNING, "%s: %d counters refused: %s", in->key, bad, err);
	}
}

/* An event from a daemon: bookkeeping, then to every subscriber. */
/*
 * A reload (stethoscope-run's link): ctld takes its own live keys (the
 * control token, the default categories, the stats interval, the log
 * verbosities) and passes the object to every daemon (common/ctlc.h).
 */
static void
reconfigure(struct json_object *live)
{
	struct json_object *v;
	const char *line;
	int l;

	/* said before the verbosities change (it may be the last INFO line) */
	log_info("reload: the new configuration is applied and passed to the daemons");
	if (json_object_object_get_ex(live, "control.token", &v)) {
		free(G->c->ctl_token);
		G->c->ctl_token = json_object_is_type(v, json_type_string) ?
		    xstrdup(json_object_get_string(v)) : NULL;
	}
	if (json_object_object_get_ex(live, "control.default_cats", &v))
		conf_strlist_set_json(&G->c->ctl_default_cats, v);
	if (json_object_object_get_ex(live, "_stats_interval", &v)) {
		G->c->stats_interval = json_object_get_double(v);
		stats_arm();
	}
	if (json_object_object_get_ex(live, "logging.console.verbosity", &v) &&
	    (l = log_level_parse(json_object_get_string(v))) >= 0)
		log_set_console_level((enum log_level)l);
	if (json_object_object_get_ex(live, "logging.file.verbosity", &v) &&
	    (l = log_level_parse(json_object_get_string(v))) >= 0)
		log_set_file_level((enum log_level)l);
	{
		struct json_object *cmd = json_object_new_object();
		json_object_object_add(cmd, "cmd", json_object_new_string("reconfigure"));
		json_object_object_add(cmd, "live", json_object_get(live));
		line = json_object_to_json_string_ext(cmd, JSON_C_TO_STRING_PLAIN);
		for (struct dconn *d = LIST_FIRST(&G->daemons); d; d = LIST_NEXT(d, q))
			if (d->hello && strcmp(d->name, "launcher") != 0) {
				bufferevent_write(d->bev, line, strlen(line));
				bufferevent_write(d->bev, "\n", 1);
			}
		json_object_put(cmd);
	}
}

/* A daemon's line as json_tokener_parse reads it (up to its NUL), with one
 * tokener kept for them all: a line a session's event or more, and a new
 * tokener each was its allocations and a locale made and freed. */
static struct json_object *
parse_line(const char *line)
{
	static struct json_tokener *tok;
	struct json_object *o;

	if (tok == NULL && (tok = json_tokener_new()) == NULL)
		return json_tokener_parse(line);
	json_tokener_reset(tok);
	o = json_tokener_parse_ex(tok, line, -1);
	if (json_tokener_get_error(tok) != json_tokener_success) {
		json_object_put(o);
		o = NULL;
	}
	return o;
}

void
ctld_event(struct ctld *D, struct dconn *d, const char *line, size_t len)
{
	struct json_object *o, *v, *flow, *sid;
	const char *cat = NULL, *name = NULL;
	uint64_t id = 0;

	(void)D;
	o = parse_line(line);
	if (o == NULL || !json_object_is_type(o, json_type_object)) {
		G->bad_daemon_lines++;
		json_object_put(o);
		return;
	}
	if (json_object_object_get_ex(o, "hello", &v)) {
		struct json_object *ver;
		int lv = json_object_object_get_ex(o, "v", &ver) ? json_object_get_int(ver) : 0;
		sth_strlcpy(d->name, json_object_get_string(v), sizeof(d->name));
		d->shard = json_object_object_get_ex(o, "shard", &v) ? json_object_get_int(v) : 0;
		if (lv != CTL_LINK_VERSION) {
			log_warnx("daemon %s (shard %d) speaks version %d of the ctld link, this ctld %d: "
			    "disconnected (run daemons of one build)", d->name, d->shard, lv, CTL_LINK_VERSION);
			G->bad_daemon_lines++;
			d->refused = true;
			json_object_put(o);
			return;
		}
		d->hello = true;
		log_info("daemon %s (shard %d) connected", d->name, d->shard);
		json_object_put(o);
		return;
	}
	if (!d->hello) {
		G->bad_daemon_lines++;	/* nothing before the hello */
		json_object_put(o);
		return;
	}
	if (strcmp(d->name, "launcher") == 0 && json_object_object_get_ex(o, "reconfigure", &v) &&
	    json_object_is_type(v, json_type_object)) {
		reconfigure(v);
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
				if (G->pending[i].session_id)
					evjson_add_u64(r, "session_id", G->pending[i].session_id);
				/* what else the answer says (a reload's changes) */
				json_object_object_foreach(o, key, val) {
					if (strcmp(key, "reply") != 0 && strcmp(key, "ok") != 0 &&
					    strcmp(key, "error") != 0)
						json_object_object_add(r, key, json_object_get(val));
				}
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
		daemon_counters(d, o);
		json_object_put(o);
		return;
	}
	if (strcmp(name, "daemon_states") == 0 && strcmp(d->name, "launcher") == 0 &&
	    json_object_object_get_ex(o, "daemons", &v) && json_object_is_type(v, json_type_array)) {
		json_object_put(G->supervised);
		G->supervised = json_object_get(v);
	}
	if (json_object_object_get_ex(o, "flow", &flow) &&
	    json_object_object_get_ex(flow, "session_id", &sid))
		id = (uint64_t)json_object_get_int64(sid);
	G->events++;
	if (strcmp(name, "shard_lost") == 0) {
		G->shard_lost++;
		if (json_object_object_get_ex(o, "shard", &v))
			sess_drop_shard((unsigned)json_object_get_int(v));
	}
	if (strcmp(cat, "calls") == 0)
		calltab_event(G->calls, name, o);
	if (id && strcmp(name, "session_snapshot") == 0) {
		/* a shard's open sessions, after this ctld restarted: the
		 * table only (its clients saw their tcp_open before) */
		if (!sesstab_has(G->sessions, id))
			sess_put(id, o);
		json_object_put(o);
		return;
	}
	if (id && strcmp(name, "tcp_open") == 0)
		sess_put(id, o);
	else if (id && strcmp(name, "session_summary") == 0 && strcmp(d->name, "reasmd") == 0)
		sesstab_del(G->sessions, id);
	if (strcmp(cat, "flow") == 0 && !flow_wanted(id)) {
		json_object_put(o);
		return;		/* tcp_note only for sessions enabled with tcp_flow_enable */
	}
	broadcast(cat, line, len);
	json_object_put(o);
	reap_dead();
}

/* ---------------- health ---------------- */

/* The counters instance of a daemon the launcher names ("sinkd nats",
 * "reasmd 1/2", "capd"): its dinst key starts with the name's first word
 * and, for a sink, its family. */
static struct dinst *
inst_named(const char *name)
{
	char want[48];
	const char *sl = strchr(name, '/');

	snprintf(want, sizeof(want), "%s", name);
	if (strlen(name) > 7 && memcmp(name, "reasmd ", 7) == 0 && sl != NULL)
		snprintf(want, sizeof(want), "reasmd.%.*s", (int)(sl - name - 7), name + 7);
	for (unsigned i = 0; i < G->ninst; i++)
		if (strncmp(G->inst[i].key, want, strlen(want)) == 0)
			return &G->inst[i];
	return NULL;
}

static void
add_broker(struct json_object *d, const struct dinst *in)
{
	struct json_object *b;

	if (in == NULL || strncmp(in->key, "sinkd nats", 10) != 0)
		return;	/* (a zero is not sent on the link: no "have" to go by) */
	b = json_object_new_object();
	json_object_object_add(b, "connected", json_object_new_boolean(in->vals.v[CTR_S_NATS_CONNECTED] != 0));
	json_object_object_add(b, "stream_ok", json_object_new_boolean(in->vals.v[CTR_S_NATS_STREAM_OK] != 0));
	json_object_object_add(b, "pending", json_object_new_int64((int64_t)in->vals.v[CTR_S_NATS_PENDING]));
	json_object_object_add(d, "broker", b);
}

/*
 * Under the launcher, its table: healthy when every daemon is up (or has
 * finished its work); a broker that is away is said, not counted against
 * health (the sink holds and counts).  Without one, the daemons that
 * connected to this ctld: healthy while they are.
 */
struct json_object *
ctld_health(void)
{
	struct json_object *r = json_object_new_object(), *a = json_object_new_array();
	bool healthy = true;

	if (G->supervised != NULL) {
		size_t n = json_object_array_length(G->supervised);
		for (size_t i = 0; i < n; i++) {
			struct json_object *d = json_object_array_get_idx(G->supervised, i), *v, *c = NULL;
			const char *st = json_object_object_get_ex(d, "state", &v) ? json_object_get_string(v) : "?";
			const char *nm = json_object_object_get_ex(d, "name", &v) ? json_object_get_string(v) : "?";
			if (json_object_deep_copy(d, &c, NULL) < 0 || c == NULL)
				continue;
			if (strcmp(nm, "ctld") == 0)
				json_object_object_add(c, "state", json_object_new_string("up"));
			else if (strcmp(st, "up") != 0 && strcmp(st, "finished") != 0 &&
			    strcmp(st, "disabled") != 0)	/* (its output off by a reload) */
				healthy = false;
			add_broker(c, inst_named(nm));
			json_object_array_add(a, c);
		}
	} else {
		for (unsigned i = 0; i < G->ninst; i++) {
			struct json_object *d = json_object_new_object();
			json_object_object_add(d, "name", json_object_new_string(G->inst[i].key));
			json_object_object_add(d, "state", json_object_new_string(G->inst[i].connected ? "up" : "gone"));
			add_broker(d, &G->inst[i]);
			json_object_array_add(a, d);
		}
	}
	json_object_object_add(r, "healthy", json_object_new_boolean(healthy));
	json_object_object_add(r, "supervised", json_object_new_boolean(G->supervised != NULL));
	json_object_object_add(r, "daemons", a);
	return r;
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
	for (struct dconn *d = LIST_FIRST(&G->daemons); d; d = LIST_NEXT(d, q))
		if (strcmp(d->name, "reasmd") == 0 && (unsigned)d->shard == shard)
			return d;
	return NULL;
}

/* ctld's own rows of the table, as values like a daemon's. */
static void
own_vals(struct ctr_vals *v)
{
	memset(v, 0, sizeof(*v));
	v->owner = OWN_CTLD;
#define SET(id, x) (v->have[CTR_##id] = true, v->v[CTR_##id] = (x))
	SET(C_SESSIONS_OPEN, (uint64_t)sesstab_count(G->sessions));
	SET(C_CLIENTS, G->nclients);
	SET(C_EVENTS, G->events);
	SET(C_COMMANDS, G->commands);
	SET(C_SLOW_CUT, G->slow_clients_cut);
	SET(C_REFUSED, G->clients_refused);
	SET(C_ACCEPT_ERR, G->accept_errors);
	SET(C_SHARD_LOST, G->shard_lost);
	SET(C_BAD_LINES, G->bad_daemon_lines);
	SET(C_SESSIONS_LOST, G->sessions_lost);
	SET(C_TABLE_FULL, G->sessions_table_full);
	SET(C_CALLS_OPEN, calltab_open(G->calls));
	SET(C_CALLS_FULL, calltab_full(G->calls));
	SET(C_EVENTS_MISSED, G->events_missed);
	SET(C_RESUME_KEPT, G->hn);
#undef SET
}

struct json_object *
ctld_stats(void)
{
	struct ctr_vals own;
	struct json_object *s, *d = json_object_new_object();

	own_vals(&own);
	s = ctr_vals_json(&own);	/* ctld's own counters at the top */
	for (unsigned i = 0; i < G->ninst; i++)
		json_object_object_add(d, G->inst[i].key, ctr_vals_json(&G->inst[i].vals));
	json_object_object_add(s, "daemons", d);
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
	} else if (strcmp(cmd, "health") == 0) {
		struct json_object *r = reply(cmd, true, NULL);
		json_object_object_add(r, "health", ctld_health());
		client_send_obj(k, r);
	} else if (strcmp(cmd, "subscribe") == 0) {
		struct json_object *cats;
		if (!json_object_object_get_ex(o, "cats", &cats) || !json_object_is_type(cats, json_type_array))
			client_send_obj(k, reply(cmd, false, "missing_cats"));
		else {
			struct json_object *sv;
			json_object_put(k->cats);
			k->cats = json_object_get(cats);
			if (json_object_object_get_ex(o, "seq", &sv))
				k->seq = json_object_get_boolean(sv);
			struct json_object *r = reply(cmd, true, NULL);
			json_object_object_add(r, "cats", json_object_get(cats));
			if (k->seq)
				evjson_add_u64(r, "seq", G->seq);
			if (json_object_object_get_ex(o, "since", &sv)) {
				/* the reply first, then what it missed */
				uint64_t since = (uint64_t)json_object_get_int64(sv);
				if (since == 0)		/* everything from this ctld's start */
					since = G->seq0;
				bool can = since >= G->seq0 && since <= G->seq;
				json_object_object_add(r, "resumed", json_object_new_boolean(can));
				client_send_obj(k, r);
				if (!can)
					log_info("control client %s resumes after event %" PRIu64 ", from before this "
					    "ctld started: what the one before had not sent is not known", k->peer, since);
				else
					log_info("control client %s resumes after event %" PRIu64 ": %" PRId64
					    " events sent again", k->peer, since, hist_resume(k, since));
			} else
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
		client_send_table(k, reply(cmd, true, NULL), "sessions");
	} else if (strcmp(cmd, "get_session") == 0) {
		struct json_object *s = has_sid ? sesstab_get(G->sessions, id) : NULL;
		if (!has_sid)
			client_send_obj(k, reply(cmd, false, "missing_session_id"));
		else if (s == NULL)
			client_send_obj(k, reply(cmd, false, "not_found"));
		else {
			struct json_object *r = reply(cmd, true, NULL);
			json_object_object_add(r, "session", s);
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
		/* stethoscope-run reads the configuration again and applies it;
		 * its answer (what changed, what needs a restart) is the reply. */
		struct dconn *d;
		LIST_FOREACH(d, &G->daemons, q)
			if (d->hello && strcmp(d->name, "launcher") == 0)
				break;
		if (!authorized(o))
			client_send_obj(k, reply(cmd, false, "unauthorized"));
		else if (d == NULL)
			client_send_obj(k, reply(cmd, false, "no_launcher"));
		else {
			size_t i;
			char l[96];
			for (i = 0; i < PENDING_MAX && G->pending[i].client; i++)
				;
			if (i == PENDING_MAX)
				i = (size_t)(G->next_id % PENDING_MAX);
			G->pending[i].id = ++G->next_id;
			G->pending[i].client = k;
			G->pending[i].session_id = 0;
			sth_strlcpy(G->pending[i].cmd, cmd, sizeof(G->pending[i].cmd));
			int n = snprintf(l, sizeof(l), "{\"cmd\":\"reload\",\"id\":%" PRIu64 "}\n", G->pending[i].id);
			bufferevent_write(d->bev, l, (size_t)n);
		}
	} else if (strcmp(cmd, "drain_barrier") == 0) {
		k->barrier = true;
		barriers_check();
	} else if (strcmp(cmd, "list_calls") == 0) {
		client_send_table(k, reply(cmd, true, NULL), "calls");
	} else if (strcmp(cmd, "get_call") == 0) {
		struct json_object *cid, *c = NULL;
		if (!json_object_object_get_ex(o, "call_id", &cid) || !json_object_is_type(cid, json_type_string))
			client_send_obj(k, reply(cmd, false, "missing_call_id"));
		else if ((c = calltab_get(G->calls, json_object_get_string(cid))) == NULL)
			client_send_obj(k, reply(cmd, false, "not_found"));
		else {
			struct json_object *r = reply(cmd, true, NULL);
			json_object_object_add(r, "call", c);
			client_send_obj(k, r);
		}
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
	struct client *k;
	char host[64] = "unix";

	(void)l;
	(void)salen;
	(void)arg;
	if (G->nclients >= (unsigned)G->c->ctl_max_clients) {
		/* One more than control.max_clients: told so, closed, counted. */
		static struct log_rl rl;
		static const char msg[] = "{\"cat\":\"control\",\"event\":\"control_error\","
		    "\"error\":\"too_many_clients\"}\n";
		G->clients_refused++;
		log_ratelimited(&rl, 1, 10000, LOG_WARNING, "a control client refused: control.max_clients "
		    "(%lld) are connected (clients_refused %llu)", (long long)G->c->ctl_max_clients,
		    (unsigned long long)G->clients_refused);
		(void)!write(fd, msg, sizeof(msg) - 1);
		evutil_closesocket(fd);
		return;
	}
	k = xcalloc(1, sizeof(*k));
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)sa)->sin_addr, host, sizeof(host));
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)sa)->sin6_addr, host, sizeof(host));
	snprintf(k->peer, sizeof(k->peer), "%s", host);
	k->bev = bufferevent_socket_new(G->base, fd, BEV_OPT_CLOSE_ON_FREE);
	k->out_cb = evbuffer_add_cb(bufferevent_get_output(k->bev), out_changed, NULL);
	k->cats = default_cats();
	bufferevent_setcb(k->bev, client_read, NULL, client_ev, k);
	bufferevent_enable(k->bev, EV_READ | EV_WRITE);
	LIST_INSERT_HEAD(&G->clients, k, q);
	G->nclients++;
	G->clients_total++;
	struct json_object *e = evjson_new(now_wall_ns(), "control", "control_connected");
	json_object_object_add(e, "cats", json_object_get(k->cats));
	client_send_obj(k, e);
}

/* accept() failed: out of descriptors (EMFILE, ENFILE), the listening
 * socket would stay readable and the loop spin.  Every listener rests
 * 100 ms, counted, said once in a while. */
static void
accept_again(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	if (G->daemon_lev)
		evconnlistener_enable(G->daemon_lev);
	if (G->unix_lev)
		evconnlistener_enable(G->unix_lev);
	if (G->tcp_lev)
		evconnlistener_enable(G->tcp_lev);
}

static void
on_accept_error(struct evconnlistener *l, void *arg)
{
	static struct log_rl rl;
	struct timeval t = { 0, 100000 };
	int e = EVUTIL_SOCKET_ERROR();

	(void)l;
	(void)arg;
	G->accept_errors++;
	log_ratelimited(&rl, 1, 10000, LOG_WARNING, "accepting a connection: %s (accept_errors %llu): "
	    "not accepting for 100 ms", evutil_socket_error_to_string(e),
	    (unsigned long long)G->accept_errors);
	if (G->daemon_lev)
		evconnlistener_disable(G->daemon_lev);
	if (G->unix_lev)
		evconnlistener_disable(G->unix_lev);
	if (G->tcp_lev)
		evconnlistener_disable(G->tcp_lev);
	if (G->ev_accept_again == NULL)
		G->ev_accept_again = evtimer_new(G->base, accept_again, NULL);
	evtimer_add(G->ev_accept_again, &t);
}

/* ---------------- daemon connections ---------------- */

/* drain_barrier (the json sink, as it stops): answered once every daemon
 * that sends events (all but the launcher and the json sink) is gone, so
 * that their last events, read before their connection's end, were
 * forwarded before the answer. */
static void
barriers_check(void)
{
	const struct dconn *d;

	LIST_FOREACH(d, &G->daemons, q)
		if (d->hello && strcmp(d->name, "launcher") != 0 && strcmp(d->name, "sinkd json") != 0)
			return;
	for (struct client *k = LIST_FIRST(&G->clients); k; k = LIST_NEXT(k, q))
		if (k->barrier && !k->dead) {
			k->barrier = false;
			client_send_obj(k, reply("drain_barrier", true, NULL));
		}
}

static void
dconn_close(struct dconn *d)
{
	LIST_REMOVE(d, q);
	if (d->name[0])
		log_info("daemon %s (shard %d) disconnected", d->name, d->shard);
	if (d->inst != NULL)
		d->inst->connected = false;
	bufferevent_free(d->bev);
	free(d);
	barriers_check();
	if (G->stopping && LIST_EMPTY(&G->daemons))
		event_base_loopbreak(G->base);
}

static void
dconn_read(struct bufferevent *bev, void *arg)
{
	struct dconn *d = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	char *line;
	size_t n;

	while (!d->refused && (line = evbuffer_readln(in, &n, EVBUFFER_EOL_LF)) != NULL) {
		ctld_event(G, d, line, n);
		free(line);
	}
	if (d->refused) {
		d->name[0] = '\0';
		dconn_close(d);
		return;
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
	LIST_INSERT_HEAD(&G->daemons, d, q);
}

/* ---------------- the periodic stats line and metrics ---------------- */

/* A counter summed over every daemon (and ctld's own). */
static uint64_t
sum_counter(enum ctr_id id, void *arg)
{
	const struct ctr_vals *own = arg;
	uint64_t s = own->have[id] ? own->v[id] : 0;

	for (unsigned i = 0; i < G->ninst; i++)
		if (G->inst[i].vals.have[id])
			s += G->inst[i].vals.v[id];
	return s;
}

static void
stats_line(const char *what)
{
	struct ctr_vals own;
	char line[1024];

	own_vals(&own);
	ctr_stats_line(line, sizeof(line), sum_counter, &own);
	log_info("stats: %s%s", line, what);
}

static void
on_stats(evutil_socket_t fd, short what, void *arg)
{
	struct json_object *e = evjson_new(now_wall_ns(), "stats", "stats");

	(void)fd;
	(void)what;
	(void)arg;
	stats_line("");
	json_object_object_add(e, "stats", ctld_stats());
	const char *t = evjson_text(e);
	broadcast("stats", t, strlen(t));
	json_object_put(e);
	reap_dead();
}

static void
on_metrics(struct evhttp_request *req, void *arg)
{
	struct evbuffer *b = evbuffer_new();

	(void)arg;
	struct ctr_inst in[DINST_MAX + 1];
	struct ctr_vals own;
	size_t n = 0;

	own_vals(&own);
	in[n++] = (struct ctr_inst){ "ctld", NULL, NULL, &own };
	for (unsigned i = 0; i < G->ninst; i++)
		in[n++] = (struct ctr_inst){ G->inst[i].daemon, G->inst[i].inst_label,
		    G->inst[i].inst_value, &G->inst[i].vals };
	ctr_metrics(b, in, n);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	    "text/plain; version=0.0.4");
	evhttp_send_reply(req, HTTP_OK, "OK", b);
	evbuffer_free(b);
}

/* GET /healthz: 200 when healthy, 503 when not; the body says why. */
static void
on_healthz(struct evhttp_request *req, void *arg)
{
	struct evbuffer *b = evbuffer_new();
	struct json_object *h = ctld_health(), *v;
	bool ok = json_object_object_get_ex(h, "healthy", &v) && json_object_get_boolean(v);

	(void)arg;
	evbuffer_add_printf(b, "%s\n", json_object_to_json_string_ext(h, JSON_C_TO_STRING_PLAIN));
	json_object_put(h);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
	evhttp_send_reply(req, ok ? HTTP_OK : 503, ok ? "OK" : "Service Unavailable", b);
	evbuffer_free(b);
}

static void
stop_deadline(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	log_warnx("stopping: %s did not end within a second; its last counters may be missing",
	    !LIST_EMPTY(&G->daemons) && LIST_FIRST(&G->daemons)->name[0] ?
	    LIST_FIRST(&G->daemons)->name : "a daemon");
	event_base_loopbreak(G->base);
}

void
ctld_stop(struct ctld *D)
{
	struct timeval sec = { 1, 0 };

	if (D->stopping) {
		event_base_loopbreak(D->base);	/* asked twice */
		return;
	}
	D->stopping = true;
	if (LIST_EMPTY(&D->daemons)) {
		event_base_loopbreak(D->base);
		return;
	}
	D->ev_stop = evtimer_new(D->base, stop_deadline, NULL);
	evtimer_add(D->ev_stop, &sec);
}

/* The last stats line: every daemon's final counters (ctld_stop waited). */
void
ctld_last_stats(void)
{
	stats_line(" (last)");
}

/* ---------------- set-up ---------------- */

/* The stats event every stats interval (0: none); again after a reload. */
static void
stats_arm(void)
{
	double iv = G->c->stats_interval;

	if (G->ev_stats == NULL)
		G->ev_stats = event_new(G->base, -1, EV_PERSIST, on_stats, NULL);
	event_del(G->ev_stats);
	if (iv > 0) {
		struct timeval tv = { (time_t)iv, (suseconds_t)((iv - (double)(time_t)iv) * 1e6) };
		event_add(G->ev_stats, &tv);
	}
}

int
ctld_open(struct ctld *D, char *err, size_t errlen)
{
	G = D;
	LIST_INIT(&D->clients);
	LIST_INIT(&D->daemons);
	D->sessions = sesstab_new();
	D->calls = calltab_new((size_t)D->c->ctl_max_calls);
	D->flow_ids = json_object_new_object();
	D->seq0 = D->seq = now_wall_ns() / 1000;
	D->daemon_lev = evconnlistener_new(D->base, on_daemon, NULL, LEV_OPT_CLOSE_ON_FREE, -1, D->daemon_fd);
	if (D->daemon_lev)
		evconnlistener_set_error_cb(D->daemon_lev, on_accept_error);
	if (D->unix_fd >= 0)
		D->unix_lev = evconnlistener_new(D->base, on_client, NULL, LEV_OPT_CLOSE_ON_FREE, -1, D->unix_fd);
	if (D->unix_lev)
		evconnlistener_set_error_cb(D->unix_lev, on_accept_error);
	if (D->tcp_fd >= 0)
		D->tcp_lev = evconnlistener_new(D->base, on_client, NULL, LEV_OPT_CLOSE_ON_FREE, -1, D->tcp_fd);
	if (D->tcp_lev)
		evconnlistener_set_error_cb(D->tcp_lev, on_accept_error);
	if (D->http_fd >= 0) {
		D->http = evhttp_new(D->base);
		if (D->http == NULL || evhttp_accept_socket(D->http, D->http_fd) < 0) {
			snprintf(err, errlen, "metrics: cannot serve HTTP");
			return -1;
		}
		evhttp_set_cb(D->http, "/metrics", on_metrics, NULL);
		evhttp_set_cb(D->http, "/healthz", on_healthz, NULL);
	}
	stats_arm();
	return 0;
}

void
ctld_close(struct ctld *D)
{
	while (!LIST_EMPTY(&D->clients))
		client_close(LIST_FIRST(&D->clients), NULL);
	while (!LIST_EMPTY(&D->daemons))
		dconn_close(LIST_FIRST(&D->daemons));
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
	if (D->ev_accept_again)
		event_free(D->ev_accept_again);
	sesstab_free(D->sessions);
	calltab_free(D->calls);
	for (unsigned i = 0; i < D->ninst; i++)
		ctr_vals_clear(&D->inst[i].vals);
	if (D->ev_stop)
		event_free(D->ev_stop);
	json_object_put(D->flow_ids);
	json_object_put(D->supervised);
	for (size_t i = 0; i < D->hn; i++)
		free(D->hist[(D->hhead + i) % D->hcap].line);
	free(D->hist);
}
