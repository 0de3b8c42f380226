/* Unit tests: metrics in memory and their Prometheus text (escaping,
 * cumulative histogram buckets, families without labels, the per-tenant
 * families of the obs hooks). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/buf.h"
#include "obs/metrics.h"
#include "obs/obs.h"

static char *render(void)
{
	struct buf b = BUF_INIT;
	metrics_render(&b);
	buf_putc(&b, '\0');
	return buf_steal(&b, NULL);
}

static void test_counters_and_escaping(void **st)
{
	(void)st;
	metrics_reset();
	metrics_inc(M_ATTEMPTS, "relay", "delivered");
	metrics_inc(M_ATTEMPTS, "relay", "delivered");
	metrics_inc(M_ATTEMPTS, "relay", "bounced");
	metrics_inc(M_RECEIVED, "127.0.0.1:25", "we\"ird\\us\ner");
	assert_true(metrics_value(M_ATTEMPTS, "relay", "delivered", NULL) == 2);
	assert_true(metrics_value(M_ATTEMPTS, "relay", "deferred", NULL) == 0);
	char *t = render();
	assert_non_null(strstr(t, "# TYPE outpost_delivery_attempts_total counter\n"));
	assert_non_null(strstr(t, "outpost_delivery_attempts_total{route=\"relay\",result=\"delivered\"} 2\n"));
	assert_non_null(strstr(t, "outpost_delivery_attempts_total{route=\"relay\",result=\"bounced\"} 1\n"));
	assert_non_null(strstr(t, "user=\"we\\\"ird\\\\us\\ner\"} 1\n"));
	assert_non_null(strstr(t, "\noutpost_dkim_signatures_total 0\n"));   /* present before any */
	free(t);
	metrics_reset();
}

static void test_histogram_is_cumulative(void **st)
{
	(void)st;
	metrics_reset();
	metrics_observe(M_TXN_DURATION, "relay", 0.02);
	metrics_observe(M_TXN_DURATION, "relay", 0.3);
	metrics_observe(M_TXN_DURATION, "relay", 1000);
	char *t = render();
	const char *p = "outpost_smtp_transaction_duration_seconds";
	char want[200];
	snprintf(want, sizeof(want), "%s_bucket{route=\"relay\",le=\"0.01\"} 0\n", p);
	assert_non_null(strstr(t, want));
	snprintf(want, sizeof(want), "%s_bucket{route=\"relay\",le=\"0.025\"} 1\n", p);
	assert_non_null(strstr(t, want));
	snprintf(want, sizeof(want), "%s_bucket{route=\"relay\",le=\"0.5\"} 2\n", p);
	assert_non_null(strstr(t, want));
	snprintf(want, sizeof(want), "%s_bucket{route=\"relay\",le=\"300\"} 2\n", p);
	assert_non_null(strstr(t, want));
	snprintf(want, sizeof(want), "%s_bucket{route=\"relay\",le=\"+Inf\"} 3\n", p);
	assert_non_null(strstr(t, want));
	snprintf(want, sizeof(want), "%s_count{route=\"relay\"} 3\n", p);
	assert_non_null(strstr(t, want));
	snprintf(want, sizeof(want), "%s_sum{route=\"relay\"} 1000.32\n", p);
	assert_non_null(strstr(t, want));
	free(t);
	metrics_reset();
}

/* Thousands of series of one family (100 routes x states x ...): each
 * found again by its labels after the table grew, rendered once each. */
static void test_many_series_and_numbers(void **st)
{
	(void)st;
	metrics_reset();
	char route[32], result[32];
	for (int i = 0; i < 3000; i++) {
		snprintf(route, sizeof(route), "r%d", i / 3);
		snprintf(result, sizeof(result), "x%d", i % 3);
		metrics_add(M_ATTEMPTS, route, result, NULL, i);
	}
	metrics_add(M_ATTEMPTS, "r7", "x1", NULL, 1);   /* 7 * 3 + 1 = 22, plus one */
	assert_true(metrics_value(M_ATTEMPTS, "r7", "x1", NULL) == 23);
	assert_true(metrics_value(M_ATTEMPTS, "r999", "x2", NULL) == 2999);
	assert_true(metrics_value(M_ATTEMPTS, "r1000", "x0", NULL) == 0);
	metrics_set(M_QUEUE, NULL, NULL, NULL, -42);
	char *t = render();
	assert_non_null(strstr(t, "outpost_delivery_attempts_total{route=\"r7\",result=\"x1\"} 23\n"));
	assert_non_null(strstr(t, "outpost_delivery_attempts_total{route=\"r0\",result=\"x0\"} 0\n"));
	assert_non_null(strstr(t, "\noutpost_queue_messages -42\n"));
	size_t n = 0;
	for (const char *p = t; (p = strstr(p, "\noutpost_delivery_attempts_total{")) != NULL; p++)
		n++;
	assert_int_equal(n, 3000);
	free(t);
	metrics_set(M_QUEUE, NULL, NULL, NULL, 0.125);
	t = render();
	assert_non_null(strstr(t, "\noutpost_queue_messages 0.125\n"));
	free(t);
	metrics_reset();
}

