/* Unit tests: config loading, defaults, units, and errors with file:line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <cmocka.h>

#include "core/config.h"
#include "core/netaddr.h"

static char path[64];

static struct config *load_text(const char *text, char *err, size_t errlen)
{
	strcpy(path, "/tmp/outpost-conf-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	struct config *cf = config_load(path, err, errlen);
	unlink(path);
	return cf;
}

static void test_units(void **st)
{
	(void)st;
	assert_int_equal(config_parse_duration("30s"), 30);
	assert_int_equal(config_parse_duration("5m"), 300);
	assert_int_equal(config_parse_duration("2h"), 7200);
	assert_int_equal(config_parse_duration("5d"), 432000);
	assert_int_equal(config_parse_duration("5"), -1);
	assert_int_equal(config_parse_duration("m"), -1);
	assert_int_equal(config_parse_duration("-5m"), -1);
	assert_int_equal(config_parse_duration("5 m"), -1);
	assert_int_equal(config_parse_duration("99999999999999999999d"), -1);
	assert_int_equal(config_parse_size("25M"), 25 * 1024 * 1024);
	assert_int_equal(config_parse_size("1024"), 1024);
	assert_int_equal(config_parse_size("1K"), 1024);
	assert_int_equal(config_parse_size("1T"), -1);
	assert_int_equal(config_parse_size(""), -1);
}

static void test_full_config(void **st)
{
	char err[512];
	(void)st;
	struct config *cf = load_text(
		"hostname = \"mx.example.com\";\n"
		"spool = \"/tmp/x\";\n"
		"resolver = \"127.0.0.1@5353\";\n"
		"listen = ( { address = \"127.0.0.1:2525\"; },\n"
		"           { address = \"[::1]:587\"; tls = \"starttls\"; auth = \"required\"; } );\n"
		"client_networks = [ \"127.0.0.0/8\", \"2001:db8::/32\" ];\n"
		"tls = { cert = \"c.pem\"; key = \"k.pem\"; };\n"
		"inbound = { max_message_size = \"10M\"; max_recipients = 50; idle_timeout = \"1m\"; };\n",
		err, sizeof(err));
	assert_non_null(cf);
	assert_string_equal(cf->hostname, "mx.example.com");
	assert_int_equal(cf->nlisten, 2);
	assert_string_equal(cf->listen[1].host, "::1");
	assert_string_equal(cf->listen[1].port, "587");
	assert_int_equal(cf->listen[1].tls, LISTEN_TLS_STARTTLS);
	assert_int_equal(cf->listen[1].auth, LISTEN_AUTH_REQUIRED);
	assert_int_equal(cf->inbound.max_message_size, 10 * 1024 * 1024);
	assert_int_equal(cf->inbound.max_recipients, 50);
	assert_int_equal(cf->inbound.idle_timeout, 60);
	assert_int_equal(cf->inbound.session_timeout, 1800);  /* default */
	assert_string_equal(cf->socket, "/tmp/x/outpost.sock");
	struct sockaddr_in sin = { .sin_family = AF_INET };
	inet_pton(AF_INET, "127.9.9.9", &sin.sin_addr);
	assert_true(netmask_match_any(cf->client_networks, cf->nclient_networks, (struct sockaddr *)&sin));
	inet_pton(AF_INET, "128.0.0.1", &sin.sin_addr);
	assert_false(netmask_match_any(cf->client_networks, cf->nclient_networks, (struct sockaddr *)&sin));
	config_free(cf);
}

static void test_errors_name_file_and_line(void **st)
{
	char err[512];
	(void)st;
	static const struct { const char *text, *msg; } bad[] = {
		{ "hostname = \"a\";\nhostnme = \"b\";\n", ":2: unknown setting \"hostnme\"" },
		{ "listen = ( { address = \"nope\"; } );\n", ":1: listen: address \"nope\" is not host:port" },
		{ "\n\nlisten = ( { address = \"127.0.0.1:25\"; tls = \"yes\"; } );\n", ":3: tls: expected one of" },
		{ "inbound = {\n max_recipients = 0;\n};\n", ":2: max_recipients: 0 is out of range" },
		{ "inbound = {\n idle_timeout = \"5x\";\n};\n", ":2: idle_timeout: expected a string such as" },
		{ "client_networks = [ \"10.0.0.0/33\" ];\n", ":1: client_networks: \"10.0.0.0/33\"" },
		{ "resolver = \"8.8.8.8\";\n", ":1: resolver: expected \"system\" or \"IP@PORT\"" },
		{ "hostname = 5;\n", ":1: hostname: expected a string" },
		{ "hostname = \"a\";\nspool = ;\n", ":2: syntax error" },
		{ "listen = ( { address = \"127.0.0.1:465\"; tls = \"implicit\"; } );\n", "needs tls = { cert; key; }" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_null(load_text(bad[i].text, err, sizeof(err)));
		if (strstr(err, bad[i].msg) == NULL || strncmp(err, path, strlen(path)) != 0)
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, err, bad[i].msg);
	}
	assert_null(config_load("/nonexistent/outpost.conf", err, sizeof(err)));
	assert_non_null(strstr(err, "cannot read"));
}

