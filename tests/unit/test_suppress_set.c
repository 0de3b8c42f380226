/*
 * test_suppress_set: the in-memory suppression set against the spool's
 * own check (suppress_check on a real spool): scopes (global, sender
 * domain, user, and the empty "domain:"/"user:"), expiry at the second,
 * case, upsert keeping the first event, remove, refresh from the spool
 * (added, replaced, removed, expired), a load of many rows (index growth),
 * compaction after many replacements, and readers on four threads while a
 * writer adds, replaces, removes and reloads (run under ASan; TSan welcome).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <event2/event.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feedback/suppress.h"
#include "feedback/suppress_set.h"
#include "spool/spool.h"
#include "tmpdir.h"

#define NOW 1795000000

struct fx {
	char dir[64];
	struct event_base *base;
	struct spool *sp;
	sqlite3 *db;
	struct suppress_set *set;
};

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	char err[256], path[128];
	assert_int_equal(tmpdir_make(fx->dir, sizeof(fx->dir), "suppress_set"), 0);
	fx->base = event_base_new();
	fx->sp = spool_open(fx->dir, 0, fx->base, err, sizeof(err));
	assert_non_null(fx->sp);
	snprintf(path, sizeof(path), "%s/queue.db", fx->dir);
	assert_int_equal(sqlite3_open(path, &fx->db), SQLITE_OK);
	fx->set = suppress_set_new();
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;
	suppress_set_free(fx->set);
	sqlite3_close(fx->db);
	spool_close(fx->sp);
	event_base_free(fx->base);
	tmpdir_remove(fx->dir);
	free(fx);
	return 0;
}

static struct suppression entry(const char *addr, const char *scope, const char *source, const char *reason,
				time_t when, time_t expires)
{
	struct suppression s = { 0 };
	snprintf(s.address, sizeof(s.address), "%s", addr);
	snprintf(s.scope, sizeof(s.scope), "%s", scope);
	snprintf(s.reason, sizeof(s.reason), "%s", reason);
	snprintf(s.source, sizeof(s.source), "%s", source);
	snprintf(s.status, sizeof(s.status), "%s", strcmp(source, "bounce") == 0 ? "5.1.1" : "");
	snprintf(s.qid, sizeof(s.qid), "%s", "Q123");
	s.first = s.last = when;
	s.expires = expires;
	s.count = 1;
	return s;
}

static void put(sqlite3 *db, const char *addr, const char *scope, const char *source, time_t when, time_t expires)
{
	char err[256];
	struct suppression s = entry(addr, scope, source, "userunknown", when, expires);
	assert_int_equal(suppress_put(db, &s, err, sizeof(err)), 0);
}

/* The same question to the spool's check and to the set: the same answer,
 * the same reply. */
static int both(struct fx *fx, struct suppress_check *c, const char *rcpt, const char *dom, const char *user,
		time_t now)
{
	struct suppression a, b;
	char ra[512], rb[512];
	int x = suppress_check(c, rcpt, dom, user, now, &a);
	int y = suppress_set_check(fx->set, rcpt, dom, user, now, &b);
	assert_int_equal(x, y);
	if (x == 1) {
		suppress_reply(&a, rcpt, ra, sizeof(ra));
		suppress_reply(&b, rcpt, rb, sizeof(rb));
		assert_string_equal(ra, rb);
		assert_string_equal(a.scope, b.scope);
		assert_string_equal(a.qid, b.qid);
		assert_string_equal(a.source, b.source);
		assert_string_equal(a.reason, b.reason);
	}
	return y;
}

static void fill(sqlite3 *db)
{
	put(db, "Bob@Example.NET", "", "bounce", NOW, 0);
	put(db, "carol@example.net", "domain:shop.example.com", "complaint", NOW, 0);
	put(db, "carol@example.net", "user:tenant1", "manual", NOW - 86400, 0);
	put(db, "dave@example.net", "user:tenant1", "manual", NOW, 0);
	put(db, "erin@example.net", "", "bounce", NOW, NOW + 100);
	put(db, "frank@example.net", "domain:", "import", NOW, 0);
	put(db, "gina@example.net", "user:", "import", NOW, 0);
	put(db, "hal@example.net", "domain:a.example", "manual", NOW, 0);
	put(db, "hal@example.net", "", "bounce", NOW - 5, NOW + 10);
}

