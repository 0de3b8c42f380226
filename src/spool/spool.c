/*
 * spool: the durable queue in DIR/queue.db; see spool.h.
 *
 * Contract: one storage thread owns the writing connection.  spool_commit()
 * queues a request under a mutex; the thread takes every waiting request at
 * once, inserts them all in one BEGIN IMMEDIATE ... COMMIT (WAL,
 * synchronous=FULL, so COMMIT returns only after fsync), and only then hands
 * the requests back to the loop thread (done-list + event_active()), which
 * runs the callbacks; a commit made with a reply_to loop (spool_commit_to)
 * is posted to that loop instead.  A failed group is rolled back and each request is
 * retried alone.  The loop thread never touches the database.  The other
 * request kinds (claim, record, next-due: spool_queue.c) share the queue:
 * the thread splits each batch into its commits (one group, as above) and
 * the rest (spool_queue_run()), and hands all of them back together.
 * Claims are cleared when the spool is opened (at-least-once delivery).
 */
#include "spool.h"

#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "header.h"
#include "log.h"
#include "loop_post.h"
#include "spool_check.h"
#include "spool_ckpt.h"
#include "spool_int.h"
#include "spool_reserve.h"
#include "spool_walbuf.h"
#include "xmalloc.h"

#define SPOOL_BUSY_MS 5000
#define SPOOL_WAL_LIMIT (64 * 1024 * 1024)   /* truncate the WAL back to this */
#define SPOOL_NO_CAP 4294967294LL             /* SQLite's largest max_page_count */
#define SPOOL_RESERVE_RETRY 5                 /* seconds between tries to remake it */
/* WAL frames (pages) written between two checkpoints of the storage
 * thread: 32 MiB at the 4 KiB page size.  A checkpoint writes each page
 * once however often the WAL holds it, and a short queue reuses the pages
 * of the messages just delivered, so the longer the interval, the fewer
 * bodies are written a second time (bench/diskcost.sh: 1 MB messages
 * 1.96x -> 1.25x their size written with 8192 instead of SQLite's 1000). */
#define SPOOL_CHECKPOINT_FRAMES 8192
/* The checkpointer thread (spool_ckpt.h) copies the WAL while commits go
 * on, in passes until under SPOOL_CHECKPOINT_REST frames are left; then the
 * storage thread copies those itself, so that its next transaction restarts
 * the WAL.  At twice the threshold it does not wait for a pass any longer:
 * that bounds the WAL (64 MiB at 4 KiB pages). */
#define SPOOL_CHECKPOINT_INLINE (2 * SPOOL_CHECKPOINT_FRAMES)
#define SPOOL_CHECKPOINT_REST 256   /* frames the storage thread copies itself, at most */
#define SPOOL_FINISH_BATCH 64                 /* answers a turn: spool_on_done() */

