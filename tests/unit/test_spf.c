/* Unit tests: SPF record selection and parsing (mechanisms, modifiers,
 * CIDR lengths, domain-spec syntax), macro expansion including every
 * example of RFC 7208 section 7.4, and ip4/ip6 CIDR matching. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "dns/dns.h"
#include "mailauth/spf.h"
#include "mailauth/spf_macro.h"
#include "mailauth/spf_record.h"

static struct spf_record *parse_ok(const char *txt)
{
	struct spf_record *rec = NULL;
	char err[256] = "";
	int rc = spf_record_parse(txt, strlen(txt), &rec, err, sizeof(err));
	if (rc != 0)
		fail_msg("\"%s\" should parse: %s", txt, err);
	assert_non_null(rec);
	return rec;
}

static void parse_bad(const char *txt, size_t len)
{
	struct spf_record *rec = (struct spf_record *)1;
	char err[256] = "";
	if (spf_record_parse(txt, len, &rec, err, sizeof(err)) == 0)
		fail_msg("\"%s\" should not parse", txt);
	assert_null(rec);
	assert_true(err[0] != '\0');
}

#define BAD(s) parse_bad((s), strlen(s))

static void test_record_selection(void **st)
{
	(void)st;
	assert_true(spf_record_is_spf("v=spf1", 6));
	assert_true(spf_record_is_spf("V=SpF1 -all", 11));
	assert_false(spf_record_is_spf("v=spf10", 7));
	assert_false(spf_record_is_spf("v=spf1mx", 8));
	assert_false(spf_record_is_spf("v=spf", 5));
	assert_false(spf_record_is_spf("spf2.0/pra", 10));
	assert_false(spf_record_is_spf("v=s\0f1", 6));
}

static void test_parse_all_mechanisms(void **st)
{
	(void)st;
	struct spf_record *rec = parse_ok("v=spf1 +all -include:_spf.example.com ~a ?a:mail.example.com/24 "
					  "mx//64 MX:example.org/16//48 ptr ptr:example.net "
					  "ip4:192.0.2.0/24 ip6:2001:db8::/32 exists:%{i}.bl.example.com "
					  "redirect=_spf.example.net exp=why.%{d} foo.bar-baz_q=%{l}x  ");
	assert_int_equal(rec->nmech, 11);
	assert_int_equal(rec->mech[0].type, SPF_MECH_ALL);
	assert_int_equal(rec->mech[0].qual, SPF_QUAL_PASS);
	assert_int_equal(rec->mech[1].type, SPF_MECH_INCLUDE);
	assert_int_equal(rec->mech[1].qual, SPF_QUAL_FAIL);
	assert_string_equal(rec->mech[1].domain, "_spf.example.com");
	assert_int_equal(rec->mech[2].qual, SPF_QUAL_SOFTFAIL);
	assert_null(rec->mech[2].domain);
	assert_int_equal(rec->mech[2].cidr4, 32);
	assert_int_equal(rec->mech[2].cidr6, 128);
	assert_int_equal(rec->mech[3].qual, SPF_QUAL_NEUTRAL);
	assert_string_equal(rec->mech[3].domain, "mail.example.com");
	assert_int_equal(rec->mech[3].cidr4, 24);
	assert_int_equal(rec->mech[4].type, SPF_MECH_MX);
	assert_int_equal(rec->mech[4].cidr4, 32);
	assert_int_equal(rec->mech[4].cidr6, 64);
	assert_string_equal(rec->mech[5].domain, "example.org");
	assert_int_equal(rec->mech[5].cidr4, 16);
	assert_int_equal(rec->mech[5].cidr6, 48);
	assert_int_equal(rec->mech[6].type, SPF_MECH_PTR);
	assert_null(rec->mech[6].domain);
	assert_string_equal(rec->mech[7].domain, "example.net");
	assert_int_equal(rec->mech[8].type, SPF_MECH_IP4);
	assert_int_equal(rec->mech[8].cidr4, 24);
	assert_int_equal(rec->mech[9].type, SPF_MECH_IP6);
	assert_int_equal(rec->mech[9].cidr6, 32);
	assert_int_equal(rec->mech[10].type, SPF_MECH_EXISTS);
	assert_string_equal(rec->redirect, "_spf.example.net");
	assert_string_equal(rec->exp, "why.%{d}");
	spf_record_free(rec);

	rec = parse_ok("v=spf1");
	assert_int_equal(rec->nmech, 0);
	spf_record_free(rec);
	/* a colon and slash inside the domain-spec, no CIDR */
	rec = parse_ok("v=spf1 a:foo:bar/baz.example.com mx:example.com/24");
	assert_string_equal(rec->mech[0].domain, "foo:bar/baz.example.com");
	assert_int_equal(rec->mech[0].cidr4, 32);
	assert_int_equal(rec->mech[1].cidr4, 24);
	spf_record_free(rec);
}

