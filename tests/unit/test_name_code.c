/* Unit tests: core/name_code lookups, and every enum's table of names:
 * each code of the enum has exactly one name and the names map back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "core/config.h"
#include "core/name_code.h"
#include "delivery/health.h"
#include "doctor/doctor.h"
#include "spool/spool_queue.h"

static const struct name_code colours[] = {
	{ "red", 1 }, { "green", 2 }, { "Red", 3 }, { "again", 1 }, { NULL, -7 },
};

static void test_lookup_by_name(void **st)
{
	(void)st;
	assert_int_equal(name_code(colours, "red"), 1);
	assert_int_equal(name_code(colours, "green"), 2);
	assert_int_equal(name_code(colours, "Red"), 3);        /* names compare exactly */
	assert_int_equal(name_code(colours, "RED"), -7);       /* not found: the terminator's code */
	assert_int_equal(name_code(colours, ""), -7);
	assert_int_equal(name_code(colours, "red "), -7);
	assert_int_equal(name_code(colours, NULL), -7);
}

static void test_lookup_by_code(void **st)
{
	(void)st;
	assert_string_equal(str_name_code(colours, 1), "red");   /* the first entry with the code */
	assert_string_equal(str_name_code(colours, 3), "Red");
	assert_null(str_name_code(colours, -7));                 /* the terminator names nothing */
	assert_null(str_name_code(colours, 42));
}

/* Every code from 0 to n-1 has a name that maps back to it, and the table
 * has no other entry. */
static void check_table(const struct name_code *t, int n)
{
	int entries = 0;
	for (const struct name_code *e = t; e->name; e++)
		entries++;
	assert_int_equal(entries, n);
	for (int code = 0; code < n; code++) {
		const char *name = str_name_code(t, code);
		assert_non_null(name);
		assert_int_equal(name_code(t, name), code);
	}
	assert_null(str_name_code(t, n));
	assert_int_equal(name_code(t, "no such name"), -1);
}

static void test_enum_tables(void **st)
{
	(void)st;
	check_table(route_tls_names, ROUTE_TLS_IMPLICIT + 1);
	check_table(route_type_names, ROUTE_RELAY + 1);
	check_table(listen_tls_names, LISTEN_TLS_IMPLICIT + 1);
	check_table(listen_auth_names, LISTEN_AUTH_NONE + 1);
	check_table(limit_selector_names, LIMIT_PROVIDER + 1);
	check_table(health_state_names, HEALTH_DOWN + 1);
	check_table(spool_rcpt_state_names, SPOOL_RCPT_BOUNCED + 1);
	check_table(doctor_status_names, DOCTOR_FAIL + 1);
	/* the names the config, the logs and the spool have always used */
	assert_string_equal(str_name_code(route_tls_names, ROUTE_TLS_OPPORTUNISTIC), "opportunistic");
	assert_string_equal(str_name_code(health_state_names, HEALTH_DEGRADED), "degraded");
	assert_string_equal(str_name_code(spool_rcpt_state_names, SPOOL_RCPT_DEFERRED), "deferred");
	assert_string_equal(health_state_name(HEALTH_DOWN), "down");
	assert_string_equal(doctor_status_name(DOCTOR_WARN), "warn");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lookup_by_name),
		cmocka_unit_test(test_lookup_by_code),
		cmocka_unit_test(test_enum_tables),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
