/* Unit tests: config loading, defaults, units, and errors with file:line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

/* inbound.threads: a number 1..64 or "auto" (0), the default. */
static void test_inbound_threads(void **st)
{
	char err[512];
	(void)st;
	struct config *cf = load_text("hostname = \"a\";\n", err, sizeof(err));
	assert_non_null(cf);
	assert_int_equal(cf->inbound.threads, 0);
	config_free(cf);
	cf = load_text("inbound = { threads = \"auto\"; };\n", err, sizeof(err));
	assert_non_null(cf);
	assert_int_equal(cf->inbound.threads, 0);
	config_free(cf);
	cf = load_text("inbound = { threads = 64; };\n", err, sizeof(err));
	assert_non_null(cf);
	assert_int_equal(cf->inbound.threads, 64);
	config_free(cf);
	static const struct { const char *text, *msg; } bad[] = {
		{ "inbound = {\n threads = 0;\n};\n", ":2: threads: 0 is out of range 1..64" },
		{ "inbound = {\n threads = 65;\n};\n", ":2: threads: 65 is out of range 1..64" },
		{ "inbound = {\n threads = \"all\";\n};\n", ":2: threads: expected an integer 1..64 or \"auto\"" },
		{ "inbound = {\n threads = \"\";\n};\n", ":2: threads: expected an integer 1..64 or \"auto\"" },
		{ "inbound = {\n threads = 2.5;\n};\n", ":2: threads: expected an integer" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_null(load_text(bad[i].text, err, sizeof(err)));
		if (strstr(err, bad[i].msg) == NULL)
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, err, bad[i].msg);
	}
}

/* The http section: off by default, loopback open, elsewhere TLS and a
 * token of mode 600; errors name file:line. */
static void test_http_section(void **st)
{
	char err[512], tok[64], text[512];
	(void)st;
	struct config *cf = load_text("hostname = \"a\";\n", err, sizeof(err));
	assert_non_null(cf);
	assert_null(cf->http.listen);
	config_free(cf);
	cf = load_text("http = { listen = \"127.0.0.1:8025\"; };\n", err, sizeof(err));
	assert_non_null(cf);
	assert_string_equal(cf->http.host, "127.0.0.1");
	assert_string_equal(cf->http.port, "8025");
	assert_null(cf->http.token);
	config_free(cf);
	assert_true(http_host_is_loopback("127.3.2.1") && http_host_is_loopback("::1") &&
		    http_host_is_loopback("localhost"));
	assert_false(http_host_is_loopback("0.0.0.0") || http_host_is_loopback("::") ||
		     http_host_is_loopback("128.0.0.1") || http_host_is_loopback("example.com"));
	static const struct { const char *text, *msg; } bad[] = {
		{ "http = { listen = \"127.0.0.1:8025\";\n port = 5; };\n", ":2: unknown setting \"port\"" },
		{ "http = { };\n", ":1: http: listen is required" },
		{ "http = \"127.0.0.1:8025\";\n", ":1: http: expected a group" },
		{ "http = {\n listen = \"nope\"; };\n", ":2: http: listen \"nope\" is not host:port" },
		{ "\nhttp = { listen = \"0.0.0.0:8025\"; };\n", ":2: http: listen \"0.0.0.0:8025\" is not a loopback" },
		{ "http = { listen = \"[::]:8025\"; };\n", "is not a loopback address" },
		{ "http = { listen = \"127.0.0.1:8025\";\n tls = \"yes\"; };\n", ":2: http: tls: expected true or false" },
		{ "http = { listen = \"127.0.0.1:8025\"; tls = true; };\n", "needs the top-level tls" },
		{ "http = { listen = \"127.0.0.1:8025\";\n token_file = \"/nonexistent/t\"; };\n", ":2: http: token_file" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_null(load_text(bad[i].text, err, sizeof(err)));
		if (strstr(err, bad[i].msg) == NULL)
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, err, bad[i].msg);
	}
	/* a token others may read is refused; mode 600 is taken */
	strcpy(tok, "/tmp/outpost-token-XXXXXX");
	int fd = mkstemp(tok);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "0123456789abcdefXYZ\n", 20), 20);
	close(fd);
	snprintf(text, sizeof(text), "tls = { cert = \"c\"; key = \"k\"; };\n"
		 "http = { listen = \"0.0.0.0:8025\"; tls = true;\n token_file = \"%s\"; };\n", tok);
	chmod(tok, 0644);
	assert_null(load_text(text, err, sizeof(err)));
	assert_non_null(strstr(err, ":3: http: token_file"));
	assert_non_null(strstr(err, "mode 600"));
	chmod(tok, 0600);
	cf = load_text(text, err, sizeof(err));
	assert_non_null(cf);
	assert_string_equal(cf->http.token, "0123456789abcdefXYZ");
	config_free(cf);
	assert_int_equal(truncate(tok, 5), 0);   /* too short to be a secret */
	assert_null(load_text(text, err, sizeof(err)));
	assert_non_null(strstr(err, "one token of 16 to 1000 characters"));
	unlink(tok);
}

