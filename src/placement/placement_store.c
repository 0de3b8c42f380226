/*
 * placement_store: probe results in SPOOL/placement.db (see
 * placement_store.h).
 */
#include "placement/placement_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "core/xmalloc.h"

#define BUSY_MS 5000

struct placement_store {
	sqlite3 *db;
};

static const char schema[] =
	"CREATE TABLE IF NOT EXISTS probe (id INTEGER PRIMARY KEY, time INTEGER NOT NULL, route TEXT NOT NULL, "
	" seed TEXT NOT NULL, provider TEXT NOT NULL, token TEXT NOT NULL, qid TEXT, result TEXT NOT NULL, "
	" folder TEXT, detail TEXT);"
	"CREATE INDEX IF NOT EXISTS probe_route_seed ON probe(route, seed, id);";

static int sql_fail(struct placement_store *s, char *err, size_t errlen, const char *what)
{
	snprintf(err, errlen, "placement store: %s: %s", what, sqlite3_errmsg(s->db));
	return -1;
}

struct placement_store *placement_store_open(const char *spool_dir, int create, char *err, size_t errlen)
{
	struct stat sb;
	char *path = xasprintf("%s/placement.db", spool_dir);
	if (!create && stat(path, &sb) < 0) {
		snprintf(err, errlen, "no placement results in %s yet", path);
		free(path);
		return NULL;
	}
	struct placement_store *s = xcalloc(1, sizeof(*s));
	int rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0), NULL);
	if (rc != SQLITE_OK || sqlite3_busy_timeout(s->db, BUSY_MS) != SQLITE_OK ||
	    sqlite3_exec(s->db, "PRAGMA journal_mode=WAL;", NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(s->db, schema, NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "placement store %s: %s", path, s->db ? sqlite3_errmsg(s->db) : "cannot open");
		free(path);
		placement_store_close(s);
		return NULL;
	}
	free(path);
	return s;
}

void placement_store_close(struct placement_store *s)
{
	if (s == NULL)
		return;
	sqlite3_close(s->db);
	free(s);
}

static int insert_rows(struct placement_store *s, const struct placement_result *r, size_t n)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(s->db, "INSERT INTO probe (time, route, seed, provider, token, qid, result, folder,"
			       " detail) VALUES (?,?,?,?,?,?,?,?,?)", -1, &st, NULL) != SQLITE_OK)
		return -1;
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		const char *text[] = { r[i].route, r[i].seed, r[i].provider, r[i].token, r[i].qid, r[i].result,
				       r[i].folder, r[i].detail };
		sqlite3_bind_int64(st, 1, r[i].time);
		for (int k = 0; k < 8; k++)
			sqlite3_bind_text(st, k + 2, text[k], -1, SQLITE_STATIC);
		rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	return rc;
}

/* Only the newest keep rows of each route and seed of this round stay. */
static int prune(struct placement_store *s, const struct placement_result *r, size_t n, unsigned keep)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(s->db, "DELETE FROM probe WHERE route = ?1 AND seed = ?2 AND id NOT IN (SELECT id "
			       "FROM probe WHERE route = ?1 AND seed = ?2 ORDER BY id DESC LIMIT ?3)", -1, &st,
			       NULL) != SQLITE_OK)
		return -1;
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		sqlite3_bind_text(st, 1, r[i].route, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, r[i].seed, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, keep);
		rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	return rc;
}

int placement_store_add(struct placement_store *s, const struct placement_result *r, size_t n, unsigned keep,
			char *err, size_t errlen)
{
	if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return sql_fail(s, err, errlen, "begin");
	if (insert_rows(s, r, n) < 0 || prune(s, r, n, keep) < 0) {
		sql_fail(s, err, errlen, "insert");
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		sql_fail(s, err, errlen, "commit");
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	return 0;
}

static char *col(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	return xstrdup(t ? (const char *)t : "");
}

/* The counts of the newest window rows of l's route and seed. */
static int count_window(struct placement_store *s, struct placement_line *l, unsigned window)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(s->db, "SELECT result FROM probe WHERE route = ?1 AND seed = ?2 AND result != "
			       "'error' ORDER BY id DESC LIMIT ?3", -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(st, 1, l->route, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, l->seed, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, window);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *res = (const char *)sqlite3_column_text(st, 0);
		l->n++;
		l->inbox += res && strcmp(res, "inbox") == 0;
		l->spam += res && strcmp(res, "spam") == 0;
		l->missing += res && strcmp(res, "missing") == 0;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

int placement_store_summary(struct placement_store *s, unsigned window, struct placement_line **out, size_t *n,
			    char *err, size_t errlen)
{
	sqlite3_stmt *st;
	*out = NULL;
	*n = 0;
	if (sqlite3_prepare_v2(s->db, "SELECT route, seed, provider, token, result, folder, detail, time FROM probe "
			       "WHERE id IN (SELECT max(id) FROM probe GROUP BY route, seed) ORDER BY route, seed",
			       -1, &st, NULL) != SQLITE_OK)
		return sql_fail(s, err, errlen, "summary");
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		*out = xreallocarray(*out, *n + 1, sizeof(**out));
		struct placement_line *l = &(*out)[(*n)++];
		*l = (struct placement_line){ col(st, 0), col(st, 1), col(st, 2), col(st, 3), col(st, 4), col(st, 5),
					      col(st, 6), sqlite3_column_int64(st, 7), 0, 0, 0, 0 };
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return sql_fail(s, err, errlen, "summary");
	for (size_t i = 0; i < *n; i++)
		if (count_window(s, &(*out)[i], window) < 0)
			return sql_fail(s, err, errlen, "trend");
	return 0;
}

void placement_lines_free(struct placement_line *l, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(l[i].route);
		free(l[i].seed);
		free(l[i].provider);
		free(l[i].token);
		free(l[i].result);
		free(l[i].folder);
		free(l[i].detail);
	}
	free(l);
}
