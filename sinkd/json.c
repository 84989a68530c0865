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
#include <sys/stat.h>
#include <unistd.h>

#include "counters.h"
#include "log.h"
#include "sinkd.h"
#include "util.h"

struct jstate {
	FILE *out;
	uint64_t written, filtered, bad, write_errors, cut;
	struct json_tokener *tok;
};

/*
 * A restarted sink (--resume): the number of the last event it wrote
 * ({"seq":N,... first, as ctld sends them), so it asks ctld for what came
 * after.  A last line cut short by the kill is cut off (ctld sends that
 * event again).
 */
static void
json_find_last(struct sinkd *D, struct jstate *J, const char *path)
{
	char *buf;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	size_t want, have = 0, end;
	ssize_t n;

	if (fd < 0 || fstat(fd, &st) < 0 || st.st_size == 0) {
		if (fd >= 0)
			close(fd);
		return;
	}
	want = st.st_size > (1 << 20) ? (size_t)1 << 20 : (size_t)st.st_size;
	buf = xmalloc(want + 1);
	while (have < want && (n = pread(fd, buf + have, want - have,
	    st.st_size - (off_t)want + (off_t)have)) > 0)
		have += (size_t)n;
	close(fd);
	end = have;
	while (end > 0 && buf[end - 1] != '\n')
		end--;
	if (end < have) {
		if (ftruncate(fileno(J->out), st.st_size - (off_t)(have - end)) < 0)
			log_warn("io.output.json.path %s: cannot cut off its last line, cut short", path);
		else {
			J->cut++;
			log_warnx("io.output.json.path %s: its last line was cut short (%zu bytes): cut off, "
			    "it comes again", path, have - end);
		}
	}
	/* back from the end, the last line that starts with its number */
	while (end > 0) {
		size_t b = end - 1;
		while (b > 0 && buf[b - 1] != '\n')
			b--;
		buf[end - 1] = '\0';
		if (strncmp(buf + b, "{\"seq\":", 7) == 0) {
			char *e;
			unsigned long long v = strtoull(buf + b + 7, &e, 10);
			if (e != buf + b + 7 && *e == ',') {
				D->resume_have = true;
				D->resume_since = v;
				break;
			}
		}
		end = b;
	}
	free(buf);
	if (D->resume_have)
		log_info("io.output.json.path %s: going on after event %llu", path,
		    (unsigned long long)D->resume_since);
}

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
	if (D->resume && J->out != stdout)
		json_find_last(D, J, p);
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
	    " not JSON, %" PRIu64 " write errors, %" PRIu64 " last line cut short and written again\n",
	    J->written, J->filtered, J->bad, J->write_errors, J->cut);
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
