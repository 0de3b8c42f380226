/* Unit tests: the MTA-STS TXT record (RFC 8461 3.1): selection, id=,
 * unknown fields ignored, errors with reasons. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "mailauth/mta_sts.h"

static void bad(const char *txt, size_t len, const char *want)
{
	struct mta_sts_record rec;
	char err[256] = "";
	if (mta_sts_record_parse(txt, len, &rec, err, sizeof(err)) == 0)
		fail_msg("\"%s\" should not parse", txt);
	if (strstr(err, want) == NULL)
		fail_msg("\"%s\": reason \"%s\" lacks \"%s\"", txt, err, want);
}

#define BAD(s, why) bad((s), strlen(s), (why))

static void test_valid(void **st)
{
	(void)st;
	struct mta_sts_record rec;
	char err[256];
	const char *t = "v=STSv1; id=20160831085700Z;";
	assert_int_equal(mta_sts_record_parse(t, strlen(t), &rec, err, sizeof(err)), 0);
	assert_string_equal(rec.id, "20160831085700Z");
	t = "v=STSv1;id=abc; ext-field.x=whatever goes";
	assert_int_equal(mta_sts_record_parse(t, strlen(t), &rec, err, sizeof(err)), 0);
	assert_string_equal(rec.id, "abc");
}

static void test_selection(void **st)
{
	(void)st;
	assert_true(mta_sts_record_is_sts("v=STSv1", 7));
	assert_true(mta_sts_record_is_sts("v=STSv1; id=1", 13));
	assert_false(mta_sts_record_is_sts("v=STSv10; id=1", 14));
	assert_false(mta_sts_record_is_sts("v=stsv1; id=1", 13));
	assert_false(mta_sts_record_is_sts("v=STSv", 6));
}

static void test_errors(void **st)
{
	(void)st;
	BAD("id=1; v=STSv1", "start with v=STSv1");
	BAD("v=STSv1", "no id=");
	BAD("v=STSv1; id=", "1 to 32");
	BAD("v=STSv1; id=2016-08-31", "1 to 32");
	BAD("v=STSv1; id=123456789012345678901234567890123", "1 to 32");
	BAD("v=STSv1; id=1; id=2", "twice");
	BAD("v=STSv1; id", "no '='");
	bad("v=STSv1; id=1\0", 14, "byte 0x00");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_selection),
		cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
