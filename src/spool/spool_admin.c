/*
 * spool_admin: `outpost queue list|show|delete|retry|flush` on DIR/queue.db
 * from outside the daemon; see spool_admin.h.
 *
 * Contract: every call opens its own connection (read-only for list and
 * show, read-write without create for the others: a missing database is
 * "no spool at DIR", never a new one), waits up to SPOOL_ADMIN_BUSY_MS for
 * the daemon's write lock, runs one transaction, and closes.  Returns 0,
 * 1 for an unknown id, -1 with a reason in err.  list and show return the
 * rows as data; the CLI renders them (cli/queue_render.c).
 */
#include "spool_admin.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "spool.h"
#include "spool_health.h"
#include "spool_check.h"
#include "spool_reserve.h"
#include "spool_seg.h"
#include "xmalloc.h"

#define SPOOL_ADMIN_BUSY_MS 5000
#define SPOOL_ADMIN_HEADER_MAX (1024 * 1024)   /* header bytes shown by show */

static int admin_dberr(sqlite3 *db, const char *what, char *err, size_t errlen)
{
	set_error(err, errlen, "%s: %s", what, sqlite3_errmsg(db));
	return -1;
}

/* The -shm hold of the open database's snapshot (see spool_wal_snapshot());
 * the CLI has one spool database open at a time. */
static struct spool_wal_snap admin_snap = { .shm_fd = -1 };
/* The open spool's schema version (9 and up: bodies may be in segments)
 * and directory, for show's headers. */
static int admin_version;
static const char *admin_dir;

static void admin_close(sqlite3 *db)
{
	if (db && sqlite3_close(db) != SQLITE_OK)
		msg_warn("event=spool_admin_error reason=\"close failed\"");
	spool_wal_snap_close(&admin_snap);
}

static int admin_check_version(sqlite3 *db, const char *dir, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);
	int v = -1;
	if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);   /* repeats the step error, handled below */
	if (v < 0)
		return admin_dberr(db, "user_version", err, errlen);
	if (v == 0) {
		set_error(err, errlen, "no spool at %s (empty database)", dir);
		return -1;
	}
	if (v > SPOOL_SCHEMA_VERSION) {
		set_error(err, errlen, "spool schema version %d is newer than this program (%d)",
			     v, SPOOL_SCHEMA_VERSION);
		return -1;
	}
	admin_version = v;
	return 0;
}

static int admin_try_open(const char *path, const char *dir, int flags, sqlite3 **dbp,
			  char *err, size_t errlen)
{
	sqlite3 *db = NULL;
	int rc = sqlite3_open_v2(path, &db, flags, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_busy_timeout(db, SPOOL_ADMIN_BUSY_MS);
	if (rc != SQLITE_OK)
		set_error(err, errlen, "cannot open %s: %s", path,
			     db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
	if (rc == SQLITE_OK && admin_check_version(db, dir, err, errlen) == 0) {
		*dbp = db;
		return 0;
	}
	admin_close(db);
	return -1;
}

/* The same checks as outpostd's at start (spool_check.h): a spool found
 * damaged is refused; and when this is the first open after a crash, the
 * WAL is checked against its index before SQLite's recovery forgets it. */
static int admin_refuse(const char *dir, const char *why, int mark, char *err, size_t errlen)
{
	if (mark)
		spool_mark_damaged(dir, why);
	set_error(err, errlen, "spool %s is damaged: %s; %s", dir, why, SPOOL_RECOVER_HINT);
	return 1;
}

static int admin_damaged_before(const char *dir, struct spool_wal_snap *snap, char *err, size_t errlen)
{
	char why[512];
	if (spool_damage_marked(dir, why, sizeof(why)))
		return admin_refuse(dir, why, 0, err, errlen);
	spool_wal_snapshot(dir, snap);
	if (spool_wal_check_file(dir, snap, why, sizeof(why)) < 0)
		return admin_refuse(dir, why, 1, err, errlen);
	return 0;
}

static int admin_damaged_after(sqlite3 *db, const char *dir, const struct spool_wal_snap *snap, char *err,
			       size_t errlen)
{
	char why[512];
	if (!snap->valid || spool_db_check(db, snap, why, sizeof(why)) == 0)
		return 0;
	admin_close(db);
	return admin_refuse(dir, why, 1, err, errlen);
}

/* Opens DIR/queue.db, never creating it.  A read-only open that fails
 * (a WAL database whose -wal/-shm it may not create) falls back to a
 * read-write one: list and show still run only SELECTs. */
static int admin_open(const char *dir, int rw, sqlite3 **dbp, char *err, size_t errlen)
{
	char path[4096];
	if (spool_db_path(dir, "", path, sizeof(path)) < 0) {
		set_error(err, errlen, "spool path too long: %s", dir);
		return -1;
	}
	if (access(path, F_OK) != 0) {
		set_error(err, errlen, "no spool at %s", dir);
		return -1;
	}
	spool_wal_snap_close(&admin_snap);
	if (admin_damaged_before(dir, &admin_snap, err, errlen)) {
		spool_wal_snap_close(&admin_snap);
		return -1;
	}
	if ((rw || admin_try_open(path, dir, SQLITE_OPEN_READONLY, dbp, err, errlen) != 0) &&
	    admin_try_open(path, dir, SQLITE_OPEN_READWRITE, dbp, err, errlen) != 0) {
		spool_wal_snap_close(&admin_snap);   /* (no database of ours is open) */
		return -1;
	}
	return admin_damaged_after(*dbp, dir, &admin_snap, err, errlen) ? (*dbp = NULL, -1) : 0;
}

static int admin_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st, char *err, size_t errlen)
{
	if (sqlite3_prepare_v2(db, sql, -1, st, NULL) == SQLITE_OK)
		return 0;
	return admin_dberr(db, "prepare", err, errlen);
}

static int admin_exec(sqlite3 *db, const char *sql, char *err, size_t errlen)
{
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK)
		return 0;
	return admin_dberr(db, sql, err, errlen);
}

