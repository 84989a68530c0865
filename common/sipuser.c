/*
 * sipuser.c — --sipuser patterns (voip.sipuser) against a SIP URI's user
 * part: reasmd's targeting and sinkd pcap's choice of per-call files.
 */
#include <ctype.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "sipuser.h"

/* A telephone number: digits with an optional leading '+' and visual
 * separators (RFC 3966 section 5.1.1) only. */
static bool
phone_like(const char *p, size_t n)
{
	bool digit = false;

	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		if (isdigit((unsigned char)c))
			digit = true;
		else if (!(c == '+' && i == 0) && !strchr("-. ()", c))
			return false;
	}
	return digit;
}

/* A number without its separators and international prefix (+, 00, 011). */
static size_t
phone_norm(const char *p, size_t n, char *out, size_t size)
{
	size_t k = 0;

	for (size_t i = 0; i < n && k < size - 1; i++)
		if (isdigit((unsigned char)p[i]))
			out[k++] = p[i];
	out[k] = '\0';
	if (n > 0 && p[0] == '+')
		return k;
	if (k >= 3 && memcmp(out, "011", 3) == 0) {
		memmove(out, out + 3, k - 2);
		return k - 3;
	}
	if (k >= 2 && memcmp(out, "00", 2) == 0) {
		memmove(out, out + 2, k - 1);
		return k - 2;
	}
	return k;
}

static bool
has_at(const char *h, size_t hn, const char *n, size_t nn, int mode)
{
	if (nn > hn)
		return false;
	if (mode == 1)		/* prefix */
		return strncasecmp(h, n, nn) == 0;
	if (mode == 2)		/* suffix */
		return strncasecmp(h + hn - nn, n, nn) == 0;
	for (size_t i = 0; i + nn <= hn; i++)
		if (strncasecmp(h + i, n, nn) == 0)
			return true;
	return false;
}

bool
sipuser_match(const char *pattern, const char *user, size_t user_len)
{
	char pat[128], a[128], b[128];
	size_t pn = 0, an, bn;
	int mode = 0;		/* 0 contains, 1 prefix, 2 suffix */
	const char *p = pattern;
	size_t len = strlen(pattern);
	bool lead = false, trail = false;

	if (len == 0 || user_len == 0)
		return false;
	/* `x*` prefix, `*x` suffix, `\*` a literal star */
	if (p[0] == '*') {
		lead = true;
		p++;
		len--;
	}
	if (len > 0 && p[len - 1] == '*' && (len < 2 || p[len - 2] != '\\')) {
		trail = true;
		len--;
	}
	for (size_t i = 0; i < len && pn < sizeof(pat) - 1; i++) {
		if (p[i] == '\\' && i + 1 < len && p[i + 1] == '*')
			i++;
		pat[pn++] = p[i];
	}
	pat[pn] = '\0';
	mode = lead && !trail ? 2 : trail && !lead ? 1 : 0;
	if (pn == 0)
		return lead || trail;	/* "*": everyone */
	/* numbers on both sides are compared without prefixes and separators */
	if (phone_like(pat, pn) && phone_like(user, user_len)) {
		an = phone_norm(pat, pn, a, sizeof(a));
		bn = phone_norm(user, user_len, b, sizeof(b));
		return an > 0 && has_at(b, bn, a, an, mode);
	}
	return has_at(user, user_len, pat, pn, mode);
}
