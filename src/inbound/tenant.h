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
/* Forgets every count (tests). */
void tenant_rate_reset(void);

#endif
