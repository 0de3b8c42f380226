/*
 * tenant: which tenant (tenant_config.h) a message belongs to, and whether
 * that tenant may send one more right now.
 *
 * Contract:
 * - tenant_identify() is a pure function of (config, who): the tenant of
 *   the authenticated user when it has one; else the first tenant (in file
 *   order) whose networks hold the client address; else the tenant whose
 *   domains hold the envelope sender's domain; else NULL.  *how (may be
 *   NULL) gets "user", "network" or "domain".
 * - tenant_domain_ok(): 1 when t may send as domain: t lists no domains,
 *   or domain is one of them or below one (case-insensitive).
 * - Rate limits are counted per tenant name on the event loop thread (the
 *   counts survive a reload; a restart starts them again): fixed windows of
 *   a minute, an hour and a day.  tenant_rate_check() fills reply with the
 *   451 4.7.1 text and returns -1 when a limit is reached, else 0;
 *   tenant_rate_count() counts one accepted message.
 * - Protection (tenant_config.h protect): tenant_outcome() and
 *   tenant_complaint() count what became of its mail (loop thread) in
 *   hourly buckets of the last 7 days; when a rate over the window passes
 *   its threshold (with min_messages outcomes in the window) the tenant is
 *   held (every MAIL answered 451 4.7.1 "tenant NAME held: ...") or
 *   throttled (capped at throttle_per_minute), the hook is told (it keeps
 *   the hold in the spool: tenant_guard.h) and event=tenant_held is logged.
 *   tenant_rate_check() answers for holds too.  tenant_holds_sync() makes
 *   the holds exactly those the spool lists (start, and after `outpost
 *   tenant release`): a released tenant's outcome counts start again.
 */
#ifndef OUTPOST_TENANT_H
#define OUTPOST_TENANT_H
#include <stddef.h>
#include <sys/socket.h>
#include <time.h>

#include "inbound/tenant_config.h"

struct config;

struct tenant_who {
	const char *user;              /* authenticated user, NULL */
	const struct sockaddr *client; /* NULL: local submission */
	const char *sender_domain;     /* NULL: the null sender */
};

const struct tenant_conf *tenant_identify(const struct config *cf, const struct tenant_who *who,
					  const char **how);
const struct tenant_conf *tenant_find(const struct config *cf, const char *name);
int tenant_domain_ok(const struct tenant_conf *t, const char *domain);

int tenant_rate_check(const struct tenant_conf *t, time_t now, char *reply, size_t len);
void tenant_rate_count(const char *name, time_t now);
/* What the spool keeps of a hold (tenant_state). */
struct tenant_hold {
	const char *name;
	const char *why;             /* "bounce rate 60.0 % over 24h exceeds 5.0 %" */
	int throttled;               /* 0: held */
};

typedef void tenant_hold_fn(void *arg, const struct tenant_hold *h, time_t since);
void tenant_set_hold_hook(tenant_hold_fn *fn, void *arg);
void tenant_outcome(const struct config *cf, const char *name, int bounced, time_t now);
void tenant_complaint(const struct config *cf, const char *name, time_t now);
void tenant_holds_sync(const struct tenant_hold *holds, size_t n);
/* 1 when name is held or throttled now (why, may be NULL, gets the reason). */
int tenant_is_held(const char *name, const char **why);
/* 0 when name may send, 1 when held, 2 when throttled. */
int tenant_hold_state(const char *name);

/* Forgets every count and hold (tests). */
void tenant_rate_reset(void);

#endif
