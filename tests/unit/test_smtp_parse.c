/* Unit tests: SMTP command, path and parameter parsing, and the address grammar. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "core/address.h"
#include "inbound/smtp_parse.h"

static const char *cmd(const char *line, struct smtp_cmd *c)
{
	return smtp_cmd_parse(line, strlen(line), c);
}

static void test_verbs_case_insensitive_with_args(void **st)
{
	struct smtp_cmd c;
	(void)st;
	assert_null(cmd("ehlo client.example", &c));
	assert_int_equal(c.verb, SMTP_EHLO);
	assert_int_equal(c.arglen, strlen("client.example"));
	assert_null(cmd("MaIl FROM:<a@b.c>", &c));
	assert_int_equal(c.verb, SMTP_MAIL);
	assert_null(cmd("QUIT", &c));
	assert_int_equal(c.arglen, 0);
	assert_null(cmd("NOOP   ", &c));
	assert_int_equal(c.verb, SMTP_NOOP);
	assert_int_equal(c.arglen, 0);
	assert_null(cmd("STARTTLS", &c));
	assert_int_equal(c.verb, SMTP_STARTTLS);
}

static void test_unknown_and_bad_lines(void **st)
{
	struct smtp_cmd c;
	char longline[600];
	(void)st;
	assert_string_equal(cmd("GET / HTTP/1.0", &c), "500 5.5.1 Command unrecognized");
	assert_string_equal(cmd("", &c), "500 5.5.1 Command unrecognized");
	assert_string_equal(cmd("MAILFROM:<a@b>", &c), "500 5.5.1 Command unrecognized");
	memset(longline, 'A', sizeof(longline));
	memcpy(longline, "NOOP ", 5);
	assert_string_equal(smtp_cmd_parse(longline, sizeof(longline), &c), "500 5.5.2 Line too long");
	/* 510 octets + CRLF = 512 is the limit exactly */
	assert_null(smtp_cmd_parse(longline, 510, &c));
	assert_non_null(smtp_cmd_parse(longline, 511, &c));
	assert_string_equal(smtp_cmd_parse("NOOP\0x", 6, &c), "500 5.5.2 NUL character in command");
}

static void test_mail_from_forms(void **st)
{
	struct smtp_mail_args m;
	(void)st;
	const char *a = "FROM:<Alice@Example.COM>";
	assert_null(smtp_parse_mail(a, strlen(a), 0, &m));
	assert_string_equal(m.addr.local, "Alice");
	assert_string_equal(m.addr.domain, "example.com");
	a = "FROM: <a@b.example> SIZE=1000 BODY=8BITMIME";
	assert_null(smtp_parse_mail(a, strlen(a), 0, &m));
	assert_int_equal(m.size, 1000);
	assert_true(m.body_8bit);
	a = "FROM:<>";
	assert_null(smtp_parse_mail(a, strlen(a), 0, &m));
	assert_true(m.null_sender);
	a = "from:<j\xc3\xb6rg@b\xc3\xbc.example> SMTPUTF8";
	assert_null(smtp_parse_mail(a, strlen(a), 0, &m));
	assert_true(m.smtputf8);
	a = "FROM:<j\xc3\xb6rg@example.com>";
	assert_string_equal(smtp_parse_mail(a, strlen(a), 0, &m), "553 5.6.7 Non-ASCII sender address needs SMTPUTF8");
}

