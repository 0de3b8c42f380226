/*
 * test_spool_ckpt: the checkpointer thread beside a writer that goes on
 * committing (the storage thread's connection: WAL-buffering VFS, no
 * auto-checkpoint): a pass copies the WAL while commits continue; once the
 * writer copies what is left itself, its next transaction restarts the WAL
 * (the WAL hook's frame count falls back), which a writer that only
 * waited for background passes would seldom see; the database is whole
 * after it all.  A checkpointer on a missing database is refused.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spool/spool_ckpt.h"
#include "spool/spool_walbuf.h"
#include "tmpdir.h"
#define SQLITE_FX_TAG "ckpt"
#include "sqlite_fx.h"


static int hook(void *p, sqlite3 *db, const char *name, int frames)
{
	(void)db, (void)name;
	((struct fx *)p)->frames = frames;
	return SQLITE_OK;
}

static void commit_rows(sqlite3 *db, int first, int n)
{
	ok(db, "BEGIN IMMEDIATE");
	insert_rows(db, first, n, "randomblob(3000)");
	ok(db, "COMMIT");
}

static void test_passes_beside_commits_then_the_wal_restarts(void **state)
{
	struct fx *fx = *state;
	sqlite3 *db;
	assert_int_equal(sqlite3_open_v2(fx->path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
					 spool_walbuf_vfs()), SQLITE_OK);
	ok(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA wal_autocheckpoint=0");
	sqlite3_wal_hook(db, hook, fx);
	ok(db, "CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)");
	int k = 0;
	while (fx->frames < 2000) {
		commit_rows(db, k, 20);
		k += 20;
	}
	char err[256] = "";
	struct spool_ckpt *c = spool_ckpt_start(fx->path, err, sizeof(err));
	assert_non_null(c);
	unsigned long pass = spool_ckpt_kick(c);
	int copied, commits = 0;
	while ((copied = spool_ckpt_done(c, pass)) < 0) {   /* the writer is not held up */
		commit_rows(db, k, 2);
		k += 2;
		commits++;
	}
	printf("ckpt: pass copied %d frames while %d commits went on\n", copied, commits);
	assert_true(copied >= 2000);
	int before = fx->frames;
	assert_true(before >= copied);
	int logged = -1, done = -1;
	assert_int_equal(sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, &logged, &done), SQLITE_OK);
	assert_int_equal(done, logged);   /* the writer's own copies the rest */
	commit_rows(db, k, 1);
	k++;
	assert_true(fx->frames < 50);   /* restarted: the WAL begins again */
	spool_ckpt_stop(c);
	sqlite3_close(db);
	assert_int_equal(sqlite3_open(fx->path, &db), SQLITE_OK);
	assert_int_equal(one(db, "SELECT count(*) FROM t"), k);
	assert_whole_and_close(db);
}

static void test_missing_database_refused(void **state)
{
	struct fx *fx = *state;
	char err[256] = "", path[160];
	snprintf(path, sizeof(path), "%s/none/q.db", fx->dir);
	assert_null(spool_ckpt_start(path, err, sizeof(err)));
	assert_non_null(strstr(err, "checkpointer: cannot open"));
	spool_ckpt_stop(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_passes_beside_commits_then_the_wal_restarts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_database_refused, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
