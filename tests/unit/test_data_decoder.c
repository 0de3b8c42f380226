/*
 * test_data_decoder: the DATA decoder's edge cases (the end of data,
 * dot-unstuffing, bare CR/LF, NUL, line length, size), each fed whole and
 * one octet at a time, which must agree.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "inbound/data_decoder.h"

struct result {
	size_t used;
	int done;
	enum data_error err;
	char out[4096];
	size_t outlen;
};

static void decode(const char *in, size_t len, size_t step, uint64_t max, struct result *r)
{
	struct data_decoder d;
	data_decoder_start(&d, max, 16);
	r->used = 0;
	while (r->used < len && !d.done) {
		size_t n = len - r->used < step ? len - r->used : step;
		size_t u = data_decoder_feed(&d, in + r->used, n);
		assert_true(u <= n);
		r->used += u;
		if (u < n)
			assert_true(d.done);
	}
	r->done = d.done;
	r->err = d.err;
	r->outlen = d.out.len;
	assert_true(d.out.len < sizeof(r->out));
	if (d.out.len)
		memcpy(r->out, d.out.data, d.out.len);
	data_decoder_free(&d);
}

/* A string literal, NUL octets included. */
#define CHECK(lit, used, err, out) check(lit, sizeof(lit) - 1, used, err, out)

/* Decodes in whole and octet by octet; both must give the same. */
static void check(const char *in, size_t len, size_t used, enum data_error err, const char *out)
{
	struct result a, b;
	decode(in, len, len ? len : 1, 1 << 20, &a);
	decode(in, len, 1, 1 << 20, &b);
	assert_int_equal(a.used, used);
	assert_int_equal(b.used, used);
	assert_int_equal(a.done, b.done);
	assert_int_equal(a.err, err);
	assert_int_equal(b.err, err);
	if (err == DATA_OK && out) {
		assert_int_equal(a.outlen, strlen(out));
		assert_memory_equal(a.out, out, a.outlen);
		assert_int_equal(b.outlen, a.outlen);
		assert_memory_equal(b.out, out, b.outlen);
	}
}

static void test_end_of_data(void **state)
{
	(void)state;
	CHECK(".\r\n", 3, DATA_OK, "");
	CHECK("a\r\n.\r\nMAIL FROM:<x>\r\n", 6, DATA_OK, "a\r\n");
	CHECK("a\r\nb\r\n.\r\n", 9, DATA_OK, "a\r\nb\r\n");
	CHECK("a\r\n", 3, DATA_OK, "a\r\n");                 /* not yet the end */
	CHECK("a\r\n.", 4, DATA_OK, NULL);
	CHECK("a\r\n.\r", 5, DATA_OK, NULL);
}

static void test_only_crlf_dot_crlf_ends(void **state)
{
	(void)state;
	/* smuggling variants: none ends the message, all are refused */
	CHECK("a\n.\nb\r\n.\r\n", 10, DATA_BARE_LF_CR, NULL);
	CHECK("a\n.\r\nb\r\n.\r\n", 11, DATA_BARE_LF_CR, NULL);
	CHECK("a\r\n.\nb\r\n.\r\n", 11, DATA_BARE_LF_CR, NULL);
	CHECK("a\r.\r\nb\r\n.\r\n", 11, DATA_BARE_LF_CR, NULL);
	CHECK("a\r\n.\r.\r\n.\r\n", 11, DATA_BARE_LF_CR, NULL);
	CHECK("a\r\n.\r\r\n.\r\n", 10, DATA_BARE_LF_CR, NULL);
	CHECK("a\r\r\n.\r\n", 7, DATA_BARE_LF_CR, NULL);     /* CR CR LF: the second CR LF ends the line */
}

static void test_dot_unstuffing(void **state)
{
	(void)state;
	CHECK("..\r\n.\r\n", 7, DATA_OK, ".\r\n");
	CHECK("..x\r\n.x\r\nx.\r\n.\r\n", 16, DATA_OK, ".x\r\nx\r\nx.\r\n");
	CHECK("a\r\n..\r\n.\r\n", 10, DATA_OK, "a\r\n.\r\n");
}

