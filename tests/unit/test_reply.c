/*
 * test_reply: RFC 3463 enhanced-code parsing, reply classification,
 * greylisting detection on texts real servers send, reply-line and EHLO
 * keyword parsing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "delivery/reply.h"

static void expect_enh(const char *text, size_t want_len, const char *want)
{
	char enh[16] = "junk";
	size_t n = reply_parse_enhanced(text, enh, sizeof(enh));
	if (n != want_len)
		fail_msg("\"%s\": length %zu, want %zu", text, n, want_len);
	assert_string_equal(enh, want);
}

static void enhanced_code_accepts_rfc3463_forms(void **st)
{
	(void)st;
	expect_enh("5.1.1 No such user", 6, "5.1.1");
	expect_enh("2.0.0", 5, "2.0.0");
	expect_enh("4.7.1 ", 6, "4.7.1");
	expect_enh("5.999.999 odd but valid", 10, "5.999.999");
	expect_enh("4.02.001 leading zeros", 9, "4.02.001");
}

static void enhanced_code_rejects_malformed(void **st)
{
	(void)st;
	expect_enh("3.1.1 bad class", 0, "");
	expect_enh("6.0.0 bad class", 0, "");
	expect_enh("5.1 short", 0, "");
	expect_enh("5.1", 0, "");
	expect_enh("5.1.1x", 0, "");
	expect_enh("5.1.1.2 four parts", 0, "");
	expect_enh("55.1.1 two-digit class", 0, "");
	expect_enh("5.1000.1 subject too long", 0, "");
	expect_enh("5.1.1000", 0, "");
	expect_enh(" 5.1.1 leading space is not skipped", 0, "");
	expect_enh("5..1 empty subject", 0, "");
	expect_enh("", 0, "");
	expect_enh("No code here", 0, "");
	assert_int_equal(reply_parse_enhanced(NULL, NULL, 0), 0);
}

static void enhanced_code_needs_room(void **st)
{
	(void)st;
	char small[4] = "x";
	assert_int_equal(reply_parse_enhanced("5.1.1 x", small, sizeof(small)), 0);
	assert_string_equal(small, "");
}

static void classify_by_basic_code(void **st)
{
	(void)st;
	struct reply_info r;
	reply_classify(250, "2.0.0 Ok: queued as 4AB", &r);
	assert_int_equal(r.outcome, REPLY_OK);
	assert_string_equal(r.enh, "2.0.0");
	assert_int_equal(r.code, 250);
	reply_classify(550, "5.1.1 <bob@example.com>: Recipient address rejected", &r);
	assert_int_equal(r.outcome, REPLY_PERM);
	assert_string_equal(r.enh, "5.1.1");
	assert_string_equal(r.text, "5.1.1 <bob@example.com>: Recipient address rejected");
	reply_classify(452, "4.5.3 Too many recipients", &r);
	assert_int_equal(r.outcome, REPLY_TEMP);
	assert_string_equal(r.enh, "4.5.3");
	assert_int_equal(r.greylisted, 0);
}

static void classify_derives_code_when_missing_or_contradictory(void **st)
{
	(void)st;
	struct reply_info r;
	reply_classify(554, "Transaction failed", &r);
	assert_string_equal(r.enh, "5.0.0");
	reply_classify(451, "", &r);
	assert_string_equal(r.enh, "4.0.0");
	reply_classify(250, NULL, &r);
	assert_string_equal(r.enh, "2.0.0");
	assert_string_equal(r.text, "");
	/* The basic code is authoritative; a contradicting class is ignored. */
	reply_classify(550, "4.1.1 says temporary", &r);
	assert_int_equal(r.outcome, REPLY_PERM);
	assert_string_equal(r.enh, "5.0.0");
	reply_classify(421, "5.7.0 says permanent", &r);
	assert_int_equal(r.outcome, REPLY_TEMP);
	assert_string_equal(r.enh, "4.0.0");
}

static void classify_unexpected_codes_as_protocol_errors(void **st)
{
	(void)st;
	struct reply_info r;
	int codes[] = { 0, 99, 150, 354, 334, 600, 999, -5, 1000 };
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		reply_classify(codes[i], "whatever", &r);
		assert_int_equal(r.outcome, REPLY_TEMP);
		assert_string_equal(r.enh, "4.5.0");
		assert_int_equal(r.code, codes[i]);
	}
}

static void classify_truncates_long_text(void **st)
{
	(void)st;
	char big[2000];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	struct reply_info r;
	reply_classify(550, big, &r);
	assert_int_equal(strlen(r.text), sizeof(r.text) - 1);
}

static int greylisted(int code, const char *text)
{
	struct reply_info r;
	reply_classify(code, text, &r);
	return r.greylisted;
}

