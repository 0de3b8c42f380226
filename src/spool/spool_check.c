/* spool_check: see spool_check.h. */
#include "spool_check.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "spool.h"

/* The wal-index layout (SQLite's wal.c): two copies of a 48-byte header,
 * then the checkpoint info; the lock bytes start at 120 and a connection
 * holds a shared lock on the "dead man switch" byte 128 while it is open. */
#define HDR_SIZE 48
#define HDR_VERSION 3007000
#define OFF_ISINIT 12
#define OFF_PGSZ 14
#define OFF_MXFRAME 16
#define OFF_SALT 32
#define OFF_NBACKFILL 96
#define SHM_DMS_BYTE 128
#define WAL_HDR 32
#define WAL_FRAME_HDR 24

static uint32_t u32_at(const unsigned char *p)
{
	uint32_t v;
	memcpy(&v, p, sizeof(v));   /* native order, as SQLite writes the index */
	return v;
}

/* 1 when another process has the spool open (holds the DMS lock). */
static int shm_in_use(int fd)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = SHM_DMS_BYTE, .l_len = 1 };
	return fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK;
}

/* Reads the header of the wal-index open at fd; 0 with *snap filled. */
static int read_index(int fd, struct spool_wal_snap *snap, int check_live)
{
	unsigned char b[OFF_NBACKFILL + 4];
	int live = check_live && shm_in_use(fd);
	ssize_t n = pread(fd, b, sizeof(b), 0);
	if (live || n != (ssize_t)sizeof(b) || memcmp(b, b + HDR_SIZE, HDR_SIZE) != 0 ||
	    u32_at(b) != HDR_VERSION || b[OFF_ISINIT] != 1)
		return -1;   /* live, torn or never initialised: nothing to compare with */
	uint16_t pgsz;
	memcpy(&pgsz, b + OFF_PGSZ, sizeof(pgsz));
	snap->page_size = pgsz == 1 ? 65536 : pgsz;
	snap->mxframe = u32_at(b + OFF_MXFRAME);
	snap->nbackfill = u32_at(b + OFF_NBACKFILL);
	memcpy(snap->salt, b + OFF_SALT, sizeof(snap->salt));
	return 0;
}

int spool_in_use(const char *dir)
{
	char path[4096];
	if (spool_db_path(dir, "-shm", path, sizeof(path)) < 0)
		return 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	int used = shm_in_use(fd);
	close(fd);
	return used;
}

int spool_wal_snapshot(const char *dir, struct spool_wal_snap *snap)
{
	char path[4096];
	memset(snap, 0, sizeof(*snap));
	snap->shm_fd = -1;
	if (spool_db_path(dir, "-shm", path, sizeof(path)) < 0)
		return 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	if (read_index(fd, snap, 1) == 0)
		snap->valid = snap->mxframe > snap->nbackfill;   /* only then does the WAL hold data */
	if (snap->valid)
		snap->shm_fd = fd;
	else
		close(fd);      /* SQLite has not opened it yet: no lock of ours to lose */
	return 0;
}

void spool_wal_snap_close(struct spool_wal_snap *snap)
{
	if (snap->shm_fd >= 0)
		close(snap->shm_fd);
	snap->shm_fd = -1;
}

int spool_wal_check_file(const char *dir, const struct spool_wal_snap *snap, char *why, size_t len)
{
	char path[4096];
	unsigned char hdr[WAL_HDR];
	struct stat st;
	if (!snap->valid)
		return 0;
	if (spool_db_path(dir, "-wal", path, sizeof(path)) < 0)
		return 0;
	unsigned long long need = WAL_HDR + (unsigned long long)snap->mxframe * (WAL_FRAME_HDR + snap->page_size);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return set_error(why, len, "the write-ahead log %s is missing, but %u committed frames were in it",
				 path, snap->mxframe - snap->nbackfill);
	int rc = fstat(fd, &st) == 0 && pread(fd, hdr, sizeof(hdr), 0) == (ssize_t)sizeof(hdr) ? 0 : -1;
	close(fd);
	if (rc < 0 || (unsigned long long)st.st_size < need)
		return set_error(why, len, "the write-ahead log %s is cut short (%lld bytes; its %u committed "
				 "frames need %llu)", path, (long long)(rc < 0 ? 0 : st.st_size), snap->mxframe, need);
	if (memcmp(hdr + 16, snap->salt, sizeof(snap->salt)) != 0)
		return set_error(why, len, "the write-ahead log %s has been overwritten (its header does not "
				 "match the index of its %u committed frames)", path, snap->mxframe);
	return 0;
}