/* Ends a transaction: COMMIT when ok, else ROLLBACK (if one is open). */
static int admin_end(sqlite3 *db, int ok, char *err, size_t errlen)
{
	if (ok)
		return admin_exec(db, "COMMIT", err, errlen);
	if (!sqlite3_get_autocommit(db) && sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL) != SQLITE_OK)
		msg_warn("event=spool_admin_error reason=\"rollback failed\"");
	return -1;
}

/* --- reading rows into data ---------------------------------------------- */

/* A NUL-terminated copy of len bytes at p. */
static struct spool_text admin_copy(const void *p, size_t len)
{
	struct spool_text t = { xmalloc(len + 1), len };
	if (len)
		memcpy(t.data, p, len);
	t.data[len] = '\0';
	return t;
}

/* Column i as text (a copy, length kept; data NULL for an SQL NULL). */
static struct spool_text admin_text(sqlite3_stmt *st, int i)
{
	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		return (struct spool_text){ NULL, 0 };
	const unsigned char *p = sqlite3_column_text(st, i);
	return admin_copy(p, p ? (size_t)sqlite3_column_bytes(st, i) : 0);
}

static long long admin_time(sqlite3_stmt *st, int i)
{
	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		return SPOOL_ADMIN_NO_TIME;
	return (long long)sqlite3_column_int64(st, i);
}

/* Room for element n of an array that holds n: capacity 4, then doubled
 * whenever n reaches a power of two. */
static void *admin_grow(void *p, size_t n, size_t size)
{
	if (n == 0)
		return xreallocarray(p, 4, size);
	if (n >= 4 && (n & (n - 1)) == 0)
		return xreallocarray(p, 2 * n, size);
	return p;
}

static void admin_rcpt_free(struct spool_admin_rcpt *r)
{
	free(r->address.data);
	free(r->state.data);
	free(r->last_reply.data);
}

static void admin_attempt_free(struct spool_admin_attempt *a)
{
	free(a->recipient.data);
	free(a->route.data);
	free(a->remote_host.data);
	free(a->remote_ip.data);
	free(a->tls.data);
	free(a->reply.data);
	free(a->result.data);
}

void spool_admin_msg_free(struct spool_admin_msg *m)
{
	if (m == NULL)
		return;
	free(m->id.data);
	free(m->sender.data);
	free(m->client_addr.data);
	free(m->client_helo.data);
	free(m->auth_user.data);
	free(m->tenant.data);
	free(m->scan_action.data);
	free(m->scan_score.data);
	free(m->scan_symbols.data);
	free(m->headers.data);
	for (size_t i = 0; i < m->nrcpts; i++)
		admin_rcpt_free(&m->rcpts[i]);
	free(m->rcpts);
	for (size_t i = 0; i < m->nattempts; i++)
		admin_attempt_free(&m->attempts[i]);
	free(m->attempts);
	memset(m, 0, sizeof(*m));
}

