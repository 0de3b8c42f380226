/*
 * tenant_guard: tenant holds kept in the spool; see tenant_guard.h.
 * One worker thread owns the connection: writes and reads run in the order
 * they were submitted, so a poll submitted after a write sees it.
 */
#include "inbound/tenant_guard.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/worker.h"
#include "core/xmalloc.h"
#include "core/config.h"
#include "inbound/tenant.h"
#include "obs/metrics.h"

struct tenant_guard {
	sqlite3 *db;
	struct worker_pool *workers;
	struct event *poll_ev;
	unsigned gen;                /* bumped by each new hold */
	int polling;
};

struct guard_job {
	struct tenant_guard *g;
	unsigned gen;
	struct tenant_hold hold;     /* write: the hold (strings owned) */
	time_t since;
	struct tenant_state_row *rows;   /* read: what the table holds */
	size_t n;
	int ok;
};

int tenant_state_read(sqlite3 *db, struct tenant_state_row **rows, size_t *n, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, "SELECT name, held, reason, since FROM tenant_state WHERE held != 0"
				    " ORDER BY name", -1, &st, NULL);
	*rows = NULL;
	*n = 0;
	while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *reason = (const char *)sqlite3_column_text(st, 2);
		*rows = xreallocarray(*rows, *n + 1, sizeof(**rows));
		(*rows)[(*n)++] = (struct tenant_state_row){ xstrdup((const char *)sqlite3_column_text(st, 0)),
			xstrdup(reason ? reason : ""), sqlite3_column_int(st, 1), (time_t)sqlite3_column_int64(st, 3) };
		rc = SQLITE_OK;
	}
	if (rc != SQLITE_DONE) {
		snprintf(err, errlen, "tenant_state: %s", sqlite3_errmsg(db));
		sqlite3_finalize(st);
		tenant_state_free(*rows, *n);
		*rows = NULL;
		*n = 0;
		return -1;
	}
	sqlite3_finalize(st);
	return 0;
}

void tenant_state_free(struct tenant_state_row *rows, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(rows[i].name);
		free(rows[i].reason);
	}
	free(rows);
}

int tenant_state_release(sqlite3 *db, const char *name, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, "UPDATE tenant_state SET held = 0 WHERE name = ?1 AND held != 0", -1, &st,
				    NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		snprintf(err, errlen, "tenant_state: %s", sqlite3_errmsg(db));
		return -1;
	}
	return sqlite3_changes(db) > 0;
}

/* The rows as holds for tenant_holds_sync (pointing into rows). */
static void sync_rows(const struct tenant_state_row *rows, size_t n)
{
	struct tenant_hold *h = xcalloc(n + 1, sizeof(*h));
	for (size_t i = 0; i < n; i++)
		h[i] = (struct tenant_hold){ rows[i].name, rows[i].reason, rows[i].held == 2 };
	tenant_holds_sync(h, n);
	free(h);
}

static void job_free(void *arg)
{
	struct guard_job *j = arg;
	free((char *)j->hold.name);
	free((char *)j->hold.why);
	tenant_state_free(j->rows, j->n);
	free(j);
}

static void read_run(void *arg)
{
	struct guard_job *j = arg;
	char err[256];
	j->ok = tenant_state_read(j->g->db, &j->rows, &j->n, err, sizeof(err)) == 0;
	if (!j->ok)
		msg_warn("event=tenant_state_error op=read error=\"%s\"", err);
}

static void read_done(void *arg)
{
	struct guard_job *j = arg;
	j->g->polling = 0;
	if (j->ok && j->gen == j->g->gen)
		sync_rows(j->rows, j->n);
	job_free(j);
}

static void write_run(void *arg)
{
	struct guard_job *j = arg;
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(j->g->db, "INSERT OR REPLACE INTO tenant_state (name, held, reason, since)"
				    " VALUES (?1, ?2, ?3, ?4)", -1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(st, 1, j->hold.name, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int(st, 2, j->hold.throttled ? 2 : 1);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(st, 3, j->hold.why, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 4, (sqlite3_int64)j->since);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		msg_warn("event=tenant_state_error op=write tenant=%s error=\"%s\"", j->hold.name,
			 sqlite3_errmsg(j->g->db));
	sqlite3_finalize(st);
}

static void on_hold(void *arg, const struct tenant_hold *h, time_t since)
{
	struct tenant_guard *g = arg;
	struct guard_job *j = xcalloc(1, sizeof(*j));
	j->g = g;
	j->hold = (struct tenant_hold){ xstrdup(h->name), xstrdup(h->why), h->throttled };
	j->since = since;
	g->gen++;
	worker_submit(g->workers, write_run, job_free, job_free, j);
}

static void on_poll(evutil_socket_t fd, short what, void *arg)
{
	struct tenant_guard *g = arg;
	(void)fd;
	(void)what;
	if (g->polling)
		return;
	struct guard_job *j = xcalloc(1, sizeof(*j));
	j->g = g;
	j->gen = g->gen;
	g->polling = 1;
	worker_submit(g->workers, read_run, read_done, job_free, j);
}

struct tenant_guard *tenant_guard_new(struct event_base *base, const char *spool_dir, char *err, size_t errlen)
{
	char path[4096];
	struct tenant_guard *g = xcalloc(1, sizeof(*g));
	struct tenant_state_row *rows;
	size_t n;
	int len = snprintf(path, sizeof(path), "%s/queue.db", spool_dir);
	if (len < 0 || (size_t)len >= sizeof(path) ||
	    sqlite3_open_v2(path, &g->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "tenants: cannot open %s: %s", path, g->db ? sqlite3_errmsg(g->db) : "");
		tenant_guard_free(g);
		return NULL;
	}
	sqlite3_busy_timeout(g->db, 5000);
	if (tenant_state_read(g->db, &rows, &n, err, errlen) < 0) {
		tenant_guard_free(g);
		return NULL;
	}
	sync_rows(rows, n);
	tenant_state_free(rows, n);
	g->workers = worker_pool_new(base, 1);
	tenant_set_hold_hook(on_hold, g);
	struct timeval every = { TENANT_GUARD_POLL, 0 };
	g->poll_ev = event_new(base, -1, EV_PERSIST, on_poll, g);
	event_add(g->poll_ev, &every);
	return g;
}

void tenant_guard_free(struct tenant_guard *g)
{
	if (g == NULL)
		return;
	tenant_set_hold_hook(NULL, NULL);
	if (g->poll_ev)
		event_free(g->poll_ev);
	if (g->workers)
		worker_pool_free(g->workers);   /* finishes queued writes first */
	sqlite3_close(g->db);
	free(g);
}

void tenant_state_metrics(void *arg)
{
	static const char *const states[] = { "ok", "held", "throttled" };
	const struct config *cf = *(struct config *const *)arg;
	metrics_clear(M_TENANT_STATE);
	for (size_t i = 0; i < cf->ntenants; i++) {
		int now = tenant_hold_state(cf->tenants[i].name);
		for (int k = 0; k < 3; k++)
			metrics_set(M_TENANT_STATE, cf->tenants[i].name, states[k], NULL, k == now);
	}
}
