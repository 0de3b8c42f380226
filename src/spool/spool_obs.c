/*
 * spool_obs: the spool's gauges (spool_obs.h), read by the storage thread
 * with prepared statements after each round.
 */
#include "spool/spool_obs.h"

#include <string.h>

#include "core/log.h"
#include "spool/spool_int.h"

static const char *const obs_sql[SPOOL_OBS_COUNT] = {
	[SPOOL_OBS_COUNT_MSGS] = "SELECT messages FROM queue_totals WHERE id = 1",
	[SPOOL_OBS_OLDEST] = "SELECT created FROM messages ORDER BY id LIMIT 1",
	[SPOOL_OBS_PAGES] = "SELECT page_count * page_size FROM pragma_page_count, pragma_page_size",
};

int spool_obs_prepare(struct spool *sp, char *err, size_t errlen)
{
	for (int i = 0; i < SPOOL_OBS_COUNT; i++)
		if (sqlite3_prepare_v3(sp->db, obs_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &sp->obs[i],
				       NULL) != SQLITE_OK)
			return set_error(err, errlen, "prepare: %s", sqlite3_errmsg(sp->db));
	return 0;
}

void spool_obs_finalize(struct spool *sp)
{
	for (int i = 0; i < SPOOL_OBS_COUNT; i++)
		sqlite3_finalize(sp->obs[i]);
}

/* One integer from statement st; 0 when it has no row. */
static sqlite3_int64 obs_int(sqlite3_stmt *st)
{
	sqlite3_int64 v = 0;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return v;
}

void spool_obs_refresh(struct spool *sp)
{
	struct spool_gauges g;
	sqlite3_int64 n = obs_int(sp->obs[SPOOL_OBS_COUNT_MSGS]);
	g.messages = n > 0 ? (uint64_t)n : 0;
	g.oldest = (time_t)obs_int(sp->obs[SPOOL_OBS_OLDEST]);
	n = obs_int(sp->obs[SPOOL_OBS_PAGES]);
	g.bytes = n > 0 ? (uint64_t)n : 0;
	pthread_mutex_lock(&sp->mu);
	sp->gauges = g;
	pthread_mutex_unlock(&sp->mu);
}

void spool_gauges(struct spool *sp, struct spool_gauges *g)
{
	pthread_mutex_lock(&sp->mu);
	*g = sp->gauges;
	pthread_mutex_unlock(&sp->mu);
}
