/*
 * spool_admin: `outpost queue list|show|delete|retry|flush` on DIR/queue.db
 * from outside the daemon; see spool_admin.h.
 *
 * Contract: every call opens its own connection (read-only for list and
 * show, read-write without create for the others: a missing database is
 * "no spool at DIR", never a new one), waits up to SPOOL_ADMIN_BUSY_MS for
 * the daemon's write lock, runs one transaction, and closes.  Returns 0,
 * 1 for an unknown id, -1 with a reason in err.  Text output is one line
 * per message (list) or a block (show), with control bytes shown as '?';
 * JSON output is one document, strings made valid UTF-8.
 */
#include "spool_admin.h"

#include <jansson.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "utf8.h"
#include "spool.h"
#include "spool_health.h"
#include "xmalloc.h"

#define SPOOL_ADMIN_BUSY_MS 5000
#define SPOOL_ADMIN_HEADER_MAX (1024 * 1024)   /* header bytes shown by show */

static int admin_dberr(sqlite3 *db, const char *what, char *err, size_t errlen)
{
	set_error(err, errlen, "%s: %s", what, sqlite3_errmsg(db));
	return -1;
}

static void admin_close(sqlite3 *db)
{
	if (db && sqlite3_close(db) != SQLITE_OK)
		msg_warn("event=spool_admin_error reason=\"close failed\"");
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

/* Opens DIR/queue.db, never creating it.  A read-only open that fails
 * (a WAL database whose -wal/-shm it may not create) falls back to a
 * read-write one: list and show still run only SELECTs. */
static int admin_open(const char *dir, int rw, sqlite3 **dbp, char *err, size_t errlen)
{
	char path[4096];
	int n = snprintf(path, sizeof(path), "%s/%s", dir, SPOOL_DB_NAME);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		set_error(err, errlen, "spool path too long: %s", dir);
		return -1;
	}
	if (access(path, F_OK) != 0) {
		set_error(err, errlen, "no spool at %s", dir);
		return -1;
	}
	if (!rw && admin_try_open(path, dir, SQLITE_OPEN_READONLY, dbp, err, errlen) == 0)
		return 0;
	return admin_try_open(path, dir, SQLITE_OPEN_READWRITE, dbp, err, errlen);
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

/* --- formatting ---------------------------------------------------------- */

static const char *admin_iso(sqlite3_int64 t, char out[32])
{
	struct tm tm;
	time_t tt = (time_t)t;
	if (gmtime_r(&tt, &tm) == NULL || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		strcpy(out, "?");
	return out;
}

static const char *admin_col(sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);
	return s ? (const char *)s : NULL;
}

/* A JSON string of s (len bytes), invalid UTF-8 replaced by U+FFFD;
 * json null for NULL. */
static json_t *admin_jstr(const char *s, size_t len)
{
	if (s == NULL)
		return json_null();
	json_t *j = json_stringn(s, len);
	if (j)
		return j;
	struct buf b = BUF_INIT;
	const unsigned char *p = (const unsigned char *)s;
	for (size_t i = 0; i < len;) {
		size_t n = utf8_next(p + i, len - i, NULL);
		if (n == 0) {
			buf_append(&b, "\xef\xbf\xbd", 3);
			i++;
		} else {
			buf_append(&b, p + i, n);
			i += n;
		}
	}
	j = json_stringn(b.data ? b.data : "", b.len);
	buf_free(&b);
	if (j == NULL)
		msg_panic("event=spool_admin_bug reason=\"utf-8 repair failed\"");
	return j;
}

static json_t *admin_jcol(sqlite3_stmt *st, int i)
{
	const char *s = admin_col(st, i);
	return admin_jstr(s, s ? (size_t)sqlite3_column_bytes(st, i) : 0);
}

static json_t *admin_jtime(sqlite3_stmt *st, int i)
{
	char t[32];
	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		return json_null();
	return json_string(admin_iso(sqlite3_column_int64(st, i), t));
}

/* Prints s with control bytes as '?', so one record stays one line. */
static void admin_put(FILE *out, const char *s)
{
	if (s == NULL) {
		fputs("-", out);
		return;
	}
	for (; *s; s++)
		fputc((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s, out);
}

/* Prints a block of lines (from outside: header text) keeping newlines
 * and tabs, other control bytes as '?' so they cannot drive a terminal. */
static void admin_put_block(FILE *out, const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];
		fputc(c == '\n' || c == '\t' || (c >= 0x20 && c != 0x7f) ? c : '?', out);
	}
	if (len && p[len - 1] != '\n')
		fputc('\n', out);
}