static int query_int(sqlite3 *db, const char *sql, long long *out)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		*out = sqlite3_column_int64(st, 0);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);   /* repeats the step's error */
	return rc;
}

/* PRAGMA quick_check: "ok", or the first problem. */
static int quick_check(sqlite3 *db, char *why, size_t len)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, "PRAGMA quick_check(1)", -1, &st, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *r = (const char *)sqlite3_column_text(st, 0);
		if (r && strcmp(r, "ok") == 0)
			rc = SQLITE_OK;
		else
			set_error(why, len, "PRAGMA quick_check: %s", r ? r : "?");
		for (char *p = why; len && *p; p++)
			if (*p == '\n' || *p == '\r')
				*p = ' ';   /* one line: it goes to the log and the mark */
	} else {
		set_error(why, len, "PRAGMA quick_check failed: %s", sqlite3_errmsg(db));
	}
	sqlite3_finalize(st);
	return rc == SQLITE_OK ? 0 : -1;
}

/* The messages counted three ways (the index, the table, with recipients)
 * must agree. */
static int counts_agree(sqlite3 *db, char *why, size_t len)
{
	long long by_index = -1, in_table = -1, orphans = -1;
	if (query_int(db, "SELECT count(*) FROM messages INDEXED BY messages_due", &by_index) != SQLITE_OK ||
	    query_int(db, "SELECT count(*) FROM messages NOT INDEXED", &in_table) != SQLITE_OK ||
	    query_int(db, "SELECT count(*) FROM messages m NOT INDEXED WHERE NOT EXISTS"
		      " (SELECT 1 FROM recipients r WHERE r.msg_id = m.id)", &orphans) != SQLITE_OK)
		return set_error(why, len, "the messages cannot be read: %s", sqlite3_errmsg(db));
	if (by_index != in_table)
		return set_error(why, len, "the index lists %lld messages but the table holds %lld", by_index,
				 in_table);
	if (orphans != 0)
		return set_error(why, len, "%lld of %lld messages have lost their recipients", orphans, in_table);
	return 0;
}

int spool_db_check(sqlite3 *db, const struct spool_wal_snap *snap, char *why, size_t len)
{
	struct spool_wal_snap now;
	if (snap->valid && snap->shm_fd >= 0 && read_index(snap->shm_fd, &now, 0) == 0 &&
	    now.mxframe < snap->mxframe)
		return set_error(why, len, "the write-ahead log is damaged: %u of its %u committed frames could "
				 "not be read", snap->mxframe - now.mxframe, snap->mxframe);
	if (quick_check(db, why, len) < 0)
		return -1;
	return counts_agree(db, why, len);
}

static int marker_path(const char *dir, char *path, size_t len)
{
	int n = snprintf(path, len, "%s/%s", dir, SPOOL_DAMAGED_NAME);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

void spool_mark_damaged(const char *dir, const char *why)
{
	char path[4096], when[32];
	time_t t = time(NULL);
	struct tm tm;
	if (marker_path(dir, path, sizeof(path)) < 0)
		return;
	if (strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm)) == 0)
		when[0] = '\0';
	FILE *f = fopen(path, "w");
	if (f == NULL) {
		msg_warn("event=spool_error op=mark_damaged path=%s reason=\"%s\"", path, strerror(errno));
		return;
	}
	fprintf(f, "%s (found %s)\n", why, when);
	if (fclose(f) != 0)
		msg_warn("event=spool_error op=mark_damaged path=%s reason=\"%s\"", path, strerror(errno));
}

int spool_damage_marked(const char *dir, char *why, size_t len)
{
	char path[4096];
	if (marker_path(dir, path, sizeof(path)) < 0)
		return 0;
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return 0;
	if (len && fgets(why, (int)len, f) == NULL)
		why[0] = '\0';
	fclose(f);
	if (len)
		why[strcspn(why, "\n")] = '\0';
	return 1;
}

int spool_damage_unmark(const char *dir)
{
	char path[4096];
	return marker_path(dir, path, sizeof(path)) == 0 && unlink(path) == 0 ? 0 : -1;
}
