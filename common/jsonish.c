/*
 * jsonish.c — a recursive-descent reader for json-ish text (RFC 8259 JSON
 * with comments, unquoted keys and trailing commas) into json-c objects,
 * keeping the line and column of every key path.
 *
 * Every read goes through jp_peek()/jp_next(), which stop at the end of the
 * input; nesting is capped so that hostile input cannot exhaust the stack.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonish.h"
#include "util.h"

#define JP_MAX_DEPTH 64

struct jp {
	const char *s;
	size_t len, i;
	int line, col;
	char *err;
	size_t errlen;
	struct jsonish_doc *doc;
	int failed;
};

static int
jp_peek(struct jp *p)
{
	return p->i < p->len ? (unsigned char)p->s[p->i] : -1;
}

static int
jp_next(struct jp *p)
{
	int c = jp_peek(p);

	if (c < 0)
		return -1;
	p->i++;
	if (c == '\n') {
		p->line++;
		p->col = 1;
	} else
		p->col++;
	return c;
}

static void
jp_found(struct jp *p, char *buf, size_t size)
{
	int c = jp_peek(p);

	if (c < 0)
		snprintf(buf, size, "end of input");
	else if (isprint(c))
		snprintf(buf, size, "'%c'", c);
	else
		snprintf(buf, size, "byte 0x%02x", c);
}

static int
jp_fail(struct jp *p, const char *expected)
{
	char found[32];

	if (p->failed)
		return -1;
	jp_found(p, found, sizeof(found));
	snprintf(p->err, p->errlen, "%d:%d: expected %s, found %s",
	    p->line, p->col, expected, found);
	p->failed = 1;
	return -1;
}

/* Skips white space and both kinds of comment. */
static int
jp_skip(struct jp *p)
{
	for (;;) {
		int c = jp_peek(p);
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
			jp_next(p);
		} else if (c == '/' && p->i + 1 < p->len && p->s[p->i + 1] == '/') {
			while ((c = jp_peek(p)) >= 0 && c != '\n')
				jp_next(p);
		} else if (c == '/' && p->i + 1 < p->len && p->s[p->i + 1] == '*') {
			jp_next(p);
			jp_next(p);
			for (;;) {
				c = jp_next(p);
				if (c < 0)
					return jp_fail(p, "'*/' closing the comment");
				if (c == '*' && jp_peek(p) == '/') {
					jp_next(p);
					break;
				}
			}
		} else
			return 0;
	}
}

static void
jp_addpos(struct jp *p, const char *path, int line, int col)
{
	struct jsonish_doc *d = p->doc;

	if (d->npos == d->cappos) {
		d->cappos = d->cappos ? d->cappos * 2 : 32;
		d->pos = xrealloc(d->pos, d->cappos * sizeof(*d->pos));
	}
	d->pos[d->npos].path = xstrdup(path);
	d->pos[d->npos].line = line;
	d->pos[d->npos].col = col;
	d->npos++;
}

/* Appends UTF-8 for code point cp to buf. */
static void
jp_utf8(char **buf, size_t *n, size_t *cap, unsigned cp)
{
	unsigned char tmp[4];
	size_t k = 0;

	if (cp < 0x80)
		tmp[k++] = (unsigned char)cp;
	else if (cp < 0x800) {
		tmp[k++] = (unsigned char)(0xC0 | (cp >> 6));
		tmp[k++] = (unsigned char)(0x80 | (cp & 0x3F));
	} else if (cp < 0x10000) {
		tmp[k++] = (unsigned char)(0xE0 | (cp >> 12));
		tmp[k++] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
		tmp[k++] = (unsigned char)(0x80 | (cp & 0x3F));
	} else {
		tmp[k++] = (unsigned char)(0xF0 | (cp >> 18));
		tmp[k++] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
		tmp[k++] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
		tmp[k++] = (unsigned char)(0x80 | (cp & 0x3F));
	}
	if (*n + k + 1 > *cap) {
		*cap = (*n + k + 1) * 2;
		*buf = xrealloc(*buf, *cap);
	}
	memcpy(*buf + *n, tmp, k);
	*n += k;
}

static int
jp_hex4(struct jp *p, unsigned *out)
{
	unsigned v = 0;

	for (int k = 0; k < 4; k++) {
		int c = jp_peek(p);
		if (!isxdigit(c))
			return jp_fail(p, "4 hex digits after \\u");
		jp_next(p);
		v = v * 16 + (unsigned)(isdigit(c) ? c - '0' : (tolower(c) - 'a' + 10));
	}
	*out = v;
	return 0;
}

