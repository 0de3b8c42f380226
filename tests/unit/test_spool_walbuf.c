/*
 * test_spool_walbuf: the WAL-buffering VFS under what SQLite does to a WAL:
 * a commit's frames go out in one write (counted from /proc/self/io, the
 * same commit through the default VFS takes two per page); runs longer than
 * one write (WALBUF_MAX); a small page cache that spills and rewrites
 * frames of an open transaction (writes that do not continue the run); a
 * rollback; another connection (default VFS) reading after each commit;
 * checkpoints with WAL restarts; a rolled-back transaction's spilled frames
 * against another writer that restarts the WAL; and a reopen that finds
 * every committed row (integrity_check ok).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "spool/spool_walbuf.h"
#include "tmpdir.h"
#define SQLITE_FX_TAG "walbuf"
#include "sqlite_fx.h"


static sqlite3 *open_db(const char *path, const char *vfs)
{
	sqlite3 *db;
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs), SQLITE_OK);
	ok(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA wal_autocheckpoint=0");
	return db;
}

/* Write system calls of this process so far. */
static long long syscw(void)
{
	char line[128];
	long long n = -1;
	FILE *f = fopen("/proc/self/io", "r");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "syscw: %lld", &n) == 1)
			break;
	if (f)
		fclose(f);
	return n;
}

/* The writes of one commit of rows of 3,000 octets (about 12 pages). */
static long long commit_writes(sqlite3 *db, int first)
{
	ok(db, "BEGIN IMMEDIATE");
	insert_rows(db, first, 12, "zeroblob(3000)");
	long long before = syscw();
	ok(db, "COMMIT");
	return syscw() - before;
}

static void test_one_write_per_commit(void **state)
{
	struct fx *fx = *state;
	const char *vfs = spool_walbuf_vfs();
	assert_non_null(vfs);
	sqlite3 *db = open_db(fx->path, vfs);
	ok(db, "CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)");
	long long buffered = commit_writes(db, 0);
	sqlite3_close(db);
	db = open_db(fx->path, NULL);
	long long plain = commit_writes(db, 100);
	sqlite3_close(db);
	printf("walbuf: write calls per commit of ~12 pages: %lld buffered, %lld plain\n", buffered, plain);
	if (plain > 0) {   /* /proc/self/io is there */
		assert_true(buffered <= 2);
		assert_true(plain >= 20);
	}
}

static void test_long_runs_spills_rollback_readers_restart(void **state)
{
	struct fx *fx = *state;
	sqlite3 *db = open_db(fx->path, spool_walbuf_vfs()), *rd = open_db(fx->path, NULL);
	ok(db, "PRAGMA cache_size=8");   /* an open transaction spills, then rewrites its pages */
	ok(db, "CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB, n INTEGER)");
	char sql[200];
	long long rows = 0;
	for (int round = 0; round < 12; round++) {
		ok(db, "BEGIN IMMEDIATE");
		for (int i = 0; i < 150; i++) {   /* ~150 pages: runs longer than one write */
			snprintf(sql, sizeof(sql), "INSERT INTO t VALUES (%d, randomblob(3000), 0)", round * 1000 + i);
			ok(db, sql);
		}
		ok(db, "UPDATE t SET n = n + 1");   /* pages written before, written again */
		if (round % 4 == 3) {
			ok(db, "ROLLBACK");
		} else {
			ok(db, "COMMIT");
			rows += 150;
		}
		assert_int_equal(one(rd, "SELECT count(*) FROM t"), rows);
		assert_int_equal(one(rd, "SELECT count(*) FROM t WHERE length(v) != 3000"), 0);
		if (round % 3 == 2)   /* the WAL starts over from its header */
			ok(db, "PRAGMA wal_checkpoint(TRUNCATE)");
	}
	sqlite3_close(rd);
	sqlite3_close(db);
	db = open_db(fx->path, NULL);
	assert_int_equal(one(db, "SELECT count(*) FROM t"), rows);
	assert_whole_and_close(db);
}

/* A transaction that spilled frames and rolled back, then another
 * connection restarts the WAL and commits there: the spilled frames must
 * not land on its frames later (they are written before the rollback lets
 * go of the write lock). */