/* Schema migrations: spool_migrations[v] takes user_version v to v + 1. */
static const char *const spool_migrations[] = {
	"CREATE TABLE messages ("
	" id TEXT PRIMARY KEY NOT NULL,"
	" sender TEXT NOT NULL,"
	" client_addr TEXT,"
	" client_helo TEXT,"
	" auth_user TEXT,"
	" size INTEGER NOT NULL,"
	" smtputf8 INTEGER NOT NULL DEFAULT 0,"
	" body_8bit INTEGER NOT NULL DEFAULT 0,"
	" created INTEGER NOT NULL,"
	" next_attempt INTEGER NOT NULL,"
	" body BLOB NOT NULL);"    /* last, so reading the envelope skips it */
	"CREATE INDEX messages_next_attempt ON messages(next_attempt);"
	"CREATE TABLE recipients ("
	" msg_id TEXT NOT NULL,"
	" position INTEGER NOT NULL,"
	" address TEXT NOT NULL,"
	" state TEXT NOT NULL DEFAULT 'queued'"
	"  CHECK (state IN ('queued','delivered','bounced','deferred')),"
	" attempts INTEGER NOT NULL DEFAULT 0,"
	" last_reply TEXT,"
	" last_attempt INTEGER,"
	" next_attempt INTEGER NOT NULL,"
	" PRIMARY KEY (msg_id, position)) WITHOUT ROWID;"
	"CREATE INDEX recipients_next_attempt ON recipients(next_attempt);"
	"CREATE TABLE attempts ("
	" id INTEGER PRIMARY KEY,"
	" msg_id TEXT NOT NULL,"
	" recipient TEXT NOT NULL,"
	" time INTEGER NOT NULL,"
	" route TEXT,"
	" remote_host TEXT,"
	" remote_ip TEXT,"
	" tls TEXT,"
	" reply TEXT,"
	" result TEXT NOT NULL);"
	"CREATE INDEX attempts_msg_id ON attempts(msg_id, time);",
	/* 2: claims (cleared at open) and the delay-DSN flag for spool_queue;
	 * ADD COLUMN with a constant default rewrites no row.  The due index
	 * serves claims and next-due without touching rows (or bodies). */
	"ALTER TABLE messages ADD COLUMN claimed INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE messages ADD COLUMN delay_notified INTEGER NOT NULL DEFAULT 0;"
	"DROP INDEX messages_next_attempt;"
	"CREATE INDEX messages_due ON messages(claimed, next_attempt);",
	/* 3: the message class the app set (X-Outpost-Class), a forced route
	 * (canary probes), and route health as the daemon last saw it. */
	"ALTER TABLE messages ADD COLUMN class TEXT;"
	"ALTER TABLE messages ADD COLUMN route TEXT;"
	"CREATE TABLE route_health ("
	" route TEXT NOT NULL,"
	" dclass TEXT NOT NULL,"
	" state TEXT NOT NULL,"
	" reason TEXT,"
	" last_reply TEXT,"
	" changed INTEGER,"
	" probe_at INTEGER,"
	" fails INTEGER NOT NULL DEFAULT 0,"
	" sent_hour INTEGER NOT NULL DEFAULT 0,"
	" failed_hour INTEGER NOT NULL DEFAULT 0,"
	" updated INTEGER NOT NULL,"
	" PRIMARY KEY (route, dclass)) WITHOUT ROWID;",
	/* 4: what the operator sees (spool_obs.c): the number of messages,
	 * kept by triggers in the transactions that change it (so /metrics
	 * reads one row, not a count of the table); outcomes rolled up per
	 * minute and the recent raw events, for `outpost stats`. */
	"CREATE TABLE queue_totals (id INTEGER PRIMARY KEY CHECK (id = 1), messages INTEGER NOT NULL);"
	"INSERT INTO queue_totals SELECT 1, count(*) FROM messages;"
	"CREATE TRIGGER queue_totals_ins AFTER INSERT ON messages"
	" BEGIN UPDATE queue_totals SET messages = messages + 1 WHERE id = 1; END;"
	"CREATE TRIGGER queue_totals_del AFTER DELETE ON messages"
	" BEGIN UPDATE queue_totals SET messages = messages - 1 WHERE id = 1; END;"
	"CREATE TABLE stats_minute ("
	" minute INTEGER NOT NULL,"           /* Unix time / 60 */
	" route TEXT NOT NULL,"
	" result TEXT NOT NULL,"              /* received, delivered, deferred, bounced */
	" reason TEXT NOT NULL,"              /* enhanced status code, or "" */
	" domain TEXT NOT NULL,"              /* recipient domain, "" for received */
	" sender TEXT NOT NULL,"
	" count INTEGER NOT NULL,"
	" bytes INTEGER NOT NULL,"
	" delay_sum INTEGER NOT NULL,"        /* seconds from acceptance, summed */
	" delay_max INTEGER NOT NULL,"
	" PRIMARY KEY (minute, route, result, reason, domain, sender)) WITHOUT ROWID;"
	"CREATE TABLE stats_events ("
	" id INTEGER PRIMARY KEY,"
	" time INTEGER NOT NULL,"
	" event TEXT NOT NULL,"
	" qid TEXT,"
	" route TEXT,"
	" rcpt TEXT,"
	" detail TEXT);",
	/* 5: the suppression list and the soft-failure counts behind it
	 * (feedback/suppress.h); the key is what the RCPT-time check seeks.
	 * sent_history keeps, for 30 days after a message leaves the queue,
	 * who it was delivered to and by which route, so a bounce that
	 * arrives later can be checked against what outpost really sent
	 * (and blame the right route); a trigger fills it as the delivered
	 * attempts are deleted with their message. */
	"CREATE TABLE suppression ("
	" address TEXT NOT NULL,"
	" scope TEXT NOT NULL DEFAULT '',"
	" reason TEXT NOT NULL,"
	" source TEXT NOT NULL CHECK (source IN ('bounce','complaint','manual','import')),"
	" status TEXT NOT NULL DEFAULT '',"
	" qid TEXT NOT NULL DEFAULT '',"
	" diagnostic TEXT NOT NULL DEFAULT '',"
	" first_event INTEGER NOT NULL,"
	" last_event INTEGER NOT NULL,"
	" count INTEGER NOT NULL DEFAULT 1,"
	" expires INTEGER NOT NULL DEFAULT 0,"
	" PRIMARY KEY (address, scope)) WITHOUT ROWID;"
	"CREATE TABLE soft_failures ("
	" address TEXT PRIMARY KEY NOT NULL,"
	" first_event INTEGER NOT NULL,"
	" last_event INTEGER NOT NULL,"
	" count INTEGER NOT NULL) WITHOUT ROWID;"
	"CREATE TABLE sent_history ("
	" qid TEXT NOT NULL,"
	" recipient TEXT NOT NULL,"
	" sender TEXT NOT NULL DEFAULT '',"
	" route TEXT,"
	" remote_host TEXT,"
	" time INTEGER NOT NULL);"
	"CREATE INDEX sent_history_qid ON sent_history(qid);"
	"CREATE INDEX sent_history_time ON sent_history(time);"
	"CREATE TRIGGER sent_history_keep AFTER DELETE ON attempts WHEN old.result = 'delivered' BEGIN"
	" INSERT INTO sent_history (qid, recipient, sender, route, remote_host, time)"
	"  SELECT old.msg_id, lower(old.recipient), COALESCE((SELECT sender FROM messages WHERE id = old.msg_id), ''),"
	"  old.route, old.remote_host, old.time;"
	" DELETE FROM sent_history WHERE time < old.time - 2592000;"
	" END;",
	/* 6: the tenant a message was accepted for and the outbound scanner's
	 * verdict; a tenant's hold, which must outlive a restart. */
	"ALTER TABLE messages ADD COLUMN tenant TEXT;"
	"ALTER TABLE messages ADD COLUMN scan_action TEXT;"
	"ALTER TABLE messages ADD COLUMN scan_score REAL;"
	"ALTER TABLE messages ADD COLUMN scan_symbols TEXT;"
	"CREATE TABLE tenant_state ("
	" name TEXT PRIMARY KEY NOT NULL,"
	" held INTEGER NOT NULL DEFAULT 0,"
	" reason TEXT,"
	" since INTEGER) WITHOUT ROWID;"
	/* a complaint about a message that has left the queue counts for its tenant */
	"ALTER TABLE sent_history ADD COLUMN tenant TEXT;"
	"DROP TRIGGER sent_history_keep;"
	"CREATE TRIGGER sent_history_keep AFTER DELETE ON attempts WHEN old.result = 'delivered' BEGIN"
	" INSERT INTO sent_history (qid, recipient, sender, route, remote_host, time, tenant)"
	"  SELECT old.msg_id, lower(old.recipient), COALESCE((SELECT sender FROM messages WHERE id = old.msg_id), ''),"
	"  old.route, old.remote_host, old.time, (SELECT tenant FROM messages WHERE id = old.msg_id);"
	" DELETE FROM sent_history WHERE time < old.time - 2592000;"
	" END;",
	/* 7: how far each webhook has sent the raw events (obs/webhook.c);
	 * stats_events are not pruned past the least of these, so a
	 * receiver that is down loses nothing. */
	"CREATE TABLE webhook_cursor (url TEXT PRIMARY KEY NOT NULL, last_id INTEGER NOT NULL) WITHOUT ROWID;",
	/* 8: the rollups per tenant too ("" for mail without one), and the
	 * complaints (result 'complaint', written by the feedback loop).  The
	 * tenant joins the key, so the table is made again (the rows so far
	 * belong to no tenant). */
	"CREATE TABLE stats_minute_t ("
	" minute INTEGER NOT NULL,"
	" route TEXT NOT NULL,"
	" result TEXT NOT NULL,"              /* received, delivered, deferred, bounced, complaint */
	" reason TEXT NOT NULL,"
	" domain TEXT NOT NULL,"
	" sender TEXT NOT NULL,"
	" tenant TEXT NOT NULL,"
	" count INTEGER NOT NULL,"
	" bytes INTEGER NOT NULL,"
	" delay_sum INTEGER NOT NULL,"
	" delay_max INTEGER NOT NULL,"
	" PRIMARY KEY (minute, route, result, reason, domain, sender, tenant)) WITHOUT ROWID;"
	"INSERT INTO stats_minute_t SELECT minute, route, result, reason, domain, sender, '', count, bytes,"
	" delay_sum, delay_max FROM stats_minute;"
	"DROP TABLE stats_minute;"
	"ALTER TABLE stats_minute_t RENAME TO stats_minute;",
	/* 9: a large body lives in a segment file (spool_seg.h): its number,
	 * offset and CRC-32C (its length is size); NULL: the body is inline.
	 * The partial index counts the bodies of each segment at open
	 * without reading any row. */
	"ALTER TABLE messages ADD COLUMN body_seg INTEGER;"
	"ALTER TABLE messages ADD COLUMN body_off INTEGER;"
	"ALTER TABLE messages ADD COLUMN body_crc INTEGER;"
	"CREATE INDEX messages_body_seg ON messages(body_seg) WHERE body_seg IS NOT NULL;",
};

_Static_assert(sizeof(spool_migrations) / sizeof(spool_migrations[0]) == SPOOL_SCHEMA_VERSION,
	       "one migration per schema version");

static const char spool_sql_ins_msg[] =
	"INSERT INTO messages (id, sender, client_addr, client_helo, auth_user, size,"
	" smtputf8, body_8bit, created, next_attempt, body, class, route, tenant, scan_action,"
	" scan_score, scan_symbols, body_seg, body_off, body_crc)"
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)";
static const char spool_sql_ins_rcpt[] =
	"INSERT INTO recipients (msg_id, position, address, next_attempt)"
	" VALUES (?1, ?2, ?3, ?4)";

static int spool_exec(sqlite3 *db, const char *sql, char *err, size_t errlen)
{
	int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		set_error(err, errlen, "%s: %s", sql, sqlite3_errmsg(db));
	return rc;
}

