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
 * finish and be recorded, then calls done.
 */
#ifndef OUTPOST_SCHEDULER_H
#define OUTPOST_SCHEDULER_H
#include <openssl/ssl.h>

struct event_base;
struct config;
struct spool;
struct resolver;
struct scheduler;

struct scheduler *scheduler_new(struct event_base *base, const struct config *cf, struct spool *sp,
				struct resolver *res, SSL_CTX *client_ctx);
void scheduler_kick(void *scheduler);
/* New routes, rules, retry and connection caps for what starts from now on;
 * cf must outlive the scheduler (transactions in flight keep old routes). */
void scheduler_reload(struct scheduler *s, const struct config *cf);
/* The canary's verdict on a route (a relay that broke DKIM signatures):
 * degraded with reason until a verdict with ok=1. */
void scheduler_canary(struct scheduler *s, const char *route, int ok, const char *reason);
void scheduler_shutdown(struct scheduler *s, void (*done)(void *), void *arg);
void scheduler_free(struct scheduler *s);

#endif