static int collected;
static void collector(void *arg)
{
	collected++;
	metrics_clear(M_QUEUE);
	metrics_set(M_QUEUE, NULL, NULL, NULL, *(double *)arg);
}

static void test_collectors_run_at_render(void **st)
{
	double q = 42;
	(void)st;
	metrics_collector_add(collector, &q);
	char *t = render();
	assert_int_equal(collected, 1);
	assert_non_null(strstr(t, "\noutpost_queue_messages 42\n"));
	free(t);
	metrics_collector_remove(collector, &q);
	t = render();
	assert_int_equal(collected, 1);
	free(t);
	metrics_reset();
}

static void test_tenant_families_of_the_hooks(void **st)
{
	(void)st;
	metrics_reset();
	obs_received("127.0.0.1:25", "alice", "acme");
	obs_received("127.0.0.1:25", NULL, NULL);
	obs_outcome("relay", "acme", "bounced", "5.1.1", 0, 10);
	obs_outcome("relay", "acme", "delivered", "", 0, 10);
	obs_outcome("relay", NULL, "delivered", "", 0, 10);
	obs_tenant_bounce("acme", "userunknown", "delivery");
	obs_tenant_bounce("acme", "userunknown", "delivery");
	obs_complaint("acme");
	obs_scan("reject", "acme", 0.004);
	obs_scan_error("timeout", "accept");
	assert_true(metrics_value(M_TENANT_RECEIVED, "acme", NULL, NULL) == 1);
	assert_true(metrics_value(M_TENANT_RECEIVED, "", NULL, NULL) == 1);
	assert_true(metrics_value(M_TENANT_RECIPIENTS, "acme", "delivered", NULL) == 1);
	assert_true(metrics_value(M_TENANT_BOUNCES, "acme", "userunknown", "delivery") == 2);
	assert_true(metrics_value(M_TENANT_RECIPIENTS, "acme", "bounced", NULL) == 1);
	assert_true(metrics_value(M_ATTEMPTS, "relay", "delivered", NULL) == 2);   /* all tenants */
	char *t = render();
	assert_non_null(strstr(t, "\noutpost_tenant_recipients_total{tenant=\"\",result=\"delivered\"} 1\n"));
	assert_non_null(strstr(t, "\noutpost_tenant_complaints_total{tenant=\"acme\"} 1\n"));
	assert_non_null(strstr(t, "\noutpost_scans_total{result=\"reject\",tenant=\"acme\"} 1\n"));
	assert_non_null(strstr(t, "\noutpost_scan_errors_total{reason=\"timeout\",action=\"accept\"} 1\n"));
	/* a 4 ms scan lands in the 5 ms bucket, not only in the 10 ms one */
	assert_non_null(strstr(t, "\noutpost_scan_duration_seconds_bucket{scanner=\"rspamd\",le=\"0.005\"} 1\n"));
	assert_non_null(strstr(t, "\noutpost_scan_duration_seconds_bucket{scanner=\"rspamd\",le=\"0.0025\"} 0\n"));
	free(t);
	metrics_reset();
}

/* Outside text for an event's detail: valid UTF-8 kept, the rest '?',
 * cut on a character boundary. */
static void test_obs_text(void **st)
{
	char out[16];
	(void)st;
	assert_string_equal(obs_text(out, sizeof(out), "550 5.1.1 \xc3\xa9t\xc3\xa9"), "550 5.1.1 \xc3\xa9t\xc3\xa9");
	assert_string_equal(obs_text(out, sizeof(out), "a\xff\xc3" "b\r\n\x01"), "a?" "?b?" "??");
	assert_string_equal(obs_text(out, sizeof(out), NULL), "");
	assert_string_equal(obs_text(out, 6, "abcd\xc3\xa9"), "abcd");      /* not half of the é */
	assert_string_equal(obs_text(out, sizeof(out), "\xed\xa0\x80x"), "?" "??x");  /* a surrogate */
	assert_string_equal(obs_text(out, 1, "abc"), "");
}