/* Runs a one-row PRAGMA (or query) and returns its first column as int64. */
static int spool_query_int(sqlite3 *db, const char *sql, sqlite3_int64 *out,
			   char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc == SQLITE_OK) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			*out = sqlite3_column_int64(st, 0);
			rc = SQLITE_OK;
		}
	}
	if (rc != SQLITE_OK)
		set_error(err, errlen, "%s: %s", sql, sqlite3_errmsg(db));
	sqlite3_finalize(st);   /* its code repeats the step error handled above */
	return rc;
}

/* Creates the spool directory (mode 0700) if it is missing. */
static int spool_mkdir(const char *dir, char *err, size_t errlen)
{
	struct stat st;
	if (mkdir(dir, 0700) == 0)
		return 0;
	if (errno != EEXIST) {
		set_error(err, errlen, "cannot create spool %s: %s", dir, strerror(errno));
		return -1;
	}
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		set_error(err, errlen, "spool %s is not a directory", dir);
		return -1;
	}
	if (st.st_mode & 077)
		msg_warn("event=spool_permissions dir=%s mode=%03o reason=\"readable by others\"",
			 dir, (unsigned)(st.st_mode & 0777));
	return 0;
}

static int spool_set_wal(sqlite3 *db, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int ok = 0;
	int rc = sqlite3_prepare_v2(db, "PRAGMA journal_mode=WAL", -1, &st, NULL);
	if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
		const unsigned char *mode = sqlite3_column_text(st, 0);
		ok = mode != NULL && strcmp((const char *)mode, "wal") == 0;
	}
	if (!ok)
		set_error(err, errlen, "cannot set journal_mode=WAL: %s", sqlite3_errmsg(db));
	sqlite3_finalize(st);   /* errors already reported through ok */
	return ok ? 0 : -1;
}

/* journal_mode=WAL, synchronous=FULL (NORMAL is not durable), busy timeout
 * for the admin CLI's short write transactions.  secure_delete=FAST:
 * Debian's SQLite is built with SECURE_DELETE on, which zeroes every page
 * a delete frees, so each delivered body was written again as zeros (to
 * the WAL, to a statement journal, then by the checkpoint): twice the
 * bytes of the message (bench/diskcost.sh).  FAST still clears deleted
 * rows from the b-tree pages it writes anyway, but leaves freed overflow
 * pages as they are until reused, as a file system leaves an unlinked
 * queue file's blocks. */
static int spool_pragmas(sqlite3 *db, char *err, size_t errlen)
{
	sqlite3_int64 sync = -1, lim = 0;
	char sql[64];
	if (sqlite3_busy_timeout(db, SPOOL_BUSY_MS) != SQLITE_OK) {
		set_error(err, errlen, "busy_timeout: %s", sqlite3_errmsg(db));
		return -1;
	}
	if (spool_set_wal(db, err, errlen) != 0)
		return -1;
	if (spool_exec(db, "PRAGMA secure_delete=FAST", err, errlen) != SQLITE_OK ||
	    spool_exec(db, "PRAGMA synchronous=FULL", err, errlen) != SQLITE_OK ||
	    spool_query_int(db, "PRAGMA synchronous", &sync, err, errlen) != SQLITE_OK)
		return -1;
	if (sync < 2) {
		set_error(err, errlen, "synchronous=FULL did not take (got %lld)", (long long)sync);
		return -1;
	}
	int n = snprintf(sql, sizeof(sql), "PRAGMA journal_size_limit=%d", SPOOL_WAL_LIMIT);
	if (n < 0 || (size_t)n >= sizeof(sql))
		msg_panic("event=spool_bug reason=\"pragma text truncated\"");
	return spool_query_int(db, sql, &lim, err, errlen) == SQLITE_OK ? 0 : -1;
}

/* Brings the schema to SPOOL_SCHEMA_VERSION, one transaction for all steps. */
static int spool_migrate(sqlite3 *db, char *err, size_t errlen)
{
	sqlite3_int64 v = 0;
	char sql[64];
	if (spool_exec(db, "BEGIN IMMEDIATE", err, errlen) != SQLITE_OK)
		return -1;
	if (spool_query_int(db, "PRAGMA user_version", &v, err, errlen) != SQLITE_OK)
		goto fail;
	if (v > SPOOL_SCHEMA_VERSION || v < 0) {
		set_error(err, errlen, "spool schema version %lld is newer than this program (%d)",
			     (long long)v, SPOOL_SCHEMA_VERSION);
		goto fail;
	}
	for (; v < SPOOL_SCHEMA_VERSION; v++) {
		if (spool_exec(db, spool_migrations[v], err, errlen) != SQLITE_OK)
			goto fail;
		int n = snprintf(sql, sizeof(sql), "PRAGMA user_version=%lld", (long long)v + 1);
		if (n < 0 || (size_t)n >= sizeof(sql))
			msg_panic("event=spool_bug reason=\"pragma text truncated\"");
		if (spool_exec(db, sql, err, errlen) != SQLITE_OK)
			goto fail;
	}
	if (spool_exec(db, "COMMIT", err, errlen) == SQLITE_OK)
		return 0;
fail:
	if (!sqlite3_get_autocommit(db) &&
	    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL) != SQLITE_OK)
		msg_warn("event=spool_error reason=\"rollback failed\"");
	return -1;
}

/* max_size > 0 becomes a max_page_count for the transactions of new mail
 * only (spool_store), so they fail with SQLITE_FULL; claims, outcomes and
 * deletes, which make room, are never capped. */
static int spool_cap(struct spool *sp, uint64_t max_size, char *err, size_t errlen)
{
	sqlite3_int64 page = 0, count = 0;
	if (max_size == 0)
		return 0;
	if (spool_query_int(sp->db, "PRAGMA page_size", &page, err, errlen) != SQLITE_OK ||
	    spool_query_int(sp->db, "PRAGMA page_count", &count, err, errlen) != SQLITE_OK)
		return -1;
	uint64_t pages = page > 0 ? max_size / (uint64_t)page : 0;
	if (pages == 0)
		pages = 1;
	if (pages > (uint64_t)SPOOL_NO_CAP)
		pages = (uint64_t)SPOOL_NO_CAP;
	sp->cap_pages = (sqlite3_int64)pages;
	sp->page_size = page;
	if (count > sp->cap_pages)
		msg_warn("event=spool_full_at_open max_pages=%llu pages=%lld",
			 (unsigned long long)pages, (long long)count);
	return 0;
}

void spool_limit_pages(struct spool *sp, sqlite3_int64 pages)
{
	char sql[64];
	sqlite3_int64 got = 0;
	int n = snprintf(sql, sizeof(sql), "PRAGMA max_page_count=%lld", (long long)pages);
	if (n < 0 || (size_t)n >= sizeof(sql))
		msg_panic("event=spool_bug reason=\"pragma text truncated\"");
	if (spool_query_int(sp->db, sql, &got, NULL, 0) != SQLITE_OK)
		msg_warn("event=spool_error op=max_page_count reason=\"%s\"", sqlite3_errmsg(sp->db));
}

int spool_rc_full(int rc)
{
	return (rc & 0xff) == SQLITE_FULL;
}