static int admin_json_out(json_t *root, FILE *out, char *err, size_t errlen)
{
	int rc = json_dumpf(root, out, JSON_INDENT(2));
	json_decref(root);
	if (rc != 0 || fputc('\n', out) == EOF) {
		set_error(err, errlen, "write error");
		return -1;
	}
	return 0;
}

static int admin_text_done(FILE *out, char *err, size_t errlen)
{
	if (fflush(out) == 0 && !ferror(out))
		return 0;
	set_error(err, errlen, "write error");
	return -1;
}

/* --- list ---------------------------------------------------------------- */

enum { L_ID, L_CREATED, L_SIZE, L_SENDER, L_NEXT, L_ADDR, L_STATE, L_ATTEMPTS, L_REPLY };

static const char admin_sql_list[] =
	"SELECT m.id, m.created, m.size, m.sender, m.next_attempt,"
	" r.address, r.state, r.attempts, r.last_reply"
	" FROM messages m LEFT JOIN recipients r ON r.msg_id = m.id"
	" ORDER BY m.id, r.position";

static json_t *admin_list_jmsg(sqlite3_stmt *st)
{
	json_t *m = json_object();
	json_object_set_new(m, "id", admin_jcol(st, L_ID));
	json_object_set_new(m, "created", admin_jtime(st, L_CREATED));
	json_object_set_new(m, "size", json_integer(sqlite3_column_int64(st, L_SIZE)));
	json_object_set_new(m, "sender", admin_jcol(st, L_SENDER));
	json_object_set_new(m, "recipients", json_array());
	json_object_set_new(m, "next_attempt", admin_jtime(st, L_NEXT));
	return m;
}

static void admin_list_jrcpt(json_t *m, sqlite3_stmt *st)
{
	json_t *r = json_object();
	json_object_set_new(r, "address", admin_jcol(st, L_ADDR));
	json_object_set_new(r, "state", admin_jcol(st, L_STATE));
	json_object_set_new(r, "attempts", json_integer(sqlite3_column_int64(st, L_ATTEMPTS)));
	json_object_set_new(r, "last_reply", admin_jcol(st, L_REPLY));
	json_array_append_new(json_object_get(m, "recipients"), r);
}

static void admin_list_text_msg(FILE *out, sqlite3_stmt *st, int first)
{
	char t[32];
	if (!first)
		fputc('\n', out);
	admin_put(out, admin_col(st, L_ID));
	fprintf(out, " %s %lld <", admin_iso(sqlite3_column_int64(st, L_CREATED), t),
		(long long)sqlite3_column_int64(st, L_SIZE));
	admin_put(out, admin_col(st, L_SENDER));
	fputc('>', out);
}

static void admin_list_text_rcpt(FILE *out, sqlite3_stmt *st)
{
	fputc(' ', out);
	admin_put(out, admin_col(st, L_ADDR));
	fputc('(', out);
	admin_put(out, admin_col(st, L_STATE));
	long long n = sqlite3_column_int64(st, L_ATTEMPTS);
	if (n > 0)
		fprintf(out, ",%lld", n);
	fputc(')', out);
}

