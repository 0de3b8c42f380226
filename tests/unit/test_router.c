/* Unit tests: rule matching (every key, globs, case, first match, MX),
 * explanations and the From: domain. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "core/config.h"
#include "core/header.h"
#include "delivery/router.h"

#define ROUTES \
	"routes = { direct = { type = \"mx\"; source = \"192.0.2.5\"; helo = \"out.example.com\"; };\n" \
	"           ses = { type = \"relay\"; host = \"smtp.example.net:587\"; };\n" \
	"           google = { type = \"relay\"; host = \"relay.example.net:25\"; tls = \"none\"; }; };\n"

static struct config *parse(const char *rules)
{
	char err[512], text[4096];
	int n = snprintf(text, sizeof(text), "%srules = ( %s\n);\n", ROUTES, rules);
	assert_true(n > 0 && (size_t)n < sizeof(text));
	struct config *cf = config_parse(text, "test.conf", err, sizeof(err));
	if (cf == NULL)
		fail_msg("%s", err);
	return cf;
}

/* The line of the rule that routes q, 0 for none, -1 for "needs MX". */
static int route_line(const struct config *cf, const struct route_query *q)
{
	const struct rule_conf *r;
	switch (router_match(cf, q, &r)) {
	case ROUTER_MATCH: return r->line;
	case ROUTER_NEED_MX: assert_null(r); return -1;
	case ROUTER_NO_RULE: assert_null(r); return 0;
	}
	return -2;
}

static const char *const gmail_mx[] = { "alt1.ASPMX.l.google.com", "aspmx.l.google.com" };
static const char *const own_mx[] = { "mx.example.org" };

/* rules start on line 4 of the text parse() makes */
static const char *const every_key_rules =
	"{ sender = \"*@news.example.com\"; via = \"ses\"; },\n"                        /* 4 */
	"{ sender_domain = [ \"shop.example.com\", \"*.shop.example.com\" ]; via = [ \"ses\" ]; },\n"
	"{ from_domain = \"brand.example.com\"; via = [ \"google\" ]; },\n"             /* 6 */
	"{ recipient_domain = \"*.example.edu\"; via = [ \"google\", \"direct\" ]; },\n"
	"{ user = \"Tenant1\"; via = [ \"ses\", \"direct\" ]; },\n"                   /* 8 */
	"{ class = \"bulk\"; via = [ \"google\" ]; },\n"
	"{ mx = [ \"*.google.com\", \"*.googlemail.com\" ]; via = [ \"google\" ]; },\n" /* 10 */
	"{ sender = \"<>\"; via = [ \"direct\" ]; },\n"
	"{ recipient_domain = \"*\"; via = [ \"direct\" ]; }";                        /* 12 */

static void test_every_key_matches_its_value(void **st)
{
	(void)st;
	struct config *cf = parse(every_key_rules);
	struct route_query q = { .sender = "a@example.com", .rcpt_domain = "example.org", .msg_class = "",
				 .mx = own_mx, .nmx = 1 };
	assert_int_equal(route_line(cf, &q), 12);   /* nothing special: the catch-all */
	q.sender = "Bob@NEWS.Example.com";
	assert_int_equal(route_line(cf, &q), 4);
	q.sender = "orders@eu.shop.example.com";
	assert_int_equal(route_line(cf, &q), 5);
	q.sender = "orders@SHOP.example.com";
	assert_int_equal(route_line(cf, &q), 5);
	q.sender = "orders@notshop.example.com";
	assert_int_equal(route_line(cf, &q), 12);
	q.from_domain = "Brand.Example.COM";
	assert_int_equal(route_line(cf, &q), 6);
	q.from_domain = "example.com";
	q.rcpt_domain = "cs.example.edu";
	assert_int_equal(route_line(cf, &q), 7);
	q.rcpt_domain = "example.edu";              /* "*." wants a subdomain */
	assert_int_equal(route_line(cf, &q), 12);
	q.user = "tenant1";                         /* user names are case-sensitive */
	assert_int_equal(route_line(cf, &q), 12);
	q.user = "Tenant1";
	assert_int_equal(route_line(cf, &q), 8);
	q.user = NULL;
	q.msg_class = "BULK";
	assert_int_equal(route_line(cf, &q), 9);
	q.msg_class = "transactional";
	assert_int_equal(route_line(cf, &q), 12);
	q.mx = gmail_mx;                            /* any MX host may match */
	q.nmx = 2;
	assert_int_equal(route_line(cf, &q), 10);
	q.nmx = 0;                                  /* no MX hosts: mx matches nothing */
	assert_int_equal(route_line(cf, &q), 12);
	config_free(cf);
}

