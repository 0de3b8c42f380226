/* dmarc_report: containers, required fields, refusals with a clear reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <zlib.h>

#include "dmarc/dmarc_report.h"

#define HEAD "<?xml version=\"1.0\"?><feedback><report_metadata><org_name>google.com</org_name>" \
	"<email>noreply@google.com</email><report_id>123</report_id><date_range><begin>1700000000</begin>" \
	"<end>1700086399</end></date_range></report_metadata><policy_published><domain>Example.COM</domain>" \
	"<adkim>r</adkim><aspf>s</aspf><p>reject</p><pct>50</pct></policy_published>"
#define REC(ip, count, dkim, spf) "<record><row><source_ip>" ip "</source_ip><count>" count "</count>" \
	"<policy_evaluated><disposition>none</disposition><dkim>" dkim "</dkim><spf>" spf "</spf>" \
	"</policy_evaluated></row><identifiers><header_from>example.com</header_from></identifiers>" \
	"<auth_results><dkim><domain>example.com</domain><result>pass</result></dkim><spf>" \
	"<domain>bounce.example.com</domain><result>pass</result></spf></auth_results></record>"

static struct dmarc_report *ok(const void *data, size_t len)
{
	char err[512] = "";
	struct dmarc_report *r = NULL;
	if (dmarc_report_parse(data, len, &r, err, sizeof(err)) < 0)
		fail_msg("refused: %s", err);
	return r;
}

static void refused(const char *xml, const char *want)
{
	char err[512] = "";
	struct dmarc_report *r = (struct dmarc_report *)1;
	assert_int_equal(dmarc_report_parse(xml, strlen(xml), &r, err, sizeof(err)), -1);
	assert_null(r);
	if (strstr(err, want) == NULL)
		fail_msg("got \"%s\", want \"%s\"", err, want);
}

static void xml_report_with_several_records(void **st)
{
	(void)st;
	const char *xml = HEAD REC("192.0.2.1", "3", "pass", "fail") REC("2001:db8::1", " 7 ", "Fail", "PASS")
		"</feedback>";
	struct dmarc_report *r = ok(xml, strlen(xml));
	assert_string_equal(r->org_name, "google.com");
	assert_string_equal(r->report_id, "123");
	assert_string_equal(r->domain, "example.com");
	assert_string_equal(r->p, "reject");
	assert_string_equal(r->aspf, "s");
	assert_int_equal(r->pct, 50);
	assert_int_equal(r->begin, 1700000000);
	assert_int_equal(r->nrec, 2);
	assert_int_equal(r->rec[0].count, 3);
	assert_string_equal(r->rec[0].dkim, "pass");
	assert_string_equal(r->rec[1].source_ip, "2001:db8::1");
	assert_string_equal(r->rec[1].dkim, "fail");     /* lowercased */
	assert_string_equal(r->rec[1].spf, "pass");
	assert_string_equal(r->rec[1].spf_domain, "bounce.example.com");
	dmarc_report_free(r);
}

static void optional_fields_may_be_missing(void **st)
{
	(void)st;
	const char *xml = "<feedback xmlns=\"urn:ietf:params:xml:ns:dmarc-2.0\"><report_metadata><org_name>a</org_name>"
		"<report_id>1</report_id><date_range><begin>1</begin><end>2</end></date_range></report_metadata>"
		"<policy_published><domain>d.example</domain><p>none</p></policy_published><record><row>"
		"<source_ip>192.0.2.9</source_ip><count>1</count><policy_evaluated><disposition>none"
		"</disposition><dkim>fail</dkim><spf>fail</spf></policy_evaluated></row><identifiers>"
		"<header_from>d.example</header_from></identifiers><auth_results/></record></feedback>";
	struct dmarc_report *r = ok(xml, strlen(xml));
	assert_string_equal(r->email, "");
	assert_int_equal(r->pct, 100);
	assert_string_equal(r->rec[0].dkim_domain, "");
	dmarc_report_free(r);
}

static void gzip_and_zip_containers(void **st)
{
	(void)st;
	const char *xml = HEAD REC("192.0.2.1", "1", "pass", "pass") "</feedback>";
	unsigned char gz[4096];
	z_stream zs;
	memset(&zs, 0, sizeof(zs));
	assert_int_equal(deflateInit2(&zs, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY), Z_OK);
	zs.next_in = (unsigned char *)xml;
	zs.avail_in = (uInt)strlen(xml);
	zs.next_out = gz;
	zs.avail_out = sizeof(gz);
	assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
	size_t gzlen = sizeof(gz) - zs.avail_out;
	deflateEnd(&zs);
	struct dmarc_report *r = ok(gz, gzlen);
	assert_int_equal(r->nrec, 1);
	dmarc_report_free(r);
	char err[512];
	assert_int_equal(dmarc_report_parse(gz, gzlen / 2, &r, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "gzip: truncated"));
	/* a zip from a real reporter (tests/data/dmarc, Apache-2.0) */
	FILE *f = fopen("tests/data/dmarc/infonacot.zip", "rb");
	assert_non_null(f);
	unsigned char zip[4096];
	size_t n = fread(zip, 1, sizeof(zip), f);
	fclose(f);
	r = ok(zip, n);
	assert_string_equal(r->report_id, "2940");
	dmarc_report_free(r);
	assert_int_equal(dmarc_report_parse(zip, 40, &r, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "zip: "));
}

static void malformed_reports_are_refused_with_the_reason(void **st)
{
	(void)st;
	refused("", "empty");
	refused("<feedback><report_metadata>", "broken XML at line 1");
	refused("<html/>", "the root element is <html>, not <feedback>");
	refused("<feedback/>", "report_metadata is missing");
	refused(HEAD "</feedback>", "no record");
	refused(HEAD REC("300.1.2.3", "1", "pass", "pass") "</feedback>",
		"record 1: row/source_ip \"300.1.2.3\" is not an IP address");
	refused(HEAD REC("192.0.2.1", "1", "pass", "pass") REC("192.0.2.2", "-4", "pass", "pass") "</feedback>",
		"record 2: row/count \"-4\" is not a count");
	refused(HEAD REC("192.0.2.1", "1", "maybe", "pass") "</feedback>", "must be pass or fail");
	refused("<feedback><report_metadata><org_name>a</org_name><report_id>1</report_id><date_range>"
		"<begin>9</begin><end>2</end></date_range></report_metadata></feedback>",
		"ends (2) before it begins (9)");
	refused("<feedback><report_metadata><org_name></org_name></report_metadata></feedback>",
		"report_metadata/org_name is missing");
	refused("<?xml version=\"1.0\"?><!DOCTYPE f [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>"
		"<feedback><report_metadata><org_name>&x;</org_name></report_metadata></feedback>",
		"org_name is missing");          /* entities are not expanded, files never read */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(xml_report_with_several_records),
		cmocka_unit_test(optional_fields_may_be_missing),
		cmocka_unit_test(gzip_and_zip_containers),
		cmocka_unit_test(malformed_reports_are_refused_with_the_reason),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
