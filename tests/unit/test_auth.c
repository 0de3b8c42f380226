/* Unit tests: base64, SASL PLAIN splitting, the users file and password checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/base64.h"
#include "inbound/auth.h"

static void test_base64(void **st)
{
	char out[64];
	(void)st;
	assert_int_equal(base64_decode("AGFsaWNlAHNlY3JldA==", 20, out, sizeof(out)), 13);
	assert_memory_equal(out, "\0alice\0secret", 13);
	assert_int_equal(base64_decode("", 0, out, sizeof(out)), 0);
	assert_int_equal(base64_decode("YQ", 2, out, sizeof(out)), -1);       /* no padding */
	assert_int_equal(base64_decode("Y===", 4, out, sizeof(out)), -1);     /* too much padding */
	assert_int_equal(base64_decode("YQ==YQ==", 8, out, sizeof(out)), -1); /* padding inside */
	assert_int_equal(base64_decode("YW*j", 4, out, sizeof(out)), -1);
	assert_int_equal(base64_decode("YWJj", 4, out, 3), -1);               /* no room for NUL */
	char enc[16];
	base64_encode((const unsigned char *)"abcd", 4, enc, sizeof(enc));
	assert_string_equal(enc, "YWJjZA==");
}

static void test_sasl_plain(void **st)
{
	char u[32], p[32];
	(void)st;
	assert_int_equal(sasl_plain_split("\0alice\0pw", 9, u, sizeof(u), p, sizeof(p)), 0);
	assert_string_equal(u, "alice");
	assert_string_equal(p, "pw");
	assert_int_equal(sasl_plain_split("alice\0alice\0pw", 14, u, sizeof(u), p, sizeof(p)), 0);
	assert_int_equal(sasl_plain_split("bob\0alice\0pw", 12, u, sizeof(u), p, sizeof(p)), -1);
	assert_int_equal(sasl_plain_split("\0\0pw", 4, u, sizeof(u), p, sizeof(p)), -1);
	assert_int_equal(sasl_plain_split("\0alice", 6, u, sizeof(u), p, sizeof(p)), -1);
	assert_int_equal(sasl_plain_split("\0alice\0p\0w", 10, u, sizeof(u), p, sizeof(p)), -1);
}

static char *write_users(const char *text, mode_t mode)
{
	char *path = strdup("/tmp/outpost-users-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	fchmod(fd, mode);
	close(fd);
	return path;
}

/* "secret", hashed with SHA-512 crypt (mkpasswd -m sha-512 secret saltsalt) */
#define HASH "$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1"

static void test_users_file(void **st)
{
	char err[256];
	(void)st;
	char *path = write_users("# users\nalice:" HASH ":example.com, Example.ORG\n\nbob:" HASH ":*\n", 0600);
	struct users *u = users_load(path, err, sizeof(err));
	assert_non_null(u);
	assert_true(users_verify(u, "alice", "secret"));
	assert_false(users_verify(u, "alice", "Secret"));
	assert_false(users_verify(u, "nobody", "secret"));
	const struct user *a = users_find(u, "alice");
	assert_true(user_owns_domain(a, "EXAMPLE.com"));
	assert_true(user_owns_domain(a, "example.org"));
	assert_false(user_owns_domain(a, "evil.example"));
	assert_true(user_owns_domain(users_find(u, "bob"), "anything.example"));
	users_free(u);
	unlink(path);
	free(path);
}

static void test_users_file_errors(void **st)
{
	char err[256];
	(void)st;
	static const struct { const char *text; const char *msg; } bad[] = {
		{ "alice:plaintext:example.com\n", ":1: password must be a crypt(3) hash" },
		{ "alice:" HASH "\n", ":1: expected name:hash:domains" },
		{ "\nalice:" HASH ":\n", ":2: expected a comma-separated list" },
		{ "alice:" HASH ":a.example\nalice:" HASH ":b.example\n", ":2: duplicate user" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *path = write_users(bad[i].text, 0600);
		assert_null(users_load(path, err, sizeof(err)));
		assert_non_null(strstr(err, bad[i].msg));
		unlink(path);
		free(path);
	}
	char *path = write_users("alice:" HASH ":a.example\n", 0644);
	assert_null(users_load(path, err, sizeof(err)));
	assert_non_null(strstr(err, "readable by group or others"));
	unlink(path);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_base64),
		cmocka_unit_test(test_sasl_plain),
		cmocka_unit_test(test_users_file),
		cmocka_unit_test(test_users_file_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