/* A tenant's own rules and the suspect route by the scanner's verdict. */
static void test_tenant_and_spam_keys(void **st)
{
	(void)st;
	struct config *cf = parse("{ spam = [ \"add header\", \"rewrite subject\" ]; via = \"google\"; },\n"
				  "{ tenant = \"acme\"; via = [ \"ses\" ]; },\n"
				  "{ via = \"direct\"; }");
	struct route_query q = { .sender = "a@example.com", .rcpt_domain = "example.org" };
	assert_int_equal(route_line(cf, &q), 6);    /* no tenant, not scanned */
	q.tenant = "ACME";                          /* tenant names match without case */
	assert_int_equal(route_line(cf, &q), 5);
	q.scan_action = "no action";
	assert_int_equal(route_line(cf, &q), 5);
	q.scan_action = "Add Header";
	assert_int_equal(route_line(cf, &q), 4);
	q.scan_action = "unscanned";
	q.tenant = "other";
	assert_int_equal(route_line(cf, &q), 6);
	struct buf why = BUF_INIT;
	q.tenant = NULL;
	q.scan_action = NULL;
	assert_int_equal(router_check_rule(cf, 1, &q, &why), ROUTER_NO_RULE);
	buf_putc(&why, '\0');
	assert_string_equal(why.data, "tenant: the message has no tenant");
	buf_free(&why);
	config_free(cf);
}

static void test_null_sender(void **st)
{
	(void)st;
	struct config *cf = parse(every_key_rules);
	struct route_query q = { .sender = "", .rcpt_domain = "example.org", .mx = own_mx, .nmx = 1 };
	assert_int_equal(route_line(cf, &q), 11);   /* "<>" is the null sender; no sender_domain */
	q.sender = NULL;
	assert_int_equal(route_line(cf, &q), 11);
	config_free(cf);
	cf = parse("{ sender_domain = \"*\"; via = \"ses\"; },\n{ sender = \"*@*\"; via = \"ses\"; },\n"
		   "{ sender = \"*\"; via = \"direct\"; }");
	q.sender = "";
	assert_int_equal(route_line(cf, &q), 6);    /* only "*" takes it */
	q.sender = "a@b.example";
	assert_int_equal(route_line(cf, &q), 4);
	config_free(cf);
}

static void test_absent_values_match_no_glob(void **st)
{
	(void)st;
	struct config *cf = parse("{ from_domain = \"*\"; via = \"ses\"; },\n{ user = \"*\"; via = \"ses\"; },\n"
				  "{ class = \"*\"; via = \"ses\"; },\n{ via = \"direct\"; }");
	struct route_query q = { .sender = "a@example.com", .rcpt_domain = "example.org", .msg_class = "" };
	assert_int_equal(route_line(cf, &q), 7);
	q.from_domain = "";
	q.user = "";
	q.msg_class = NULL;
	assert_int_equal(route_line(cf, &q), 7);
	q.msg_class = "bulk";
	assert_int_equal(route_line(cf, &q), 6);
	q.user = "u";
	assert_int_equal(route_line(cf, &q), 5);
	q.from_domain = "x.example";
	assert_int_equal(route_line(cf, &q), 4);
	config_free(cf);
}

static void test_all_keys_of_a_rule_must_match_and_first_rule_wins(void **st)
{
	(void)st;
	struct config *cf = parse(
		"{ sender_domain = \"example.com\"; recipient_domain = [ \"gmail.com\", \"googlemail.com\" ];\n"
		"  class = \"bulk\"; via = [ \"google\" ]; },\n"
		"{ sender_domain = \"example.com\"; via = [ \"ses\" ]; },\n"
		"{ sender_domain = \"example.com\"; via = [ \"direct\" ]; }");
	struct route_query q = { .sender = "a@example.com", .rcpt_domain = "gmail.com", .msg_class = "bulk" };
	assert_int_equal(route_line(cf, &q), 4);
	q.msg_class = "";
	assert_int_equal(route_line(cf, &q), 6);   /* the first of two equal rules */
	q.sender = "a@example.net";
	assert_int_equal(route_line(cf, &q), 0);   /* none */
	config_free(cf);
}

