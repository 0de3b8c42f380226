/*
 * tmpdir: a private directory under /tmp for one unit test, and its removal
 * with everything in it.  Header-only: included by the tests that need it.
 */
#ifndef OUTPOST_TEST_TMPDIR_H
#define OUTPOST_TEST_TMPDIR_H
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline int tmpdir_rm_entry(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st, (void)flag, (void)f;
	return remove(path);
}

/* Makes /tmp/outpost-NAME-XXXXXX in out; 0 or -1. */
static inline int tmpdir_make(char *out, size_t outlen, const char *name)
{
	int n = snprintf(out, outlen, "/tmp/outpost-%s-XXXXXX", name);
	if (n < 0 || (size_t)n >= outlen)
		return -1;
	return mkdtemp(out) ? 0 : -1;
}

static inline int tmpdir_remove(const char *dir)
{
	return nftw(dir, tmpdir_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
