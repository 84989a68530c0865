/*
 * supervise.c — stethoscope-run's supervisor: starts the daemons of one
 * configuration in order, waits for each to say it is ready, restarts the
 * ones that die, and stops them in the order that lets everything in
 * flight drain (DESIGN.md section 2).
 *
 *   stethoscope-supervise --bindir DIR -c FILE [--log-level L] [--speed X]
 *
 * (scripts/stethoscope-run finds the binaries and calls this.)
 *
 * Order: capd, the reasmd shards, the sinks (each waits for its ready line
 * on a pipe: no sleeps).  A daemon that dies is restarted with back-off
 * (0.25 s doubling to 8 s); five deaths within a minute and the run gives
 * up, says why and exits 1.  A daemon that ends with status 0 has finished
 * its work (capd at the end of a file, then the others at the end of
 * their input): when all have, the run ends with 0.  SIGINT/SIGTERM stop
 * capd first; the shards and sinks drain and end by themselves within
 * runtime.drain_timeout_ms, or are told to stop (what they still held is
 * counted by them as shutdown_timeout), then killed.  SIGHUP (or ctld's
 * `reload`) reads the configuration again and applies it (do_reload).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "chan.h"
#include "ctlc.h"
#include "evjson.h"
#include "conf.h"
#include "log.h"
#include "util.h"

#define MAXCHILD 280
#define MAXARG 64

enum kind { K_CTLD, K_CAPD, K_REASMD, K_SINK };

struct child {
	char name[40];
	enum kind kind;
	unsigned shard;
	char *argv[MAXARG];
	int argc;
	pid_t pid;
	bool running, finished;
	int status;			/* last wait status */
	unsigned deaths;		/* within the current minute */
	uint64_t window_start_ns;
	unsigned backoff_ms;
	unsigned starts;
	struct event *ev_restart;
	/* what `health` says of it (ctld, the systemd status line) */
	const char *state;		/* starting, up, restarting, finished, failed, stopped */
	unsigned restarts;
	char last_error[80];
	/* a reload: stopped for good (its output disabled), or to be started
	 * again at once (its keys changed; not a death) */
	bool retired, respawn;
	uint64_t respawn_ns;
	uint64_t died_ns;		/* capd, live: when it died (the outage starts) */
};

static struct child kids[MAXCHILD];
static unsigned nkids;
static struct event_base *base;
static struct conf C;
static const char *config_path, *bindir, *log_level, *speed;
/* --profile: runtime.profile over the file (on a reload too) */
static struct conf_override prof_ov[1];
static size_t prof_nov;
static char *wrapper[16];	/* --wrapper: a command each daemon runs under */
static char daemon_config[PATH_MAX + 16];	/* the effective configuration, RUN/config.json */
static char run_dir[PATH_MAX];
static bool stopping, failed;
static char fail_reason[256];
static struct event *ev_deadline, *ev_kill, *ev_watchdog, *ev_iface_check;
/* capd said the capture interface is gone (status 3): waiting for it */
static bool iface_waiting;
static uint64_t iface_down_ns;
static unsigned iface_backoff_ms = 1000;
static uint64_t shard_lost;
static unsigned nshards;
/* The link to ctld: events up, commands (reload) down; again when ctld is
 * back after a restart. */
static struct bufferevent *ctl_bev;
static struct event *ev_ctl_retry;
/* logging.file: the daemons' lines come down one pipe (a line a write,
 * which a pipe keeps whole) and the launcher writes them to the file, which
 * it opens again on SIGHUP (logrotate's postrotate) */
static int log_pipe = -1;
static struct event *ev_log;

static void
log_drain(void)
{
	static struct log_rl rl;
	char buf[65536];
	ssize_t n;

	while ((n = read(log_pipe, buf, sizeof(buf))) > 0) {
		int fd = log_file_fd();
		if (fd >= 0 && write_all(fd, buf, (size_t)n) < 0)
			log_ratelimited(&rl, 1, 60000, LOG_WARNING,
			    "logging.file.path %s: %s", C.log_file_path, strerror(errno));
	}
}

static void
on_log(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	log_drain();
}

/* Opens logging.file.path for the launcher's own lines and makes the pipe
 * the daemons log to ($STH_LOG_FD). */
static void
log_setup(void)
{
	int p[2], lvl = log_level_parse(C.log_file_verbosity), w;
	char n[16];

	if (log_open_file(C.log_file_path, lvl < 0 ? LOG_INFO : (enum log_level)lvl) < 0) {
		log_warn("cannot open log file %s; the daemons open it themselves", C.log_file_path);
		return;
	}
	if (pipe(p) < 0)
		fatal("pipe");
	/* above the fds a child is given (3 is its ready pipe) */
	w = fcntl(p[1], F_DUPFD, 10);
	if (w < 0)
		fatal("fcntl");
	close(p[1]);
	(void)fcntl(p[0], F_SETFD, FD_CLOEXEC);
	(void)fcntl(p[0], F_SETFL, O_NONBLOCK);
	(void)fcntl(w, F_SETFL, O_NONBLOCK);	/* a stalled launcher stalls no daemon */
	log_pipe = p[0];
	snprintf(n, sizeof(n), "%d", w);
	setenv("STH_LOG_FD", n, 1);
}

static void do_reload(uint64_t id);
static void report(void);

/* ---- telling ctld and systemd how the daemons are ---- */

static void ctl_link(void);

static void
ctl_read(struct bufferevent *bev, void *arg)
{
	struct evbuffer *in = bufferevent_get_input(bev);
	char *line;
	size_t n;

	(void)arg;
	while ((line = evbuffer_readln(in, &n, EVBUFFER_EOL_LF)) != NULL) {
		struct json_object *o = json_tokener_parse(line), *c, *id;
		if (o != NULL && json_object_object_get_ex(o, "cmd", &c) &&
		    strcmp(json_object_get_string(c), "reload") == 0)
			do_reload(json_object_object_get_ex(o, "id", &id) ? (uint64_t)json_object_get_int64(id) : 0);
		json_object_put(o);
		free(line);
	}
	if (evbuffer_get_length(in) > 65536)
		evbuffer_drain(in, evbuffer_get_length(in));
}

static void
ctl_close(void)
{
	if (ctl_bev != NULL)
		bufferevent_free(ctl_bev);
	ctl_bev = NULL;
}

static void
ctl_event(struct bufferevent *bev, short what, void *arg)
{
	struct timeval sec = { 1, 0 };

	(void)bev;
	(void)what;
	(void)arg;
	ctl_close();
	if (!stopping)
		evtimer_add(ev_ctl_retry, &sec);
}

static void
on_ctl_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	ctl_link();
	if (ctl_bev != NULL)
		report();	/* a restarted ctld: every daemon's state again */
}

/* Connects the link to ctld unless it is up (ctld may not be up yet, or
 * gone: tried again every second while it is away). */
