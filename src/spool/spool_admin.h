/*
 * spool_admin: what `outpost queue ...` does to the spool from outside the
 * daemon.  It opens its own connection to DIR/queue.db (WAL allows it while
 * the daemon runs; writes wait on a busy timeout) and never holds a
 * transaction longer than one command.
 *
 * Contract: each function returns 0 on success, 1 when the id is not in
 * the queue, -1 with a reason in err on a database error.  list and show
 * return what the queue holds as data (rendering it is the CLI's:
 * cli/queue_render.h); the caller frees it with spool_admin_*_free().
 * Text from the spool is returned as stored (any byte, length kept);
 * data NULL is an SQL NULL.
 */
#ifndef OUTPOST_SPOOL_ADMIN_H
#define OUTPOST_SPOOL_ADMIN_H
#include <limits.h>
#include <stddef.h>

#define SPOOL_ADMIN_NO_TIME LLONG_MIN   /* a time column that is NULL */

struct spool_text {
	char *data;                  /* NUL-terminated copy; NULL: the column is NULL */
	size_t len;                  /* bytes, which may include NULs */
};

struct spool_admin_rcpt {
	int position;
	struct spool_text address, state, last_reply;
	long long attempts;
	long long last_attempt, next_attempt;   /* Unix times or SPOOL_ADMIN_NO_TIME */
};

struct spool_admin_attempt {
	long long time;              /* Unix time or SPOOL_ADMIN_NO_TIME */
	struct spool_text recipient, route, remote_host, remote_ip, tls, reply, result;
};

struct spool_admin_msg {
	struct spool_text id, sender;
	long long created, size, next_attempt;
	struct spool_admin_rcpt *rcpts;   /* in position order */
	size_t nrcpts;
	/* show only (list leaves them empty) */
	struct spool_text client_addr, client_helo, auth_user;
	struct spool_text tenant;          /* empty: none */
	struct spool_text scan_action, scan_score, scan_symbols;   /* empty: not scanned */
	int smtputf8, body_8bit;
	struct spool_admin_attempt *attempts;   /* oldest first */
	size_t nattempts;
	struct spool_text headers;   /* the header block (at most 1 MB), CRs removed */
};

struct spool_admin_queue {
	struct spool_admin_msg *msgs;     /* in id order */
	size_t n;
};

int spool_admin_list(const char *dir, struct spool_admin_queue *q, char *err, size_t errlen);
int spool_admin_show(const char *dir, const char *id, struct spool_admin_msg *m, char *err, size_t errlen);
void spool_admin_queue_free(struct spool_admin_queue *q);
void spool_admin_msg_free(struct spool_admin_msg *m);
int spool_admin_delete(const char *dir, const char *id, char *err, size_t errlen);
/* Makes the message (or, for flush, every message) due now. */
int spool_admin_retry(const char *dir, const char *id, char *err, size_t errlen);
int spool_admin_flush(const char *dir, size_t *count, char *err, size_t errlen);
/* The route health the daemon last saved (spool_health.h); free the rows
 * with spool_health_rows_free. */
struct spool_health_row;
int spool_admin_routes(const char *dir, struct spool_health_row **rows, size_t *n, char *err, size_t errlen);

#endif