/* One row per recipient, ordered by message: a new id starts a message. */
static int admin_list_rows(sqlite3 *db, sqlite3_stmt *st, json_t *arr, FILE *out,
			   char *err, size_t errlen)
{
	char *last = NULL;
	json_t *m = NULL;
	int rc, first = 1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *id = admin_col(st, L_ID);
		if (id && (last == NULL || strcmp(id, last) != 0)) {
			free(last);
			last = xstrdup(id);
			if (arr)
				json_array_append_new(arr, m = admin_list_jmsg(st));
			else
				admin_list_text_msg(out, st, first);
			first = 0;
		}
		if (sqlite3_column_type(st, L_ADDR) == SQLITE_NULL)
			continue;
		if (arr)
			admin_list_jrcpt(m, st);
		else
			admin_list_text_rcpt(out, st);
	}
	free(last);
	if (!first && !arr)
		fputc('\n', out);
	return rc == SQLITE_DONE ? 0 : admin_dberr(db, "list", err, errlen);
}

int spool_admin_list(const char *dir, int json, FILE *out, char *err, size_t errlen)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	if (admin_open(dir, 0, &db, err, errlen) != 0)
		return -1;
	json_t *arr = json ? json_array() : NULL;
	int rc = admin_prepare(db, admin_sql_list, &st, err, errlen);
	if (rc == 0)
		rc = admin_list_rows(db, st, arr, out, err, errlen);
	sqlite3_finalize(st);   /* repeats a step error already reported */
	admin_close(db);
	if (rc == 0 && arr)
		return admin_json_out(arr, out, err, errlen);
	json_decref(arr);
	return rc == 0 ? admin_text_done(out, err, errlen) : -1;
}

/* --- show ---------------------------------------------------------------- */

enum { S_ID, S_CREATED, S_SIZE, S_SENDER, S_CADDR, S_HELO, S_AUTH, S_UTF8, S_8BIT, S_NEXT,
       S_HEAD };

static const char admin_sql_msg[] =
	"SELECT id, created, size, sender, client_addr, client_helo, auth_user,"
	" smtputf8, body_8bit, next_attempt, substr(body, 1, ?2)"
	" FROM messages WHERE id = ?1";
static const char admin_sql_rcpts[] =
	"SELECT position, address, state, attempts, last_reply, last_attempt, next_attempt"
	" FROM recipients WHERE msg_id = ?1 ORDER BY position";
static const char admin_sql_attempts[] =
	"SELECT time, recipient, route, remote_host, remote_ip, tls, reply, result"
	" FROM attempts WHERE msg_id = ?1 ORDER BY time, id";

static const char *const admin_rcpt_cols[] = {
	"position", "address", "state", "attempts", "last_reply", "last_attempt", "next_attempt",
	NULL
};
static const char *const admin_attempt_cols[] = {
	"time", "recipient", "route", "remote_host", "remote_ip", "tls", "reply", "result", NULL
};

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

/* Copies the header block without CRs into b. */
static void admin_headers(sqlite3_stmt *st, struct buf *b)
{
	const char *p = sqlite3_column_blob(st, S_HEAD);
	size_t len = p ? (size_t)sqlite3_column_bytes(st, S_HEAD) : 0;
	if (len && p[0] == '\n')
		return;
	len = admin_header_len(p, len);
	for (size_t i = 0; i < len; i++)
		if (p[i] != '\r')
			buf_putc(b, p[i]);
}

/* A JSON value for column i of a row whose columns are named by cols:
 * times as ISO-8601, numbers as integers, text as strings. */
static json_t *admin_jvalue(sqlite3_stmt *st, int i, const char *name)
{
	if (strcmp(name, "time") == 0 || strcmp(name, "last_attempt") == 0 ||
	    strcmp(name, "next_attempt") == 0)
		return admin_jtime(st, i);
	if (sqlite3_column_type(st, i) == SQLITE_INTEGER)
		return json_integer(sqlite3_column_int64(st, i));
	return admin_jcol(st, i);
}