static void test_mail_errors(void **st)
{
	struct smtp_mail_args m;
	(void)st;
	static const struct { const char *arg, *reply; } cases[] = {
		{ "FROM:a@b.example", "501 5.5.4 Syntax: MAIL FROM:<address>" },
		{ "TO:<a@b.example>", "501 5.5.4 Syntax: MAIL FROM:<address>" },
		{ "FROM:<a@b.example", "501 5.5.4 Syntax: MAIL FROM:<address>" },
		{ "FROM:<a@b.example> SIZE=99999999", "552 5.3.4 Message size exceeds fixed maximum message size" },
		{ "FROM:<a@b.example> SIZE=12x", "501 5.5.4 Bad SIZE value" },
		{ "FROM:<a@b.example> SIZE=", "501 5.5.4 Bad MAIL parameter syntax" },
		{ "FROM:<a@b.example> BODY=BINARYMIME", "501 5.5.4 Unsupported BODY type" },
		{ "FROM:<a@b.example> RET=FULL", "555 5.5.4 Unsupported MAIL parameter" },
		{ "FROM:<a@b.example>SIZE=10", "501 5.5.4 Bad MAIL parameter syntax" },
		{ "FROM:<@relay.example:a@b.example>", "553 5.1.7 Source routes are not accepted" },
		{ "FROM:<a@@b.example>", "553 5.1.7 Bad sender domain" },
		{ "FROM:<a..b@b.example>", "553 5.1.7 Bad sender address syntax" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *r = smtp_parse_mail(cases[i].arg, strlen(cases[i].arg), 1000000, &m);
		assert_non_null(r);
		assert_string_equal(r, cases[i].reply);
	}
}

static void test_rcpt_relay_tricks_are_parsed_strictly(void **st)
{
	struct address a;
	(void)st;
	static const struct { const char *arg, *reply; } bad[] = {
		{ "TO:<@a.example,@b.example:user@c.example>", "553 5.1.0 Source routes are not accepted" },
		{ "TO:<user@c.example.>", "553 5.1.2 Bad recipient domain" },
		{ "TO:<user@[192.0.2.1]>", "553 5.1.2 Address literals are not accepted as recipients" },
		{ "TO:<user@[IPv6:2001:db8::1]>", "553 5.1.2 Address literals are not accepted as recipients" },
		{ "TO:<user@[999.1.1.1]>", "553 5.1.2 Bad recipient domain" },
		{ "TO:<user>", "553 5.1.3 Bad recipient address syntax" },
		{ "TO:<user@>", "553 5.1.2 Bad recipient domain" },
		{ "TO:<user@-a.example>", "553 5.1.2 Bad recipient domain" },
		{ "TO:<user@a-.example>", "553 5.1.2 Bad recipient domain" },
		{ "TO:<user@a..example>", "553 5.1.2 Bad recipient domain" },
		{ "TO:<\"unterminated@a.example>", "501 5.5.4 Syntax: RCPT TO:<address>" },
		{ "TO:<a@b.example> NOTIFY=NEVER", "555 5.5.4 Unsupported RCPT parameter" },
		{ "TO:<us\xc3\xa9r@b.example>", "553 5.6.7 Non-ASCII recipient address needs SMTPUTF8" },
		{ "TO:<u@b\xff.example>", "553 5.6.7 Non-ASCII recipient address needs SMTPUTF8" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *r = smtp_parse_rcpt(bad[i].arg, strlen(bad[i].arg), 0, &a);
		assert_non_null(r);
		assert_string_equal(r, bad[i].reply);
	}
	/* '%' and '!' are local-part characters: they stay with the domain after '@' */
	const char *pct = "TO:<user%victim.example@relay.example>";
	assert_null(smtp_parse_rcpt(pct, strlen(pct), 0, &a));
	assert_string_equal(a.local, "user%victim.example");
	assert_string_equal(a.domain, "relay.example");
	const char *bang = "TO:<victim.example!user@relay.example>";
	assert_null(smtp_parse_rcpt(bang, strlen(bang), 0, &a));
	assert_string_equal(a.domain, "relay.example");
	const char *quoted = "TO:<\"user@victim.example\"@relay.example>";
	assert_null(smtp_parse_rcpt(quoted, strlen(quoted), 0, &a));
	assert_string_equal(a.local, "\"user@victim.example\"");
	assert_string_equal(a.domain, "relay.example");
	const char *upper = "TO:<User@RELAY.Example>";
	assert_null(smtp_parse_rcpt(upper, strlen(upper), 0, &a));
	assert_string_equal(a.local, "User");
	assert_string_equal(a.domain, "relay.example");
	const char *idn = "TO:<user@b\xc3\xbc" "cher.example>";
	assert_null(smtp_parse_rcpt(idn, strlen(idn), 1, &a));
	const char *alabel = "TO:<user@xn--bcher-kva.example>";
	assert_null(smtp_parse_rcpt(alabel, strlen(alabel), 0, &a));
}

static void test_address_lengths(void **st)
{
	struct address a;
	char buf[400];
	(void)st;
	memset(buf, 'a', 64);
	strcpy(buf + 64, "@example.com");
	assert_null(address_parse(buf, strlen(buf), 0, &a));
	memset(buf, 'a', 65);
	strcpy(buf + 65, "@example.com");
	assert_string_equal(address_parse(buf, strlen(buf), 0, &a), "5.1.3 Local part too long");
	/* a 64-octet label */
	strcpy(buf, "u@");
	memset(buf + 2, 'b', 64);
	strcpy(buf + 66, ".example");
	assert_string_equal(address_parse(buf, strlen(buf), 0, &a), "5.1.2 Domain label too long");
	/* overlong UTF-8 and surrogates are refused even with SMTPUTF8 */
	assert_non_null(address_parse("\xc0\xafu@b.example", 9, ADDR_UTF8, &a));
	assert_non_null(address_parse("\xed\xa0\x80u@b.example", 13, ADDR_UTF8, &a));
	assert_null(address_parse("\"a b\"@b.example", 15, 0, &a));
	assert_null(address_parse("\"a\\\"b\"@b.example", 16, 0, &a));
}

static void test_helo(void **st)
{
	(void)st;
	assert_null(smtp_parse_helo("mail.example.com", 16));
	assert_null(smtp_parse_helo("[192.0.2.1]", 11));
	assert_string_equal(smtp_parse_helo("", 0), "501 5.5.4 Syntax: EHLO hostname");
	assert_string_equal(smtp_parse_helo("a b", 3), "501 5.5.4 Bad hostname syntax");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_verbs_case_insensitive_with_args),
		cmocka_unit_test(test_unknown_and_bad_lines),
		cmocka_unit_test(test_mail_from_forms),
		cmocka_unit_test(test_mail_errors),
		cmocka_unit_test(test_rcpt_relay_tricks_are_parsed_strictly),
		cmocka_unit_test(test_address_lengths),
		cmocka_unit_test(test_helo),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
