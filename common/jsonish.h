/*
 * jsonish.h — the json-ish reader: JSON plus `//` and `/ * * /` comments,
 * unquoted keys (letters, digits, `_`, `-`, `$`, `.`), single-quoted
 * strings and trailing commas, as the Go version's configs are written.
 *
 * It builds json-c objects (json-c itself keeps no positions) and a map
 * from each key path ("io.output.listener.port_range_start",
 * "control.default_cats[1]") to the line and column where it starts: the
 * key of an object member, the value of an array element.
 */
#ifndef STH_JSONISH_H
#define STH_JSONISH_H

#include <stddef.h>
#include <json-c/json.h>

struct jsonish_pos {
	char *path;
	int line, col;		/* 1-based: the key (array elements: the value) */
};

struct jsonish_doc {
	struct json_object *root;
	struct jsonish_pos *pos;
	size_t npos, cappos;
};

/* Parses text[0..len).  On success fills doc (caller frees with
 * jsonish_free) and returns 0.  On a syntax error returns -1 and writes
 * "LINE:COL: expected WHAT, found WHAT" into err.  Nesting deeper than 64
 * levels is an error (hostile input must not exhaust the stack). */
int jsonish_parse(const char *text, size_t len, struct jsonish_doc *doc,
    char *err, size_t errlen);

/* Position of path's value, or NULL when the path has none. */
const struct jsonish_pos *jsonish_find(const struct jsonish_doc *doc,
    const char *path);

void jsonish_free(struct jsonish_doc *doc);

#endif