static void test_netmask(void **st)
{
	struct netmask m;
	(void)st;
	assert_int_equal(netmask_parse("10.1.2.3/8", &m), 0);
	assert_int_equal(m.addr[1], 0);
	assert_int_equal(netmask_parse("::/0", &m), 0);
	assert_int_equal(netmask_parse("10.0.0.0/", &m), -1);
	assert_int_equal(netmask_parse("10.0.0.0/-1", &m), -1);
	assert_int_equal(netmask_parse("/8", &m), -1);
	assert_int_equal(netmask_parse("example.com", &m), -1);
	char h[64], p[8];
	assert_int_equal(hostport_split("[2001:db8::1]:25", h, sizeof(h), p, sizeof(p)), 0);
	assert_string_equal(h, "2001:db8::1");
	assert_int_equal(hostport_split("2001:db8::1:25", h, sizeof(h), p, sizeof(p)), -1);
	assert_int_equal(hostport_split("host:0", h, sizeof(h), p, sizeof(p)), -1);
	assert_int_equal(hostport_split("host:65536", h, sizeof(h), p, sizeof(p)), -1);
	assert_int_equal(hostport_split(":25", h, sizeof(h), p, sizeof(p)), -1);
}

static void test_routes_rules_retry(void **st)
{
	char err[512];
	(void)st;
	struct config *cf = load_text(
		"hostname = \"mx.example.com\";\n"
		"routes = { direct = { type = \"mx\"; source = \"192.0.2.5\"; helo = \"out.example.com\"; };\n"
		"           relay = { type = \"relay\"; host = \"smtp.example.net:587\"; tls = \"verify\"; }; };\n"
		"rules = ( { sender = [ \"*@news.example.com\" ]; via = [ \"relay\", \"direct\" ]; },\n"
		"          { recipient_domain = [ \"*.example.org\" ]; via = [ \"relay\" ]; },\n"
		"          { via = [ \"direct\" ]; } );\n"
		"retry = { schedule = [ \"10s\", \"1m\" ]; lifetime = \"2d\"; greylist = \"2m\"; };\n",
		err, sizeof(err));
	if (cf == NULL)
		fail_msg("%s", err);
	assert_int_equal(cf->nroutes, 2);
	assert_int_equal(cf->routes[0].type, ROUTE_MX);
	assert_string_equal(cf->routes[0].port, "25");
	assert_int_equal(cf->routes[0].tls, ROUTE_TLS_OPPORTUNISTIC);
	assert_string_equal(cf->routes[1].host, "smtp.example.net");
	assert_string_equal(cf->routes[1].port, "587");
	assert_int_equal(cf->routes[1].tls, ROUTE_TLS_VERIFY);
	assert_string_equal(config_route_for(cf, "a@NEWS.example.com", "x.net")->name, "relay");
	assert_string_equal(config_route_for(cf, "a@example.com", "b.example.org")->name, "relay");
	assert_string_equal(config_route_for(cf, "a@example.com", "example.org")->name, "direct");
	assert_int_equal(cf->retry.nschedule, 2);
	assert_int_equal(cf->retry.schedule[1], 60);
	assert_int_equal(cf->retry.lifetime, 2 * 86400);
	assert_int_equal(cf->retry.greylist, 120);
	assert_int_equal(cf->retry.delay_notice, 4 * 3600);  /* default */
	config_free(cf);
	static const struct { const char *text, *msg; } bad[] = {
		{ "routes = { r = { host = \"a:25\"; }; };\n", "route r: type = \"mx\" or \"relay\" is required" },
		{ "routes = { r = { type = \"relay\"; }; };\nrules = ( { via = [ \"r\" ]; } );\n", ":1: route r: a relay needs host" },
		{ "routes = { r = { type = \"mx\"; };\n};\nrules = ( { via = [ \"nope\" ]; } );\n", ":3: via: no route named \"nope\"" },
		{ "routes = { r = { type = \"mx\"; }; };\n", "add rules = ( { via = [ \"r\" ]; } )" },
		{ "retry = {\n schedule = [ \"soon\" ]; };\n", ":2: schedule: \"soon\" is not a duration" },
		{ "routes = { r = { type = \"relay\"; host = \"h:25\"; auth = \"/nonexistent\"; }; };\n", "auth: cannot open" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_null(load_text(bad[i].text, err, sizeof(err)));
		if (strstr(err, bad[i].msg) == NULL)
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, err, bad[i].msg);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_units),
		cmocka_unit_test(test_full_config),
		cmocka_unit_test(test_errors_name_file_and_line),
		cmocka_unit_test(test_netmask),
		cmocka_unit_test(test_routes_rules_retry),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
