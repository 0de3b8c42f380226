/* spool_seg: large bodies in append-only segment files; see spool_seg.h. */
#include "spool_seg.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

#include "fdio.h"
#include "log.h"
#include "xmalloc.h"

#define SEG_ALIGN 4096LL   /* each body starts on a block: its hole frees whole blocks */
#define SEG_HOLES 8                    /* runs of freed blocks waiting */
#define SEG_HOLE_MAX (1024 * 1024LL)   /* a run is punched once it is this long */

struct seg {
	long long num;
	long long live;       /* bodies appended or referenced, not yet deleted */
	long long bytes;      /* on disk: appended (or allocated at open) minus holes punched */
};

struct spool_segs {
	char *dir;            /* the spool directory */
	struct seg *segs;     /* sorted by num */
	size_t n, cap;
	long long next_num;   /* the next segment made */
	long long cur;        /* the segment appended to, 0: none yet */
	int cur_fd;
	long long rd_seg;     /* the sealed segment last read or punched, held open, 0: none */
	int rd_fd;
	long long cur_size;
	long long total;      /* sum of bytes */
	/* Freed blocks not yet punched, oldest first: bodies are deleted in
	 * about the order they were appended (parallel sessions shuffle it a
	 * little), so a delete usually joins a run, and one fallocate frees
	 * many bodies (one each was 3 % of the CPU at 100 KB). */
	struct hole {
		long long seg, off, end;
	} hole[SEG_HOLES];
	size_t nholes;
};

static void holes_flush(struct spool_segs *s);

static void hole_remove(struct spool_segs *s, size_t i)
{
	memmove(&s->hole[i], &s->hole[i + 1], (s->nholes - i - 1) * sizeof(s->hole[0]));
	s->nholes--;
}

int spool_seg_path(const char *dir, long long seg, char *out, size_t len)
{
	int n = seg ? snprintf(out, len, "%s/%s/%010lld", dir, SPOOL_SEG_DIR, seg)
		    : snprintf(out, len, "%s/%s", dir, SPOOL_SEG_DIR);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

static struct seg *seg_find(struct spool_segs *s, long long num)
{
	size_t lo = 0, hi = s->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (s->segs[mid].num == num)
			return &s->segs[mid];
		if (s->segs[mid].num < num)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Adds num (greater than every segment known, or in any order at open:
 * seg_sort() follows). */
static struct seg *seg_add(struct spool_segs *s, long long num)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 16;
		s->segs = xreallocarray(s->segs, s->cap, sizeof(*s->segs));
	}
	struct seg *g = &s->segs[s->n++];
	memset(g, 0, sizeof(*g));
	g->num = num;
	return g;
}

static int seg_cmp(const void *a, const void *b)
{
	long long x = ((const struct seg *)a)->num, y = ((const struct seg *)b)->num;
	return x < y ? -1 : x > y;
}

static int fsync_path(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	close(fd);
	return rc;
}

/* Removes a segment no body needs any more. */
static void seg_unlink(struct spool_segs *s, struct seg *g, const char *why)
{
	char path[4096];
	if (spool_seg_path(s->dir, g->num, path, sizeof(path)) < 0)
		return;
	if (s->rd_seg == g->num) {
		close(s->rd_fd);
		s->rd_seg = 0;
	}
	for (size_t i = 0; i < s->nholes;)   /* their blocks go with the file */
		if (s->hole[i].seg == g->num)
			hole_remove(s, i);
		else
			i++;
	if (unlink(path) != 0 && errno != ENOENT)
		msg_warn("event=spool_segment_error seg=%lld op=unlink reason=\"%s\"", g->num, strerror(errno));
	else
		msg_debug("event=spool_segment_removed seg=%lld reason=%s", g->num, why);
	s->total -= g->bytes;
	size_t i = (size_t)(g - s->segs);
	memmove(g, g + 1, (s->n - i - 1) * sizeof(*g));
	s->n--;
}

/* The current segment is appended to no more. */
static void seg_seal(struct spool_segs *s)
{
	if (s->cur == 0)
		return;
	close(s->cur_fd);
	s->cur_fd = -1;
	struct seg *g = seg_find(s, s->cur);
	s->cur = 0;
	if (g && g->live == 0)
		seg_unlink(s, g, "empty");
}