static void test_parse_errors(void **st)
{
	(void)st;
	BAD("v=spf10 -all");
	BAD("v=spf1 -all moo");               /* any error anywhere */
	BAD("v=spf1 -all.");
	BAD("v=spf1 -all:foobar");
	BAD("v=spf1 -all/8");
	BAD("v=spf1 moo.cow/far_out=man:dog/cat");
	BAD("v=spf1 moo.cow:far_out=man:dog/cat");
	BAD("v=spf1 redirect:t2.example.com");
	BAD("v=spf1 1up=foo");
	BAD("v=spf1 =all");
	BAD("v=spf1 -all foo=%abc");
	BAD("v=spf1 exp=");
	BAD("v=spf1 exp=-all");
	BAD("v=spf1 redirect=");
	BAD("v=spf1 exp=a.example.com exp=b.example.com");
	BAD("v=spf1 redirect=a.example.com redirect=a.example.com");
	BAD("v=spf1 include");
	BAD("v=spf1 include:");
	BAD("v=spf1 include:ip5.example.com/24");
	BAD("v=spf1 exists");
	BAD("v=spf1 exists:mail.example.com/24");
	BAD("v=spf1 ptr/0");
	BAD("v=spf1 ptr:");
	BAD("v=spf1 a:");
	BAD("v=spf1 mx: -all");
	BAD("v=spf1 a/33");
	BAD("v=spf1 a//129");
	BAD("v=spf1 a/24/64");
	BAD("v=spf1 a/032");
	BAD("v=spf1 a/");
	BAD("v=spf1 -exists:%(ir).sbl.example.com");
	BAD("v=spf1 exists:foo%.sbl.example.com");
	BAD("v=spf1 a:%{a}.example.com");
	BAD("v=spf1 -all exp=%{r}.example.com");   /* c r t: exp text only */
	parse_bad("v=spf1 a:foo.example.com\0", 25);
	BAD("v=spf1 a:ctrl.example.com\rptr -all");
	BAD("v=spf1 ip4:192.0.2.5\n include:x.example.com");
	BAD("v=spf1\ta");
	BAD("v=spf1 a:\xef\xbb\xbfgarbage.example.net -all");
}

static void test_parse_ip_mechanisms(void **st)
{
	struct spf_record *rec;
	(void)st;
	rec = parse_ok("v=spf1 ip4:1.1.1.1/0 ip4:1.2.3.4/32 ip6:::1.1.1.1/0 ip6:Cafe:Babe:8000::/33 "
		       "ip6:::FFFF:1.2.3.4");
	assert_int_equal(rec->mech[0].cidr4, 0);
	assert_int_equal(rec->mech[2].net.family, AF_INET6);
	assert_int_equal(rec->mech[3].cidr6, 33);
	assert_int_equal(rec->mech[4].net.family, AF_INET6);  /* stays IPv6 */
	spf_record_free(rec);
	BAD("v=spf1 ip4");
	BAD("v=spf1 ip4:");
	BAD("v=spf1 ip4:1.2.3.4/33");
	BAD("v=spf1 ip4:1.2.3.4/032");
	BAD("v=spf1 ip4:1.2.3.4//32");
	BAD("v=spf1 ip4:1.2.3.4:8080");
	BAD("v=spf1 ip4:1.2.3");
	BAD("v=spf1 ip4:01.2.3.4");
	BAD("v=spf1 ip4:256.2.3.4");
	BAD("v=spf1 ip4:1.2.3.4/");
	BAD("v=spf1 ip4:::1");
	BAD("v=spf1 -all ip6");
	BAD("v=spf1 ip6:::1.1.1.1/129");
	BAD("v=spf1 ip6:::1.1.1.1//33");
	BAD("v=spf1 ip6::CAFE::BABE");
	BAD("v=spf1 ip6:1.2.3.4");
}