static void
ctl_link(void)
{
	char path[PATH_MAX + 16], err[128], hello[160];
	struct timeval sec = { 1, 0 };
	int fd, n;

	if (ctl_bev != NULL || stopping)
		return;
	if (ev_ctl_retry == NULL)
		ev_ctl_retry = evtimer_new(base, on_ctl_retry, NULL);
	snprintf(path, sizeof(path), "%s/ctld.sock", run_dir);
	if ((fd = chan_connect(path, err, sizeof(err))) < 0) {
		evtimer_add(ev_ctl_retry, &sec);
		return;
	}
	evutil_make_socket_nonblocking(fd);
	ctl_bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(ctl_bev, ctl_read, NULL, ctl_event, NULL);
	bufferevent_enable(ctl_bev, EV_READ | EV_WRITE);
	n = ctlc_hello_line(hello, sizeof(hello), "launcher", 0);
	bufferevent_write(ctl_bev, hello, (size_t)n);
}

/* One line to ctld on the launcher's link (ctld may not be up yet, or
 * gone: then it is not sent). */
static void
tell_ctld(struct json_object *e)
{
	const char *t = evjson_text(e);

	ctl_link();
	if (ctl_bev == NULL)
		return;
	bufferevent_write(ctl_bev, t, strlen(t));
	bufferevent_write(ctl_bev, "\n", 1);
}

/*
 * The systemd notify protocol, without libsystemd: one datagram to
 * $NOTIFY_SOCKET (a path, or '@' for the abstract namespace) per message.
 * Outside systemd there is no socket and nothing happens.
 */
static void
sd_notify_msg(const char *msg)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa;
	size_t len;
	int fd;

	if (path == NULL || (path[0] != '/' && path[0] != '@') ||
	    (len = strlen(path)) >= sizeof(sa.sun_path))
		return;
	if ((fd = socket(AF_UNIX, SOCK_DGRAM, 0)) < 0)
		return;
	(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, len);
	if (path[0] == '@')
		sa.sun_path[0] = '\0';
	if (sendto(fd, msg, strlen(msg), 0, (struct sockaddr *)&sa,
	    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) < 0) {
		static struct log_rl rl;
		log_ratelimited(&rl, 1, 60000, LOG_WARNING, "NOTIFY_SOCKET %s: %s", path, strerror(errno));
	}
	close(fd);
}

/* Every daemon's state to ctld (the table `health` answers from) and a
 * STATUS= line to systemd. */
static void
report(void)
{
	struct json_object *e = evjson_new(now_wall_ns(), "daemons", "daemon_states");
	struct json_object *a = json_object_new_array();
	unsigned up = 0, bad = 0, restarts = 0;
	char status[200];

	for (unsigned i = 0; i < nkids; i++) {
		struct child *k = &kids[i];
		struct json_object *d = json_object_new_object();
		const char *st = k->state ? k->state : "starting";
		json_object_object_add(d, "name", json_object_new_string(k->name));
		json_object_object_add(d, "state", json_object_new_string(st));
		json_object_object_add(d, "restarts", json_object_new_int((int)k->restarts));
		json_object_object_add(d, "last_error", k->last_error[0] ? json_object_new_string(k->last_error) : NULL);
		json_object_object_add(d, "pid", k->running ? json_object_new_int((int)k->pid) : NULL);
		json_object_array_add(a, d);
		if (strcmp(st, "up") == 0 || strcmp(st, "finished") == 0 || strcmp(st, "disabled") == 0)
			up++;
		else
			bad++;
		restarts += k->restarts;
	}
	json_object_object_add(e, "daemons", a);
	tell_ctld(e);
	json_object_put(e);
	snprintf(status, sizeof(status), "STATUS=%u of %u daemons up%s%u restarts%s", up, nkids,
	    bad ? " (see stethoscope-ctl health); " : "; ", restarts, stopping ? "; stopping" : "");
	sd_notify_msg(status);
}

static void
on_watchdog(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	sd_notify_msg("WATCHDOG=1");
}

/* With WatchdogSec=, systemd sets WATCHDOG_USEC: the loop says it is alive
 * twice per period. */
static void
watchdog_start(void)
{
	const char *us = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
	uint64_t v;
	struct timeval tv;

	if (us == NULL || parse_u64(us, 1, UINT64_MAX, &v) < 0)
		return;
	if (pid != NULL && strtol(pid, NULL, 10) != (long)getpid())
		return;
	v /= 2;
	tv.tv_sec = (time_t)(v / 1000000);
	tv.tv_usec = (suseconds_t)(v % 1000000);
	ev_watchdog = event_new(base, -1, EV_PERSIST, on_watchdog, NULL);
	event_add(ev_watchdog, &tv);
	sd_notify_msg("WATCHDOG=1");
}

static void
addarg(struct child *k, const char *a)
{
	if (k->argc < MAXARG - 1)
		k->argv[k->argc++] = xstrdup(a);
	k->argv[k->argc] = NULL;
}

static struct child *
newkid(enum kind kind, const char *name, const char *prog)
{
	struct child *k = &kids[nkids++];
	char p[PATH_MAX];

	memset(k, 0, sizeof(*k));
	k->kind = kind;
	sth_strlcpy(k->name, name, sizeof(k->name));
	snprintf(p, sizeof(p), "%s/%s", bindir, prog);
	addarg(k, p);
	addarg(k, "-c");
	addarg(k, daemon_config[0] ? daemon_config : config_path);
	addarg(k, "--quiet-config");
	if (log_level) {
		addarg(k, "--log-level");
		addarg(k, log_level);
	}
	k->backoff_ms = 250;
	return k;
}

/* Starts k; with wait_ready, waits (up to 20 s) for its ready line.
 * Returns 0, or -1 with the reason in fail_reason. */