/* Reads a quoted string (" or ') into a new buffer. */
static char *
jp_string(struct jp *p, size_t *outlen)
{
	int q = jp_next(p);
	size_t n = 0, cap = 32;
	char *buf = xmalloc(cap);

	for (;;) {
		int c = jp_peek(p);
		if (c < 0 || c == '\n') {
			jp_fail(p, "closing quote of the string");
			free(buf);
			return NULL;
		}
		jp_next(p);
		if (c == q)
			break;
		if (c == '\\') {
			unsigned cp;
			c = jp_peek(p);
			switch (c) {
			case '"': case '\\': case '/': case '\'': cp = (unsigned)c; break;
			case 'b': cp = '\b'; break;
			case 'f': cp = '\f'; break;
			case 'n': cp = '\n'; break;
			case 'r': cp = '\r'; break;
			case 't': cp = '\t'; break;
			case 'u':
				jp_next(p);
				if (jp_hex4(p, &cp) < 0) {
					free(buf);
					return NULL;
				}
				if (cp >= 0xD800 && cp < 0xDC00 && jp_peek(p) == '\\') {
					unsigned lo;
					jp_next(p);
					if (jp_next(p) != 'u' || jp_hex4(p, &lo) < 0 ||
					    lo < 0xDC00 || lo > 0xDFFF) {
						jp_fail(p, "a low surrogate \\uDC00-\\uDFFF");
						free(buf);
						return NULL;
					}
					cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
				} else if (cp >= 0xD800 && cp < 0xE000)
					cp = 0xFFFD;
				jp_utf8(&buf, &n, &cap, cp);
				continue;
			default:
				jp_fail(p, "a valid escape (\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u)");
				free(buf);
				return NULL;
			}
			jp_next(p);
			c = (int)cp;
		}
		if (n + 2 > cap) {
			cap *= 2;
			buf = xrealloc(buf, cap);
		}
		buf[n++] = (char)c;
	}
	buf[n] = '\0';
	*outlen = n;
	return buf;
}

static int
jp_keychar(int c)
{
	return isalnum(c) || c == '_' || c == '-' || c == '$' || c == '.';
}

static struct json_object *jp_value(struct jp *p, const char *path, int depth);

static struct json_object *
jp_object(struct jp *p, const char *path, int depth)
{
	struct json_object *obj = json_object_new_object();

	jp_next(p);		/* '{' */
	for (;;) {
		char *key;
		size_t klen;
		int line, col;
		struct json_object *v;

		if (jp_skip(p) < 0)
			goto bad;
		if (jp_peek(p) == '}') {
			jp_next(p);
			return obj;
		}
		line = p->line;
		col = p->col;
		if (jp_peek(p) == '"' || jp_peek(p) == '\'') {
			key = jp_string(p, &klen);
			if (key == NULL)
				goto bad;
		} else if (jp_peek(p) >= 0 && jp_keychar(jp_peek(p))) {
			size_t st = p->i;
			while (jp_peek(p) >= 0 && jp_keychar(jp_peek(p)))
				jp_next(p);
			klen = p->i - st;
			key = xmalloc(klen + 1);
			memcpy(key, p->s + st, klen);
			key[klen] = '\0';
		} else {
			jp_fail(p, "a key or '}'");
			goto bad;
		}
		if (jp_skip(p) < 0 || jp_peek(p) != ':') {
			jp_fail(p, "':' after the key");
			free(key);
			goto bad;
		}
		jp_next(p);
		{
			size_t plen = strlen(path) + klen + 2;
			char *sub = xmalloc(plen);
			snprintf(sub, plen, "%s%s%s", path, *path ? "." : "", key);
			jp_addpos(p, sub, line, col);
			v = jp_value(p, sub, depth + 1);
			free(sub);
		}
		if (p->failed) {
			free(key);
			goto bad;
		}
		json_object_object_add(obj, key, v);
		free(key);
		if (jp_skip(p) < 0)
			goto bad;
		if (jp_peek(p) == ',') {
			jp_next(p);
			continue;
		}
		if (jp_peek(p) == '}') {
			jp_next(p);
			return obj;
		}
		jp_fail(p, "',' or '}'");
		goto bad;
	}
bad:
	json_object_put(obj);
	return NULL;
}

static struct json_object *
jp_array(struct jp *p, const char *path, int depth)
{
	struct json_object *arr = json_object_new_array();
	size_t idx = 0;

	jp_next(p);		/* '[' */
	for (;;) {
		struct json_object *v;
		char sub[512];

		if (jp_skip(p) < 0)
			goto bad;
		if (jp_peek(p) == ']') {
			jp_next(p);
			return arr;
		}
		snprintf(sub, sizeof(sub), "%s[%zu]", path, idx++);
		jp_addpos(p, sub, p->line, p->col);
		v = jp_value(p, sub, depth + 1);
		if (p->failed)
			goto bad;
		json_object_array_add(arr, v);
		if (jp_skip(p) < 0)
			goto bad;
		if (jp_peek(p) == ',') {
			jp_next(p);
			continue;
		}
		if (jp_peek(p) == ']') {
			jp_next(p);
			return arr;
		}
		jp_fail(p, "',' or ']'");
		goto bad;
	}
bad:
	json_object_put(arr);
	return NULL;
}