static void spec_ok(const char *s)
{
	char err[256];
	if (spf_domain_spec_check(s, strlen(s), err, sizeof(err)) != 0)
		fail_msg("domain-spec \"%s\" should be valid: %s", s, err);
}

static void spec_bad(const char *s)
{
	char err[256];
	if (spf_domain_spec_check(s, strlen(s), err, sizeof(err)) == 0)
		fail_msg("domain-spec \"%s\" should be invalid", s);
}

static void test_domain_spec(void **st)
{
	(void)st;
	spec_ok("example.com");
	spec_ok("example.com.");
	spec_ok("foo:bar/baz.example.com");
	spec_ok("foo.example.xn--zckzah");
	spec_ok("mail.example...com");        /* syntax ok; not a DNS name */
	spec_ok("%{d}");
	spec_ok("%{d}.");
	spec_ok("_spf.%{d2}");
	spec_ok("macro%%percent%_%_space%-url-space.example.com");
	spec_ok("x.12-34");
	spec_bad("");
	spec_bad("foo-bar");
	spec_bad("museum");
	spec_bad("museum.");
	spec_bad("111.222.33.44");
	spec_bad("abc.123");
	spec_bad("example.-com");
	spec_bad("example.com-");
	spec_bad("example.com:8080");
	spec_bad("ip5.example.com/24");
	spec_bad("%{l.}com");
	spec_ok("a.%-");                       /* ends in a macro */
}

struct fixture {
	struct spf_macro_vars v;
	char i[80], c[64];
};

/* RFC 7208 7.4: sender strong-bad@email.example.com from 192.0.2.3. */
static void rfc_vars(struct fixture *f, const char *ip)
{
	struct dns_addr a;
	memset(f, 0, sizeof(*f));
	assert_int_equal(dns_addr_parse(ip, &a), 0);
	assert_int_equal(spf_macro_ip_strings(&a, f->i, sizeof(f->i), f->c, sizeof(f->c)), 0);
	f->v.s = "strong-bad@email.example.com";
	f->v.l = "strong-bad";
	f->v.o = "email.example.com";
	f->v.d = "email.example.com";
	f->v.i = f->i;
	f->v.p = "unknown";
	f->v.v = a.family == AF_INET ? "in-addr" : "ip6";
	f->v.h = "mx.example.org";
	f->v.c = f->c;
	f->v.r = "mx.example.org";
	f->v.t = "1700000000";
}

static void expands_to(const struct fixture *f, enum spf_macro_mode mode, const char *in,
		       const char *want)
{
	struct buf out = BUF_INIT;
	char err[256] = "";
	if (spf_macro_expand(in, strlen(in), mode, &f->v, &out, err, sizeof(err)) != 0)
		fail_msg("\"%s\" should expand: %s", in, err);
	assert_string_equal(out.data, want);
	buf_free(&out);
}

static void test_macro_rfc_examples(void **st)
{
	struct fixture f;
	(void)st;
	rfc_vars(&f, "192.0.2.3");
	const char *ex[][2] = {
		{ "%{s}", "strong-bad@email.example.com" },
		{ "%{o}", "email.example.com" },
		{ "%{d}", "email.example.com" },
		{ "%{d4}", "email.example.com" },
		{ "%{d3}", "email.example.com" },
		{ "%{d2}", "example.com" },
		{ "%{d1}", "com" },
		{ "%{dr}", "com.example.email" },
		{ "%{d2r}", "example.email" },
		{ "%{l}", "strong-bad" },
		{ "%{l-}", "strong.bad" },
		{ "%{lr}", "strong-bad" },
		{ "%{lr-}", "bad.strong" },
		{ "%{l1r-}", "strong" },
		{ "%{ir}.%{v}._spf.%{d2}", "3.2.0.192.in-addr._spf.example.com" },
		{ "%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com" },
		{ "%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", "bad.strong.lp.3.2.0.192.in-addr._spf.example.com" },
		{ "%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", "3.2.0.192.in-addr.strong.lp._spf.example.com" },
		{ "%{d2}.trusted-domains.example.net", "example.com.trusted-domains.example.net" },
	};
	for (size_t k = 0; k < sizeof(ex) / sizeof(ex[0]); k++)
		expands_to(&f, SPF_MACRO_DOMAIN, ex[k][0], ex[k][1]);
	rfc_vars(&f, "2001:db8::cb01");
	expands_to(&f, SPF_MACRO_DOMAIN, "%{ir}.%{v}._spf.%{d2}",
		   "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com");
	expands_to(&f, SPF_MACRO_EXPLAIN, "%{c} is %{i}",
		   "2001:db8::cb01 is 2.0.0.1.0.d.b.8.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.c.b.0.1");
}

