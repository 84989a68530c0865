/*
 * sandbox.c — seccomp-bpf allow-lists (Linux), selected in this one file.
 *
 * The filter checks the architecture first (a 32-bit or x32 call from a
 * 64-bit process is killed: its numbers mean other calls), then allows
 * the listed calls and answers every other one with EPERM: a library that
 * tries something unexpected gets an error it can report, the process is
 * not killed mid-capture, and the call does not happen.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "sandbox.h"

#if defined(__linux__) && !defined(STH_SANITIZER) && (defined(__x86_64__) || defined(__aarch64__))
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#if defined(__x86_64__)
#define SB_ARCH AUDIT_ARCH_X86_64
#else
#define SB_ARCH AUDIT_ARCH_AARCH64
#endif

#define SB_ALLOW(nr) \
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), \
	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)

static struct sock_filter capd_filter[] = {
	BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SB_ARCH, 1, 0),
	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
	BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
	/* packets: the capture socket's ring is polled and read */
	SB_ALLOW(__NR_read), SB_ALLOW(__NR_recvfrom), SB_ALLOW(__NR_recvmsg),
	SB_ALLOW(__NR_ppoll),
#ifdef __NR_poll
	SB_ALLOW(__NR_poll),
#endif
	/* libpcap's counters (getsockopt PACKET_STATISTICS), interface state
	 * (ioctl SIOCGIFFLAGS) */
	SB_ALLOW(__NR_getsockopt), SB_ALLOW(__NR_ioctl),
	/* -w output, logging, doorbells and hello replies */
	SB_ALLOW(__NR_write), SB_ALLOW(__NR_writev), SB_ALLOW(__NR_sendto),
	SB_ALLOW(__NR_sendmsg),
	/* shards connecting: accept, and a new sealed ring for each */
	SB_ALLOW(__NR_accept4),
#ifdef __NR_accept
	SB_ALLOW(__NR_accept),
#endif
	SB_ALLOW(__NR_memfd_create), SB_ALLOW(__NR_ftruncate), SB_ALLOW(__NR_fcntl),
	SB_ALLOW(__NR_fstat), SB_ALLOW(__NR_newfstatat), SB_ALLOW(__NR_lseek),
	SB_ALLOW(__NR_close), SB_ALLOW(__NR_shutdown),
	/* memory */
	SB_ALLOW(__NR_mmap), SB_ALLOW(__NR_munmap), SB_ALLOW(__NR_mremap),
	SB_ALLOW(__NR_brk), SB_ALLOW(__NR_madvise), SB_ALLOW(__NR_mprotect),
	/* the event loop (epoll), its timers and signals */
	SB_ALLOW(__NR_epoll_ctl), SB_ALLOW(__NR_epoll_pwait),
#ifdef __NR_epoll_wait
	SB_ALLOW(__NR_epoll_wait),
#endif
	SB_ALLOW(__NR_clock_gettime), SB_ALLOW(__NR_clock_nanosleep),
	SB_ALLOW(__NR_nanosleep), SB_ALLOW(__NR_gettimeofday),
	SB_ALLOW(__NR_rt_sigreturn), SB_ALLOW(__NR_rt_sigprocmask),
	SB_ALLOW(__NR_rt_sigaction), SB_ALLOW(__NR_restart_syscall),
	/* threads' primitives, ids for log lines, randomness for libevent */
	SB_ALLOW(__NR_futex), SB_ALLOW(__NR_getpid), SB_ALLOW(__NR_gettid),
	SB_ALLOW(__NR_getrandom), SB_ALLOW(__NR_sched_yield),
	/* the end */
	SB_ALLOW(__NR_exit), SB_ALLOW(__NR_exit_group),
	SB_ALLOW(__NR_tgkill),	/* abort() */
	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
};

int
sandbox_enter(enum sandbox_profile p, char *err, size_t errlen)
{
	struct sock_fprog prog = { (unsigned short)(sizeof(capd_filter) / sizeof(capd_filter[0])),
	    capd_filter };

	(void)p;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0) {
		snprintf(err, errlen, "seccomp: %s", strerror(errno));
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