static void test_mx_is_asked_for_only_when_it_decides(void **st)
{
	(void)st;
	struct config *cf = parse(
		"{ sender = \"*@vip.example.com\"; via = \"ses\"; },\n"
		"{ class = \"bulk\"; mx = \"*.google.com\"; via = \"google\"; },\n"
		"{ mx = \"*.outlook.com\"; via = \"ses\"; },\n"
		"{ via = \"direct\"; }");
	struct route_query q = { .sender = "a@vip.example.com", .rcpt_domain = "gmail.com", .msg_class = "bulk" };
	assert_true(router_uses_mx(cf));
	assert_int_equal(route_line(cf, &q), 4);   /* an earlier rule without mx decides */
	q.sender = "a@example.com";
	assert_int_equal(route_line(cf, &q), -1);  /* rule 2's other keys match: needs MX */
	q.msg_class = "";
	assert_int_equal(route_line(cf, &q), -1);  /* rule 2 fails on class, rule 3 needs MX */
	q.mx = gmail_mx;
	q.nmx = 2;
	assert_int_equal(route_line(cf, &q), 7);
	q.msg_class = "bulk";
	assert_int_equal(route_line(cf, &q), 5);
	config_free(cf);
	cf = parse("{ via = \"direct\"; }");
	assert_false(router_uses_mx(cf));
	config_free(cf);
}

static void test_utf8_domains_match_as_written(void **st)
{
	(void)st;
	struct config *cf = parse("{ recipient_domain = \"*.bücher.example\"; via = \"ses\"; },\n"
				  "{ recipient_domain = \"xn--bcher-kva.example\"; via = \"google\"; },\n"
				  "{ from_domain = \"Ünï.example\"; via = \"direct\"; }");
	struct route_query q = { .sender = "a@example.com", .rcpt_domain = "shop.bücher.example" };
	assert_int_equal(route_line(cf, &q), 4);
	q.rcpt_domain = "SHOP.bücher.EXAMPLE";
	assert_int_equal(route_line(cf, &q), 4);
	q.rcpt_domain = "xn--bcher-kva.example";
	assert_int_equal(route_line(cf, &q), 5);
	q.rcpt_domain = "bücher.example";          /* no xn-- conversion: as written only */
	assert_int_equal(route_line(cf, &q), 0);
	q.from_domain = "Ünï.EXAMPLE";             /* ASCII letters fold, others stay */
	assert_int_equal(route_line(cf, &q), 6);
	q.from_domain = "ünï.example";
	assert_int_equal(route_line(cf, &q), 0);
	config_free(cf);
}

