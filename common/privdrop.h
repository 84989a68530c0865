/*
 * privdrop.h — giving up root, in the order OpenBSD's daemons use:
 * chroot + chdir, setgroups, setresgid, setresuid, no_new_privs; then a
 * check that root cannot be regained.
 *
 * Started without root, nothing can be dropped: the process logs that it
 * runs as the invoking user and goes on.  Sanitizer builds (STH_SANITIZER)
 * skip the chroot: LeakSanitizer cannot run inside one.
 *
 * Where a daemon chroots (privdrop_root): a consumer reconnects to its
 * producers after they restart, so it goes into the one directory that
 * holds the Unix sockets it connects to, the run directory; a daemon that
 * connects to none goes into an empty directory.  Afterwards
 * privdrop_path() turns a socket's path as given on the command line into
 * the path that reaches it inside the chroot (chan_connect does it).
 */
#ifndef STH_PRIVDROP_H
#define STH_PRIVDROP_H

#include <stddef.h>

#include <limits.h>

#ifndef PATH_MAX
#define PATH_MAX 4096
#endif

struct privdrop_opts {
	const char *user;	/* runtime.user; NULL = "nobody" */
	const char *group;	/* runtime.group; NULL or missing = the user's group */
	const char *chroot_dir;	/* NULL: no chroot */
	char root[PATH_MAX];	/* privdrop_root()'s choice lives here */
};

/* Chooses o->chroot_dir, when root, for a daemon that connects after the
 * drop to the Unix sockets socks[0..n) (NULL entries are skipped): their
 * directory when they share one (made canonical); an empty directory
 * (/var/empty, else base/empty, made here) when n is 0.  No chroot, with a
 * log line saying why, when the sockets lie in different directories or
 * the empty directory cannot be made.  Not root: nothing. */
void privdrop_root(struct privdrop_opts *o, const char *const *socks, size_t n, const char *base);

/* A socket path as given before the drop, as reached after it: inside the
 * chroot, the same name below the new root; otherwise the path itself. */
const char *privdrop_path(const char *path);

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
