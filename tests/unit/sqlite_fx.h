/*
 * sqlite_fx: what the SQLite-level unit tests (test_spool_walbuf,
 * test_spool_ckpt) share: a database path in a fresh temporary directory
 * per test (named after SQLITE_FX_TAG, defined before the include), run a
 * statement that must succeed, read one number, insert rows, check a
 * database is whole.  Include after cmocka.h and tmpdir.h.
 */
#ifndef OUTPOST_TEST_SQLITE_FX_H
#define OUTPOST_TEST_SQLITE_FX_H

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>

struct fx {
	char dir[64], path[128];
	int frames;   /* for a test's WAL hook */
};

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	assert_int_equal(tmpdir_make(fx->dir, sizeof(fx->dir), SQLITE_FX_TAG), 0);
	snprintf(fx->path, sizeof(fx->path), "%s/t.db", fx->dir);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;
	tmpdir_remove(fx->dir);
	free(fx);
	return 0;
}

static void ok(sqlite3 *db, const char *sql)
{
	char *e = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &e) != SQLITE_OK)
		fail_msg("%s: %s", sql, e ? e : "?");
}

static long long one(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	long long v = -1;
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* Rows first .. first + n - 1 into t (k, v), v being the SQL expression
 * blob ("zeroblob(3000)", "randomblob(3000)"), in the open transaction. */
static void insert_rows(sqlite3 *db, int first, int n, const char *blob)
{
	char sql[160];
	for (int i = 0; i < n; i++) {
		snprintf(sql, sizeof(sql), "INSERT INTO t VALUES (%d, %s)", first + i, blob);
		ok(db, sql);
	}
}

/* PRAGMA integrity_check says "ok"; then db is closed. */
static void assert_whole_and_close(sqlite3 *db)
{
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
	sqlite3_finalize(st);
	sqlite3_close(db);
}

#endif
