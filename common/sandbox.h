/*
 * sandbox.h — the system-call sandbox a daemon enters after dropping
 * privileges.  On Linux a seccomp-bpf allow-list (sandbox.c lists each
 * permitted call and why); elsewhere, and in sanitizer builds (the
 * sanitizers' runtimes need calls the list does not allow), a no-op that
 * says so.
 */
#ifndef STH_SANDBOX_H
#define STH_SANDBOX_H

#include <stddef.h>

enum sandbox_profile {
	SANDBOX_CAPD,	/* read packets, write -w, feed rings, accept shards */
};

/* Enters the sandbox.  Returns 1 if a filter is in force, 0 if this build
 * or system has none, -1 with err on failure. */
int sandbox_enter(enum sandbox_profile p, char *err, size_t errlen);

#endif
