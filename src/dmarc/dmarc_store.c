/*
 * dmarc_store: reports in SPOOL/dmarc.db (see dmarc_store.h).
 */
#include "dmarc/dmarc_store.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "core/xmalloc.h"
#include "dmarc/dmarc_report.h"

#define BUSY_MS 5000

struct dmarc_store {
	sqlite3 *db;
};

static const char schema[] =
	"CREATE TABLE IF NOT EXISTS report (id INTEGER PRIMARY KEY, reporter TEXT NOT NULL, "
	" report_id TEXT NOT NULL, email TEXT, begin INTEGER, end INTEGER, domain TEXT, p TEXT, sp TEXT, "
	" adkim TEXT, aspf TEXT, pct INTEGER, received INTEGER, UNIQUE (reporter, report_id));"
	"CREATE TABLE IF NOT EXISTS record (report INTEGER NOT NULL REFERENCES report(id), "
	" source_ip TEXT, count INTEGER, disposition TEXT, dkim TEXT, spf TEXT, header_from TEXT, "
	" envelope_from TEXT, dkim_domain TEXT, dkim_result TEXT, spf_domain TEXT, spf_result TEXT);"
	"CREATE INDEX IF NOT EXISTS record_report ON record(report);";

static int sql_fail(struct dmarc_store *s, char *err, size_t errlen, const char *what)
{
	snprintf(err, errlen, "dmarc store: %s: %s", what, sqlite3_errmsg(s->db));
	return -1;
}

struct dmarc_store *dmarc_store_open(const char *spool_dir, char *err, size_t errlen)
{
	struct stat sb;
	if (stat(spool_dir, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
		snprintf(err, errlen, "the spool directory %s does not exist (outpostd makes it at its first "
			 "start)", spool_dir);
		return NULL;
	}
	struct dmarc_store *s = xcalloc(1, sizeof(*s));
	char *path = xasprintf("%s/dmarc.db", spool_dir);
	int rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	if (rc != SQLITE_OK || sqlite3_busy_timeout(s->db, BUSY_MS) != SQLITE_OK ||
	    sqlite3_exec(s->db, "PRAGMA journal_mode=WAL;", NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(s->db, schema, NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "dmarc store %s: %s", path, s->db ? sqlite3_errmsg(s->db) : "cannot open");
		free(path);
		dmarc_store_close(s);
		return NULL;
	}
	free(path);
	return s;
}

void dmarc_store_close(struct dmarc_store *s)
{
	if (s == NULL)
		return;
	sqlite3_close(s->db);
	free(s);
}

static int add_records(struct dmarc_store *s, const struct dmarc_report *r, sqlite3_int64 id)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(s->db, "INSERT INTO record VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", -1, &st, NULL) != SQLITE_OK)
		return -1;
	int rc = 0;
	for (size_t i = 0; i < r->nrec && rc == 0; i++) {
		const struct dmarc_record *c = &r->rec[i];
		const char *text[] = { c->source_ip, NULL, c->disposition, c->dkim, c->spf, c->header_from,
				       c->envelope_from, c->dkim_domain, c->dkim_result, c->spf_domain,
				       c->spf_result };
		sqlite3_bind_int64(st, 1, id);
		for (int k = 0; k < 11; k++)
			if (text[k])
				sqlite3_bind_text(st, k + 2, text[k], -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, (sqlite3_int64)c->count);
		rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	return rc;
}

int dmarc_store_add(struct dmarc_store *s, const struct dmarc_report *r, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return sql_fail(s, err, errlen, "begin");
	if (sqlite3_prepare_v2(s->db, "INSERT OR IGNORE INTO report (reporter, report_id, email, begin, end, "
			       "domain, p, sp, adkim, aspf, pct, received) VALUES (?,?,?,?,?,?,?,?,?,?,?,"
			       "strftime('%s','now'))", -1, &st, NULL) != SQLITE_OK) {
		sql_fail(s, err, errlen, "insert");
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	const char *text[] = { r->org_name, r->report_id, r->email, NULL, NULL, r->domain, r->p, r->sp,
			       r->adkim, r->aspf };
	for (int k = 0; k < 10; k++)
		if (text[k])
			sqlite3_bind_text(st, k + 1, text[k], -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, r->begin);
	sqlite3_bind_int64(st, 5, r->end);
	sqlite3_bind_int(st, 11, (int)r->pct);
	int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
	sqlite3_finalize(st);
	int added = rc == 0 && sqlite3_changes(s->db) == 1;
	if (rc == 0 && added)
		rc = add_records(s, r, sqlite3_last_insert_rowid(s->db));
	if (rc < 0) {
		sql_fail(s, err, errlen, "insert");
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		return sql_fail(s, err, errlen, "commit");
	return added;
}

static const char *col(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	return t ? (const char *)t : "";
}

static void copy(char *dst, size_t len, const char *src)
{
	snprintf(dst, len, "%s", src);
}

int dmarc_store_each(struct dmarc_store *s, long long since, void (*fn)(const struct dmarc_row *r, void *arg),
		     void *arg, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(s->db, "SELECT r.reporter, r.report_id, r.domain, r.begin, r.end, c.source_ip, "
			       "c.count, c.disposition, c.dkim, c.spf, c.header_from, c.envelope_from, "
			       "c.dkim_domain, c.dkim_result, c.spf_domain, c.spf_result FROM record c "
			       "JOIN report r ON r.id = c.report WHERE r.end >= ? ORDER BY r.begin, r.id",
			       -1, &st, NULL) != SQLITE_OK)
		return sql_fail(s, err, errlen, "select");
	sqlite3_bind_int64(st, 1, since);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct dmarc_record c;
		memset(&c, 0, sizeof(c));
		copy(c.source_ip, sizeof(c.source_ip), col(st, 5));
		c.count = (unsigned long long)sqlite3_column_int64(st, 6);
		copy(c.disposition, sizeof(c.disposition), col(st, 7));
		copy(c.dkim, sizeof(c.dkim), col(st, 8));
		copy(c.spf, sizeof(c.spf), col(st, 9));
		copy(c.header_from, sizeof(c.header_from), col(st, 10));
		copy(c.envelope_from, sizeof(c.envelope_from), col(st, 11));
		copy(c.dkim_domain, sizeof(c.dkim_domain), col(st, 12));
		copy(c.dkim_result, sizeof(c.dkim_result), col(st, 13));
		copy(c.spf_domain, sizeof(c.spf_domain), col(st, 14));
		copy(c.spf_result, sizeof(c.spf_result), col(st, 15));
		struct dmarc_row row = { col(st, 0), col(st, 1), col(st, 2), sqlite3_column_int64(st, 3),
					 sqlite3_column_int64(st, 4), &c };
		fn(&row, arg);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : sql_fail(s, err, errlen, "select");
}
