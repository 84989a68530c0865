/*
 * privdrop.c — the privilege drop and its verification.
 */
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "log.h"
#include "privdrop.h"
#include "util.h"

/* The chroot in force ("" when none) and the sockets chosen with it: their
 * paths as given and as reached inside. */
static char jail[PATH_MAX];
static struct jail_sock {
	char *given, *inside;
} *jsock;
static size_t njsock;

/* The canonical directory of path (its dirname, symbolic links resolved). */
static int
dir_of(const char *path, char *out)
{
	char d[PATH_MAX], *slash;

	if (sth_strlcpy(d, path, sizeof(d)) >= sizeof(d)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((slash = strrchr(d, '/')) == NULL)
		snprintf(d, sizeof(d), ".");
	else if (slash == d)
		d[1] = '\0';
	else
		*slash = '\0';
	return realpath(d, out) == NULL ? -1 : 0;
}

/* An empty directory owned by root that nobody can write: /var/empty where
 * the system has one, else base/empty (made here, mode 0555). */
static const char *
empty_dir(const char *base, char *buf, size_t size)
{
	struct stat sb;

	if (stat("/var/empty", &sb) == 0 && S_ISDIR(sb.st_mode) && sb.st_uid == 0 &&
	    !(sb.st_mode & 022))
		return "/var/empty";
	snprintf(buf, size, "%s/empty", base);
	if (mkdir_p(buf, 0555) < 0 || chmod(buf, 0555) < 0)
		return NULL;
	return buf;
}

void
privdrop_root(struct privdrop_opts *o, const char *const *socks, size_t n, const char *base)
{
	char d[PATH_MAX];
	size_t have = 0, first = 0;

	o->chroot_dir = NULL;
	if (geteuid() != 0)
		return;
	for (size_t i = 0; i < n; i++) {
		if (socks[i] == NULL)
			continue;
		if (dir_of(socks[i], d) < 0) {
			log_warnx("no chroot: the directory of %s: %s", socks[i], strerror(errno));
			return;
		}
		if (have++ == 0) {
			memcpy(o->root, d, sizeof(o->root));
			first = i;
		} else if (strcmp(o->root, d) != 0) {
			log_warnx("no chroot: %s and %s are in different directories (the daemon "
			    "must reach both after its drop)", socks[first], socks[i]);
			return;
		}
	}
	if (have == 0) {
		const char *e = empty_dir(base, o->root, sizeof(o->root));
		if (e == NULL)
			log_warn("no chroot: cannot make %s/empty", base);
		else
			o->chroot_dir = e;
		return;
	}
	for (size_t i = 0; i < njsock; i++) {
		free(jsock[i].given);
		free(jsock[i].inside);
	}
	free(jsock);
	jsock = xcalloc(have, sizeof(*jsock));
	njsock = 0;
	for (size_t i = 0; i < n; i++) {
		const char *slash;
		if (socks[i] == NULL)
			continue;
		slash = strrchr(socks[i], '/');
		jsock[njsock].given = xstrdup(socks[i]);
		jsock[njsock].inside = xmalloc(strlen(socks[i]) + 2);
		sprintf(jsock[njsock].inside, "/%s", slash ? slash + 1 : socks[i]);
		njsock++;
	}
	o->chroot_dir = o->root;
}

const char *
privdrop_path(const char *path)
{
	size_t n = strlen(jail);

	if (n == 0)
		return path;
	for (size_t i = 0; i < njsock; i++)
		if (strcmp(jsock[i].given, path) == 0)
			return jsock[i].inside;
	/* Another path below the root (given in its canonical form). */
	if (strncmp(path, jail, n) == 0 && path[n] == '/')
		return path + n;
	return path;
}

int
privdrop_can_regain(void)
{
	if (geteuid() == 0 || getuid() == 0)
		return 1;
	/* A saved set-user-ID of 0 would let seteuid(0) succeed. */
	if (seteuid(0) == 0)
		return 1;
	return 0;
}

int
privdrop_give(const char *path, const struct privdrop_opts *o, char *err, size_t errlen)
{
	struct passwd *pw;

	if (geteuid() != 0)
		return 0;
	if ((pw = getpwnam(o->user ? o->user : "nobody")) == NULL) {
		snprintf(err, errlen, "user \"%s\" does not exist (runtime.user or --user)",
		    o->user ? o->user : "nobody");
		return -1;
	}
	if (chown(path, pw->pw_uid, (gid_t)-1) < 0) {
		snprintf(err, errlen, "chown %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

int
privdrop(const struct privdrop_opts *o, char *err, size_t errlen)
{
	const char *user = o->user ? o->user : "nobody";
	struct passwd *pw;
	gid_t gid;

	if (geteuid() != 0) {
		log_info("not started as root: running as the invoking user (uid %ld), nothing to drop",
		    (long)geteuid());
		return 0;
	}
	if ((pw = getpwnam(user)) == NULL) {
		snprintf(err, errlen, "user \"%s\" does not exist (runtime.user or --user)", user);
		return -1;
	}
	gid = pw->pw_gid;
	if (o->group != NULL) {
		struct group *gr = getgrnam(o->group);
		if (gr != NULL)
			gid = gr->gr_gid;
		else
			log_debug("group \"%s\" does not exist; using %s's group %ld",
			    o->group, user, (long)gid);
	}
	if (pw->pw_uid == 0) {
		snprintf(err, errlen, "user \"%s\" is root: choose an unprivileged runtime.user", user);
		return -1;
	}
#ifdef STH_SANITIZER
	if (o->chroot_dir != NULL)
		log_info("no chroot in a sanitizer build (LeakSanitizer cannot run inside one)");
#else
	if (o->chroot_dir != NULL) {
		if (chroot(o->chroot_dir) < 0 || chdir("/") < 0) {
			snprintf(err, errlen, "chroot %s: %s", o->chroot_dir, strerror(errno));
			return -1;
		}
		if (strcmp(o->chroot_dir, "/") != 0)
			sth_strlcpy(jail, o->chroot_dir, sizeof(jail));
	}
#endif
	/* Supplementary groups first: setgroups needs root. */
	if (setgroups(1, &gid) < 0) {
		snprintf(err, errlen, "setgroups: %s", strerror(errno));
		return -1;
	}
#if defined(__linux__)
	if (setresgid(gid, gid, gid) < 0 || setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) < 0) {
#else
	if (setgid(gid) < 0 || setegid(gid) < 0 || setuid(pw->pw_uid) < 0 || seteuid(pw->pw_uid) < 0) {
#endif
		snprintf(err, errlen, "cannot switch to user %s: %s", user, strerror(errno));
		return -1;
	}
#if defined(__linux__) && defined(PR_SET_NO_NEW_PRIVS)
	/* No execve can give privileges back (setuid binaries, file caps). */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		snprintf(err, errlen, "prctl(PR_SET_NO_NEW_PRIVS): %s", strerror(errno));
		return -1;
	}
#endif
	if (privdrop_can_regain()) {
		snprintf(err, errlen, "privilege drop failed: root can be regained");
		return -1;
	}
	log_info("dropped privileges to %s (uid %ld, gid %ld)%s%s", user,
	    (long)getuid(), (long)getgid(), *jail ? ", chroot " : "", jail);
	return 0;
}
