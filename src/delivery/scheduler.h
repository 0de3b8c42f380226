/*
 * scheduler: turns the queue into deliveries.
 *
 * Contract: the scheduler claims due messages from the spool, sends each
 * due recipient by the route the rules give it (grouped per destination:
 * one transaction for the recipients of a message at one destination,
 * connections reused for the next message), within the connection caps
 * (delivery.max_connections in total, max_per_destination each), and
 * records every attempt's outcome in the spool: delivered (2xx), deferred
 * (4xx, network and DNS trouble; retried by the schedule, greylisting
 * after retry.greylist) or bounced (5xx, null MX, NXDOMAIN, lifetime over)
 * with a DSN to the sender, never to the null sender.
 * Routing: each recipient's rule is the first that matches (router.h; the
 * recipient domain's MX hosts are looked up first when a rule matches on
 * them); its route is the first of the rule's via list whose path is not
 * down (health.h).  A failure that blames the path (blocked, AUTH, TLS,
 * no connection: reply_blame.h) counts against it and moves the job to
 * the next route of via at once; a failure about a recipient never does.
 * Route health is saved in the spool every few seconds when it changed
 * and restored at start.
 * Shaping (throttle.h): a connection opens only within its limits; each
 * message on it waits for its rate slot (the destination is held, its
 * connection parked); a wait longer than HOLD_MAX defers the destination's
 * mail to the spool; a source over its warm-up cap spills mail to the next
 * route of via; every reply feeds the back-off.  It does nothing
 * when the config has no routes.  scheduler_kick() says new mail arrived.
 * scheduler_shutdown() starts no new transaction, lets those in flight
 * finish and be recorded, then calls done.  scheduler_abort(), when the
 * shutdown's grace is over, closes the connections still in a transaction
 * (their messages stay due) and done is not called; answers the spool
 * still owes come later, so scheduler_free() goes after spool_close().
 * Seams: the scheduler reads the time and arms its timers only through a
 * struct sched_clock, and reaches the network only through a struct
 * sched_net (resolver and SMTP client, as OpenSMTPD's backend tables).
 * scheduler_new() uses the real ones (the wall clock, libevent timers,
 * resolver.h and smtp_client.h); scheduler_new_with() takes others, so
 * tests replay scenarios in simulated time against a scripted network
 * (the spool stays real).  Module layout: scheduler_int.h.
 */
#ifndef OUTPOST_SCHEDULER_H
#define OUTPOST_SCHEDULER_H
#include <openssl/ssl.h>

#include "delivery/smtp_client.h"
#include "dns/resolver.h"

struct event_base;
struct config;
struct spool;
struct resolver;
struct scheduler;
struct sched_timer;

/* Time: now() is the wall-clock Unix time in seconds; a timer fires once,
 * on the loop, `seconds` after timer_add() (which re-arms an armed one). */
struct sched_clock {
	double (*now)(void *arg);
	struct sched_timer *(*timer_new)(void *arg, void (*fire)(void *fire_arg), void *fire_arg);
	void (*timer_add)(void *arg, struct sched_timer *t, double seconds);
	void (*timer_del)(void *arg, struct sched_timer *t);
	void (*timer_free)(void *arg, struct sched_timer *t);
	void *arg;
};

/* The network, with the contracts of resolver.h and smtp_client.h. */
struct sched_net {
	struct resolver_query *(*query)(void *arg, const char *name, int rrtype, resolver_cb *cb, void *cb_arg);
	void (*cancel)(void *arg, struct resolver_query *q);
	struct smtp_client *(*client_new)(void *arg, const struct smtp_client_params *p);
	void (*deliver)(void *arg, struct smtp_client *c, const struct smtp_txn *txn, smtp_client_done_cb *done,
			void *done_arg);
	int (*reusable)(void *arg, const struct smtp_client *c);
	void (*client_free)(void *arg, struct smtp_client *c);
	void *arg;
};

struct scheduler *scheduler_new(struct event_base *base, const struct config *cf, struct spool *sp,
				struct resolver *res, SSL_CTX *client_ctx);
/* The same with another clock (NULL: the real one) and network (required). */
struct scheduler *scheduler_new_with(struct event_base *base, const struct config *cf, struct spool *sp,
				     const struct sched_clock *clock, const struct sched_net *net);
void scheduler_kick(void *scheduler);
/* The DKIM keys for outpost's own mail (DSNs, delay notices): signed with
 * the key of the hostname's domain or its closest parent (dsn_sign()).
 * s may be NULL (a config without routes delivers nothing). */
struct dkim_signer;
void scheduler_set_dkim(struct scheduler *s, const struct dkim_signer *signer);
/* New routes, rules, retry and connection caps for what starts from now on;
 * cf must outlive the scheduler (transactions in flight keep old routes). */
void scheduler_reload(struct scheduler *s, const struct config *cf);
/* The canary's verdict on a route (a relay that broke DKIM signatures):
 * degraded with reason until a verdict with ok=1. */
void scheduler_canary(struct scheduler *s, const char *route, int ok, const char *reason);
/* The return path: fn gives the envelope sender to send a message with
 * (1, written to out) or keeps the message's own (0).  feedback's VERP. */
/* The monitor's verdict on a source address: listed on a blocklist that
 * receivers use (why says which), or no longer.  A listed address is
 * passed over by its route's source pool; a route whose every source is
 * listed goes down in route health at once, so mail takes the next route
 * of via; delisting lets the usual probe bring it back. */
void scheduler_source_listed(struct scheduler *s, const char *address, int listed, const char *why);
/* 1 when address is listed (see above). */
int sched_source_is_listed(const struct scheduler *s, const char *address);
void scheduler_set_return_path(struct scheduler *s,
			       int (*fn)(void *arg, const char *qid, const char *sender, char *out, size_t outlen),
			       void *arg);
/* Recipients to bounce rather than send: fn returns 1 with the reason
 * ("550 5.1.1 <x@y>: suppressed since ...") for a recipient that must not
 * be mailed; it gets a DSN like any bounce.  feedback's suppression list
 * in suppression.on_rcpt = "accept" mode. */
void scheduler_set_rcpt_filter(struct scheduler *s,
			       int (*fn)(void *arg, const char *rcpt, const char *sender, const char *user,
					 const char *qid, char *reply, size_t replylen),
			       void *arg);
/* An asynchronous bounce (it came back after the receiver accepted the
 * mail) that blames the path: a failure of route towards host's provider
 * (or rcpt's domain's), in route health as a synchronous one would be. */
void scheduler_route_feedback(void *s, const char *route, const char *host, const char *rcpt, const char *reason,
			      const char *diagnostic);
void scheduler_shutdown(struct scheduler *s, void (*done)(void *), void *arg);
void scheduler_abort(struct scheduler *s);
void scheduler_free(struct scheduler *s);

#endif