static void test_macro_escapes_and_case(void **st)
{
	struct fixture f;
	(void)st;
	rfc_vars(&f, "192.0.2.3");
	expands_to(&f, SPF_MACRO_DOMAIN, "macro%%percent%_%_space%-url-space.example.com",
		   "macro%percent  space%20url-space.example.com");
	f.v.l = "~jack&jill=up-a_b3.c";
	expands_to(&f, SPF_MACRO_EXPLAIN, "http://example.com/why.html?l=%{L}",
		   "http://example.com/why.html?l=~jack%26jill%3Dup-a_b3.c");
	f.v.l = "foo-bar+zip+quux";
	expands_to(&f, SPF_MACRO_DOMAIN, "%{l2r+-}.user.%{d2}", "bar.foo.user.example.com");
	f.v.h = "JUMPIN' JUPITER";
	expands_to(&f, SPF_MACRO_DOMAIN, "%{H}", "JUMPIN%27%20JUPITER");
	expands_to(&f, SPF_MACRO_DOMAIN, "%{D2}.%{d100}", "example.com.email.example.com");
	expands_to(&f, SPF_MACRO_EXPLAIN, "Connections from %{c} at %{t}: %{r}",
		   "Connections from 192.0.2.3 at 1700000000: mx.example.org");
	expands_to(&f, SPF_MACRO_DOMAIN, "", "");
	f.v.d = "a..b";
	expands_to(&f, SPF_MACRO_DOMAIN, "%{dr}", "b..a");
}

static void macro_bad(enum spf_macro_mode mode, const char *s)
{
	char err[256];
	if (spf_macro_check(s, strlen(s), mode, err, sizeof(err)) == 0)
		fail_msg("macro string \"%s\" should be invalid", s);
}

static void test_macro_errors(void **st)
{
	struct fixture f;
	struct buf out = BUF_INIT;
	char err[256];
	(void)st;
	macro_bad(SPF_MACRO_DOMAIN, "%");
	macro_bad(SPF_MACRO_DOMAIN, "abc%");
	macro_bad(SPF_MACRO_DOMAIN, "%x");
	macro_bad(SPF_MACRO_DOMAIN, "%(ir)");
	macro_bad(SPF_MACRO_DOMAIN, "%{");
	macro_bad(SPF_MACRO_DOMAIN, "%{d");
	macro_bad(SPF_MACRO_DOMAIN, "%{d0}");
	macro_bad(SPF_MACRO_DOMAIN, "%{d2x}");
	macro_bad(SPF_MACRO_DOMAIN, "%{x}");
	macro_bad(SPF_MACRO_DOMAIN, "%{c}");
	macro_bad(SPF_MACRO_DOMAIN, "%{r}");
	macro_bad(SPF_MACRO_DOMAIN, "%{t}");
	macro_bad(SPF_MACRO_DOMAIN, "a b");
	macro_bad(SPF_MACRO_EXPLAIN, "The %{x}-files.");
	macro_bad(SPF_MACRO_EXPLAIN, "\xef\xbb\xbf" "Explanation");
	macro_bad(SPF_MACRO_EXPLAIN, "tab\there");
	assert_int_equal(spf_macro_check("a %{c} %{R} %{t2r}", 18, SPF_MACRO_EXPLAIN, err,
					 sizeof(err)), 0);
	/* NUL inside the given length is an error, not an end */
	assert_int_equal(spf_macro_check("ab\0cd", 5, SPF_MACRO_DOMAIN, err, sizeof(err)), -1);
	/* %{p} without a value */
	rfc_vars(&f, "192.0.2.3");
	f.v.p = NULL;
	assert_int_equal(spf_macro_expand("%{p}", 4, SPF_MACRO_DOMAIN, &f.v, &out, err, sizeof(err)), -1);
	buf_free(&out);
	/* expansion size is capped */
	static char big[6000];
	for (size_t k = 0; k + 4 <= sizeof(big) - 1; k += 4)
		memcpy(big + k, "%{s}", 4);
	assert_int_equal(spf_macro_expand(big, strlen(big), SPF_MACRO_DOMAIN, &f.v, &out, err,
					  sizeof(err)), -1);
	buf_free(&out);
}

