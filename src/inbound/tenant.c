/*
 * tenant: identification and rate limits of tenants; see tenant.h.
 * Counts live in a small list keyed by name (tens of tenants, looked up
 * once per transaction), so a reload that keeps a name keeps its counts.
 */
#include "inbound/tenant.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/config.h"
#include "core/xmalloc.h"

enum { W_MINUTE, W_HOUR, W_DAY, W_COUNT };
static const unsigned window_len[W_COUNT] = { 60, 3600, 86400 };
static const char *const window_name[W_COUNT] = { "minute", "hour", "day" };

struct tenant_rate {
	char name[TENANT_NAME_MAX + 1];
	time_t start[W_COUNT];
	unsigned count[W_COUNT];
	struct tenant_rate *next;
};

static struct tenant_rate *rates;

const struct tenant_conf *tenant_find(const struct config *cf, const char *name)
{
	for (size_t i = 0; name && i < cf->ntenants; i++)
		if (strcmp(cf->tenants[i].name, name) == 0)
			return &cf->tenants[i];
	return NULL;
}

int tenant_domain_ok(const struct tenant_conf *t, const char *domain)
{
	if (t->ndomains == 0)
		return 1;
	size_t dl = domain ? strlen(domain) : 0;
	for (size_t i = 0; i < t->ndomains; i++) {
		size_t tl = strlen(t->domains[i]);
		if (dl == tl && strcasecmp(domain, t->domains[i]) == 0)
			return 1;
		if (dl > tl && domain[dl - tl - 1] == '.' && strcasecmp(domain + dl - tl, t->domains[i]) == 0)
			return 1;
	}
	return 0;
}

const struct tenant_conf *tenant_identify(const struct config *cf, const struct tenant_who *who,
					  const char **how)
{
	const char *unused;
	how = how ? how : &unused;
	for (size_t i = 0; who->user && i < cf->ntenants; i++)
		for (size_t k = 0; k < cf->tenants[i].nusers; k++)
			if (strcmp(cf->tenants[i].users[k], who->user) == 0) {
				*how = "user";
				return &cf->tenants[i];
			}
	for (size_t i = 0; who->client && i < cf->ntenants; i++)
		if (netmask_match_any(cf->tenants[i].networks, cf->tenants[i].nnetworks, who->client)) {
			*how = "network";
			return &cf->tenants[i];
		}
	for (size_t i = 0; who->sender_domain && *who->sender_domain && i < cf->ntenants; i++)
		if (cf->tenants[i].ndomains && tenant_domain_ok(&cf->tenants[i], who->sender_domain)) {
			*how = "domain";
			return &cf->tenants[i];
		}
	return NULL;
}

static struct tenant_rate *rate_of(const char *name)
{
	struct tenant_rate *r;
	for (r = rates; r; r = r->next)
		if (strcmp(r->name, name) == 0)
			return r;
	r = xcalloc(1, sizeof(*r));
	snprintf(r->name, sizeof(r->name), "%s", name);   /* names are at most TENANT_NAME_MAX */
	r->next = rates;
	rates = r;
	return r;
}

/* Starts the windows that have run out. */
static void rate_roll(struct tenant_rate *r, time_t now)
{
	for (int w = 0; w < W_COUNT; w++)
		if (now < r->start[w] || now - r->start[w] >= (time_t)window_len[w]) {
			r->start[w] = now - now % (time_t)window_len[w];
			r->count[w] = 0;
		}
}

int tenant_rate_check(const struct tenant_conf *t, time_t now, char *reply, size_t len)
{
	const unsigned limit[W_COUNT] = { t->limits.per_minute, t->limits.per_hour, t->limits.per_day };
	if (!limit[W_MINUTE] && !limit[W_HOUR] && !limit[W_DAY])
		return 0;
	struct tenant_rate *r = rate_of(t->name);
	rate_roll(r, now);
	for (int w = 0; w < W_COUNT; w++) {
		if (limit[w] == 0 || r->count[w] < limit[w])
			continue;
		int n = snprintf(reply, len, "451 4.7.1 tenant %s: rate limit of %u messages per %s reached, try again later",
				 t->name, limit[w], window_name[w]);
		if (n < 0 || (size_t)n >= len)
			snprintf(reply, len, "451 4.7.1 Tenant rate limit reached");
		return -1;
	}
	return 0;
}

void tenant_rate_count(const char *name, time_t now)
{
	struct tenant_rate *r = rate_of(name);
	rate_roll(r, now);
	for (int w = 0; w < W_COUNT; w++)
		r->count[w]++;
}

void tenant_rate_reset(void)
{
	while (rates) {
		struct tenant_rate *next = rates->next;
		free(rates);
		rates = next;
	}
}
