/*
 * spool_ckpt: the WAL's routine checkpoints on a thread and a connection
 * of their own, so that the storage thread's commits (and the 250s that
 * wait for them) do not stop while a checkpoint copies the WAL into
 * queue.db and syncs it: before, every client in flight waited about
 * 18 ms each time the WAL reached its threshold (bench/smtp_lat: p99 13 ms).
 *
 * Contract:
 * - spool_ckpt_start() opens DB (an existing WAL database) with the default
 *   VFS and starts the thread; NULL with err set if either fails (the caller
 *   then checkpoints on its own thread, as before).
 * - spool_ckpt_kick() never blocks: it asks for one PASSIVE checkpoint, run
 *   as soon as the thread is free (kicks while one runs make one more), and
 *   returns that pass's number; spool_ckpt_done() says -1 while it is not
 *   over, then how many frames of the WAL it left copied (0: it failed).
 *   PASSIVE waits for no lock: it copies what no reader still needs and
 *   lets the writer go on appending.  A pass that copied anything syncs
 *   queue.db before it is over (SQLite does so only when a pass reaches
 *   the WAL's end, which beside a busy writer it does not).
 * - SQLite restarts the WAL only at a writer's transaction that begins
 *   with all of it copied, which a checkpoint running beside a busy writer
 *   seldom leaves; so the writer, once a pass is over, runs a PASSIVE
 *   checkpoint of its own between two transactions once what is left is
 *   small: it copies only what was written during the passes, and its next
 *   transaction restarts the WAL.
 * - spool_ckpt_stop() ends the thread after the checkpoint it is running
 *   (none that was only asked for) and closes its connection; NULL is fine.
 */
#ifndef OUTPOST_SPOOL_CKPT_H
#define OUTPOST_SPOOL_CKPT_H

#include <stddef.h>

struct spool_ckpt;

struct spool_ckpt *spool_ckpt_start(const char *db, char *err, size_t errlen);
unsigned long spool_ckpt_kick(struct spool_ckpt *c);
int spool_ckpt_done(struct spool_ckpt *c, unsigned long pass);
void spool_ckpt_stop(struct spool_ckpt *c);

#endif
