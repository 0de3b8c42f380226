/*
 * test_suppress: the suppression list on a real spool (spool_open makes
 * the schema): upsert keeps the first event and counts; expiry; the
 * RCPT-time check across scopes (global, sender domain, user) and case;
 * the soft-failure window; the reply text; CSV import edge cases (quoted
 * fields with commas and quotes, header aliases, bad times and scopes,
 * a bad row rolls the whole import back) and an export that imports to
 * the same rows; VERP addresses with good, forged and malformed tags.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <event2/event.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feedback/feedback.h"
#include "feedback/suppress.h"
#include "spool/spool.h"
#include "tmpdir.h"

#define NOW 1795000000

struct fx {
	char dir[64];
	struct event_base *base;
	struct spool *sp;
	sqlite3 *db;
};

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	char err[256], path[128];
	assert_int_equal(tmpdir_make(fx->dir, sizeof(fx->dir), "suppress"), 0);
	fx->base = event_base_new();
	fx->sp = spool_open(fx->dir, 0, fx->base, err, sizeof(err));
	assert_non_null(fx->sp);
	snprintf(path, sizeof(path), "%s/queue.db", fx->dir);
	assert_int_equal(sqlite3_open(path, &fx->db), SQLITE_OK);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;
	sqlite3_close(fx->db);
	spool_close(fx->sp);
	event_base_free(fx->base);
	tmpdir_remove(fx->dir);
	free(fx);
	return 0;
}

static void put(sqlite3 *db, const char *addr, const char *scope, const char *reason, time_t when, time_t expires)
{
	struct suppression s = { 0 };
	char err[256];
	snprintf(s.address, sizeof(s.address), "%s", addr);
	snprintf(s.scope, sizeof(s.scope), "%s", scope);
	snprintf(s.reason, sizeof(s.reason), "%s", reason);
	snprintf(s.source, sizeof(s.source), "%s", "bounce");
	snprintf(s.status, sizeof(s.status), "%s", "5.1.1");
	s.first = s.last = when;
	s.expires = expires;
	assert_int_equal(suppress_put(db, &s, err, sizeof(err)), 0);
}

static void test_put_get_check(void **state)
{
	struct fx *fx = *state;
	struct suppression s;
	char err[256], reply[512];
	put(fx->db, "Bob@Example.NET", "", "userunknown", NOW, 0);
	put(fx->db, "bob@example.net", "", "userunknown", NOW + 60, 0);
	assert_int_equal(suppress_get(fx->db, "BOB@example.net", "", NOW, &s, err, sizeof(err)), 1);
	assert_int_equal(s.count, 2);
	assert_int_equal(s.first, NOW);
	assert_int_equal(s.last, NOW + 60);
	suppress_reply(&s, "bob@example.net", reply, sizeof(reply));
	assert_string_equal(reply, "550 5.1.1 <bob@example.net>: suppressed since 2026-11-18 after a hard bounce "
				   "(5.1.1 user unknown)");
	put(fx->db, "carol@example.net", "domain:shop.example.com", "feedback", NOW, 0);
	put(fx->db, "dave@example.net", "user:tenant1", "manual", NOW, 0);
	put(fx->db, "erin@example.net", "", "mailboxfull", NOW, NOW + 100);
	char path[128];
	snprintf(path, sizeof(path), "%s", fx->dir);
	struct suppress_check *c = suppress_check_open(path, err, sizeof(err));
	assert_non_null(c);
	assert_int_equal(suppress_check(c, "BOB@example.net", NULL, NULL, NOW, &s), 1);
	assert_int_equal(suppress_check(c, "carol@example.net", "other.example.com", NULL, NOW, &s), 0);
	assert_int_equal(suppress_check(c, "carol@example.net", "Shop.Example.com", NULL, NOW, &s), 1);
	assert_int_equal(suppress_check(c, "dave@example.net", "x.example", NULL, NOW, &s), 0);
	assert_int_equal(suppress_check(c, "dave@example.net", "x.example", "tenant1", NOW, &s), 1);
	assert_int_equal(suppress_check(c, "erin@example.net", NULL, NULL, NOW + 99, &s), 1);
	assert_int_equal(suppress_check(c, "erin@example.net", NULL, NULL, NOW + 100, &s), 0);   /* expired */
	assert_int_equal(suppress_check(c, "nobody@example.net", NULL, NULL, NOW, &s), 0);
	suppress_check_close(c);
	assert_int_equal(suppress_remove(fx->db, "bob@example.net", "", err, sizeof(err)), 1);
	assert_int_equal(suppress_remove(fx->db, "bob@example.net", "", err, sizeof(err)), 0);
}