static void test_same_answers_as_the_spool(void **state)
{
	struct fx *fx = *state;
	char err[256];
	fill(fx->db);
	assert_int_equal(suppress_set_load(fx->set, fx->db, NOW, err, sizeof(err)), 9);
	struct suppress_check *c = suppress_check_open(fx->dir, err, sizeof(err));
	assert_non_null(c);
	const char *rcpts[] = { "bob@example.net", "BOB@EXAMPLE.NET", "carol@example.net", "dave@example.net",
				"erin@example.net", "frank@example.net", "gina@example.net", "hal@example.net",
				"nobody@example.net", "" };
	const char *doms[] = { NULL, "", "shop.example.com", "Shop.Example.COM", "a.example", "other.example" };
	const char *users[] = { NULL, "", "tenant1", "Tenant1", "tenant2" };
	const time_t times[] = { NOW, NOW + 9, NOW + 10, NOW + 99, NOW + 100, NOW + 1000 };
	int hits = 0;
	for (size_t r = 0; r < sizeof(rcpts) / sizeof(*rcpts); r++)
		for (size_t d = 0; d < sizeof(doms) / sizeof(*doms); d++)
			for (size_t u = 0; u < sizeof(users) / sizeof(*users); u++)
				for (size_t t = 0; t < sizeof(times) / sizeof(*times); t++)
					hits += both(fx, c, rcpts[r], doms[d], users[u], times[t]);
	assert_true(hits > 100);
	/* the ones that matter, spelled out */
	struct suppression h;
	assert_int_equal(suppress_set_check(fx->set, "carol@example.net", "shop.example.com", "tenant1", NOW, &h), 1);
	assert_string_equal(h.scope, "domain:shop.example.com");   /* domain before user */
	assert_int_equal(suppress_set_check(fx->set, "hal@example.net", "a.example", NULL, NOW + 9, &h), 1);
	assert_string_equal(h.scope, "");                          /* global first while it lives */
	assert_int_equal(suppress_set_check(fx->set, "hal@example.net", "a.example", NULL, NOW + 10, &h), 1);
	assert_string_equal(h.scope, "domain:a.example");
	assert_int_equal(suppress_set_check(fx->set, "erin@example.net", NULL, NULL, NOW + 99, &h), 1);
	assert_int_equal(suppress_set_check(fx->set, "erin@example.net", NULL, NULL, NOW + 100, &h), 0);
	assert_int_equal(suppress_set_check(fx->set, "dave@example.net", NULL, "Tenant1", NOW, &h), 0);   /* users as given */
	assert_int_equal(suppress_set_check(fx->set, "frank@example.net", NULL, NULL, NOW, &h), 1);   /* "domain:" */
	assert_int_equal(suppress_set_check(fx->set, "gina@example.net", "x.example", NULL, NOW, &h), 1);   /* "user:" */
	assert_int_equal(suppress_set_check(fx->set, "gina@example.net", "x.example", "t", NOW, &h), 0);
	suppress_check_close(c);
}

