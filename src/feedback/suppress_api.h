/*
 * suppress_api: how a change to the suppression list made outside the
 * daemon (the CLI) reaches the running daemon's in-memory copy
 * (suppress_set.h), on the control socket SPOOL/control.sock (and the http
 * listener, behind its token).
 *
 * Contract:
 * - GET /api/v1/suppression/refresh?address=A[&scope=S]: the set takes
 *   (A, S) as the spool has it now (added or replaced when the spool has a
 *   live row, removed when not); answered 200 {"address", "scope",
 *   "listed"} only once the set has it, so a CLI that waits for the answer
 *   knows every later check sees the change.  `outpost suppress add` and
 *   `remove` ask after writing; `outpost bounce ingest` for each address it
 *   suppressed.
 * - GET /api/v1/suppression/reload: the whole list read again (after
 *   `outpost suppress import`); 200 {"entries": N}.
 * - suppress_api_reload(): the same without a request (SIGHUP).
 * - A request only makes the set agree with the spool, so repeating one is
 *   harmless (hence a GET).  400 without an address, 404 for another path,
 *   500 with the database error (the set is then unchanged).
 * - The work runs on a worker thread of its own with a read-only
 *   connection of its own: the loop never reads the spool, and a reload of
 *   1,000,000 rows is built beside the live set (checks go on meanwhile).
 */
#ifndef OUTPOST_FEEDBACK_SUPPRESS_API_H
#define OUTPOST_FEEDBACK_SUPPRESS_API_H
#include <stddef.h>

struct event_base;
struct httpd;
struct suppress_set;
struct suppress_api;

#define SUPPRESS_API_PATH "/api/v1/suppression/"

/* NULL with err when SPOOL/queue.db cannot be opened. */
struct suppress_api *suppress_api_new(struct event_base *base, struct httpd *h, const char *spool_dir,
				      struct suppress_set *set, char *err, size_t errlen);
void suppress_api_reload(struct suppress_api *a);
void suppress_api_free(struct suppress_api *a);

#endif
