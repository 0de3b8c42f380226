/*
 * test_bounce: edge cases of the MIME walker, the DSN and ARF field
 * parsers and the classifier: CRLF, LF and CR lines; a multipart without
 * a close delimiter or without any delimiter; nested multiparts past the
 * depth cap; base64 without padding and quoted-printable soft breaks;
 * folded DSN fields and recipients without blank lines between them;
 * a report with no recipients; sisimai's hard/soft rule.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "feedback/bounce.h"
#include "feedback/classify.h"
#include "feedback/mime.h"

static void parse(const char *msg, struct bounce_report *r)
{
	bounce_parse(msg, strlen(msg), r);
}

static void test_dsn_basic(void **state)
{
	(void)state;
	const char *m =
		"From: MAILER-DAEMON@mx.example.net\r\n"
		"To: app@example.com\r\n"
		"Subject: Undelivered Mail Returned to Sender\r\n"
		"MIME-Version: 1.0\r\n"
		"Content-Type: multipart/report; report-type=delivery-status;\r\n"
		"\tboundary=\"B1\"\r\n"
		"\r\n"
		"--B1\r\n"
		"Content-Type: text/plain\r\n"
		"\r\n"
		"I could not deliver it.\r\n"
		"--B1\r\n"
		"Content-Type: message/delivery-status\r\n"
		"\r\n"
		"Reporting-MTA: dns; mx.example.net\r\n"
		"X-Postfix-Queue-ID: 4ABCD\r\n"
		"\r\n"
		"Final-Recipient: rfc822; bob@example.net\r\n"
		"Action: failed\r\n"
		"Status: 5.1.1\r\n"
		"Diagnostic-Code: smtp; 550 5.1.1 <bob@example.net>:\r\n"
		"    Recipient address rejected: User unknown in local recipient table\r\n"
		"Final-Recipient: rfc822; carol@example.net\r\n"
		"Action: failed\r\n"
		"Status: 5.7.1\r\n"
		"Diagnostic-Code: smtp; 554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org\r\n"
		"\r\n"
		"--B1\r\n"
		"Content-Type: text/rfc822-headers\r\n"
		"\r\n"
		"From: app@example.com\r\n"
		"Message-ID: <abc@example.com>\r\n"
		"\r\n"
		"--B1--\r\n";
	struct bounce_report r;
	parse(m, &r);
	assert_string_equal(bounce_kind_name(r.kind), "dsn");
	assert_int_equal(r.nrcpt, 2);
	assert_string_equal(r.rcpt[0].recipient, "bob@example.net");
	assert_string_equal(r.rcpt[0].status, "5.1.1");
	assert_int_equal(r.rcpt[0].reply_code, 550);
	assert_string_equal(r.rcpt[0].reason, "userunknown");
	assert_true(r.rcpt[0].hard);
	assert_string_equal(r.rcpt[0].scope, "recipient");
	assert_string_equal(r.rcpt[1].reason, "blocked");
	assert_false(r.rcpt[1].hard);
	assert_string_equal(r.rcpt[1].scope, "route");
	assert_string_equal(r.message_id, "abc@example.com");
	assert_string_equal(r.queue_id, "4ABCD");
	assert_string_equal(r.sender, "app@example.com");
	bounce_report_free(&r);
}

static void test_malformed(void **state)
{
	(void)state;
	struct bounce_report r;
	parse("", &r);
	assert_string_equal(bounce_kind_name(r.kind), "unknown");
	assert_int_equal(r.nrcpt, 0);
	bounce_report_free(&r);
	/* multipart without any delimiter: read as text */
	parse("Content-Type: multipart/mixed; boundary=zz\n\nno parts here, bob@example.net: user unknown\n", &r);
	assert_string_equal(bounce_kind_name(r.kind), "ndr");
	assert_string_equal(r.rcpt[0].reason, "userunknown");
	bounce_report_free(&r);
	/* no close delimiter, CR-only lines */
	parse("Content-Type: multipart/report; boundary=q\r\r--q\rContent-Type: message/delivery-status\r\r"
	      "Final-Recipient: rfc822;x@example.org\rStatus: 4.2.2\r", &r);
	assert_int_equal(r.nrcpt, 1);
	assert_string_equal(r.rcpt[0].reason, "mailboxfull");
	bounce_report_free(&r);
	/* NUL bytes in headers and in a returned message (found by fuzz_mime) */
	static const char nul[] = "Content-Type: multipart/report; boundary=n\n\n--n\nX-A: \0b\n"
		"Content-Type: message/rfc822\n\nFrom: a\0@example.com\nTo: x@example.org\n\n--n--\n";
	bounce_parse(nul, sizeof(nul) - 1, &r);
	bounce_report_free(&r);
	/* nesting deeper than the cap does not recurse forever */
	struct buf b = BUF_INIT;
	for (int i = 0; i < 50; i++)
		buf_printf(&b, "Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n", i, i);
	parse(b.data, &r);
	bounce_report_free(&r);
	buf_free(&b);
}

