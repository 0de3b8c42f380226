/*
 * spool_walbuf: a SQLite VFS over the default one ("unix") for the storage
 * thread's connection, that writes a transaction's WAL frames with one
 * write instead of two per page.  SQLite writes each WAL frame as its
 * 24-octet header and then the page (walWriteOneFrame): 22 pwrite64 for
 * an accepted 4 KB message, about 50 over its whole life.
 *
 * Contract:
 * - Only the WAL file (opened with SQLITE_OPEN_WAL) is buffered; every
 *   other file and every method not named here is the default VFS's,
 *   called as is.
 * - A write that continues the buffered run (it starts where the run
 *   ends) is appended to it (up to WALBUF_MAX octets, then the run is
 *   written first: about 30 frames of 4 KiB pages per write); any other
 *   write writes the run first, then itself.
 * - The run is written (one xWrite of the default VFS at its offset)
 *   before xSync, xRead, xTruncate, xFileSize, xFileControl, xClose and
 *   any lock or shared-memory call of the WAL, and before any xShmLock of
 *   its connection's database file (the WAL is linked to it at open with
 *   sqlite3_database_file_object(); an unlinked WAL is not buffered):
 *   nothing reads or syncs the file without the run in it, and SQLite
 *   drops its WAL write lock (after a COMMIT, or after a ROLLBACK whose
 *   spilled frames no sync wrote) only once every frame it wrote is in
 *   the file, so no other connection restarting the WAL can be
 *   overwritten by a late run.  With synchronous=FULL a commit's frames
 *   are synced before SQLite's wal-index shows them to any other
 *   connection, so no reader meets a frame still in memory.
 * - Below FULL (NORMAL: no xSync at COMMIT) the run is also written as
 *   soon as the commit frame's page is appended (the frame whose header,
 *   written alone before its page, gives the database size), and a failed
 *   write is that xWrite's error: the COMMIT fails before SQLite's
 *   wal-index shows it.  The mode is seen in the SQLITE_FCNTL_PRAGMA that
 *   SQLite gives the database file when a "PRAGMA synchronous=V" is
 *   prepared; until the first, a connection counts as below FULL.
 * - Durability is SQLite's: the COMMIT returns only after xSync, which
 *   writes the run and then syncs; a crash before it loses only frames no
 *   COMMIT returned for (as a crash between SQLite's own writes would).
 *   A failed write of the run is the error of the call that needed it
 *   (the COMMIT fails and is rolled back).
 * - spool_walbuf_vfs() registers it once (not as the default) and gives
 *   its name, or NULL when the default VFS is not "unix" (then the caller
 *   uses the default).
 */
#ifndef OUTPOST_SPOOL_WALBUF_H
#define OUTPOST_SPOOL_WALBUF_H

/* The longest run: the unix VFS writes at most 128 KiB - 1 per call
 * (seekAndWriteFd masks the length with 0x1ffff), so a run stays below. */
#define WALBUF_MAX 0x1f000

const char *spool_walbuf_vfs(void);

#endif
