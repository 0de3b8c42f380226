/*
 * test_queue_why: what `outpost queue show` and `queue list --json` say of
 * a recipient's receiving provider (issue 19): the provider of its
 * domain's best MX host as the daemon resolved it, or why it is not known
 * (not resolved yet; no daemon running); case and a final dot of the
 * domain ignored; rendered in text and JSON.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/queue_render.h"
#include "core/xmalloc.h"
#include "obs/queue_why.h"

static struct queue_live_set live_with_mx(void)
{
	struct queue_live_set live = { NULL, 0, NULL, 0 };
	static const char *const mx[][2] = {
		{ "gmail.example", "gmail-smtp-in.l.google.com" },
		{ "contoso.example", "contoso-example.mail.protection.outlook.com" },
		{ "small.example", "mx.small.example" },
	};
	live.mx = xcalloc(3, sizeof(*live.mx));
	for (size_t i = 0; i < 3; i++)
		live.mx[live.nmx++] = (struct queue_mx){ xstrdup(mx[i][0]), xstrdup(mx[i][1]) };
	queue_live_sort(&live);
	return live;
}

static void expect_provider(const struct queue_live_set *live, const char *rcpt, int known, const char *want,
			    const char *want_host)
{
	char out[128];
	const char *host = "junk";
	int got = queue_provider(live, rcpt, out, sizeof(out), &host);
	if (got != known || strcmp(out, want) != 0)
		fail_msg("%s: %d \"%s\", want %d \"%s\"", rcpt ? rcpt : "(null)", got, out, known, want);
	if (want_host ? host == NULL || strcmp(host, want_host) != 0 : host != NULL)
		fail_msg("%s: host %s, want %s", rcpt, host ? host : "NULL", want_host ? want_host : "NULL");
}

static void provider_from_the_resolved_mx(void **st)
{
	(void)st;
	struct queue_live_set live = live_with_mx();
	expect_provider(&live, "u0@gmail.example", 1, "gmail", "gmail-smtp-in.l.google.com");
	expect_provider(&live, "U1@GMAIL.Example.", 1, "gmail", "gmail-smtp-in.l.google.com");
	expect_provider(&live, "a@contoso.example", 1, "outlook", "contoso-example.mail.protection.outlook.com");
	expect_provider(&live, "b@small.example", 1, "small.example", "mx.small.example");
	expect_provider(&live, "c@elsewhere.example", 0, "unknown (MX not resolved yet)", NULL);
	expect_provider(&live, "no-at-sign", 0, "unknown (MX not resolved yet)", NULL);
	expect_provider(&live, "", 0, "unknown (MX not resolved yet)", NULL);
	expect_provider(&live, NULL, 0, "unknown (MX not resolved yet)", NULL);
	expect_provider(NULL, "u0@gmail.example", 0, "unknown (outpostd is not running)", NULL);
	struct queue_live_set empty = { NULL, 0, NULL, 0 };
	expect_provider(&empty, "u0@gmail.example", 0, "unknown (MX not resolved yet)", NULL);
	queue_live_free(&live);
	assert_int_equal(live.nmx, 0);
}

static struct spool_text text_of(const char *s)
{
	return (struct spool_text){ (char *)s, strlen(s) };
}

static void show_and_list_say_the_provider(void **st)
{
	(void)st;
	struct queue_live_set live = live_with_mx();
	struct spool_admin_rcpt rcpts[2] = {
		{ 0, text_of("u0@gmail.example"), text_of("deferred"), text_of("451 4.7.0 later"), 1, 0, 0 },
		{ 1, text_of("x@elsewhere.example"), text_of("queued"), { NULL, 0 }, 0, 0, 0 },
	};
	struct spool_admin_msg m;
	memset(&m, 0, sizeof(m));
	m.id = text_of("1K1F6BGCBJW00TXK");
	m.sender = text_of("app@sender.example.org");
	m.rcpts = rcpts;
	m.nrcpts = 2;
	char *text = NULL, err[128];
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	assert_int_equal(queue_render_show_live(&m, 0, &live, f, err, sizeof(err)), 0);
	fclose(f);
	assert_non_null(strstr(text, "address=u0@gmail.example state=deferred attempts=1 provider=gmail "));
	assert_non_null(strstr(text, "address=x@elsewhere.example state=queued attempts=0 "
				     "provider=\"unknown (MX not resolved yet)\" "));
	free(text);
	struct spool_admin_queue q = { &m, 1 };
	f = open_memstream(&text, &len);
	assert_int_equal(queue_render_list_live(&q, 1, &live, f, err, sizeof(err)), 0);
	fclose(f);
	json_t *doc = json_loads(text, 0, NULL);
	assert_non_null(doc);
	json_t *r0 = json_array_get(json_object_get(json_array_get(doc, 0), "recipients"), 0);
	json_t *r1 = json_array_get(json_object_get(json_array_get(doc, 0), "recipients"), 1);
	assert_string_equal(json_string_value(json_object_get(r0, "provider")), "gmail");
	assert_string_equal(json_string_value(json_object_get(r0, "provider_mx")), "gmail-smtp-in.l.google.com");
	assert_null(json_object_get(r0, "provider_why"));
	assert_true(json_is_null(json_object_get(r1, "provider")));
	assert_string_equal(json_string_value(json_object_get(r1, "provider_why")), "unknown (MX not resolved yet)");
	json_decref(doc);
	free(text);
	queue_live_free(&live);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(provider_from_the_resolved_mx),
		cmocka_unit_test(show_and_list_say_the_provider),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