static char got_event[64], got_detail[256];
static int got_null_rcpt;

static void sink(void *arg, const char *event, const char *qid, const char *route, const char *rcpt,
		 const char *detail)
{
	(void)arg;
	(void)qid;
	(void)route;
	snprintf(got_event, sizeof(got_event), "%s", event);
	snprintf(got_detail, sizeof(got_detail), "%s", detail ? detail : "(null)");
	got_null_rcpt = rcpt == NULL;
}

/* An event's detail is a JSON object with sorted keys; without a sink,
 * events go nowhere; a detail that cannot be made is null. */
static void test_obs_event_sink(void **st)
{
	(void)st;
	obs_event("route_down", NULL, "r1", NULL, "{s:s}", "class", "*");
	assert_string_equal(got_event, "");
	obs_event_sink(sink, NULL);
	obs_event("route_down", NULL, "r1", NULL, "{s:s, s:I, s:b}", "reason", "x \"y\"", "probe_at", 12LL,
		  "acts", 1);
	assert_string_equal(got_event, "route_down");
	assert_string_equal(got_detail, "{\"acts\":true,\"probe_at\":12,\"reason\":\"x \\\"y\\\"\"}");
	assert_true(got_null_rcpt);
	obs_event("failover", "Q1", "r1", NULL, "{s:s}", "reply", "\xff");   /* not UTF-8: a bug of the caller */
	assert_string_equal(got_event, "failover");
	assert_string_equal(got_detail, "(null)");
	obs_event("route_up", NULL, "r1", NULL, NULL);
	assert_string_equal(got_detail, "(null)");
	obs_event_sink(NULL, NULL);
}

static const char *rej_reason;
static int rej_calls;

static void rej_sink(void *arg, const char *reason)
{
	(void)arg;
	rej_reason = reason;
	rej_calls++;
}

/* A refusal counts in the metric and, with a sink set, there too. */
static void test_obs_rejected_sink(void **st)
{
	(void)st;
	metrics_reset();
	obs_rejected("127.0.0.1:25", "size");
	assert_int_equal(rej_calls, 0);
	obs_rejected_sink(rej_sink, NULL);
	obs_rejected("127.0.0.1:25", "relay_denied");
	assert_int_equal(rej_calls, 1);
	assert_string_equal(rej_reason, "relay_denied");
	obs_rejected_sink(NULL, NULL);
	obs_rejected("127.0.0.1:25", "size");
	assert_int_equal(rej_calls, 1);
	assert_true(metrics_value(M_REJECTED, "127.0.0.1:25", "size", NULL) == 2);
	metrics_reset();
}

/* Placement results count per route and result; a round replaces the
 * inbox shares of the one before (a route not set again has none). */
static void test_placement_families(void **st)
{
	(void)st;
	metrics_reset();
	obs_placement("ses", "spam");
	obs_placement("ses", "spam");
	obs_placement("direct", "inbox");
	obs_placement_round();
	obs_placement_share("ses", 0);
	obs_placement_share("direct", 1);
	obs_placement_round();
	obs_placement_share("ses", 0.5);
	char *text = render();
	assert_non_null(strstr(text, "outpost_placement_results_total{route=\"ses\",result=\"spam\"} 2\n"));
	assert_non_null(strstr(text, "outpost_placement_results_total{route=\"direct\",result=\"inbox\"} 1\n"));
	assert_non_null(strstr(text, "outpost_placement_inbox_ratio{route=\"ses\"} 0.5\n"));
	assert_null(strstr(text, "outpost_placement_inbox_ratio{route=\"direct\"}"));
	free(text);
	metrics_reset();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counters_and_escaping),
		cmocka_unit_test(test_histogram_is_cumulative),
		cmocka_unit_test(test_many_series_and_numbers),
		cmocka_unit_test(test_collectors_run_at_render),
		cmocka_unit_test(test_tenant_families_of_the_hooks),
		cmocka_unit_test(test_obs_text),
		cmocka_unit_test(test_obs_event_sink),
		cmocka_unit_test(test_obs_rejected_sink),
		cmocka_unit_test(test_placement_families),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
