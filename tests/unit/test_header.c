/* Unit tests: header field iteration and address-list extraction. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "core/header.h"

static void test_fields_and_folding(void **st)
{
	const char *m = "From: a@b.example\r\nSubject: one\r\n two\r\nmessage-id: <x@y>\r\n\r\nBody: no\r\n";
	struct header_field f;
	(void)st;
	assert_true(header_find(m, strlen(m), "subject", &f));
	assert_int_equal(f.valuelen, strlen(" one\r\n two"));
	assert_true(header_find(m, strlen(m), "Message-ID", &f));
	assert_false(header_find(m, strlen(m), "Body", &f));
	assert_int_equal(header_block_end(m, strlen(m)), strstr(m, "Body") - m);
}

static void test_header_ends_at_garbage_or_eof(void **st)
{
	struct header_field f;
	size_t pos = 0;
	(void)st;
	const char *m = "X: 1\r\nnot a header line\r\nDate: x\r\n";
	assert_false(header_find(m, strlen(m), "Date", &f));
	assert_true(header_next(m, strlen(m), &pos, &f));
	assert_false(header_next(m, strlen(m), &pos, &f));
	const char *nobody = "Subject: x";  /* no CRLF, no body */
	assert_true(header_find(nobody, strlen(nobody), "subject", &f));
	assert_int_equal(f.valuelen, 2);
	assert_int_equal(header_block_end(nobody, strlen(nobody)), strlen(nobody));
	assert_false(header_find("", 0, "x", &f));
	assert_false(header_find(": empty name\r\n", 14, "", &f));
}

struct seen {
	char v[8][64];
	int n;
};

static void collect(const char *a, void *arg)
{
	struct seen *s = arg;
	if (s->n < 8)
		strncpy(s->v[s->n++], a, 63);
}

static void test_address_list(void **st)
{
	struct seen s = { 0 };
	(void)st;
	const char *v = " \"Doe, John\" <john@a.example>, jane@b.example (Jane), Team: x@c.example, y@d.example;";
	assert_int_equal(header_addresses(v, strlen(v), collect, &s), 4);
	assert_string_equal(s.v[0], "john@a.example");
	assert_string_equal(s.v[1], "jane@b.example");
	assert_string_equal(s.v[2], "x@c.example");
	assert_string_equal(s.v[3], "y@d.example");
	memset(&s, 0, sizeof(s));
	assert_int_equal(header_addresses(" undisclosed-recipients:;", 25, collect, &s), 0);
	assert_int_equal(header_addresses("<a@b", 4, collect, &s), -1);
	assert_int_equal(header_addresses("a@b>", 4, collect, &s), -1);
	assert_int_equal(header_addresses("\"open", 5, collect, &s), -1);
	assert_int_equal(header_addresses("(open", 5, collect, &s), -1);
	assert_int_equal(header_addresses("no-at-sign", 10, collect, &s), -1);
	assert_int_equal(header_addresses("<>", 2, collect, &s), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fields_and_folding),
		cmocka_unit_test(test_header_ends_at_garbage_or_eof),
		cmocka_unit_test(test_address_list),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