/* monitor: off when absent; defaults; which listings act; errors with file:line. */
static void test_monitor_section(void **st)
{
	char err[512];
	(void)st;
	struct config *cf = load_text("hostname = \"a\";\n", err, sizeof(err));
	assert_non_null(cf);
	assert_int_equal(cf->monitor.interval, 0);
	config_free(cf);
	cf = load_text("monitor = { interval = \"30s\"; };\n", err, sizeof(err));
	assert_non_null(cf);
	assert_int_equal(cf->monitor.interval, 30);
	assert_int_equal(cf->monitor.budget, 100);
	assert_true(monitor_list_acts(&cf->monitor, "Spamhaus ZEN", 0));
	assert_false(monitor_list_acts(&cf->monitor, "Spamhaus ZEN", 1));     /* PBL alone reports */
	assert_true(monitor_list_acts(&cf->monitor, "SpamCop", 0));
	assert_false(monitor_list_acts(&cf->monitor, "PSBL", 0));
	config_free(cf);
	cf = load_text("monitor = { act_on = [ \"PSBL\" ]; pbl = \"act\"; budget = 5; };\n", err, sizeof(err));
	assert_non_null(cf);
	assert_int_equal(cf->monitor.interval, 900);
	assert_int_equal(cf->monitor.budget, 5);
	assert_true(monitor_list_acts(&cf->monitor, "PSBL", 0));
	assert_false(monitor_list_acts(&cf->monitor, "Spamhaus ZEN", 1));
	config_free(cf);
	cf = load_text("monitor = { act_on = [ \"Spamhaus ZEN\" ]; pbl = \"act\"; };\n", err, sizeof(err));
	assert_non_null(cf);
	assert_true(monitor_list_acts(&cf->monitor, "Spamhaus ZEN", 1));
	config_free(cf);
	static const struct { const char *text, *msg; } bad[] = {
		{ "monitor = {\n every = \"5m\"; };\n", ":2: unknown setting \"every\"" },
		{ "monitor = \"15m\";\n", ":1: monitor: expected a group" },
		{ "monitor = {\n interval = \"0s\"; };\n", ":2:" },
		{ "monitor = {\n act_on = [ \"Spamhaus DBL\" ]; };\n", ":2: monitor: act_on: \"Spamhaus DBL\" is not an IP blocklist" },
		{ "monitor = {\n pbl = \"yes\"; };\n", ":2:" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_null(load_text(bad[i].text, err, sizeof(err)));
		if (strstr(err, bad[i].msg) == NULL)
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, err, bad[i].msg);
	}
}

