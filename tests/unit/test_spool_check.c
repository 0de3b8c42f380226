/* Unit tests: spool_check (the WAL against its index, the message counts,
 * the damage mark) and spool_reserve, on files made here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "spool/spool.h"
#include "spool/spool_check.h"
#include "spool/spool_int.h"
#include "spool/spool_reserve.h"
#include "tmpdir.h"

static char dir[64];

static int setup(void **st)
{
	(void)st;
	return tmpdir_make(dir, sizeof(dir), "spool-check");
}

static int teardown(void **st)
{
	(void)st;
	return tmpdir_remove(dir);
}

static void write_file(const char *name, const void *data, size_t len)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

/* A wal-index as SQLite leaves it after a crash: two equal headers. */
static void write_index(uint32_t mxframe, uint32_t nbackfill, const unsigned char salt[8])
{
	unsigned char b[136];
	uint32_t version = 3007000;
	uint16_t pgsz = 4096;
	memset(b, 0, sizeof(b));
	memcpy(b, &version, 4);
	b[12] = 1;   /* isInit */
	memcpy(b + 14, &pgsz, 2);
	memcpy(b + 16, &mxframe, 4);
	memcpy(b + 32, salt, 8);
	memcpy(b + 48, b, 48);
	memcpy(b + 96, &nbackfill, 4);
	write_file("queue.db-shm", b, sizeof(b));
}

static void write_wal(size_t frames, const unsigned char salt[8])
{
	size_t len = 32 + frames * (24 + 4096);
	unsigned char *w = calloc(1, len);
	memcpy(w + 16, salt, 8);
	write_file("queue.db-wal", w, len);
	free(w);
}

static int wal_ok(char *why, size_t len)
{
	struct spool_wal_snap snap;
	spool_wal_snapshot(dir, &snap);
	int rc = spool_wal_check_file(dir, &snap, why, len);
	spool_wal_snap_close(&snap);
	return rc;
}

static void wal_checked_against_its_index(void **st)
{
	static const unsigned char salt[8] = { 1, 2, 3, 4, 5, 6, 7, 8 }, other[8] = { 9 };
	char why[512];
	(void)st;
	write_index(10, 0, salt);
	write_wal(10, salt);
	assert_int_equal(wal_ok(why, sizeof(why)), 0);
	write_wal(5, salt);                                      /* cut short */
	assert_int_equal(wal_ok(why, sizeof(why)), -1);
	assert_non_null(strstr(why, "cut short"));
	write_wal(10, other);                                    /* overwritten */
	assert_int_equal(wal_ok(why, sizeof(why)), -1);
	assert_non_null(strstr(why, "overwritten"));
	char path[256];
	snprintf(path, sizeof(path), "%s/queue.db-wal", dir);
	unlink(path);                                            /* deleted */
	assert_int_equal(wal_ok(why, sizeof(why)), -1);
	assert_non_null(strstr(why, "missing, but 10 committed frames"));
	write_index(10, 10, salt);                               /* all checkpointed: nothing needed */
	assert_int_equal(wal_ok(why, sizeof(why)), 0);
	unsigned char torn[136] = { 0 };                         /* not an index: nothing to compare */
	write_file("queue.db-shm", torn, sizeof(torn));
	assert_int_equal(wal_ok(why, sizeof(why)), 0);
	snprintf(path, sizeof(path), "%s/queue.db-shm", dir);
	unlink(path);
	assert_int_equal(wal_ok(why, sizeof(why)), 0);           /* no index at all: a clean stop */
}

