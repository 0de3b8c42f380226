/* Golden-file tests of text people read, built for a fixed `now`: the DSNs
 * outpost sends (tests/golden/dsn_*.ref).  GOLDEN_UPDATE=1 rewrites the
 * references (see golden.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "delivery/dsn.h"
#include "golden.h"

#define NOW 1795000000        /* Wed, 18 Nov 2026 11:06:40 UTC */

static const char original[] =
	"Received: from app.example.com ([192.0.2.10])\r\n"
	"\tby mail.example.com (outpost) with ESMTPS id 1K0Y3KWVJFD003ZA\r\n"
	"From: Alice <alice@example.com>\r\n"
	"To: bob@example.net, carol@example.org\r\n"
	"Subject: =?UTF-8?Q?Quarterly_r=C3=A9port?=\r\n"
	"Date: Wed, 18 Nov 2026 10:06:40 +0000\r\n"
	"Message-ID: <q3-report@example.com>\r\n"
	"\r\n"
	"The body is not returned.\r\n";

static void check_dsn(const char *name, const struct dsn_rcpt *r, size_t n)
{
	struct dsn_info info = { "mail.example.com", "1K0Y3KWVJFD003ZA", "alice@example.com",
				 NOW - 3600, original, sizeof(original) - 1, r, n, NOW };
	struct buf out = BUF_INIT;
	assert_int_equal(dsn_build(&info, &out), 0);
	assert_int_equal(golden_check(name, out.data, out.len), 0);
	buf_free(&out);
}

static void test_bounce_two_recipients(void **st)
{
	(void)st;
	const struct dsn_rcpt r[] = {
		{ "bob@example.net", DSN_FAILED, "5.1.1", "mx1.example.net",
		  "550 5.1.1 <bob@example.net>: Recipient address rejected: User unknown", NOW - 60 },
		{ "carol@example.org", DSN_FAILED, "4.4.7", NULL,
		  "4.4.7 delivery time expired: 4.4.1 connect to mx.example.org[198.51.100.7] failed: "
		  "Connection timed out", NOW - 5 },
	};
	check_dsn("dsn_bounce", r, 2);
}

static void test_delay_notice(void **st)
{
	(void)st;
	const struct dsn_rcpt r[] = {
		{ "carol@example.org", DSN_DELAYED, "4.7.0", "mx.example.org",
		  "421 4.7.0 Try again later, closing connection", NOW - 300 },
	};
	check_dsn("dsn_delay", r, 1);
}

static void test_utf8_recipient(void **st)
{
	(void)st;
	const struct dsn_rcpt r[] = {
		{ "j\xc3\xb6rg@b\xc3\xbc" "cher.example", DSN_FAILED, "5.2.2", "mx.b\xc3\xbc" "cher.example",
		  "552 5.2.2 Mailbox full", NOW - 1 },
	};
	check_dsn("dsn_utf8_recipient", r, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bounce_two_recipients),
		cmocka_unit_test(test_delay_notice),
		cmocka_unit_test(test_utf8_recipient),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