static void test_load_skips_expired_and_put_remove(void **state)
{
	struct fx *fx = *state;
	char err[256], reply[512];
	struct suppression h;
	fill(fx->db);
	assert_int_equal(suppress_set_load(fx->set, fx->db, NOW + 100, err, sizeof(err)), 7);   /* erin, hal's global gone */
	struct suppression e = entry("Ivy@Example.net", "", "bounce", "hostunknown", NOW, 0);
	suppress_set_put(fx->set, &e);
	assert_int_equal(suppress_set_check(fx->set, "ivy@example.NET", NULL, NULL, NOW, &h), 1);
	assert_string_equal(h.address, "ivy@example.net");
	suppress_reply(&h, "ivy@example.NET", reply, sizeof(reply));
	assert_string_equal(reply, "550 5.1.1 <ivy@example.NET>: suppressed since 2026-11-18 after a hard bounce "
				   "(5.1.1 host unknown)");
	e = entry("ivy@example.net", "", "complaint", "feedback", NOW + 86400, 0);   /* replaced */
	suppress_set_put(fx->set, &e);
	assert_int_equal(suppress_set_check(fx->set, "ivy@example.net", NULL, NULL, NOW, &h), 1);
	assert_string_equal(h.source, "complaint");
	assert_int_equal(suppress_set_remove(fx->set, "IVY@example.net", ""), 1);
	assert_int_equal(suppress_set_remove(fx->set, "ivy@example.net", ""), 0);
	assert_int_equal(suppress_set_check(fx->set, "ivy@example.net", NULL, NULL, NOW, &h), 0);
	suppress_set_put(fx->set, &e);   /* back into a removed slot */
	assert_int_equal(suppress_set_check(fx->set, "ivy@example.net", NULL, NULL, NOW, &h), 1);
	struct suppress_set_stats st;
	suppress_set_stats(fx->set, &st);
	assert_int_equal(st.entries, 8);
	assert_true(st.dead_bytes > 0);
}

static void test_refresh_follows_the_spool(void **state)
{
	struct fx *fx = *state;
	char err[256];
	struct suppression h;
	time_t now = time(NULL);
	assert_int_equal(suppress_set_refresh(fx->set, fx->db, "Jo@Example.net", "", now, err, sizeof(err)), 0);
	put(fx->db, "jo@example.net", "", "bounce", 1000, 0);
	put(fx->db, "JO@example.net", "", "bounce", 2000, 0);   /* the upsert keeps the first event */
	assert_int_equal(suppress_set_refresh(fx->set, fx->db, "Jo@Example.net", "", now, err, sizeof(err)), 1);
	assert_int_equal(suppress_set_check(fx->set, "jo@example.net", NULL, NULL, now, &h), 1);
	assert_int_equal(h.first, 1000);
	assert_int_equal(suppress_remove(fx->db, "jo@example.net", "", err, sizeof(err)), 1);
	assert_int_equal(suppress_set_refresh(fx->set, fx->db, "jo@example.net", "", now, err, sizeof(err)), 0);
	assert_int_equal(suppress_set_check(fx->set, "jo@example.net", NULL, NULL, now, &h), 0);
	put(fx->db, "jo@example.net", "user:t", "manual", 1000, now - 1);   /* already expired: not taken */
	assert_int_equal(suppress_set_refresh(fx->set, fx->db, "jo@example.net", "user:t", now, err, sizeof(err)), 0);
	assert_int_equal(suppress_set_check(fx->set, "jo@example.net", NULL, "t", now - 5, &h), 0);
}

