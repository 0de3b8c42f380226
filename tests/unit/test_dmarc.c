/* Unit tests: DMARC record selection and parsing (RFC 7489 6.3, 6.4):
 * defaults, every tag, errors with reasons, deprecated and unknown tags
 * as notes; the organisational domain by the Public Suffix List;
 * strict and relaxed alignment; mailto: report domains. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mailauth/dmarc.h"

static struct dmarc_record *parse_ok(const char *txt)
{
	struct dmarc_record *rec = NULL;
	char err[256] = "";
	if (dmarc_record_parse(txt, strlen(txt), &rec, err, sizeof(err)) != 0)
		fail_msg("\"%s\" should parse: %s", txt, err);
	assert_non_null(rec);
	return rec;
}

/* Fails to parse, with a reason containing want. */
static void parse_bad(const char *txt, size_t len, const char *want)
{
	struct dmarc_record *rec = (struct dmarc_record *)1;
	char err[256] = "";
	if (dmarc_record_parse(txt, len, &rec, err, sizeof(err)) == 0)
		fail_msg("\"%s\" should not parse", txt);
	assert_null(rec);
	if (strstr(err, want) == NULL)
		fail_msg("\"%s\": reason \"%s\" lacks \"%s\"", txt, err, want);
}

#define BAD(s, why) parse_bad((s), strlen(s), (why))

static void test_selection(void **st)
{
	(void)st;
	assert_true(dmarc_record_is_dmarc("v=DMARC1; p=none", 16));
	assert_true(dmarc_record_is_dmarc("v = DMARC1", 10));
	assert_true(dmarc_record_is_dmarc("V=DMARC1;p=reject", 17));
	assert_false(dmarc_record_is_dmarc("v=DMARC10; p=none", 17));
	assert_false(dmarc_record_is_dmarc("v=dmarc1; p=none", 16));
	assert_false(dmarc_record_is_dmarc("p=none; v=DMARC1", 16));
	assert_false(dmarc_record_is_dmarc("v=spf1 -all", 11));
	assert_false(dmarc_record_is_dmarc("", 0));
}

static void test_defaults(void **st)
{
	(void)st;
	struct dmarc_record *rec = parse_ok("v=DMARC1; p=reject");
	assert_int_equal(rec->p, DMARC_POLICY_REJECT);
	assert_int_equal(rec->sp, DMARC_POLICY_REJECT);   /* sp defaults to p */
	assert_false(rec->has_sp);
	assert_false(rec->adkim_strict);
	assert_false(rec->aspf_strict);
	assert_int_equal(rec->pct, 100);
	assert_int_equal(rec->ri, 86400);
	assert_string_equal(rec->fo, "0");
	assert_null(rec->rf);
	assert_int_equal(rec->nrua, 0);
	assert_int_equal(rec->nnotes, 0);
	dmarc_record_free(rec);
}

static void test_all_tags(void **st)
{
	(void)st;
	struct dmarc_record *rec = parse_ok(
		" v = DMARC1 ;p=Quarantine; sp=none; adkim=s; aspf=r; pct=50; "
		"rua=mailto:agg@example.com!10m, mailto:dmarc@thirdparty.example.net ; "
		"ruf=mailto:forensic@example.com; fo=1:d:s; rf=afrf; ri=3600;;");
	assert_int_equal(rec->p, DMARC_POLICY_QUARANTINE);
	assert_int_equal(rec->sp, DMARC_POLICY_NONE);
	assert_true(rec->has_sp);
	assert_true(rec->adkim_strict);
	assert_false(rec->aspf_strict);
	assert_int_equal(rec->pct, 50);
	assert_int_equal(rec->nrua, 2);
	assert_string_equal(rec->rua[0], "mailto:agg@example.com");   /* size cut off */
	assert_string_equal(rec->rua[1], "mailto:dmarc@thirdparty.example.net");
	assert_int_equal(rec->nruf, 1);
	assert_string_equal(rec->fo, "1:d:s");
	assert_string_equal(rec->rf, "afrf");
	assert_int_equal(rec->ri, 3600);
	/* pct, rf and ri are dropped by DMARCbis: one note each */
	assert_int_equal(rec->nnotes, 3);
	assert_non_null(strstr(rec->notes[0], "pct"));
	dmarc_record_free(rec);
}

static void test_unknown_tags_are_notes(void **st)
{
	(void)st;
	struct dmarc_record *rec = parse_ok("v=DMARC1; p=none; np=reject; t=y; foo=bar");
	assert_int_equal(rec->p, DMARC_POLICY_NONE);
	assert_int_equal(rec->nnotes, 3);
	assert_non_null(strstr(rec->notes[0], "\"np\""));
	assert_non_null(strstr(rec->notes[2], "\"foo\""));
	dmarc_record_free(rec);
}

