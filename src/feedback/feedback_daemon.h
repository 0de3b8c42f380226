/*
 * feedback_daemon: the feedback loop inside outpostd.
 *
 * Contract:
 * - feedback_daemon_new() opens, on the spool's DIR/queue.db (already
 *   created and upgraded by spool_open), a writing connection for its
 *   one-thread worker, loads the suppression list into memory
 *   (suppress_set.h: the checks never read the spool) and, with
 *   bounces.domain, reads the VERP key (fatal errors are returned, the
 *   daemon refuses to start).  A suppression the worker writes reaches the
 *   set before the report's job ends; the CLI's changes arrive through
 *   suppress_api.h on the set that feedback_suppress_set() gives.
 * - feedback_rcpt_check() is the smtpd rcpt check (smtp_server.h): a
 *   recipient on the suppression list (global, the sender's domain, or the
 *   authenticated user) is refused with the list's reply and logged
 *   (event=rcpt_suppressed); with suppression.on_rcpt = "accept" it is
 *   accepted, and feedback_delivery_check() bounces it at delivery.  The
 *   lookup is in memory and takes no lock a writer holds for long.  It may run on any
 *   inbound loop's thread.
 * - feedback_register() adds the local mailboxes: "*@BOUNCEDOMAIN" and
 *   each report address.  A report received there is answered 250 at once
 *   and handled on the worker (bounce_parse + feedback_apply); route
 *   outcomes are handed to route_fn on the loop thread afterwards.
 * - feedback_return_path() gives the VERP envelope sender of a message
 *   (1), or 0 to keep the sender (no bounces.domain, null sender).
 */
#ifndef OUTPOST_FEEDBACK_DAEMON_H
#define OUTPOST_FEEDBACK_DAEMON_H
#include <stddef.h>

#include "feedback/feedback.h"

struct event_base;
struct config;
struct local_dispatch;
struct feedback_daemon;
struct suppress_set;

struct feedback_daemon *feedback_daemon_new(struct event_base *base, const struct config *cf,
					    feedback_route_fn *route_fn, void *route_arg, char *err, size_t errlen);
void feedback_daemon_reload(struct feedback_daemon *fd, const struct config *cf);
void feedback_daemon_free(struct feedback_daemon *fd);
struct suppress_set *feedback_suppress_set(struct feedback_daemon *fd);
int feedback_register(struct feedback_daemon *fd, struct local_dispatch *ld, char *err, size_t errlen);
int feedback_rcpt_check(void *fd, const char *rcpt, const char *sender, const char *user, const char *qid,
			char *reply, size_t replylen);
/* The scheduler's rcpt filter: a recipient suppressed by now (accepted at
 * RCPT in "accept" mode, or queued before it was suppressed) is bounced
 * with the list's reply instead of sent (event=rcpt_suppressed
 * action=bounce). */
int feedback_delivery_check(void *fd, const char *rcpt, const char *sender, const char *user, const char *qid,
			    char *reply, size_t replylen);
int feedback_return_path(void *fd, const char *qid, const char *sender, char *out, size_t outlen);

#endif
