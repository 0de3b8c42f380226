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
 * with a DSN to the sender, never to the null sender.  It does nothing
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
void scheduler_shutdown(struct scheduler *s, void (*done)(void *), void *arg);
void scheduler_free(struct scheduler *s);

#endif
