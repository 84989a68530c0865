/*
 * privdrop.c — the privilege drop and its verification.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "log.h"
#include "privdrop.h"

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
#ifndef STH_SANITIZER
	if (o->chroot_dir != NULL) {
		if (chroot(o->chroot_dir) < 0 || chdir("/") < 0) {
			snprintf(err, errlen, "chroot %s: %s", o->chroot_dir, strerror(errno));
			return -1;
		}
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
	    (long)getuid(), (long)getgid(), o->chroot_dir ? ", chroot " : "",
	    o->chroot_dir ? o->chroot_dir : "");
	return 0;
}
