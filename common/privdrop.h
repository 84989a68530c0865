/*
 * privdrop.h — giving up root, in the order OpenBSD's daemons use:
 * chroot + chdir, setgroups, setresgid, setresuid, no_new_privs; then a
 * check that root cannot be regained.
 *
 * Started without root, nothing can be dropped: the process logs that it
 * runs as the invoking user and goes on.  Sanitizer builds (STH_SANITIZER)
 * skip the chroot: LeakSanitizer cannot run inside one.
 */
#ifndef STH_PRIVDROP_H
#define STH_PRIVDROP_H

#include <stddef.h>

struct privdrop_opts {
	const char *user;	/* runtime.user; NULL = "nobody" */
	const char *group;	/* runtime.group; NULL or missing = the user's group */
	const char *chroot_dir;	/* NULL: no chroot */
};

/* Drops privileges.  Returns 0 (also when not root), or -1 with err. */
int privdrop(const struct privdrop_opts *o, char *err, size_t errlen);

/* Hands path (a file or directory made before the drop) to the user the
 * process will drop to, so that it can still write there afterwards, as
 * tcpdump -Z does for its output file.  A no-op when not root.  Returns 0
 * or -1 with err. */
int privdrop_give(const char *path, const struct privdrop_opts *o, char *err, size_t errlen);

/* Returns 1 if the process could become root again (a failed drop). */
int privdrop_can_regain(void);

#endif