static int
spawn(struct child *k, bool wait_ready)
{
	int pfd[2];
	pid_t pid;

	if (pipe(pfd) < 0)
		fatal("pipe");
	k->starts++;
	pid = fork();
	if (pid < 0)
		fatal("fork");
	if (pid == 0) {
		sigset_t all;
		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		close(pfd[0]);
		if (pfd[1] != 3) {
			dup2(pfd[1], 3);
			close(pfd[1]);
		}
		{
			char **argv = k->argv;
			char *av[16 + MAXARG + 4];	/* wrapper, argv, extras */
			int n = 0;
			char gen[16];
			for (int w = 0; wrapper[w]; w++)
				av[n++] = wrapper[w];
			for (int a = 0; argv[a]; a++)
				av[n++] = argv[a];
			if (wait_ready) {
				av[n++] = "--ready-fd";
				av[n++] = "3";
			}
			if (k->kind == K_SINK && strcmp(k->name, "sinkd json") == 0 && k->starts > 1)
				av[n++] = "--resume";	/* after its last event */
			if (k->kind == K_REASMD) {
				/* A restarted shard numbers its sessions anew: the
				 * generation keeps their ids unique in the run. */
				snprintf(gen, sizeof(gen), "%u", k->starts % 256);
				av[n++] = "--generation";
				av[n++] = gen;
			}
			av[n] = NULL;
			if (wrapper[0])
				execvp(av[0], av);
			else
				execv(av[0], av);
		}
		fprintf(stderr, "stethoscope-run: %s: %s\n", k->argv[0], strerror(errno));
		_exit(127);
	}
	close(pfd[1]);
	k->pid = pid;
	k->running = true;
	k->finished = false;
	if (!wait_ready) {
		close(pfd[0]);
		return 0;
	}
	{
		char buf[16];
		size_t have = 0;
		uint64_t deadline = now_mono_ns() + 20 * NSEC_PER_SEC;
		struct pollfd p[2] = { { pfd[0], POLLIN, 0 }, { log_pipe, POLLIN, 0 } };
		for (;;) {
			int ms = (int)((deadline - now_mono_ns()) / 1000000);
			if (ms <= 0) {
				snprintf(fail_reason, sizeof(fail_reason), "%s did not say it was ready within 20 s", k->name);
				break;
			}
			int r = poll(p, log_pipe >= 0 ? 2 : 1, ms);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				continue;
			if (log_pipe >= 0 && (p[1].revents & POLLIN))
				log_drain();
			if (!(p[0].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			ssize_t n = read(pfd[0], buf + have, sizeof(buf) - 1 - have);
			if (n > 0) {
				have += (size_t)n;
				buf[have] = '\0';
				if (strstr(buf, "ready")) {
					close(pfd[0]);
					log_info("%s ready (pid %ld)", k->name, (long)pid);
					return 0;
				}
				continue;
			}
			/* The pipe closed without "ready": it ended. */
			int st;
			if (waitpid(pid, &st, 0) == pid) {
				k->running = false;
				k->status = st;
				if (WIFEXITED(st))
					snprintf(fail_reason, sizeof(fail_reason), "%s exited with status %d "
					    "before it was ready (its messages are above)", k->name, WEXITSTATUS(st));
				else
					snprintf(fail_reason, sizeof(fail_reason), "%s was killed by signal %d "
					    "before it was ready", k->name, WTERMSIG(st));
			} else
				snprintf(fail_reason, sizeof(fail_reason), "%s closed its ready pipe", k->name);
			break;
		}
	}
	close(pfd[0]);
	return -1;
}

static void
signal_all(int sig, bool capd_too)
{
	for (unsigned i = 0; i < nkids; i++)
		if (kids[i].running && (capd_too || kids[i].kind != K_CAPD))
			kill(kids[i].pid, sig);
}

static void on_kill(evutil_socket_t fd, short what, void *arg);

/* A daemon asked to stop gets 2 s more than the drain, then SIGKILL. */
static void
arm_kill(void)
{
	struct timeval tv = { (time_t)(C.drain_timeout_eff_ms / 1000) + 2, 0 };

	if (ev_kill == NULL)
		ev_kill = evtimer_new(base, on_kill, NULL);
	if (!evtimer_pending(ev_kill, NULL))
		evtimer_add(ev_kill, &tv);
}

static bool
is_json(const struct child *k)
{
	return k->kind == K_SINK && strcmp(k->name, "sinkd json") == 0;
}

/* Every daemon but ctld has ended (finished, or stopped).  The json sink
 * follows ctld, not an input that ends: once the capture, the shards and
 * the other sinks have ended, it is told to stop (after their last events). */
static bool
work_done(void)
{
	bool rest_done = true;

	for (unsigned i = 0; i < nkids; i++)
		if (kids[i].kind != K_CTLD && !is_json(&kids[i]) &&
		    (kids[i].running || (!stopping && !kids[i].finished)))
			rest_done = false;
	if (rest_done)
		for (unsigned i = 0; i < nkids; i++)
			if (is_json(&kids[i]) && kids[i].running && !kids[i].finished) {
				kids[i].finished = true;	/* asked to stop */
				kill(kids[i].pid, SIGTERM);
				arm_kill();
			}
	for (unsigned i = 0; i < nkids; i++)
		if (kids[i].kind != K_CTLD && (kids[i].running || (!stopping && !kids[i].finished)))
			return false;
	return true;
}

/* ... and ctld too: ctld goes last, once the others are gone. */
static bool
all_done(void)
{
	if (!work_done())
		return false;
	for (unsigned i = 0; i < nkids; i++)
		if (kids[i].kind == K_CTLD && kids[i].running) {
			if (!kids[i].finished) {
				kids[i].finished = true;	/* asked to stop: not a failure */
				ctl_close();
				kill(kids[i].pid, SIGTERM);
				arm_kill();
			}
			return false;
		}
	return true;
}

static void
on_kill(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	log_warnx("daemons still running 2 s after SIGTERM: killing them");
	signal_all(SIGKILL, true);
}

static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct timeval two = { 2, 0 };

	(void)fd;
	(void)what;
	(void)arg;
	log_warnx("drain: runtime.drain_timeout_ms passed; telling the rest to stop "
	    "(what they hold is counted as shutdown_timeout)");
	signal_all(SIGTERM, true);
	if (ev_kill == NULL)
		ev_kill = evtimer_new(base, on_kill, NULL);
	evtimer_add(ev_kill, &two);
}

/* Stops the run: capd first; the others drain from their input's end. */
static void
begin_stop(const char *why)
{
	struct timeval tv;
	bool capd_running = false;

	if (stopping)
		return;
	stopping = true;
	sd_notify_msg("STOPPING=1");
	log_info("stopping (%s): capd first, then the rest drain", why);
	for (unsigned i = 0; i < nkids; i++) {
		if (kids[i].ev_restart)
			event_del(kids[i].ev_restart);
		if (kids[i].kind == K_CAPD && kids[i].running) {
			kill(kids[i].pid, SIGTERM);
			capd_running = true;
		}
	}
	if (!capd_running)
		/* No capd to end the input: the shards end it. */
		for (unsigned i = 0; i < nkids; i++)
			if (kids[i].kind == K_REASMD && kids[i].running)
				kill(kids[i].pid, SIGTERM);
	tv = timeval_of_ms(C.drain_timeout_eff_ms + 1000);
	ev_deadline = evtimer_new(base, on_deadline, NULL);
	evtimer_add(ev_deadline, &tv);
	if (all_done())
		event_base_loopbreak(base);
}

static void
on_iface_check(evutil_socket_t fd, short what, void *arg)
{
	struct child *k = arg;
	struct json_object *e;

	(void)fd;
	(void)what;
	if (!iface_waiting || !k->running || stopping)
		return;
	iface_waiting = false;
	e = evjson_new(now_wall_ns(), "control", "interface_up");
	json_object_object_add(e, "iface", json_object_new_string(C.iface));
	evjson_add_u64(e, "down_ms", (now_wall_ns() - iface_down_ns) / 1000000);
	tell_ctld(e);
	json_object_put(e);
	k->state = "up";
	k->last_error[0] = '\0';
	report();
	log_info("event interface_up: %s is back after %llu ms; capturing again", C.iface,
	    (unsigned long long)((now_wall_ns() - iface_down_ns) / 1000000));
}

static void
on_restart(evutil_socket_t fd, short what, void *arg)
{
	struct child *k = arg;

	(void)fd;
	(void)what;
	if (stopping)
		return;
	log_info("restarting %s", k->name);
	if (spawn(k, false) == 0)
		k->state = "up";
	if (k->kind == K_CAPD && !iface_waiting && k->died_ns != 0 && k->running) {
		/* Live capture: what the kernel held for the dead capd, and
		 * what came meanwhile, is gone; the interval is the event. */
		uint64_t ms = (now_mono_ns() - k->died_ns) / 1000000;
		struct json_object *e = evjson_new(now_wall_ns(), "control", "capture_restarted");
		json_object_object_add(e, "reason", json_object_new_string("died"));
		evjson_add_u64(e, "outage_ms", ms);
		json_object_object_add(e, "iface", C.iface ? json_object_new_string(C.iface) : NULL);
		json_object_object_add(e, "error", json_object_new_string(k->last_error));
		tell_ctld(e);
		json_object_put(e);
		log_warnx("event capture_restarted: capd is capturing again after %llu ms (it %s); "
		    "what the kernel held for it and what came meanwhile is lost", (unsigned long long)ms,
		    k->last_error);
		k->died_ns = 0;
	}
	if (k->kind == K_CAPD && iface_waiting) {
		/* still running in 2 s: it has the interface again */
		struct timeval two = { 2, 0 };
		if (ev_iface_check == NULL)
			ev_iface_check = evtimer_new(base, on_iface_check, k);
		evtimer_add(ev_iface_check, &two);
		k->state = "waiting";
	}
	report();
}

static void
child_died(struct child *k, int st)
{
	uint64_t now = now_mono_ns();
	char how[64];

	k->running = false;
	k->status = st;
	if (k->retired) {
		/* its output was disabled by a reload */
		k->finished = true;
		k->state = "disabled";
		report();
		log_info("%s stopped: its output is disabled", k->name);
		return;
	}
	if (k->respawn && !stopping) {
		/* a reload changed its keys: started again at once, not a death */
		k->respawn = false;
		if (spawn(k, false) == 0) {
			k->state = "up";
			log_info("%s started again with the new configuration (pid %ld)", k->name, (long)k->pid);
			if (k->kind == K_CAPD) {
				struct json_object *e = evjson_new(now_wall_ns(), "control", "capture_restarted");
				json_object_object_add(e, "reason", json_object_new_string("reload"));
				evjson_add_u64(e, "outage_ms", (now_mono_ns() - k->respawn_ns) / 1000000);
				json_object_object_add(e, "iface", C.iface ? json_object_new_string(C.iface) : NULL);
				tell_ctld(e);
				json_object_put(e);
			}
		}
		report();
		return;
	}
	if ((k->kind == K_CTLD || is_json(k)) && k->finished && WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return;		/* stopped as asked, in its turn */
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
		k->finished = true;
		k->state = "finished";
		report();
		log_info("%s finished", k->name);
		if (!stopping && k->kind == K_CAPD) {
			log_info("the capture ended: the shards and sinks drain and end");
			sd_notify_msg("STOPPING=1");
		}
		return;
	}
	if (WIFEXITED(st))
		snprintf(how, sizeof(how), "exited with status %d", WEXITSTATUS(st));
	else
		snprintf(how, sizeof(how), "was killed by signal %d", WTERMSIG(st));
	if (stopping) {
		k->state = "stopped";
		if (!(WIFSIGNALED(st) && (WTERMSIG(st) == SIGTERM || WTERMSIG(st) == SIGKILL))) {
			failed = true;
			snprintf(fail_reason, sizeof(fail_reason), "%.40s %.64s while stopping", k->name, how);
		}
		log_warnx("%.40s %.64s while stopping", k->name, how);
		return;
	}
	if (k->kind == K_CAPD && C.file == NULL && WIFEXITED(st) && WEXITSTATUS(st) == 3) {
		/* The interface went away (deleted, or down): capd is started
		 * again every second or so (up to 8 s apart) until it can open
		 * it; not a death, no give-up.  The shards keep their sessions. */
		struct timeval tv;
		if (!iface_waiting) {
			struct json_object *e = evjson_new(now_wall_ns(), "control", "interface_down");
			json_object_object_add(e, "iface", json_object_new_string(C.iface));
			tell_ctld(e);
			json_object_put(e);
			iface_waiting = true;
			iface_down_ns = now_wall_ns();
			iface_backoff_ms = 1000;
			log_warnx("event interface_down: %s is gone: waiting for it (capd is started again "
			    "until it can capture; not counted as a death)", C.iface);
		}
		k->state = "waiting";
		snprintf(k->last_error, sizeof(k->last_error), "the capture interface is gone");
		report();
		tv = timeval_of_ms(iface_backoff_ms);
		iface_backoff_ms = iface_backoff_ms * 2 > 8000 ? 8000 : iface_backoff_ms * 2;
		if (k->ev_restart == NULL)
			k->ev_restart = evtimer_new(base, on_restart, k);
		evtimer_add(k->ev_restart, &tv);
		return;
	}
	if (k->kind == K_CAPD && C.file != NULL) {
		/* Replaying a file: a new capd would read it again from the
		 * start (every session twice).  The run ends instead, with what
		 * was read so far drained by the rest. */
		failed = true;
		snprintf(fail_reason, sizeof(fail_reason), "capd %.64s while replaying %.120s; a file is not "
		    "replayed twice: the run ends", how, C.file);
		log_errorx("%s", fail_reason);
		k->state = "failed";
		snprintf(k->last_error, sizeof(k->last_error), "%s", how);
		report();
		begin_stop("capd died replaying a file");
		return;
	}
	if (now - k->window_start_ns > 60 * NSEC_PER_SEC) {
		k->window_start_ns = now;
		k->deaths = 0;
		k->backoff_ms = 250;
	}
	k->deaths++;
	if (k->kind == K_CAPD)
		k->died_ns = now_mono_ns();
	if (k->kind == K_REASMD) {
		struct json_object *e = evjson_new(now_wall_ns(), "drops", "shard_lost");
		shard_lost++;
		/* ctld counts it (shard_lost, category drops) and tells its clients */
		evjson_add_u64(e, "shard", k->shard);
		evjson_add_u64(e, "shard_lost", shard_lost);
		tell_ctld(e);
		json_object_put(e);
		log_warnx("event shard_lost: shard %u (%s %s): its open sessions are lost; "
		    "shard_lost=%llu", k->shard, k->name, how, (unsigned long long)shard_lost);
	}
	if (k->deaths >= 5) {
		failed = true;
		snprintf(fail_reason, sizeof(fail_reason), "%.40s died %u times within a minute "
		    "(last: %.64s); giving up", k->name, k->deaths, how);
		log_errorx("%s", fail_reason);
		k->state = "failed";
		snprintf(k->last_error, sizeof(k->last_error), "%s", how);
		report();
		begin_stop("a daemon keeps failing");
		return;
	}
	k->state = "restarting";
	k->restarts++;
	snprintf(k->last_error, sizeof(k->last_error), "%s", how);
	report();
	struct timeval tv = timeval_of_ms(k->backoff_ms);
	log_warnx("%s %s; restarting it in %u ms", k->name, how, k->backoff_ms);
	k->backoff_ms = k->backoff_ms * 2 > 8000 ? 8000 : k->backoff_ms * 2;
	if (k->ev_restart == NULL)
		k->ev_restart = evtimer_new(base, on_restart, k);
	evtimer_add(k->ev_restart, &tv);
}

/* The output families a configuration runs a sinkd for, in their order
 * (json last: it is not on reasmd's rings).  Returns how many. */
static unsigned
families(const struct conf *c, const char **fams)
{
	unsigned n = 0;

	if (c->lst_enabled)
		fams[n++] = "listener";
	if (c->conn_enabled)
		fams[n++] = "connector";
	/* the pcap sink writes the per-call files too (and then, without
	 * io.output.pcap.enabled, only them) */
	if (c->pcap_enabled || (c->voip_per_call_pcap && c->voip_enabled))
		fams[n++] = "pcap";
	if (c->hep_enabled)
		fams[n++] = "hep";
	if (c->nats_enabled)
		fams[n++] = "nats";
	if (c->json_enabled)
		fams[n++] = "json";
	return n;
}

static bool
has_family(const char **fams, unsigned n, const char *f)
{
	for (unsigned i = 0; i < n; i++)
		if (strcmp(fams[i], f) == 0)
			return true;
	return false;
}

/* The sinkd of one family: its arguments (the json sink subscribes to
 * ctld; the others read every shard's ring). */
static struct child *
add_sink_kid(const char *fam)
{
	char name[40], arg[PATH_MAX + 32], ctl[PATH_MAX + 16];
	struct child *k;

	if (nkids >= MAXCHILD)
		return NULL;
	snprintf(name, sizeof(name), "sinkd %s", fam);
	snprintf(ctl, sizeof(ctl), "%s/ctld.sock", run_dir);
	k = newkid(K_SINK, name, "sinkd");
	/* the family goes first */
	for (int a = k->argc; a > 1; a--)
		k->argv[a] = k->argv[a - 1];
	k->argv[1] = xstrdup(fam);
	k->argc++;
	k->argv[k->argc] = NULL;
	if (strcmp(fam, "json") == 0) {
		/* where ctld binds it: control.unix_socket, in the run
		 * directory unless absolute */
		if (C.ctl_unix_socket && C.ctl_unix_socket[0] == '/')
			snprintf(arg, sizeof(arg), "%s", C.ctl_unix_socket);
		else
			snprintf(arg, sizeof(arg), "%s/%s", run_dir,
			    C.ctl_unix_socket && *C.ctl_unix_socket ? C.ctl_unix_socket : "control.sock");
		addarg(k, "--subscribe");
		addarg(k, arg);
		addarg(k, "--resubscribe");	/* a ctld that dies is restarted */
		addarg(k, "--ctl");
		addarg(k, ctl);
		return k;
	}
	for (unsigned s = 0; s < nshards; s++) {
		snprintf(arg, sizeof(arg), "%s/reasmd.%u.sock", run_dir, s);
		addarg(k, "--from");
		addarg(k, arg);
	}
	addarg(k, "--ctl");
	addarg(k, ctl);
	/* started empty here; a restarted sink adds to it */
	snprintf(arg, sizeof(arg), "%s/%s.events.jsonl", run_dir, fam);
	{
		int fd = open(arg, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd >= 0)
			close(fd);
	}
	addarg(k, "--events");
	addarg(k, arg);
	addarg(k, "--append-events");
	return k;
}

static struct child *
kid_named(const char *name)
{
	for (unsigned i = 0; i < nkids; i++)
		if (strcmp(kids[i].name, name) == 0)
			return &kids[i];
	return NULL;
}

/*
 * The configuration every daemon reads: the file, the environment and the
 * command line merged once, here, into RUN/config.json (0600, beside the
 * sockets).  A daemon restarted later, or started on its own with the
 * same file, agrees with the others whatever happened to the file or the
 * environment since.  "_sources" in it says where each value came from.
 */
static void
write_daemon_config(void)
{
	char tmp[PATH_MAX + 32];
	int fd;
	FILE *f;

	snprintf(daemon_config, sizeof(daemon_config), "%s/config.json", run_dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", daemon_config);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0 ||
	    (f = fdopen(fd, "w")) == NULL)
		fatal("%s", tmp);
	fprintf(f, "// The effective configuration of this run: %s, the STETHOSCOPE_*\n"
	    "// variables and the command line, merged by stethoscope-run at its start.\n"
	    "// Every daemon of the run reads this file (edit %s and restart instead).\n",
	    config_path, config_path);
	conf_print_effective_ex(&C, f, CONF_PRINT_SOURCES | CONF_PRINT_GIVEN);
	if (fflush(f) != 0 || ferror(f))
		fatalx("%s: cannot write", tmp);
	fclose(f);
	if (rename(tmp, daemon_config) < 0)
		fatal("%s", daemon_config);
}

/* What a reload found: each changed key by what its change needs. */
struct reload {
	struct json_object *changed, *restart;
	bool live, capd;
	bool fam[6];		/* that family's keys changed */
};

static const char *const fam_names[6] = { "listener", "connector", "pcap", "hep", "nats", "json" };
static const char *const fam_prefix[6] = { "io.output.listener.", "io.output.remote-host.",
	"io.output.pcap.", "io.output.hep.", "io.output.nats.", "io.output.json." };

static void
reload_changed(const char *key, const char *was, const char *now, void *arg)
{
	struct reload *r = arg;
	enum conf_reload rl = conf_key_reload(key);
	struct json_object *o = json_object_new_object();

	if (rl == RL_CAPD && C.file != NULL)
		rl = RL_RESTART;	/* capd again would replay the file */
	json_object_object_add(o, "key", json_object_new_string(key));
	json_object_object_add(o, "was", json_tokener_parse(was));
	json_object_object_add(o, "now", json_tokener_parse(now));
	json_object_object_add(o, "applies", json_object_new_string(conf_reload_names[rl]));
	json_object_array_add(r->changed, o);
	log_info("reload: changed: %s: %s -> %s (%s)", key, was, now, rl == RL_RESTART ?
	    "needs a restart of the run" : rl == RL_LIVE ? "applied by the running daemons" :
	    rl == RL_SINK ? "its sinkd is started, stopped or restarted" : "capd is restarted");
	switch (rl) {
	case RL_RESTART:
		json_object_array_add(r->restart, json_object_new_string(key));
		break;
	case RL_LIVE:
		r->live = true;
		break;
	case RL_CAPD:
		r->capd = true;
		break;
	case RL_SINK:
		for (int f = 0; f < 6; f++)
			if (strncmp(key, fam_prefix[f], strlen(fam_prefix[f])) == 0)
				r->fam[f] = true;
		break;
	}
}

static struct json_object *
strlist_json(const struct conf_strlist *l)
{
	struct json_object *a = json_object_new_array();

	for (size_t i = 0; i < l->n; i++)
		json_object_array_add(a, json_object_new_string(l->v[i]));
	return a;
}

/* The live keys, to ctld, which takes its own and passes them on. */
static void
send_live(void)
{
	struct json_object *o = json_object_new_object(), *l = json_object_new_object();
	struct json_object *sinks = json_object_new_array();
	const char *fams[6];
	unsigned n = families(&C, fams);

	if (log_level == NULL)	/* --log-level wins over the file */
		json_object_object_add(l, "logging.console.verbosity",
		    json_object_new_string(C.log_console_verbosity));
	json_object_object_add(l, "logging.file.verbosity", json_object_new_string(C.log_file_verbosity));
	json_object_object_add(l, "_stats_interval", json_object_new_double(C.stats_interval));
	json_object_object_add(l, "voip.sipuser", strlist_json(&C.sipuser));
	json_object_object_add(l, "control.token", C.ctl_token ? json_object_new_string(C.ctl_token) : NULL);
	json_object_object_add(l, "control.default_cats", strlist_json(&C.ctl_default_cats));
	for (unsigned i = 0; i < n; i++)
		if (strcmp(fams[i], "json") != 0) {
			char nm[40];
			snprintf(nm, sizeof(nm), "sinkd %s", fams[i]);
			json_object_array_add(sinks, json_object_new_string(nm));
		}
	json_object_object_add(l, "_sinks", sinks);
	json_object_object_add(o, "reconfigure", l);
	tell_ctld(o);
	if (ctl_bev == NULL)
		log_warnx("reload: ctld is not up: the running daemons keep their live keys until a "
		    "restart (the sinks and capd are handled here)");
	json_object_put(o);
}

/*
 * SIGHUP, or ctld's `reload` (id: its request, 0 for SIGHUP): the
 * configuration read again (file and environment; the command line still
 * wins) and applied, by the reload column of conf.c's schema: live keys
 * to the running daemons, outputs enabled or disabled start or stop their
 * sinkd (one whose keys changed is restarted; a sinkd that starts joins
 * the sessions already open), a changed capture restarts capd alone.  A
 * change that needs a restart of the run is named, and then nothing is
 * applied.  The answer goes back to ctld as the command's reply.
 */
static void
do_reload(uint64_t id)
{
	struct conf n;
	struct conf_diag d = { 0 };
	struct reload r = { json_object_new_array(), json_object_new_array(), false, false, { false } };
	struct json_object *rep = json_object_new_object(), *done = json_object_new_array();
	const char *oldf[6], *newf[6];
	unsigned no, nn;
	bool ok = false;

	if (stopping) {
		json_object_object_add(rep, "error", json_object_new_string("stopping"));
		goto out;
	}
	/* logrotate's postrotate: the file is opened again first, whatever
	 * the configuration now says */
	if (log_pipe >= 0) {
		log_drain();
		if (log_reopen_file(C.log_file_path) < 0)
			log_warn("cannot reopen the log file %s", C.log_file_path);
		else {
			log_info("log file %s reopened", C.log_file_path);
			json_object_array_add(done, json_object_new_string("log file reopened"));
		}
	}
	if (conf_load(&n, config_path, prof_ov, prof_nov, 0, &d) < 0) {
		struct json_object *errs = json_object_new_array();
		for (size_t i = 0; i < d.nerrors; i++) {
			log_errorx("reload: %s", d.errors[i]);
			json_object_array_add(errs, json_object_new_string(d.errors[i]));
		}
		log_warnx("reload: the configuration has errors; nothing is applied, the run goes on unchanged");
		json_object_object_add(rep, "error", json_object_new_string("config_error"));
		json_object_object_add(rep, "errors", errs);
		conf_diag_free(&d);
		conf_free(&n);
		goto out;
	}
	conf_diag_free(&d);
	conf_diff(&C, &n, reload_changed, &r);
	if (json_object_array_length(r.restart) > 0) {
		char keys[512] = "";
		for (size_t i = 0; i < json_object_array_length(r.restart); i++)
			snprintf(keys + strlen(keys), sizeof(keys) - strlen(keys), "%s%s", i ? ", " : "",
			    json_object_get_string(json_object_array_get_idx(r.restart, i)));
		log_warnx("reload: these changes need a restart of the run: %s; nothing is applied "
		    "(restart stethoscope-run to apply them)", keys);
		json_object_object_add(rep, "error", json_object_new_string("restart_needed"));
		conf_free(&n);
		goto out;
	}
	ok = true;
	if (json_object_array_length(r.changed) == 0) {
		log_info("reload: %s is valid and unchanged", config_path);
		conf_free(&n);
		goto out;
	}
	no = families(&C, oldf);
	nn = families(&n, newf);
	conf_free(&C);
	C = n;
	write_daemon_config();
	send_live();
	if (r.live)
		json_object_array_add(done, json_object_new_string("live keys: the daemons took them"));
	for (int f = 0; f < 6; f++) {
		const char *fam = fam_names[f];
		char name[40], what[80];
		bool was = has_family(oldf, no, fam), now = has_family(newf, nn, fam);
		struct child *k;
		snprintf(name, sizeof(name), "sinkd %s", fam);
		k = kid_named(name);
		if (was && !now && k != NULL && (k->running || !k->finished)) {
			k->retired = true;
			if (k->running)
				kill(k->pid, SIGTERM);
			else {
				/* waiting for its restart: it stays stopped */
				if (k->ev_restart)
					event_del(k->ev_restart);
				k->finished = true;
				k->state = "disabled";
			}
			snprintf(what, sizeof(what), "%s stopped (disabled)", name);
		} else if (!was && now) {
			if (k == NULL)
				k = add_sink_kid(fam);
			if (k == NULL)
				continue;
			k->retired = false;
			k->finished = false;
			if (k->running) {
				k->respawn = true;	/* still stopping from before */
				kill(k->pid, SIGTERM);
			} else if (spawn(k, false) == 0)
				k->state = "up";
			snprintf(what, sizeof(what), "%s started (enabled)", name);
		} else if (was && now && r.fam[f] && k != NULL) {
			k->respawn = true;
			k->respawn_ns = now_mono_ns();
			if (k->running)
				kill(k->pid, SIGTERM);
			snprintf(what, sizeof(what), "%s restarted (its keys changed)", name);
		} else
			continue;
		log_info("reload: %s", what);
		json_object_array_add(done, json_object_new_string(what));
	}
	if (r.capd) {
		struct child *k = kid_named("capd");
		if (k != NULL && k->running) {
			/* SIGUSR2: capd stops without ending the shards' input;
			 * the shards keep their sessions and reconnect. */
			k->respawn = true;
			k->respawn_ns = now_mono_ns();
			kill(k->pid, SIGUSR2);
			json_object_array_add(done, json_object_new_string("capd restarted (the capture changed)"));
			log_info("reload: capd is restarted for the new capture; the sessions stay open");
		}
	}
	report();
	log_info("reload: %zu change%s applied", json_object_array_length(r.changed),
	    json_object_array_length(r.changed) == 1 ? "" : "s");
	if (log_level == NULL)	/* the launcher's own, last: this line was INFO */
		log_set_console_level((enum log_level)log_level_parse(C.log_console_verbosity));
out:
	json_object_object_add(rep, "reply", json_object_new_int64((int64_t)id));
	json_object_object_add(rep, "ok", json_object_new_boolean(ok));
	json_object_object_add(rep, "changed", r.changed);
	json_object_object_add(rep, "restart_needed", r.restart);
	json_object_object_add(rep, "actions", done);
	if (id != 0)
		tell_ctld(rep);
	json_object_put(rep);
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	(void)arg;
	if (sig == SIGCHLD) {
		int st;
		pid_t pid;
		while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
			for (unsigned i = 0; i < nkids; i++)
				if (kids[i].pid == pid && kids[i].running)
					child_died(&kids[i], st);
		if (all_done())
			event_base_loopbreak(base);
		return;
	}
	if (sig == SIGHUP) {
		do_reload(0);
		return;
	}
	if (stopping) {
		log_warnx("second signal: stopping now");
		signal_all(SIGTERM, true);
		return;
	}
	begin_stop(sig == SIGINT ? "SIGINT" : "SIGTERM");
}

/* The run directory: mode 0770, group runtime.group, made by us. */
static void
make_run_dir(void)
{
	if (C.run_dir && *C.run_dir)
		sth_strlcpy(run_dir, C.run_dir, sizeof(run_dir));
	else if (geteuid() == 0)
		snprintf(run_dir, sizeof(run_dir), "/run/stethoscope/%s", C.name);
	else
		snprintf(run_dir, sizeof(run_dir), "run/%s", C.name);
	/* Parents we make are traversable; the run directory itself is
	 * 0770, group runtime.group. */
	if (mkdir_p(run_dir, 0755) < 0)
		fatal("run directory %s", run_dir);
	if (chmod(run_dir, 0770) < 0)
		fatal("chmod %s", run_dir);
	if (geteuid() == 0) {
		struct group *g = getgrnam(C.group ? C.group : "nogroup");
		if (g != NULL && chown(run_dir, 0, g->gr_gid) < 0)
			fatal("chown %s", run_dir);
		/* A daemon that reconnects after a restart does so as
		 * runtime.user: every directory above must let it through. */
		char p[PATH_MAX];
		if (realpath(run_dir, p) != NULL) {
			char *slash;
			while ((slash = strrchr(p, '/')) != NULL && slash != p) {
				struct stat st;
				*slash = '\0';
				if (stat(p, &st) == 0 && !(st.st_mode & S_IXOTH) &&
				    !(g != NULL && st.st_gid == g->gr_gid && (st.st_mode & S_IXGRP)))
					log_warnx("%s (mode %03o) does not let runtime.user through to the run "
					    "directory: a daemon restarted as that user cannot reconnect", p,
					    (unsigned)(st.st_mode & 0777));
			}
		}
	}
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: stethoscope-run [-c|--config FILE] [--log-level L] [--speed X] [--profile P]\n"
	    "Runs the whole tap for one configuration: capd, runtime.workers reasmd shards, one\n"
	    "sinkd per enabled output family; restarts what dies; stops in order.\n\n"
	    "  -c, --config FILE   the configuration (also $STETHOSCOPE_CONFIG)\n"
	    "      --log-level L   console verbosity of every daemon: DEBUG, INFO, WARNING, ERROR\n"
	    "      --speed X       with io.input.capture.file: replay at X times the original pace\n"
	    "      --profile P     runtime.profile: balanced (the defaults), throughput, latency\n"
	    "                      or memory, a group of keys under any key given\n"
	    "      --check-config  check the configuration and exit\n"
	    "      --bindir DIR    where the daemons are (scripts/stethoscope-run finds them:\n"
	    "                      beside itself, in build/, or $STETHOSCOPE_BINDIR)\n"
	    "      --wrapper CMD   run every daemon under CMD, words split on spaces (a checker:\n"
	    "                      \"valgrind --error-exitcode=99\"); also $STETHOSCOPE_WRAPPER\n"
	    "  -h, --help          this help\n\n"
	    "Exit status: 0 after a clean stop or the end of the input; 1 when a daemon failed\n"
	    "(to start, or five times within a minute); 2 on a usage or configuration error.\n"
	    "Signals: SIGINT/SIGTERM stop (capd first, then the rest drain within\n"
	    "runtime.drain_timeout_ms); SIGHUP reads the configuration again and applies\n"
	    "what can change while running (stethoscope.conf(5), RELOAD), or names the keys\n"
	    "that need a restart and applies nothing.\n");
}

