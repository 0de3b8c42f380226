/*
 * scan: asks the outbound scanner (rspamd, scan_config.h) for its verdict on
 * one message, over HTTP on the event loop (libevent's evhttp client): the
 * loop never waits for it.
 *
 * Contract: scan_start() POSTs the message to /checkv2 with the envelope as
 * rspamd's request headers (Ip, Helo, From, Rcpt per recipient, User,
 * Queue-Id) plus X-Outpost-Tenant, and calls done(arg, result) once, on
 * the loop, within the configured timeout: result->ok 1 with the verdict
 * (scan_verdict.h), or 0 with why (connection refused, timeout, HTTP
 * status, unparsable reply) in result->error and its kind, a bounded word
 * for metrics, in result->kind.  result->ms is the time the
 * scan took.  The message text is copied; env is not kept.
 * scan_cancel() stops done from being called (the request ends on its own,
 * by its reply or its timeout, and is freed then).
 */
#ifndef OUTPOST_SCAN_H
#define OUTPOST_SCAN_H
#include <stddef.h>

#include "inbound/scan_config.h"
#include "inbound/scan_verdict.h"

struct event_base;
struct scan_req;

struct scan_env {
	const char *qid;
	const char *client_ip;     /* NULL: local submission */
	const char *helo;          /* "" when none */
	const char *sender;        /* "" for <> */
	char *const *rcpts;
	size_t nrcpts;
	const char *user;          /* NULL: not authenticated */
	const char *tenant;        /* NULL: none */
};

struct scan_result {
	int ok;
	struct scan_verdict v;
	char error[160];
	const char *kind;          /* !ok: "timeout", "connect", "http" or "reply" (a static string) */
	double ms;
};

typedef void scan_done_fn(void *arg, const struct scan_result *r);

struct scan_req *scan_start(struct event_base *base, const struct scanner_conf *sc, const struct scan_env *env,
			    const char *data, size_t len, scan_done_fn *done, void *arg);
void scan_cancel(struct scan_req *r);

#endif
