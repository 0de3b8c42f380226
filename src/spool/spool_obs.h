/*
 * spool_obs: what the spool tells the operator without a scan: the number
 * of messages, the age of the oldest, the size of the database.
 *
 * Contract: the storage thread refreshes these after each round of work
 * (three indexed reads: the trigger-kept count in queue_totals, the first
 * id of the messages' key, PRAGMA page_count), so spool_gauges() is a copy
 * under the spool's mutex, safe from any thread, at most one round old.
 */
#ifndef OUTPOST_SPOOL_OBS_H
#define OUTPOST_SPOOL_OBS_H
#include <stdint.h>
#include <time.h>

struct spool;

struct spool_gauges {
	uint64_t messages;      /* in the spool */
	time_t oldest;          /* created of the oldest, 0 when empty */
	uint64_t bytes;         /* pages of the database, in octets */
};

void spool_gauges(struct spool *sp, struct spool_gauges *g);

#endif