static void admin_text_value(FILE *out, sqlite3_stmt *st, int i, const char *name)
{
	char t[32];
	fprintf(out, " %s=", name);
	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		fputs("-", out);
	else if (strcmp(name, "time") == 0 || strcmp(name, "last_attempt") == 0 ||
		 strcmp(name, "next_attempt") == 0)
		fputs(admin_iso(sqlite3_column_int64(st, i), t), out);
	else if (sqlite3_column_type(st, i) == SQLITE_TEXT && strchr(admin_col(st, i), ' ')) {
		fputc('"', out);
		admin_put(out, admin_col(st, i));
		fputc('"', out);
	} else {
		admin_put(out, admin_col(st, i));
	}
}

/* Rows of sql (bound to id) as a JSON array of objects, or text lines. */
static int admin_rows(sqlite3 *db, const char *sql, const char *id, const char *const *cols,
		      json_t **arrp, FILE *out, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int rc;
	if (admin_prepare(db, sql, &st, err, errlen) != 0)
		return -1;
	if (sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC) != SQLITE_OK) {
		sqlite3_finalize(st);   /* bind error reported below */
		return admin_dberr(db, "bind", err, errlen);
	}
	if (arrp)
		*arrp = json_array();
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *o = arrp ? json_object() : NULL;
		if (!arrp)
			fputs(" ", out);
		for (int i = 0; cols[i]; i++) {
			if (o)
				json_object_set_new(o, cols[i], admin_jvalue(st, i, cols[i]));
			else
				admin_text_value(out, st, i, cols[i]);
		}
		if (o)
			json_array_append_new(*arrp, o);
		else
			fputc('\n', out);
	}
	sqlite3_finalize(st);   /* repeats the step error, handled below */
	return rc == SQLITE_DONE ? 0 : admin_dberr(db, "show", err, errlen);
}

static json_t *admin_show_jmsg(sqlite3_stmt *st)
{
	json_t *m = json_object();
	json_object_set_new(m, "id", admin_jcol(st, S_ID));
	json_object_set_new(m, "created", admin_jtime(st, S_CREATED));
	json_object_set_new(m, "size", json_integer(sqlite3_column_int64(st, S_SIZE)));
	json_object_set_new(m, "sender", admin_jcol(st, S_SENDER));
	json_object_set_new(m, "client_addr", admin_jcol(st, S_CADDR));
	json_object_set_new(m, "client_helo", admin_jcol(st, S_HELO));
	json_object_set_new(m, "auth_user", admin_jcol(st, S_AUTH));
	json_object_set_new(m, "smtputf8", json_boolean(sqlite3_column_int(st, S_UTF8)));
	json_object_set_new(m, "body_8bit", json_boolean(sqlite3_column_int(st, S_8BIT)));
	json_object_set_new(m, "next_attempt", admin_jtime(st, S_NEXT));
	return m;
}

static void admin_show_text_msg(FILE *out, sqlite3_stmt *st)
{
	char t[32];
	static const char *const labels[] = {
		[S_ID] = "id", [S_SENDER] = "sender", [S_CADDR] = "client_addr",
		[S_HELO] = "client_helo", [S_AUTH] = "auth_user",
	};
	for (int i = S_ID; i <= S_AUTH; i++) {
		if (i == S_CREATED)
			fprintf(out, "created: %s\n", admin_iso(sqlite3_column_int64(st, i), t));
		else if (i == S_SIZE)
			fprintf(out, "size: %lld\n", (long long)sqlite3_column_int64(st, i));
		else {
			fprintf(out, "%s: %s", labels[i], i == S_SENDER ? "<" : "");
			admin_put(out, admin_col(st, i));
			fputs(i == S_SENDER ? ">\n" : "\n", out);
		}
	}
	fprintf(out, "smtputf8: %s\nbody_8bit: %s\nnext_attempt: %s\n",
		sqlite3_column_int(st, S_UTF8) ? "yes" : "no",
		sqlite3_column_int(st, S_8BIT) ? "yes" : "no",
		admin_iso(sqlite3_column_int64(st, S_NEXT), t));
}