/* --- checksum ------------------------------------------------------------ */

/* CRC-32C (Castagnoli), reflected polynomial 0x82F63B78.  Not zlib's crc32:
 * that runs about 4 instructions per octet (28 % of a 100 KB message's
 * acceptance, bench/README.md), the SSE 4.2 instruction does 8 octets in
 * one; the table is the fallback where the CPU has none. */
static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_table_make(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
		crc_table[i] = c;
	}
}

uint32_t spool_seg_crc32c_portable(const void *data, size_t n)
{
	const unsigned char *p = data;
	uint32_t c = 0xFFFFFFFFu;
	pthread_once(&crc_once, crc_table_make);
	while (n--)
		c = crc_table[(c ^ *p++) & 0xff] ^ (c >> 8);
	return c ^ 0xFFFFFFFFu;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t crc32c_sse42(const void *data, size_t n)
{
	const unsigned char *p = data;
	uint64_t c = 0xFFFFFFFFu;
	for (; n >= 8; n -= 8, p += 8) {
		uint64_t v;
		memcpy(&v, p, sizeof(v));
		c = _mm_crc32_u64(c, v);
	}
	uint32_t c32 = (uint32_t)c;
	while (n--)
		c32 = _mm_crc32_u8(c32, *p++);
	return c32 ^ 0xFFFFFFFFu;
}
#endif

uint32_t spool_seg_crc32c(const void *data, size_t n)
{
#if defined(__x86_64__)
	if (__builtin_cpu_supports("sse4.2"))
		return crc32c_sse42(data, n);
#endif
	return spool_seg_crc32c_portable(data, n);
}

/* --- open ---------------------------------------------------------------- */

/* The live count of each segment the rows reference; logs the missing. */
static int segs_count(struct spool_segs *s, sqlite3 *db, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	char path[4096];
	struct stat sb;
	int rc = sqlite3_prepare_v2(db, "SELECT body_seg, count(*) FROM messages INDEXED BY messages_body_seg"
				    " WHERE body_seg IS NOT NULL GROUP BY body_seg", -1, &st, NULL);
	while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		rc = SQLITE_OK;
		long long num = sqlite3_column_int64(st, 0), live = sqlite3_column_int64(st, 1);
		if (num <= 0 || spool_seg_path(s->dir, num, path, sizeof(path)) < 0)
			continue;
		if (stat(path, &sb) != 0) {
			msg_warn("event=spool_body_missing seg=%lld messages=%lld path=%s reason=\"%s\" action=\"the "
				 "messages are kept, not delivered: restore the file or see `outpost spool check`\"",
				 num, live, path, strerror(errno));
			continue;
		}
		struct seg *g = seg_add(s, num);
		g->live = live;
		g->bytes = (long long)sb.st_blocks * 512;
		s->total += g->bytes;
	}
	if (rc != SQLITE_DONE)
		set_error(err, errlen, "counting the body segments: %s", sqlite3_errmsg(db));
	sqlite3_finalize(st);   /* repeats the step's error */
	if (s->n)
		qsort(s->segs, s->n, sizeof(*s->segs), seg_cmp);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* A file name of ten digits, or 0. */
static long long seg_name(const char *name)
{
	char *end;
	if (strlen(name) != 10 || name[0] < '0' || name[0] > '9')
		return 0;
	long long v = strtoll(name, &end, 10);
	return *end == '\0' && v > 0 ? v : 0;
}

/* Removes the segments no row references (a crash between the append and
 * the commit) and finds the next number. */
static int segs_sweep(struct spool_segs *s, char *err, size_t errlen)
{
	char path[4096];
	if (spool_seg_path(s->dir, 0, path, sizeof(path)) < 0)
		return set_error(err, errlen, "spool path too long: %s", s->dir);
	DIR *d = opendir(path);
	if (d == NULL)
		return set_error(err, errlen, "cannot read %s: %s", path, strerror(errno));
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		long long num = seg_name(e->d_name);
		if (num == 0)
			continue;
		if (num >= s->next_num)
			s->next_num = num + 1;
		if (seg_find(s, num) || spool_seg_path(s->dir, num, path, sizeof(path)) < 0)
			continue;
		if (unlink(path) == 0)
			msg_info("event=spool_segment_orphan seg=%lld path=%s action=removed reason=\"no message "
				 "references it (a crash before its commit)\"", num, path);
		else
			msg_warn("event=spool_segment_error seg=%lld op=unlink reason=\"%s\"", num, strerror(errno));
	}
	closedir(d);
	return 0;
}

