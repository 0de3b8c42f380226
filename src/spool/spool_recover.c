/* spool_recover: see spool_recover.h. */
#include "spool_recover.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "spool.h"
#include "spool_check.h"
#include "spool_int.h"
#include "spool_seg.h"

#define MAX_BAD_STEPS 100000   /* seeks past unreadable rows before giving up */

/* Opens path without checkpointing on close: the damaged files stay as found. */
static int open_keep(const char *path, sqlite3 **db, char *err, size_t errlen)
{
	if (sqlite3_open_v2(path, db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
	    sqlite3_db_config(*db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL) != SQLITE_OK)
		return set_error(err, errlen, "cannot open %s: %s", path, *db ? sqlite3_errmsg(*db) : "no memory");
	return 0;
}

/* Reads every body kept in a segment and checks it (spool_seg_read). */
static void check_bodies(sqlite3 *db, const char *dir, struct spool_check_report *r)
{
	sqlite3_stmt *st = NULL;
	char why[400];
	if (sqlite3_prepare_v2(db, "SELECT id, body_seg, body_off, size, body_crc FROM messages"
			       " WHERE body_seg IS NOT NULL ORDER BY body_seg, body_off", -1, &st, NULL) != SQLITE_OK) {
		sqlite3_finalize(st);
		return;   /* before schema 9: every body is in the database */
	}
	while (sqlite3_step(st) == SQLITE_ROW) {
		struct spool_body_ref ref = { sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 2),
					      sqlite3_column_int64(st, 3), (uint32_t)sqlite3_column_int64(st, 4) };
		char *body = spool_seg_read(dir, &ref, SIZE_MAX, why, sizeof(why));
		if (body == NULL && r->bad_bodies++ == 0)
			set_error(r->body_why, sizeof(r->body_why), "%s: %s", (const char *)sqlite3_column_text(st, 0),
				  why);
		free(body);
	}
	sqlite3_finalize(st);   /* a read error here is quick_check's to report */
}

int spool_check_run(const char *dir, struct spool_check_report *r, char *err, size_t errlen)
{
	char path[4096];
	struct spool_wal_snap snap;
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	memset(r, 0, sizeof(*r));
	r->messages = -1;
	if (spool_db_path(dir, "", path, sizeof(path)) < 0 || access(path, F_OK) != 0)
		return set_error(err, errlen, "no spool at %s", dir);
	int damaged = spool_damage_marked(dir, r->why, sizeof(r->why));
	spool_wal_snapshot(dir, &snap);
	if (!damaged && spool_wal_check_file(dir, &snap, r->why, sizeof(r->why)) < 0)
		damaged = 2;
	if (open_keep(path, &db, err, errlen) < 0) {
		sqlite3_close(db);
		spool_wal_snap_close(&snap);
		return -1;
	}
	if (!damaged && spool_db_check(db, &snap, r->why, sizeof(r->why)) < 0)
		damaged = 2;
	if (sqlite3_prepare_v2(db, "SELECT count(*) FROM messages NOT INDEXED", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		r->messages = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);   /* an unreadable count stays -1 */
	check_bodies(db, dir, r);
	sqlite3_close(db);
	spool_wal_snap_close(&snap);   /* after the database: see spool_wal_snapshot() */
	if (damaged == 2)
		spool_mark_damaged(dir, r->why);
	return damaged || r->bad_bodies ? 1 : 0;
}

/* Moves queue.db and its -wal and -shm to queue.db.damaged-STAMP[-wal|-shm]. */
static int move_aside(const char *dir, char *aside, size_t len, char *err, size_t errlen)
{
	static const char *const suffixes[] = { "", "-wal", "-shm" };
	char stamp[32], from[4096], to[4200];
	time_t t = time(NULL);
	struct tm tm;
	if (strftime(stamp, sizeof(stamp), ".damaged-%Y%m%dT%H%M%SZ", gmtime_r(&t, &tm)) == 0 ||
	    spool_db_path(dir, stamp, aside, len) < 0)
		return set_error(err, errlen, "spool path too long: %s", dir);
	for (size_t i = 0; i < 3; i++) {
		int n = snprintf(to, sizeof(to), "%s%s", aside, suffixes[i]);
		if (spool_db_path(dir, suffixes[i], from, sizeof(from)) < 0 || n < 0 || (size_t)n >= sizeof(to))
			return set_error(err, errlen, "spool path too long: %s", dir);
		if (rename(from, to) != 0 && errno != ENOENT)
			return set_error(err, errlen, "cannot move %s aside: %s", from, strerror(errno));
	}
	return 0;
}

static int exec_id(sqlite3 *db, const char *sql, sqlite3_int64 rowid, const char *id)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = id ? sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT) : sqlite3_bind_int64(st, 1, rowid);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	sqlite3_finalize(st);   /* repeats the step's error */
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* One message with its recipients and attempts, all or nothing, in a
 * transaction of its own (a read of a corrupt page may end a transaction). */
