/*
 * suppress: the suppression list in the spool (contract in suppress.h).
 * The table's primary key is (address, scope), so the RCPT-time check,
 * which asks for an address under three scopes at once, is one seek on
 * the key's prefix.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xmalloc.h"
#include "feedback/suppress.h"

#define COLUMNS "address, scope, reason, source, status, qid, diagnostic, first_event, last_event, count, expires"

static int dberr(sqlite3 *db, const char *what, char *err, size_t errlen)
{
	if (err && errlen) {
		int n = snprintf(err, errlen, "%s: %s", what, sqlite3_errmsg(db));
		if (n < 0 || (size_t)n >= errlen)
			err[errlen - 1] = '\0';
	}
	return -1;
}

int suppress_valid_source(const char *source)
{
	return strcmp(source, "bounce") == 0 || strcmp(source, "complaint") == 0 || strcmp(source, "manual") == 0 ||
	       strcmp(source, "import") == 0;
}

static void lower_copy(char *out, size_t outlen, const char *in)
{
	size_t i = 0;
	for (; in && in[i] && i + 1 < outlen; i++)
		out[i] = (char)tolower((unsigned char)in[i]);
	out[i] = '\0';
}

static void text_col(sqlite3_stmt *st, int col, char *out, size_t outlen)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	int n = snprintf(out, outlen, "%s", t ? (const char *)t : "");
	if (n < 0 || (size_t)n >= outlen)
		out[outlen - 1] = '\0';
}

static void row(sqlite3_stmt *st, struct suppression *s)
{
	memset(s, 0, sizeof(*s));
	text_col(st, 0, s->address, sizeof(s->address));
	text_col(st, 1, s->scope, sizeof(s->scope));
	text_col(st, 2, s->reason, sizeof(s->reason));
	text_col(st, 3, s->source, sizeof(s->source));
	text_col(st, 4, s->status, sizeof(s->status));
	text_col(st, 5, s->qid, sizeof(s->qid));
	text_col(st, 6, s->diagnostic, sizeof(s->diagnostic));
	s->first = (time_t)sqlite3_column_int64(st, 7);
	s->last = (time_t)sqlite3_column_int64(st, 8);
	s->count = (unsigned)sqlite3_column_int64(st, 9);
	s->expires = (time_t)sqlite3_column_int64(st, 10);
}

int suppress_get(sqlite3 *db, const char *address, const char *scope, time_t now, struct suppression *out,
		 char *err, size_t errlen)
{
	sqlite3_stmt *st;
	char addr[320];
	lower_copy(addr, sizeof(addr), address);
	if (sqlite3_prepare_v2(db, "SELECT " COLUMNS " FROM suppression WHERE address = ?1 AND scope = ?2"
			       " AND (expires = 0 OR expires > ?3)", -1, &st, NULL) != SQLITE_OK)
		return dberr(db, "suppression", err, errlen);
	sqlite3_bind_text(st, 1, addr, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, scope ? scope : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)now);
	int rc = sqlite3_step(st), found = rc == SQLITE_ROW;
	if (found)
		row(st, out);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? found : dberr(db, "suppression", err, errlen);
}

int suppress_put(sqlite3 *db, const struct suppression *s, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	char addr[320];
	lower_copy(addr, sizeof(addr), s->address);
	if (sqlite3_prepare_v2(db, "INSERT INTO suppression (" COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
			       " ON CONFLICT (address, scope) DO UPDATE SET reason = ?3, source = ?4, status = ?5,"
			       " qid = ?6, diagnostic = ?7, last_event = ?9, count = count + ?10, expires = ?11",
			       -1, &st, NULL) != SQLITE_OK)
		return dberr(db, "suppression", err, errlen);
	sqlite3_bind_text(st, 1, addr, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, s->scope, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, s->reason, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, s->source, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, s->status, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, s->qid, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, s->diagnostic, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 8, (sqlite3_int64)s->first);
	sqlite3_bind_int64(st, 9, (sqlite3_int64)s->last);
	sqlite3_bind_int64(st, 10, (sqlite3_int64)(s->count ? s->count : 1));
	sqlite3_bind_int64(st, 11, (sqlite3_int64)s->expires);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : dberr(db, "suppression", err, errlen);
}

int suppress_remove(sqlite3 *db, const char *address, const char *scope, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	char addr[320];
	lower_copy(addr, sizeof(addr), address);
	if (sqlite3_prepare_v2(db, "DELETE FROM suppression WHERE address = ?1 AND scope = ?2", -1, &st, NULL) !=
	    SQLITE_OK)
		return dberr(db, "suppression", err, errlen);
	sqlite3_bind_text(st, 1, addr, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, scope ? scope : "", -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return dberr(db, "suppression", err, errlen);
	return sqlite3_changes(db) > 0;
}

int suppress_each(sqlite3 *db, void (*fn)(void *arg, const struct suppression *s), void *arg, char *err,
		  size_t errlen)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, "SELECT " COLUMNS " FROM suppression ORDER BY address, scope", -1, &st, NULL) !=
	    SQLITE_OK)
		return dberr(db, "suppression", err, errlen);
	int rc;
	struct suppression s;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		row(st, &s);
		fn(arg, &s);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : dberr(db, "suppression", err, errlen);
}

int suppress_soft_failure(sqlite3 *db, const char *address, time_t now, unsigned window, unsigned *count,
			  char *err, size_t errlen)
{
	sqlite3_stmt *st;
	char addr[320];
	lower_copy(addr, sizeof(addr), address);
	/* a count whose first failure is older than the window starts over */
	if (sqlite3_prepare_v2(db, "INSERT INTO soft_failures (address, first_event, last_event, count)"
			       " VALUES (?1, ?2, ?2, 1) ON CONFLICT (address) DO UPDATE SET"
			       " count = CASE WHEN first_event <= ?2 - ?3 THEN 1 ELSE count + 1 END,"
			       " first_event = CASE WHEN first_event <= ?2 - ?3 THEN ?2 ELSE first_event END,"
			       " last_event = ?2 RETURNING count", -1, &st, NULL) != SQLITE_OK)
		return dberr(db, "soft_failures", err, errlen);
	sqlite3_bind_text(st, 1, addr, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)now);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)window);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*count = (unsigned)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : dberr(db, "soft_failures", err, errlen);
}

