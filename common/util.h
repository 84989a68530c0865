/*
 * util.h — small helpers every module uses: checked allocation, string
 * copies that always terminate, time in nanoseconds, parsing numbers.
 */
#ifndef STH_UTIL_H
#define STH_UTIL_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/time.h>
#include <time.h>
#include <sys/socket.h>

/* macOS has SO_NOSIGPIPE instead; daemons ignore SIGPIPE as well. */
#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0
#endif

/* recvmsg flag: close-on-exec for received descriptors where supported. */
#ifdef MSG_CMSG_CLOEXEC
#define MSG_CMSG_CLOEXEC_IF MSG_CMSG_CLOEXEC
#else
#define MSG_CMSG_CLOEXEC_IF 0
#endif

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define NSEC_PER_SEC ((uint64_t)1000000000)

/* Allocation that cannot return NULL: on failure fatalx() with the size. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);

/* Copies at most size-1 bytes and always terminates (size > 0).
 * Returns strlen(src) so that truncation can be detected. */
size_t sth_strlcpy(char *dst, const char *src, size_t size);

/* A summary of several lines goes out in one write(): under the launcher
 * the daemons share one log file, and lines written piece by piece would
 * interleave with another daemon's.  onewrite_open returns the stream to
 * print to (in memory; `out` itself if that cannot be had); onewrite_close
 * writes it all to `out` at once. */
struct onewrite {
	FILE *f, *out;
	char *buf;
	size_t len;
};
FILE *onewrite_open(struct onewrite *w, FILE *out);
void onewrite_close(struct onewrite *w);

/* Monotonic and wall clocks in nanoseconds. */
uint64_t now_mono_ns(void);
uint64_t now_wall_ns(void);
/* t plus ms milliseconds; the wall clock's now plus ms (a deadline for
 * pthread_cond_timedwait, whose clock is the wall clock). */
struct timespec timespec_plus_ms(struct timespec t, long ms);
struct timespec wall_in_ms(long ms);
/* ms milliseconds as a timeval (libevent's timers) */
struct timeval timeval_of_ms(int64_t ms);

/* Formats a nanosecond UTC time as ISO-8601 with milliseconds
 * ("2026-11-22T18:01:10.123Z") into buf (at least 32 bytes). */
void fmt_iso8601(char *buf, size_t size, uint64_t ns);

/* murmur3's 64-bit finaliser: every input bit moves every output bit */
static inline uint64_t
fmix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

/* Parses an unsigned decimal integer in [min, max]. Returns 0 or -1. */
int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* Writes all of buf to fd, retrying on EINTR and short writes.
 * Returns 0 or -1 with errno set. */
int write_all(int fd, const void *buf, size_t len);

/* Reads exactly len bytes unless EOF comes first. Returns the number of
 * bytes read (< len only at EOF) or -1 with errno set. */
ssize_t read_full(int fd, void *buf, size_t len);

/* Sets O_NONBLOCK / FD_CLOEXEC. Return 0 or -1. */
int fd_set_nonblock(int fd);
int fd_set_cloexec(int fd);



/* Creates a directory and its missing parents (mkdir -p). Returns 0 or -1. */
int mkdir_p(const char *path, unsigned mode);

/* Formats an address (family 4 or 6, network order) into buf (>= 46). */
void addr_fmt(uint8_t family, const uint8_t *ip, char *buf, size_t size);
/* Parses a textual IPv4/IPv6 address into out[16]; sets *family.
 * Returns 0 or -1. */
int addr_parse(const char *s, uint8_t *family, uint8_t *out);

#endif
