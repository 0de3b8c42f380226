/*
 * suppress: the suppression list in the spool (table suppression of
 * DIR/queue.db, schema version 5): addresses outpost no longer mails,
 * each with its scope, reason, source, first and last event, count and
 * expiry; and the soft-failure counts that put an address on it after N
 * "mailbox full" bounces in D days.
 *
 * Contract:
 * - Addresses are stored and looked up lower-cased.  scope is "" (global),
 *   "domain:SENDERDOMAIN" or "user:TENANT".  expires 0 means never (hard
 *   bounces, complaints, manual and imported entries unless given one).
 * - The functions take an open connection (any thread that owns it) and
 *   return 0 / 1 as documented, -1 with a reason in err on a database
 *   error.  suppress_put() is an upsert: a known address keeps its first
 *   event and counts one more.
 * - struct suppress_check is the RCPT-time lookup: its own read-only
 *   connection and one prepared statement on the primary key, so a check
 *   is one index seek (bench/suppress_bench.c measures it).
 */
#ifndef OUTPOST_FEEDBACK_SUPPRESS_H
#define OUTPOST_FEEDBACK_SUPPRESS_H
#include <sqlite3.h>
#include <stddef.h>
#include <stdio.h>
#include <time.h>

struct suppression {
	char address[320];
	char scope[300];
	char reason[24];
	char source[12];         /* "bounce", "complaint", "manual", "import" */
	char status[16];         /* "5.1.1", or "" */
	char qid[40];            /* the queue id of the message that caused it, or "" */
	char diagnostic[300];
	time_t first, last, expires;
	unsigned count;
};

int suppress_valid_source(const char *source);
/* 1 when (address, scope) is suppressed now (out filled), 0 when not. */
int suppress_get(sqlite3 *db, const char *address, const char *scope, time_t now, struct suppression *out,
		 char *err, size_t errlen);
int suppress_put(sqlite3 *db, const struct suppression *s, char *err, size_t errlen);
/* 1 when removed, 0 when there was nothing to remove. */
int suppress_remove(sqlite3 *db, const char *address, const char *scope, char *err, size_t errlen);
/* Calls fn for every entry (expired ones too), ordered by address. */
int suppress_each(sqlite3 *db, void (*fn)(void *arg, const struct suppression *s), void *arg, char *err,
		  size_t errlen);

/* One more soft failure of address at now; *count gets the failures
 * within the last window seconds (older ones start the count over). */
int suppress_soft_failure(sqlite3 *db, const char *address, time_t now, unsigned window, unsigned *count,
			  char *err, size_t errlen);
/* A delivery succeeded: the soft count starts over. */
int suppress_soft_clear(sqlite3 *db, const char *address, char *err, size_t errlen);

/* CSV with a header line: address (or email), scope, reason, source,
 * status, first_event (or created), last_event, count, expires; columns
 * in any order, all but the address optional; times as ISO 8601
 * (2026-11-28, 2026-11-28T10:00:00Z) or seconds since the epoch.
 * Imported entries keep their source when it is one of ours, else
 * "import".  *n gets the rows imported; a bad row fails the whole import
 * (one transaction) naming its line. */
int suppress_import_csv(sqlite3 *db, FILE *in, time_t now, size_t *n, char *err, size_t errlen);
int suppress_export_csv(sqlite3 *db, FILE *out, char *err, size_t errlen);

/* The SMTP reply for a suppressed recipient, e.g. "550 5.1.1 <x@y>:
 * suppressed since 2026-11-28 after a hard bounce (5.1.1 user unknown)". */
void suppress_reply(const struct suppression *s, const char *rcpt, char *out, size_t outlen);

struct suppress_check;
/* NULL with err when DIR/queue.db cannot be opened. */
struct suppress_check *suppress_check_open(const char *spool_dir, char *err, size_t errlen);
void suppress_check_close(struct suppress_check *c);
/* 1 when rcpt is suppressed for this sender domain / user (either may be
 * NULL) at now, hit filled; 0 when not; -1 on a database error (the
 * caller lets the mail through: a suppression list must never lose mail). */
int suppress_check(struct suppress_check *c, const char *rcpt, const char *sender_domain, const char *user,
		   time_t now, struct suppression *hit);

#endif
