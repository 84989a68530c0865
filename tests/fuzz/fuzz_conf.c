/*
 * fuzz_conf.c — the configuration as a daemon loads it: the json-ish
 * reader and the schema walk on arbitrary text, with environment
 * variables and command-line overrides over it.
 *
 * Input: the file's text, then (after a NUL byte, if any) lines:
 *   NAME=VALUE     the variable STETHOSCOPE_NAME set to VALUE
 *   -PATH=VALUE    a command-line override of the key at PATH
 * A file with no NUL is the file alone (the corpus of before).
 *
 * When it loads without an error, the keys given, printed
 * (CONF_PRINT_GIVEN) and loaded again without the environment, must give
 * the same configuration: that is how the launcher hands the daemons
 * their configuration.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NVAR 16

static void
differs(const char *key, const char *was, const char *now, void *arg)
{
	(void)arg;
	fprintf(stderr, "fuzz_conf: %s was %s, loaded again %s\n", key, was, now);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[64];
	struct conf c, again;
	struct conf_diag d, d2;
	struct conf_override ov[NVAR];
	char *vars[NVAR], *tail = NULL;
	size_t nvar = 0, nov = 0, flen = size;
	FILE *f;
	int rc;

	if (size > 65536)
		return 0;
	if (path[0] == '\0') {
		/* in memory where there is a tmpfs: a file a run */
		snprintf(path, sizeof(path), "%s/fuzz_conf.%ld.json",
		    access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp", (long)getpid());
		unsetenv("STETHOSCOPE_CONFIG");
	}
	const uint8_t *nul = memchr(data, '\0', size);
	if (nul != NULL) {
		flen = (size_t)(nul - data);
		tail = strndup((const char *)nul + 1, size - flen - 1);
		for (char *save = NULL, *l = strtok_r(tail, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
			char *eq = strchr(l, '=');
			if (eq == NULL || eq == l)
				continue;
			*eq = '\0';
			if (*l == '-' && nov < NVAR && l[1] != '\0')
				ov[nov++] = (struct conf_override){ l + 1, eq + 1 };
			else if (*l != '-' && nvar < NVAR) {
				char name[128];
				snprintf(name, sizeof(name), "STETHOSCOPE_%s", l);
				if (setenv(name, eq + 1, 1) == 0)
					vars[nvar++] = strdup(name);
			}
		}
	}
	if ((f = fopen(path, "w")) == NULL)
		abort();
	fwrite(data, 1, flen, f);
	fclose(f);
	rc = conf_load(&c, path, ov, nov, 0, &d);
	if (rc == 0 && d.nerrors == 0) {
		char *filter = conf_capture_filter(&c), *txt = NULL;
		size_t tlen = 0;
		FILE *m = open_memstream(&txt, &tlen);
		free(filter);
		conf_print_effective_ex(&c, m, CONF_PRINT_GIVEN);
		fclose(m);
		if (conf_load_text(&again, path, txt, tlen, CONF_NO_ENV, &d2) != 0) {
			for (size_t k = 0; k < d2.nerrors; k++)
				fprintf(stderr, "fuzz_conf: loaded again: %s\n%s\n", d2.errors[k], txt);
			abort();
		}
		if (conf_diff(&c, &again, differs, NULL) != 0)
			abort();
		conf_free(&again);
		conf_diag_free(&d2);
		free(txt);
	}
	conf_free(&c);
	conf_diag_free(&d);
	for (size_t k = 0; k < nvar; k++) {
		unsetenv(vars[k]);
		free(vars[k]);
	}
	free(tail);
	unlink(path);
	return 0;
}
