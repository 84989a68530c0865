/*
 * stethoscope-ctl — the command-line control client (DESIGN.md section 7).
 *
 *   stethoscope-ctl [-s SOCK | -H HOST:PORT] [--token T] COMMAND
 *     stats | status | health | reload | sessions | session ID | close ID | calls | call ID | ping | watch [CAT...] | raw JSON
 *     subscribe --nats URL ... | calls --nats URL ...   (natsub.c: what sinkd nats published)
 *
 * Default: the TCP control port on 127.0.0.1:50005 (control.listen_port),
 * or $STETHOSCOPE_CTL (a socket path or HOST:PORT).  Prints the reply (or,
 * for watch, every event as it comes) one JSON object per line; exits 0
 * when the reply says ok, 1 when not, 2 on a usage or connection error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <json-c/json.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "natsub.h"

static void
usage(FILE *f)
{
	fprintf(f, "usage: stethoscope-ctl [-s SOCK | -H HOST:PORT] [--token T] COMMAND\n"
	    "  stats            counters of every daemon\n"
	    "  status           one line: packets, kernel drops, sessions, calls, drops by reason\n"
	    "  reload           stethoscope-run reads its configuration again and applies it;\n"
	    "                   the reply lists each change and what it took (exit 1: a key\n"
	    "                   needs a restart, and nothing was applied)\n"
	    "  health           every daemon's state, restarts, last error, broker; exit 0 when\n"
	    "                   healthy, 1 when not (also GET /healthz on the metrics port)\n"
	    "  sessions         the open sessions\n"
	    "  session ID       one session\n"
	    "  close ID         close a session (reason control_close)\n"
	    "  calls            the VoIP calls (going on, then ended)\n"
	    "  call CALL-ID     one call: users, state, final status, times, RTP streams\n"
	    "  ping\n"
	    "  watch [CAT...]   print events as they come (default: every category)\n"
	    "  raw JSON         send one command object as is\n"
	    "  subscribe --nats URL [--durable NAME] [--filter SUBJECT] [--from start|new|SEQ]\n"
	    "           [--stream NAME] [--prefix P] [--count N] [--idle SEC]\n"
	    "                   what sinkd nats published (io.output.nats), one JSON line a\n"
	    "                   record, each acknowledged once written (at-least-once);\n"
	    "                   default: every subject under steth.> of stream STETH, from\n"
	    "                   the start, until interrupted (--count, --idle SEC: stop)\n"
	    "  calls --nats URL [--stream NAME] [--prefix P] [--idle SEC]\n"
	    "                   the calls of every sensor in the stream, merged by Call-ID:\n"
	    "                   a line per call with the sensors that saw it\n"
	    "  -s SOCK          the control Unix socket (RUN/control.sock)\n"
	    "  -H HOST:PORT     the control TCP port (default 127.0.0.1:50005; also $STETHOSCOPE_CTL)\n"
	    "  --token T        for mutating commands when control.token is set\n"
	    "  -h, --help       this help\n"
	    "Exit status: 0 ok, 1 the reply was not ok, 2 usage or connection error.\n");
}

/* The sum of counter `key` over the daemons whose name starts with `who`
 * (a labelled counter: the sum of its labels). */
static uint64_t
sum(struct json_object *daemons, const char *who, const char *key)
{
	uint64_t t = 0;

	json_object_object_foreach(daemons, name, d) {
		struct json_object *v;
		if (strncmp(name, who, strlen(who)) != 0 || !json_object_object_get_ex(d, key, &v))
			continue;
		if (json_object_is_type(v, json_type_int))
			t += (uint64_t)json_object_get_int64(v);
		else if (json_object_is_type(v, json_type_object)) {
			json_object_object_foreach(v, lab, lv) {
				(void)lab;
				if (json_object_is_type(lv, json_type_int))
					t += (uint64_t)json_object_get_int64(lv);
			}
		}
	}
	return t;
}

