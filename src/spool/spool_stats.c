/*
 * spool_stats: the read side of the statistics (spool_stats.h): grouped
 * sums over stats_minute, examples of reasons from stats_events.
 */
#include "spool/spool_stats.h"

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "spool/spool.h"

#define STATS_BUSY_MS 5000

static int stats_open(const char *dir, sqlite3 **db, char *err, size_t errlen)
{
	char path[4096];
	if (spool_db_path(dir, "", path, sizeof(path)) < 0)
		return set_error(err, errlen, "spool path too long: %s", dir);
	*db = NULL;
	int rc = sqlite3_open_v2(path, db, SQLITE_OPEN_READONLY, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_busy_timeout(*db, STATS_BUSY_MS);
	if (rc != SQLITE_OK) {
		set_error(err, errlen, "cannot open %s: %s", path, *db ? sqlite3_errmsg(*db) : sqlite3_errstr(rc));
		sqlite3_close(*db);
		*db = NULL;
		return -1;
	}
	return 0;
}

static int stats_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st, char *err, size_t errlen)
{
	if (sqlite3_prepare_v2(db, sql, -1, st, NULL) == SQLITE_OK)
		return 0;
	if (strstr(sqlite3_errmsg(db), "no such table"))
		return set_error(err, errlen, "the spool has no statistics yet (made by an older outpostd): "
				 "start outpostd once");
	return set_error(err, errlen, "statistics: %s", sqlite3_errmsg(db));
}

static const char *col_text(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	return t ? (const char *)t : "";
}

/* totals: one sum per result. */
static int query_totals(sqlite3 *db, long long m0, json_t *out, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	if (stats_prepare(db, "SELECT result, sum(count), sum(bytes) FROM stats_minute WHERE minute >= ?1"
			  " GROUP BY result", &st, err, errlen) < 0)
		return -1;
	json_t *t = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "received", (json_int_t)0, "delivered",
			      (json_int_t)0, "deferred", (json_int_t)0, "bounced", (json_int_t)0, "rejected",
			      (json_int_t)0, "complaints", (json_int_t)0,
			      "bytes_received", (json_int_t)0, "bytes_delivered", (json_int_t)0);
	sqlite3_bind_int64(st, 1, m0);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *r = col_text(st, 0);
		json_object_set_new(t, strcmp(r, "complaint") == 0 ? "complaints" : r,
				    json_integer(sqlite3_column_int64(st, 1)));
		if (strcmp(r, "received") == 0 || strcmp(r, "delivered") == 0) {
			char key[32];
			snprintf(key, sizeof(key), "bytes_%s", r);
			json_object_set_new(t, key, json_integer(sqlite3_column_int64(st, 2)));
		}
	}
	sqlite3_finalize(st);
	json_object_set_new(out, "totals", t);
	return 0;
}

/* rows (into out's member name): per key of `by`, the counts per result
 * and the delays of deliveries. */
static int query_rows(sqlite3 *db, long long m0, const char *by, unsigned top, json_t *out, const char *name,
		      char *err, size_t errlen)
{
	char sql[1024];
	sqlite3_stmt *st;
	int n = snprintf(sql, sizeof(sql),
		"SELECT %s AS k, sum(CASE result WHEN 'received' THEN count END),"
		" sum(CASE result WHEN 'delivered' THEN count END), sum(CASE result WHEN 'deferred' THEN count END),"
		" sum(CASE result WHEN 'bounced' THEN count END),"
		" sum(CASE result WHEN 'delivered' THEN delay_sum END), max(CASE result WHEN 'delivered' THEN delay_max END),"
		" sum(CASE result WHEN 'complaint' THEN count END)"
		" FROM stats_minute WHERE minute >= ?1 AND result != 'rejected' %s"
		" GROUP BY k ORDER BY sum(count) DESC, k LIMIT ?2", by,
		/* received rows name a sender and a tenant, not a route or domain;
		 * refusals (no message, no route) have their own table */
		strcmp(by, "sender") == 0 || strcmp(by, "tenant") == 0 ? ""
		: strcmp(by, "reason") == 0 ? "AND reason != ''" : "AND result != 'received'");
	if (n < 0 || (size_t)n >= sizeof(sql))
		return set_error(err, errlen, "statistics: query too long");
	if (stats_prepare(db, sql, &st, err, errlen) < 0)
		return -1;
	sqlite3_bind_int64(st, 1, m0);
	sqlite3_bind_int(st, 2, (int)top);
	json_t *rows = json_array();
	while (sqlite3_step(st) == SQLITE_ROW) {
		json_int_t delivered = sqlite3_column_int64(st, 2);
		double avg = delivered ? (double)sqlite3_column_int64(st, 5) / (double)delivered : 0;
		json_array_append_new(rows, json_pack("{s:s,s:I,s:I,s:I,s:I,s:I,s:f,s:I}", "key", col_text(st, 0),
			"received", (json_int_t)sqlite3_column_int64(st, 1), "delivered", delivered,
			"deferred", (json_int_t)sqlite3_column_int64(st, 3),
			"bounced", (json_int_t)sqlite3_column_int64(st, 4),
			"complaints", (json_int_t)sqlite3_column_int64(st, 7), "avg_delay", avg,
			"max_delay", (json_int_t)sqlite3_column_int64(st, 6)));
	}
	sqlite3_finalize(st);
	json_object_set_new(out, name, rows);
	return 0;
}

