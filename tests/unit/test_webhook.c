/* Unit tests: the webhook signature (a vector computed with Python's hmac)
 * and the webhooks section's refusals, with file:line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/config.h"
#include "obs/webhook.h"

static void test_signature(void **st)
{
	char sig[160];
	(void)st;
	webhook_sign("0123456789abcdef-secret", 1700000000, "{\"id\":1}", 8, sig, sizeof(sig));
	assert_string_equal(sig, "t=1700000000,v1=3787e09f63b51a5075d29f27b2a1c074f511860946a10efbeee3c7bd3097b42e");
	webhook_sign("0123456789abcdef-secret", 1700000001, "{\"id\":1}", 8, sig, sizeof(sig));
	assert_null(strstr(sig, "3787e09f"));   /* the time is signed too */
}

static struct config *load(const char *text, char *err, size_t errlen)
{
	char path[64] = "/tmp/outpost-wh-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	struct config *cf = config_load(path, err, errlen);
	unlink(path);
	return cf;
}

static void test_config(void **st)
{
	char err[512], secret[64] = "/tmp/outpost-whs-XXXXXX", text[1024];
	(void)st;
	int fd = mkstemp(secret);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "0123456789abcdefXYZ\n", 20), 20);
	close(fd);
	chmod(secret, 0600);
	snprintf(text, sizeof(text), "webhooks = ( { url = \"https://hooks.example.com/x\"; events = [ \"delivered\" ];"
		 " secret_file = \"%s\"; } );\n", secret);
	struct config *cf = load(text, err, sizeof(err));
	assert_non_null(cf);
	assert_int_equal(cf->nwebhooks, 1);
	assert_string_equal(cf->webhooks[0].secret, "0123456789abcdefXYZ");
	config_free(cf);
	/* every event outpost emits may be asked for */
	snprintf(text, sizeof(text), "webhooks = ( { url = \"https://hooks.example.com/x\"; events = [ \"delivered\","
		 " \"received\", \"deferred\", \"bounced\", \"complaint\", \"suppressed\", \"route_down\", \"route_up\","
		 " \"failover\", \"canary_failed\", \"blocklisted\", \"delisted\","
		 " \"placement\" ]; secret_file = \"%s\"; } );\n", secret);
	cf = load(text, err, sizeof(err));
	assert_non_null(cf);
	assert_int_equal(cf->webhooks[0].nevents, 13);
	config_free(cf);
	static const struct { const char *fmt, *msg; } bad[] = {
		{ "webhooks = ( {\n url = \"http://hooks.example.com/x\"; events = [ \"delivered\" ]; secret_file = \"%s\"; } );\n",
		  ":1: webhooks: url must be https://" },
		{ "webhooks = ( { url = \"ftp://x\"; events = [ \"delivered\" ]; secret_file = \"%s\"; } );\n",
		  "url must be https://" },
		{ "webhooks = ( { url = \"https://h/x\";\n events = [ \"route_sideways\" ]; secret_file = \"%s\"; } );\n",
		  ":2: webhooks: event \"route_sideways\"" },
		{ "webhooks = ( { url = \"https://h/x\"; events = [ \"delivered\" ]; } );\n# %s\n",
		  "secret_file is required" },
		{ "webhooks = ( { url = \"https://h/x\"; events = [ \"delivered\" ];\n secret = \"%s\"; } );\n",
		  ":2: unknown setting \"secret\"" },
		{ "webhooks = ( { url = \"https://h/x\"; events = [ \"delivered\" ]; secret_file = \"%s\"; },\n"
		  " { url = \"https://h/x\"; events = [ \"bounced\" ]; secret_file = \"/nonexistent\"; } );\n",
		  ":2: webhooks: url https://h/x is listed twice" },
		{ "webhooks = ( { url = \"http://127.0.0.1:9/x\"; secret_file = \"%s\"; } );\n", "events is required" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), bad[i].fmt, secret);
		err[0] = '\0';
		assert_null(load(text, err, sizeof(err)));
		if (strstr(err, bad[i].msg) == NULL)
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, err, bad[i].msg);
	}
	chmod(secret, 0640);
	snprintf(text, sizeof(text), "webhooks = ( { url = \"http://127.0.0.1:9/x\"; events = [ \"bounced\" ];"
		 " secret_file = \"%s\"; } );\n", secret);
	assert_null(load(text, err, sizeof(err)));
	assert_non_null(strstr(err, "mode 600"));
	unlink(secret);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_signature),
		cmocka_unit_test(test_config),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
