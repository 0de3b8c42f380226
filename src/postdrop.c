/*
 * outpost-postdrop: puts one drop file into the maildrop for a user who
 * may not write there, as Postfix's postdrop does.  Installed setgid to
 * the group of the maildrop (the packages make it setgid outpost; the
 * maildrop is mode 1730 outpost:outpost), run by `outpost sendmail` when
 * outpostd cannot be reached.
 *
 *     outpost-postdrop MAILDROP_DIR < DROPFILE
 *
 * Contract: reads a whole drop file (spool/maildrop.h) from stdin, checks
 * it is one (so nothing else can be put there through this helper), and
 * stores it atomically.  When it runs setgid (its effective group is not
 * the caller's), the directory must be a real directory (not a link) of
 * that group with the sticky bit, i.e. a maildrop: the extra group buys
 * nothing but adding a drop file to a maildrop.  The environment is not
 * used.  Exit: 0 stored, 65 not a drop file, 64 usage, 75 cannot store,
 * 77 the directory is not a maildrop.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "spool/maildrop.h"

#define MAX_DROP ((size_t)1 << 30)

/* LeakSanitizer cannot inspect a setgid process (it is not dumpable, so
 * it cannot read its own /proc entries or options) and would abort it at
 * exit: it is off when this runs privileged (sanitizer builds only). */
int __lsan_is_turned_off(void);
int __lsan_is_turned_off(void)
{
	return getegid() != getgid();
}

static int fail(int code, const char *what, const char *detail)
{
	fprintf(stderr, "outpost-postdrop: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
	return code;
}

static int is_maildrop(const char *dir)
{
	struct stat st;
	if (getegid() == getgid())
		return 1;   /* not privileged: the caller's own rights decide */
	return lstat(dir, &st) == 0 && S_ISDIR(st.st_mode) && st.st_gid == getegid() &&
	       (st.st_mode & S_ISVTX) && !(st.st_mode & S_IWOTH);
}

int main(int argc, char **argv)
{
	struct buf data = BUF_INIT;
	struct maildrop_env env;
	char err[512];
	size_t off, n;
	if (argc != 2)
		return fail(64, "usage: outpost-postdrop MAILDROP_DIR < DROPFILE", NULL);
	if (!is_maildrop(argv[1]))
		return fail(77, argv[1], "not a maildrop of this program's group (mode 1730)");
	static char chunk[65536];
	while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0) {
		buf_append(&data, chunk, n);
		if (data.len > MAX_DROP)
			return fail(65, "input too large", NULL);
	}
	if (maildrop_parse(data.data, data.len, &env, &off, err, sizeof(err)) < 0)
		return fail(65, "not a drop file", err);
	maildrop_env_free(&env);
	int rc = maildrop_store(argv[1], data.data, data.len, err, sizeof(err)) < 0 ? fail(75, err, NULL) : 0;
	buf_free(&data);
	return rc;
}
