/*
 * spool_reserve: free space kept aside in the spool directory, for the
 * writes that free space.  A full disk must not stop delivery (a claim, a
 * recorded outcome, a delete all write to the WAL first) nor `outpost
 * queue delete`; so the spool keeps DIR/queue.reserve, a preallocated
 * file of up to 4 MB (1/16 of the file system when that is smaller), and
 * gives it up when such a write fails with "disk full", then retries.
 * New mail is refused (452 4.3.1) while the reserve is not in place, so it
 * cannot eat the freed space (the reserve is made again once there is
 * room), and when less than the reserve's size is free besides it, so the
 * spool's own mail never forces the reserve's use.
 *
 * Contract: spool_reserve_make() returns 0 when the reserve is in place
 * (made now or already there), -1 when the disk has no room for it (and
 * leaves no partial file).  spool_reserve_release() removes it: 1 when it
 * freed something, 0 when there was none.  Both are safe to call from any
 * process (the daemon's storage thread, the CLI).
 */
#ifndef OUTPOST_SPOOL_RESERVE_H
#define OUTPOST_SPOOL_RESERVE_H

#define SPOOL_RESERVE_NAME "queue.reserve"
#define SPOOL_RESERVE_MAX (4 * 1024 * 1024)

int spool_reserve_make(const char *dir);
int spool_reserve_release(const char *dir);
/* 1 when the file system of dir has at least the reserve's size free. */
int spool_reserve_room(const char *dir);

#endif
