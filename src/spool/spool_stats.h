/*
 * spool_stats: `outpost stats` from the spool's statistics tables
 * (spool_obs.h), not from logs.
 *
 * Contract: spool_stats_query() opens DIR/queue.db read-only (a reader
 * beside the running daemon, WAL), reads the rollups of the minutes from
 * since to now and returns one JSON object, the same for the CLI's --json,
 * its text and the HTTP API:
 *   { "since": T, "until": T,
 *     "totals": { "received", "delivered", "deferred", "bounced", "rejected",
 *                 "complaints", "bytes_received", "bytes_delivered" },
 *     "by": "route"|"reason"|"domain"|"sender"|"tenant",
 *     "rows": [ { "key", "received", "delivered", "deferred", "bounced",
 *                 "complaints", "avg_delay", "max_delay" } ... ]
 *             (the top `top`, by volume; key "" is mail of no tenant, route...)
 *     "tenants": [ the same rows by tenant, whatever `by` is ],
 *     "bounce_reasons": [ { "reason", "count", "example" } ... ],
 *     "deferral_reasons": [ ... ],
 *     "rejection_reasons": [ { "reason", "count", "example": null } ... ]
 *             (messages and recipients refused at SMTP time, by the class
 *             of outpost_messages_rejected_total: relay_denied, size, ...;
 *             not in rows: a refusal has no route, domain or sender),
 *     "hourly": [ { "hour": T, "route", "delivered", "deferred", "bounced" } ... ] }
 * Delays are seconds from acceptance (delivered recipients for
 * route/domain/sender/tenant rows).  Complaints are counted when a
 * complaint (ARF) about a message arrives, received when it was accepted,
 * the rest when its recipients' outcomes were recorded.  NULL with err when
 * the spool cannot be read or predates the statistics (schema < 4).
 */
#ifndef OUTPOST_SPOOL_STATS_H
#define OUTPOST_SPOOL_STATS_H
#include <jansson.h>
#include <stddef.h>
#include <time.h>

json_t *spool_stats_query(const char *dir, time_t since, time_t now, const char *by, unsigned top,
			  char *err, size_t errlen);
/* One tenant's counts since since ("" for mail of no tenant):
 * { "received", "delivered", "deferred", "bounced", "complaints" }. */
json_t *spool_stats_tenant(const char *dir, const char *tenant, time_t since, char *err, size_t errlen);
/* Recent raw events, newest first: [ { "id", "time", "event", "qid", "route", "rcpt", "detail" } ]. */
json_t *spool_stats_events(const char *dir, unsigned limit, char *err, size_t errlen);

/* Messages in the spool by age: under 5 min, 5-60 min, 1-6 h, 6-24 h,
 * older (one pass over the messages' rows, for the status page). */
#define SPOOL_AGE_BUCKETS 5
int spool_queue_ages(const char *dir, time_t now, long long counts[SPOOL_AGE_BUCKETS], char *err,
		     size_t errlen);

#endif