static void greylisting_detected_from_real_texts(void **st)
{
	(void)st;
	/* Postgrey */
	assert_true(greylisted(450, "4.2.0 <bob@example.com>: Recipient address rejected: Greylisted, "
				    "see http://postgrey.schweikert.ch/help/example.com.html"));
	/* milter-greylist */
	assert_true(greylisted(451, "4.7.1 Greylisting in action, please come back in 00:05:00"));
	/* Exim greylistd-style, grey spelled with an 'a' and a space */
	assert_true(greylisted(451, "Temporarily rejected: gray listed, try again later"));
	assert_true(greylisted(450, "4.7.1 Grey-listed, please retry"));
	assert_true(greylisted(421, "4.7.0 GRAYLISTED try later"));
	/* Too vague: used for rate limits and policy blocks as well. */
	assert_false(greylisted(451, "4.7.1 Please try again later"));
	assert_false(greylisted(451, "Temporary local problem - please try later"));
	assert_false(greylisted(450, "4.2.0 Mailbox busy"));
	/* Only a 4xx is ever greylisting. */
	assert_false(greylisted(550, "5.7.1 greylisted forever"));
	assert_false(greylisted(250, "greylist passed"));
}

static void local_failures(void **st)
{
	(void)st;
	struct reply_info r;
	reply_local("4.4.1", "connect to mx.example.com[192.0.2.1] failed: Connection refused", &r);
	assert_int_equal(r.outcome, REPLY_TEMP);
	assert_int_equal(r.code, 0);
	assert_string_equal(r.enh, "4.4.1");
	reply_local("5.3.4", "message too big for remote host", &r);
	assert_int_equal(r.outcome, REPLY_PERM);
	assert_string_equal(r.enh, "5.3.4");
	reply_local("nonsense", "x", &r);
	assert_string_equal(r.enh, "4.0.0");
	assert_int_equal(r.outcome, REPLY_TEMP);
	reply_local("4.4.1 trailing", "x", &r);
	assert_string_equal(r.enh, "4.0.0");
	reply_local("2.0.0", "a local failure is never success", &r);
	assert_int_equal(r.outcome, REPLY_TEMP);
	reply_local(NULL, NULL, &r);
	assert_string_equal(r.enh, "4.0.0");
	assert_string_equal(r.text, "");
}

static void reply_lines(void **st)
{
	(void)st;
	int code, last;
	const char *text;
	size_t tl;
	assert_int_equal(reply_parse_line("250-PIPELINING", 14, &code, &last, &text, &tl), 0);
	assert_int_equal(code, 250);
	assert_int_equal(last, 0);
	assert_int_equal(tl, 10);
	assert_memory_equal(text, "PIPELINING", 10);
	assert_int_equal(reply_parse_line("221 bye", 7, &code, &last, &text, &tl), 0);
	assert_int_equal(last, 1);
	assert_int_equal(reply_parse_line("250", 3, &code, &last, &text, &tl), 0);
	assert_int_equal(last, 1);
	assert_int_equal(tl, 0);
	assert_int_equal(reply_parse_line("25", 2, &code, &last, &text, &tl), -1);
	assert_int_equal(reply_parse_line("25x ok", 6, &code, &last, &text, &tl), -1);
	assert_int_equal(reply_parse_line("2500 ok", 7, &code, &last, &text, &tl), -1);
	assert_int_equal(reply_parse_line("hello", 5, &code, &last, &text, &tl), -1);
}

static struct reply_ehlo ehlo(const char *const *lines)
{
	struct reply_ehlo e;
	memset(&e, 0, sizeof(e));
	for (; *lines; lines++)
		reply_parse_ehlo_line(*lines, strlen(*lines), &e);
	return e;
}

static void ehlo_keywords(void **st)
{
	(void)st;
	const char *const postfix[] = { "PIPELINING", "SIZE 10240000", "VRFY", "ETRN", "STARTTLS",
					"AUTH PLAIN LOGIN", "AUTH=PLAIN LOGIN", "ENHANCEDSTATUSCODES",
					"8BITMIME", "DSN", "SMTPUTF8", "CHUNKING", NULL };
	struct reply_ehlo e = ehlo(postfix);
	assert_true(e.pipelining && e.starttls && e.eightbitmime && e.smtputf8);
	assert_true(e.auth_plain && e.auth_login);
	assert_true(e.size_set);
	assert_int_equal(e.size, 10240000);
	const char *const odd[] = { "size", "auth cram-md5 login", "STARTTLSX", "PIPELINING=1", "8BITMIMEx", NULL };
	e = ehlo(odd);
	assert_true(e.size_set);
	assert_int_equal(e.size, 0);
	assert_false(e.auth_plain);
	assert_true(e.auth_login);
	assert_false(e.starttls);
	assert_true(e.pipelining);  /* "KEYWORD=..." is the keyword with a parameter */
	assert_false(e.eightbitmime);
	const char *const huge[] = { "SIZE 99999999999999999999999999", NULL };
	e = ehlo(huge);
	assert_true(e.size_set);
	assert_int_equal(e.size, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(enhanced_code_accepts_rfc3463_forms),
		cmocka_unit_test(enhanced_code_rejects_malformed),
		cmocka_unit_test(enhanced_code_needs_room),
		cmocka_unit_test(classify_by_basic_code),
		cmocka_unit_test(classify_derives_code_when_missing_or_contradictory),
		cmocka_unit_test(classify_unexpected_codes_as_protocol_errors),
		cmocka_unit_test(classify_truncates_long_text),
		cmocka_unit_test(greylisting_detected_from_real_texts),
		cmocka_unit_test(local_failures),
		cmocka_unit_test(reply_lines),
		cmocka_unit_test(ehlo_keywords),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