struct spool_segs *spool_segs_open(const char *dir, sqlite3 *db, char *err, size_t errlen)
{
	char path[4096];
	struct spool_segs *s = xcalloc(1, sizeof(*s));
	s->dir = xstrdup(dir);
	s->cur_fd = -1;
	s->rd_fd = -1;
	s->next_num = 1;
	if (spool_seg_path(dir, 0, path, sizeof(path)) < 0) {
		set_error(err, errlen, "spool path too long: %s", dir);
		goto fail;
	}
	if (mkdir(path, 0700) == 0) {
		if (fsync_path(dir) != 0) {
			set_error(err, errlen, "cannot sync %s: %s", dir, strerror(errno));
			goto fail;
		}
	} else if (errno != EEXIST) {
		set_error(err, errlen, "cannot create %s: %s", path, strerror(errno));
		goto fail;
	}
	if (segs_count(s, db, err, errlen) < 0 || segs_sweep(s, err, errlen) < 0)
		goto fail;
	for (size_t i = 0; i < s->n; i++)
		if (s->segs[i].num >= s->next_num)
			s->next_num = s->segs[i].num + 1;
	return s;
fail:
	spool_segs_close(s);
	return NULL;
}

void spool_segs_close(struct spool_segs *s)
{
	if (s == NULL)
		return;
	holes_flush(s);
	seg_seal(s);   /* an empty current segment goes now, not as an "orphan" at the next open */
	if (s->rd_seg)
		close(s->rd_fd);
	free(s->segs);
	free(s->dir);
	free(s);
}

/* --- append -------------------------------------------------------------- */

/* Starts a new segment: made, and its directory entry durable. */
static int seg_start(struct spool_segs *s, char *reason, size_t len)
{
	char path[4096], dpath[4096];
	if (spool_seg_path(s->dir, s->next_num, path, sizeof(path)) < 0 ||
	    spool_seg_path(s->dir, 0, dpath, sizeof(dpath)) < 0)
		return set_error(reason, len, "spool path too long");
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		int e = errno;
		set_error(reason, len, "cannot create %s: %s", path, strerror(e));
		errno = e;
		return -1;
	}
	if (fsync_path(dpath) != 0) {
		int e = errno;
		close(fd);
		unlink(path);
		return set_error(reason, len, "cannot sync %s: %s", dpath, strerror(e));
	}
	seg_add(s, s->next_num);
	s->cur = s->next_num++;
	s->cur_fd = fd;
	s->cur_size = 0;
	return 0;
}

/* Appends one body to the current segment (rotating when it is full). */
static int seg_put(struct spool_segs *s, struct spool_msg *m, char *reason, size_t len)
{
	if (s->cur && s->cur_size > 0 && s->cur_size + (long long)m->body_len > SPOOL_SEG_SIZE) {
		if (fdatasync(s->cur_fd) != 0)
			return set_error(reason, len, "cannot sync body segment %lld: %s", s->cur, strerror(errno));
		seg_seal(s);   /* its bodies of this group are durable */
	}
	if (s->cur == 0 && seg_start(s, reason, len) < 0) {
		if (errno != ENOSPC && errno != EDQUOT)
			return -1;
		m->body_full = 1;   /* no room for a new file: "spool full", as for a write */
		return 0;
	}
	long long off = s->cur_size;
	if (fd_pwrite_all(s->cur_fd, m->body, m->body_len, (off_t)off) != 0) {
		if (errno == ENOSPC || errno == EDQUOT) {
			m->body_full = 1;
			if (ftruncate(s->cur_fd, (off_t)off) != 0)
				msg_debug("event=spool_segment_error op=ftruncate reason=\"%s\"", strerror(errno));
			return 0;
		}
		return set_error(reason, len, "cannot write body segment %lld: %s", s->cur, strerror(errno));
	}
	long long used = ((long long)m->body_len + SEG_ALIGN - 1) & ~(SEG_ALIGN - 1);
	s->cur_size = off + used;
	struct seg *g = seg_find(s, s->cur);
	g->live++;
	g->bytes += used;
	s->total += used;
	m->body_ref.seg = s->cur;
	m->body_ref.off = off;
	m->body_ref.len = (long long)m->body_len;
	m->body_ref.crc = m->body_crc_known ? m->body_crc : spool_seg_crc32c(m->body, m->body_len);
	return 0;
}