static void test_nul_is_refused(void **state)
{
	(void)state;
	CHECK("a\0b\r\n.\r\n", 8, DATA_NUL, NULL);
	CHECK("\0\r\n.\r\n", 6, DATA_NUL, NULL);
	CHECK("a\0\nb\r\n.\r\n", 9, DATA_BARE_LF_CR, NULL);   /* smuggling is what is reported */
}

static void test_line_length(void **state)
{
	(void)state;
	char in[2100];
	memset(in, 'x', 998);
	memcpy(in + 998, "\r\n.\r\n", 6);
	check(in, strlen(in), 1003, DATA_OK, NULL);                 /* 998 + CRLF = 1000: fits */
	in[0] = '.';                                     /* a stuffed dot does not count */
	memset(in + 1, 'x', 998);
	memcpy(in + 999, "\r\n.\r\n", 6);
	check(in, strlen(in), 1004, DATA_OK, NULL);
	memset(in, 'x', 999);                            /* longer is accepted: cleanup re-encodes it */
	memcpy(in + 999, "\r\n.\r\n", 6);
	check(in, strlen(in), 1004, DATA_OK, NULL);
	memset(in, 'x', 2000);                           /* and the end is found as always */
	memcpy(in + 2000, "\r\n.\r\nQUIT\r\n", 12);
	check(in, strlen(in), 2005, DATA_OK, NULL);
}

static void test_size(void **state)
{
	(void)state;
	struct result r;
	decode("abc\r\n.\r\n", 8, 3, 5, &r);
	assert_int_equal(r.err, DATA_OK);
	decode("abcd\r\n.\r\n", 9, 2, 5, &r);
	assert_int_equal(r.err, DATA_TOO_BIG);
	assert_int_equal(r.used, 9);
	assert_true(r.done);
}

/* Long runs of clean lines go through in one piece (eight octets at a
 * time): a special octet at every offset of a word, a "." line after a run,
 * and the end of data, must be found as octet by octet. */
static void test_clean_runs(void **state)
{
	(void)state;
	static const char special[] = { '\0', '\n', '\r', '.' };
	static const enum data_error want[] = { DATA_NUL, DATA_BARE_LF_CR, DATA_BARE_LF_CR, DATA_OK };
	char in[200];
	for (size_t k = 0; k < sizeof(special); k++)
		for (size_t at = 0; at < 40; at++) {
			/* "0123456789abcdef..\r\n" twice, a special octet at `at` of the second line */
			memcpy(in, "0123456789abcdefghijklmnopqrstuvwxyzABCD\r\n", 42);
			memcpy(in + 42, "0123456789abcdefghijklmnopqrstuvwxyzABCD\r\n.\r\n", 45);
			in[42 + at] = special[k];
			check(in, 87, 87, at == 0 && k == 3 ? DATA_OK : want[k], NULL);
		}
	CHECK("abcdefghij\r\nklmnopqrstuvwxyz\r\n..x\r\nabcdefghijklmnop\r\n.\r\n", 56, DATA_OK,
	      "abcdefghij\r\nklmnopqrstuvwxyz\r\n.x\r\nabcdefghijklmnop\r\n");
	CHECK("abcdefghijklmnop\r\n\r\nabcdefghijklmnop\r\n.\r\nQUIT\r\n", 41, DATA_OK,
	      "abcdefghijklmnop\r\n\r\nabcdefghijklmnop\r\n");
	CHECK("abcdefghijklmnop\r\nabcdefgh\r\r\n.\r\n", 32, DATA_BARE_LF_CR, NULL);
}

static void test_replies(void **state)
{
	(void)state;
	assert_string_equal(data_error_reply(DATA_NUL), "554 5.6.0 Message refused: message contains NUL octets");
	assert_memory_equal(data_error_reply(DATA_BARE_LF_CR), "550 5.6.0 ", 10);
	assert_memory_equal(data_error_reply(DATA_TOO_BIG), "552 5.3.4 ", 10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_end_of_data),
		cmocka_unit_test(test_only_crlf_dot_crlf_ends),
		cmocka_unit_test(test_dot_unstuffing),
		cmocka_unit_test(test_nul_is_refused),
		cmocka_unit_test(test_line_length),
		cmocka_unit_test(test_size),
		cmocka_unit_test(test_clean_runs),
		cmocka_unit_test(test_replies),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