int spool_reserve_give_up(struct spool *sp, const char *op)
{
	if (!sp->reserve_held && !spool_reserve_release(sp->dir))
		return 0;
	spool_reserve_release(sp->dir);
	sp->reserve_held = 0;
	sp->reserve_retry = time(NULL) + SPOOL_RESERVE_RETRY;
	msg_warn("event=spool_reserve_released op=%s reason=\"disk full\" action=\"new mail refused until "
		 "there is room\"", op);
	return 1;
}

int spool_room_for_new_mail(struct spool *sp)
{
	time_t now = time(NULL);
	if (sp->reserve_held)
		return spool_reserve_room(sp->dir);
	if (now < sp->reserve_retry)
		return 0;
	sp->reserve_retry = now + SPOOL_RESERVE_RETRY;
	if (spool_reserve_make(sp->dir) == 0) {
		sp->reserve_held = 1;
		msg_info("event=spool_reserve_made dir=%s", sp->dir);
	}
	return sp->reserve_held && spool_reserve_room(sp->dir);
}

static int spool_prepare(struct spool *sp, char *err, size_t errlen)
{
	int rc = sqlite3_prepare_v3(sp->db, spool_sql_ins_msg, -1, SQLITE_PREPARE_PERSISTENT,
				    &sp->ins_msg, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v3(sp->db, spool_sql_ins_rcpt, -1, SQLITE_PREPARE_PERSISTENT,
					&sp->ins_rcpt, NULL);
	if (rc != SQLITE_OK) {
		set_error(err, errlen, "prepare: %s", sqlite3_errmsg(sp->db));
		return -1;
	}
	if (spool_obs_prepare(sp, err, errlen) < 0)
		return -1;
	return spool_queue_prepare(sp, err, errlen);
}

/* Claims do not survive a restart.  On a full disk this first write may
 * use the reserve (a restart must not wedge what a full disk left). */
static int spool_unclaim_all(struct spool *sp, char *err, size_t errlen)
{
	static const char sql[] = "UPDATE messages SET claimed = 0 WHERE claimed = 1";
	int rc = sqlite3_exec(sp->db, sql, NULL, NULL, NULL);
	if (spool_rc_full(rc) && spool_reserve_release(sp->dir)) {
		msg_warn("event=spool_reserve_released op=open reason=\"disk full\" action=\"new mail refused "
			 "until there is room\"");
		rc = sqlite3_exec(sp->db, sql, NULL, NULL, NULL);
	}
	if (rc != SQLITE_OK)
		set_error(err, errlen, "%s: %s%s", sql, sqlite3_errmsg(sp->db),
			  spool_rc_full(rc) ? " (free some space on the spool's file system)" : "");
	return rc;
}

/* Short of space (the reserve given up, or less than twice its size
 * free): the WAL is checkpointed and truncated after each batch, so the
 * space it holds is the database's again and the reserve is not eaten by
 * a WAL that only grows. */
static void spool_low_space_checkpoint(struct spool *sp)
{
	struct statvfs vfs;
	if (sp->reserve_held && statvfs(sp->dir, &vfs) == 0 &&
	    (unsigned long long)vfs.f_bavail * vfs.f_frsize >= 2ULL * SPOOL_RESERVE_MAX)
		return;
	int rc = sqlite3_wal_checkpoint_v2(sp->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
	if (rc != SQLITE_OK)
		msg_debug("event=spool_checkpoint rc=%d reason=\"%s\"", rc, sqlite3_errmsg(sp->db));
}

static double spool_ms_since(const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/* The WAL hook of the storage thread's connection: it replaces SQLite's
 * auto-checkpoint, which would run inside the COMMIT of whichever group
 * crossed the threshold, before its clients hear 250. */
static int spool_wal_hook(void *p, sqlite3 *db, const char *name, int frames)
{
	(void)db;
	(void)name;
	((struct spool *)p)->wal_frames = frames;
	return SQLITE_OK;
}

/* After a round's requests were handed back: a PASSIVE checkpoint once the
 * WAL holds SPOOL_CHECKPOINT_FRAMES (it waits for no reader; what a reader
 * still needs is copied by a later one), by the checkpointer thread when
 * there is one. */
static void spool_checkpoint(struct spool *sp)
{
	struct timespec t0;
	int logged = 0, done = 0;
	if (sp->wal_frames < SPOOL_CHECKPOINT_FRAMES)
		return;
	if (sp->ckpt && sp->wal_frames < SPOOL_CHECKPOINT_INLINE) {
		if (sp->ckpt_pass == 0) {
			sp->ckpt_pass = spool_ckpt_kick(sp->ckpt);
			return;
		}
		int copied = spool_ckpt_done(sp->ckpt, sp->ckpt_pass);
		if (copied < 0)
			return;   /* the pass is still copying */
		if (copied > 0 && sp->wal_frames - copied > SPOOL_CHECKPOINT_REST) {
			sp->ckpt_pass = spool_ckpt_kick(sp->ckpt);   /* another pass for what came */
			return;
		}
		/* little left, or the pass failed (busy, I/O error): this thread's own */
	}
	sp->ckpt_pass = 0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int rc = sqlite3_wal_checkpoint_v2(sp->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &logged, &done);
	msg_debug("event=spool_checkpoint frames=%d copied=%d rc=%d ms=%.3f", logged, done, rc,
		  spool_ms_since(&t0));
	sp->wal_frames = 0;   /* the next commit's hook says how many are left */
}

int spool_db_init(sqlite3 *db, char *err, size_t errlen)
{
	return spool_pragmas(db, err, errlen) != 0 || spool_migrate(db, err, errlen) != 0 ? -1 : 0;
}

/* A damaged spool is marked (spool_check.h) and refused, with the way out. */
static int spool_refuse_damaged(const char *dir, const char *why, int mark, char *err, size_t errlen)
{
	if (mark)
		spool_mark_damaged(dir, why);
	msg_warn("event=spool_damaged dir=%s reason=\"%s\"", dir, why);
	return set_error(err, errlen, "spool %s is damaged: %s; outpostd will not start on it: %s", dir, why,
			 SPOOL_RECOVER_HINT);
}

/* Before the first connection: a damage already found, or a WAL that lost
 * what its index says was committed (a crash, then the WAL damaged). */
static int spool_check_before_open(const char *dir, struct spool_wal_snap *snap, char *err, size_t errlen)
{
	char why[512];
	if (spool_damage_marked(dir, why, sizeof(why)))
		return spool_refuse_damaged(dir, why, 0, err, errlen);
	spool_wal_snapshot(dir, snap);
	if (spool_wal_check_file(dir, snap, why, sizeof(why)) < 0)
		return spool_refuse_damaged(dir, why, 1, err, errlen);
	return 0;
}

int spool_db_path(const char *dir, const char *suffix, char *out, size_t len)
{
	int n = snprintf(out, len, "%s/%s%s", dir, SPOOL_DB_NAME, suffix);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

static int spool_db_open(struct spool *sp, const char *dir, uint64_t max_size,
			 char *err, size_t errlen)
{
	char path[4096], why[512];
	struct spool_wal_snap snap;
	sqlite3_int64 count = 0;
	if (spool_db_path(dir, "", path, sizeof(path)) < 0) {
		set_error(err, errlen, "spool path too long: %s", dir);
		return -1;
	}
	sp->shm_fd = -1;
	if (spool_check_before_open(dir, &snap, err, errlen) < 0) {
		spool_wal_snap_close(&snap);
		return -1;
	}
	sp->shm_fd = snap.shm_fd;   /* closed by spool_free_db, after the database */
	/* spool_walbuf.h: a transaction's WAL frames in one write (NULL: the default VFS) */
	int rc = sqlite3_open_v2(path, &sp->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				 SQLITE_OPEN_NOMUTEX, spool_walbuf_vfs());
	if (rc != SQLITE_OK) {
		set_error(err, errlen, "cannot open %s: %s", path,
			     sp->db ? sqlite3_errmsg(sp->db) : sqlite3_errstr(rc));
		return -1;
	}
	sp->dir = xstrdup(dir);
	if (spool_db_init(sp->db, err, errlen) != 0)
		return -1;
	sqlite3_wal_hook(sp->db, spool_wal_hook, sp);   /* no auto-checkpoint: spool_checkpoint() */
	if (spool_db_check(sp->db, &snap, why, sizeof(why)) < 0)
		return spool_refuse_damaged(dir, why, 1, err, errlen);
	if (spool_cap(sp, max_size, err, errlen) != 0 || spool_prepare(sp, err, errlen) != 0 ||
	    spool_unclaim_all(sp, err, errlen) != SQLITE_OK ||
	    spool_query_int(sp->db, "SELECT count(*) FROM messages", &count, err, errlen) != SQLITE_OK ||
	    (sp->segs = spool_segs_open(dir, sp->db, err, errlen)) == NULL)
		return -1;
	msg_info("event=spool_open dir=%s messages=%lld schema=%d max_size=%llu", dir,
		 (long long)count, SPOOL_SCHEMA_VERSION, (unsigned long long)max_size);
	if (!(sp->reserve_held = spool_reserve_make(dir) == 0))
		msg_warn("event=spool_reserve_missing dir=%s reason=\"disk full\" action=\"new mail refused until "
			 "there is room\"", dir);
	return 0;
}

/* --- storage thread ------------------------------------------------------ */

int spool_bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s == NULL)
		return sqlite3_bind_null(st, i);
	return sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
}

int spool_step_done(sqlite3_stmt *st, int rc)
{
	if (rc == SQLITE_OK) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_DONE)
			rc = SQLITE_OK;
	}
	/* reset returns the step's error again, which rc already holds;
	 * clear_bindings always returns SQLITE_OK. */
	(void)sqlite3_reset(st);
	(void)sqlite3_clear_bindings(st);
	return rc;
}