/* dmarc: rua an address, threshold a percentage. */
static void test_dmarc_section(void **st)
{
	char err[512];
	(void)st;
	struct config *cf = load_text("hostname = \"a\";\n", err, sizeof(err));
	assert_non_null(cf);
	assert_null(cf->dmarc.rua);
	assert_int_equal(cf->dmarc.threshold, 90);
	config_free(cf);
	cf = load_text("dmarc = { rua = \"dmarc@example.org\"; threshold = 75; };\n", err, sizeof(err));
	assert_non_null(cf);
	assert_string_equal(cf->dmarc.rua, "dmarc@example.org");
	assert_int_equal(cf->dmarc.threshold, 75);
	config_free(cf);
	static const struct { const char *text, *msg; } bad[] = {
		{ "dmarc = {\n rua = \"mailto:d@example.org\"; };\n", ":2: dmarc: rua \"mailto:d@example.org\" must be an address" },
		{ "dmarc = {\n rua = \"nobody\"; };\n", ":2: dmarc: rua \"nobody\" must be an address" },
		{ "dmarc = {\n threshold = 101; };\n", ":2:" },
		{ "dmarc = {\n ruf = \"x@y\"; };\n", ":2: unknown setting \"ruf\"" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_null(load_text(bad[i].text, err, sizeof(err)));
		if (strstr(err, bad[i].msg) == NULL)
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, err, bad[i].msg);
	}
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
	/* matching itself is tested in test_router.c */
	assert_int_equal(cf->nrules, 3);
	assert_string_equal(cf->rules[0].match[RULE_SENDER][0].text, "*@news.example.com");
	assert_int_equal(cf->rules[0].nvia, 2);
	assert_int_equal(cf->rules[0].via[0], 1);
	assert_int_equal(cf->rules[1].nmatch[RULE_RECIPIENT_DOMAIN], 1);
	assert_int_equal(cf->rules[2].nvia, 1);
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

static void test_rule_keys_and_their_errors(void **st)
{
	char err[512];
	(void)st;
	struct config *cf = load_text(
		"routes = { r = { type = \"mx\"; }; s = { type = \"mx\"; }; };\n"
		"rules = ( { sender = \"*@a.example\"; sender_domain = \"b.example\"; from_domain = [ \"c.example\" ];\n"
		"            recipient_domain = \"d.example\"; mx = \"*.google.com\"; user = \"T1\"; class = \"bulk\";\n"
		"            tenant = \"Acme\"; spam = [ \"add header\", \"rewrite subject\" ]; via = \"r\"; },\n"
		"          { from_domain = \"*\"; user = \"*\"; class = \"*\"; mx = \"*\"; via = [ \"s\", \"r\" ]; },\n"
		"          { sender = \"<>\"; via = \"s\"; },\n"
		"          { via = \"r\"; } );\n", err, sizeof(err));
	if (cf == NULL)
		fail_msg("%s", err);
	assert_int_equal(cf->nrules, 4);
	for (int k = 0; k < RULE_NKEYS; k++)
		assert_int_equal(cf->rules[0].nmatch[k], k == RULE_SPAM ? 2 : 1);
	assert_string_equal(cf->rules[0].match[RULE_TENANT][0].pat, "acme");   /* lowercased */
	assert_string_equal(cf->rules[0].match[RULE_USER][0].pat, "T1");  /* user keeps its case */
	assert_int_equal(cf->rules[0].match[RULE_MX][0].kind, GLOB_SUFFIX);
	assert_int_equal(cf->rules[0].nvia, 1);
	assert_int_equal(cf->rules[1].nvia, 2);
	assert_int_equal(cf->rules[1].via[0], 1);
	assert_int_equal(cf->rules[1].line, 5);
	assert_int_equal(cf->rules[3].nmatch[RULE_SENDER], 0);
	config_free(cf);
	static const struct { const char *text, *msg; } bad[] = {
		{ "rules = ( { via = \"r\"; },\n { sendr = \"*@x\"; via = \"r\"; } );\n", ":2: unknown setting \"sendr\"" },
		{ "rules = ( { sender = [ ];\n via = \"r\"; } );\n", ":1: sender: an empty list matches nothing" },
		{ "rules = ( {\n recipient_domain = [ \"[abc\" ]; via = \"r\"; } );\n",
		  ":2: recipient_domain: \"[abc\" has a '[' without its ']'" },
		{ "rules = ( { mx = \"*.google.com\\\\\"; via = \"r\"; } );\n", "mx: \"*.google.com\\\" ends in a lone backslash" },
		{ "rules = ( { sender = \"example.com\"; via = \"r\"; } );\n", "sender: \"example.com\" has no '@'" },
		{ "rules = ( { sender_domain = \"@example.com\"; via = \"r\"; } );\n",
		  "sender_domain: \"@example.com\" is not a domain glob" },
		{ "rules = ( { class = [ 5 ]; via = \"r\"; } );\n", "class: expected non-empty strings" },
		{ "rules = ( { user = 5; via = \"r\"; } );\n", "user: expected a string or a list of strings" },
		{ "rules = ( { via = [ \"r\", \"r\" ]; } );\n", "via: route \"r\" is listed twice" },
		{ "rules = ( { via = [ ]; } );\n", "via: an empty list matches nothing" },
		{ "rules = ( { sender = \"*@x\"; } );\n", "rules: via = [ \"route\", ... ] is required" },
		{ "rules = ( { via = \"r\"; },\n\n          { sender = \"*@x\"; via = \"r\"; } );\n",
		  ":3: rule at line 3 is never reached: the rule at line 1 matches everything" },
		{ "rules = ( { sender = \"*@x\"; via = \"r\"; },\n { sender = \"*\"; recipient_domain = [ \"a\", \"*\" ]; via = \"r\"; },\n"
		  " { via = \"r\"; } );\n", ":3: rule at line 3 is never reached: the rule at line 2 matches everything" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[512];
		err[0] = '\0';
		/* on the first line, so the rules keep their line numbers */
		int n = snprintf(text, sizeof(text), "routes = { r = { type = \"mx\"; }; }; %s", bad[i].text);
		assert_true(n > 0 && (size_t)n < sizeof(text));
		assert_null(load_text(text, err, sizeof(err)));
		if (strstr(err, bad[i].msg) == NULL)
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, err, bad[i].msg);
	}
}

/* Issue 19: limits by receiving provider, the key warm-up and health count
 * by; aliases become the built-in name, registered domains of other
 * providers' MX hosts are accepted; anything else is an error naming
 * file:line and every known name. */
static void test_limits_by_provider(void **st)
{
	char err[1024];
	(void)st;
	struct config *cf = load_text("limits = ( { provider = [ \"Google\", \"outlook\" ]; rate = \"3/h\"; },\n"
				      "           { provider = \"mailbox.org\"; connections = 2; } );\n",
				      err, sizeof(err));
	if (cf == NULL)
		fail_msg("%s", err);
	assert_int_equal(cf->nlimits, 2);
	assert_int_equal(cf->limits[0].selector, LIMIT_PROVIDER);
	assert_string_equal(cf->limits[0].match[0].text, "gmail");
	assert_string_equal(cf->limits[0].match[1].text, "outlook");
	assert_string_equal(cf->limits[1].match[0].text, "mailbox.org");
	config_free(cf);
	static const struct { const char *text, *msg; } bad[] = {
		{ "limits = ( { rate = \"1/s\";\n provider = \"gogle\"; } );\n",
		  ":2: provider: \"gogle\" is not a provider outpost knows (known: gmail (google), "
		  "outlook (microsoft), yahoo, icloud (apple), gmx, yandex, mailru, zoho, proton, fastmail, mimecast;" },
		{ "limits = ( { rate = \"1/s\"; provider = \"*\"; } );\n", "provider: \"*\" is a glob" },
		{ "limits = ( { rate = \"1/s\"; provider = \"aspmx.l.google.com\"; } );\n",
		  "provider: \"aspmx.l.google.com\" is counted as provider \"gmail\": write that" },
		{ "limits = ( { rate = \"1/s\"; provider = \"mx.mailbox.org\"; } );\n",
		  "is counted as provider \"mailbox.org\"" },
		{ "limits = ( { rate = \"1/s\"; provider = \"gmail\"; },\n { provider = \"google\"; connections = 2; } );\n",
		  ":2: limits: the entry at line 1 selects the same" },
		{ "limits = (\n { provider = \"gmail\"; domain = \"a\"; rate = \"1/s\"; } );\n",
		  ":2: limits: each entry selects by exactly one of domain, mx, route, source, provider" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_null(load_text(bad[i].text, err, sizeof(err)));
		if (strstr(err, bad[i].msg) == NULL)
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, err, bad[i].msg);
	}
}

static void test_limits_warmup_backoff(void **st)
{
	char err[512];
	struct rate_conf r;
	(void)st;
	assert_int_equal(config_parse_rate("600/min", &r), 0);
	assert_int_equal(r.count, 600);
	assert_int_equal(r.per, 60);
	assert_int_equal(config_parse_rate("20000/day", &r), 0);
	assert_int_equal(r.per, 86400);
	assert_int_equal(config_parse_rate("5/h", &r), 0);
	assert_int_equal(r.per, 3600);
	static const char *const bad_rates[] = { "600", "/min", "0/s", "-1/s", "5/m", "5/ min", "1K/s", "1/sec", "" };
	for (size_t i = 0; i < sizeof(bad_rates) / sizeof(bad_rates[0]); i++)
		if (config_parse_rate(bad_rates[i], &r) == 0)
			fail_msg("rate \"%s\" accepted", bad_rates[i]);
	static const char routes[] =
		"routes = { direct = { type = \"mx\"; warmup = { start = 50; growth = 1.5; per = \"day\";\n"
		"  begin = \"2026-11-01\"; max = 20000; }; };\n"
		"  relay = { type = \"relay\"; host = \"smtp.example.net:587\"; }; };\n"
		"rules = ( { via = [ \"direct\", \"relay\" ]; } );\n";
	char text[2048];
	snprintf(text, sizeof(text), "%s%s", routes,
		 "limits = ( { domain = [ \"gmail.com\", \"GoogleMail.com\" ]; connections = 10;\n"
		 "             messages_per_connection = 100; rate = [ \"20000/day\", \"600/min\" ]; },\n"
		 "           { mx = \"*.google.com\"; rate = \"600/min\"; },\n"
		 "           { route = \"direct\"; rate = \"5000/h\"; },\n"
		 "           { source = \"203.0.113.5\"; rate = \"2000/h\"; } );\n"
		 "delivery = { backoff = { cooldown = \"5m\"; floor = \"2/min\"; }; };\n");
	struct config *cf = load_text(text, err, sizeof(err));
	if (cf == NULL)
		fail_msg("%s", err);
	assert_int_equal(cf->nlimits, 4);
	assert_int_equal(cf->limits[0].selector, LIMIT_DOMAIN);
	assert_int_equal(cf->limits[0].nmatch, 2);
	assert_string_equal(cf->limits[0].match[1].pat, "googlemail.com");
	assert_int_equal(cf->limits[0].connections, 10);
	assert_int_equal(cf->limits[0].messages_per_connection, 100);
	assert_int_equal(cf->limits[0].nrates, 2);
	assert_int_equal(cf->limits[0].rates[0].per, 60);       /* shortest period first */
	assert_int_equal(cf->limits[1].selector, LIMIT_MX);
	assert_int_equal(cf->limits[3].selector, LIMIT_SOURCE);
	assert_true(cf->routes[0].warmup.set);
	assert_int_equal(cf->routes[0].warmup.start, 50);
	assert_true(cf->routes[0].warmup.growth == 1.5);
	assert_int_equal(cf->routes[0].warmup.begin, 1793491200);  /* 2026-11-01T00:00:00Z */
	assert_int_equal(cf->routes[0].warmup.max, 20000);
	assert_false(cf->routes[1].warmup.set);
	assert_int_equal(cf->delivery.backoff.cooldown, 300);
	assert_int_equal(cf->delivery.backoff.floor.count, 2);
	config_free(cf);
	cf = load_text("hostname = \"a\";\n", err, sizeof(err));
	assert_int_equal(cf->delivery.backoff.cooldown, 600);   /* defaults */
	assert_int_equal(cf->delivery.backoff.floor.per, 60);
	config_free(cf);
	static const struct { const char *text, *msg; } bad[] = {
		{ "limits = (\n { rate = \"1/s\"; } );\n", ":2: limits: each entry selects by exactly one of" },
		{ "limits = (\n { domain = \"a\"; mx = \"b\"; rate = \"1/s\"; } );\n", ":2: limits: each entry selects by exactly one" },
		{ "limits = ( { domain = \"a\";\n rate = \"fast\"; } );\n", ":2: rate: \"fast\" is not a rate" },
		{ "limits = ( { domain = \"a\"; rate = [ \"1/s\",\n \"5/s\" ]; } );\n", "rate: two rates for the same unit" },
		{ "limits = ( { domain = \"a\";\n connections = 0; } );\n", ":2: connections: 0 is out of range" },
		{ "limits = (\n { domain = \"a\"; } );\n", ":2: limits: the entry sets no limit" },
		{ "limits = ( { domain = \"a\"; rate = \"1/s\";\n speed = 3; } );\n", ":2: unknown setting \"speed\"" },
		{ "limits = ( { route = \"nope\"; rate = \"1/s\"; } );\n", "route: \"nope\" names no route" },
		{ "limits = ( { source = \"mail.example.com\"; rate = \"1/s\"; } );\n", "source: \"mail.example.com\" is not an IP" },
		{ "limits = ( { domain = \"a\"; rate = \"1/s\"; },\n { domain = \"a\"; connections = 2; } );\n",
		  ":2: limits: the entry at line 1 selects the same" },
		{ "limits = { domain = \"a\"; };\n", ":1: limits: expected a list" },
		{ "routes = { r = { type = \"mx\";\n warmup = { start = 50; }; }; };\nrules = ( { via = [ \"r\" ]; } );\n",
		  ":2: route r: warmup: start and growth are required" },
		{ "routes = { r = { type = \"mx\"; warmup = { start = 50;\n growth = 0.5; }; }; };\nrules = ( { via = [ \"r\" ]; } );\n",
		  ":2: route r: warmup: growth: expected a number" },
		{ "routes = { r = { type = \"mx\"; warmup = { start = 5; growth = 2; begin = \"2026-02-30\"; }; }; };\n"
		  "rules = ( { via = [ \"r\" ]; } );\n", "begin: expected a date \"YYYY-MM-DD\"" },
		{ "routes = { r = { type = \"mx\"; warmup = { start = 5; growth = 2; per = \"week\"; }; }; };\n"
		  "rules = ( { via = [ \"r\" ]; } );\n", "per: expected one of \"day\", \"hour\"" },
		{ "routes = { r = { type = \"relay\"; host = \"h:25\";\n warmup = { start = 5; growth = 2; }; }; };\n"
		  "rules = ( { via = [ \"r\" ]; } );\n", ":2: route r: warmup is for mx routes" },
		{ "delivery = { backoff = {\n cooldown = \"soon\"; }; };\n", ":2: cooldown: expected a string such as" },
		{ "delivery = { backoff = {\n floor = \"1\"; }; };\n", ":2: floor: expected a rate" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_null(load_text(bad[i].text, err, sizeof(err)));
		if (strstr(err, bad[i].msg) == NULL)
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, err, bad[i].msg);
	}
}

/* Paths in a file are relative to its directory; config_parse() leaves them. */
static void test_relative_paths_and_identity(void **st)
{
	char err[512];
	(void)st;
	struct config *cf = load_text("spool = \"sp\"; users = \"./u\"; tls = { cert = \"/abs/c\"; key = \"k\"; };\n"
				      "dkim = ( { domain = \"e.com\"; selector = \"s\"; key = \"keys/s.pem\"; } );\n",
				      err, sizeof(err));
	assert_non_null(cf);
	assert_string_equal(cf->spool, "/tmp/sp");
	assert_string_equal(cf->users, "/tmp/u");
	assert_string_equal(cf->socket, "/tmp/sp/outpost.sock");
	assert_string_equal(cf->tls_cert, "/abs/c");
	assert_string_equal(cf->tls_key, "/tmp/k");
	assert_string_equal(cf->dkim[0].key, "/tmp/keys/s.pem");
	config_free(cf);
	cf = load_text("spool = \"../x/./sp/\"; users = \"../../../../u\";\n", err, sizeof(err));
	assert_non_null(cf);
	assert_string_equal(cf->spool, "/x/sp");     /* resolved by name: /tmp/../x/./sp/ */
	assert_string_equal(cf->users, "/u");        /* no higher than the root */
	assert_string_equal(cf->user, "outpost");
	assert_int_equal(cf->allow_root, 0);
	config_free(cf);
	cf = config_parse("spool = \"sp\"; user = \"mail\"; allow_root = true;", "t", err, sizeof(err));
	assert_non_null(cf);
	assert_string_equal(cf->spool, "sp");
	assert_string_equal(cf->user, "mail");
	assert_int_equal(cf->allow_root, 1);
	config_free(cf);
	assert_null(config_parse("allow_root = 1;", "t", err, sizeof(err)));
	assert_non_null(strstr(err, "allow_root: expected true or false"));
}

/* Every error, one line each, in file order. */
static void test_every_error_reported(void **st)
{
	char err[512];
	(void)st;
	assert_null(config_parse("a = 1;\nb = 2;\ninbound = { max_recipients = 0; };\n", "t", err, sizeof(err)));
	assert_string_equal(err, "t:1: unknown setting \"a\"\nt:2: unknown setting \"b\"\n"
			    "t:3: max_recipients: 0 is out of range 1..100000");
	char small[40];   /* a full buffer keeps what fits, never overflows */
	assert_null(config_parse("a = 1;\nb = 2;\nc = 3;\n", "t", small, sizeof(small)));
	assert_true(strlen(small) < sizeof(small));
}

/* A setting that must be a group of known keys: an unknown key is named,
 * then the group's usage; loaders run in their table's order (retry,
 * delivery, health), whatever the order in the file. */
static void test_group_usage_and_loader_order(void **st)
{
	char err[512];
	(void)st;
	assert_null(config_parse("health = { failures = 3;\n speed = 1; };\n", "t", err, sizeof(err)));
	assert_string_equal(err, "t:2: unknown setting \"speed\"\n"
			    "t:1: health: expected a group { failures = 3; probe = \"1m\"; probe_max = \"1h\"; }");
	assert_null(config_parse("routes = { r = 5; };\n", "t", err, sizeof(err)));
	assert_string_equal(err, "t:1: route r: expected a group { type = ...; }");
	assert_null(config_parse("health = 1;\nretry = 2;\n", "t", err, sizeof(err)));
	assert_non_null(strstr(err, "t:2: retry: expected a group"));
	assert_non_null(strstr(err, "\nt:1: health: expected a group"));
}

/* libconfig 1.5 keeps the low 32 bits of an integer literal: every integer
 * setting must refuse a value that would wrap, naming file:line. */
static void test_integers_that_would_wrap(void **st)
{
	char err[512];
	(void)st;
	static const struct { const char *text, *msg; } bad[] = {
		{ "inbound = {\n max_recipients = 4294967298;\n};\n",
		  ":2: max_recipients: 4294967298 is out of range" },
		{ "inbound = { max_sessions = -4294967294; };\n", ":1: max_sessions: -4294967294 is out of range" },
		{ "inbound = { max_errors = 0x100000005; };\n", ":1: max_errors: 0x100000005 is out of range" },
		{ "inbound = { max_recipients = 99999999999999999999999; };\n", ":1: max_recipients: 9999" },
		{ "inbound = { max_recipients = 4294967298L; };\n", ":1: max_recipients: 4294967298 is out of range 1..100000" },
		{ "delivery = { max_connections = 2147483648; };\n", ":1: max_connections: 2147483648 is out of range" },
		{ "routes = { r = { type = \"mx\"; port = 4294967321; }; };\n", ":1: port: 4294967321 is out of range" },
		{ "routes = { r = { type = \"mx\";\n warmup = { start = 4294967346; growth = 2; }; }; };\n",
		  ":2: start: 4294967346 is out of range" },
		{ "routes = { r = { type = \"mx\"; warmup = { start = 5; growth = 4294967298; }; }; };\n",
		  ":1: growth: 4294967298 is out of range" },
		{ "resolver = \"127.0.0.1@4294967349\";\n", ":1: resolver: expected \"system\" or \"IP@PORT\"" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_null(load_text(bad[i].text, err, sizeof(err)));
		if (strstr(err, bad[i].msg) == NULL || strncmp(err, path, strlen(path)) != 0)
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, err, bad[i].msg);
		assert_null(config_parse(bad[i].text, "mem.conf", err, sizeof(err)));
	}
	/* big numbers in comments and strings are not values; floats are not integers */
	struct config *cf = load_text("# 99999999999\nhostname = \"h4294967298.example\"; // 4294967298\n"
				      "/* 4294967298\n */ inbound = { max_recipients = 100000; max_errors = 0x10; };\n"
				      "routes = { r = { type = \"mx\"; warmup = { start = 5; growth = 1.5e0; }; }; };\n"
				      "rules = ( { via = [ \"r\" ]; } );\n",
				      err, sizeof(err));
	if (cf == NULL)
		fail_msg("%s", err);
	assert_int_equal(cf->inbound.max_recipients, 100000);
	assert_int_equal(cf->inbound.max_errors, 16);
	config_free(cf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_units),
		cmocka_unit_test(test_full_config),
		cmocka_unit_test(test_errors_name_file_and_line),
		cmocka_unit_test(test_inbound_threads),
		cmocka_unit_test(test_integers_that_would_wrap),
		cmocka_unit_test(test_netmask),
		cmocka_unit_test(test_http_section),
		cmocka_unit_test(test_monitor_section),
		cmocka_unit_test(test_dmarc_section),
		cmocka_unit_test(test_routes_rules_retry),
		cmocka_unit_test(test_limits_warmup_backoff),
		cmocka_unit_test(test_limits_by_provider),
		cmocka_unit_test(test_rule_keys_and_their_errors),
		cmocka_unit_test(test_relative_paths_and_identity),
		cmocka_unit_test(test_every_error_reported),
		cmocka_unit_test(test_group_usage_and_loader_order),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