static int copy_message(sqlite3 *db, sqlite3_int64 rowid, const char *id)
{
	if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
		return -1;
	int rc = exec_id(db, "INSERT INTO main.messages SELECT * FROM old.messages WHERE rowid = ?1", rowid, NULL);
	if (rc == SQLITE_OK)
		rc = exec_id(db, "INSERT INTO main.recipients SELECT * FROM old.recipients WHERE msg_id = ?1", 0, id);
	if (rc == SQLITE_OK && sqlite3_changes(db) == 0)
		rc = SQLITE_CORRUPT;   /* no recipient readable: it could never be delivered */
	if (rc == SQLITE_OK)
		rc = exec_id(db, "INSERT INTO main.attempts SELECT * FROM old.attempts WHERE msg_id = ?1", 0, id);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK && !sqlite3_get_autocommit(db) &&
	    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL) != SQLITE_OK)
		msg_debug("event=spool_recover rollback=\"%s\"", sqlite3_errmsg(db));
	return rc == SQLITE_OK ? 0 : -1;
}

/* Walks old.messages by rowid, seeking past rows it cannot read. */
static void copy_messages(sqlite3 *db, struct spool_recover_report *r)
{
	sqlite3_int64 last = INT64_MIN;
	for (;;) {
		sqlite3_stmt *st = NULL;
		int rc = sqlite3_prepare_v2(db, "SELECT rowid, id FROM old.messages WHERE rowid > ?1 ORDER BY rowid",
					    -1, &st, NULL);
		if (rc != SQLITE_OK) {
			sqlite3_finalize(st);
			r->lost = -1;   /* the table itself cannot be found */
			return;
		}
		rc = sqlite3_bind_int64(st, 1, last);
		while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
			last = sqlite3_column_int64(st, 0);
			const char *id = (const char *)sqlite3_column_text(st, 1);
			if (id && copy_message(db, last, id) == 0)
				r->copied++;
			else
				r->lost++;
			rc = SQLITE_OK;
		}
		sqlite3_finalize(st);
		if (rc == SQLITE_DONE || last == INT64_MAX || ++r->skipped_rows > MAX_BAD_STEPS)
			return;
		last++;   /* an unreadable row or page: try past it */
	}
}

/* The new spool beside the damaged one, and everything readable in it. */
static int rebuild(const char *dir, const char *aside, struct spool_recover_report *r, char *err,
		   size_t errlen)
{
	char path[4096];
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int rc = -1;
	if (spool_db_path(dir, "", path, sizeof(path)) < 0)
		return set_error(err, errlen, "spool path too long: %s", dir);
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK ||
	    sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL) != SQLITE_OK ||
	    spool_db_init(db, err, errlen) != 0 ||
	    sqlite3_prepare_v2(db, "ATTACH ?1 AS old", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_bind_text(st, 1, aside, -1, SQLITE_STATIC) != SQLITE_OK || sqlite3_step(st) != SQLITE_DONE) {
		if (!*err)
			set_error(err, errlen, "cannot open the damaged spool %s: %s", aside, sqlite3_errmsg(db));
		goto out;
	}
	/* one transaction per message, made durable once at the end */
	if (sqlite3_exec(db, "PRAGMA main.synchronous=OFF", NULL, NULL, NULL) != SQLITE_OK) {
		set_error(err, errlen, "synchronous: %s", sqlite3_errmsg(db));
		goto out;
	}
	copy_messages(db, r);
	/* route health is a cache the daemon rebuilds: copied when readable */
	if (sqlite3_exec(db, "INSERT OR IGNORE INTO main.route_health SELECT * FROM old.route_health",
			 NULL, NULL, NULL) != SQLITE_OK)
		msg_debug("event=spool_recover route_health=\"%s\"", sqlite3_errmsg(db));
	if (sqlite3_exec(db, "PRAGMA main.synchronous=FULL", NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_wal_checkpoint_v2(db, "main", SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL) != SQLITE_OK)
		set_error(err, errlen, "cannot make the new spool durable: %s", sqlite3_errmsg(db));
	else
		rc = 0;
out:
	sqlite3_finalize(st);
	if (sqlite3_exec(db, "DETACH old", NULL, NULL, NULL) != SQLITE_OK)
		msg_debug("event=spool_recover detach=\"%s\"", sqlite3_errmsg(db));
	sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 0, NULL);   /* the new spool: checkpointed */
	sqlite3_close(db);
	return rc;
}

int spool_recover_run(const char *dir, struct spool_recover_report *r, char *err, size_t errlen)
{
	char path[4096];
	memset(r, 0, sizeof(*r));
	if (err && errlen)
		err[0] = '\0';
	if (spool_db_path(dir, "", path, sizeof(path)) < 0 || access(path, F_OK) != 0)
		return set_error(err, errlen, "no spool at %s", dir);
	if (spool_in_use(dir))
		return set_error(err, errlen, "the spool %s is in use: stop outpostd first", dir);
	if (!spool_damage_marked(dir, r->why, sizeof(r->why))) {
		struct spool_check_report c;   /* what is wrong, said before it is moved */
		if (spool_check_run(dir, &c, err, errlen) == 1)
			memcpy(r->why, c.why, sizeof(r->why));
	}
	if (move_aside(dir, r->aside, sizeof(r->aside), err, errlen) < 0)
		return -1;
	if (rebuild(dir, r->aside, r, err, errlen) < 0)
		return -1;
	spool_damage_unmark(dir);
	return 0;
}
