/*
 * evjson.c — event objects (see evjson.h).
 */
#include <string.h>

#include "evjson.h"
#include "util.h"

struct json_object *
evjson_new(uint64_t ts_ns, const char *cat, const char *event)
{
	struct json_object *o = json_object_new_object();
	char ts[40];

	fmt_iso8601(ts, sizeof(ts), ts_ns);
	json_object_object_add(o, "ts", json_object_new_string(ts));
	json_object_object_add(o, "cat", json_object_new_string(cat));
	json_object_object_add(o, "event", json_object_new_string(event));
	return o;
}

void
evjson_add_u64(struct json_object *o, const char *key, uint64_t v)
{
	json_object_object_add(o, key, json_object_new_int64((int64_t)v));
}

void
evjson_add_flow(struct json_object *o, uint64_t session_id, const struct wire_flow *fl)
{
	char a[64], b[64];
	struct json_object *f = json_object_new_object();

	addr_fmt(fl->family, fl->client_ip, a, sizeof(a));
	addr_fmt(fl->family, fl->server_ip, b, sizeof(b));
	evjson_add_u64(f, "session_id", session_id);
	json_object_object_add(f, "client_ip", json_object_new_string(a));
	json_object_object_add(f, "client_port", json_object_new_int(fl->client_port));
	json_object_object_add(f, "server_ip", json_object_new_string(b));
	json_object_object_add(f, "server_port", json_object_new_int(fl->server_port));
	if (fl->local_side) {
		int lc = fl->local_side == 1;
		json_object_object_add(f, "local_ip", json_object_new_string(lc ? a : b));
		json_object_object_add(f, "local_port", json_object_new_int(lc ? fl->client_port : fl->server_port));
		json_object_object_add(f, "remote_ip", json_object_new_string(lc ? b : a));
		json_object_object_add(f, "remote_port", json_object_new_int(lc ? fl->server_port : fl->client_port));
	}
	json_object_object_add(f, "role_guessed", json_object_new_boolean(fl->role_guessed));
	json_object_object_add(o, "flow", f);
}

const char *
evjson_text(struct json_object *o)
{
	return json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
}
