/*
 * spool_seg: large message bodies in append-only segment files beside the
 * database, DIR/bodies/NNNNNNNNNN, instead of a blob in queue.db.
 *
 * Why: a 100 KB body in SQLite is written to the WAL, written again by the
 * checkpoint, read back page by page, and its 25 overflow pages go through
 * the freelist on every insert and delete (bench/README.md, issue 20).  A
 * segment takes the body with one pwrite, one fdatasync per group, one
 * pread for delivery and a punched hole when the message is gone.
 *
 * Contract (storage thread, except the functions marked "any process"):
 * - Bodies of SPOOL_SEG_MIN octets or more go to the current segment,
 *   4 KiB aligned.  spool_segs_append() writes every large body of a group,
 *   then fdatasync's each segment it wrote once (and the directory once
 *   when it made a segment), and only then may the caller commit the rows
 *   that reference them (segment, offset, length = size, CRC-32C).
 * - A segment is sealed at SPOOL_SEG_SIZE, on a write error, and at close;
 *   a new process never appends to an old segment (a crash may have left
 *   a tail no row references).
 * - Each segment has a live count in memory: bodies appended and not yet
 *   deleted (counted from the rows at open, one GROUP BY on a partial
 *   index).  spool_segs_release() punches the body's hole and unlinks a
 *   sealed segment whose count reaches 0; spool_segs_discard() does the
 *   same for a body whose transaction failed.  At open a segment no row
 *   references (a crash between append and commit) is removed and logged,
 *   and a referenced segment that is missing is logged.
 * - Reads and holes go through the current segment's descriptor, or the
 *   one sealed segment held open (the last one read; dropped after a
 *   failed read, so a restored file is opened afresh).
 * - The checksum is CRC-32C (spool_seg_crc32c(), the CPU's instruction
 *   where it has one).
 * - spool_segs_bytes() is what the segments hold on disk, for the
 *   spool_max_size cap together with the database's pages.
 */
#ifndef OUTPOST_SPOOL_SEG_H
#define OUTPOST_SPOOL_SEG_H
#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#ifndef SPOOL_SEG_MIN   /* -DSPOOL_SEG_MIN=N in c_args: for measuring other thresholds (bench/README.md) */
#define SPOOL_SEG_MIN (32 * 1024)               /* bodies at least this long go to a segment */
#endif
#define SPOOL_SEG_SIZE (64LL * 1024 * 1024)     /* a segment is sealed past this */
#define SPOOL_SEG_DIR "bodies"

#include "spool.h"

struct spool_segs;

/* Storage thread.  Makes DIR/bodies (made durable), counts the bodies of
 * each segment in db, removes unreferenced segments.  NULL with err. */
struct spool_segs *spool_segs_open(const char *dir, sqlite3 *db, char *err, size_t errlen);
void spool_segs_close(struct spool_segs *s);

/* Appends the body of each of the n messages that is at least
 * SPOOL_SEG_MIN long and fits (room: octets the cap still allows, -1 for
 * none); fills m->body_ref, or sets m->body_full when it does not fit or
 * the disk is full.  -1 with reason when the segment could not be written
 * or synced: then no body of the group is usable (all refs discarded). */
int spool_segs_append(struct spool_segs *s, struct spool_msg **msgs, size_t n, long long room,
		      char *reason, size_t len);
/* A body appended whose row was not committed. */
void spool_segs_discard(struct spool_segs *s, const struct spool_body_ref *ref);
/* A committed row referencing ref was deleted (after that commit). */
void spool_segs_release(struct spool_segs *s, const struct spool_body_ref *ref);
/* Octets the segments hold on disk. */
long long spool_segs_bytes(const struct spool_segs *s);
/* Reads and checks a body into a new buffer of ref->len + 1 (NUL-ended);
 * NULL with the reason in why. */
char *spool_segs_read(struct spool_segs *s, const struct spool_body_ref *ref, char *why, size_t len);

/* Any process (the admin commands, spool check). */
char *spool_seg_read(const char *dir, const struct spool_body_ref *ref, size_t max, char *why, size_t len);
void spool_seg_punch(const char *dir, const struct spool_body_ref *ref);
int spool_seg_path(const char *dir, long long seg, char *out, size_t len);
/* CRC-32C of n octets (hardware when the CPU has it); the table version,
 * the same function everywhere (for the tests). */
uint32_t spool_seg_crc32c(const void *data, size_t n);
uint32_t spool_seg_crc32c_portable(const void *data, size_t n);

#endif
