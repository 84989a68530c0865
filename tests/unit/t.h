/*
 * t.h — the unit-test harness: TAP-style lines ("ok N - name",
 * "not ok N - name") that tests/run.sh counts.  A test is a function; a
 * failed T_CHECK prints where and why and marks the test failed.
 */
#ifndef STH_T_H
#define STH_T_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int t_failed_now, t_passed, t_failed, t_num;

#define T_CHECK(cond) do { \
	if (!(cond)) { \
		printf("#   %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
		t_failed_now = 1; \
	} \
} while (0)

#define T_EQ_U(a, b) do { \
	unsigned long long t_a = (unsigned long long)(a), t_b = (unsigned long long)(b); \
	if (t_a != t_b) { \
		printf("#   %s:%d: %s == %s failed: %llu != %llu\n", __FILE__, __LINE__, #a, #b, t_a, t_b); \
		t_failed_now = 1; \
	} \
} while (0)

#define T_EQ_S(a, b) do { \
	const char *t_a = (a), *t_b = (b); \
	if (t_a == NULL || t_b == NULL || strcmp(t_a, t_b) != 0) { \
		printf("#   %s:%d: %s == %s failed:\n#     \"%s\"\n#     \"%s\"\n", __FILE__, __LINE__, #a, #b, \
		    t_a ? t_a : "(null)", t_b ? t_b : "(null)"); \
		t_failed_now = 1; \
	} \
} while (0)

#define T_RUN(fn) do { \
	t_failed_now = 0; \
	fn(); \
	t_num++; \
	if (t_failed_now) { \
		t_failed++; \
		printf("not ok %d - %s\n", t_num, #fn); \
	} else { \
		t_passed++; \
		printf("ok %d - %s\n", t_num, #fn); \
	} \
	fflush(stdout); \
} while (0)

#define T_DONE() (printf("1..%d\n", t_num), t_failed ? 1 : 0)

#endif
