/*
 * spool_obs: what the spool tells the operator.
 *
 * Contract:
 * - Gauges without a scan: the number of messages, the age of the oldest,
 *   the size of the database.  The storage thread refreshes them after
 *   each round of work (three indexed reads: the trigger-kept count in
 *   queue_totals, the first id of the messages' key, PRAGMA page_count),
 *   read inside the round's last write transaction just before its COMMIT
 *   (so they cost no read transaction and no WAL lock of their own; a
 *   round where nothing committed reads them alone), so spool_gauges() is
 *   a copy under the spool's mutex, safe from any thread, at most one
 *   round old.
 * - Statistics that last: every message committed and every recipient
 *   outcome recorded adds to a per-minute rollup (stats_minute: minute,
 *   route, result, reason = enhanced status code, recipient domain,
 *   sender, tenant ("" for mail without one); count, bytes, delay sum and
 *   max) and a raw event
 *   (stats_events), in the same transaction (no fsync of its own).
 *   Retention is bounded: rollups for SPOOL_OBS_DAYS, the last
 *   SPOOL_OBS_EVENTS raw events, except those a webhook has not sent yet
 *   (webhook_cursor): those stay until it has.
 */
#ifndef OUTPOST_SPOOL_OBS_H
#define OUTPOST_SPOOL_OBS_H
#include <sqlite3.h>
#include <stdint.h>
#include <time.h>

struct spool;

#define SPOOL_OBS_DAYS 30
#define SPOOL_OBS_EVENTS 100000

struct spool_gauges {
	uint64_t messages;      /* in the spool */
	time_t oldest;          /* created of the oldest, 0 when empty */
	uint64_t bytes;         /* pages of the database, in octets */
};

void spool_gauges(struct spool *sp, struct spool_gauges *g);

/* A complaint (ARF) about a message outpost sent, counted on db (any
 * read-write connection to the spool: the feedback loop's) as result
 * 'complaint' in the rollup of now's minute with the message's route,
 * recipient domain, sender and tenant (NULL or "": none known).
 * Complaints are rare: the statement is prepared each time.  An SQLite
 * result code. */
int spool_obs_complaint(sqlite3 *db, time_t now, const char *route, const char *domain, const char *sender,
			const char *tenant);

/* An event that concerns no message being committed or recorded (a route
 * down or up, a failover, a complaint, a listing...): one raw event row
 * (stats_events, so webhooks send it), written by the storage thread in
 * its next transaction, after every request queued before it.  Strings
 * are copied; qid, route, rcpt and detail may be NULL.  Any thread, while
 * the spool is open. */
void spool_event(struct spool *sp, const char *event, const char *qid, const char *route, const char *rcpt,
		 const char *detail);

/* A message or recipient refused at SMTP time, for reason (a short word,
 * obs_rejected()'s class): counted in memory under the spool's mutex (any
 * thread, no I/O) and added to stats_minute (result 'rejected', route,
 * domain, sender and tenant "") by the storage thread inside the next
 * transaction of queue operations it runs anyway (records, claims, the
 * scheduler's health save every minute at the latest), so a refusal costs
 * no fsync of its own.  spool_close() flushes what is left. */
void spool_count_rejected(struct spool *sp, const char *reason, time_t now);
/* Any thread but the storage thread: queues a flush of the counted
 * refusals (when there are some) and waits until every flush queued so far
 * is committed, so a read of the statistics that follows sees them. */
void spool_flush_rejected(struct spool *sp);

#endif
