/*
 * spool_admin: what `outpost queue ...` does to the spool from outside the
 * daemon.  It opens its own connection to DIR/queue.db (WAL allows it while
 * the daemon runs; writes wait on a busy timeout) and never holds a
 * transaction longer than one command.
 *
 * Contract: each function returns 0 on success, 1 when the id is not in
 * the queue, -1 with a reason in err on a database error.  Output goes to
 * out, as text or, with json=1, one JSON document (jansson).
 */
#ifndef OUTPOST_SPOOL_ADMIN_H
#define OUTPOST_SPOOL_ADMIN_H
#include <stddef.h>
#include <stdio.h>

int spool_admin_list(const char *dir, int json, FILE *out, char *err, size_t errlen);
int spool_admin_show(const char *dir, const char *id, int json, FILE *out, char *err, size_t errlen);
int spool_admin_delete(const char *dir, const char *id, char *err, size_t errlen);
/* Makes the message (or, for flush, every message) due now. */
int spool_admin_retry(const char *dir, const char *id, char *err, size_t errlen);
int spool_admin_flush(const char *dir, size_t *count, char *err, size_t errlen);
/* The route health the daemon last saved (spool_health.h); free the rows
 * with spool_health_rows_free. */
struct spool_health_row;
int spool_admin_routes(const char *dir, struct spool_health_row **rows, size_t *n, char *err, size_t errlen);

#endif
