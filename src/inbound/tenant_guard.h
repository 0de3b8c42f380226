/*
 * tenant_guard: keeps the holds of tenants (inbound/tenant.h) in the spool
 * (table tenant_state of DIR/queue.db), so a restart does not forget one,
 * and notices when `outpost tenant release` lifts one.
 *
 * Contract: tenant_guard_new() opens its own connection to the spool, reads
 * the holds (tenant_holds_sync) before it returns, and from then on writes
 * each new hold and reads the table every TENANT_GUARD_POLL seconds on a
 * thread of its own: the event loop never waits for SQLite.  A read that
 * started before a new hold was written is dropped, so it cannot undo it.
 * tenant_state_read() and tenant_state_release() work on any connection
 * (the CLI's): read returns the rows (free with tenant_state_free), release
 * 1 when NAME was held, 0 when not, -1 on a database error (err filled).
 * tenant_state_metrics() shows the holds as a metric.
 */
#ifndef OUTPOST_TENANT_GUARD_H
#define OUTPOST_TENANT_GUARD_H
#include <sqlite3.h>
#include <stddef.h>
#include <time.h>

#define TENANT_GUARD_POLL 2

struct event_base;
struct tenant_guard;

struct tenant_state_row {
	char *name, *reason;
	int held;                /* 1 held, 2 throttled */
	time_t since;
};

struct tenant_guard *tenant_guard_new(struct event_base *base, const char *spool_dir, char *err, size_t errlen);
void tenant_guard_free(struct tenant_guard *g);

int tenant_state_read(sqlite3 *db, struct tenant_state_row **rows, size_t *n, char *err, size_t errlen);
void tenant_state_free(struct tenant_state_row *rows, size_t n);
int tenant_state_release(sqlite3 *db, const char *name, char *err, size_t errlen);

/* A metrics collector (obs/metrics.h, on the loop thread): the gauge
 * outpost_tenant_state{tenant,state} of every tenant of the current config,
 * *(struct config **)arg (so a reload's tenants are the ones shown). */
void tenant_state_metrics(void *arg);

#endif
