/* Unit tests: compiled globs give fnmatch's answers, by the fast paths too. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "core/glob.h"

static int match(const char *pattern, int casefold, const char *subject)
{
	struct glob g;
	char err[256], low[256];
	if (glob_compile(pattern, casefold, &g, err, sizeof(err)) < 0)
		fail_msg("%s: %s", pattern, err);
	long n = casefold ? glob_lower(subject, low, sizeof(low)) : (long)strlen(subject);
	assert_true(n >= 0);
	int m = glob_match(&g, casefold ? low : subject, (size_t)n);
	glob_free(&g);
	return m;
}

static enum glob_kind kind(const char *pattern)
{
	struct glob g;
	char err[256];
	assert_int_equal(glob_compile(pattern, 1, &g, err, sizeof(err)), 0);
	enum glob_kind k = g.kind;
	glob_free(&g);
	return k;
}

static void test_shapes_take_the_fast_path(void **st)
{
	(void)st;
	assert_int_equal(kind("example.com"), GLOB_LITERAL);
	assert_int_equal(kind("*"), GLOB_ANY);
	assert_int_equal(kind("*.google.com"), GLOB_SUFFIX);
	assert_int_equal(kind("bounce-*"), GLOB_PREFIX);
	assert_int_equal(kind("*@*.example.com"), GLOB_FNMATCH);
	assert_int_equal(kind("mx?.example.com"), GLOB_FNMATCH);
	assert_int_equal(kind("\\*.example.com"), GLOB_FNMATCH);
	assert_int_equal(kind("[ab].example.com"), GLOB_FNMATCH);
}

static void test_matches_like_fnmatch(void **st)
{
	(void)st;
	assert_true(match("example.com", 1, "EXAMPLE.com"));
	assert_false(match("example.com", 1, "example.co"));
	assert_false(match("example.com", 1, "xexample.com"));
	assert_true(match("*.google.com", 1, "aspmx.l.GOOGLE.com"));
	assert_false(match("*.google.com", 1, "google.com"));
	assert_false(match("*.google.com", 1, "notgoogle.com"));
	assert_true(match("*", 1, ""));
	assert_true(match("bounce-*", 1, "Bounce-123@x"));
	assert_false(match("bounce-*", 1, "bounce"));
	assert_true(match("*@*.example.com", 1, "a@news.example.com"));
	assert_false(match("*@*.example.com", 1, "a@example.com"));
	assert_true(match("mx?.example.com", 1, "mx1.example.com"));
	assert_true(match("[ab]*.example.com", 1, "B1.example.com"));
	assert_true(match("\\*.example.com", 1, "*.example.com"));
	assert_false(match("\\*.example.com", 1, "a.example.com"));
	assert_true(match("[[:digit:]]*", 1, "1x"));
	/* case-sensitive globs keep their case */
	assert_true(match("Alice", 0, "Alice"));
	assert_false(match("Alice", 0, "alice"));
	assert_false(match("A*", 0, "alice"));
	/* UTF-8 bytes are compared as bytes; ASCII case folding leaves them alone */
	assert_false(match("*.bücher.example", 1, "www.BÜCHER.example"));
	assert_true(match("*.bücher.example", 1, "www.Bücher.example"));
}

static void test_malformed_patterns_are_refused(void **st)
{
	struct glob g;
	char err[256];
	(void)st;
	assert_int_equal(glob_compile("[abc", 1, &g, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "'[' without its ']'"));
	assert_int_equal(glob_compile("abc\\", 1, &g, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "lone backslash"));
	assert_int_equal(glob_compile("[[:alpha:", 1, &g, err, sizeof(err)), -1);
	assert_int_equal(glob_compile("[]]x", 1, &g, err, sizeof(err)), 0);  /* ']' first is a member */
	glob_free(&g);
	char low[4];
	assert_int_equal(glob_lower("abcd", low, sizeof(low)), -1);
	assert_int_equal(glob_lower("ABC", low, sizeof(low)), 3);
	assert_string_equal(low, "abc");
}

/* The classifiers' patterns: pieces in order, anywhere, pattern case ignored. */
static void test_pieces_in_order(void **state)
{
	(void)state;
	const char *t = "550 5.7.1 service unavailable; client host [192.0.2.1] blocked using zen.spamhaus.org";
	assert_int_equal(glob_pieces_in("Blocked using*SPAMHAUS", t), 1);
	assert_int_equal(glob_pieces_in("spamhaus*blocked", t), 0);   /* order counts */
	assert_int_equal(glob_pieces_in("*client host**blocked*", t), 1);
	assert_int_equal(glob_pieces_in("", t), 1);
	assert_int_equal(glob_pieces_in("nothing", ""), 0);
	char longp[GLOB_PIECE_MAX + 2];
	memset(longp, 'a', sizeof(longp) - 1);
	longp[sizeof(longp) - 1] = '\0';
	assert_int_equal(glob_pieces_in(longp, t), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shapes_take_the_fast_path),
		cmocka_unit_test(test_matches_like_fnmatch),
		cmocka_unit_test(test_malformed_patterns_are_refused),
		cmocka_unit_test(test_pieces_in_order),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