static void test_rollback_then_another_writer_restarts_the_wal(void **state)
{
	struct fx *fx = *state;
	sqlite3 *a = open_db(fx->path, spool_walbuf_vfs()), *b = open_db(fx->path, NULL);
	ok(a, "PRAGMA cache_size=8");
	ok(a, "CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)");
	ok(a, "PRAGMA wal_checkpoint(TRUNCATE)");
	ok(a, "BEGIN IMMEDIATE");
	insert_rows(a, 0, 200, "randomblob(3000)");   /* spills: frames written, no sync */
	ok(a, "ROLLBACK");
	ok(b, "PRAGMA wal_checkpoint(TRUNCATE)");
	ok(b, "BEGIN IMMEDIATE");
	insert_rows(b, 1000, 50, "zeroblob(3000)");   /* b's frames where a's spilled ones were */
	ok(b, "COMMIT");
	assert_int_equal(one(a, "SELECT count(*) FROM t"), 50);   /* a reads: anything still held would go out now */
	assert_int_equal(one(a, "SELECT sum(length(v)) FROM t"), 50 * 3000);
	sqlite3_close(a);
	sqlite3_close(b);
	sqlite3 *c = open_db(fx->path, NULL);
	assert_int_equal(one(c, "SELECT count(*) FROM t WHERE v = zeroblob(3000)"), 50);
	assert_whole_and_close(c);
}

/* synchronous=NORMAL syncs nothing before SQLite shows a commit to other
 * connections, so its frames must be in the file by then: written at the
 * commit frame, still in one write.  Back at FULL, the same. */
static void test_normal_commits_in_one_write_and_seen(void **state)
{
	struct fx *fx = *state;
	sqlite3 *db = open_db(fx->path, spool_walbuf_vfs()), *rd = open_db(fx->path, NULL);
	ok(db, "CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)");
	ok(db, "PRAGMA synchronous=NORMAL");
	long long normal = commit_writes(db, 0);
	assert_int_equal(one(rd, "SELECT count(*) FROM t"), 12);
	assert_int_equal(one(rd, "SELECT sum(length(v)) FROM t"), 12 * 3000);
	ok(db, "PRAGMA synchronous=FULL");
	long long full = commit_writes(db, 100);
	assert_int_equal(one(rd, "SELECT count(*) FROM t"), 24);
	printf("walbuf: write calls per commit: %lld at NORMAL, %lld at FULL\n", normal, full);
	if (normal > 0) {   /* /proc/self/io is there */
		assert_true(normal <= 2);
		assert_true(full <= 2);
	}
	sqlite3_close(rd);
	sqlite3_close(db);
}

/* Below FULL, a run that cannot be written fails the COMMIT itself (no
 * xSync would see it later): here the file size limit stops the WAL.
 * No reader sees the rows, and once the limit is gone the same commit
 * goes through and the database is whole. */
static void test_normal_commit_fails_when_its_run_cannot_be_written(void **state)
{
	struct fx *fx = *state;
	sqlite3 *db = open_db(fx->path, spool_walbuf_vfs()), *rd = open_db(fx->path, NULL);
	ok(db, "CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)");
	ok(db, "PRAGMA wal_checkpoint(TRUNCATE)");
	ok(db, "PRAGMA synchronous=NORMAL");
	struct rlimit old, lim;
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_IGN);
	lim = old;
	lim.rlim_cur = 16384;   /* the database file is 2 pages; the commit's run is ~50 KB */
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	ok(db, "BEGIN IMMEDIATE");
	insert_rows(db, 0, 12, "zeroblob(3000)");
	int rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	assert_int_not_equal(rc, SQLITE_OK);
	if (!sqlite3_get_autocommit(db))
		ok(db, "ROLLBACK");
	assert_int_equal(one(rd, "SELECT count(*) FROM t"), 0);
	commit_writes(db, 0);
	assert_int_equal(one(rd, "SELECT count(*) FROM t"), 12);
	sqlite3_close(rd);
	sqlite3_close(db);
	sqlite3 *c = open_db(fx->path, NULL);
	assert_int_equal(one(c, "SELECT count(*) FROM t"), 12);
	assert_whole_and_close(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_one_write_per_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_long_runs_spills_rollback_readers_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rollback_then_another_writer_restarts_the_wal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_normal_commits_in_one_write_and_seen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_normal_commit_fails_when_its_run_cannot_be_written, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