/* ?10 the body, or ?17-?19 where its segment holds it. */
static int spool_bind_body(sqlite3_stmt *st, const struct spool_msg *m)
{
	const struct spool_body_ref *b = &m->body_ref;
	if (b->seg == 0)
		return m->body_len ? sqlite3_bind_blob64(st, 10, m->body, m->body_len, SQLITE_STATIC)
				   : sqlite3_bind_zeroblob(st, 10, 0);
	int rc = sqlite3_bind_zeroblob(st, 10, 0);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 17, b->seg);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 18, b->off);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 19, (sqlite3_int64)b->crc);
	return rc;
}

int spool_insert_msg(struct spool *sp, const struct spool_msg *m)
{
	sqlite3_stmt *st = sp->ins_msg;
	if (m->body_full)
		return SQLITE_FULL;   /* the cap or the disk had no room for its segment */
	int rc = spool_bind_text(st, 1, m->id);
	if (rc == SQLITE_OK)
		rc = spool_bind_text(st, 2, m->sender ? m->sender : "");
	if (rc == SQLITE_OK)
		rc = spool_bind_text(st, 3, m->client_addr);
	if (rc == SQLITE_OK)
		rc = spool_bind_text(st, 4, m->client_helo);
	if (rc == SQLITE_OK)
		rc = spool_bind_text(st, 5, m->auth_user);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 6, (sqlite3_int64)m->body_len);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int(st, 7, m->smtputf8 != 0);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int(st, 8, m->body_8bit != 0);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 9, (sqlite3_int64)m->created);
	if (rc == SQLITE_OK)
		rc = spool_bind_body(st, m);
	if (rc == SQLITE_OK)
		rc = spool_bind_text(st, 11, m->msg_class);
	if (rc == SQLITE_OK)
		rc = spool_bind_text(st, 12, m->route);
	if (rc == SQLITE_OK)
		rc = spool_bind_text(st, 13, m->tenant);
	if (rc == SQLITE_OK)
		rc = spool_bind_text(st, 14, m->scan_action);
	if (rc == SQLITE_OK)
		rc = m->scan_action ? sqlite3_bind_double(st, 15, m->scan_score) : sqlite3_bind_null(st, 15);
	if (rc == SQLITE_OK)
		rc = spool_bind_text(st, 16, m->scan_symbols);
	return spool_step_done(st, rc);
}

int spool_insert_rcpts(struct spool *sp, const struct spool_msg *m)
{
	sqlite3_stmt *st = sp->ins_rcpt;
	int rc = SQLITE_OK;
	for (size_t i = 0; i < m->nrcpts && rc == SQLITE_OK; i++) {
		rc = spool_bind_text(st, 1, m->id);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_int64(st, 2, (sqlite3_int64)i);
		if (rc == SQLITE_OK)
			rc = spool_bind_text(st, 3, m->rcpts[i] ? m->rcpts[i] : "");
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_int64(st, 4, (sqlite3_int64)m->created);
		rc = spool_step_done(st, rc);
	}
	return rc;
}

void spool_reason(struct spool *sp, int rc, char *reason, size_t len)
{
	if ((rc & 0xff) == SQLITE_FULL)
		set_error(reason, len, "spool full");
	else
		set_error(reason, len, "spool error: %s", sqlite3_errmsg(sp->db));
}

