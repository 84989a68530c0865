/*
 * ctlc.h — a daemon's line to ctld (RUN/ctld.sock): events and counters
 * go up as JSON lines, commands come down as JSON lines.
 *
 *   daemon -> ctld   {"hello":"reasmd","shard":0,"v":1}  first line
 *                    {"cat":"stats","event":"daemon_counters",...}
 *                                                         counters (common/counters.h)
 *                    an event object per line             (DESIGN.md 7)
 *                    {"reply":ID,"ok":true|false,...}     a command's answer
 *   ctld -> daemon   {"cmd":"close_session","session_id":N,"id":ID}
 *
 * The line never holds a daemon back: what does not fit in its buffer
 * (CTLC_BUF) is dropped and counted (ctl_events_dropped), and a lost
 * ctld is reconnected with back-off.  Connect before the privilege drop
 * (ctlc_connect), start in the loop after (ctlc_start).
 */
#ifndef STH_CTLC_H
#define STH_CTLC_H

#include <stdbool.h>
#include <stdint.h>
#include <event2/event.h>
#include <json-c/json.h>

#define CTLC_BUF (4u << 20)
/* The link's version, in every hello ("v"): ctld refuses another. */
#define CTL_LINK_VERSION 1

/* The hello line (with its newline) into buf; returns its length. */
int ctlc_hello_line(char *buf, size_t size, const char *daemon, int shard);

struct ctlc;
/* A command: answer it with ctlc_reply (id from the command). */
typedef void (*ctlc_cmd_cb)(struct json_object *cmd, uint64_t id, void *arg);

struct ctlc *ctlc_connect(const char *path, const char *daemon, int shard,
    char *err, size_t errlen);
void ctlc_start(struct ctlc *c, struct event_base *base, ctlc_cmd_cb cb, void *arg);
/*
 * A reload (stethoscope-run, through ctld) sends
 *   {"cmd":"reconfigure","live":{KEY: VALUE, ...}}
 * with the new values of the keys a running daemon takes (conf.c's
 * reload column, RL_LIVE).  The link applies the log verbosities itself
 * and hands the object to fn, if set, for the daemon's own keys.
 */
void ctlc_on_reconfigure(struct ctlc *c, void (*fn)(struct json_object *live, void *arg), void *arg);
/* fn runs each time the link is back after ctld was lost (a restarted
 * ctld): the daemon sends what ctld keeps of it (its open sessions). */
void ctlc_on_reconnect(struct ctlc *c, void (*fn)(void *arg), void *arg);
/* Sends one event (its JSON text, no newline). */
void ctlc_send(struct ctlc *c, const char *json, size_t len);
void ctlc_reply(struct ctlc *c, uint64_t id, bool ok, const char *error);
uint64_t ctlc_dropped(const struct ctlc *c);
void ctlc_free(struct ctlc *c);

#endif
