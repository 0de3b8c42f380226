/*
 * golden: compare text people read with a reference file, as Postfix's
 * .ref files do.  tests/golden/NAME.ref holds the expected text (CRLF
 * written as LF, so the file reads as it prints).  With GOLDEN_UPDATE=1 in
 * the environment the reference is rewritten from the output instead
 * (then review it with `git diff tests/golden`).  Unit tests run with the
 * source directory as working directory (meson.build: workdir).
 */
#ifndef OUTPOST_TEST_GOLDEN_H
#define OUTPOST_TEST_GOLDEN_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* text with every CRLF as LF, in memory of its own */
static char *golden_lf(const char *text, size_t len, size_t *outlen)
{
	char *o = malloc(len + 1);
	size_t n = 0;
	if (o == NULL)
		abort();
	for (size_t i = 0; i < len; i++)
		if (!(text[i] == '\r' && i + 1 < len && text[i + 1] == '\n'))
			o[n++] = text[i];
	o[n] = '\0';
	*outlen = n;
	return o;
}

/* 0 when text matches tests/golden/NAME.ref (or was written to it). */
static int golden_check(const char *name, const char *text, size_t len)
{
	char path[256];
	size_t n;
	snprintf(path, sizeof(path), "tests/golden/%s.ref", name);
	char *got = golden_lf(text, len, &n);
	const char *update = getenv("GOLDEN_UPDATE");
	if (update && strcmp(update, "1") == 0) {
		FILE *f = fopen(path, "wb");
		int ok = f && fwrite(got, 1, n, f) == n;
		if (f && fclose(f) != 0)
			ok = 0;
		free(got);
		fprintf(stderr, "golden: %s %s\n", ok ? "wrote" : "cannot write", path);
		return ok ? 0 : -1;
	}
	FILE *f = fopen(path, "rb");
	char *want = calloc(1, 1 << 20);
	size_t wn = f && want ? fread(want, 1, (1 << 20) - 1, f) : 0;
	if (f)
		fclose(f);
	int rc = 0;
	if (f == NULL || want == NULL) {
		fprintf(stderr, "golden: cannot read %s (make it with GOLDEN_UPDATE=1)\n", path);
		rc = -1;
	} else if (wn != n || memcmp(want, got, n) != 0) {
		size_t i = 0, line = 1, start = 0;
		for (; i < n && i < wn && want[i] == got[i]; i++)
			if (got[i] == '\n') {
				line++;
				start = i + 1;
			}
		fprintf(stderr, "golden: %s differs at line %zu:\n  want: %.*s\n  got:  %.*s\n"
			"(if the change is meant, GOLDEN_UPDATE=1 rewrites the reference)\n", path, line,
			(int)strcspn(want + start, "\n"), want + start, (int)strcspn(got + start, "\n"),
			got + start);
		rc = -1;
	}
	free(want);
	free(got);
	return rc;
}

#endif
