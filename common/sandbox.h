/*
 * sandbox.h — the system-call sandbox a daemon enters after dropping
 * privileges and acquiring what it needs (sockets bound, files opened).
 *
 * On Linux with libseccomp: an allow-list per process (sandbox.c names
 * each permitted call and why), on every architecture libseccomp knows;
 * any other call fails with EPERM (clone3 with ENOSYS, so that glibc's
 * pthread_create falls back to clone), and execve never runs.  Elsewhere,
 * without libseccomp, and in sanitizer builds (their runtimes need calls
 * no list allows): none, and the daemon says so in a log line.
 */
#ifndef STH_SANDBOX_H
#define STH_SANDBOX_H

#include <stddef.h>

enum sandbox_profile {
	SANDBOX_CAPD,		/* read packets, write -w, feed rings, accept shards */
	SANDBOX_REASMD,		/* read a ring or a file, -o/-w/--events, serve sinks */
	SANDBOX_SINKD,		/* read rings, write files (pcap, json) */
	SANDBOX_SINKD_LISTENER,	/* ... and listening TCP sockets made per session */
	SANDBOX_SINKD_CONNECTOR,/* ... and outgoing TCP (the name resolved before; no chroot) */
	SANDBOX_CTLD,		/* control clients over TCP and Unix sockets, HTTP metrics */
	SANDBOX_DEALER,		/* reasmd --shards: read a file, feed pipes, reap the engines */
	SANDBOX_MAX
};

/* Enters the sandbox.  Returns 1 if a filter is in force, 0 if this build
 * or system has none, -1 with err on failure. */
int sandbox_enter(enum sandbox_profile p, char *err, size_t errlen);

/* The line a daemon logs after sandbox_enter returned r. */
const char *sandbox_line(int r);

#endif