void spool_admin_queue_free(struct spool_admin_queue *q)
{
	if (q == NULL)
		return;
	for (size_t i = 0; i < q->n; i++)
		spool_admin_msg_free(&q->msgs[i]);
	free(q->msgs);
	q->msgs = NULL;
	q->n = 0;
}

/* --- list ---------------------------------------------------------------- */

enum { L_ID, L_CREATED, L_SIZE, L_SENDER, L_NEXT, L_ADDR, L_STATE, L_ATTEMPTS, L_REPLY };

static const char admin_sql_list[] =
	"SELECT m.id, m.created, m.size, m.sender, m.next_attempt,"
	" r.address, r.state, r.attempts, r.last_reply"
	" FROM messages m LEFT JOIN recipients r ON r.msg_id = m.id"
	" ORDER BY m.id, r.position";

static void admin_list_msg(struct spool_admin_queue *q, sqlite3_stmt *st)
{
	q->msgs = admin_grow(q->msgs, q->n, sizeof(*q->msgs));
	struct spool_admin_msg *m = &q->msgs[q->n++];
	memset(m, 0, sizeof(*m));
	m->id = admin_text(st, L_ID);
	m->created = admin_time(st, L_CREATED);
	m->size = (long long)sqlite3_column_int64(st, L_SIZE);
	m->sender = admin_text(st, L_SENDER);
	m->next_attempt = admin_time(st, L_NEXT);
}

static void admin_list_rcpt(struct spool_admin_msg *m, sqlite3_stmt *st)
{
	m->rcpts = admin_grow(m->rcpts, m->nrcpts, sizeof(*m->rcpts));
	struct spool_admin_rcpt *r = &m->rcpts[m->nrcpts];
	memset(r, 0, sizeof(*r));
	r->position = (int)m->nrcpts++;
	r->address = admin_text(st, L_ADDR);
	r->state = admin_text(st, L_STATE);
	r->attempts = (long long)sqlite3_column_int64(st, L_ATTEMPTS);
	r->last_reply = admin_text(st, L_REPLY);
	r->last_attempt = r->next_attempt = SPOOL_ADMIN_NO_TIME;   /* list does not read them */
}

/* One row per recipient, ordered by message: a new id starts a message. */
static int admin_list_rows(sqlite3 *db, sqlite3_stmt *st, struct spool_admin_queue *q,
			   char *err, size_t errlen)
{
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const unsigned char *id = sqlite3_column_text(st, L_ID);
		if (id && (q->n == 0 || strcmp((const char *)id, q->msgs[q->n - 1].id.data) != 0))
			admin_list_msg(q, st);
		if (q->n == 0 || sqlite3_column_type(st, L_ADDR) == SQLITE_NULL)
			continue;
		admin_list_rcpt(&q->msgs[q->n - 1], st);
	}
	return rc == SQLITE_DONE ? 0 : admin_dberr(db, "list", err, errlen);
}

int spool_admin_list(const char *dir, struct spool_admin_queue *q, char *err, size_t errlen)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	q->msgs = NULL;
	q->n = 0;
	if (admin_open(dir, 0, &db, err, errlen) != 0)
		return -1;
	int rc = admin_prepare(db, admin_sql_list, &st, err, errlen);
	if (rc == 0)
		rc = admin_list_rows(db, st, q, err, errlen);
	sqlite3_finalize(st);   /* repeats a step error already reported */
	admin_close(db);
	if (rc != 0)
		spool_admin_queue_free(q);
	return rc;
}

/* --- show ---------------------------------------------------------------- */

enum { S_ID, S_CREATED, S_SIZE, S_SENDER, S_CADDR, S_HELO, S_AUTH, S_UTF8, S_8BIT, S_NEXT,
       S_HEAD, S_TENANT, S_SCAN, S_SCORE, S_SYMBOLS, S_SEG, S_OFF, S_CRC };

#define ADMIN_SQL_MSG(seg) \
	"SELECT id, created, size, sender, client_addr, client_helo, auth_user," \
	" smtputf8, body_8bit, next_attempt, substr(body, 1, ?2), tenant, scan_action," \
	" printf('%.2f', scan_score), scan_symbols, " seg " FROM messages WHERE id = ?1"