int spool_segs_append(struct spool_segs *s, struct spool_msg **msgs, size_t n, long long room,
		      char *reason, size_t len)
{
	int wrote = 0, rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct spool_msg *m = msgs[i];
		if (m->body_len < SPOOL_SEG_MIN || m->body_ref.seg)
			continue;
		if (room >= 0 && (long long)m->body_len > room) {
			m->body_full = 1;
			continue;
		}
		rc = seg_put(s, m, reason, len);
		if (rc == 0 && m->body_ref.seg) {
			wrote = 1;
			if (room >= 0)
				room -= m->body_len;
		}
	}
	/* no current segment: a rotation synced what was written, then no new file could be made */
	if (rc == 0 && wrote && s->cur && fdatasync(s->cur_fd) != 0)
		rc = set_error(reason, len, "cannot sync body segment %lld: %s", s->cur, strerror(errno));
	if (rc == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {   /* nothing of this group may be trusted */
		spool_segs_discard(s, &msgs[i]->body_ref);
		memset(&msgs[i]->body_ref, 0, sizeof(msgs[i]->body_ref));
	}
	seg_seal(s);   /* a failed write or sync: the next group starts a new file */
	return -1;
}

/* --- release, read ------------------------------------------------------- */

/* Frees span octets at off of segment seg, open at fd; a file system
 * that cannot (EOPNOTSUPP) keeps them until the segment goes. */
static void seg_punch_range(int fd, long long seg, long long off, long long span)
{
	if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)span) != 0 &&
	    errno != EOPNOTSUPP)
		msg_debug("event=spool_segment_error seg=%lld op=punch reason=\"%s\"", seg, strerror(errno));
}

static void seg_punch_fd(int fd, const struct spool_body_ref *ref)
{
	seg_punch_range(fd, ref->seg, ref->off, (ref->len + SEG_ALIGN - 1) & ~(SEG_ALIGN - 1));
}

void spool_seg_punch(const char *dir, const struct spool_body_ref *ref)
{
	char path[4096];
	if (ref->seg == 0 || spool_seg_path(dir, ref->seg, path, sizeof(path)) < 0)
		return;
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return;   /* gone already */
	seg_punch_fd(fd, ref);
	close(fd);
}

/* A descriptor of segment num: the current one's, or the sealed one held
 * open (claims and deletes go through the queue in about the order the
 * bodies were appended, so one held is enough); -1 with errno. */
static int seg_fd(struct spool_segs *s, long long num)
{
	char path[4096];
	if (num == s->cur && s->cur)
		return s->cur_fd;
	if (num == s->rd_seg)
		return s->rd_fd;
	if (spool_seg_path(s->dir, num, path, sizeof(path)) < 0) {
		errno = ENAMETOOLONG;
		return -1;
	}
	int fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (s->rd_seg)
		close(s->rd_fd);
	s->rd_seg = num;
	s->rd_fd = fd;
	return fd;
}

static void hole_punch(struct spool_segs *s, size_t i)
{
	int fd = seg_fd(s, s->hole[i].seg);
	if (fd >= 0)
		seg_punch_range(fd, s->hole[i].seg, s->hole[i].off, s->hole[i].end - s->hole[i].off);
	hole_remove(s, i);
}

static void holes_flush(struct spool_segs *s)
{
	while (s->nholes)
		hole_punch(s, 0);
}

/* Joins [off, off + span) of seg to a waiting run (and that run to another
 * it now touches), or adds a run, punching the oldest when all are taken. */
