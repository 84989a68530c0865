/*
 * sandbox.c — one seccomp allow-list per process, built with libseccomp
 * (gmid's sandbox.c is the model: every permission has its reason).
 *
 * libseccomp checks the architecture and resolves each call by name for
 * the one this build runs on (a call the architecture lacks is skipped;
 * i386's socketcall multiplexing is its business, not ours), so the same
 * list holds on every architecture Debian ships.  A call not listed fails
 * with EPERM: a library that tries something unexpected gets an error it
 * can report, the daemon is not killed mid-stream, and the call does not
 * happen.  clone3 fails with ENOSYS instead: glibc's pthread_create then
 * falls back to clone, which the daemons with threads may use.  execve is
 * never allowed.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "sandbox.h"

const char *
sandbox_line(int r)
{
	return r > 0 ? "seccomp sandbox in force" : "no system-call sandbox in this build";
}

#if defined(__linux__) && defined(HAVE_SECCOMP) && !defined(STH_SANITIZER)
#include <sys/socket.h>
#include <seccomp.h>

/* Which processes a permission is for. */
#define P_CAPD		(1u << SANDBOX_CAPD)
#define P_REASMD	(1u << SANDBOX_REASMD)
#define P_SINKD		(1u << SANDBOX_SINKD)
#define P_LISTENER	(1u << SANDBOX_SINKD_LISTENER)
#define P_CONNECTOR	(1u << SANDBOX_SINKD_CONNECTOR)
#define P_CTLD		(1u << SANDBOX_CTLD)
#define P_DEALER	(1u << SANDBOX_DEALER)
#define P_SINKS		(P_SINKD | P_LISTENER | P_CONNECTOR)
#define P_ALL		(P_CAPD | P_REASMD | P_SINKS | P_CTLD | P_DEALER)

struct allow {
	const char *name;
	unsigned who;
};

static const struct allow allows[] = {
	/* Every daemon: its descriptors (rings, sockets, files opened before),
	 * read and written; the event loop and its timers; memory; signals;
	 * the ids and time in log lines; randomness (libevent, SipHash keys). */
	{ "read", P_ALL }, { "readv", P_ALL }, { "write", P_ALL }, { "writev", P_ALL },
	{ "close", P_ALL }, { "lseek", P_ALL }, { "fstat", P_ALL }, { "newfstatat", P_ALL },
	{ "fstat64", P_ALL }, { "statx", P_ALL }, { "fcntl", P_ALL }, { "fcntl64", P_ALL },
	{ "recvfrom", P_ALL }, { "recvmsg", P_ALL }, { "sendto", P_ALL }, { "sendmsg", P_ALL },
	{ "shutdown", P_ALL }, { "getsockopt", P_ALL }, { "setsockopt", P_ALL },
	{ "getsockname", P_ALL }, { "getpeername", P_ALL },
	{ "poll", P_ALL }, { "ppoll", P_ALL }, { "select", P_ALL }, { "pselect6", P_ALL },
	{ "epoll_ctl", P_ALL }, { "epoll_wait", P_ALL }, { "epoll_pwait", P_ALL },
	{ "epoll_pwait2", P_ALL }, { "eventfd2", P_ALL }, { "pipe2", P_ALL },
	{ "mmap", P_ALL }, { "mmap2", P_ALL }, { "munmap", P_ALL }, { "mremap", P_ALL },
	{ "brk", P_ALL }, { "madvise", P_ALL }, { "mprotect", P_ALL },
	{ "clock_gettime", P_ALL }, { "clock_gettime64", P_ALL }, { "clock_nanosleep", P_ALL },
	{ "nanosleep", P_ALL }, { "gettimeofday", P_ALL },
	{ "rt_sigreturn", P_ALL }, { "sigreturn", P_ALL }, { "rt_sigprocmask", P_ALL },
	{ "rt_sigaction", P_ALL }, { "restart_syscall", P_ALL }, { "sigaltstack", P_ALL },
	{ "futex", P_ALL }, { "futex_time64", P_ALL }, { "sched_yield", P_ALL },
	{ "getpid", P_ALL }, { "gettid", P_ALL }, { "getrandom", P_ALL },
	{ "exit", P_ALL }, { "exit_group", P_ALL },
	{ "tgkill", P_ALL },			/* abort() */
	/* capd: libpcap's counters and the interfaces' state (SIOCGIFFLAGS) */
	{ "ioctl", P_CAPD },
	/* Producers (capd, reasmd): consumers connect; each gets a new ring,
	 * a sealed memfd passed over the socket. */
	{ "accept", P_CAPD | P_REASMD | P_CTLD | P_LISTENER },
	{ "accept4", P_CAPD | P_REASMD | P_CTLD | P_LISTENER },
	{ "memfd_create", P_CAPD | P_REASMD }, { "ftruncate", P_CAPD | P_REASMD | P_SINKS },
	/* Consumers reconnect to their producers and to ctld after a restart:
	 * socket() (Unix only, below) and connect(). */
	{ "connect", P_CAPD | P_REASMD | P_SINKS },
	/* Threads: reasmd's -o writer, sinkd's pcap writer and stream reader
	 * (clone3 answers ENOSYS, below; glibc then uses clone). */
	{ "clone", P_REASMD | P_SINKS }, { "set_robust_list", P_REASMD | P_SINKS },
	{ "rseq", P_REASMD | P_SINKS },
	/* Files in the output directory opened before the drop: reasmd's -o
	 * stream files (openat on the directory), sinkd pcap's files, their
	 * renames on close, the truncation to the last whole frame, the probe
	 * that tells an unwritable directory at start. */
	{ "openat", P_REASMD | P_SINKS }, { "renameat", P_SINKS }, { "renameat2", P_SINKS },
	{ "unlinkat", P_REASMD | P_SINKS },	/* pcap's write probe at start; retention */
	{ "fsync", P_SINKS }, { "fdatasync", P_SINKS },
	/* a per-call pcap file's summary, written into its header at the close */
	{ "pwrite64", P_SINKS },
	/* reasmd --shards: the dealer waits for its engines, and passes a
	 * stop signal on to those that read the file themselves */
	{ "wait4", P_DEALER }, { "waitid", P_DEALER }, { "kill", P_DEALER },
	/* The listener: a listening TCP socket pair per session. */
	{ "bind", P_LISTENER }, { "listen", P_LISTENER },
	/* The connector: outgoing TCP (socket below, connect above); it
	 * resolved its target's name before the drop. */
	{ NULL, 0 },
};