static void test_many_entries_grow_and_compact(void **state)
{
	struct fx *fx = *state;
	char err[256], addr[64];
	struct suppression h;
	sqlite3_exec(fx->db, "BEGIN", NULL, NULL, NULL);
	for (int i = 0; i < 20000; i++) {
		snprintf(addr, sizeof(addr), "user%d@example.net", i);
		put(fx->db, addr, i % 10 == 0 ? "domain:shop.example" : "", "bounce", NOW, 0);
	}
	sqlite3_exec(fx->db, "COMMIT", NULL, NULL, NULL);
	assert_int_equal(suppress_set_load(fx->set, fx->db, NOW, err, sizeof(err)), 20000);
	for (int i = 0; i < 30000; i++) {   /* puts past the load: the index grows */
		struct suppression e = entry("", "", "manual", "manual", NOW, 0);
		snprintf(e.address, sizeof(e.address), "extra%d@example.net", i);
		suppress_set_put(fx->set, &e);
	}
	for (int i = 0; i < 40000; i++) {   /* replacements: dead bytes, then a compaction */
		struct suppression e = entry("", "", "manual", "again", NOW, 0);
		snprintf(e.address, sizeof(e.address), "extra%d@example.net", i % 100);
		suppress_set_put(fx->set, &e);
	}
	struct suppress_set_stats st;
	suppress_set_stats(fx->set, &st);
	assert_int_equal(st.entries, 50000);
	assert_true(st.dead_bytes < st.bytes / 2);
	for (int i = 0; i < 20000; i++) {
		snprintf(addr, sizeof(addr), "USER%d@example.net", i);
		assert_int_equal(suppress_set_check(fx->set, addr, "shop.example", NULL, NOW, &h), 1);
		assert_int_equal(suppress_set_check(fx->set, addr, NULL, NULL, NOW, &h), i % 10 != 0);
	}
	for (int i = 0; i < 30000; i += 7) {
		snprintf(addr, sizeof(addr), "extra%d@example.net", i);
		assert_int_equal(suppress_set_check(fx->set, addr, NULL, NULL, NOW, &h), 1);
		assert_string_equal(h.reason, i < 100 ? "again" : "manual");
	}
	assert_int_equal(suppress_set_check(fx->set, "extra30000@example.net", NULL, NULL, NOW, &h), 0);
}

/* Readers on threads while the writer changes the set: a reader sees
 * either state of a key being changed, never garbage; the keys nobody
 * changes always answer. */
struct reader {
	struct suppress_set *set;
	atomic_int *stop;
	unsigned long checks, wrong;
};

static void *read_loop(void *arg)
{
	struct reader *r = arg;
	char addr[64];
	struct suppression h;
	for (unsigned long i = 0; !atomic_load(r->stop); i++) {
		snprintf(addr, sizeof(addr), "stable%lu@example.net", i % 500);
		if (suppress_set_check(r->set, addr, NULL, NULL, NOW, &h) != 1 || strcmp(h.address, addr) != 0 ||
		    strcmp(h.reason, "userunknown") != 0)
			r->wrong++;
		snprintf(addr, sizeof(addr), "moving%lu@example.net", i % 500);
		if (suppress_set_check(r->set, addr, NULL, NULL, NOW, &h) == 1 && strcmp(h.address, addr) != 0)
			r->wrong++;
		r->checks += 2;
	}
	return NULL;
}

static void test_concurrent_readers(void **state)
{
	struct fx *fx = *state;
	char err[256], addr[64];
	for (int i = 0; i < 500; i++) {
		snprintf(addr, sizeof(addr), "stable%d@example.net", i);
		put(fx->db, addr, "", "bounce", NOW, 0);
	}
	assert_int_equal(suppress_set_load(fx->set, fx->db, NOW, err, sizeof(err)), 500);
	atomic_int stop = 0;
	pthread_t th[4];
	struct reader rd[4];
	for (int i = 0; i < 4; i++) {
		rd[i] = (struct reader){ fx->set, &stop, 0, 0 };
		assert_int_equal(pthread_create(&th[i], NULL, read_loop, &rd[i]), 0);
	}
	for (int round = 0; round < 20; round++) {
		for (int i = 0; i < 3000; i++) {
			struct suppression e = entry("", "", "manual", "manual", NOW, 0);
			snprintf(e.address, sizeof(e.address), "moving%d@example.net", i);
			suppress_set_put(fx->set, &e);
		}
		for (int i = 0; i < 3000; i += 2) {
			snprintf(addr, sizeof(addr), "moving%d@example.net", i);
			suppress_set_remove(fx->set, addr, "");
		}
		if (round % 5 == 4)
			assert_int_equal(suppress_set_load(fx->set, fx->db, NOW, err, sizeof(err)), 500);
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(rd[i].wrong, 0);
		assert_true(rd[i].checks > 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_same_answers_as_the_spool, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_skips_expired_and_put_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refresh_follows_the_spool, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_entries_grow_and_compact, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_readers, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