static void test_errors(void **st)
{
	(void)st;
	BAD("p=none; v=DMARC1", "start with v=DMARC1");
	BAD("v=DMARC2; p=none", "start with v=DMARC1");
	BAD("v=DMARC1", "no p=");
	BAD("v=DMARC1; rua=mailto:a@example.com", "no p=");
	BAD("v=DMARC1; p=block", "want none, quarantine or reject");
	BAD("v=DMARC1; p=none; sp=", "want none, quarantine or reject");
	BAD("v=DMARC1; p=none; p=reject", "twice");
	BAD("v=DMARC1; p=none; v=DMARC1", "twice");
	BAD("v=DMARC1; p=none; adkim=x", "want r or s");
	BAD("v=DMARC1; p=none; aspf=relaxed", "want r or s");
	BAD("v=DMARC1; p=none; pct=101", "0..100");
	BAD("v=DMARC1; p=none; pct=-1", "0..100");
	BAD("v=DMARC1; p=none; pct=", "0..100");
	BAD("v=DMARC1; p=none; ri=99999999999", "number");
	BAD("v=DMARC1; p=none; fo=2", "unknown value");
	BAD("v=DMARC1; p=none; fo=1:", "unknown value");
	BAD("v=DMARC1; p=none; rf=iodef", "unknown value");
	BAD("v=DMARC1; p=none; rua=agg@example.com", "want scheme:address");
	BAD("v=DMARC1; p=none; rua=mailto:", "want scheme:address");
	BAD("v=DMARC1; p=none; rua=mailto:a@example.com!", "size limit");
	BAD("v=DMARC1; p=none; rua=mailto:a@example.com!10x", "size limit");
	BAD("v=DMARC1; p=none; rua=mailto:a@example.com,", "no scheme");
	BAD("v=DMARC1; p=none; =x", "bad tag name");
	BAD("v=DMARC1; p none", "has no '='");
	parse_bad("v=DMARC1; p=n\0ne", 16, "byte 0x00");
	parse_bad("v=DMARC1; p=none", 14, "want none");   /* never reads past len */
}

static void test_uri_count_capped(void **st)
{
	(void)st;
	char txt[2048] = "v=DMARC1; p=none; rua=";
	for (int i = 0; i <= DMARC_MAX_URIS; i++)
		strcat(txt, i ? ",mailto:a@example.com" : "mailto:a@example.com");
	BAD(txt, "more than");
}

static void test_org_domain(void **st)
{
	(void)st;
	char out[256];
	assert_int_equal(dmarc_org_domain("mail.Example.COM", out, sizeof(out)), 0);
	assert_string_equal(out, "example.com");
	assert_int_equal(dmarc_org_domain("a.b.example.co.uk.", out, sizeof(out)), 0);
	assert_string_equal(out, "example.co.uk");
	assert_int_equal(dmarc_org_domain("example.org", out, sizeof(out)), 0);
	assert_string_equal(out, "example.org");
	assert_int_equal(dmarc_org_domain("co.uk", out, sizeof(out)), 0);   /* a suffix itself */
	assert_string_equal(out, "co.uk");
	assert_int_equal(dmarc_org_domain("mail.example.com", out, 5), -1);
}

static void test_alignment(void **st)
{
	(void)st;
	assert_true(dmarc_aligned("example.com", "EXAMPLE.com.", 1));
	assert_false(dmarc_aligned("mail.example.com", "example.com", 1));
	assert_true(dmarc_aligned("mail.example.com", "example.com", 0));
	assert_true(dmarc_aligned("a.example.com", "b.example.com", 0));
	assert_false(dmarc_aligned("example.com", "example.net", 0));
	assert_false(dmarc_aligned("a.example.co.uk", "b.other.co.uk", 0));
	assert_false(dmarc_aligned("amazonses.com", "example.com", 0));
}

static void test_mailto_domain(void **st)
{
	(void)st;
	char out[64];
	assert_int_equal(dmarc_uri_mailto_domain("mailto:agg@reports.example.net", out, sizeof(out)), 0);
	assert_string_equal(out, "reports.example.net");
	assert_int_equal(dmarc_uri_mailto_domain("MAILTO:x@example.org?subject=r", out, sizeof(out)), 0);
	assert_string_equal(out, "example.org");
	assert_int_equal(dmarc_uri_mailto_domain("https://example.org/r", out, sizeof(out)), -1);
	assert_int_equal(dmarc_uri_mailto_domain("mailto:nobody", out, sizeof(out)), -1);
	assert_int_equal(dmarc_uri_mailto_domain("mailto:a@", out, sizeof(out)), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_selection),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_all_tags),
		cmocka_unit_test(test_unknown_tags_are_notes),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_uri_count_capped),
		cmocka_unit_test(test_org_domain),
		cmocka_unit_test(test_alignment),
		cmocka_unit_test(test_mailto_domain),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