/* The latest reply with this reason among the raw events (NULL when gone). */
static json_t *reason_example(sqlite3 *db, const char *result, const char *reason, time_t since)
{
	sqlite3_stmt *st;
	json_t *ex = json_null();
	if (sqlite3_prepare_v2(db, "SELECT detail FROM stats_events WHERE event = ?1 AND time >= ?2"
			       " AND (?3 = '' OR instr(detail, ?3) > 0) ORDER BY id DESC LIMIT 1", -1, &st,
			       NULL) != SQLITE_OK)
		return ex;
	sqlite3_bind_text(st, 1, result, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)since);
	sqlite3_bind_text(st, 3, reason, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		json_decref(ex);
		ex = json_string(col_text(st, 0));
	}
	sqlite3_finalize(st);
	return ex;
}

static int query_reasons(sqlite3 *db, long long m0, time_t since, const char *result, unsigned top,
			 json_t *out, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	if (stats_prepare(db, "SELECT reason, sum(count) FROM stats_minute WHERE minute >= ?1 AND result = ?2"
			  " GROUP BY reason ORDER BY 2 DESC, 1 LIMIT ?3", &st, err, errlen) < 0)
		return -1;
	sqlite3_bind_int64(st, 1, m0);
	sqlite3_bind_text(st, 2, result, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, (int)top);
	json_t *a = json_array();
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *reason = col_text(st, 0);
		json_array_append_new(a, json_pack("{s:s,s:I,s:o}", "reason", reason[0] ? reason : "none",
			"count", (json_int_t)sqlite3_column_int64(st, 1), "example",
			reason_example(db, result, reason, since)));
	}
	sqlite3_finalize(st);
	json_object_set_new(out, result[0] == 'b' ? "bounce_reasons"
			    : result[0] == 'r' ? "rejection_reasons" : "deferral_reasons", a);
	return 0;
}

/* Per hour and route, for charts. */
static int query_hourly(sqlite3 *db, long long m0, json_t *out, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	if (stats_prepare(db, "SELECT minute / 60 AS h, route, sum(CASE result WHEN 'delivered' THEN count END),"
			  " sum(CASE result WHEN 'deferred' THEN count END), sum(CASE result WHEN 'bounced' THEN count END)"
			  " FROM stats_minute WHERE minute >= ?1 AND result IN ('delivered', 'deferred', 'bounced')"
			  " GROUP BY h, route ORDER BY h, route",
			  &st, err, errlen) < 0)
		return -1;
	sqlite3_bind_int64(st, 1, m0);
	json_t *a = json_array();
	while (sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(a, json_pack("{s:I,s:s,s:I,s:I,s:I}", "hour",
			(json_int_t)sqlite3_column_int64(st, 0) * 3600, "route", col_text(st, 1),
			"delivered", (json_int_t)sqlite3_column_int64(st, 2),
			"deferred", (json_int_t)sqlite3_column_int64(st, 3),
			"bounced", (json_int_t)sqlite3_column_int64(st, 4)));
	sqlite3_finalize(st);
	json_object_set_new(out, "hourly", a);
	return 0;
}

static const char *by_column(const char *by)
{
	static const char *const names[][2] = { { "route", "route" }, { "reason", "reason" },
		{ "domain", "domain" }, { "sender", "sender" }, { "tenant", "tenant" } };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(by, names[i][0]) == 0)
			return names[i][1];
	return NULL;
}

