/*
 * daemon_client: the CLI's side of the control socket.
 * Contract: daemon_get() sends GET path to the running outpostd and
 * appends the answer's body to body with its HTTP status in *status; -1
 * when no daemon answers (not running, or an answer that is not HTTP), so
 * the caller falls back to the spool and says so (daemon_not_running).
 */
#ifndef OUTPOST_DAEMON_CLIENT_H
#define OUTPOST_DAEMON_CLIENT_H

struct buf;
struct config;

int daemon_get(const struct config *cf, const char *path, struct buf *body, int *status);
/* "outpost: outpostd is not running (no answer on SOCKET): what" on stderr. */
void daemon_not_running(const struct config *cf, const char *what);

#endif
