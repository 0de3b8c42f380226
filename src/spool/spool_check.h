/*
 * spool_check: finds a damaged spool before it is used, so that a lost
 * write-ahead log or a corrupt page never passes for an emptier queue.
 *
 * What SQLite cannot see by itself: after a crash, the committed messages
 * not yet checkpointed live only in queue.db-wal; if that file is deleted,
 * cut short or overwritten, SQLite opens the database without them and
 * says nothing.  The wal-index (queue.db-shm) survives a crash and records
 * how many WAL frames were committed (mxFrame) and the WAL's salts; so
 * before the first connection opens the spool, spool_wal_snapshot() reads
 * it (unless another process has the spool open: then it is live and
 * proves nothing), spool_wal_check_file() checks that the WAL file still
 * holds those frames with the same salts, and after the open
 * spool_db_check() checks that SQLite's recovery kept every one of them,
 * runs PRAGMA quick_check, and compares the messages counted through the
 * index with those found in the table and those with recipients.
 *
 * Contract: the checks return 0 (sound) or -1 with the damage in why.
 * Whoever finds damage calls spool_mark_damaged(), which writes
 * DIR/queue.damaged (the reason and the time); spool_damage_marked() then
 * keeps the daemon and `outpost queue` from using the spool until
 * `outpost spool recover` has rebuilt it (it removes the mark).
 */
#ifndef OUTPOST_SPOOL_CHECK_H
#define OUTPOST_SPOOL_CHECK_H
#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#define SPOOL_DAMAGED_NAME "queue.damaged"
#define SPOOL_RECOVER_HINT "run `outpost spool check`, then `outpost spool recover`"

struct spool_wal_snap {
	int valid;                 /* a crash left a wal-index to compare with */
	uint32_t mxframe;          /* committed frames */
	uint32_t nbackfill;        /* of which already copied into queue.db */
	uint32_t page_size;
	unsigned char salt[8];
	int shm_fd;                /* the -shm, held open while valid (see below), else -1 */
};

/* Takes the snapshot before SQLite opens the database.  A valid snapshot
 * keeps its descriptor of the -shm open, for spool_db_check() to read the
 * index again through it: opening and closing the -shm anew once SQLite has
 * it open would drop this process's POSIX locks on it (SQLite's among them),
 * and another process could then reset the index under the open database.
 * spool_wal_snap_close() releases it, only after the database is closed. */
int spool_wal_snapshot(const char *dir, struct spool_wal_snap *snap);
void spool_wal_snap_close(struct spool_wal_snap *snap);
int spool_wal_check_file(const char *dir, const struct spool_wal_snap *snap, char *why, size_t len);
int spool_db_check(sqlite3 *db, const struct spool_wal_snap *snap, char *why, size_t len);

/* 1 when another process has DIR/queue.db open (outpostd runs). */
int spool_in_use(const char *dir);

void spool_mark_damaged(const char *dir, const char *why);
/* 1 (with the recorded reason in why) when DIR/queue.damaged exists. */
int spool_damage_marked(const char *dir, char *why, size_t len);
int spool_damage_unmark(const char *dir);

#endif
