/*
 * sched_metrics: the scheduler's state as gauges of obs/metrics.h: route
 * health per route and class (paths in each state; classes other than the
 * big providers and "*" are summed as "other", never one per domain), per route the recipients waiting in memory
 * and the age of the oldest, destinations held back by a limit or a
 * back-off and the recipients parked at them.
 *
 * Contract: a metrics collector (metrics_collector_add); runs on the loop
 * thread and walks only what is in memory (at most MAX_INFLIGHT_MSGS
 * messages), never the spool.
 */
#ifndef OUTPOST_SCHED_METRICS_H
#define OUTPOST_SCHED_METRICS_H
#include <stddef.h>

/* arg: the struct scheduler. */
void sched_metrics_collect(void *arg);

/* Route health as of now, from memory, in the rows the spool saves
 * (free with sched_routes_free), and the throttle's state lines
 * (throttle_describe: limits, back-off, warm-up) appended to shaping. */
struct buf;
struct scheduler;
struct spool_health_row;
void sched_routes_live(struct scheduler *s, struct spool_health_row **rows, size_t *n, struct buf *shaping);
void sched_routes_free(struct spool_health_row *rows, size_t n);

/* Why each message waiting at a destination in memory waits (held by a
 * limit or back-off until when, with its route's back-off and warm-up
 * state; or waiting for a connection), sorted by id, and the best MX host
 * of every domain resolved in the last day (the provider a recipient there
 * counts under); free with queue_live_free(). */
struct queue_live_set;
void sched_queue_live(struct scheduler *s, struct queue_live_set *set);

#endif
