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

static struct tenant_hold last_hold;
static int holds_told;

static void on_hold(void *arg, const struct tenant_hold *h, time_t since)
{
	(void)arg;
	(void)since;
	static char name[64], why[256];
	snprintf(name, sizeof(name), "%s", h->name);
	snprintf(why, sizeof(why), "%s", h->why);
	last_hold = (struct tenant_hold){ name, why, h->throttled };
	holds_told++;
}

static const char guarded[] =
	"tenants = ( { name = \"acme\"; users = [ \"alice\" ];\n"
	"              protect = { window = \"24h\"; min_messages = 10; max_bounce_rate = 20; max_complaint_rate = 0.3; }; },\n"
	"            { name = \"slow\"; users = [ \"bob\" ];\n"
	"              protect = { window = \"2h\"; min_messages = 4; max_bounce_rate = 50; action = \"throttle\";\n"
	"                          throttle_per_minute = 1; }; } );\n";

static void test_protection_holds_and_releases(void **st)
{
	(void)st;
	char err[1024], reply[256];
	struct config *cf = parse(guarded, err, sizeof(err));
	if (cf == NULL)
		fail_msg("%s", err);
	const struct tenant_conf *acme = tenant_find(cf, "acme");
	time_t t0 = 1700000000;
	tenant_rate_reset();
	holds_told = 0;
	tenant_set_hold_hook(on_hold, NULL);
	/* 9 outcomes, all bounced: too few to judge */
	for (int i = 0; i < 9; i++)
		tenant_outcome(cf, "acme", 1, t0);
	assert_int_equal(holds_told, 0);
	assert_int_equal(tenant_rate_check(acme, t0, reply, sizeof(reply)), 0);
	/* the window is 24 hours: outcomes older than that are forgotten */
	for (int i = 0; i < 10; i++)
		tenant_outcome(cf, "acme", 0, t0 + 25 * 3600);
	assert_int_equal(holds_told, 0);
	for (int i = 0; i < 3; i++)      /* 3 of 13 in the window: 23.1 % > 20 % */
		tenant_outcome(cf, "acme", 1, t0 + 26 * 3600);
	assert_int_equal(holds_told, 1);
	assert_string_equal(last_hold.name, "acme");
	assert_false(last_hold.throttled);
	assert_int_equal(tenant_rate_check(acme, t0 + 26 * 3600, reply, sizeof(reply)), -1);
	assert_string_equal(reply, "451 4.7.1 tenant acme held: bounce rate 23.1 % over 24h exceeds 20 %");
	/* released (the spool no longer lists it): accepted, judged afresh */
	tenant_holds_sync(NULL, 0);
	assert_int_equal(tenant_rate_check(acme, t0 + 26 * 3600, reply, sizeof(reply)), 0);
	assert_false(tenant_is_held("acme", NULL));
	/* complaints: 1 in 200 is 0.5 % > 0.3 % */
	for (int i = 0; i < 199; i++)
		tenant_outcome(cf, "acme", 0, t0 + 27 * 3600);
	tenant_complaint(cf, "acme", t0 + 27 * 3600);
	assert_int_equal(holds_told, 2);
	assert_string_equal(last_hold.why, "complaint rate 0.5 % over 24h exceeds 0.3 %");
	/* a hold read back from the spool at start */
	tenant_rate_reset();
	struct tenant_hold saved = { "acme", "complaint rate 0.6 % over 24h exceeds 0.3 %", 0 };
	tenant_holds_sync(&saved, 1);
	assert_int_equal(tenant_rate_check(acme, t0, reply, sizeof(reply)), -1);
	assert_string_equal(reply, "451 4.7.1 tenant acme held: complaint rate 0.6 % over 24h exceeds 0.3 %");
	/* throttle: capped at throttle_per_minute, not refused */
	const struct tenant_conf *slow = tenant_find(cf, "slow");
	for (int i = 0; i < 4; i++)
		tenant_outcome(cf, "slow", i < 3, t0);
	assert_true(last_hold.throttled);
	assert_int_equal(tenant_rate_check(slow, t0, reply, sizeof(reply)), 0);
	tenant_rate_count("slow", t0);
	assert_int_equal(tenant_rate_check(slow, t0, reply, sizeof(reply)), -1);
	assert_string_equal(reply, "451 4.7.1 tenant slow throttled (bounce rate 75.0 % over 2h exceeds 50 %): "
				   "rate limit of 1 messages per minute reached, try again later");
	tenant_set_hold_hook(NULL, NULL);
	tenant_rate_reset();
	config_free(cf);
}

static void test_protect_config_errors(void **st)
{
	(void)st;
	static const struct { const char *text, *msg; } bad[] = {
		{ "tenants = ( { name = \"a\"; users = [ \"u\" ];\n protect = { window = \"90m\"; max_bounce_rate = 5; }; } );\n",
		  "t.conf:4: tenant a: protect: window is counted in whole hours" },
		{ "tenants = ( { name = \"a\"; users = [ \"u\" ];\n protect = { max_bounce_rate = 0; }; } );\n",
		  "t.conf:4: max_bounce_rate: expected a percentage above 0 and at most 100" },
		{ "tenants = ( { name = \"a\"; users = [ \"u\" ];\n protect = { window = \"1h\"; }; } );\n",
		  "t.conf:4: tenant a: protect: set max_bounce_rate or max_complaint_rate" },
		{ "tenants = ( { name = \"a\"; users = [ \"u\" ];\n protect = { max_bounce_rate = 5; action = \"ban\"; }; } );\n",
		  "t.conf:4: action: expected one of" },
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_errors_name_file_and_line),
		cmocka_unit_test(test_identification_order),
		cmocka_unit_test(test_rate_limits),
		cmocka_unit_test(test_protection_holds_and_releases),
		cmocka_unit_test(test_protect_config_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
