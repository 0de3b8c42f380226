/*
 * test_spool_ckpt: the checkpointer thread beside a writer that goes on
 * committing (the storage thread's connection: WAL-buffering VFS, no
 * auto-checkpoint): a pass copies the WAL while commits continue; once the
 * writer copies what is left itself, its next transaction restarts the WAL
 * (the WAL hook's frame count falls back), which a writer that only
 * waited for background passes would seldom see; the database is whole
 * after it all.  A pass that stops short of the WAL's end still leaves
 * queue.db synced.  A checkpointer on a missing database is refused.
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

/* The writer as the storage thread's connection is: the WAL-buffering
 * VFS, synchronous=FULL, no auto-checkpoint, its frame count in fx. */
static sqlite3 *open_writer(struct fx *fx)
{
	sqlite3 *db;
	assert_int_equal(sqlite3_open_v2(fx->path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
					 spool_walbuf_vfs()), SQLITE_OK);
	ok(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA wal_autocheckpoint=0");
	sqlite3_wal_hook(db, hook, fx);
	ok(db, "CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)");
	return db;
}

/* After the writer closed: the database opens with all n rows, whole. */
static void assert_rows_kept(struct fx *fx, int n)
{
	sqlite3 *db;
	assert_int_equal(sqlite3_open(fx->path, &db), SQLITE_OK);
	assert_int_equal(one(db, "SELECT count(*) FROM t"), n);
	assert_whole_and_close(db);
}

static void test_passes_beside_commits_then_the_wal_restarts(void **state)
{
	struct fx *fx = *state;
	sqlite3 *db = open_writer(fx);
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
	assert_rows_kept(fx, k);
}

/* The default VFS with the main database file's xSync counted: the unix
 * VFS's own methods, copied, with xSync in front. */
static const struct sqlite3_io_methods *real_io;
static struct sqlite3_io_methods counting_io;
static sqlite3_vfs counting_vfs;
static int db_syncs;

static int counting_sync(sqlite3_file *f, int flags)
{
	db_syncs++;
	return real_io->xSync(f, flags);
}

static int counting_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out)
{
	sqlite3_vfs *real = vfs->pAppData;
	int rc = real->xOpen(real, name, f, flags, out);
	if (rc == SQLITE_OK && (flags & SQLITE_OPEN_MAIN_DB) && f->pMethods) {
		real_io = f->pMethods;
		counting_io = *real_io;
		counting_io.xSync = counting_sync;
		f->pMethods = &counting_io;
	}
	return rc;
}

static void counting_vfs_register(void)
{
	sqlite3_vfs *real = sqlite3_vfs_find("unix");
	assert_non_null(real);
	counting_vfs = *real;
	counting_vfs.zName = "counting";
	counting_vfs.pAppData = real;
	counting_vfs.xOpen = counting_open;
	counting_vfs.pNext = NULL;
	assert_int_equal(sqlite3_vfs_register(&counting_vfs, 1), SQLITE_OK);
}

/* A pass that cannot reach the end of the WAL (a reader still needs its
 * last frames, as a busy writer's new ones do) is not synced by SQLite:
 * the checkpointer syncs queue.db itself, so that the writer's final pass
 * does not have the whole pass's pages to sync with every client waiting. */
static void test_a_pass_short_of_the_end_syncs_the_database(void **state)
{
	struct fx *fx = *state;
	sqlite3 *db = open_writer(fx), *reader;
	commit_rows(db, 0, 100);
	assert_int_equal(sqlite3_open(fx->path, &reader), SQLITE_OK);
	ok(reader, "BEGIN");
	assert_int_equal(one(reader, "SELECT count(*) FROM t"), 100);   /* its snapshot: the WAL as of now */
	commit_rows(db, 100, 100);

	counting_vfs_register();
	char err[256] = "";
	struct spool_ckpt *c = spool_ckpt_start(fx->path, err, sizeof(err));
	assert_non_null(c);
	db_syncs = 0;
	unsigned long pass = spool_ckpt_kick(c);
	int copied;
	while ((copied = spool_ckpt_done(c, pass)) < 0)
		sqlite3_sleep(1);
	assert_true(copied > 0 && copied < fx->frames);   /* short of the end: the reader's frames only */
	assert_true(db_syncs >= 1);
	spool_ckpt_stop(c);
	assert_int_equal(sqlite3_vfs_unregister(&counting_vfs), SQLITE_OK);

	ok(reader, "COMMIT");
	sqlite3_close(reader);
	sqlite3_close(db);
	assert_rows_kept(fx, 200);
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
		cmocka_unit_test_setup_teardown(test_a_pass_short_of_the_end_syncs_the_database, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_database_refused, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
