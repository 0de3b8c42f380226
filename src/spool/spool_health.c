/*
 * spool_health: route_health rows in and out of the spool; see
 * spool_health.h.  Saves are rare (the scheduler saves at most every few
 * seconds, when something changed), so statements are prepared per use.
 */
#include "spool_health.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "spool_int.h"
#include "xmalloc.h"

static char *dup_or_empty(const char *s)
{
	return xstrdup(s ? s : "");
}

static void row_copy(struct spool_health_row *to, const struct spool_health_row *from)
{
	*to = *from;
	to->route = dup_or_empty(from->route);
	to->dclass = dup_or_empty(from->dclass);
	to->state = dup_or_empty(from->state);
	to->reason = dup_or_empty(from->reason);
	to->last_reply = dup_or_empty(from->last_reply);
}

void spool_health_rows_free(struct spool_health_row *rows, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(rows[i].route);
		free(rows[i].dclass);
		free(rows[i].state);
		free(rows[i].reason);
		free(rows[i].last_reply);
	}
	free(rows);
}

static const char *col(sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);
	return s ? (const char *)s : "";
}

int spool_health_read(sqlite3 *db, struct spool_health_row **rows, size_t *n)
{
	static const char sql[] =
		"SELECT route, dclass, state, reason, last_reply, changed, probe_at, updated, fails,"
		" sent_hour, failed_hour FROM route_health ORDER BY route, dclass";
	sqlite3_stmt *st = NULL;
	size_t cap = 0;
	*rows = NULL;
	*n = 0;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == cap) {
			cap = cap ? 2 * cap : 16;
			*rows = xreallocarray(*rows, cap, sizeof(**rows));
		}
		struct spool_health_row r = { (char *)col(st, 0), (char *)col(st, 1), (char *)col(st, 2),
			(char *)col(st, 3), (char *)col(st, 4), (time_t)sqlite3_column_int64(st, 5),
			(time_t)sqlite3_column_int64(st, 6), (time_t)sqlite3_column_int64(st, 7),
			(unsigned)sqlite3_column_int(st, 8), (unsigned)sqlite3_column_int(st, 9),
			(unsigned)sqlite3_column_int(st, 10) };
		row_copy(&(*rows)[(*n)++], &r);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	if (rc == SQLITE_DONE)
		return 0;
	spool_health_rows_free(*rows, *n);
	*rows = NULL;
	*n = 0;
	return -1;
}

static int bind_row(sqlite3_stmt *st, const struct spool_health_row *r)
{
	int rc = spool_bind_text(st, 1, r->route);
	const char *text[] = { r->dclass, r->state, r->reason, r->last_reply };
	for (int i = 0; i < 4 && rc == SQLITE_OK; i++)
		rc = spool_bind_text(st, 2 + i, text[i]);
	sqlite3_int64 num[] = { r->changed, r->probe_at, r->updated, r->fails, r->sent_hour, r->failed_hour };
	for (int i = 0; i < 6 && rc == SQLITE_OK; i++)
		rc = sqlite3_bind_int64(st, 6 + i, num[i]);
	return rc;
}

/* Storage thread, inside the caller's transaction. */
int spool_health_run(struct spool *sp, struct spool_req *r)
{
	struct spool_health_op *op = &r->u.health;
	if (r->kind == SPOOL_REQ_HEALTH_LOAD) {
		spool_health_rows_free(op->rows, op->n);
		return spool_health_read(sp->db, &op->rows, &op->n) == 0 ? SQLITE_OK : SQLITE_ERROR;
	}
	static const char ins[] =
		"INSERT INTO route_health (route, dclass, state, reason, last_reply, changed, probe_at,"
		" updated, fails, sent_hour, failed_hour) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";
	int rc = sqlite3_exec(sp->db, "DELETE FROM route_health", NULL, NULL, NULL);
	sqlite3_stmt *st = NULL;
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(sp->db, ins, -1, &st, NULL);
	for (size_t i = 0; i < op->n && rc == SQLITE_OK; i++) {
		rc = spool_step_done(st, bind_row(st, &op->rows[i]));
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
	}
	sqlite3_finalize(st);
	return rc;
}

static struct spool_req *health_req(enum spool_req_kind kind)
{
	struct spool_req *r = xcalloc(1, sizeof(*r));
	r->kind = kind;
	return r;
}

void spool_health_save(struct spool *sp, const struct spool_health_row *rows, size_t n)
{
	struct spool_req *r = health_req(SPOOL_REQ_HEALTH_SAVE);
	r->u.health.rows = xcalloc(n ? n : 1, sizeof(*rows));
	for (size_t i = 0; i < n; i++)
		row_copy(&r->u.health.rows[i], &rows[i]);
	r->u.health.n = n;
	spool_enqueue(sp, r);
}

void spool_health_load(struct spool *sp, spool_health_cb *cb, void *arg)
{
	struct spool_req *r = health_req(SPOOL_REQ_HEALTH_LOAD);
	r->cb.health = cb;
	r->arg = arg;
	spool_enqueue(sp, r);
}

/* Loop thread: the callback of a load, then the rows go. */
void spool_health_finish(struct spool_req *r, int call)
{
	struct spool_health_op *op = &r->u.health;
	if (call && r->kind == SPOOL_REQ_HEALTH_LOAD && r->cb.health)
		r->cb.health(r->arg, op->rows, r->ok ? op->n : 0);
	spool_health_rows_free(op->rows, op->n);
	op->rows = NULL;
	op->n = 0;
}
