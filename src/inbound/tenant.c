/*
 * tenant: identification and rate limits of tenants; see tenant.h.
 * Counts live in a small list keyed by name (tens of tenants, looked up
 * once per transaction), so a reload that keeps a name keeps its counts.
 * The list is under one mutex: sessions of every inbound loop check and
 * count rates, the main loop records outcomes and holds.
 */
#include "inbound/tenant.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/config.h"
#include "core/log.h"
#include "core/xmalloc.h"

enum { W_MINUTE, W_HOUR, W_DAY, W_COUNT };
static const unsigned window_len[W_COUNT] = { 60, 3600, 86400 };
static const char *const window_name[W_COUNT] = { "minute", "hour", "day" };

#define TENANT_HOURS (7 * 24)   /* the longest protect window */

struct tenant_rate {
	char name[TENANT_NAME_MAX + 1];
	time_t start[W_COUNT];
	unsigned count[W_COUNT];
	/* outcomes per hour, bucket h % TENANT_HOURS holds hour h */
	long long hour[TENANT_HOURS];
	unsigned sent[TENANT_HOURS], bounced[TENANT_HOURS], complained[TENANT_HOURS];
	int held, throttled;
	char why[200];
	struct tenant_rate *next;
};

static pthread_mutex_t rates_mu = PTHREAD_MUTEX_INITIALIZER;
static struct tenant_rate *rates;   /* under rates_mu */
static tenant_hold_fn *hold_hook;
static void *hold_hook_arg;

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

/* The 451 for a held tenant; 0 when it is not held. */
static int hold_reply(const struct tenant_rate *r, char *reply, size_t len)
{
	if (!r->held)
		return 0;
	int n = snprintf(reply, len, "451 4.7.1 tenant %s held: %s", r->name, r->why);
	if (n < 0 || (size_t)n >= len)
		snprintf(reply, len, "451 4.7.1 Tenant held");
	return -1;
}

static int rate_check_locked(const struct tenant_conf *t, time_t now, char *reply, size_t len)
{
	unsigned limit[W_COUNT] = { t->limits.per_minute, t->limits.per_hour, t->limits.per_day };
	struct tenant_rate *r = rates;
	while (r && strcmp(r->name, t->name) != 0)
		r = r->next;
	if (r && hold_reply(r, reply, len) < 0)
		return -1;
	if (r && r->throttled && (limit[W_MINUTE] == 0 || limit[W_MINUTE] > t->protect.throttle_per_minute))
		limit[W_MINUTE] = t->protect.throttle_per_minute;
	if (!limit[W_MINUTE] && !limit[W_HOUR] && !limit[W_DAY])
		return 0;
	r = rate_of(t->name);
	rate_roll(r, now);
	for (int w = 0; w < W_COUNT; w++) {
		if (limit[w] == 0 || r->count[w] < limit[w])
			continue;
		int n = snprintf(reply, len, "451 4.7.1 tenant %s%s%s%s: rate limit of %u messages per %s reached, "
				 "try again later", t->name, r->throttled ? " throttled (" : "",
				 r->throttled ? r->why : "", r->throttled ? ")" : "", limit[w], window_name[w]);
		if (n < 0 || (size_t)n >= len)
			snprintf(reply, len, "451 4.7.1 Tenant rate limit reached");
		return -1;
	}
	return 0;
}

static void rate_count_locked(const char *name, time_t now)
{
	struct tenant_rate *r = rate_of(name);
	rate_roll(r, now);
	for (int w = 0; w < W_COUNT; w++)
		r->count[w]++;
}

void tenant_set_hold_hook(tenant_hold_fn *fn, void *arg)
{
	hold_hook = fn;
	hold_hook_arg = arg;
}

/* The bucket of now's hour, emptied when it last held an older hour. */
static size_t hour_bucket(struct tenant_rate *r, time_t now)
{
	long long h = (long long)now / 3600;
	size_t b = (size_t)(h % TENANT_HOURS);
	if (r->hour[b] != h) {
		r->hour[b] = h;
		r->sent[b] = r->bounced[b] = r->complained[b] = 0;
	}
	return b;
}

/* Why t must be held now ("" when it need not), from the window's counts. */
static void judge(const struct tenant_conf *t, const struct tenant_rate *r, time_t now, char *why, size_t len)
{
	const struct tenant_protect *p = &t->protect;
	long long h = (long long)now / 3600, hours = p->window / 3600;
	unsigned long long sent = 0, bounced = 0, complained = 0;
	why[0] = '\0';
	for (size_t b = 0; b < TENANT_HOURS; b++)
		if (r->hour[b] > h - hours && r->hour[b] <= h) {
			sent += r->sent[b];
			bounced += r->bounced[b];
			complained += r->complained[b];
		}
	if (sent == 0 || sent < p->min_messages)
		return;
	double br = 100.0 * (double)bounced / (double)sent, cr = 100.0 * (double)complained / (double)sent;
	int n = 0;
	if (p->max_complaint_rate > 0 && cr > p->max_complaint_rate)
		n = snprintf(why, len, "complaint rate %.1f %% over %s exceeds %g %%", cr, p->window_text,
			     p->max_complaint_rate);
	else if (p->max_bounce_rate > 0 && br > p->max_bounce_rate)
		n = snprintf(why, len, "bounce rate %.1f %% over %s exceeds %g %%", br, p->window_text,
			     p->max_bounce_rate);
	if (n < 0 || (size_t)n >= len)
		why[0] = '\0';
}