static void test_decoders(void **state)
{
	(void)state;
	char out[64];
	size_t n = mime_decode_base64("aGVsbG8", 7, out);   /* no padding */
	out[n] = '\0';
	assert_string_equal(out, "hello");
	n = mime_decode_qp("a=3Db=\nc=ZZ", 11, out);
	out[n] = '\0';
	assert_string_equal(out, "a=bc=ZZ");
	mime_decode_words("=?UTF-8?B?VW5kZWxpdmVyZWQ=?= =?utf-8?q?_mail?= x", out, sizeof(out));
	assert_string_equal(out, "Undelivered mail x");
	char v[64];
	assert_true(mime_param("multipart/report; report-type=\"delivery-status\"; boundary=abc", "boundary", v, sizeof(v)));
	assert_string_equal(v, "abc");
}

static void test_arf(void **state)
{
	(void)state;
	const char *m =
		"From: feedback@example.net\n"
		"Content-Type: multipart/report; report-type=feedback-report; boundary=\"f\"\n\n"
		"--f\nContent-Type: text/plain\n\nA complaint.\n"
		"--f\nContent-Type: message/feedback-report\n\n"
		"Feedback-Type: abuse\nUser-Agent: x/1\nVersion: 1\nOriginal-Rcpt-To: <dave@example.net>\n\n"
		"--f\nContent-Type: message/rfc822\n\nFrom: app@example.com\nTo: dave@example.net\n"
		"Message-ID: <m1@example.com>\n\nhi\n--f--\n";
	struct bounce_report r;
	parse(m, &r);
	assert_string_equal(bounce_kind_name(r.kind), "arf");
	assert_int_equal(r.nrcpt, 1);
	assert_string_equal(r.rcpt[0].recipient, "dave@example.net");
	assert_string_equal(r.rcpt[0].reason, "feedback");
	assert_string_equal(r.rcpt[0].scope, "recipient");
	assert_string_equal(r.feedback_type, "abuse");
	assert_string_equal(r.message_id, "m1@example.com");
	bounce_report_free(&r);
}

static void test_auto_reply(void **state)
{
	(void)state;
	struct bounce_report r;
	parse("From: Erin <erin@example.net>\nTo: app@example.com\nAuto-Submitted: auto-replied\n"
	      "Subject: Out of office\n\nI am away until Monday; write to frank@example.net.\n", &r);
	assert_string_equal(bounce_kind_name(r.kind), "auto-reply");
	assert_int_equal(r.nrcpt, 1);
	assert_string_equal(r.rcpt[0].recipient, "erin@example.net");
	assert_string_equal(r.rcpt[0].reason, "vacation");
	bounce_report_free(&r);
}

static void test_classify(void **state)
{
	(void)state;
	struct classify_in in = { "5.7.1", 550, "550 5.7.1 Message rejected as spam", "", "" };
	assert_string_equal(classify_reason(&in), "spamdetected");
	struct classify_in in2 = { "5.2.2", 552, "552 5.1.1 mailbox full", "", "" };
	assert_string_equal(classify_reason(&in2), "mailboxfull");
	struct classify_in in3 = { "4.4.7", 0, "", "delayed", "" };
	assert_string_equal(classify_reason(&in3), "expired");
	/* our own deferral when a rate or warm-up limit holds a destination */
	struct classify_in in4 = { "4.7.0", 0, "a limit for this destination is reached; next slot in 3599 s", "", "" };
	assert_string_equal(classify_reason(&in4), "speeding");
	assert_false(classify_is_hard("speeding", "4.7.0", 0));
	assert_true(classify_is_hard("notaccept", "5.1.10", 0));
	assert_false(classify_is_hard("notaccept", "4.0.0", 0));
	assert_false(classify_is_hard("blocked", "5.7.1", 550));
	char s[16];
	assert_true(classify_find_status("host 192.0.2.1 said 550 5.1.1 no", s, sizeof(s)));
	assert_string_equal(s, "5.1.1");
	assert_false(classify_find_status("version 5.1.12.3", s, sizeof(s)));
	assert_int_equal(classify_find_reply_code("#550 5.1.1 RESOLVER.ADR.RecipNotFound"), 550);
	assert_int_equal(classify_find_reply_code("port 25025 x"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dsn_basic),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_decoders),
		cmocka_unit_test(test_arf),
		cmocka_unit_test(test_auto_reply),
		cmocka_unit_test(test_classify),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