/* `status`: the stats reply as one line. */
static void
status_line(struct json_object *reply)
{
	struct json_object *st, *d;
	static const struct { const char *who, *key, *unit; } drops[] = {
		{ "capd", "ring_full", "packets" }, { "reasmd", "table_full", "packets" },
		{ "reasmd", "ooo_limit", "bytes" }, { "reasmd", "frag_limit", "packets" },
		{ "reasmd", "decode_error", "packets" }, { "sinkd", "sink_ring_full_bytes", "bytes" },
		{ "sinkd", "dropped", "bytes" }, { "sinkd", "pcap_queue_full", "frames" },
		{ "sinkd", "pcap_write_error", "frames" }, { "sinkd", "hep_send_error", "messages" },
	};
	char more[512] = "";

	if (!json_object_object_get_ex(reply, "stats", &st) ||
	    !json_object_object_get_ex(st, "daemons", &d)) {
		printf("no counters yet\n");
		return;
	}
	for (size_t k = 0; k < sizeof(drops) / sizeof(drops[0]); k++) {
		uint64_t v = sum(d, drops[k].who, drops[k].key);
		if (v > 0)
			snprintf(more + strlen(more), sizeof(more) - strlen(more), " %s=%llu",
			    drops[k].key, (unsigned long long)v);
	}
	printf("%llu packets (kernel drops %llu), %llu sessions (%llu open), %llu calls (%llu going on), "
	    "drops:%s\n", (unsigned long long)sum(d, "capd", "captured"),
	    (unsigned long long)sum(d, "capd", "pcap_kernel"), (unsigned long long)sum(d, "reasmd", "sessions"),
	    (unsigned long long)sum(d, "reasmd", "sessions_open"), (unsigned long long)sum(d, "reasmd", "voip_calls"),
	    (unsigned long long)sum(d, "reasmd", "voip_calls_open"), more[0] ? more : " none");
}

static int
dial(const char *target)
{
	int fd;

	if (strchr(target, '/') != NULL) {
		struct sockaddr_un sa;
		memset(&sa, 0, sizeof(sa));
		sa.sun_family = AF_UNIX;
		if (strlen(target) >= sizeof(sa.sun_path))
			return -1;
		strcpy(sa.sun_path, target);
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return fd;
	} else {
		char host[256];
		const char *colon = strrchr(target, ':');
		struct addrinfo hints, *ai;
		if (colon == NULL || (size_t)(colon - target) >= sizeof(host))
			return -1;
		memcpy(host, target, (size_t)(colon - target));
		host[colon - target] = '\0';
		memset(&hints, 0, sizeof(hints));
		hints.ai_socktype = SOCK_STREAM;
		if (getaddrinfo(host[0] == '[' ? host + 1 : host, colon + 1, &hints, &ai) != 0)
			return -1;
		fd = socket(ai->ai_family, SOCK_STREAM, 0);
		if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
			freeaddrinfo(ai);
			return fd;
		}
		freeaddrinfo(ai);
	}
	if (fd >= 0)
		close(fd);
	return -1;
}