/* Holds (or throttles) the tenant when its rates say so. */
static void protect_check(const struct tenant_conf *t, struct tenant_rate *r, time_t now)
{
	char why[sizeof(r->why)];
	if (r->held || r->throttled)
		return;
	judge(t, r, now, why, sizeof(why));
	if (why[0] == '\0')
		return;
	memcpy(r->why, why, sizeof(r->why));
	r->throttled = t->protect.action == TENANT_THROTTLE;
	r->held = !r->throttled;
	msg_warn("event=tenant_held tenant=%s action=%s reason=\"%s\"", r->name, r->held ? "hold" : "throttle", why);
	struct tenant_hold hold = { r->name, r->why, r->throttled };
	if (hold_hook)
		hold_hook(hold_hook_arg, &hold, now);
}

static void outcome_locked(const struct config *cf, const char *name, int bounced, time_t now)
{
	const struct tenant_conf *t = tenant_find(cf, name);
	if (t == NULL || !t->protect.set)
		return;
	struct tenant_rate *r = rate_of(name);
	size_t b = hour_bucket(r, now);
	r->sent[b]++;
	r->bounced[b] += bounced != 0;
	protect_check(t, r, now);
}

static void complaint_locked(const struct config *cf, const char *name, time_t now)
{
	const struct tenant_conf *t = tenant_find(cf, name);
	if (t == NULL || !t->protect.set)
		return;
	struct tenant_rate *r = rate_of(name);
	r->complained[hour_bucket(r, now)]++;
	protect_check(t, r, now);
}

static void holds_sync_locked(const struct tenant_hold *holds, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct tenant_rate *r = rate_of(holds[i].name);
		r->throttled = holds[i].throttled != 0;
		r->held = !r->throttled;
		snprintf(r->why, sizeof(r->why), "%s", holds[i].why ? holds[i].why : "held by the operator");
	}
	for (struct tenant_rate *r = rates; r; r = r->next) {
		size_t i;
		for (i = 0; i < n && strcmp(holds[i].name, r->name) != 0; i++)
			;
		if (i < n || (!r->held && !r->throttled))
			continue;
		msg_info("event=tenant_released tenant=%s", r->name);
		r->held = r->throttled = 0;
		r->why[0] = '\0';
		memset(r->hour, 0, sizeof(r->hour));   /* judged afresh from now on */
	}
}

static int is_held_locked(const char *name, const char **why)
{
	for (struct tenant_rate *r = rates; r; r = r->next)
		if (strcmp(r->name, name) == 0 && (r->held || r->throttled)) {
			if (why)
				*why = r->why;
			return 1;
		}
	return 0;
}

int tenant_hold_state(const char *name)
{
	for (struct tenant_rate *r = rates; r; r = r->next)
		if (strcmp(r->name, name) == 0)
			return r->held ? 1 : r->throttled ? 2 : 0;
	return 0;
}

void tenant_rate_reset(void)
{
	pthread_mutex_lock(&rates_mu);
	while (rates) {
		struct tenant_rate *next = rates->next;
		free(rates);
		rates = next;
	}
	pthread_mutex_unlock(&rates_mu);
}

/* ---- the public functions: each one step under rates_mu ---- */

int tenant_rate_check(const struct tenant_conf *t, time_t now, char *reply, size_t len)
{
	pthread_mutex_lock(&rates_mu);
	int rc = rate_check_locked(t, now, reply, len);
	pthread_mutex_unlock(&rates_mu);
	return rc;
}

void tenant_rate_count(const char *name, time_t now)
{
	pthread_mutex_lock(&rates_mu);
	rate_count_locked(name, now);
	pthread_mutex_unlock(&rates_mu);
}

void tenant_outcome(const struct config *cf, const char *name, int bounced, time_t now)
{
	pthread_mutex_lock(&rates_mu);
	outcome_locked(cf, name, bounced, now);
	pthread_mutex_unlock(&rates_mu);
}

void tenant_complaint(const struct config *cf, const char *name, time_t now)
{
	pthread_mutex_lock(&rates_mu);
	complaint_locked(cf, name, now);
	pthread_mutex_unlock(&rates_mu);
}

void tenant_holds_sync(const struct tenant_hold *holds, size_t n)
{
	pthread_mutex_lock(&rates_mu);
	holds_sync_locked(holds, n);
	pthread_mutex_unlock(&rates_mu);
}

/* *why stays valid on the main loop: only main's calls change it. */
int tenant_is_held(const char *name, const char **why)
{
	pthread_mutex_lock(&rates_mu);
	int held = is_held_locked(name, why);
	pthread_mutex_unlock(&rates_mu);
	return held;
}
