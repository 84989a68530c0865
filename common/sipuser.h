/*
 * sipuser.h — does a --sipuser pattern (voip.sipuser) match a user?
 *
 * Plain: the user contains it; `x*` a prefix, `*x` a suffix, `\*` a
 * literal star, `*` everyone.  When both look like telephone numbers they
 * are compared without separators and international prefixes (+, 00, 011).
 * Case-insensitive.
 */
#ifndef STH_SIPUSER_H
#define STH_SIPUSER_H

#include <stdbool.h>
#include <stddef.h>

bool sipuser_match(const char *pattern, const char *user, size_t user_len);

#endif