static const char admin_sql_msg[] = ADMIN_SQL_MSG("body_seg, body_off, body_crc");
static const char admin_sql_msg_v8[] = ADMIN_SQL_MSG("NULL, NULL, NULL");   /* before schema 9 */
static const char admin_sql_rcpts[] =
	"SELECT position, address, state, attempts, last_reply, last_attempt, next_attempt"
	" FROM recipients WHERE msg_id = ?1 ORDER BY position";
static const char admin_sql_attempts[] =
	"SELECT time, recipient, route, remote_host, remote_ip, tls, reply, result"
	" FROM attempts WHERE msg_id = ?1 ORDER BY time, id";

/* Length of the header block: up to (not including) the first empty line. */
static size_t admin_header_len(const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (p[i] != '\n')
			continue;
		if (i + 1 < len && p[i + 1] == '\n')
			return i + 1;
		if (i + 2 < len && p[i + 1] == '\r' && p[i + 2] == '\n')
			return i + 1;
	}
	if (len >= 2 && p[0] == '\r' && p[1] == '\n')
		return 0;
	return len;
}

/* The header block without CRs: from the row, or the start of the body's
 * segment (an unreadable one shows as no header). */
static struct spool_text admin_headers(sqlite3_stmt *st)
{
	struct buf b = BUF_INIT;
	char *seg = NULL, why[256];
	const char *p = sqlite3_column_blob(st, S_HEAD);
	size_t len = p ? (size_t)sqlite3_column_bytes(st, S_HEAD) : 0;
	if (sqlite3_column_type(st, S_SEG) != SQLITE_NULL && admin_dir) {
		struct spool_body_ref ref = { sqlite3_column_int64(st, S_SEG), sqlite3_column_int64(st, S_OFF),
					      sqlite3_column_int64(st, S_SIZE), (uint32_t)sqlite3_column_int64(st, S_CRC) };
		p = seg = spool_seg_read(admin_dir, &ref, SPOOL_ADMIN_HEADER_MAX, why, sizeof(why));
		len = seg == NULL ? 0 : ref.len < SPOOL_ADMIN_HEADER_MAX ? (size_t)ref.len : SPOOL_ADMIN_HEADER_MAX;
	}
	if (len && p[0] == '\n')
		len = 0;
	len = len ? admin_header_len(p, len) : 0;
	for (size_t i = 0; i < len; i++)
		if (p[i] != '\r')
			buf_putc(&b, p[i]);
	struct spool_text t = admin_copy(b.data, b.len);
	buf_free(&b);
	free(seg);
	return t;
}

static void admin_show_row(struct spool_admin_msg *m, sqlite3_stmt *st)
{
	m->id = admin_text(st, S_ID);
	m->created = admin_time(st, S_CREATED);
	m->size = (long long)sqlite3_column_int64(st, S_SIZE);
	m->sender = admin_text(st, S_SENDER);
	m->client_addr = admin_text(st, S_CADDR);
	m->client_helo = admin_text(st, S_HELO);
	m->auth_user = admin_text(st, S_AUTH);
	m->tenant = admin_text(st, S_TENANT);
	m->scan_action = admin_text(st, S_SCAN);
	m->scan_score = admin_text(st, S_SCORE);
	m->scan_symbols = admin_text(st, S_SYMBOLS);
	m->smtputf8 = sqlite3_column_int(st, S_UTF8) != 0;
	m->body_8bit = sqlite3_column_int(st, S_8BIT) != 0;
	m->next_attempt = admin_time(st, S_NEXT);
	m->headers = admin_headers(st);
}

static void admin_show_rcpt(struct spool_admin_msg *m, sqlite3_stmt *st)
{
	m->rcpts = admin_grow(m->rcpts, m->nrcpts, sizeof(*m->rcpts));
	struct spool_admin_rcpt *r = &m->rcpts[m->nrcpts++];
	r->position = sqlite3_column_int(st, 0);
	r->address = admin_text(st, 1);
	r->state = admin_text(st, 2);
	r->attempts = (long long)sqlite3_column_int64(st, 3);
	r->last_reply = admin_text(st, 4);
	r->last_attempt = admin_time(st, 5);
	r->next_attempt = admin_time(st, 6);
}

