/*
 * ctld/main.c — the control daemon.
 *
 *   ctld [-c FILE] [--run-dir DIR] [options]
 *
 * Binds RUN/ctld.sock (the daemons), the control socket (control.unix_socket,
 * default RUN/control.sock), TCP control.bind_ip:listen_port and, when
 * control.metrics_port is set, the metrics over HTTP; then drops privileges
 * and serves until SIGTERM/SIGINT.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "chan.h"
#include "ctld.h"
#include "log.h"
#include "opts.h"
#include "privdrop.h"
#include "sandbox.h"
#include "util.h"

static void
usage(FILE *f)
{
	fprintf(f, "usage: ctld [-c FILE] [--run-dir DIR] [options]\n"
	    "The control plane: the daemons' events and counters (RUN/ctld.sock), control clients\n"
	    "over TCP (control.bind_ip:listen_port) and a Unix socket (control.unix_socket, default\n"
	    "RUN/control.sock), JSON lines; Prometheus metrics on control.metrics_port.\n\n"
	    "      --list-counters  print the counter table (every counter, its metric, unit,\n"
	    "                       owner, scope and help) as JSON lines, and exit\n%s\n"
	    "Exit status: 0 after SIGTERM/SIGINT, 1 on a runtime failure, 2 on a usage or\n"
	    "configuration error.\n", opts_common_help);
}

/* The counter table, a JSON line per row (docs/counters.md is made of it). */
static void
list_counters(void)
{
	for (int i = 0; i < CTR_MAX; i++) {
		const struct ctr_def *d = &ctr_defs[i];
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "key", json_object_new_string(d->key));
		json_object_object_add(o, "metric", json_object_new_string(d->metric));
		json_object_object_add(o, "kind", json_object_new_string(d->kind == KIND_GAUGE ? "gauge" : "counter"));
		json_object_object_add(o, "unit", json_object_new_string(d->unit));
		json_object_object_add(o, "owner", json_object_new_string(ctr_owner_names[d->owner]));
		json_object_object_add(o, "family", d->family ? json_object_new_string(d->family) : NULL);
		json_object_object_add(o, "label", d->label ? json_object_new_string(d->label) : NULL);
		json_object_object_add(o, "scope", json_object_new_string(d->scope));
		json_object_object_add(o, "help", json_object_new_string(d->help));
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		json_object_put(o);
	}
}

static int
tcp_listen(const char *ip, int port, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, one = 1;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, ip, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
		ss.ss_family = AF_INET;
		((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
		len = sizeof(struct sockaddr_in);
	} else if (inet_pton(AF_INET6, ip, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
		ss.ss_family = AF_INET6;
		((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)port);
		len = sizeof(struct sockaddr_in6);
	} else {
		snprintf(err, errlen, "control.bind_ip: expected an address, found \"%s\"", ip);
		return -1;
	}
	fd = socket(ss.ss_family, SOCK_STREAM, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 64) < 0) {
		snprintf(err, errlen, "%s:%d: %s", ip, port, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	fd_set_cloexec(fd);
	fd_set_nonblock(fd);
	return fd;
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	ctld_stop(arg);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = { COMMON_LONGOPTS,
		{ "list-counters", no_argument, NULL, OPT_DAEMON_BASE }, { NULL, 0, NULL, 0 } };
	struct daemon_opts o;
	struct conf c;
	struct ctld D;
	char err[512], path[4096];
	const char *run;
	struct event *sigs[2];
	int ch;

	opts_init(&o, "ctld");
	while ((ch = getopt_long(argc, argv, COMMON_SHORTOPTS, longopts, NULL)) != -1) {
		if (opts_common(&o, ch, optarg))
			continue;
		if (ch == 'h') {
			usage(stdout);
			return 0;
		}
		if (ch == OPT_DAEMON_BASE) {
			list_counters();
			return 0;
		}
		usage(stderr);
		return 2;
	}
	opts_load_config(&o, &c);
	memset(&D, 0, sizeof(D));
	D.c = &c;
	D.unix_fd = D.tcp_fd = D.http_fd = -1;
	run = c.run_dir && *c.run_dir ? c.run_dir : ".";
	if (mkdir_p(run, 0770) < 0)
		fatal("%s", run);
	snprintf(path, sizeof(path), "%s/ctld.sock", run);
	if ((D.daemon_fd = chan_listen(path, c.group, err, sizeof(err))) < 0)
		fatalx("%s: %s", path, err);
	fd_set_nonblock(D.daemon_fd);	/* evconnlistener accepts until EAGAIN */
	if (c.ctl_unix_socket && *c.ctl_unix_socket)
		snprintf(path, sizeof(path), "%s%s%s", c.ctl_unix_socket[0] == '/' ? "" : run,
		    c.ctl_unix_socket[0] == '/' ? "" : "/", c.ctl_unix_socket);
	else
		snprintf(path, sizeof(path), "%s/control.sock", run);
	if ((D.unix_fd = chan_listen(path, c.group, err, sizeof(err))) < 0)
		fatalx("%s: %s", path, err);
	fd_set_nonblock(D.unix_fd);
	if (c.ctl_listen_port > 0 &&
	    (D.tcp_fd = tcp_listen(c.ctl_bind_ip ? c.ctl_bind_ip : "127.0.0.1", (int)c.ctl_listen_port,
	    err, sizeof(err))) < 0)
		fatalx("control: %s", err);
	if (c.ctl_metrics_port > 0 &&
	    (D.http_fd = tcp_listen(c.ctl_bind_ip ? c.ctl_bind_ip : "127.0.0.1", (int)c.ctl_metrics_port,
	    err, sizeof(err))) < 0)
		fatalx("control.metrics_port: %s", err);
	{
		/* ctld connects to nothing: an empty directory. */
		struct privdrop_opts po = { c.user, c.group, NULL, { 0 } };
		privdrop_root(&po, NULL, 0, run);
		if (privdrop(&po, err, sizeof(err)) < 0)
			fatalx("%s", err);
	}
	signal(SIGPIPE, SIG_IGN);
	D.base = event_base_new();
	if (ctld_open(&D, err, sizeof(err)) < 0)
		fatalx("%s", err);
	sigs[0] = evsignal_new(D.base, SIGTERM, on_signal, &D);
	sigs[1] = evsignal_new(D.base, SIGINT, on_signal, &D);
	event_add(sigs[0], NULL);
	event_add(sigs[1], NULL);
	{
		/* Only now are clients' commands and daemons' lines read. */
		int r = sandbox_enter(SANDBOX_CTLD, err, sizeof(err));
		if (r < 0)
			fatalx("%s", err);
		log_info("%s", sandbox_line(r));
	}
	log_info("serving control clients on %s and %s:%lld%s", path,
	    c.ctl_bind_ip ? c.ctl_bind_ip : "127.0.0.1", (long long)c.ctl_listen_port,
	    c.ctl_metrics_port > 0 ? "; metrics on /metrics" : "");
	opts_ready(&o);
	event_base_dispatch(D.base);
	ctld_last_stats();
	log_info("stopping: %llu events, %llu commands, %llu slow clients cut off",
	    (unsigned long long)D.events, (unsigned long long)D.commands,
	    (unsigned long long)D.slow_clients_cut);
	ctld_close(&D);
	event_free(sigs[0]);
	event_free(sigs[1]);
	event_base_free(D.base);
	conf_free(&c);
	return 0;
}