int
sandbox_enter(enum sandbox_profile p, char *err, size_t errlen)
{
	unsigned me = 1u << p;
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
	int rc = 0;

	if (ctx == NULL) {
		snprintf(err, errlen, "seccomp: cannot make a filter");
		return -1;
	}
	for (const struct allow *a = allows; a->name && rc == 0; a++) {
		int nr = seccomp_syscall_resolve_name(a->name);
		if (!(a->who & me) || nr == __NR_SCMP_ERROR)
			continue;
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
	}
	/* socket(): Unix sockets for every process that reconnects; TCP and
	 * UDP only where the family needs them. */
	/* (every field spelled out: libseccomp's SCMP_A0 leaves one to the
	 * compiler, which clang's -Wmissing-field-initializers refuses) */
	const struct scmp_arg_cmp unix_only = { 0, SCMP_CMP_EQ, AF_UNIX, 0 };
	const struct scmp_arg_cmp inet = { 0, SCMP_CMP_EQ, AF_INET, 0 };
	const struct scmp_arg_cmp inet6 = { 0, SCMP_CMP_EQ, AF_INET6, 0 };
	if (rc == 0 && (me & (P_CAPD | P_REASMD | P_SINKS)))
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1, unix_only);
	if (rc == 0 && (me & (P_LISTENER | P_CONNECTOR))) {
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1, inet);
		if (rc == 0)
			rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1, inet6);
	}
	if (rc == 0 && (me & (P_REASMD | P_SINKS)))
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	if (rc == 0)
		rc = seccomp_load(ctx);
	seccomp_release(ctx);
	if (rc < 0) {
		snprintf(err, errlen, "seccomp: %s", strerror(-rc));
		return -1;
	}
	return 1;
}

#else

int
sandbox_enter(enum sandbox_profile p, char *err, size_t errlen)
{
	(void)p;
	(void)err;
	(void)errlen;
	return 0;
}

#endif