static void admin_show_attempt(struct spool_admin_msg *m, sqlite3_stmt *st)
{
	m->attempts = admin_grow(m->attempts, m->nattempts, sizeof(*m->attempts));
	struct spool_admin_attempt *a = &m->attempts[m->nattempts++];
	a->time = admin_time(st, 0);
	a->recipient = admin_text(st, 1);
	a->route = admin_text(st, 2);
	a->remote_host = admin_text(st, 3);
	a->remote_ip = admin_text(st, 4);
	a->tls = admin_text(st, 5);
	a->reply = admin_text(st, 6);
	a->result = admin_text(st, 7);
}

/* Runs sql (?1 = id, ?2 = the header cap when used) and hands each row to
 * take; 1 when want_row and there was none. */
static int admin_rows(sqlite3 *db, const char *sql, const char *id, struct spool_admin_msg *m,
		      void (*take)(struct spool_admin_msg *, sqlite3_stmt *), int want_row,
		      char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int rc, rows = 0;
	if (admin_prepare(db, sql, &st, err, errlen) != 0)
		return -1;
	rc = sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK && sqlite3_bind_parameter_count(st) >= 2)
		rc = sqlite3_bind_int(st, 2, SPOOL_ADMIN_HEADER_MAX);
	if (rc != SQLITE_OK) {
		sqlite3_finalize(st);   /* bind error reported below */
		return admin_dberr(db, "bind", err, errlen);
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		take(m, st);
		rows++;
	}
	sqlite3_finalize(st);   /* repeats the step error, handled below */
	if (rc != SQLITE_DONE)
		return admin_dberr(db, "show", err, errlen);
	return want_row && rows == 0 ? 1 : 0;
}

int spool_admin_show(const char *dir, const char *id, struct spool_admin_msg *m, char *err, size_t errlen)
{
	sqlite3 *db = NULL;
	memset(m, 0, sizeof(*m));
	if (admin_open(dir, 0, &db, err, errlen) != 0)
		return -1;
	/* one read transaction: message, recipients and attempts agree */
	int rc = admin_exec(db, "BEGIN", err, errlen);
	admin_dir = dir;
	if (rc == 0)
		rc = admin_rows(db, admin_version >= 9 ? admin_sql_msg : admin_sql_msg_v8, id, m, admin_show_row, 1,
				err, errlen);
	if (rc == 0)
		rc = admin_rows(db, admin_sql_rcpts, id, m, admin_show_rcpt, 0, err, errlen);
	if (rc == 0)
		rc = admin_rows(db, admin_sql_attempts, id, m, admin_show_attempt, 0, err, errlen);
	if (rc >= 0 && admin_end(db, 1, err, errlen) != 0)
		rc = -1;
	if (rc < 0)
		admin_end(db, 0, NULL, 0);
	admin_close(db);
	if (rc != 0)
		spool_admin_msg_free(m);
	return rc;
}

/* --- delete, retry, flush ------------------------------------------------ */

/* Binds ?1 = id (when given) and ?2 = now (when used), then steps. */
static int admin_write_step(sqlite3_stmt *st, const char *id)
{
	int rc = SQLITE_OK;
	if (id)
		rc = sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK && sqlite3_bind_parameter_count(st) >= 2)
		rc = sqlite3_bind_int64(st, 2, (sqlite3_int64)time(NULL));
	return rc == SQLITE_OK ? sqlite3_step(st) : rc;
}

#define ADMIN_DISK_FULL (-2)   /* admin_write failed for want of disk space */

/* Runs each statement of sqls (NULL-terminated, ?1 = id, ?2 = now) in one
 * write transaction; *changes gets the changes of the first statement,
 * and 0 rolls everything back (the id is not there); ADMIN_DISK_FULL (with
 * err set) when the disk was full. */
static int admin_write(const char *dir, const char *id, const char *const *sqls, size_t *changes,
		       char *err, size_t errlen)
{
	sqlite3 *db = NULL;
	int rc = 0;
	if (admin_open(dir, 1, &db, err, errlen) != 0)
		return -1;
	if (admin_exec(db, "PRAGMA synchronous=FULL", err, errlen) != 0 ||
	    admin_exec(db, "BEGIN IMMEDIATE", err, errlen) != 0) {
		admin_close(db);
		return -1;
	}
	for (size_t i = 0; sqls[i] && rc == 0; i++) {
		sqlite3_stmt *st = NULL;
		rc = admin_prepare(db, sqls[i], &st, err, errlen);
		if (rc == 0 && admin_write_step(st, id) != SQLITE_DONE)
			rc = admin_dberr(db, "update", err, errlen);
		sqlite3_finalize(st);   /* repeats the step error, handled above */
		if (rc == 0 && i == 0 && (*changes = (size_t)sqlite3_changes(db)) == 0 && id)
			rc = 1;
	}
	if (rc == 0)
		rc = admin_end(db, 1, err, errlen);
	else
		admin_end(db, 0, NULL, 0);
	if (rc < 0 && (sqlite3_errcode(db) & 0xff) == SQLITE_FULL)
		rc = ADMIN_DISK_FULL;
	admin_close(db);
	return rc;
}