json_t *spool_stats_query(const char *dir, time_t since, time_t now, const char *by, unsigned top,
			  char *err, size_t errlen)
{
	sqlite3 *db;
	const char *col = by_column(by);
	if (col == NULL) {
		set_error(err, errlen, "--by %s: expected route, reason, domain, sender or tenant", by);
		return NULL;
	}
	if (stats_open(dir, &db, err, errlen) < 0)
		return NULL;
	long long m0 = (long long)since / 60;
	json_t *out = json_pack("{s:I,s:I,s:s}", "since", (json_int_t)since, "until", (json_int_t)now, "by", by);
	/* one read transaction: every table as of one moment */
	int ok = sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK &&
		 query_totals(db, m0, out, err, errlen) == 0 &&
		 query_rows(db, m0, col, top, out, "rows", err, errlen) == 0 &&
		 query_rows(db, m0, "tenant", top, out, "tenants", err, errlen) == 0 &&
		 query_reasons(db, m0, since, "bounced", top, out, err, errlen) == 0 &&
		 query_reasons(db, m0, since, "deferred", top, out, err, errlen) == 0 &&
		 query_reasons(db, m0, since, "rejected", top, out, err, errlen) == 0 &&
		 query_hourly(db, m0, out, err, errlen) == 0;
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	sqlite3_close(db);
	if (!ok) {
		json_decref(out);
		return NULL;
	}
	return out;
}

json_t *spool_stats_tenant(const char *dir, const char *tenant, time_t since, char *err, size_t errlen)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	if (stats_open(dir, &db, err, errlen) < 0)
		return NULL;
	if (stats_prepare(db, "SELECT result, sum(count) FROM stats_minute WHERE minute >= ?1 AND tenant = ?2"
			  " GROUP BY result", &st, err, errlen) < 0) {
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_bind_int64(st, 1, (sqlite3_int64)since / 60);
	sqlite3_bind_text(st, 2, tenant, -1, SQLITE_STATIC);
	json_t *c = json_pack("{s:I,s:I,s:I,s:I,s:I}", "received", (json_int_t)0, "delivered", (json_int_t)0,
			      "deferred", (json_int_t)0, "bounced", (json_int_t)0, "complaints", (json_int_t)0);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *r = col_text(st, 0);
		json_object_set_new(c, strcmp(r, "complaint") == 0 ? "complaints" : r,
				    json_integer(sqlite3_column_int64(st, 1)));
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	return c;
}

json_t *spool_stats_events(const char *dir, unsigned limit, char *err, size_t errlen)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	if (stats_open(dir, &db, err, errlen) < 0)
		return NULL;
	if (stats_prepare(db, "SELECT time, event, qid, route, rcpt, detail, id FROM stats_events"
			  " ORDER BY id DESC LIMIT ?1", &st, err, errlen) < 0) {
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_bind_int(st, 1, (int)limit);
	json_t *a = json_array();
	while (sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(a, json_pack("{s:I,s:s,s:s,s:s,s:s,s:s,s:I}", "time",
			(json_int_t)sqlite3_column_int64(st, 0), "event", col_text(st, 1), "qid", col_text(st, 2),
			"route", col_text(st, 3), "rcpt", col_text(st, 4), "detail", col_text(st, 5), "id",
			(json_int_t)sqlite3_column_int64(st, 6)));
	sqlite3_finalize(st);
	sqlite3_close(db);
	return a;
}

int spool_queue_ages(const char *dir, time_t now, long long counts[SPOOL_AGE_BUCKETS], char *err, size_t errlen)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	if (stats_open(dir, &db, err, errlen) < 0)
		return -1;
	if (stats_prepare(db, "SELECT sum(created > ?1 - 300), sum(created <= ?1 - 300 AND created > ?1 - 3600),"
			  " sum(created <= ?1 - 3600 AND created > ?1 - 21600),"
			  " sum(created <= ?1 - 21600 AND created > ?1 - 86400), sum(created <= ?1 - 86400)"
			  " FROM messages", &st, err, errlen) < 0) {
		sqlite3_close(db);
		return -1;
	}
	sqlite3_bind_int64(st, 1, (sqlite3_int64)now);
	int rc = sqlite3_step(st);
	for (int i = 0; i < SPOOL_AGE_BUCKETS; i++)
		counts[i] = rc == SQLITE_ROW ? sqlite3_column_int64(st, i) : 0;
	if (rc != SQLITE_ROW)
		set_error(err, errlen, "queue ages: %s", sqlite3_errmsg(db));
	sqlite3_finalize(st);
	sqlite3_close(db);
	return rc == SQLITE_ROW ? 0 : -1;
}