static void hole_add(struct spool_segs *s, long long seg, long long off, long long span)
{
	long long end = off + span;
	size_t i;
	for (i = 0; i < s->nholes; i++) {
		struct hole *h = &s->hole[i];
		if (h->seg == seg && (off == h->end || end == h->off))
			break;
	}
	if (i == s->nholes) {
		if (s->nholes == SEG_HOLES)
			hole_punch(s, 0);
		i = s->nholes++;
		s->hole[i] = (struct hole){ seg, off, end };
	} else {
		struct hole *h = &s->hole[i];
		h->off = off < h->off ? off : h->off;
		h->end = end > h->end ? end : h->end;
		for (size_t k = 0; k < s->nholes; k++) {
			struct hole *o = &s->hole[k];
			if (k != i && o->seg == seg && (o->off == h->end || o->end == h->off)) {
				h->off = o->off < h->off ? o->off : h->off;
				h->end = o->end > h->end ? o->end : h->end;
				hole_remove(s, k);
				if (k < i)
					i--;
				break;
			}
		}
	}
	if (s->hole[i].end - s->hole[i].off >= SEG_HOLE_MAX)
		hole_punch(s, i);
}

/* The body's count and hole; a sealed segment whose count reaches 0 goes. */
static void seg_drop(struct spool_segs *s, const struct spool_body_ref *ref)
{
	struct seg *g = ref->seg ? seg_find(s, ref->seg) : NULL;
	if (g == NULL)
		return;
	if (--g->live <= 0 && g->num != s->cur) {
		seg_unlink(s, g, "all_delivered");
		return;
	}
	long long span = (ref->len + SEG_ALIGN - 1) & ~(SEG_ALIGN - 1);
	hole_add(s, g->num, ref->off, span);
	if (span > g->bytes)
		span = g->bytes;
	g->bytes -= span;
	s->total -= span;
}

void spool_segs_discard(struct spool_segs *s, const struct spool_body_ref *ref)
{
	seg_drop(s, ref);
}

void spool_segs_release(struct spool_segs *s, const struct spool_body_ref *ref)
{
	seg_drop(s, ref);
}

long long spool_segs_bytes(const struct spool_segs *s)
{
	return s ? s->total : 0;
}

/* Reads up to max octets of the body at ref from fd; checks the length,
 * and the checksum when the whole body was asked for. */
static char *seg_read_fd(int fd, const struct spool_body_ref *ref, size_t max, char *why, size_t len)
{
	size_t want = ref->len < 0 ? 0 : (size_t)ref->len;
	if (want > max)
		want = max;
	char *buf = xmalloc(want + 1);
	size_t got = 0;
	while (got < want) {
		ssize_t r = pread(fd, buf + got, want - got, (off_t)(ref->off + (long long)got));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			set_error(why, len, r < 0 ? "cannot read segment %lld: %s" : "segment %lld is cut short%s",
				  ref->seg, r < 0 ? strerror(errno) : "");
			free(buf);
			return NULL;
		}
		got += (size_t)r;
	}
	buf[want] = '\0';
	if (want == (size_t)ref->len &&
	    spool_seg_crc32c(buf, want) != ref->crc) {
		set_error(why, len, "the body in segment %lld at %lld does not match its checksum", ref->seg, ref->off);
		free(buf);
		return NULL;
	}
	return buf;
}

char *spool_seg_read(const char *dir, const struct spool_body_ref *ref, size_t max, char *why, size_t len)
{
	char path[4096];
	if (spool_seg_path(dir, ref->seg, path, sizeof(path)) < 0) {
		set_error(why, len, "spool path too long");
		return NULL;
	}
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		set_error(why, len, "cannot open %s: %s", path, strerror(errno));
		return NULL;
	}
	char *buf = seg_read_fd(fd, ref, max, why, len);
	close(fd);
	return buf;
}

char *spool_segs_read(struct spool_segs *s, const struct spool_body_ref *ref, char *why, size_t len)
{
	int fd = seg_fd(s, ref->seg);
	if (fd < 0) {
		char path[4096];
		if (spool_seg_path(s->dir, ref->seg, path, sizeof(path)) < 0)
			path[0] = '\0';
		set_error(why, len, "cannot open %s: %s", path, strerror(errno));
		return NULL;
	}
	char *body = seg_read_fd(fd, ref, SIZE_MAX, why, len);
	if (body == NULL && ref->seg == s->rd_seg) {   /* opened afresh next time: the file may be restored */
		close(s->rd_fd);
		s->rd_seg = 0;
	}
	return body;
}
