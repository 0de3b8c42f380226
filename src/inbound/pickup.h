/*
 * pickup: queues the messages `outpost sendmail` left in the maildrop
 * while outpostd could not be reached (spool/maildrop.h).
 * Contract: pickup_start() creates the maildrop directory when it is
 * missing (mode 1730: the run user's group may add files, nobody else may
 * look) and starts a thread that looks into it at once and then every
 * second.  Each visible regular file is submitted over the local socket
 * like any `sendmail` (inbound/local_submit.h) and removed only after the
 * daemon answered 250; a file that is not a drop file or that the daemon
 * refuses (5xx) is renamed ".bad.NAME" / ".refused.NAME" and logged, so
 * nothing is lost; a 4xx leaves it for the next look (after 30 s).
 * Symlinks, FIFOs and hard-linked files are removed unread.
 * pickup_stop() asks the thread to end and returns at once (the thread
 * may be waiting for this daemon's reply); pickup_free() joins it, once
 * the loop no longer runs and the sessions are closed.
 */
#ifndef OUTPOST_PICKUP_H
#define OUTPOST_PICKUP_H
#include <stddef.h>
#include <sys/types.h>

struct config;
struct pickup;

/* gid: the group the directory gets when created (-1: leave it). */
struct pickup *pickup_start(const struct config *cf, gid_t gid, char *err, size_t errlen);
void pickup_stop(struct pickup *p);
void pickup_free(struct pickup *p);

#endif
