/*
 * queue_why: why a message waits and until when ("Nothing held without a
 * reason"), for `outpost queue list|show` and GET /api/v1/queue.
 *
 * Contract: queue_why() gives one reason for message m, first from what
 * the running daemon holds in memory (live: held at a destination by a
 * connections limit, a rate or a back-off, with the shaping line of its
 * route; or in delivery now), else from the spool: the last reply of a
 * deferred recipient and its next retry, or the time it is scheduled for,
 * or "due now" (with whether a daemon is there to take it).  *until is
 * the Unix time it may go, or SPOOL_ADMIN_NO_TIME.  live may be NULL (no
 * daemon answered: the CLI reads the spool alone).  queue_provider() says
 * which receiving provider a recipient counts under, from the MX answers
 * the daemon holds (the last day's).
 */
#ifndef OUTPOST_QUEUE_WHY_H
#define OUTPOST_QUEUE_WHY_H
#include <stddef.h>

#include "spool/spool.h"
#include "spool/spool_admin.h"

struct queue_live {
	char id[SPOOL_ID_LEN + 1];
	char reason[512];
	long long until;          /* Unix time, or SPOOL_ADMIN_NO_TIME */
};

/* A recipient domain whose MX the daemon has resolved: its best host then. */
struct queue_mx {
	char *domain;             /* lowercased */
	char *host;
};

struct queue_live_set {
	struct queue_live *v;     /* sorted by id */
	size_t n;
	struct queue_mx *mx;      /* sorted by domain */
	size_t nmx;
};

void queue_why(const struct spool_admin_msg *m, const struct queue_live_set *live, long long now, char *why,
	       size_t len, long long *until);
/* Sorts v and mx for the lookups. */
void queue_live_sort(struct queue_live_set *live);
/* Frees what the set holds (not the set). */
void queue_live_free(struct queue_live_set *live);

/* The receiving provider recipient rcpt is counted under (the provider of
 * its domain's best MX host, as warm-up, back-off, `limits` by provider
 * and route health count it: delivery/provider.h) into out, and 1; or 0
 * with the reason it is not known into out: "unknown (MX not resolved
 * yet)", or, without a daemon (live NULL), "unknown (outpostd is not
 * running)".  *mx_host is the host, or NULL. */
int queue_provider(const struct queue_live_set *live, const char *rcpt, char *out, size_t outlen,
		   const char **mx_host);

#endif
