/*
 * test_provider: MX host names and recipient domains of the big providers
 * give one class each (as their MX records name them), other hosts their
 * registered domain, under two-level public suffixes too.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "delivery/provider.h"

static void expect(const char *host, const char *want)
{
	char out[64] = "junk";
	if (provider_of(host, out, sizeof(out)) != 0 || strcmp(out, want) != 0)
		fail_msg("provider_of(\"%s\") = \"%s\", want \"%s\"", host, out, want);
}

static void big_providers_by_mx_host_and_by_domain(void **st)
{
	(void)st;
	/* MX hosts as published in DNS (dig MX gmail.com, outlook.com, ...) */
	expect("gmail-smtp-in.l.google.com", "gmail");
	expect("alt4.gmail-smtp-in.l.google.com.", "gmail");
	expect("ASPMX.L.GOOGLE.COM", "gmail");            /* Google Workspace customers */
	expect("gmail.com", "gmail");
	expect("googlemail.com", "gmail");
	expect("example-com.mail.protection.outlook.com", "outlook");
	expect("hotmail-com.olc.protection.outlook.com", "outlook");
	expect("outlook-com.olc.protection.outlook.com", "outlook");
	expect("hotmail.com", "outlook");
	expect("live.com", "outlook");
	expect("mta5.am0.yahoodns.net", "yahoo");
	expect("mx-aol.mail.gm0.yahoodns.net", "yahoo");
	expect("yahoo.com", "yahoo");
	expect("aol.com", "yahoo");
	expect("mx01.mail.icloud.com", "icloud");
	expect("me.com", "icloud");
	expect("mx00.emig.gmx.net", "gmx");
	expect("mx-ha03.web.de", "gmx");
	expect("web.de", "gmx");
}

/* Issue 19: the MX front ends of hosted domains (business domains at Google
 * Workspace, Microsoft 365, ...) as published in their MX records, and the
 * security gateways in front of many companies' mail. */
static void mx_front_ends_of_hosted_domains(void **st)
{
	(void)st;
	expect("smtp.google.com", "gmail");                     /* Workspace since 2023 */
	expect("alt1.aspmx.l.google.com", "gmail");
	expect("aspmx2.googlemail.com", "gmail");
	expect("contoso-com.mail.protection.outlook.com", "outlook");
	expect("contoso-com01e.mail.protection.outlook.com", "outlook");
	expect("contoso-us.mail.protection.office365.us", "outlook");
	expect("mta6.am0.yahoodns.net", "yahoo");
	expect("mx02.mail.icloud.com", "icloud");
	expect("mx01.emig.gmx.net", "gmx");
	expect("mx00.web.de", "gmx");
	expect("mx.zoho.com", "zoho");
	expect("mx2.zoho.eu", "zoho");
	expect("mx.zoho.in", "zoho");
	expect("mx3.zoho.com.au", "zoho");
	expect("mail.protonmail.ch", "proton");
	expect("mailsec.protonmail.ch", "proton");
	expect("in1-smtp.messagingengine.com", "fastmail");
	expect("in2-smtp.messagingengine.com.", "fastmail");
	expect("us-smtp-inbound-1.mimecast.com", "mimecast");
	expect("eu-smtp-inbound-2.mimecast.com", "mimecast");
	expect("za-smtp-inbound-1.mimecast.co.za", "mimecast");
	expect("mx0b-00123456.pphosted.com", "pphosted.com");   /* Proofpoint: one platform */
	expect("mx1-us1.ppe-hosted.com", "ppe-hosted.com");     /* Proofpoint Essentials */
}

static void others_by_registered_domain(void **st)
{
	(void)st;
	expect("mx1.example.org", "example.org");
	expect("a.b.c.mail.Example.COM.", "example.com");
	expect("example.net", "example.net");
	expect("mx0a-001.pphosted.com", "pphosted.com");
	expect("mail.example.co.uk", "example.co.uk");
	expect("mx.example.com.au", "example.com.au");
	expect("mx.example.co.jp", "example.co.jp");
	expect("example.co.uk", "example.co.uk");
	/* a look-alike is not the provider */
	expect("notgoogle.com", "notgoogle.com");
	expect("google.com.example.net", "example.net");
	expect("mygmail.com", "mygmail.com");
}

static void literals_and_odd_input(void **st)
{
	(void)st;
	char out[64];
	expect("192.0.2.25", "192.0.2.25");
	expect("2001:db8::25", "2001:db8::25");
	expect("localhost", "localhost");
	expect("co.uk", "co.uk");
	assert_int_equal(provider_of("", out, sizeof(out)), -1);
	assert_string_equal(out, "");
	assert_int_equal(provider_of(".", out, sizeof(out)), -1);
	assert_int_equal(provider_of(NULL, out, sizeof(out)), -1);
	char small[6];
	assert_int_equal(provider_of("mx.example.org", small, sizeof(small)), -1);
	assert_string_equal(small, "");
	assert_int_equal(provider_of("mx.google.com", small, sizeof(small)), 0);
	assert_string_equal(small, "gmail");
	char longname[400];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(provider_of(longname, out, sizeof(out)), -1);
}

/* The names a `limits` entry may give: built-in names and aliases, case
 * ignored, each to the name provider_of() gives; the list for errors. */
static void provider_keys_and_aliases(void **st)
{
	(void)st;
	char out[64];
	assert_string_equal(provider_key("gmail"), "gmail");
	assert_string_equal(provider_key("Google"), "gmail");
	assert_string_equal(provider_key("microsoft"), "outlook");
	assert_string_equal(provider_key("apple"), "icloud");
	assert_string_equal(provider_key("MIMECAST"), "mimecast");
	assert_null(provider_key("gogle"));
	assert_null(provider_key("google.com"));   /* a domain: provider_of() says which */
	assert_null(provider_key(""));
	assert_null(provider_key(NULL));
	assert_int_equal(provider_of("aspmx.l.google.com", out, sizeof(out)), 0);
	assert_string_equal(provider_key(out), "gmail");
	char list[512];
	assert_int_equal(provider_key_list(list, sizeof(list)), 0);
	assert_string_equal(list, "gmail (google), outlook (microsoft), yahoo, icloud (apple), gmx, yandex, mailru, "
				  "zoho, proton, fastmail, mimecast");
	assert_int_equal(provider_key_list(list, 20), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(big_providers_by_mx_host_and_by_domain),
		cmocka_unit_test(mx_front_ends_of_hosted_domains),
		cmocka_unit_test(others_by_registered_domain),
		cmocka_unit_test(literals_and_odd_input),
		cmocka_unit_test(provider_keys_and_aliases),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
