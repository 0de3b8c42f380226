/* health: circuit breakers of delivery paths, in simulated time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "delivery/health.h"

static const struct health_conf conf = { 3, 60, 240 };

struct found {
	const char *route, *dclass;
	struct health_row row;
	int seen;
};

static void find_row(const struct health_row *r, void *arg)
{
	struct found *f = arg;
	if (strcmp(r->route, f->route) == 0 && strcmp(r->dclass, f->dclass) == 0) {
		f->row = *r;
		f->seen = 1;
	}
}

static struct health_row row_of(struct health *h, const char *route, const char *dclass, time_t now)
{
	struct found f = { route, dclass, { 0 }, 0 };
	health_each(h, now, find_row, &f);
	assert_true(f.seen);
	return f.row;
}

static int usable(struct health *h, const char *route, const char *dclass, time_t now, int *probe)
{
	int dummy;
	return health_usable(h, route, dclass, now, probe ? probe : &dummy);
}

static void test_unknown_path_is_usable(void **state)
{
	(void)state;
	struct health *h = health_new(&conf);
	assert_true(usable(h, "ses", "gmail", 1000, NULL));
	health_free(h);
}

/* Hundreds of paths (100 routes x classes): each found again after the
 * index grew; "r1"/"gmail" and "r1g"/"mail" are different paths. */
static void test_many_paths_each_its_own(void **state)
{
	(void)state;
	struct health *h = health_new(&conf);
	char route[16];
	for (int i = 0; i < 300; i++) {
		snprintf(route, sizeof(route), "r%d", i);
		for (int k = 0; k < 3; k++)   /* three failures: down */
			health_failure(h, route, i % 2 ? "gmail" : "*", "refused", "", 1000);
	}
	health_failure(h, "r1g", "mail", "refused", "", 1000);
	assert_int_equal(health_each(h, 1001, find_row, &(struct found){ "", "", { 0 }, 0 }), 301);
	for (int i = 0; i < 300; i++) {
		snprintf(route, sizeof(route), "r%d", i);
		assert_false(usable(h, route, "gmail", 1001, NULL));   /* down for gmail, or route-wide */
		assert_int_equal(row_of(h, route, i % 2 ? "gmail" : "*", 1001).state, HEALTH_DOWN);
	}
	assert_true(usable(h, "r1", "outlook", 1001, NULL));
	assert_int_equal(row_of(h, "r1g", "mail", 1001).state, HEALTH_DEGRADED);
	health_free(h);
}

static void test_down_after_consecutive_failures(void **state)
{
	(void)state;
	struct health *h = health_new(&conf);
	assert_int_equal(health_failure(h, "ses", "gmail", "blocked", "554 5.7.1 blocked", 1000), 0);
	assert_int_equal(row_of(h, "ses", "gmail", 1000).state, HEALTH_DEGRADED);
	assert_int_equal(health_failure(h, "ses", "gmail", "blocked", "554 5.7.1 blocked", 1001), 0);
	assert_true(usable(h, "ses", "gmail", 1001, NULL));
	assert_int_equal(health_failure(h, "ses", "gmail", "blocked", "554 5.7.1 blocked", 1002), 1);
	struct health_row r = row_of(h, "ses", "gmail", 1002);
	assert_int_equal(r.state, HEALTH_DOWN);
	assert_string_equal(r.reason, "blocked");
	assert_string_equal(r.last_reply, "554 5.7.1 blocked");
	assert_int_equal(r.probe_at, 1062);
	assert_false(usable(h, "ses", "gmail", 1003, NULL));
	/* other classes and other routes are not affected */
	assert_true(usable(h, "ses", "outlook", 1003, NULL));
	assert_true(usable(h, "direct", "gmail", 1003, NULL));
	health_free(h);
}

static void test_success_resets_the_count(void **state)
{
	(void)state;
	struct health *h = health_new(&conf);
	health_failure(h, "ses", "gmail", "x", "", 1000);
	health_failure(h, "ses", "gmail", "x", "", 1001);
	health_success(h, "ses", "gmail", "250 ok", 1002);
	assert_int_equal(row_of(h, "ses", "gmail", 1002).state, HEALTH_HEALTHY);
	assert_int_equal(health_failure(h, "ses", "gmail", "x", "", 1003), 0);
	assert_int_equal(health_failure(h, "ses", "gmail", "x", "", 1004), 0);
	assert_true(usable(h, "ses", "gmail", 1004, NULL));
	health_free(h);
}

static void test_probe_once_then_back_off_doubles(void **state)
{
	(void)state;
	struct health *h = health_new(&conf);
	int probe;
	for (int i = 0; i < 3; i++)
		health_failure(h, "ses", "*", "connect refused", "", 1000);
	assert_false(usable(h, "ses", "gmail", 1059, &probe));
	assert_true(usable(h, "ses", "gmail", 1060, &probe));
	assert_true(probe);
	/* one probe at a time */
	assert_false(usable(h, "ses", "gmail", 1061, &probe));
	health_failure(h, "ses", "*", "connect refused", "", 1061);
	assert_int_equal(row_of(h, "ses", "*", 1061).probe_at, 1061 + 120);
	assert_false(usable(h, "ses", "gmail", 1100, &probe));
	assert_true(usable(h, "ses", "gmail", 1181, &probe));
	health_failure(h, "ses", "*", "connect refused", "", 1181);
	assert_int_equal(row_of(h, "ses", "*", 1181).probe_at, 1181 + 240);
	assert_true(usable(h, "ses", "gmail", 1421, &probe));
	health_failure(h, "ses", "*", "connect refused", "", 1421);
	assert_int_equal(row_of(h, "ses", "*", 1421).probe_at, 1421 + 240); /* probe_max */
	health_free(h);
}

