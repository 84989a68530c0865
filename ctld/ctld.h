/*
 * ctld.h — the control daemon's state (ctld.c: daemons, clients, commands,
 * stats, metrics; main.c: options, sockets, the drop, the loop).
 */
#ifndef CTLD_H
#define CTLD_H

#include <stdbool.h>
#include <stdint.h>
#include <event2/event.h>
#include <json-c/json.h>

#include "conf.h"
#include "wire.h"

struct client {
	struct client *next;
	struct bufferevent *bev;
	struct json_object *cats;	/* subscription */
	char peer[64];
	bool dead, skipping;
};

struct dconn {
	struct dconn *next;
	struct bufferevent *bev;
	char name[32];
	int shard;
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
	struct client *clients;
	unsigned nclients;
	struct dconn *daemons;
	struct json_object *sessions;	/* id -> {flow, opened, shard} */
	struct json_object *counters;	/* "daemon.shard" -> {name: value} */
	struct json_object *flow_ids;	/* tcp_flow_enable'd session ids */
	bool flow_all;
	struct pending pending[PENDING_MAX];
	uint64_t next_id;
	uint64_t events, commands, clients_total, slow_clients_cut, bad_daemon_lines, shard_lost;
};

int ctld_open(struct ctld *D, char *err, size_t errlen);
void ctld_close(struct ctld *D);
void ctld_event(struct ctld *D, struct dconn *d, const char *line, size_t len);
struct json_object *ctld_stats(void);

#endif
