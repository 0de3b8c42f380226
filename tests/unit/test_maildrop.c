/* Unit tests: the maildrop file format (parse edge cases, round trip) and the atomic store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/buf.h"
#include "spool/maildrop.h"

static int parse(const char *text, struct maildrop_env *env, size_t *off, char *err)
{
	return maildrop_parse(text, strlen(text), env, off, err, 256);
}

static void test_round_trip(void **st)
{
	(void)st;
	char *rcpts[] = { "b@example.net", "c@example.org" };
	struct buf msg = BUF_INIT, out = BUF_INIT;
	buf_puts(&msg, "Subject: x\r\n\r\n.dot line\r\n");
	maildrop_format(&out, "", rcpts, 2, &msg);
	struct maildrop_env env;
	size_t off;
	char err[256];
	assert_int_equal(maildrop_parse(out.data, out.len, &env, &off, err, sizeof(err)), 0);
	assert_string_equal(env.sender, "");
	assert_int_equal(env.nrcpts, 2);
	assert_string_equal(env.rcpts[1], "c@example.org");
	assert_int_equal(out.len - off, msg.len);
	assert_memory_equal(out.data + off, msg.data, msg.len);
	maildrop_env_free(&env);
	buf_free(&msg);
	buf_free(&out);
}

static void test_bad_files(void **st)
{
	static const struct { const char *text, *why; } bad[] = {
		{ "", "not a maildrop file" },
		{ "OUTPOST-MAILDROP 2\nsender <>\nrcpt <a@b>\n\n", "not a maildrop file" },
		{ "OUTPOST-MAILDROP 1\nsender <>", "cut short" },
		{ "OUTPOST-MAILDROP 1\nsender a@b\nrcpt <a@b>\n\n", "expected \"sender <ADDRESS>\"" },
		{ "OUTPOST-MAILDROP 1\nsender <>\n\nbody", "no recipients" },
		{ "OUTPOST-MAILDROP 1\nsender <>\nrcpt <a@b>\n", "no blank line" },
		{ "OUTPOST-MAILDROP 1\nsender <>\nrcpt <root>\n\n", "is not an address" },
		{ "OUTPOST-MAILDROP 1\nsender <>\nrcpt <a b@c>\n\n", "space, control character or bracket" },
		{ "OUTPOST-MAILDROP 1\nsender <a\r@b>\nrcpt <a@b>\n\n", "space, control character or bracket" },
		{ "OUTPOST-MAILDROP 1\nsender <<a@b>\nrcpt <a@b>\n\n", "bracket" },
		{ "OUTPOST-MAILDROP 1\nsender <>\nrcpt <a@b>\nBcc: x\n\n", "expected \"rcpt <ADDRESS>\"" },
		{ "OUTPOST-MAILDROP 1\nsender <>\nrcpt <\n\n", "expected \"rcpt <ADDRESS>\"" },
	};
	(void)st;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct maildrop_env env;
		size_t off;
		char err[256] = "";
		if (parse(bad[i].text, &env, &off, err) != -1 || strstr(err, bad[i].why) == NULL)
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, err, bad[i].why);
	}
	/* an address of 999 octets is one too many */
	struct buf b = BUF_INIT;
	buf_puts(&b, "OUTPOST-MAILDROP 1\nsender <>\nrcpt <");
	for (int i = 0; i < 997; i++)
		buf_putc(&b, 'a');
	buf_puts(&b, "@b>\n\n");
	struct maildrop_env env;
	size_t off;
	char err[256];
	assert_int_equal(maildrop_parse(b.data, b.len, &env, &off, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "longer than 998"));
	buf_free(&b);
}

static void test_store_is_atomic_and_private(void **st)
{
	(void)st;
	char dir[] = "/tmp/outpost-maildrop-XXXXXX", err[256];
	assert_non_null(mkdtemp(dir));
	assert_int_equal(maildrop_store(dir, "abc", 3, err, sizeof(err)), 0);
	DIR *d = opendir(dir);
	struct dirent *de;
	int visible = 0;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		char path[512];
		struct stat sb;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		assert_int_equal(stat(path, &sb), 0);
		assert_int_equal(sb.st_mode & 0777, 0640);
		assert_int_equal(sb.st_size, 3);
		unlink(path);
		visible++;
	}
	closedir(d);
	assert_int_equal(visible, 1);     /* no temporary file left behind */
	rmdir(dir);
	assert_int_equal(maildrop_store("/nonexistent/dir", "abc", 3, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "cannot create a file in /nonexistent/dir"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_bad_files),
		cmocka_unit_test(test_store_is_atomic_and_private),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
