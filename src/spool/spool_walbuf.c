/*
 * spool_walbuf: one write per run of WAL frames (contract in
 * spool_walbuf.h).  A file of this VFS is our header followed by the
 * default VFS's file; every method forwards to it, the WAL file's first
 * writing out the buffered run where the contract says so.
 */
#include "spool_walbuf.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "xmalloc.h"

struct wb_file {
	sqlite3_file base;      /* pMethods = &wb_methods */
	int wal;                /* the WAL file: writes are buffered */
	int full;               /* synchronous is FULL or EXTRA (database file: as last set) */
	int commit_page;        /* the WAL, not full: the next write is a commit frame's page */
	unsigned char *buf;     /* the run: len octets meant for offset off */
	size_t len, cap;
	sqlite3_int64 off;
	struct wb_file *link;   /* the database file: its WAL's; the WAL: its database's (or NULL) */
	sqlite3_file *real;     /* the default VFS's file, right after this struct */
};

static sqlite3_vfs wb_vfs;
static sqlite3_vfs *wb_real;
static pthread_once_t wb_once = PTHREAD_ONCE_INIT;
static int wb_ok;

#define REAL(f) (((struct wb_file *)(f))->real)
#define RM(f) (REAL(f)->pMethods)

/* The run to the file, in one write. */
static int wb_flush(sqlite3_file *pf)
{
	struct wb_file *f = (struct wb_file *)pf;
	if (f->len == 0)
		return SQLITE_OK;
	int rc = RM(f)->xWrite(f->real, f->buf, (int)f->len, f->off);
	f->len = 0;
	return rc;
}

static int wb_close(sqlite3_file *pf)
{
	struct wb_file *f = (struct wb_file *)pf;
	int rc = wb_flush(pf);
	if (f->link)   /* either side may close first */
		f->link->link = NULL;
	int rc2 = RM(f)->xClose(f->real);
	free(f->buf);
	f->buf = NULL;
	return rc != SQLITE_OK ? rc : rc2;
}

static int wb_read(sqlite3_file *pf, void *p, int n, sqlite3_int64 off)
{
	int rc = wb_flush(pf);
	return rc != SQLITE_OK ? rc : RM(pf)->xRead(REAL(pf), p, n, off);
}

/* A frame header (24 octets, written alone before its page) whose
 * "database size after commit" field is set: the last frame of a commit. */
static int wb_commit_header(const void *p, int n)
{
	const unsigned char *h = p;
	return n == 24 && (h[4] | h[5] | h[6] | h[7]) != 0;
}

static int wb_write(sqlite3_file *pf, const void *p, int n, sqlite3_int64 off)
{
	struct wb_file *f = (struct wb_file *)pf;
	if (!f->wal)
		return RM(f)->xWrite(f->real, p, n, off);
	if (f->len && (off != f->off + (sqlite3_int64)f->len || f->len + (size_t)n > WALBUF_MAX)) {
		int rc = wb_flush(pf);
		if (rc != SQLITE_OK)
			return rc;
	}
	if ((size_t)n > WALBUF_MAX)   /* larger than any run: as is */
		return RM(f)->xWrite(f->real, p, n, off);
	if (f->len == 0)
		f->off = off;
	if (f->len + (size_t)n > f->cap) {
		size_t cap = f->cap ? f->cap : 65536;
		while (cap < f->len + (size_t)n)
			cap *= 2;
		f->buf = xreallocarray(f->buf, cap, 1);
		f->cap = cap;
	}
	memcpy(f->buf + f->len, p, (size_t)n);
	f->len += (size_t)n;
	if (f->full)
		return SQLITE_OK;   /* the COMMIT's xSync writes the run */
	if (f->commit_page) {   /* the commit frame is complete: out before the COMMIT returns */
		f->commit_page = 0;
		return wb_flush(pf);
	}
	f->commit_page = wb_commit_header(p, n);
	return SQLITE_OK;
}

static int wb_truncate(sqlite3_file *pf, sqlite3_int64 size)
{
	int rc = wb_flush(pf);
	return rc != SQLITE_OK ? rc : RM(pf)->xTruncate(REAL(pf), size);
}

static int wb_sync(sqlite3_file *pf, int flags)
{
	int rc = wb_flush(pf);
	return rc != SQLITE_OK ? rc : RM(pf)->xSync(REAL(pf), flags);
}

static int wb_file_size(sqlite3_file *pf, sqlite3_int64 *size)
{
	int rc = wb_flush(pf);
	return rc != SQLITE_OK ? rc : RM(pf)->xFileSize(REAL(pf), size);
}

static int wb_lock(sqlite3_file *pf, int level)
{
	int rc = wb_flush(pf);
	return rc != SQLITE_OK ? rc : RM(pf)->xLock(REAL(pf), level);
}

static int wb_unlock(sqlite3_file *pf, int level)
{
	int rc = wb_flush(pf);
	return rc != SQLITE_OK ? rc : RM(pf)->xUnlock(REAL(pf), level);
}

static int wb_check_reserved(sqlite3_file *pf, int *out)
{
	return RM(pf)->xCheckReservedLock(REAL(pf), out);
}

/* "PRAGMA synchronous=V" on the database file (SQLite asks its VFS first,
 * with SQLITE_FCNTL_PRAGMA, when the statement is prepared). */
