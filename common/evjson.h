/*
 * evjson.h — the control plane's event objects (DESIGN.md section 7),
 * built in one place for every daemon: {"ts", "cat", "event", ...} and the
 * flow object {"session_id", "client_ip", ..., "local_ip", ...}.
 */
#ifndef STH_EVJSON_H
#define STH_EVJSON_H

#include <json-c/json.h>
#include <stdint.h>

#include "wire.h"

/* A new event object with ts (ISO-8601 UTC of ts_ns), cat and event. */
struct json_object *evjson_new(uint64_t ts_ns, const char *cat, const char *event);

/* Adds "flow" (with session_id) to o. */
void evjson_add_flow(struct json_object *o, uint64_t session_id, const struct wire_flow *f);

/* The compact one-line text of o (valid while o lives). */
const char *evjson_text(struct json_object *o);

/* Adds an integer member. */
void evjson_add_u64(struct json_object *o, const char *key, uint64_t v);

#endif
