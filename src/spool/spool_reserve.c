/* spool_reserve: see spool_reserve.h. */
#include "spool_reserve.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define RESERVE_MIN (64 * 1024)

static int reserve_path(const char *dir, char *path, size_t len)
{
	int n = snprintf(path, len, "%s/%s", dir, SPOOL_RESERVE_NAME);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* 4 MB, or 1/16 of a smaller file system (at least 64 KB). */
/* The reserve for a file system of vfs (NULL: unknown). */
static off_t reserve_size_of(const struct statvfs *vfs)
{
	off_t size = SPOOL_RESERVE_MAX;
	if (vfs) {
		unsigned long long total = (unsigned long long)vfs->f_blocks * vfs->f_frsize;
		if (total / 16 < (unsigned long long)size)
			size = (off_t)(total / 16);
	}
	size &= ~(off_t)(RESERVE_MIN - 1);
	return size < RESERVE_MIN ? RESERVE_MIN : size;
}

static off_t reserve_size(const char *dir)
{
	struct statvfs vfs;
	return reserve_size_of(statvfs(dir, &vfs) == 0 ? &vfs : NULL);
}

int spool_reserve_make(const char *dir)
{
	char path[4096];
	struct stat st;
	if (reserve_path(dir, path, sizeof(path)) < 0)
		return -1;
	off_t want = reserve_size(dir);
	if (stat(path, &st) == 0 && st.st_size >= want && (off_t)st.st_blocks * 512 >= want)
		return 0;
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	/* posix_fallocate, not ftruncate: the blocks must really be taken */
	int rc = posix_fallocate(fd, 0, want);
	if (close(fd) != 0 && rc == 0)
		rc = errno;
	if (rc != 0) {
		unlink(path);
		return -1;
	}
	return 0;
}

int spool_reserve_room(const char *dir)
{
	struct statvfs vfs;
	if (statvfs(dir, &vfs) != 0)
		return 1;   /* unknown: SQLite will say when it is full */
	/* one statvfs per batch: the reserve's size from the same answer */
	return (unsigned long long)vfs.f_bavail * vfs.f_frsize >= (unsigned long long)reserve_size_of(&vfs);
}

int spool_reserve_release(const char *dir)
{
	char path[4096];
	if (reserve_path(dir, path, sizeof(path)) < 0)
		return 0;
	return unlink(path) == 0;
}
