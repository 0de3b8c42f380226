/* Unit tests: metrics in memory and their Prometheus text (escaping,
 * cumulative histogram buckets, families without labels). */
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counters_and_escaping),
		cmocka_unit_test(test_histogram_is_cumulative),
		cmocka_unit_test(test_collectors_run_at_render),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
