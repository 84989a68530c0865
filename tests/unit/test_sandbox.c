/* test_sandbox.c — every process's seccomp profile (common/sandbox.c),
 * entered in a child: execve is refused, threads still start (clone3
 * answers ENOSYS, glibc falls back to clone), the calls a daemon lives on
 * still work.  A build without a sandbox (sanitizers, no libseccomp) must
 * say so instead. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox.h"
#include "t.h"

static void *
thread_main(void *arg)
{
	return arg;
}

/* In the child: 0 all as expected, 77 no sandbox in this build, else the
 * check that failed. */
static int
child(enum sandbox_profile p)
{
	char err[256], *argv[] = { (char *)"/bin/true", NULL }, *envp[] = { NULL };
	pthread_t th;
	void *ret;
	int sv[2], r = sandbox_enter(p, err, sizeof(err));

	if (r == 0)
		return strcmp(sandbox_line(r), "no system-call sandbox in this build") == 0 ? 77 : 10;
	if (r < 0)
		return 11;
	execve(argv[0], argv, envp);
	if (errno != EPERM)
		return 12;
	if ((p == SANDBOX_REASMD || p == SANDBOX_SINKD) &&
	    (pthread_create(&th, NULL, thread_main, &r) != 0 || pthread_join(th, &ret) != 0 || ret != &r))
		return 13;
	/* a Unix socket (every process reconnects to its producer or ctld)... */
	if (p != SANDBOX_CTLD && p != SANDBOX_DEALER) {
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (fd < 0)
			return 14;
		close(fd);
	}
	/* ...but a raw or netlink one nowhere */
	if (socket(AF_NETLINK, SOCK_RAW, 0) >= 0 || errno != EPERM)
		return 15;
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0 && (p == SANDBOX_CTLD || p == SANDBOX_DEALER))
		return 16;
	/* the dealer reaps its engines */
	if (p == SANDBOX_DEALER && waitpid(-1, NULL, WNOHANG) < 0 && errno != ECHILD)
		return 17;
	return 0;
}

static void
sandbox_every_profile_refuses_execve(void)
{
	static const char *names[SANDBOX_MAX] = { "capd", "reasmd", "sinkd", "sinkd listener",
		"sinkd connector", "ctld", "reasmd dealer" };
	int none = 0;

	for (int p = 0; p < SANDBOX_MAX; p++) {
		int st;
		pid_t pid = fork();
		if (pid == 0)
			_exit(child((enum sandbox_profile)p));
		T_CHECK(waitpid(pid, &st, 0) == pid);
		T_CHECK(WIFEXITED(st));
		if (WEXITSTATUS(st) == 77) {
			none++;
			continue;
		}
		if (WEXITSTATUS(st) != 0)
			printf("#   profile %s: check %d failed\n", names[p], WEXITSTATUS(st));
		T_EQ_U(WEXITSTATUS(st), 0);
	}
	/* all or nothing: a build has sandboxes or it has none */
	T_CHECK(none == 0 || none == SANDBOX_MAX);
#ifdef STH_SANITIZER
	T_EQ_U(none, SANDBOX_MAX);
#elif defined(__linux__) && defined(HAVE_SECCOMP)
	T_EQ_U(none, 0);
#endif
	if (none)
		printf("# no system-call sandbox in this build\n");
}

int
main(void)
{
	T_RUN(sandbox_every_profile_refuses_execve);
	return T_DONE();
}