int
main(int argc, char **argv)
{
	const char *target = getenv("STETHOSCOPE_CTL"), *token = NULL, *cmd;
	struct json_object *o = NULL, *cats = NULL;
	bool watch = false, status = false, health = false;
	char buf[65536], *line = NULL;
	size_t have = 0, cap = 0;
	int i = 1, fd, rc = 2;

	if (target == NULL)
		target = "127.0.0.1:50005";
	for (; i < argc && argv[i][0] == '-'; i++) {
		if ((strcmp(argv[i], "-s") == 0 || strcmp(argv[i], "-H") == 0) && i + 1 < argc)
			target = argv[++i];
		else if (strcmp(argv[i], "--token") == 0 && i + 1 < argc)
			token = argv[++i];
		else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return 2;
	}
	cmd = argv[i++];
	if (strcmp(cmd, "subscribe") == 0)
		return natsub_subscribe(argc - i, argv + i);
	if (strcmp(cmd, "calls") == 0 && i < argc && strcmp(argv[i], "--nats") == 0)
		return natsub_calls(argc - i, argv + i);
	o = json_object_new_object();
	if (strcmp(cmd, "stats") == 0 || strcmp(cmd, "ping") == 0 || strcmp(cmd, "reload") == 0)
		json_object_object_add(o, "cmd", json_object_new_string(cmd));
	else if (strcmp(cmd, "health") == 0) {
		health = true;
		json_object_object_add(o, "cmd", json_object_new_string(cmd));
	}
	else if (strcmp(cmd, "status") == 0) {
		status = true;
		json_object_object_add(o, "cmd", json_object_new_string("stats"));
	}
	else if (strcmp(cmd, "sessions") == 0)
		json_object_object_add(o, "cmd", json_object_new_string("list_sessions"));
	else if (strcmp(cmd, "calls") == 0)
		json_object_object_add(o, "cmd", json_object_new_string("list_calls"));
	else if (strcmp(cmd, "call") == 0 && i < argc) {
		json_object_object_add(o, "cmd", json_object_new_string("get_call"));
		json_object_object_add(o, "call_id", json_object_new_string(argv[i]));
	}
	else if ((strcmp(cmd, "session") == 0 || strcmp(cmd, "close") == 0) && i < argc) {
		char *end;
		long long id = strtoll(argv[i], &end, 10);
		if (*end != '\0' || id <= 0) {
			fprintf(stderr, "stethoscope-ctl: %s: expected a session id, found \"%s\"\n", cmd, argv[i]);
			json_object_put(o);
			return 2;
		}
		json_object_object_add(o, "cmd", json_object_new_string(strcmp(cmd, "session") == 0 ?
		    "get_session" : "close_session"));
		json_object_object_add(o, "session_id", json_object_new_int64(id));
	} else if (strcmp(cmd, "watch") == 0) {
		watch = true;
		cats = json_object_new_array();
		if (i == argc)
			json_object_array_add(cats, json_object_new_string("all"));
		for (; i < argc; i++)
			json_object_array_add(cats, json_object_new_string(argv[i]));
		json_object_object_add(o, "cmd", json_object_new_string("subscribe"));
		json_object_object_add(o, "cats", cats);
	} else if (strcmp(cmd, "raw") == 0 && i < argc) {
		json_object_put(o);
		o = json_tokener_parse(argv[i]);
		if (o == NULL || !json_object_is_type(o, json_type_object)) {
			fprintf(stderr, "stethoscope-ctl: raw: not a JSON object: %s\n", argv[i]);
			json_object_put(o);
			return 2;
		}
	} else {
		usage(stderr);
		json_object_put(o);
		return 2;
	}
	if (token)
		json_object_object_add(o, "token", json_object_new_string(token));
	if ((fd = dial(target)) < 0) {
		fprintf(stderr, "stethoscope-ctl: cannot reach the control plane at %s: %s\n", target,
		    strerror(errno ? errno : ECONNREFUSED));
		json_object_put(o);
		return 2;
	}
	{
		const char *t = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
		struct json_object *c;
		const char *want = json_object_object_get_ex(o, "cmd", &c) ? json_object_get_string(c) : "";
		char *msg = malloc(strlen(t) + 2);
		sprintf(msg, "%s\n", t);
		if (write(fd, msg, strlen(msg)) < 0) {
			perror("stethoscope-ctl");
			free(msg);
			goto out;
		}
		free(msg);
		for (;;) {
			ssize_t n = read(fd, buf, sizeof(buf));
			if (n <= 0) {
				fprintf(stderr, "stethoscope-ctl: the control plane closed the connection\n");
				goto out;
			}
			if (have + (size_t)n + 1 > cap) {
				cap = (have + (size_t)n + 1) * 2;
				line = realloc(line, cap);
			}
			memcpy(line + have, buf, (size_t)n);
			have += (size_t)n;
			char *nl;
			while ((nl = memchr(line, '\n', have)) != NULL) {
				*nl = '\0';
				struct json_object *e = json_tokener_parse(line), *rt, *ok;
				if (e != NULL) {
					bool is_reply = json_object_object_get_ex(e, "reply_to", &rt) &&
					    strcmp(json_object_get_string(rt), want) == 0;
					if (watch) {
						if (!is_reply && !strstr(line, "\"control_connected\"")) {
							printf("%s\n", line);
							fflush(stdout);
						}
					} else if (is_reply) {
						if (status)
							status_line(e);
						else
							printf("%s\n", json_object_to_json_string_ext(e, JSON_C_TO_STRING_PRETTY));
						rc = json_object_object_get_ex(e, "ok", &ok) && json_object_get_boolean(ok) ? 0 : 1;
						if (health) {
							struct json_object *h, *hy;
							rc = json_object_object_get_ex(e, "health", &h) &&
							    json_object_object_get_ex(h, "healthy", &hy) &&
							    json_object_get_boolean(hy) ? 0 : 1;
						}
						json_object_put(e);
						goto out;
					}
					json_object_put(e);
				}
				size_t used = (size_t)(nl - line) + 1;
				memmove(line, nl + 1, have - used);
				have -= used;
			}
		}
	}
out:
	free(line);
	json_object_put(o);
	close(fd);
	return rc;
}