static void test_probe_success_closes_the_breaker(void **state)
{
	(void)state;
	struct health *h = health_new(&conf);
	int probe;
	for (int i = 0; i < 3; i++)
		health_failure(h, "ses", "gmail", "blocked", "", 1000);
	assert_true(usable(h, "ses", "gmail", 1060, &probe));
	assert_true(probe);
	health_success(h, "ses", "gmail", "250 2.0.0 ok", 1061);
	assert_int_equal(row_of(h, "ses", "gmail", 1061).state, HEALTH_HEALTHY);
	assert_true(usable(h, "ses", "gmail", 1062, &probe));
	assert_false(probe);
	health_free(h);
}

static void test_route_wide_down_blocks_every_class(void **state)
{
	(void)state;
	struct health *h = health_new(&conf);
	for (int i = 0; i < 3; i++)
		health_failure(h, "ses", "*", "535 5.7.8 authentication failed", "", 1000);
	assert_false(usable(h, "ses", "gmail", 1001, NULL));
	assert_false(usable(h, "ses", "yahoo", 1001, NULL));
	assert_true(usable(h, "sendgrid", "yahoo", 1001, NULL));
	health_free(h);
}

/* The monitor takes a path down at once; the usual probe brings it back. */
static void test_down_at_once_then_back_through_the_probe(void **state)
{
	(void)state;
	struct health *h = health_new(&conf);
	int probe;
	health_down(h, "direct", "*", "127.0.0.7 listed on Spamhaus ZEN", 1000);
	assert_int_equal(row_of(h, "direct", "*", 1000).state, HEALTH_DOWN);
	assert_false(usable(h, "direct", "gmail", 1001, NULL));
	health_down(h, "direct", "*", "again", 1010);          /* already down: the probe time stands */
	assert_int_equal(row_of(h, "direct", "*", 1010).probe_at, 1060);
	assert_true(usable(h, "direct", "gmail", 1060, &probe));
	assert_true(probe);
	health_success(h, "direct", "*", "250 ok", 1061);
	assert_int_equal(row_of(h, "direct", "*", 1061).state, HEALTH_HEALTHY);
	health_free(h);
}

static void test_canary_degrades_until_it_passes(void **state)
{
	(void)state;
	struct health *h = health_new(&conf);
	health_canary(h, "ses", 0, "DKIM body hash mismatch", 1000);
	struct health_row r = row_of(h, "ses", "*", 1000);
	assert_int_equal(r.state, HEALTH_DEGRADED);
	assert_string_equal(r.reason, "DKIM body hash mismatch");
	assert_true(usable(h, "ses", "gmail", 1000, NULL));  /* degraded is still used */
	health_success(h, "ses", "gmail", "250 ok", 1001);   /* a delivery does not clear it */
	assert_int_equal(row_of(h, "ses", "*", 1001).state, HEALTH_DEGRADED);
	health_canary(h, "ses", 1, "", 1002);
	assert_int_equal(row_of(h, "ses", "*", 1002).state, HEALTH_HEALTHY);
	health_free(h);
}

static void test_hour_counts_and_restore(void **state)
{
	(void)state;
	struct health *h = health_new(&conf);
	health_success(h, "direct", "gmail", "250", 10000);
	health_success(h, "direct", "gmail", "250", 10030);
	health_failure(h, "direct", "gmail", "x", "421", 10100);
	struct health_row r = row_of(h, "direct", "gmail", 10100);
	assert_int_equal(r.sent_hour, 2);
	assert_int_equal(r.failed_hour, 1);
	r = row_of(h, "direct", "gmail", 10000 + 3700);  /* an hour later they have aged out */
	assert_int_equal(r.sent_hour, 0);
	assert_true(health_dirty(h));
	assert_false(health_dirty(h));

	struct health *h2 = health_new(&conf);
	struct health_row down = { "ses", "outlook", HEALTH_DOWN, "5.7.606 banned", "550 5.7.606", 900, 2000, 3,
				   0, 0 };
	health_restore(h2, &down);
	assert_false(usable(h2, "ses", "outlook", 1999, NULL));
	int probe;
	assert_true(usable(h2, "ses", "outlook", 2000, &probe));
	assert_true(probe);
	health_free(h2);
	health_free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unknown_path_is_usable),
		cmocka_unit_test(test_down_after_consecutive_failures),
		cmocka_unit_test(test_many_paths_each_its_own),
		cmocka_unit_test(test_success_resets_the_count),
		cmocka_unit_test(test_probe_once_then_back_off_doubles),
		cmocka_unit_test(test_probe_success_closes_the_breaker),
		cmocka_unit_test(test_route_wide_down_blocks_every_class),
		cmocka_unit_test(test_canary_degrades_until_it_passes),
		cmocka_unit_test(test_down_at_once_then_back_through_the_probe),
		cmocka_unit_test(test_hour_counts_and_restore),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
