/*
 * ctld.h — the control daemon's state (ctld.c: daemons, clients, commands,
 * stats, metrics; main.c: options, sockets, the drop, the loop).
 */
#ifndef CTLD_H
#define CTLD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <event2/event.h>
#include <json-c/json.h>

#include "conf.h"
#include "counters.h"
#include "wire.h"

struct client {
	LIST_ENTRY(client) q;
	struct bufferevent *bev;
	struct json_object *cats;	/* subscription */
	char peer[64];
	bool dead, skipping;
	bool barrier;			/* asked drain_barrier: answered when the daemons are gone */
	bool seq;			/* subscribed with "seq": its events carry their number */
	struct evbuffer_cb_entry *out_cb;	/* keeps G->out_total */
};

struct dconn {
	LIST_ENTRY(dconn) q;
	struct bufferevent *bev;
	char name[32];
	int shard;
	bool hello;			/* its hello came, with our link version */
	bool refused;			/* another version: closed after this read */
	struct dinst *inst;		/* where its counters go */
};

/* A daemon instance's counters ("reasmd.0", "sinkd pcap.0"), kept after
 * it disconnects: its final values stay in stats and /metrics. */
#define DINST_MAX 64
struct dinst {
	char key[48];			/* name.shard, as `stats` replies have it */
	char daemon[16];		/* capd, reasmd, sinkd */
	const char *inst_label;		/* "shard", "family" or NULL */
	char inst_value[32];
	bool connected;
	struct ctr_vals vals;
};

/* An event kept for a subscriber that comes back (the json sink after a
 * restart asks "since" its last number). */
struct hent {
	uint64_t seq;
	char cat[16];
	char *line;
	size_t len;
};

#define PENDING_MAX 256
struct pending {
	uint64_t id, session_id;
	struct client *client;
	char cmd[24];
};

struct ctld {
	struct event_base *base;
	struct conf *c;
	int daemon_fd, unix_fd, tcp_fd, http_fd;
	struct evconnlistener *daemon_lev, *unix_lev, *tcp_lev;
	struct evhttp *http;
	struct event *ev_stats;
	LIST_HEAD(, client) clients;
	unsigned nclients;
	LIST_HEAD(, dconn) daemons;
	struct sesstab *sessions;	/* the open sessions (sessions.c) */
	struct calltab *calls;		/* the VoIP calls (calls.c) */
	struct dinst inst[DINST_MAX];	/* the daemons' counters */
	unsigned ninst;
	struct json_object *flow_ids;	/* tcp_flow_enable'd session ids */
	bool flow_all;
	struct pending pending[PENDING_MAX];
	uint64_t next_id;
	uint64_t events, commands, clients_total, slow_clients_cut, bad_daemon_lines, shard_lost;
	uint64_t sessions_lost, sessions_table_full;
	uint64_t clients_refused, accept_errors;
	uint64_t out_total;		/* what every client has unread, together */
	struct event *ev_accept_again;	/* accepting again after EMFILE */
	bool stopping;
	struct event *ev_stop;		/* the stop's deadline */
	struct json_object *supervised;	/* the launcher's daemon_states (NULL: none) */
	/* the events' numbers (the first is the start's wall clock in µs, so a
	 * restarted ctld numbers after the one before) and the last of them,
	 * up to control.resume_bytes */
	uint64_t seq0, seq;
	struct hent *hist;
	size_t hcap, hhead, hn, hbytes;
	uint64_t events_missed;
};

/* sessions.c: the open sessions, by id, in the order they opened. */
struct sesstab;
struct sesstab *sesstab_new(void);
bool sesstab_has(struct sesstab *t, uint64_t id);
/* Keeps the tcp_open's flow and time (ts, may be NULL) as JSON text; the
 * same id replaces. */
void sesstab_put(struct sesstab *t, uint64_t id, struct json_object *opened,
    struct json_object *flow);
void sesstab_del(struct sesstab *t, uint64_t id);
/* Forgets a lost shard's sessions; returns how many. */
size_t sesstab_drop_shard(struct sesstab *t, unsigned shard);
size_t sesstab_count(const struct sesstab *t);
/* {flow, opened, shard} (NULL: not listed). */
struct json_object *sesstab_get(struct sesstab *t, uint64_t id);
/* Every session's {flow, opened, shard}, comma-separated, oldest first,
 * into out; returns how many. */
struct evbuffer;
size_t sesstab_write(const struct sesstab *t, struct evbuffer *out);
void sesstab_free(struct sesstab *t);

/* calls.c: the VoIP calls, by Call-ID (control.max_calls at most). */
struct calltab;
struct calltab *calltab_new(size_t max);
/* call_new, call_state, call_end (other names: nothing). */
void calltab_event(struct calltab *t, const char *name, struct json_object *ev);
/* The call's object with "ended" (NULL: not listed). */
struct json_object *calltab_get(struct calltab *t, const char *id);
/* Every call's object, comma-separated, the open ones first; returns how many. */
size_t calltab_write(const struct calltab *t, struct evbuffer *out);
size_t calltab_open(const struct calltab *t);
uint64_t calltab_full(const struct calltab *t);
void calltab_free(struct calltab *t);

int ctld_open(struct ctld *D, char *err, size_t errlen);
void ctld_close(struct ctld *D);
void ctld_event(struct ctld *D, struct dconn *d, const char *line, size_t len);
struct json_object *ctld_stats(void);
/* {"healthy": bool, "supervised": bool, "daemons": [...]} (health, /healthz). */
struct json_object *ctld_health(void);
/* A stop was asked for: the last stats line once every daemon's final
 * counters are in (its connection ended) or after a second; then the loop
 * ends. */
void ctld_stop(struct ctld *D);
void ctld_last_stats(void);

#endif
