/*
 * canary: proves that signatures survive each relay route.
 * Contract: every `canary.interval` (and once shortly after start) one
 * probe message, DKIM-signed like any other mail, is queued through each
 * relay route (spool_msg.route forces the route) to `canary.address`.
 * The mailbox side is this same daemon: the smtpd hands mail for that
 * address to canary_receive() instead of the spool.  The probe's
 * signatures are verified with keys fetched through the resolver, and
 * the verdict is logged (`event=canary route=R result=pass|fail
 * reason="..."`) and given to the verdict callback, once per probe.
 * A probe whose X-Outpost-Canary field is missing is judged for route
 * "unknown".
 */
#ifndef OUTPOST_CANARY_H
#define OUTPOST_CANARY_H
#include <stddef.h>

struct config;
struct dkim_signer;
struct event_base;
struct resolver;
struct spool;
struct canary;

typedef void canary_verdict_cb(void *arg, const char *route, int ok, const char *reason);

/* NULL when the config has no canary.  kick(kick_arg) is called after
 * probes were queued (scheduler_kick). */
struct canary *canary_new(struct event_base *base, const struct config *cf, struct spool *sp,
			  struct resolver *r, const struct dkim_signer *sg,
			  void (*kick)(void *), void *kick_arg);
void canary_on_verdict(struct canary *c, canary_verdict_cb *cb, void *arg);
/* A reloaded config (routes may have changed; the address may not). */
void canary_reload(struct canary *c, const struct config *cf);
void canary_free(struct canary *c);

/* 1 when rcpt is the canary mailbox (case-insensitive). */
int canary_is_mailbox(const struct canary *c, const char *rcpt);
/* A probe arrived (the message as received); verifies it asynchronously. */
void canary_receive(struct canary *c, const char *msg, size_t len, const char *qid);
/* Queues one probe per relay route now; returns how many. */
size_t canary_send_round(struct canary *c);

#endif