static void counts_must_agree(void **st)
{
	char path[256], why[512], err[256];
	sqlite3 *db = NULL;
	struct spool_wal_snap none = { .shm_fd = -1 };
	(void)st;
	snprintf(path, sizeof(path), "%s/counts.db", dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(spool_db_init(db, err, sizeof(err)), 0);
	assert_int_equal(spool_db_check(db, &none, why, sizeof(why)), 0);
	assert_int_equal(sqlite3_exec(db, "INSERT INTO messages (id, sender, size, created, next_attempt, body)"
				      " VALUES ('A', '', 1, 0, 0, x'00');"
				      "INSERT INTO recipients (msg_id, position, address, next_attempt)"
				      " VALUES ('A', 0, 'a@b', 0)", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(spool_db_check(db, &none, why, sizeof(why)), 0);
	assert_int_equal(sqlite3_exec(db, "INSERT INTO messages (id, sender, size, created, next_attempt, body)"
				      " VALUES ('B', '', 1, 0, 0, x'00')", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(spool_db_check(db, &none, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "1 of 2 messages have lost their recipients"));
	sqlite3_close(db);
}

/* A process that crashes with committed frames in the WAL (no checkpoint). */
static void crash_with_frames_in_the_wal(const char *path)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		sqlite3 *db = NULL;
		char err[256];
		int ok = sqlite3_open(path, &db) == SQLITE_OK &&
			 sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0", NULL, NULL,
				      NULL) == SQLITE_OK &&
			 spool_db_init(db, err, sizeof(err)) == 0;
		_exit(ok ? 0 : 1);   /* no close: the frames stay in the WAL, the index says so */
	}
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static int other_process_sees_spool_in_use(void)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(spool_in_use(dir) ? 0 : 1);
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* The check after the open must not drop SQLite's locks on the -shm (a
 * close of any descriptor of it would): else another process takes the
 * spool for unused and resets the index under the daemon (SIGBUS). */
static void check_keeps_sqlites_locks(void **st)
{
	char path[256], why[512];
	struct spool_wal_snap snap;
	sqlite3 *db = NULL;
	(void)st;
	snprintf(path, sizeof(path), "%s/%s", dir, SPOOL_DB_NAME);
	crash_with_frames_in_the_wal(path);
	spool_wal_snapshot(dir, &snap);
	assert_true(snap.valid);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "SELECT count(*) FROM messages", NULL, NULL, NULL), SQLITE_OK);
	assert_true(other_process_sees_spool_in_use());
	assert_int_equal(spool_db_check(db, &snap, why, sizeof(why)), 0);
	assert_true(other_process_sees_spool_in_use());
	sqlite3_close(db);
	spool_wal_snap_close(&snap);
	assert_false(other_process_sees_spool_in_use());
}

static void damage_mark(void **st)
{
	char why[256];
	(void)st;
	assert_int_equal(spool_damage_marked(dir, why, sizeof(why)), 0);
	spool_mark_damaged(dir, "the write-ahead log is missing");
	assert_int_equal(spool_damage_marked(dir, why, sizeof(why)), 1);
	assert_non_null(strstr(why, "the write-ahead log is missing (found "));
	assert_int_equal(spool_damage_unmark(dir), 0);
	assert_int_equal(spool_damage_marked(dir, why, sizeof(why)), 0);
}

static void reserve_made_and_released(void **st)
{
	char path[256];
	struct stat s;
	(void)st;
	assert_int_equal(spool_reserve_make(dir), 0);
	snprintf(path, sizeof(path), "%s/%s", dir, SPOOL_RESERVE_NAME);
	assert_int_equal(stat(path, &s), 0);
	assert_true(s.st_size >= 64 * 1024 && s.st_size <= SPOOL_RESERVE_MAX);
	assert_true((off_t)s.st_blocks * 512 >= s.st_size);   /* really allocated */
	assert_int_equal(spool_reserve_make(dir), 0);          /* already there */
	assert_int_equal(spool_reserve_release(dir), 1);
	assert_int_equal(spool_reserve_release(dir), 0);
	assert_int_equal(stat(path, &s), -1);
	assert_int_equal(spool_reserve_make("/nonexistent/outpost"), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(wal_checked_against_its_index),
		cmocka_unit_test(counts_must_agree),
		cmocka_unit_test(check_keeps_sqlites_locks),
		cmocka_unit_test(damage_mark),
		cmocka_unit_test(reserve_made_and_released),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
