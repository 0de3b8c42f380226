/*
 * suppress_set: the daemon's copy of the suppression list in memory, so
 * the RCPT-time check (every inbound loop) and the delivery-time check (the
 * scheduler, main loop) answer without SQLite: no read transaction, no
 * WAL lock (fcntl) and no contention on SQLite's per-file mutex with the
 * storage thread.
 *
 * Contract:
 * - suppress_set_check() answers exactly what suppress_check() answers on
 *   the spool (suppress.h): the address lower-cased, the scopes "" (global),
 *   "domain:SENDERDOMAIN" (lower-cased; "domain:" with no sender domain)
 *   and "user:USER" ("user:" with none), the first of them in that order
 *   that is listed and not expired at now (expires 0 never expires; an
 *   entry with expires <= now no longer suppresses).  hit gets address,
 *   scope, reason, source, status, qid, first and expires (what the reply
 *   and the log line use); diagnostic is "", last = first, count 1.
 * - Readers run on any thread at any time.  Writers (suppress_set_load,
 *   _refresh, _put, _remove) may run on any thread too; they are
 *   serialised by a mutex of their own, so a refresh that reads the spool
 *   and applies what it read is atomic against every other writer: the
 *   last refresh of a key applies the spool's latest row.
 * - Concurrency: a read-write lock that readers take shared for the few
 *   probes of one check (glibc: one atomic add, no syscall, when no writer
 *   holds it) and writers take exclusively only to link or unlink one
 *   record or to swap in a whole table built beside the live one (a load
 *   of 1,000,000 rows, a growth of the index): a reader never waits for
 *   SQLite or for a rehash.  The lock prefers writers so a stream of
 *   checks cannot starve an update.  (An RCU-like swap of immutable
 *   snapshots was not chosen: every single add would copy the whole set.)
 * - Memory: records are packed in 1 MiB chunks (times, offsets and the
 *   strings "address scope qid reason status" one after the other); the
 *   index is an open-addressing table of pointers, at most 3/4 full.  A
 *   replaced or removed record stays in its chunk until the chunks are
 *   compacted (when dead bytes exceed the live ones) or the set is loaded
 *   again.  suppress_set_stats() gives the entries and the bytes held.
 * - A writer's database errors are returned (-1 with err) and leave the
 *   set as it was.
 */
#ifndef OUTPOST_FEEDBACK_SUPPRESS_SET_H
#define OUTPOST_FEEDBACK_SUPPRESS_SET_H
#include <sqlite3.h>
#include <stddef.h>
#include <time.h>

#include "feedback/suppress.h"

struct suppress_set;

struct suppress_set *suppress_set_new(void);
void suppress_set_free(struct suppress_set *s);

/* Replaces the whole set with the table's entries not expired at now;
 * the number loaded, or -1 with err (the set unchanged). */
long suppress_set_load(struct suppress_set *s, sqlite3 *db, time_t now, char *err, size_t errlen);
/* Makes (address, scope) what the spool says at now: added or replaced
 * when it has a live row, removed when not.  1 listed, 0 not, -1 error. */
int suppress_set_refresh(struct suppress_set *s, sqlite3 *db, const char *address, const char *scope, time_t now,
			 char *err, size_t errlen);
/* Adds or replaces one entry (e->address lower-cased here). */
void suppress_set_put(struct suppress_set *s, const struct suppression *e);
/* 1 when (address, scope) was in the set. */
int suppress_set_remove(struct suppress_set *s, const char *address, const char *scope);

/* 1 when rcpt is suppressed for this sender domain / user (either may be
 * NULL) at now, hit filled; 0 when not. */
int suppress_set_check(struct suppress_set *s, const char *rcpt, const char *sender_domain, const char *user,
		       time_t now, struct suppression *hit);

struct suppress_set_stats {
	size_t entries;      /* records in the index (expired ones included until reloaded) */
	size_t bytes;        /* chunks + index, as allocated */
	size_t dead_bytes;   /* of the chunks, records replaced or removed */
};
void suppress_set_stats(struct suppress_set *s, struct suppress_set_stats *st);

#endif
