/*
 * spool_ckpt: PASSIVE checkpoints on a thread of their own; see spool_ckpt.h.
 */
#include "spool_ckpt.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "log.h"
#include "xmalloc.h"

struct spool_ckpt {
	sqlite3 *db;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int asked, stopping;   /* under mu */
	unsigned long started, finished;   /* under mu: passes, numbered from 1 */
	int copied;                        /* under mu: frames copied by the last one (0: failed) */
};

/* SQLite syncs the database file after a pass only when the pass reached
 * the end of the WAL, which under load it never does: the pages it wrote
 * would then wait for the storage thread's final pass, whose sync took
 * 4-6 ms with every client waiting.  Synced here instead, through the
 * connection's own file (a second descriptor's close would drop this
 * process's POSIX locks on the database). */
static void ckpt_sync_db(struct spool_ckpt *c)
{
	sqlite3_file *f = NULL;
	if (sqlite3_file_control(c->db, "main", SQLITE_FCNTL_FILE_POINTER, &f) != SQLITE_OK || f == NULL ||
	    f->pMethods == NULL)
		return;
	int rc = f->pMethods->xSync(f, SQLITE_SYNC_NORMAL);
	if (rc != SQLITE_OK)   /* the final pass syncs again and fails the same way, said there */
		msg_debug("event=spool_checkpoint rc=%d reason=\"database sync failed\" thread=checkpointer", rc);
}

/* One PASSIVE checkpoint; returns the frames it left copied (0: failed). */
static int ckpt_run(struct spool_ckpt *c)
{
	struct timespec t0, t1;
	int logged = 0, done = 0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int rc = sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &logged, &done);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	/* at debug, as the storage thread's own: a failing spool says so in
	 * its commits, and a checkpoint that fails is asked for again soon */
	if (rc == SQLITE_OK)
		msg_debug("event=spool_checkpoint frames=%d copied=%d ms=%.3f thread=checkpointer", logged, done, ms);
	else
		msg_debug("event=spool_checkpoint rc=%d reason=\"%s\" thread=checkpointer", rc, sqlite3_errmsg(c->db));
	if (rc == SQLITE_OK && done > 0)
		ckpt_sync_db(c);
	return rc == SQLITE_OK && done > 0 ? done : 0;
}

static void *ckpt_main(void *p)
{
	struct spool_ckpt *c = p;
	pthread_mutex_lock(&c->mu);
	for (;;) {
		while (!c->asked && !c->stopping)
			pthread_cond_wait(&c->cv, &c->mu);
		if (c->stopping)
			break;
		c->asked = 0;
		c->started++;
		pthread_mutex_unlock(&c->mu);
		int copied = ckpt_run(c);
		pthread_mutex_lock(&c->mu);
		c->copied = copied;
		c->finished = c->started;
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

struct spool_ckpt *spool_ckpt_start(const char *db, char *err, size_t errlen)
{
	struct spool_ckpt *c = xcalloc(1, sizeof(*c));
	int rc = sqlite3_open_v2(db, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc == SQLITE_OK)   /* a connection knows its WAL only once it has read the database */
		rc = sqlite3_exec(c->db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		if (snprintf(err, errlen, "checkpointer: cannot open %s: %s", db,
			     c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc)) < 0 && errlen)
			err[0] = '\0';
		sqlite3_close(c->db);
		free(c);
		return NULL;
	}
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	if (pthread_create(&c->thread, NULL, ckpt_main, c) != 0)
		msg_fatal("event=spool_error reason=\"pthread_create failed\"");
	return c;
}

unsigned long spool_ckpt_kick(struct spool_ckpt *c)
{
	pthread_mutex_lock(&c->mu);
	c->asked = 1;
	unsigned long pass = c->started + 1;   /* the next to start, which begins after now */
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
	return pass;
}

int spool_ckpt_done(struct spool_ckpt *c, unsigned long pass)
{
	pthread_mutex_lock(&c->mu);
	int copied = c->finished >= pass ? c->copied : -1;
	pthread_mutex_unlock(&c->mu);
	return copied;
}

void spool_ckpt_stop(struct spool_ckpt *c)
{
	if (c == NULL)
		return;
	pthread_mutex_lock(&c->mu);
	c->stopping = 1;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
	pthread_join(c->thread, NULL);
	if (sqlite3_close(c->db) != SQLITE_OK)
		msg_warn("event=spool_error reason=\"checkpointer close failed\"");
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cv);
	free(c);
}