/* Reads the message row; 1 when there is none. */
static int admin_show_msg(sqlite3 *db, const char *id, json_t **jp, struct buf *hdr, FILE *out,
			  char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	if (admin_prepare(db, admin_sql_msg, &st, err, errlen) != 0)
		return -1;
	int rc = sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int(st, 2, SPOOL_ADMIN_HEADER_MAX);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		if (jp)
			*jp = admin_show_jmsg(st);
		else
			admin_show_text_msg(out, st);
		admin_headers(st, hdr);
	}
	sqlite3_finalize(st);   /* repeats the step error, handled below */
	if (rc == SQLITE_ROW)
		return 0;
	return rc == SQLITE_DONE ? 1 : admin_dberr(db, "show", err, errlen);
}

static int admin_show_parts(sqlite3 *db, const char *id, json_t **jp, FILE *out,
			    char *err, size_t errlen)
{
	struct buf hdr = BUF_INIT;
	json_t *rcpts = NULL, *atts = NULL;
	int rc = admin_show_msg(db, id, jp, &hdr, out, err, errlen);
	if (rc == 0 && !jp)
		fputs("recipients:\n", out);
	if (rc == 0)
		rc = admin_rows(db, admin_sql_rcpts, id, admin_rcpt_cols, jp ? &rcpts : NULL,
				out, err, errlen);
	if (rc == 0 && !jp)
		fputs("attempts:\n", out);
	if (rc == 0)
		rc = admin_rows(db, admin_sql_attempts, id, admin_attempt_cols,
				jp ? &atts : NULL, out, err, errlen);
	if (rc == 0 && jp) {
		json_object_set_new(*jp, "recipients", rcpts);
		json_object_set_new(*jp, "attempts", atts);
		json_object_set_new(*jp, "headers", admin_jstr(hdr.data ? hdr.data : "", hdr.len));
		rcpts = atts = NULL;
	} else if (rc == 0) {
		fputs("headers:\n", out);
		admin_put_block(out, hdr.data, hdr.len);
	}
	json_decref(rcpts);
	json_decref(atts);
	buf_free(&hdr);
	return rc;
}

int spool_admin_show(const char *dir, const char *id, int json, FILE *out, char *err, size_t errlen)
{
	sqlite3 *db = NULL;
	json_t *m = NULL;
	if (admin_open(dir, 0, &db, err, errlen) != 0)
		return -1;
	/* one read transaction: message, recipients and attempts agree */
	int rc = admin_exec(db, "BEGIN", err, errlen);
	if (rc == 0)
		rc = admin_show_parts(db, id, json ? &m : NULL, out, err, errlen);
	if (rc >= 0 && admin_end(db, 1, err, errlen) != 0)
		rc = -1;
	if (rc < 0)
		admin_end(db, 0, NULL, 0);
	admin_close(db);
	if (rc == 0 && json)
		return admin_json_out(m, out, err, errlen);
	json_decref(m);
	return rc == 0 ? admin_text_done(out, err, errlen) : rc;
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

/* Runs each statement of sqls (NULL-terminated, ?1 = id, ?2 = now) in one
 * write transaction; *changes gets the changes of the first statement,
 * and 0 rolls everything back (the id is not there). */
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
	admin_close(db);
	return rc;
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
	int rc = admin_write(dir, id, sqls, &n, err, errlen);
	if (rc == 0) {
		char q[128];
		msg_info("event=deleted qid=%s by=operator", log_quote(q, sizeof(q), id));
	}
	return rc;
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
	return admin_write(dir, id, sqls, &n, err, errlen);
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
	return rc;
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
