/*
 * test_auth_throttle: the growing delay, the window, success, a full table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>

#include "inbound/auth_throttle.h"

static void test_delay_grows_and_is_capped(void **state)
{
	(void)state;
	struct auth_throttle *t = auth_throttle_new();
	static const unsigned want[] = { 250, 500, 1000, 2000, 4000, 8000, 8000, 8000 };
	for (unsigned i = 0; i < 8; i++) {
		assert_int_equal(auth_throttle_fail(t, "192.0.2.1", 1000 + i), want[i]);
		assert_int_equal(auth_throttle_failures(t, "192.0.2.1", 1000 + i), i + 1);
	}
	/* another address has its own count */
	assert_int_equal(auth_throttle_failures(t, "192.0.2.2", 1010), 0);
	assert_int_equal(auth_throttle_fail(t, "192.0.2.2", 1010), 250);
	auth_throttle_free(t);
}

static void test_window_and_success(void **state)
{
	(void)state;
	struct auth_throttle *t = auth_throttle_new();
	auth_throttle_fail(t, "2001:db8::1", 1000);
	auth_throttle_fail(t, "2001:db8::1", 2000);
	assert_int_equal(auth_throttle_failures(t, "2001:db8::1", 2000 + AUTH_THROTTLE_WINDOW - 1), 2);
	assert_int_equal(auth_throttle_failures(t, "2001:db8::1", 2000 + AUTH_THROTTLE_WINDOW), 0);
	assert_int_equal(auth_throttle_fail(t, "2001:db8::1", 2000 + AUTH_THROTTLE_WINDOW), 250);
	auth_throttle_success(t, "2001:db8::1");
	assert_int_equal(auth_throttle_failures(t, "2001:db8::1", 6000), 0);
	auth_throttle_free(t);
}

static void test_full_table_forgets_the_oldest(void **state)
{
	(void)state;
	char a[64];
	struct auth_throttle *t = auth_throttle_new();
	for (int i = 0; i < AUTH_THROTTLE_MAX; i++) {
		snprintf(a, sizeof(a), "10.0.%d.%d", i / 256, i % 256);
		auth_throttle_fail(t, a, 1000 + i / 100);
	}
	auth_throttle_fail(t, "10.0.0.0", 1100);        /* the first is now the newest */
	auth_throttle_fail(t, "198.51.100.1", 1100);    /* evicts one of the oldest */
	assert_int_equal(auth_throttle_failures(t, "198.51.100.1", 1100), 1);
	assert_int_equal(auth_throttle_failures(t, "10.0.0.0", 1100), 2);
	assert_int_equal(auth_throttle_failures(t, "10.0.0.1", 1100), 0);
	assert_int_equal(auth_throttle_failures(t, "10.0.0.2", 1100), 1);
	auth_throttle_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_delay_grows_and_is_capped),
		cmocka_unit_test(test_window_and_success),
		cmocka_unit_test(test_full_table_forgets_the_oldest),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
