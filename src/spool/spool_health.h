/*
 * spool_health: route health kept in DIR/queue.db (table route_health), so
 * that `outpost routes` can show what the daemon sees and a restart does
 * not forget a blocked path.
 *
 * Contract: spool_health_save() replaces the saved rows with a deep copy
 * of rows, in one transaction on the storage thread, and returns at once;
 * spool_health_load() reads them there and calls cb on the loop thread
 * (rows live for the call; n is 0 when there are none or the read
 * failed).  spool_health_read() reads them on any connection (the CLI's).
 */
#ifndef OUTPOST_SPOOL_HEALTH_H
#define OUTPOST_SPOOL_HEALTH_H
#include <sqlite3.h>
#include <stddef.h>
#include <time.h>

struct spool;

struct spool_health_row {
	char *route, *dclass;
	char *state;            /* "healthy", "degraded", "down" */
	char *reason, *last_reply;
	time_t changed, probe_at, updated;
	unsigned fails, sent_hour, failed_hour;
};

typedef void spool_health_cb(void *arg, const struct spool_health_row *rows, size_t n);

void spool_health_save(struct spool *sp, const struct spool_health_row *rows, size_t n);
void spool_health_load(struct spool *sp, spool_health_cb *cb, void *arg);

/* Reads every row into *rows (free with spool_health_rows_free). */
int spool_health_read(sqlite3 *db, struct spool_health_row **rows, size_t *n);
void spool_health_rows_free(struct spool_health_row *rows, size_t n);

#endif
