/* Unit tests: tenants in the config (errors with file:line), the order in
 * which a message's tenant is found, sender domains, and rate limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <cmocka.h>

#include "core/config.h"
#include "inbound/tenant.h"

static const char base[] = "hostname = \"mx.example\";\nspool = \"/tmp/x\";\n";

static struct config *parse(const char *tenants, char *err, size_t errlen)
{
	char text[4096];
	int n = snprintf(text, sizeof(text), "%s%s", base, tenants);
	assert_true(n > 0 && (size_t)n < sizeof(text));
	return config_parse(text, "t.conf", err, errlen);
}

static void test_config_errors_name_file_and_line(void **st)
{
	(void)st;
	static const struct { const char *text, *msg; } bad[] = {
		{ "tenants = ( { users = [ \"a\" ]; } );\n", "t.conf:3: tenants: name is required" },
		{ "tenants = ( { name = \"a b\"; users = [ \"a\" ]; } );\n", "t.conf:3: tenants: name is required" },
		{ "tenants = ( { name = \"acme\"; } );\n", "t.conf:3: tenant acme: name its users, networks or domains" },
		{ "tenants = (\n { name = \"acme\";\n   networks = [ \"10.0.0.0/33\" ]; } );\n",
		  "t.conf:5: tenant acme: networks: \"10.0.0.0/33\" is not an address or network" },
		{ "tenants = ( { name = \"acme\"; domains = [ \"a@b\" ]; } );\n", "t.conf:3: tenant acme: domains: \"a@b\" is not a domain" },
		{ "tenants = ( { name = \"a\"; users = [ \"u\" ]; },\n { name = \"a\"; users = [ \"v\" ]; } );\n",
		  "t.conf:4: tenant a: the name is taken by the tenant at line 3" },
		{ "tenants = ( { name = \"a\"; users = [ \"u\" ]; },\n { name = \"b\"; users = [ \"u\" ]; } );\n",
		  "t.conf:4: tenant b: user \"u\" already belongs to tenant a" },
		{ "tenants = ( { name = \"a\"; domains = [ \"X.example\" ]; },\n { name = \"b\"; domains = [ \"x.example\" ]; } );\n",
		  "t.conf:4: tenant b: domain \"x.example\" already belongs to tenant a" },
		{ "tenants = ( { name = \"a\"; users = [ \"u\" ];\n limits = { messages_per_minut = 5; }; } );\n",
		  "t.conf:4: unknown setting \"messages_per_minut\"" },
		{ "tenants = ( { name = \"a\"; users = [ \"u\" ]; colour = 1; } );\n", "t.conf:3: unknown setting \"colour\"" },
		{ "tenants = { name = \"a\"; };\n", "t.conf:3: tenants: expected a list" },
	};
	char err[1024];
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		struct config *cf = parse(bad[i].text, err, sizeof(err));
		config_free(cf);
		if (cf != NULL || strstr(err, bad[i].msg) == NULL)
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, err, bad[i].msg);
	}
}

static const char three[] =
	"tenants = ( { name = \"acme\"; users = [ \"alice\", \"bob\" ]; domains = [ \"acme.example\" ];\n"
	"              limits = { messages_per_minute = 2; messages_per_day = 3; recipients_per_message = 5; }; },\n"
	"            { name = \"net\"; networks = [ \"192.0.2.0/24\", \"2001:db8::/32\" ]; },\n"
	"            { name = \"dom\"; domains = [ \"dom.example\" ]; } );\n";

static void test_identification_order(void **st)
{
	(void)st;
	char err[1024];
	struct config *cf = parse(three, err, sizeof(err));
	if (cf == NULL)
		fail_msg("%s", err);
	struct sockaddr_in in = { .sin_family = AF_INET };
	inet_pton(AF_INET, "192.0.2.9", &in.sin_addr);
	const struct sockaddr *net = (const struct sockaddr *)&in;
	const char *how = NULL;
	/* the user wins over the network and the domain */
	struct tenant_who w1 = { "alice", net, "dom.example" };
	assert_string_equal(tenant_identify(cf, &w1, &how)->name, "acme");
	assert_string_equal(how, "user");
	/* an unknown user: the network, then the domain */
	struct tenant_who w2 = { "carol", net, "dom.example" };
	assert_string_equal(tenant_identify(cf, &w2, &how)->name, "net");
	assert_string_equal(how, "network");
	inet_pton(AF_INET, "198.51.100.1", &in.sin_addr);
	assert_string_equal(tenant_identify(cf, &w2, &how)->name, "dom");
	assert_string_equal(how, "domain");
	struct tenant_who w3 = { NULL, NULL, "sub.DOM.example" };
	assert_string_equal(tenant_identify(cf, &w3, NULL)->name, "dom");
	struct tenant_who w4 = { NULL, NULL, "xdom.example" };   /* not a subdomain */
	assert_null(tenant_identify(cf, &w4, NULL));
	struct tenant_who w5 = { NULL, NULL, NULL };              /* the null sender */
	assert_null(tenant_identify(cf, &w5, NULL));
	struct sockaddr_in6 in6 = { .sin6_family = AF_INET6 };
	inet_pton(AF_INET6, "2001:db8::7", &in6.sin6_addr);
	struct tenant_who w6 = { NULL, (const struct sockaddr *)&in6, NULL };
	assert_string_equal(tenant_identify(cf, &w6, NULL)->name, "net");
	/* sender domains */
	const struct tenant_conf *acme = tenant_find(cf, "acme");
	assert_true(tenant_domain_ok(acme, "acme.example"));
	assert_true(tenant_domain_ok(acme, "mail.ACME.example"));
	assert_false(tenant_domain_ok(acme, "evil.example"));
	assert_false(tenant_domain_ok(acme, "notacme.example"));
	assert_true(tenant_domain_ok(tenant_find(cf, "net"), "anything.example"));
	assert_null(tenant_find(cf, "nobody"));
	assert_int_equal(acme->limits.rcpts_per_msg, 5);
	config_free(cf);
}

static void test_rate_limits(void **st)
{
	(void)st;
	char err[1024], reply[256];
	struct config *cf = parse(three, err, sizeof(err));
	assert_non_null(cf);
	const struct tenant_conf *acme = tenant_find(cf, "acme");
	time_t t0 = 1700000040;   /* 0 s into a minute */
	tenant_rate_reset();
	assert_int_equal(tenant_rate_check(acme, t0, reply, sizeof(reply)), 0);
	tenant_rate_count("acme", t0);
	tenant_rate_count("acme", t0 + 1);
	assert_int_equal(tenant_rate_check(acme, t0 + 2, reply, sizeof(reply)), -1);
	assert_string_equal(reply, "451 4.7.1 tenant acme: rate limit of 2 messages per minute reached, try again later");
	/* the next minute: the per-minute count starts again, the day's does not */
	assert_int_equal(tenant_rate_check(acme, t0 + 60, reply, sizeof(reply)), 0);
	tenant_rate_count("acme", t0 + 60);
	assert_int_equal(tenant_rate_check(acme, t0 + 120, reply, sizeof(reply)), -1);
	assert_non_null(strstr(reply, "3 messages per day"));
	/* a tenant without limits is never limited */
	const struct tenant_conf *net = tenant_find(cf, "net");
	for (int i = 0; i < 100; i++)
		tenant_rate_count("net", t0);
	assert_int_equal(tenant_rate_check(net, t0, reply, sizeof(reply)), 0);
	tenant_rate_reset();
	config_free(cf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_errors_name_file_and_line),
		cmocka_unit_test(test_identification_order),
		cmocka_unit_test(test_rate_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
