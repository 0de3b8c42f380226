/* Unit tests: the TLS-RPT TXT record (RFC 8460 3): selection, rua= with
 * mailto: and https: URIs, unknown fields ignored, errors with reasons. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "mailauth/tlsrpt.h"

static void bad(const char *txt, const char *want)
{
	struct tlsrpt_record rec;
	char err[256] = "";
	if (tlsrpt_record_parse(txt, strlen(txt), &rec, err, sizeof(err)) == 0)
		fail_msg("\"%s\" should not parse", txt);
	if (strstr(err, want) == NULL)
		fail_msg("\"%s\": reason \"%s\" lacks \"%s\"", txt, err, want);
}

static void test_valid(void **st)
{
	(void)st;
	struct tlsrpt_record rec;
	char err[256];
	const char *t = "v=TLSRPTv1; rua=mailto:tlsrpt@example.com";
	assert_int_equal(tlsrpt_record_parse(t, strlen(t), &rec, err, sizeof(err)), 0);
	assert_int_equal(rec.nrua, 1);
	assert_int_equal(rec.mailto, 1);
	t = "v=TLSRPTv1;rua=mailto:a@example.com , https://reports.example.com/tls;x=y;";
	assert_int_equal(tlsrpt_record_parse(t, strlen(t), &rec, err, sizeof(err)), 0);
	assert_int_equal(rec.nrua, 2);
	assert_int_equal(rec.https, 1);
	assert_true(tlsrpt_record_is_tlsrpt("v=TLSRPTv1", 10));
	assert_false(tlsrpt_record_is_tlsrpt("v=TLSRPTv10", 11));
}

static void test_errors(void **st)
{
	(void)st;
	bad("rua=mailto:a@example.com; v=TLSRPTv1", "start with v=TLSRPTv1");
	bad("v=TLSRPTv1", "no rua=");
	bad("v=TLSRPTv1; rua=", "not a mailto");
	bad("v=TLSRPTv1; rua=mailto:nobody", "not a mailto");
	bad("v=TLSRPTv1; rua=http://example.com/r", "not a mailto");
	bad("v=TLSRPTv1; rua=https://", "not a mailto");
	bad("v=TLSRPTv1; rua=mailto:a@example.com,", "not a mailto");
	bad("v=TLSRPTv1; rua=mailto:a@example.com; rua=mailto:b@example.com", "twice");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
