/*
 * spool_recover: `outpost spool check` and `outpost spool recover`, the
 * way out of a damaged spool (see spool_check.h for how damage is found).
 *
 * Contract:
 * - spool_check_run() checks DIR/queue.db as outpostd does at start (the
 *   WAL against its index, PRAGMA quick_check, the message counts) and
 *   marks the spool damaged when it is; it reports the messages it could
 *   count.  It also reads every body kept in a segment file (spool_seg.h)
 *   and checks its length and CRC-32C: such messages are counted in
 *   bad_bodies (the spool is not marked damaged: outpostd keeps them and
 *   does not deliver them).  Returns 0 sound, 1 damaged or bad bodies,
 *   -1 error (err).
 * - spool_recover_run() refuses while another process has the spool open
 *   (outpostd must be stopped); moves queue.db and its -wal and -shm aside
 *   as queue.db.damaged-YYYYMMDDTHHMMSSZ (with -wal/-shm), so nothing is
 *   deleted; creates a fresh queue.db and copies into it every message it
 *   can read with its recipients and attempts (a message whose recipients
 *   cannot be read is lost: it could never be delivered), and the route
 *   health; removes the damage mark.  Returns 0 with the counts, -1 (err).
 */
#ifndef OUTPOST_SPOOL_RECOVER_H
#define OUTPOST_SPOOL_RECOVER_H
#include <stddef.h>

struct spool_check_report {
	char why[512];              /* the damage, when damaged */
	long long messages;         /* messages counted, -1 when unreadable */
	long long bad_bodies;       /* messages whose body segment is missing, short or corrupt */
	char body_why[512];         /* the first of them: "qid: why" */
};

struct spool_recover_report {
	char why[512];              /* the damage found, "" when none was recorded */
	char aside[4096];           /* where the damaged files now are */
	long long copied;           /* messages in the new spool */
	long long lost;             /* messages found but not readable whole */
	long long skipped_rows;     /* table rows that could not even be found (corrupt pages) */
};

int spool_check_run(const char *dir, struct spool_check_report *r, char *err, size_t errlen);
int spool_recover_run(const char *dir, struct spool_recover_report *r, char *err, size_t errlen);

#endif