int
main(int argc, char **argv)
{
	struct conf_diag d = { 0 };
	bool check_only = false;
	int sigs[] = { SIGCHLD, SIGINT, SIGTERM, SIGHUP };
	struct event *evs[4];
	unsigned W, nsinks = 0, nring;
	const char *fams[6];

	log_init("stethoscope-run");
	config_path = getenv("STETHOSCOPE_CONFIG");
	log_level = getenv("STETHOSCOPE_LOG_LEVEL");
	const char *wrap = getenv("STETHOSCOPE_WRAPPER");
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if ((strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) && i + 1 < argc)
			config_path = argv[++i];
		else if (strcmp(a, "--log-level") == 0 && i + 1 < argc)
			log_level = argv[++i];
		else if (strcmp(a, "--speed") == 0 && i + 1 < argc)
			speed = argv[++i];
		else if (strcmp(a, "--profile") == 0 && i + 1 < argc) {
			prof_ov[0] = (struct conf_override){ "runtime.profile", argv[++i] };
			prof_nov = 1;
		}
		else if (strcmp(a, "--bindir") == 0 && i + 1 < argc)
			bindir = argv[++i];
		else if (strcmp(a, "--wrapper") == 0 && i + 1 < argc)
			wrap = argv[++i];
		else if (strcmp(a, "--check-config") == 0)
			check_only = true;
		else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout);
			return 0;
		} else {
			fprintf(stderr, "stethoscope-run: unknown argument \"%s\"\n", a);
			usage(stderr);
			return 2;
		}
	}
	if (config_path == NULL) {
		fprintf(stderr, "stethoscope-run: which configuration? give -c FILE (or $STETHOSCOPE_CONFIG)\n");
		return 2;
	}
	if (bindir == NULL)
		bindir = "build";
	if (wrap != NULL && *wrap != '\0') {
		char *w = xstrdup(wrap), *save = NULL;
		size_t n = 0;
		for (char *t = strtok_r(w, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
			if (n + 1 >= sizeof(wrapper) / sizeof(wrapper[0])) {
				fprintf(stderr, "stethoscope-run: --wrapper: at most %zu words\n",
				    sizeof(wrapper) / sizeof(wrapper[0]) - 1);
				return 2;
			}
			wrapper[n++] = t;
		}
		if (n > 0)
			log_warnx("every daemon runs under \"%s\" (--wrapper)", wrap);
	}
	if (log_level != NULL && log_level_parse(log_level) < 0) {
		fprintf(stderr, "stethoscope-run: --log-level: expected DEBUG, INFO, WARNING or ERROR, found \"%s\"\n", log_level);
		return 2;
	}
	if (log_level)
		log_set_console_level((enum log_level)log_level_parse(log_level));
	/* The one check of the configuration: its warnings are shown here,
	 * once; the daemons keep them at DEBUG (--quiet-config). */
	if (conf_load(&C, config_path, prof_ov, prof_nov, 0, &d) < 0) {
		for (size_t i = 0; i < d.nerrors; i++)
			fprintf(stderr, "stethoscope-run: error: %s\n", d.errors[i]);
		fprintf(stderr, "stethoscope-run: configuration has %zu error%s\n", d.nerrors,
		    d.nerrors == 1 ? "" : "s");
		conf_diag_free(&d);
		conf_free(&C);
		return 2;
	}
	for (size_t i = 0; i < d.nwarnings; i++)
		fprintf(stderr, "stethoscope-run: warning: %s\n", d.warnings[i]);
	conf_diag_free(&d);
	if (check_only) {
		printf("configuration OK\n");
		conf_free(&C);
		return 0;
	}
	if (C.file == NULL && C.iface == NULL) {
		fprintf(stderr, "stethoscope-run: nothing to capture: set io.input.capture.iface or .file\n");
		conf_free(&C);
		return 2;
	}
	if (C.files_enabled)
		log_info("io.output.files: sessions as files in %s (every shard)",
		    C.files_dir && *C.files_dir ? C.files_dir : "out");
	if (C.voip_per_call_pcap && !C.voip_enabled)
		log_warnx("voip.per_call_pcap without voip.enabled: no calls, no per-call files");
	if (C.hep_enabled && !C.voip_enabled)
		log_warnx("io.output.hep without voip.enabled: no SIP is read, nothing is sent");
	nsinks = families(&C, fams);
	if (nsinks == 0 && !C.files_enabled)
		log_warnx("no output is enabled (listner, remote-host, pcap, hep, nats, json): sessions are only counted");
	nring = nsinks - (C.json_enabled ? 1 : 0);	/* the sinks on reasmd's rings */
	make_run_dir();
	write_daemon_config();
	if (C.log_file_enabled && C.log_file_path != NULL && strchr(C.log_file_path, '/') != NULL) {
		/* The daemons append to logging.file.path: its directory is made
		 * here, once (the Go version made it too). */
		char dir[PATH_MAX];
		sth_strlcpy(dir, C.log_file_path, sizeof(dir));
		*strrchr(dir, '/') = '\0';
		if (*dir && mkdir_p(dir, 0755) < 0)
			log_warn("logging.file.path: %s", dir);
	}
	if (C.log_file_enabled && C.log_file_path != NULL)
		log_setup();
	W = nshards = (unsigned)C.workers;
	if (W + nsinks + 2 > MAXCHILD)
		fatalx("too many daemons");

	/* The daemons, in the order they start: ctld before all. */
	{
		char ctl[PATH_MAX + 16];
		struct child *k = newkid(K_CTLD, "ctld", "ctld");
		addarg(k, "--run-dir");
		addarg(k, run_dir);
		snprintf(ctl, sizeof(ctl), "%s/ctld.sock", run_dir);
		if (C.json_enabled)
			/* json takes every daemon's events from ctld: it starts
			 * before any of them, so it misses none */
			add_sink_kid("json");
		k = newkid(K_CAPD, "capd", "capd");
		addarg(k, "--run-dir");
		addarg(k, run_dir);
		addarg(k, "--ctl");
		addarg(k, ctl);
		if (speed) {
			addarg(k, "--speed");
			addarg(k, speed);
		}
		if (C.files_enabled) {
			/* io.output.files: every shard writes its sessions' files
			 * into the one directory and adds its lines to
			 * sessions.jsonl and calls.jsonl there (a line a write);
			 * the run starts them empty */
			const char *fdir = C.files_dir && *C.files_dir ? C.files_dir : "out";
			if (mkdir_p(fdir, 0755) < 0)
				fatal("io.output.files.dir %s", fdir);
			for (int f = 0; f < (C.voip_enabled ? 2 : 1); f++) {
				char p[PATH_MAX + 16];
				snprintf(p, sizeof(p), "%s/%s", fdir, f == 0 ? "sessions.jsonl" : "calls.jsonl");
				int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
				if (fd < 0)
					fatal("io.output.files: %s", p);
				close(fd);
			}
		}
		for (unsigned s = 0; s < W; s++) {
			char name[40], arg[PATH_MAX + 32], n[32];
			snprintf(name, sizeof(name), "reasmd %u/%u", s, W);
			k = newkid(K_REASMD, name, "reasmd");
			k->shard = s;
			snprintf(arg, sizeof(arg), "%s/capd.sock", run_dir);
			addarg(k, "--from");
			addarg(k, arg);
			snprintf(n, sizeof(n), "%u/%u", s, W);
			addarg(k, "--shard");
			addarg(k, n);
			addarg(k, "--ctl");
			addarg(k, ctl);
			if (C.files_enabled) {
				addarg(k, "-o");
				addarg(k, C.files_dir && *C.files_dir ? C.files_dir : "out");
				addarg(k, "--append");
				if (!C.files_streams)
					addarg(k, "--no-streams");
			}
			/* always: a reload may start a sink (it then joins the
			 * sessions already open) */
			snprintf(arg, sizeof(arg), "%s/reasmd.%u.sock", run_dir, s);
			addarg(k, "--listen");
			addarg(k, arg);
			snprintf(n, sizeof(n), "%u", nring);
			addarg(k, "--sinks");
			addarg(k, n);
		}
		for (unsigned f = 0; f < nsinks; f++)
			if (strcmp(fams[f], "json") != 0)	/* json: started after ctld */
				add_sink_kid(fams[f]);
	}

	base = event_base_new();
	for (int i = 0; i < 4; i++) {
		evs[i] = evsignal_new(base, sigs[i], on_signal, NULL);
		event_add(evs[i], NULL);
	}
	if (log_pipe >= 0) {
		ev_log = event_new(base, log_pipe, EV_READ | EV_PERSIST, on_log, NULL);
		event_add(ev_log, NULL);
	}
	log_info("run directory %s; %u shard%s; outputs: %u", run_dir, W, W == 1 ? "" : "s", nsinks);
	for (unsigned i = 0; i < nkids; i++) {
		if (spawn(&kids[i], true) < 0) {
			log_errorx("%s", fail_reason);
			kids[i].state = "failed";
			snprintf(kids[i].last_error, sizeof(kids[i].last_error), "%.79s", fail_reason);
			failed = true;
			begin_stop("a daemon failed to start");
			break;
		}
		kids[i].state = "up";
		if (kids[i].kind == K_CTLD)
			report();
	}
	if (!failed) {
		log_info("all %u daemons are ready", nkids);
		report();
		sd_notify_msg("READY=1");
	}
	watchdog_start();
	if (!all_done())
		event_base_dispatch(base);
	/* Whatever is left (a failed start) goes now. */
	for (unsigned i = 0; i < nkids; i++)
		if (kids[i].running) {
			int st;
			kill(kids[i].pid, SIGKILL);
			waitpid(kids[i].pid, &st, 0);
		}
	for (unsigned i = 0; i < nkids; i++) {
		for (int a = 0; a < kids[i].argc; a++)
			free(kids[i].argv[a]);
		if (kids[i].ev_restart)
			event_free(kids[i].ev_restart);
	}
	for (int i = 0; i < 4; i++)
		event_free(evs[i]);
	if (ev_deadline)
		event_free(ev_deadline);
	if (ev_kill)
		event_free(ev_kill);
	if (ev_watchdog)
		event_free(ev_watchdog);
	if (ev_iface_check)
		event_free(ev_iface_check);
	if (log_pipe >= 0) {
		log_drain();		/* the daemons' last lines */
		event_free(ev_log);
		close(log_pipe);
	}
	event_base_free(base);
	conf_free(&C);
	if (failed) {
		log_errorx("stopped: %s", fail_reason);
		return 1;
	}
	log_info("stopped cleanly%s", shard_lost ? " (shards were lost and restarted: see shard_lost above)" : "");
	return 0;
}