static void test_macro_uses(void **st)
{
	(void)st;
	assert_true(spf_macro_uses("%{p}.x", 6, 'p'));
	assert_true(spf_macro_uses("a.%{P2r}", 8, 'p'));
	assert_false(spf_macro_uses("%%{p}", 5, 'p'));
	assert_false(spf_macro_uses("%{d}", 4, 'p'));
	assert_false(spf_macro_uses("%{", 2, 'p'));
}

static void test_cidr_matching(void **st)
{
	struct spf_record *rec;
	struct dns_addr ip;
	(void)st;
	rec = parse_ok("v=spf1 ip4:192.0.2.0/24 ip4:192.0.2.128/25 ip4:0.0.0.0/0 "
		       "ip6:2001:db8::/32 ip6:2001:db8::1 ip6:::/0");
	assert_int_equal(dns_addr_parse("192.0.2.77", &ip), 0);
	assert_true(dns_addr_match(&ip, &rec->mech[0].net, rec->mech[0].cidr4));
	assert_false(dns_addr_match(&ip, &rec->mech[1].net, rec->mech[1].cidr4));
	assert_true(dns_addr_match(&ip, &rec->mech[2].net, rec->mech[2].cidr4));
	assert_false(dns_addr_match(&ip, &rec->mech[5].net, rec->mech[5].cidr6));
	assert_int_equal(dns_addr_parse("2001:db8:ffff::9", &ip), 0);
	assert_true(dns_addr_match(&ip, &rec->mech[3].net, rec->mech[3].cidr6));
	assert_false(dns_addr_match(&ip, &rec->mech[4].net, rec->mech[4].cidr6));
	assert_true(dns_addr_match(&ip, &rec->mech[5].net, rec->mech[5].cidr6));
	assert_false(dns_addr_match(&ip, &rec->mech[2].net, rec->mech[2].cidr4));
	/* an IPv4-mapped client is IPv4 (5/9/2) once unmapped */
	assert_int_equal(dns_addr_parse("::ffff:192.0.2.200", &ip), 0);
	dns_addr_unmap(&ip);
	assert_true(dns_addr_match(&ip, &rec->mech[1].net, rec->mech[1].cidr4));
	spf_record_free(rec);
}

static void test_result_names(void **st)
{
	(void)st;
	assert_string_equal(spf_result_name(SPF_RESULT_PASS), "pass");
	assert_string_equal(spf_result_name(SPF_RESULT_FAIL), "fail");
	assert_string_equal(spf_result_name(SPF_RESULT_SOFTFAIL), "softfail");
	assert_string_equal(spf_result_name(SPF_RESULT_NEUTRAL), "neutral");
	assert_string_equal(spf_result_name(SPF_RESULT_NONE), "none");
	assert_string_equal(spf_result_name(SPF_RESULT_TEMPERROR), "temperror");
	assert_string_equal(spf_result_name(SPF_RESULT_PERMERROR), "permerror");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_record_selection),
		cmocka_unit_test(test_parse_all_mechanisms),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_parse_ip_mechanisms),
		cmocka_unit_test(test_domain_spec),
		cmocka_unit_test(test_macro_rfc_examples),
		cmocka_unit_test(test_macro_escapes_and_case),
		cmocka_unit_test(test_macro_errors),
		cmocka_unit_test(test_macro_uses),
		cmocka_unit_test(test_cidr_matching),
		cmocka_unit_test(test_result_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
