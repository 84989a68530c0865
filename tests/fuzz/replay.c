/*
 * replay.c — runs a fuzz target over files and directories of inputs
 * (its corpus), for `make test` with any compiler.  Prints one TAP line
 * per corpus directory.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long n;

	if (f == NULL)
		return -1;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc(n > 0 ? (size_t)n : 1);
	if (buf == NULL || (n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n)) {
		fclose(f);
		free(buf);
		return -1;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, (size_t)n);
	free(buf);
	return 0;
}

int
main(int argc, char **argv)
{
	int num = 0, bad = 0;

	for (int i = 1; i < argc; i++) {
		struct stat sb;
		size_t count = 0;
		if (stat(argv[i], &sb) < 0) {
			printf("not ok %d - %s: missing\n", ++num, argv[i]);
			bad = 1;
			continue;
		}
		if (S_ISDIR(sb.st_mode)) {
			DIR *d = opendir(argv[i]);
			struct dirent *e;
			while (d && (e = readdir(d)) != NULL) {
				char p[4096];
				if (e->d_name[0] == '.')
					continue;
				snprintf(p, sizeof(p), "%s/%s", argv[i], e->d_name);
				if (run_file(p) == 0)
					count++;
			}
			if (d)
				closedir(d);
		} else if (run_file(argv[i]) == 0)
			count++;
		/* Reaching here means no input crashed or tripped a sanitizer. */
		printf("ok %d - replay %s (%zu inputs)\n", ++num, argv[i], count);
	}
	printf("1..%d\n", num);
	return bad;
}