static void wb_pragma(struct wb_file *f, char **args)
{
	const char *v = args[2];
	if (args[1] == NULL || sqlite3_stricmp(args[1], "synchronous") != 0 || v == NULL)
		return;
	f->full = sqlite3_stricmp(v, "FULL") == 0 || sqlite3_stricmp(v, "EXTRA") == 0 ||
		  strcmp(v, "2") == 0 || strcmp(v, "3") == 0;
	if (f->link && f->link->wal)
		f->link->full = f->full;
}

static int wb_file_control(sqlite3_file *pf, int op, void *arg)
{
	if (op == SQLITE_FCNTL_PRAGMA)
		wb_pragma((struct wb_file *)pf, arg);
	int rc = wb_flush(pf);
	return rc != SQLITE_OK ? rc : RM(pf)->xFileControl(REAL(pf), op, arg);
}

static int wb_sector_size(sqlite3_file *pf)
{
	return RM(pf)->xSectorSize(REAL(pf));
}

static int wb_device(sqlite3_file *pf)
{
	return RM(pf)->xDeviceCharacteristics(REAL(pf));
}

static int wb_shm_map(sqlite3_file *pf, int pg, int pgsz, int extend, void volatile **pp)
{
	int rc = wb_flush(pf);
	return rc != SQLITE_OK ? rc : RM(pf)->xShmMap(REAL(pf), pg, pgsz, extend, pp);
}

/* Called on the database file.  Its WAL's run is written first: SQLite
 * takes and drops its WAL locks (the write lock after a ROLLBACK too,
 * whose spilled frames no sync wrote) only with every frame it wrote in
 * the file, as if nothing were buffered. */
static int wb_shm_lock(sqlite3_file *pf, int offset, int n, int flags)
{
	struct wb_file *f = (struct wb_file *)pf;
	int rc = f->link && f->link->wal ? wb_flush(&f->link->base) : SQLITE_OK;
	return rc != SQLITE_OK ? rc : RM(pf)->xShmLock(REAL(pf), offset, n, flags);
}

static void wb_shm_barrier(sqlite3_file *pf)
{
	wb_flush(pf);   /* a WAL file has no shared memory: never called for one */
	RM(pf)->xShmBarrier(REAL(pf));
}

static int wb_shm_unmap(sqlite3_file *pf, int del)
{
	int rc = wb_flush(pf);
	return rc != SQLITE_OK ? rc : RM(pf)->xShmUnmap(REAL(pf), del);
}

static int wb_fetch(sqlite3_file *pf, sqlite3_int64 off, int n, void **pp)
{
	int rc = wb_flush(pf);
	return rc != SQLITE_OK ? rc : RM(pf)->xFetch(REAL(pf), off, n, pp);
}

static int wb_unfetch(sqlite3_file *pf, sqlite3_int64 off, void *p)
{
	return RM(pf)->xUnfetch(REAL(pf), off, p);
}

static const sqlite3_io_methods wb_methods = {
	3, wb_close, wb_read, wb_write, wb_truncate, wb_sync, wb_file_size, wb_lock, wb_unlock,
	wb_check_reserved, wb_file_control, wb_sector_size, wb_device, wb_shm_map, wb_shm_lock,
	wb_shm_barrier, wb_shm_unmap, wb_fetch, wb_unfetch,
};

static int wb_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *pf, int flags, int *out_flags)
{
	(void)vfs;
	struct wb_file *f = (struct wb_file *)pf;
	memset(f, 0, sizeof(*f));
	f->real = (sqlite3_file *)(f + 1);
	int rc = wb_real->xOpen(wb_real, name, f->real, flags, out_flags);
	if (f->real->pMethods == NULL)   /* the open failed: SQLite calls no method of ours */
		return rc;
	if (f->real->pMethods->iVersion < 3) {   /* not what we forward to */
		f->real->pMethods->xClose(f->real);
		return SQLITE_CANTOPEN;
	}
	pf->pMethods = &wb_methods;
	if (flags & SQLITE_OPEN_WAL) {   /* linked to its connection's database file (SQLite >= 3.31) */
		sqlite3_file *db = sqlite3_database_file_object(name);
		if (db && db->pMethods == &wb_methods) {
			f->link = (struct wb_file *)db;
			f->link->link = f;
			f->wal = 1;   /* buffered only when linked: see wb_shm_lock */
			f->full = f->link->full;
		}
	}
	return rc;
}

static void wb_register(void)
{
	wb_real = sqlite3_vfs_find(NULL);
	if (wb_real == NULL || strcmp(wb_real->zName, "unix") != 0 || wb_real->iVersion < 3)
		return;
	wb_vfs = *wb_real;   /* unix's methods ignore the vfs argument but for xOpen (ours) */
	wb_vfs.zName = "outpost-walbuf";
	wb_vfs.szOsFile = (int)sizeof(struct wb_file) + wb_real->szOsFile;
	wb_vfs.xOpen = wb_open;
	wb_vfs.pNext = NULL;
	wb_ok = sqlite3_vfs_register(&wb_vfs, 0) == SQLITE_OK;
}

const char *spool_walbuf_vfs(void)
{
	pthread_once(&wb_once, wb_register);
	return wb_ok ? wb_vfs.zName : NULL;
}
