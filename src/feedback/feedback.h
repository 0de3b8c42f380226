/*
 * feedback: what outpost does with what comes back.  A bounce, DSN,
 * complaint or auto-reply (bounce.h) is first attributed to a message
 * outpost sent, then acted on by the scope of each outcome:
 *   recipient  userunknown, hostunknown, hasmoved, notaccept (5.x.x) and
 *              complaints are suppressed at once; mailboxfull after
 *              suppression.mailboxfull_failures within mailboxfull_window
 *              (that suppression expires after soft_expiry);
 *   route      blocked, badreputation, spamdetected, requireptr,
 *              toomanyconn, speeding, authfailure, norelaying count as a
 *              failure of the route that delivered it (route health);
 *   message    and the rest: logged, nothing to suppress.
 *
 * Contract:
 * - Backscatter: a report is acted on only when it refers to a message
 *   outpost sent: the VERP return path it came back to (or that the
 *   returned message carries) has a valid HMAC tag, or the queue id in
 *   the returned headers is in the spool's sent history (or queue).  A
 *   recipient is acted on only when that message was sent to it (when the
 *   history knows its recipients).  Anything else is logged
 *   (event=bounce_ignored) and counted, never used to suppress.
 * - Every suppression and complaint is one log line, event=suppressed /
 *   event=complaint, with qid= of the message that caused it.
 * - feedback_apply() runs on whatever thread owns db; the daemon calls it
 *   on a worker thread (it writes the spool), `outpost bounce ingest`
 *   directly.  verp_* functions are pure.
 */
#ifndef OUTPOST_FEEDBACK_H
#define OUTPOST_FEEDBACK_H
#include <sqlite3.h>
#include <stddef.h>
#include <time.h>

struct config;
struct bounce_report;
struct event_base;
struct feedback;

/* The VERP return path of message qid: "b+QID+TAG@DOMAIN", TAG the first
 * 16 hex digits of HMAC-SHA256(key, qid). */
int verp_address(const unsigned char *key, size_t keylen, const char *qid, const char *domain, char *out,
		 size_t outlen);
/* 1 when addr is a VERP address of domain with a valid tag (qid copied
 * out), 0 when it is none, -1 when its tag is forged. */
int verp_parse(const unsigned char *key, size_t keylen, const char *addr, const char *domain, char *qid,
	       size_t qidlen);
/* Reads the HMAC key (at least 16 bytes; mode 600 or stricter). */
int verp_key_load(const char *path, unsigned char *key, size_t keysize, size_t *keylen, char *err, size_t errlen);

/* What one report led to (for the CLI and the tests). */
struct feedback_outcome {
	int attributed;          /* 1 when it refers to a message outpost sent */
	char qid[40];
	char why[128];           /* how it was attributed, or why not */
	unsigned suppressed, complaints, soft_counted, route_failures, ignored;
};

/* Called for a route outcome: the route that delivered to rcpt, the host
 * it delivered to (may be ""), the reason and the diagnostic. */
typedef void feedback_route_fn(void *arg, const char *route, const char *host, const char *rcpt,
			       const char *reason, const char *diagnostic);

struct feedback_ctx {
	const struct config *cf;
	const unsigned char *key;    /* NULL: no VERP */
	size_t keylen;
	feedback_route_fn *route_fn; /* NULL: route outcomes are only logged */
	void *route_arg;
	/* NULL, or called after each suppression is written (committed), so
	 * the daemon's in-memory copy (suppress_set.h) follows at once */
	void (*suppressed_fn)(void *arg, const char *address, const char *scope);
	void *suppressed_arg;
};

/* Attributes and applies one report.  envelope_rcpt is the address it
 * was sent to (the VERP address) or NULL.  0, or -1 with err. */
int feedback_apply(sqlite3 *db, const struct feedback_ctx *fx, const struct bounce_report *r,
		   const char *envelope_rcpt, time_t now, struct feedback_outcome *out, char *err, size_t errlen);

#endif