static struct json_object *
jp_number(struct jp *p)
{
	size_t st = p->i;
	int isfloat = 0;
	char buf[64];
	char *end;

	if (jp_peek(p) == '-' || jp_peek(p) == '+')
		jp_next(p);
	if (!isdigit(jp_peek(p))) {
		jp_fail(p, "a digit");
		return NULL;
	}
	while (isdigit(jp_peek(p)))
		jp_next(p);
	if (jp_peek(p) == '.') {
		isfloat = 1;
		jp_next(p);
		while (isdigit(jp_peek(p)))
			jp_next(p);
	}
	if (jp_peek(p) == 'e' || jp_peek(p) == 'E') {
		isfloat = 1;
		jp_next(p);
		if (jp_peek(p) == '-' || jp_peek(p) == '+')
			jp_next(p);
		if (!isdigit(jp_peek(p))) {
			jp_fail(p, "a digit in the exponent");
			return NULL;
		}
		while (isdigit(jp_peek(p)))
			jp_next(p);
	}
	if (p->i - st >= sizeof(buf)) {
		jp_fail(p, "a shorter number");
		return NULL;
	}
	memcpy(buf, p->s + st, p->i - st);
	buf[p->i - st] = '\0';
	errno = 0;
	if (!isfloat) {
		long long v = strtoll(buf, &end, 10);
		if (errno == 0)
			return json_object_new_int64(v);
	}
	{
		double d = strtod(buf, &end);
		if (!isfinite(d)) {
			jp_fail(p, "a finite number");
			return NULL;
		}
		return json_object_new_double(d);
	}
}

static int
jp_word(struct jp *p, const char *w)
{
	size_t n = strlen(w);

	if (p->len - p->i >= n && memcmp(p->s + p->i, w, n) == 0 &&
	    (p->i + n == p->len || !jp_keychar((unsigned char)p->s[p->i + n]))) {
		for (size_t k = 0; k < n; k++)
			jp_next(p);
		return 1;
	}
	return 0;
}

static struct json_object *
jp_value(struct jp *p, const char *path, int depth)
{
	int c;

	if (depth > JP_MAX_DEPTH) {
		jp_fail(p, "nesting no deeper than 64 levels");
		return NULL;
	}
	if (jp_skip(p) < 0)
		return NULL;
	c = jp_peek(p);
	if (c == '{')
		return jp_object(p, path, depth);
	if (c == '[')
		return jp_array(p, path, depth);
	if (c == '"' || c == '\'') {
		size_t n;
		char *s = jp_string(p, &n);
		struct json_object *o;
		if (s == NULL)
			return NULL;
		o = json_object_new_string_len(s, (int)n);
		free(s);
		return o;
	}
	if (c == '-' || c == '+' || isdigit(c))
		return jp_number(p);
	if (jp_word(p, "true"))
		return json_object_new_boolean(1);
	if (jp_word(p, "false"))
		return json_object_new_boolean(0);
	if (jp_word(p, "null"))
		return NULL;
	jp_fail(p, "a value (object, array, string, number, true, false, null)");
	return NULL;
}

int
jsonish_parse(const char *text, size_t len, struct jsonish_doc *doc,
    char *err, size_t errlen)
{
	struct jp p = { .s = text, .len = len, .line = 1, .col = 1,
	    .err = err, .errlen = errlen, .doc = doc };

	memset(doc, 0, sizeof(*doc));
	if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
		p.i = 3;	/* a UTF-8 byte order mark */
	if (jp_skip(&p) < 0)
		goto bad;
	if (jp_peek(&p) != '{') {
		jp_fail(&p, "'{' opening the configuration object");
		goto bad;
	}
	doc->root = jp_value(&p, "", 0);
	if (p.failed)
		goto bad;
	if (jp_skip(&p) < 0)
		goto bad;
	if (jp_peek(&p) >= 0) {
		jp_fail(&p, "end of input after the top-level object");
		goto bad;
	}
	return 0;
bad:
	jsonish_free(doc);
	return -1;
}

const struct jsonish_pos *
jsonish_find(const struct jsonish_doc *doc, const char *path)
{
	/* The last occurrence wins, as with a duplicated key. */
	for (size_t k = doc->npos; k-- > 0;)
		if (strcmp(doc->pos[k].path, path) == 0)
			return &doc->pos[k];
	return NULL;
}

void
jsonish_free(struct jsonish_doc *doc)
{
	if (doc->root != NULL)
		json_object_put(doc->root);
	for (size_t k = 0; k < doc->npos; k++)
		free(doc->pos[k].path);
	free(doc->pos);
	memset(doc, 0, sizeof(*doc));
}
