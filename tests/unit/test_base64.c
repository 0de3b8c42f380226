/* Unit tests: core/base64 against the RFC 4648 section 10 vectors, round
 * trips of every octet value, and the input the strict decoder refuses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/base64.h"

static const struct {
	const char *plain, *encoded;
} rfc4648[] = {
	{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
	{ "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" },
};

static void test_rfc4648_vectors(void **st)
{
	(void)st;
	for (size_t i = 0; i < sizeof(rfc4648) / sizeof(rfc4648[0]); i++) {
		char enc[16], dec[16];
		size_t pl = strlen(rfc4648[i].plain), el = strlen(rfc4648[i].encoded);
		assert_int_equal(base64_encoded_len(pl), el);
		assert_int_equal(base64_encode(rfc4648[i].plain, pl, enc, sizeof(enc)), (long)el);
		assert_string_equal(enc, rfc4648[i].encoded);
		assert_int_equal(base64_decode(rfc4648[i].encoded, el, dec, sizeof(dec)), (long)pl);
		assert_string_equal(dec, rfc4648[i].plain);
		char *a = base64_encode_alloc(rfc4648[i].plain, pl);
		assert_string_equal(a, rfc4648[i].encoded);
		free(a);
	}
}

/* Every octet value, at every length from 0 to 256 (all three tails). */
static void test_round_trip_binary(void **st)
{
	unsigned char in[256], out[257];
	char enc[400];
	(void)st;
	for (int i = 0; i < 256; i++)
		in[i] = (unsigned char)(255 - i);
	for (size_t n = 0; n <= sizeof(in); n++) {
		long el = base64_encode(in, n, enc, sizeof(enc));
		assert_int_equal(el, (long)base64_encoded_len(n));
		assert_int_equal(strspn(enc, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="),
				 (size_t)el);
		assert_true(base64_decoded_max((size_t)el) + 1 >= n + 1);
		assert_int_equal(base64_decode(enc, (size_t)el, out, base64_decoded_max((size_t)el) + 1), (long)n);
		assert_memory_equal(out, in, n);
	}
}

static void test_encode_needs_room(void **st)
{
	char out[9];
	(void)st;
	assert_int_equal(base64_encode("foob", 4, out, 9), 8);       /* 8 + NUL fits exactly */
	assert_int_equal(base64_encode("foob", 4, out, 8), -1);      /* never a truncated encoding */
	assert_string_equal(out, "");
	assert_int_equal(base64_encode("", 0, out, 1), 0);
	assert_int_equal(base64_encode("", 0, out, 0), -1);
}

static void test_decode_refuses(void **st)
{
	static const char *const bad[] = {
		"Zg", "Zg=", "Zm9vY", "Z", "=", "====", "Z===", "Zg==Zg==", "Zm=v", "Z=g=",
		"Zm9v\r\n", "Zm 9v", " Zm9", "Zm9v=", "Zm9-", "Zm9_", "Zm9\x80", "Zm\xffv", "Zg=A",
		"Zm9vYg=\n",
	};
	char out[32];
	(void)st;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(base64_decode(bad[i], strlen(bad[i]), out, sizeof(out)), -1);
	/* a NUL inside the text is a bad character, not its end */
	assert_int_equal(base64_decode("Zm\0v", 4, out, sizeof(out)), -1);
	/* only inlen is read: a valid prefix of a longer buffer decodes */
	assert_int_equal(base64_decode("Zm9v!!!!", 4, out, sizeof(out)), 3);
}

static void test_decode_needs_room(void **st)
{
	char out[8];
	(void)st;
	assert_int_equal(base64_decode("Zm9v", 4, out, 4), 3);       /* 3 octets + NUL */
	assert_string_equal(out, "foo");
	assert_int_equal(base64_decode("Zm9v", 4, out, 3), -1);      /* no room for the NUL */
	assert_int_equal(base64_decode("", 0, out, 0), -1);
	assert_int_equal(base64_decode("", 0, out, 1), 0);
	/* non-zero bits after the last octet are ignored ("Zh==" is "f") */
	assert_int_equal(base64_decode("Zh==", 4, out, sizeof(out)), 1);
	assert_int_equal(out[0], 'f');
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc4648_vectors),
		cmocka_unit_test(test_round_trip_binary),
		cmocka_unit_test(test_encode_needs_room),
		cmocka_unit_test(test_decode_refuses),
		cmocka_unit_test(test_decode_needs_room),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