static int spool_set_sync(struct spool *sp, int full)
{
	if (sp->sync_normal == !full)
		return SQLITE_OK;
	int rc = sqlite3_exec(sp->db, full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL",
			      NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		sp->sync_normal = !full;
	return rc;
}

int spool_begin(struct spool *sp, int full)
{
	int rc = spool_set_sync(sp, full);
	return rc == SQLITE_OK ? sqlite3_exec(sp->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) : rc;
}

int spool_end(struct spool *sp, int rc, char *reason, size_t len)
{
	struct spool_gauges g;
	if (rc == SQLITE_OK) {
		spool_obs_read(sp, &g);   /* the round's gauges, without a read transaction of their own */
		rc = sqlite3_exec(sp->db, "COMMIT", NULL, NULL, NULL);
		if (rc == SQLITE_OK) {
			spool_obs_committed(sp, &g);
			return SQLITE_OK;
		}
	}
	if (rc > 0)   /* a SQLite error: said before ROLLBACK resets the message */
		spool_reason(sp, rc, reason, len);
	if (!sqlite3_get_autocommit(sp->db) &&
	    sqlite3_exec(sp->db, "ROLLBACK", NULL, NULL, NULL) != SQLITE_OK)
		msg_warn("event=spool_error reason=\"rollback failed\"");
	return rc;
}

/* One transaction for the n requests starting at r.  On failure the reason
 * goes to reason, the transaction is rolled back, and *began tells whether
 * BEGIN itself succeeded (if not, no message was at fault). */
static int spool_txn(struct spool *sp, struct spool_req *r, size_t n, char *reason, size_t len,
		     int *began)
{
	int rc = spool_begin(sp, 1);   /* the 250 waits for this COMMIT: it must be durable */
	*began = rc == SQLITE_OK;
	for (size_t i = 0; i < n && rc == SQLITE_OK; i++, r = r->next) {
		rc = spool_insert_msg(sp, r->msg);
		if (rc == SQLITE_OK)
			rc = spool_insert_rcpts(sp, r->msg);
		if (rc == SQLITE_OK)
			rc = spool_obs_received(sp, r->msg);
	}
	return spool_end(sp, rc, reason, len);
}

/* The sender as a log value: "<addr>", quoted, cut to fit. */
static const char *spool_log_from(const struct spool_msg *m, char *qf, size_t qflen)
{
	char from[600];
	int n = snprintf(from, sizeof(from), "<%s>", m->sender ? m->sender : "");
	if (n < 0 || (size_t)n >= sizeof(from))
		memcpy(from + sizeof(from) - 5, "...>", 5);   /* the log line only */
	return log_quote(qf, qflen, from);
}

/* The scanner's verdict as " scan=... score=... symbols=...", or "". */
static const char *spool_log_scan(const struct spool_msg *m, char *out, size_t len)
{
	char qs[512], qa[64];
	out[0] = '\0';
	if (m->scan_action == NULL)
		return out;
	int n = snprintf(out, len, " scan=%s score=%.2f symbols=%s", log_quote(qa, sizeof(qa), m->scan_action),
			 m->scan_score, log_quote(qs, sizeof(qs), m->scan_symbols ? m->scan_symbols : ""));
	if (n < 0 || (size_t)n >= len)
		out[0] = '\0';   /* the verdict is in the spool */
	return out;
}

/* extra: "" or " key=value..." appended to the line. */
/* The message's own Message-ID as a log value ("-" when it has none), so
 * one grep follows the app's id to the queue id and the outcome. */
static const char *spool_log_msgid(const struct spool_msg *m, char *out, size_t len)
{
	struct header_field f;
	char v[512];
	if (m->body == NULL || !header_find(m->body, m->body_len, "Message-ID", &f))
		return "-";
	size_t n = f.valuelen;
	const char *p = f.value;
	while (n && (*p == ' ' || *p == '\t'))
		p++, n--;
	while (n && (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\r' || p[n - 1] == '\n'))
		n--;
	if (n >= sizeof(v))
		n = sizeof(v) - 1;
	memcpy(v, p, n);
	v[n] = '\0';
	return n ? log_quote(out, len, v) : "-";
}

void spool_log_queued(const struct spool_msg *m, const char *extra)
{
	char qf[1024], qu[300], qm[1100], session[32] = "-", scan[600];
	if (m->session && snprintf(session, sizeof(session), "%lu", m->session) >= (int)sizeof(session))
		session[0] = '\0';   /* cannot happen: 20 digits */
	msg_info("event=queued qid=%s session=%s user=%s tenant=%s message_id=%s from=%s nrcpt=%zu size=%zu%s%s",
		 m->id, session, m->auth_user ? log_quote(qu, sizeof(qu), m->auth_user) : "-",
		 m->tenant ? m->tenant : "-", spool_log_msgid(m, qm, sizeof(qm)),
		 spool_log_from(m, qf, sizeof(qf)), m->nrcpts, m->body_len, spool_log_scan(m, scan, sizeof(scan)),
		 extra);
}

static void spool_log_result(const struct spool_req *r)
{
	char qf[1024], qr[2 * SPOOL_REASON_LEN];
	const struct spool_msg *m = r->msg;
	if (r->ok)
		spool_log_queued(m, "");
	else
		msg_warn("event=spool_refused qid=%s from=%s nrcpt=%zu size=%zu reason=%s", m->id,
			 spool_log_from(m, qf, sizeof(qf)), m->nrcpts, m->body_len,
			 log_quote(qr, sizeof(qr), r->reason));
}

/* The group failed: each request is retried alone, so that one bad message
 * fails only itself.  When BEGIN fails (the database is locked or cannot
 * be written), nobody is at fault and the rest share the reason instead of
 * each waiting out the busy timeout again. */
size_t spool_each_alone(struct spool *sp, struct spool_req *batch, spool_txn_fn *txn)
{
	const char *shared = NULL;
	size_t ok = 0;
	int began;
	for (struct spool_req *r = batch; r; r = r->next) {
		if (shared) {
			memcpy(r->reason, shared, sizeof(r->reason));
			continue;
		}
		r->ok = txn(sp, r, 1, r->reason, sizeof(r->reason), &began) == SQLITE_OK;
		if (!began)
			shared = r->reason;
		ok += (size_t)r->ok;
	}
	return ok;
}

/* Octets spool_max_size still allows for new bodies (-1: no cap). */
static long long spool_room(struct spool *sp)
{
	sqlite3_int64 pages = 0;
	if (!sp->cap_pages)
		return -1;
	if (spool_query_int(sp->db, "PRAGMA page_count", &pages, NULL, 0) != SQLITE_OK)
		pages = sp->cap_pages;   /* unknown: no room for a segment this time */
	long long room = (long long)(sp->cap_pages - pages) * sp->page_size - spool_segs_bytes(sp->segs);
	return room > 0 ? room : 0;
}

/* The large bodies of the group into their segment, durable before any
 * row references them; then the database's cap is what the segments
 * leave of spool_max_size, so the two together never pass it. */
static int spool_put_bodies(struct spool *sp, struct spool_req *batch, size_t n, char *reason, size_t len)
{
	struct spool_msg *one[64], **msgs = n <= 64 ? one : xcalloc(n, sizeof(*msgs));
	size_t i = 0;
	for (struct spool_req *r = batch; r && i < n; r = r->next)
		msgs[i++] = r->msg;
	char why[SPOOL_REASON_LEN];
	int rc = spool_segs_append(sp->segs, msgs, i, spool_room(sp), why, sizeof(why));
	if (msgs != one)
		free(msgs);
	if (rc < 0) {
		msg_warn("event=spool_error op=body_segment reason=\"%s\"", why);
		set_error(reason, len, "spool error: %s", why);
		return -1;
	}
	if (sp->cap_pages) {
		sqlite3_int64 seg_pages = (spool_segs_bytes(sp->segs) + sp->page_size - 1) / sp->page_size;
		spool_limit_pages(sp, sp->cap_pages > seg_pages ? sp->cap_pages - seg_pages : 1);
	}
	return 0;
}

/* Stores a batch of n requests; returns how many were committed and sets
 * each request's ok/reason.  Frees every message. */
static size_t spool_store(struct spool *sp, struct spool_req *batch, size_t n, size_t *commits)
{
	struct timespec t0;
	char reason[SPOOL_REASON_LEN], q[2 * SPOOL_REASON_LEN];
	size_t ok = 0;
	int began;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	*commits = 0;
	if (!spool_room_for_new_mail(sp)) {   /* the disk is full: keep what is left for delivery */
		for (struct spool_req *r = batch; r; r = r->next)
			set_error(r->reason, sizeof(r->reason), "spool full");
		goto done;
	}
	if (spool_put_bodies(sp, batch, n, reason, sizeof(reason)) < 0) {
		for (struct spool_req *r = batch; r; r = r->next)
			memcpy(r->reason, reason, sizeof(r->reason));
		goto done;
	}
	if (spool_txn(sp, batch, n, reason, sizeof(reason), &began) == SQLITE_OK) {
		for (struct spool_req *r = batch; r; r = r->next)
			r->ok = 1;
		ok = n;
		*commits = 1;
	} else if (n == 1 || !began) {
		for (struct spool_req *r = batch; r; r = r->next)
			memcpy(r->reason, reason, sizeof(r->reason));
	} else {
		msg_debug("event=spool_group_failed group=%zu reason=%s", n,
			  log_quote(q, sizeof(q), reason));
		ok = *commits = spool_each_alone(sp, batch, spool_txn);
	}
done:
	if (sp->cap_pages)
		spool_limit_pages(sp, SPOOL_NO_CAP);
	for (struct spool_req *r = batch; r; r = r->next)
		if (!r->ok && r->msg->body_ref.seg)
			spool_segs_discard(sp->segs, &r->msg->body_ref);   /* appended, never committed */
	msg_debug("event=spool_commit group=%zu ok=%zu failed=%zu ms=%.3f", n, ok, n - ok,
		  spool_ms_since(&t0));
	for (struct spool_req *r = batch; r; r = r->next) {
		spool_log_result(r);
		spool_msg_free(r->msg);
		r->msg = NULL;
	}
	return ok;
}

static void spool_account(struct spool *sp, size_t n, size_t ok, size_t commits)
{
	struct spool_stats *s = &sp->stats;
	s->groups++;
	s->commits += commits;
	s->committed += ok;
	s->failed += n - ok;
	if (ok < n || commits > 1)
		s->retried++;
	if (n > s->max_group)
		s->max_group = n;
}

/* A batch taken from the queue, split by kind (each list in queue order). */
struct spool_batch {
	struct spool_req *commits, **ctail;
	struct spool_req *ops, **otail;
	size_t ncommits;
};

static void spool_split(struct spool_req *r, struct spool_batch *b)
{
	b->commits = b->ops = NULL;
	b->ctail = &b->commits;
	b->otail = &b->ops;
	b->ncommits = 0;
	while (r) {
		struct spool_req *next = r->next;
		r->next = NULL;
		if (r->kind == SPOOL_REQ_COMMIT) {
			*b->ctail = r;
			b->ctail = &r->next;
			b->ncommits++;
		} else {
			*b->otail = r;
			b->otail = &r->next;
		}
		r = next;
	}
}

/* A commit answered on the loop it came from (spool_commit_to). */
static void spool_commit_posted(void *arg, int run)
{
	struct spool_req *r = arg;
	if (run && !r->detached && r->cb.commit)
		r->cb.commit(r->arg, r->ok, r->ok ? "" : r->reason);
	free(r);
}

/* Hands finished requests back to the loop thread; the mutex is held.  A
 * commit made on another loop goes to that loop, so that its callback and
 * its detach run on one thread. */
static void spool_hand_back(struct spool *sp, struct spool_req *head)
{
	struct spool_req *mine = NULL, **mtail = &mine;
	while (head) {
		struct spool_req *next = head->next;
		head->next = NULL;
		if (head->reply_to) {
			loop_post(head->reply_to, spool_commit_posted, head);
		} else {
			*mtail = head;
			mtail = &head->next;
		}
		head = next;
	}
	if (mine == NULL)
		return;
	*sp->done_tail = mine;
	sp->done_tail = mtail;
	event_active(sp->done_ev, EV_READ, 0);
}

/* mu held: the flushes of refusals in ops are over (committed, or failed
 * and said so by q_log): spool_flush_rejected() waits for this. */
static void spool_rejects_done(struct spool *sp, const struct spool_req *ops)
{
	for (; ops; ops = ops->next)
		if (ops->kind == SPOOL_REQ_REJECTS && ops->u.rejects.seq > sp->rej_done)
			sp->rej_done = ops->u.rejects.seq;
}

/* Commits first, answered as soon as they are durable: a client's 250 never
 * waits for the scheduler's claims and records, which follow. */
static void *spool_main(void *p)
{
	struct spool *sp = p;
	struct spool_batch b;
	pthread_mutex_lock(&sp->mu);
	for (;;) {
		while (sp->todo == NULL && !sp->stopping)
			pthread_cond_wait(&sp->cv, &sp->mu);
		if (sp->todo == NULL)
			break;
		sp->busy = 1;
		spool_split(sp->todo, &b);
		sp->todo = NULL;
		sp->todo_tail = &sp->todo;
		if (b.ncommits) {
			size_t ok, commits;
			pthread_mutex_unlock(&sp->mu);
			ok = spool_store(sp, b.commits, b.ncommits, &commits);
			pthread_mutex_lock(&sp->mu);
			spool_account(sp, b.ncommits, ok, commits);
			spool_hand_back(sp, b.commits);
		}
		if (b.ops) {
			pthread_mutex_unlock(&sp->mu);
			spool_queue_run(sp, b.ops);
			pthread_mutex_lock(&sp->mu);
			spool_rejects_done(sp, b.ops);
			spool_hand_back(sp, b.ops);
		}
		pthread_mutex_unlock(&sp->mu);
		spool_obs_refresh(sp);
		spool_checkpoint(sp);
		spool_low_space_checkpoint(sp);
		pthread_mutex_lock(&sp->mu);
		sp->busy = 0;
		pthread_cond_broadcast(&sp->idle_cv);
	}
	pthread_mutex_unlock(&sp->mu);
	return NULL;
}

void spool_wait_idle(struct spool *sp)
{
	if (sp == NULL)
		return;
	pthread_mutex_lock(&sp->mu);
	while (sp->todo || sp->busy)
		pthread_cond_wait(&sp->idle_cv, &sp->mu);
	pthread_mutex_unlock(&sp->mu);
}

/* --- loop thread --------------------------------------------------------- */

/* Takes what the thread handed back, once what was taken before is all
 * answered (so the order holds without a walk to the end of either). */
static void spool_take_done(struct spool *sp)
{
	pthread_mutex_lock(&sp->mu);
	sp->ready = sp->done;
	sp->done = NULL;
	sp->done_tail = &sp->done;
	pthread_mutex_unlock(&sp->mu);
}

/* Answers up to max requests, in order.  Returns how many are left. */
static struct spool_req *spool_finish(struct spool *sp, int call, size_t max)
{
	for (size_t n = 0; n < max; n++) {
		if (sp->ready == NULL)
			spool_take_done(sp);
		struct spool_req *r = sp->ready;
		if (r == NULL)
			break;
		sp->ready = r->next;
		if (r->kind != SPOOL_REQ_COMMIT)
			spool_queue_finish(r, call);
		else if (call && !r->detached && r->cb.commit)
			r->cb.commit(r->arg, r->ok, r->ok ? "" : r->reason);
		free(r);
	}
	return sp->ready;
}

/* A batch of a thousand answers is a turn's work for the loop: it takes
 * SPOOL_FINISH_BATCH a turn, so what is urgent on the loop (an HTTP
 * request, core/evloop.h) waits for one slice of it, not all. */
static void spool_on_done(evutil_socket_t fd, short what, void *p)
{
	struct spool *sp = p;
	(void)fd;
	(void)what;
	if (spool_finish(sp, 1, SPOOL_FINISH_BATCH))
		event_active(sp->done_ev, EV_READ, 0);
}

static void spool_free_db(struct spool *sp)
{
	/* finalize returns the last step error, already reported */
	sqlite3_finalize(sp->ins_msg);
	sqlite3_finalize(sp->ins_rcpt);
	spool_queue_finalize(sp);
	spool_obs_finalize(sp);
	spool_segs_close(sp->segs);
	sp->segs = NULL;
	free(sp->gone);
	sp->gone = NULL;
	if (sp->db && sqlite3_close(sp->db) != SQLITE_OK)
		msg_warn("event=spool_error reason=\"close failed\" detail=\"%s\"",
			 sqlite3_errmsg(sp->db));
	if (sp->shm_fd >= 0)
		close(sp->shm_fd);   /* only now: see spool_wal_snapshot() */
	sp->shm_fd = -1;
}

static void spool_start_checkpointer(struct spool *sp)
{
	char path[4096], err[512];
	if (spool_db_path(sp->dir, "", path, sizeof(path)) < 0)
		msg_panic("event=spool_bug reason=\"path checked at open\"");
	if ((sp->ckpt = spool_ckpt_start(path, err, sizeof(err))) == NULL)
		msg_warn("event=spool_checkpointer_missing reason=\"%s\" action=\"checkpoints on the storage "
			 "thread\"", err);
}

struct spool *spool_open(const char *dir, uint64_t max_size, struct event_base *base,
			 char *err, size_t errlen)
{
	if (base == NULL || dir == NULL || sqlite3_threadsafe() == 0) {
		set_error(err, errlen, "spool_open: no event base, dir or thread-safe sqlite");
		return NULL;
	}
	if (spool_mkdir(dir, err, errlen) != 0)
		return NULL;
	struct spool *sp = xcalloc(1, sizeof(*sp));
	if (spool_db_open(sp, dir, max_size, err, errlen) != 0) {
		struct statvfs vfs;   /* SQLite says "disk I/O error" when it cannot make its -shm */
		if (statvfs(dir, &vfs) == 0 && (unsigned long long)vfs.f_bavail * vfs.f_frsize < 256 * 1024) {
			size_t used = strlen(err);
			if (used + 1 < errlen && snprintf(err + used, errlen - used, " (the file system of %s is "
							  "full: free some space)", dir) < 0)
				err[used] = '\0';   /* cut is fine: an error text */
		}
		spool_free_db(sp);
		free(sp->dir);
		free(sp);
		return NULL;
	}
	sp->todo_tail = &sp->todo;
	sp->done_tail = &sp->done;
	sp->done_ev = event_new(base, -1, 0, spool_on_done, sp);
	if (sp->done_ev == NULL)
		msg_fatal("event=spool_error reason=\"event_new failed\"");
	pthread_mutex_init(&sp->mu, NULL);
	pthread_cond_init(&sp->cv, NULL);
	pthread_cond_init(&sp->idle_cv, NULL);
	spool_obs_refresh(sp);   /* before the thread: the gauges hold from the start */
	spool_start_checkpointer(sp);
	if (pthread_create(&sp->thread, NULL, spool_main, sp) != 0)
		msg_fatal("event=spool_error reason=\"pthread_create failed\"");
	return sp;
}

void spool_close(struct spool *sp)
{
	if (sp == NULL)
		return;
	pthread_mutex_lock(&sp->mu);
	spool_rejects_queue(sp);   /* the last refusals counted: the thread drains todo before it ends */
	sp->stopping = 1;
	pthread_cond_broadcast(&sp->cv);
	pthread_mutex_unlock(&sp->mu);
	pthread_join(sp->thread, NULL);
	spool_ckpt_stop(sp->ckpt);
	spool_finish(sp, 0, SIZE_MAX);
	event_free(sp->done_ev);
	spool_free_db(sp);
	pthread_mutex_destroy(&sp->mu);
	pthread_cond_destroy(&sp->cv);
	pthread_cond_destroy(&sp->idle_cv);
	free(sp->dir);
	free(sp);
}

struct spool_req *spool_commit(struct spool *sp, struct spool_msg *msg, spool_commit_cb *cb,
			       void *arg)
{
	return spool_commit_to(sp, NULL, msg, cb, arg);
}

struct spool_req *spool_commit_to(struct spool *sp, struct loop_post *reply_to, struct spool_msg *msg,
				  spool_commit_cb *cb, void *arg)
{
	struct spool_req *r = xcalloc(1, sizeof(*r));
	r->reply_to = reply_to;
	if (msg->id[0] == '\0')
		spool_id_new(msg->id);
	if (msg->created == 0)
		msg->created = time(NULL);
	if (msg->body_len >= SPOOL_SEG_MIN && !msg->body_crc_known) {
		msg->body_crc = spool_seg_crc32c(msg->body, msg->body_len);
		msg->body_crc_known = 1;
	}
	r->kind = SPOOL_REQ_COMMIT;
	r->msg = msg;
	r->cb.commit = cb;
	r->arg = arg;
	spool_enqueue(sp, r);
	return r;
}

void spool_enqueue(struct spool *sp, struct spool_req *r)
{
	pthread_mutex_lock(&sp->mu);
	if (sp->stopping)
		msg_panic("event=spool_bug reason=\"request after close\" kind=%d", (int)r->kind);
	*sp->todo_tail = r;
	sp->todo_tail = &r->next;
	if (r->kind != SPOOL_REQ_COMMIT)
		spool_rejects_queue(sp);   /* refusals counted since the last flush ride along */
	pthread_cond_signal(&sp->cv);
	pthread_mutex_unlock(&sp->mu);
}

void spool_req_detach(struct spool_req *req)
{
	if (req)
		req->detached = 1;
}

void spool_msg_free(struct spool_msg *msg)
{
	if (msg == NULL)
		return;
	for (size_t i = 0; i < msg->nrcpts; i++)
		free(msg->rcpts[i]);
	free(msg->rcpts);
	free(msg->sender);
	free(msg->client_addr);
	free(msg->client_helo);
	free(msg->auth_user);
	free(msg->msg_class);
	free(msg->tenant);
	free(msg->scan_action);
	free(msg->scan_symbols);
	free(msg->route);
	free(msg->body);
	free(msg);
}

void spool_stats(struct spool *sp, struct spool_stats *st)
{
	pthread_mutex_lock(&sp->mu);
	*st = sp->stats;
	pthread_mutex_unlock(&sp->mu);
}

/* --- queue ids ----------------------------------------------------------- */

/* Crockford's base 32: a subset of [0-9A-Z] in ASCII order, so ids sort. */
static const char spool_b32[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
static pthread_mutex_t spool_id_mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t spool_id_last;

static unsigned spool_id_random(uint64_t seed)
{
	uint16_t r;
	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) == (ssize_t)sizeof(r))
		return r;
	seed ^= (uint64_t)getpid() * 0x9E3779B97F4A7C15ull;   /* no entropy yet */
	return (unsigned)(seed ^ (seed >> 29) ^ (seed >> 47));
}

/* 13 characters of (microseconds << 10 | counter), strictly increasing in
 * this process, then 3 random characters against other processes. */
void spool_id_new(char out[SPOOL_ID_LEN + 1])
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t us = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
	uint64_t v = us << 10;
	pthread_mutex_lock(&spool_id_mu);
	if (v <= spool_id_last)
		v = spool_id_last + 1;
	spool_id_last = v;
	pthread_mutex_unlock(&spool_id_mu);
	unsigned rnd = spool_id_random(v);
	for (int i = 12; i >= 0; i--, v >>= 5)
		out[i] = spool_b32[v & 31];
	for (int i = 15; i >= 13; i--, rnd >>= 5)
		out[i] = spool_b32[rnd & 31];
	out[SPOOL_ID_LEN] = '\0';
}