int suppress_soft_clear(sqlite3 *db, const char *address, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	char addr[320];
	lower_copy(addr, sizeof(addr), address);
	if (sqlite3_prepare_v2(db, "DELETE FROM soft_failures WHERE address = ?1", -1, &st, NULL) != SQLITE_OK)
		return dberr(db, "soft_failures", err, errlen);
	sqlite3_bind_text(st, 1, addr, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : dberr(db, "soft_failures", err, errlen);
}

/* Words for the reasons a reply names. */
static const char *reason_words(const char *reason)
{
	static const struct {
		const char *reason, *words;
	} w[] = {
		{ "userunknown", "user unknown" }, { "hostunknown", "host unknown" },
		{ "hasmoved", "address moved" }, { "notaccept", "domain accepts no mail" },
		{ "mailboxfull", "mailbox full" }, { "feedback", "spam complaint" },
	};
	for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++)
		if (strcmp(w[i].reason, reason) == 0)
			return w[i].words;
	return reason;
}

void suppress_reply(const struct suppression *s, const char *rcpt, char *out, size_t outlen)
{
	char day[16] = "?";
	struct tm tm;
	time_t first = s->first;
	if (gmtime_r(&first, &tm))
		strftime(day, sizeof(day), "%Y-%m-%d", &tm);
	const char *enh = s->status[0] == '5' ? s->status : "5.7.1";
	char why[400];
	if (strcmp(s->source, "complaint") == 0)
		snprintf(why, sizeof(why), "after a complaint (%s)", reason_words(s->reason));
	else if (strcmp(s->source, "bounce") == 0 && s->expires == 0)
		snprintf(why, sizeof(why), "after a hard bounce (%s%s%s)", s->status, s->status[0] ? " " : "",
			 reason_words(s->reason));
	else if (strcmp(s->source, "bounce") == 0)
		snprintf(why, sizeof(why), "after repeated soft bounces (%s%s%s)", s->status, s->status[0] ? " " : "",
			 reason_words(s->reason));
	else
		snprintf(why, sizeof(why), "(%s: %s)", s->source, reason_words(s->reason));
	int n = snprintf(out, outlen, "550 %s <%s>: suppressed since %s %s", enh, rcpt, day, why);
	if (n < 0 || (size_t)n >= outlen)
		out[outlen - 1] = '\0';
}

struct suppress_check {
	sqlite3 *db;
	sqlite3_stmt *st;
};

struct suppress_check *suppress_check_open(const char *spool_dir, char *err, size_t errlen)
{
	char path[4096];
	int n = snprintf(path, sizeof(path), "%s/queue.db", spool_dir);
	struct suppress_check *c = xcalloc(1, sizeof(*c));
	if (n < 0 || (size_t)n >= sizeof(path)) {
		snprintf(err, errlen, "spool path too long");
		free(c);
		return NULL;
	}
	if (sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v3(c->db, "SELECT " COLUMNS " FROM suppression WHERE address = ?1"
			       " AND scope IN ('', ?2, ?3) AND (expires = 0 OR expires > ?4) ORDER BY scope LIMIT 1",
			       -1, SQLITE_PREPARE_PERSISTENT, &c->st, NULL) != SQLITE_OK) {
		dberr(c->db, path, err, errlen);
		suppress_check_close(c);
		return NULL;
	}
	sqlite3_busy_timeout(c->db, 100);
	return c;
}

void suppress_check_close(struct suppress_check *c)
{
	if (c == NULL)
		return;
	sqlite3_finalize(c->st);
	sqlite3_close(c->db);
	free(c);
}

int suppress_check(struct suppress_check *c, const char *rcpt, const char *sender_domain, const char *user,
		   time_t now, struct suppression *hit)
{
	char addr[320], dom[300], usr[300];
	lower_copy(addr, sizeof(addr), rcpt);
	char d[260];
	lower_copy(d, sizeof(d), sender_domain ? sender_domain : "");
	int n1 = snprintf(dom, sizeof(dom), "domain:%s", d);
	int n2 = snprintf(usr, sizeof(usr), "user:%s", user ? user : "");
	if (n1 < 0 || (size_t)n1 >= sizeof(dom) || n2 < 0 || (size_t)n2 >= sizeof(usr))
		return 0;
	sqlite3_reset(c->st);
	sqlite3_bind_text(c->st, 1, addr, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(c->st, 2, sender_domain && *sender_domain ? dom : "domain:", -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(c->st, 3, user && *user ? usr : "user:", -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(c->st, 4, (sqlite3_int64)now);
	int rc = sqlite3_step(c->st);
	if (rc == SQLITE_ROW)
		row(c->st, hit);
	sqlite3_reset(c->st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}
