/*
 * test_local_dispatch: matching (exact ignoring case, globs, order), the
 * handler's view of the message, and the reply checks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "inbound/local_dispatch.h"

struct seen {
	int calls;
	char rcpt[128];
	char data[128];
	const char *answer;     /* what the handler replies; NULL: nothing */
};

static void handler(void *arg, const struct local_message *m, char *reply, size_t replylen)
{
	struct seen *s = arg;
	s->calls++;
	snprintf(s->rcpt, sizeof(s->rcpt), "%s", m->rcpt);
	snprintf(s->data, sizeof(s->data), "%.*s", (int)m->len, m->data);
	if (s->answer)
		snprintf(reply, replylen, "%s", s->answer);
}

static void test_match(void **state)
{
	(void)state;
	char err[256];
	struct seen a = { 0 }, b = { 0 };
	struct local_dispatch *ld = local_dispatch_new();
	assert_null(local_dispatch_match(ld, "x@y.test"));
	assert_int_equal(local_dispatch_add(ld, "canary", "Canary@Mail.Example", LOCAL_EXACT, handler, &a,
					    err, sizeof(err)), 0);
	assert_int_equal(local_dispatch_add(ld, "bounce", "bounces+*@mail.example", LOCAL_GLOB, handler, &b,
					    err, sizeof(err)), 0);
	const struct local_mailbox *mb = local_dispatch_match(ld, "canary@mail.example");
	assert_non_null(mb);
	assert_string_equal(local_mailbox_name(mb), "canary");
	assert_non_null(local_dispatch_match(ld, "CANARY@MAIL.EXAMPLE"));
	assert_null(local_dispatch_match(ld, "canary@mail.example.evil"));
	assert_null(local_dispatch_match(ld, "xcanary@mail.example"));
	mb = local_dispatch_match(ld, "Bounces+1A2B=user=example.net@mail.example");
	assert_non_null(mb);
	assert_string_equal(local_mailbox_name(mb), "bounce");
	assert_null(local_dispatch_match(ld, "bounces@mail.example"));
	assert_null(local_dispatch_match(ld, "bounces+x@mail.example.net"));
	/* an exact address with glob characters is matched literally */
	assert_int_equal(local_dispatch_add(ld, "star", "a*b@mail.example", LOCAL_EXACT, handler, &a, err,
					    sizeof(err)), 0);
	assert_null(local_dispatch_match(ld, "axxb@mail.example"));
	assert_non_null(local_dispatch_match(ld, "a*b@mail.example"));
	assert_int_equal(local_dispatch_add(ld, "bad", "[abc@x", LOCAL_GLOB, handler, &a, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "local mailbox bad"));
	local_dispatch_free(ld);
}

static void test_first_registered_wins(void **state)
{
	(void)state;
	char err[256];
	struct seen a = { 0 }, b = { 0 };
	struct local_dispatch *ld = local_dispatch_new();
	assert_int_equal(local_dispatch_add(ld, "fbl", "fbl@mail.example", LOCAL_EXACT, handler, &a, err,
					    sizeof(err)), 0);
	assert_int_equal(local_dispatch_add(ld, "any", "*@mail.example", LOCAL_GLOB, handler, &b, err,
					    sizeof(err)), 0);
	assert_string_equal(local_mailbox_name(local_dispatch_match(ld, "fbl@mail.example")), "fbl");
	assert_string_equal(local_mailbox_name(local_dispatch_match(ld, "dmarc@mail.example")), "any");
	local_dispatch_free(ld);
}

static void deliver(struct local_dispatch *ld, const char *rcpt, char *reply, size_t len)
{
	static const char msg[] = "Subject: x\r\n\r\nbody\r\n";
	struct local_message m = { .qid = "Q1", .client = "192.0.2.1", .helo = "h", .sender = "",
				   .rcpt = rcpt, .data = msg, .len = sizeof(msg) - 1 };
	local_dispatch_deliver(local_dispatch_match(ld, rcpt), &m, reply, len);
}

static void test_deliver_and_reply_checks(void **state)
{
	(void)state;
	char err[256], reply[512];
	struct seen a = { 0 };
	struct local_dispatch *ld = local_dispatch_new();
	assert_int_equal(local_dispatch_add(ld, "dmarc", "dmarc@mail.example", LOCAL_EXACT, handler, &a, err,
					    sizeof(err)), 0);
	deliver(ld, "DMARC@mail.example", reply, sizeof(reply));
	assert_int_equal(a.calls, 1);
	assert_string_equal(a.rcpt, "DMARC@mail.example");
	assert_string_equal(a.data, "Subject: x\r\n\r\nbody\r\n");
	assert_string_equal(reply, "250 2.0.0 Ok");               /* empty: the default */
	a.answer = "550 5.7.1 Not a report";
	deliver(ld, "dmarc@mail.example", reply, sizeof(reply));
	assert_string_equal(reply, "550 5.7.1 Not a report");
	a.answer = "250 ok\r\n250 second line";                    /* not one line */
	deliver(ld, "dmarc@mail.example", reply, sizeof(reply));
	assert_string_equal(reply, "451 4.3.0 Local mailbox error, try again later");
	a.answer = "hello";
	deliver(ld, "dmarc@mail.example", reply, sizeof(reply));
	assert_memory_equal(reply, "451 4.3.0", 9);
	a.answer = "354 go on";
	deliver(ld, "dmarc@mail.example", reply, sizeof(reply));
	assert_memory_equal(reply, "451 4.3.0", 9);
	assert_int_equal(a.calls, 5);
	local_dispatch_free(ld);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_match),
		cmocka_unit_test(test_first_registered_wins),
		cmocka_unit_test(test_deliver_and_reply_checks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
