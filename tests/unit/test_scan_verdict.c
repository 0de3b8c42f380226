/* Unit tests: rspamd's /checkv2 reply as outpost reads it (scan_verdict.h),
 * its edge cases, and the scanner's config errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "core/config.h"
#include "inbound/scan_verdict.h"

static int parse(const char *json, struct scan_verdict *v, char *err)
{
	return scan_verdict_parse(json, strlen(json), v, err, 128);
}

static void test_actions_score_symbols_message(void **st)
{
	(void)st;
	struct scan_verdict v;
	char err[128];
	assert_int_equal(parse("{\"action\":\"reject\",\"score\":1500.5,\"required_score\":15,"
			       "\"symbols\":{\"GTUBE\":{\"score\":0},\"R_SPF_NA\":{}},"
			       "\"messages\":{\"smtp_message\":\"Gtube pattern\"}}", &v, err), 0);
	assert_int_equal(v.action, SCAN_REJECT);
	assert_string_equal(v.action_name, "reject");
	assert_true(v.score > 1500.4 && v.score < 1500.6);
	assert_string_equal(v.symbols, "GTUBE,R_SPF_NA");
	assert_string_equal(v.message, "Gtube pattern");
	static const struct { const char *name; enum scan_action a; } acts[] = {
		{ "no action", SCAN_NO_ACTION }, { "greylist", SCAN_GREYLIST }, { "add header", SCAN_ADD_HEADER },
		{ "rewrite subject", SCAN_REWRITE_SUBJECT }, { "soft reject", SCAN_SOFT_REJECT },
	};
	for (size_t i = 0; i < sizeof(acts) / sizeof(acts[0]); i++) {
		char json[128];
		snprintf(json, sizeof(json), "{\"action\":\"%s\"}", acts[i].name);
		assert_int_equal(parse(json, &v, err), 0);
		assert_int_equal(v.action, acts[i].a);
		assert_string_equal(scan_action_name(v.action), acts[i].name);
		assert_string_equal(v.symbols, "");
		assert_string_equal(v.message, "");
	}
}

static void test_bad_replies(void **st)
{
	(void)st;
	struct scan_verdict v;
	char err[128];
	static const struct { const char *json, *why; } bad[] = {
		{ "", "not JSON" },
		{ "<html>502 Bad Gateway</html>", "not JSON" },
		{ "[\"reject\"]", "not a JSON object" },
		{ "{}", "no action in the reply" },
		{ "{\"action\":5}", "no action in the reply" },
		{ "{\"action\":\"discard\"}", "unknown action" },
		{ "{\"action\":\"REJECT\"}", "unknown action" },
		{ "{\"action\":\"reject\",\"score\":\"high\"}", "score is not a number" },
		{ "{\"action\":\"reject\",\"action\":\"no action\"}", "not JSON" },   /* duplicate keys */
		{ "{\"action\":\"reject\"", "not JSON" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (parse(bad[i].json, &v, err) != -1 || strcmp(err, bad[i].why) != 0)
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, err, bad[i].why);
	}
	/* a NUL inside: not a string the parser reads past */
	assert_int_equal(scan_verdict_parse("{\"action\":\"reject\"}\0junk", 24, &v, err, sizeof(err)), -1);
}

static void test_unsafe_text_is_made_safe(void **st)
{
	(void)st;
	struct scan_verdict v;
	char err[128], json[2048];
	assert_int_equal(parse("{\"action\":\"reject\",\"messages\":{\"smtp_message\":\"spam\\r\\n250 ok \\u00e9\"},"
			       "\"symbols\":{\"A\\nB\":{}}}", &v, err), 0);
	assert_string_equal(v.message, "spam??250 ok ??");
	assert_string_equal(v.symbols, "A?B");
	/* many symbols: as many whole names as fit */
	int n = snprintf(json, sizeof(json), "{\"action\":\"add header\",\"symbols\":{");
	for (int i = 0; i < 60; i++)
		n += snprintf(json + n, sizeof(json) - (size_t)n, "%s\"SYMBOL_NUMBER_%02d\":{}", i ? "," : "", i);
	snprintf(json + n, sizeof(json) - (size_t)n, "}}");
	assert_int_equal(parse(json, &v, err), 0);
	assert_true(strlen(v.symbols) < sizeof(v.symbols));
	assert_int_equal(strncmp(v.symbols, "SYMBOL_NUMBER_00,SYMBOL_NUMBER_01", 33), 0);
	assert_int_equal(strlen(v.symbols) % 17, 16);   /* whole names only */
}

static void test_scanner_config(void **st)
{
	(void)st;
	char err[1024];
	static const struct { const char *text, *msg; } bad[] = {
		{ "scanner = { url = \"http://127.0.0.1:11333\"; };\n", "t.conf:1: scanner: type = \"rspamd\" is required" },
		{ "scanner = { type = \"spamassassin\"; };\n", "t.conf:1: type: expected one of" },
		{ "scanner = { type = \"rspamd\";\n url = \"http://rspamd.local:11333\"; };\n",
		  "t.conf:2: scanner: url \"http://rspamd.local:11333\" is not http://IP[:PORT]" },
		{ "scanner = { type = \"rspamd\"; url = \"https://127.0.0.1\"; };\n", "is not http://IP[:PORT]" },
		{ "scanner = { type = \"rspamd\"; url = \"http://127.0.0.1:11333/checkv2\"; };\n", "is not http://IP[:PORT]" },
		{ "scanner = { type = \"rspamd\";\n timeout = \"10m\"; };\n", "t.conf:2: timeout:" },
		{ "scanner = { type = \"rspamd\";\n on_error = \"reject\"; };\n", "t.conf:2: on_error: expected one of" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		struct config *cf = config_parse(bad[i].text, "t.conf", err, sizeof(err));
		config_free(cf);
		if (cf != NULL || strstr(err, bad[i].msg) == NULL)
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, err, bad[i].msg);
	}
	struct config *cf = config_parse("scanner = { type = \"rspamd\"; url = \"http://[::1]:11334\"; timeout = \"2s\";"
					 " on_error = \"tempfail\"; };\n", "t.conf", err, sizeof(err));
	if (cf == NULL)
		fail_msg("%s", err);
	assert_true(cf->scanner.set);
	assert_string_equal(cf->scanner.host, "::1");
	assert_int_equal(cf->scanner.port, 11334);
	assert_int_equal(cf->scanner.timeout, 2);
	assert_int_equal(cf->scanner.on_error, SCAN_ON_ERROR_TEMPFAIL);
	config_free(cf);
	cf = config_parse("scanner = { type = \"rspamd\"; };\n", "t.conf", err, sizeof(err));
	assert_non_null(cf);
	assert_string_equal(cf->scanner.host, "127.0.0.1");
	assert_int_equal(cf->scanner.port, 11333);
	assert_int_equal(cf->scanner.timeout, 5);
	assert_int_equal(cf->scanner.on_error, SCAN_ON_ERROR_ACCEPT);
	config_free(cf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_actions_score_symbols_message),
		cmocka_unit_test(test_bad_replies),
		cmocka_unit_test(test_unsafe_text_is_made_safe),
		cmocka_unit_test(test_scanner_config),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
