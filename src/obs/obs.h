/*
 * obs: the one-line hooks by which the daemon's modules tell the operator's
 * side (metrics, statistics) what happened.  Each hook is cheap (a counter
 * under a mutex, no I/O) and may be called from any thread.
 *
 * Contract: labels are copied; route, listener and tenant names come from
 * the config (tenant "" for mail of no tenant), reason is an enhanced status code ("5.1.1") or a short word, and
 * none of them is a recipient address or domain.
 */
#ifndef OUTPOST_OBS_H
#define OUTPOST_OBS_H
#include <stdarg.h>
#include <stddef.h>
#include <time.h>

/* A session was accepted on listener (its address as configured); open
 * says whether it starts (1) or ends (0). */
void obs_session(const char *listener, int open);
/* A message was queued from listener by user (NULL: not authenticated)
 * for tenant (NULL: none). */
void obs_received(const char *listener, const char *user, const char *tenant);
/* DKIM signing of a message: 1 signed, -1 failed (0: not signed, nothing). */
void obs_dkim(int rc);
/* The outcome of one recipient of a message of tenant (NULL: none):
 * result is "delivered", "deferred" or "bounced"; enh the enhanced status
 * code; created when the message was accepted. */
void obs_outcome(const char *route, const char *tenant, const char *result, const char *enh, time_t created,
		 time_t now);
/* A complaint (ARF) about a message of tenant (NULL: none known). */
void obs_complaint(const char *tenant);
/* A recipient of a message of tenant (NULL: none) bounced: reason in the
 * bounce parser's vocabulary, source as obs_bounce's. */
void obs_tenant_bounce(const char *tenant, const char *reason, const char *source);
/* A recipient bounced: reason and scope as feedback/classify.h names them
 * ("userunknown", "mailboxfull", ...; "recipient", "route", "message",
 * "none"); source says where outpost learnt it: "delivery" (the receiver
 * refused it) or "report" (a bounce report came back later). */
void obs_bounce(const char *reason, const char *scope, const char *source);
/* A job moved from route `from` to route `to`. */
void obs_failover(const char *from, const char *to);
/* An outbound SMTP transaction on route took seconds. */
void obs_transaction(const char *route, double seconds);

/* The outbound scanner judged a message of tenant (NULL: none): result is
 * its action ("no action", "reject", ...) or "error"; it took seconds. */
void obs_scan(const char *result, const char *tenant, double seconds);
/* A scan failed: reason is "timeout", "connect", "http" or "reply";
 * action what on_error did ("accept", "tempfail"). */
void obs_scan_error(const char *reason, const char *action);

/* A message or a recipient was refused before it was queued, on listener,
 * for a reason class (a word from a fixed set: "relay_denied",
 * "suppressed", "tenant_held", "scanner", "size", ...). */
void obs_rejected(const char *listener, const char *reason);
/* Where obs_rejected() also counts each refusal (the spool's statistics:
 * spool_count_rejected()); NULL: nowhere.  fn must be cheap (no I/O): it
 * runs on the inbound loops' threads. */
typedef void obs_rejected_fn(void *arg, const char *reason);
void obs_rejected_sink(obs_rejected_fn *fn, void *arg);

/* A placement probe through route landed: result "inbox", "spam",
 * "missing" or "error" (the look failed). */
void obs_placement(const char *route, const char *result);
/* A placement round's results are in: the inbox shares of the previous
 * round are forgotten (a route no longer probed, or whose probes could
 * not be looked for, has none), then set per route by
 * obs_placement_share(): the share (0 to 1) of its probes found in the
 * inbox among those looked for. */
void obs_placement_round(void);
void obs_placement_share(const char *route, double share);

/* Events that concern no message being queued or delivered (a route down
 * or up, a failover, a canary verdict, a complaint, a suppression, a
 * blocklisting) go to the sink the daemon set (the spool's raw events,
 * which webhooks send and the status page shows); without a sink they go
 * nowhere.  detail is a JSON object built from fmt and the arguments as
 * jansson's json_pack() takes them ("{s:s, s:I}", "key", "text", "n",
 * (long long)n); NULL fmt: no detail.  Any thread. */
typedef void obs_event_fn(void *arg, const char *event, const char *qid, const char *route, const char *rcpt,
			  const char *detail);
void obs_event_sink(obs_event_fn *fn, void *arg);
void obs_event(const char *event, const char *qid, const char *route, const char *rcpt, const char *fmt, ...);
/* Text from outside (a reply, a report) made fit for an event's detail:
 * copied into out (cut to outlen), each octet that is not part of valid
 * UTF-8 or is a control character turned into '?'.  Returns out. */
const char *obs_text(char *out, size_t outlen, const char *in);

#endif
