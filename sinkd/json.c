/*
 * json.c — the json family: every event it is given, one JSON object per
 * line, to io.output.json.path ("-": standard output), filtered by
 * io.output.json.cats.  In a pipeline it takes the events in the record
 * stream; under the launcher the events come from ctld, which sees every
 * daemon's.  A line that is not a JSON object is counted, not written.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "counters.h"
#include "log.h"
#include "sinkd.h"
#include "util.h"

struct jstate {
	FILE *out;
	uint64_t written, filtered, bad, write_errors;
	struct json_tokener *tok;
};

static int
json_prepare(struct sinkd *D, char *err, size_t errlen)
{
	struct jstate *J = xcalloc(1, sizeof(*J));
	const char *p = D->c->json_path ? D->c->json_path : "-";

	if (strcmp(p, "-") == 0)
		J->out = stdout;
	else {
		int fd = open(p, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (fd < 0 || (J->out = fdopen(fd, "a")) == NULL) {
			snprintf(err, errlen, "io.output.json.path %s: %s", p, strerror(errno));
			free(J);
			return -1;
		}
	}
	J->tok = json_tokener_new();
	D->fs = J;
	return 0;
}

static bool
cat_wanted(const struct sinkd *D, const char *cat)
{
	const struct conf_strlist *l = &D->c->json_cats;

	if (l->n == 0)
		return true;
	for (size_t k = 0; k < l->n; k++)
		if (strcmp(l->v[k], cat) == 0 || strcmp(l->v[k], "all") == 0)
			return true;
	return false;
}

static void
json_event(struct sinkd *D, unsigned input, const char *txt, size_t len)
{
	struct jstate *J = D->fs;
	struct json_object *o, *cat;

	(void)input;
	json_tokener_reset(J->tok);
	o = json_tokener_parse_ex(J->tok, txt, (int)len);
	if (o == NULL || !json_object_is_type(o, json_type_object) ||
	    json_tokener_get_parse_end(J->tok) != len) {
		static struct log_rl rl;
		J->bad++;
		log_ratelimited(&rl, 3, 10000, LOG_WARNING, "an event that is not one JSON object: counted, not written");
		json_object_put(o);
		return;
	}
	if (json_object_object_get_ex(o, "cat", &cat) &&
	    !cat_wanted(D, json_object_get_string(cat))) {
		J->filtered++;
		json_object_put(o);
		return;
	}
	json_object_put(o);
	if (fwrite(txt, 1, len, J->out) != len || putc('\n', J->out) == EOF || fflush(J->out) == EOF) {
		static struct log_rl rl;
		J->write_errors++;
		log_ratelimited(&rl, 1, 10000, LOG_WARNING, "io.output.json.path: %s", strerror(errno));
		return;
	}
	J->written++;
}

static void
json_summary(struct sinkd *D, FILE *f)
{
	struct jstate *J = D->fs;

	fprintf(f, "sinkd json: %" PRIu64 " events written, %" PRIu64 " filtered by cats, %" PRIu64
	    " not JSON, %" PRIu64 " write errors\n", J->written, J->filtered, J->bad, J->write_errors);
}

static void
json_counters(struct sinkd *D, struct ctr_enc *e)
{
	struct jstate *J = D->fs;

	ctr_set(e, CTR_S_JSON_WRITTEN, J->written);
	ctr_set(e, CTR_S_JSON_FILTERED, J->filtered);
	ctr_set(e, CTR_S_JSON_ERRORS, J->bad + J->write_errors);
}

static void
json_free(struct sinkd *D)
{
	struct jstate *J = D->fs;

	json_tokener_free(J->tok);
	if (J->out != stdout)
		fclose(J->out);
	else
		fflush(stdout);
	free(J);
}

const struct family family_json = {
	.name = "json",
	.wants = REC_WANT(REC_EVENT) | REC_WANT(REC_EOS),
	.prepare = json_prepare,
	.event = json_event,
	.summary = json_summary,
	.counters = json_counters,
	.free = json_free,
};