static void test_soft_window(void **state)
{
	struct fx *fx = *state;
	unsigned n = 0;
	char err[256];
	assert_int_equal(suppress_soft_failure(fx->db, "f@example.net", NOW, 3600, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 1);
	suppress_soft_failure(fx->db, "F@example.net", NOW + 10, 3600, &n, err, sizeof(err));
	assert_int_equal(n, 2);
	suppress_soft_failure(fx->db, "f@example.net", NOW + 3600, 3600, &n, err, sizeof(err));
	assert_int_equal(n, 1);   /* the first failure left the window: the count starts over */
	suppress_soft_clear(fx->db, "f@example.net", err, sizeof(err));
	suppress_soft_failure(fx->db, "f@example.net", NOW + 3601, 3600, &n, err, sizeof(err));
	assert_int_equal(n, 1);
}

static int import(sqlite3 *db, const char *csv, size_t *n, char *err, size_t errlen)
{
	FILE *f = fmemopen((void *)csv, strlen(csv), "r");
	int rc = suppress_import_csv(db, f, NOW, n, err, errlen);
	fclose(f);
	return rc;
}

static void test_csv(void **state)
{
	struct fx *fx = *state;
	size_t n;
	char err[256];
	struct suppression s;
	assert_int_equal(import(fx->db, "Email,Reason,Created_At\r\n\"x,\"\"y\"\"@example.net\",\"bad, very\",2026-11-28\r\n"
				"plain@example.net,,1795000000\r\n\r\n", &n, err, sizeof(err)), 0);
	assert_int_equal(n, 2);
	assert_int_equal(suppress_get(fx->db, "x,\"y\"@example.net", "", NOW, &s, err, sizeof(err)), 1);
	assert_string_equal(s.reason, "bad, very");
	assert_string_equal(s.source, "import");
	assert_int_equal(suppress_get(fx->db, "plain@example.net", "", NOW, &s, err, sizeof(err)), 1);
	assert_string_equal(s.reason, "imported");
	assert_int_equal(s.first, 1795000000);
	/* a bad row fails the whole file, naming its line */
	assert_int_equal(import(fx->db, "address\nok@example.net\nnot-an-address\n", &n, err, sizeof(err)), -1);
	assert_string_equal(err, "line 3: no valid address");
	assert_int_equal(suppress_get(fx->db, "ok@example.net", "", NOW, &s, err, sizeof(err)), 0);
	assert_int_equal(import(fx->db, "address,expires\na@example.net,tomorrow\n", &n, err, sizeof(err)), -1);
	assert_int_equal(import(fx->db, "address,scope\na@example.net,everyone\n", &n, err, sizeof(err)), -1);
	assert_int_equal(import(fx->db, "reason\nx\n", &n, err, sizeof(err)), -1);
	/* more fields than the header names: the rest is ignored (found by fuzz_suppress_csv) */
	assert_int_equal(import(fx->db, "address\nz@example.net,extra,fields\n", &n, err, sizeof(err)), 0);
	sqlite3_exec(fx->db, "DELETE FROM suppression WHERE address = 'z@example.net'", NULL, NULL, NULL);
	assert_int_equal(import(fx->db, "address\n\"unterminated@example.net\n", &n, err, sizeof(err)), -1);
	/* export, import into an empty list, export again: the same text */
	char *one = NULL, *two = NULL;
	size_t l1, l2;
	FILE *f = open_memstream(&one, &l1);
	assert_int_equal(suppress_export_csv(fx->db, f, err, sizeof(err)), 0);
	fclose(f);
	sqlite3_exec(fx->db, "DELETE FROM suppression", NULL, NULL, NULL);
	assert_int_equal(import(fx->db, one, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 2);
	f = open_memstream(&two, &l2);
	suppress_export_csv(fx->db, f, err, sizeof(err));
	fclose(f);
	assert_string_equal(one, two);
	free(one);
	free(two);
}

static void test_verp(void **state)
{
	(void)state;
	const unsigned char key[] = "0123456789abcdef0123456789abcdef";
	char addr[256], qid[64];
	assert_int_equal(verp_address(key, 32, "1K0Y4T9CPG7002VP", "bounces.example.com", addr, sizeof(addr)), 0);
	assert_int_equal(strncmp(addr, "b+1K0Y4T9CPG7002VP+", 19), 0);
	assert_int_equal(verp_parse(key, 32, addr, "Bounces.Example.com", qid, sizeof(qid)), 1);
	assert_string_equal(qid, "1K0Y4T9CPG7002VP");
	char bad[256];
	snprintf(bad, sizeof(bad), "%s", addr);
	bad[19] = bad[19] == '0' ? '1' : '0';   /* one digit of the tag */
	assert_int_equal(verp_parse(key, 32, bad, "bounces.example.com", qid, sizeof(qid)), -1);
	assert_int_equal(verp_parse(key, 32, "someone@bounces.example.com", "bounces.example.com", qid, sizeof(qid)), 0);
	assert_int_equal(verp_parse(key, 32, addr, "other.example.com", qid, sizeof(qid)), 0);
	assert_int_equal(verp_parse(key, 32, "b+@bounces.example.com", "bounces.example.com", qid, sizeof(qid)), -1);
	assert_int_equal(verp_parse(key, 32, "b+a+b+c@bounces.example.com", "bounces.example.com", qid, sizeof(qid)), -1);
	assert_int_equal(verp_parse(key, 32, "b+../x+0123456789abcdef@bounces.example.com", "bounces.example.com", qid,
				    sizeof(qid)), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_put_get_check, setup, teardown),
		cmocka_unit_test_setup_teardown(test_soft_window, setup, teardown),
		cmocka_unit_test_setup_teardown(test_csv, setup, teardown),
		cmocka_unit_test(test_verp),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