static void test_long_values_do_not_overflow(void **st)
{
	(void)st;
	char big[3000];
	memset(big, 'A', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	struct config *cf = parse("{ recipient_domain = \"a*\"; via = \"ses\"; },\n{ via = \"direct\"; }");
	struct route_query q = { .sender = big, .rcpt_domain = big, .from_domain = big, .user = big,
				 .msg_class = big };
	assert_int_equal(route_line(cf, &q), 5);   /* too long to be a name: matches no glob */
	struct buf out = BUF_INIT;
	router_explain(cf, &q, &out);
	assert_non_null(strstr(out.data, "recipient_domain: the recipient domain is missing or too long"));
	buf_free(&out);
	config_free(cf);
}

static void test_explain_says_why(void **st)
{
	(void)st;
	struct config *cf = parse(
		"{ sender = [ \"*@news.example.com\", \"*@list.example.com\" ]; via = \"ses\"; },\n"
		"{ from_domain = \"brand.example.com\"; via = \"ses\"; },\n"
		"{ mx = \"*.google.com\"; via = [ \"google\", \"ses\", \"direct\" ]; },\n"
		"{ via = \"direct\"; }");
	struct route_query q = { .sender = "Bob@Example.com", .rcpt_domain = "gmail.com", .msg_class = "",
				 .mx = gmail_mx, .nmx = 2 };
	struct buf out = BUF_INIT;
	router_explain(cf, &q, &out);
	static const char *const want[] = {
		"query: sender \"Bob@Example.com\", recipient domain \"gmail.com\", from_domain \"\", user \"\", "
		"class \"\", MX hosts \"alt1.ASPMX.l.google.com\", \"aspmx.l.google.com\"\n",
		"rule 1 (line 4): sender: \"bob@example.com\" matches none of \"*@news.example.com\", "
		"\"*@list.example.com\"\n",
		"rule 2 (line 5): from_domain: the message has no From: domain\n",
		"rule 3 (line 6): matches\n",
		"rule 3 (line 6) routes it via, in failover order:\n"
		"  1. google: relay relay.example.net:25 tls=none\n"
		"  2. ses: relay smtp.example.net:587 tls=required\n"
		"  3. direct: mx port 25 tls=opportunistic source 192.0.2.5 (helo out.example.com, weight 1)\n",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (strstr(out.data, want[i]) == NULL)
			fail_msg("missing \"%s\" in:\n%s", want[i], out.data);
	assert_null(strstr(out.data, "rule 4"));    /* nothing after the rule that decides */
	buf_reset(&out);
	q.mx = NULL;
	router_explain(cf, &q, &out);
	assert_non_null(strstr(out.data, "rule 3 (line 6): needs the MX hosts of the recipient domain"));
	assert_non_null(strstr(out.data, "undecided: rule 3 needs the MX hosts\n"));
	buf_reset(&out);
	q.mx = own_mx;
	q.nmx = 1;
	q.from_domain = "x\ny.example";               /* a control byte is not printed */
	router_explain(cf, &q, &out);
	assert_non_null(strstr(out.data, "from_domain: \"x?y.example\" matches none of \"brand.example.com\"\n"));
	assert_non_null(strstr(out.data, "mx: MX hosts \"mx.example.org\" match none of \"*.google.com\"\n"));
	assert_non_null(strstr(out.data, "rule 4 (line 7): matches\n"));
	buf_reset(&out);
	assert_int_equal(router_check_rule(cf, 2, &q, &out), ROUTER_NO_RULE);
	assert_string_equal(out.data, "mx: MX hosts \"mx.example.org\" match none of \"*.google.com\"");
	buf_free(&out);
	config_free(cf);
	cf = parse("{ sender = \"*@a.example\"; via = \"ses\"; }");
	router_explain(cf, &q, &out);
	assert_non_null(strstr(out.data, "no rule matches"));
	buf_free(&out);
	config_free(cf);
}

static int from(const char *msg, char *out, size_t outlen)
{
	return header_from_domain(msg, strlen(msg), out, outlen);
}

static void test_from_domain(void **st)
{
	char d[256];
	(void)st;
	assert_int_equal(from("Subject: x\r\nFrom: Shop <Orders@Shop.Example.COM>\r\n\r\nbody", d, sizeof(d)), 1);
	assert_string_equal(d, "shop.example.com");
	assert_int_equal(from("from: \"a@b, c\" <x@one.example>, y@two.example\r\n\r\n", d, sizeof(d)), 1);
	assert_string_equal(d, "one.example");
	assert_int_equal(from("From: x@first.example\r\nFrom: y@second.example\r\n\r\n", d, sizeof(d)), 1);
	assert_string_equal(d, "first.example");
	assert_int_equal(from("From: undisclosed:;, z@g.example\r\n\r\n", d, sizeof(d)), 1);
	assert_string_equal(d, "g.example");
	assert_int_equal(from("From: =?utf-8?q?J=C3=B6rg?= <j@bücher.example>\r\n\r\n", d, sizeof(d)), 1);
	assert_string_equal(d, "bücher.example");
	assert_int_equal(from("From: a@b.example (comment)\r\n\r\n", d, sizeof(d)), 1);
	assert_string_equal(d, "b.example");
	static const char *const none[] = {
		"Subject: no from\r\n\r\nFrom: body@not.header\r\n",     /* only the header block counts */
		"From: nobody\r\n\r\n",
		"From: <>\r\n\r\n",
		"From: a@[192.0.2.1]\r\n\r\n",                          /* a literal is no domain */
		"From: a@-bad-.example\r\n\r\n",
		"From: a@b..example\r\n\r\n",
		"From: <a@b.example\r\n\r\n",
		"",
	};
	for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
		strcpy(d, "junk");
		if (from(none[i], d, sizeof(d)) != 0 || d[0] != '\0')
			fail_msg("case %zu: got \"%s\"", i, d);
	}
	static const char nul[] = "From: a\0b@c.example\r\n\r\n";  /* found by fuzz_from_domain */
	assert_int_equal(header_from_domain(nul, sizeof(nul) - 1, d, sizeof(d)), 0);
	char small[8];
	assert_int_equal(from("From: a@long.example\r\n\r\n", small, sizeof(small)), 0);
	assert_string_equal(small, "");
	assert_int_equal(from("From: a@s.exampl\r\n\r\n", small, sizeof(small)), 0);  /* 8 octets + NUL */
	assert_int_equal(from("From: a@s.examp\r\n\r\n", small, sizeof(small)), 1);
	assert_string_equal(small, "s.examp");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_key_matches_its_value),
		cmocka_unit_test(test_null_sender),
		cmocka_unit_test(test_tenant_and_spam_keys),
		cmocka_unit_test(test_absent_values_match_no_glob),
		cmocka_unit_test(test_all_keys_of_a_rule_must_match_and_first_rule_wins),
		cmocka_unit_test(test_mx_is_asked_for_only_when_it_decides),
		cmocka_unit_test(test_utf8_domains_match_as_written),
		cmocka_unit_test(test_long_values_do_not_overflow),
		cmocka_unit_test(test_explain_says_why),
		cmocka_unit_test(test_from_domain),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