/* Where id's body is, when in a segment (read before the delete: the
 * range is the message's for good, so a stale read is harmless). */
static int admin_body_ref(const char *dir, const char *id, struct spool_body_ref *ref, char *err, size_t errlen)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	if (admin_open(dir, 0, &db, err, errlen) != 0)
		return -1;
	int rc = admin_version < 9 ? SQLITE_DONE
		 : sqlite3_prepare_v2(db, "SELECT body_seg, body_off, size, body_crc FROM messages WHERE id = ?1",
				      -1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
		ref->seg = sqlite3_column_int64(st, 0);
		ref->off = sqlite3_column_int64(st, 1);
		ref->len = sqlite3_column_int64(st, 2);
		ref->crc = (uint32_t)sqlite3_column_int64(st, 3);
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		admin_dberr(db, "show", err, errlen);
	sqlite3_finalize(st);   /* repeats the step's error, handled above */
	admin_close(db);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

int spool_admin_delete(const char *dir, const char *id, char *err, size_t errlen)
{
	static const char *const sqls[] = {
		"DELETE FROM messages WHERE id = ?1",
		"DELETE FROM recipients WHERE msg_id = ?1",
		"DELETE FROM attempts WHERE msg_id = ?1",
		NULL
	};
	size_t n = 0;
	struct spool_body_ref ref = { 0, 0, 0, 0 };
	int rc = admin_body_ref(dir, id, &ref, err, errlen);
	if (rc == 0)
		rc = admin_write(dir, id, sqls, &n, err, errlen);
	/* a delete makes room: on a full disk it may use the spool's reserve
	 * (spool_reserve.h), which the daemon makes again when it can */
	if (rc == ADMIN_DISK_FULL && spool_reserve_release(dir))
		rc = admin_write(dir, id, sqls, &n, err, errlen);
	if (rc == 0) {
		char q[128];
		spool_seg_punch(dir, &ref);   /* ranges are never reused: safe even if outpostd did it too */
		msg_info("event=deleted qid=%s by=operator", log_quote(q, sizeof(q), id));
	}
	return rc < 0 ? -1 : rc;
}

int spool_admin_retry(const char *dir, const char *id, char *err, size_t errlen)
{
	static const char *const sqls[] = {
		"UPDATE messages SET next_attempt = ?2 WHERE id = ?1",
		"UPDATE recipients SET next_attempt = ?2"
		" WHERE msg_id = ?1 AND state IN ('queued', 'deferred')",
		NULL
	};
	size_t n = 0;
	int rc = admin_write(dir, id, sqls, &n, err, errlen);
	return rc < 0 ? -1 : rc;
}

int spool_admin_flush(const char *dir, size_t *count, char *err, size_t errlen)
{
	static const char *const sqls[] = {
		"UPDATE messages SET next_attempt = ?2 WHERE EXISTS (SELECT 1 FROM recipients r"
		" WHERE r.msg_id = messages.id AND r.state IN ('queued', 'deferred'))",
		"UPDATE recipients SET next_attempt = ?2 WHERE state IN ('queued', 'deferred')",
		NULL
	};
	size_t n = 0;
	int rc = admin_write(dir, NULL, sqls, &n, err, errlen);
	if (count)
		*count = rc == 0 ? n : 0;
	return rc < 0 ? -1 : rc;
}

int spool_admin_routes(const char *dir, struct spool_health_row **rows, size_t *n, char *err, size_t errlen)
{
	sqlite3 *db = NULL;
	*rows = NULL;
	*n = 0;
	if (admin_open(dir, 0, &db, err, errlen) < 0)
		return -1;
	int rc = spool_health_read(db, rows, n);
	if (rc < 0)
		admin_dberr(db, "route_health", err, errlen);
	admin_close(db);
	return rc;
}
