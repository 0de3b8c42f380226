/*
 * sched_mx: the one reader of an MX answer (part of the scheduler:
 * scheduler_int.h), for routing (the `mx` rules) and for delivery alike.
 *
 * Contract: mx_answer_read() turns a dns_result for domain's MX into
 *   MX_HOSTS   the hosts in preference order (RFC 5321 5.1), trailing dot
 *              removed; no MX records (NODATA) gives the domain itself;
 *              records that are all "." (but not a lone null MX) give none;
 *   MX_NONE    NXDOMAIN (550 5.1.2) or a null MX (RFC 7505, 556 5.1.10):
 *              no host, and a permanent verdict for every recipient;
 *   MX_FAILED  SERVFAIL, timeout or another rcode (451 4.4.3): defer.
 * hosts is a NULL-ended array (empty for MX_NONE, NULL for MX_FAILED);
 * mx_answer_clear() frees it.
 * The cache keeps each definite answer (not MX_FAILED) for MX_CACHE_TTL
 * seconds of the scheduler's clock, so that routing (which needs the MX
 * for the provider) and delivery ask DNS once; at most MX_CACHE_MAX
 * domains (expired ones are dropped first; when full, nothing is added).
 * Besides, the best host of each domain's last definite answer is kept for
 * MX_SEEN_TTL (at most MX_SEEN_MAX domains, in a hash table), only to say
 * which provider a waiting message is counted under (`outpost queue show`):
 * mx_seen_each() walks it; delivery never reads it.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/xmalloc.h"
#include "delivery/scheduler_int.h"
#include "dns/dns.h"

#define MX_CACHE_TTL 60
#define MX_CACHE_MAX 10000
#define MX_SEEN_TTL 86400         /* longer than a step of the default retry schedule */
#define MX_SEEN_MAX 50000
#define MX_SEEN_BUCKETS 16384

struct mx_seen {
	char *domain;             /* lowercased */
	char *host;               /* the best MX host */
	double at;
	struct mx_seen *next;
};

struct mx_cached {
	char *domain;
	struct mx_answer a;
	double expires;
	struct mx_cached *next;
};

void mx_answer_read(const struct dns_result *res, const char *domain, struct mx_answer *a)
{
	*a = (struct mx_answer){ MX_HOSTS, NULL, 0, { 0 } };
	if (res->rcode == DNS_RCODE_NXDOMAIN) {
		a->kind = MX_NONE;
		reply_classify(550, "5.1.2 Recipient domain does not exist (NXDOMAIN)", &a->verdict);
	} else if (res->rcode != DNS_RCODE_NOERROR) {
		char why[300];
		snprintf(why, sizeof(why), "4.4.3 MX lookup for %s failed: %s", domain,
			 res->timed_out ? "timeout" : res->why ? res->why : "SERVFAIL");
		a->kind = MX_FAILED;
		reply_classify(451, why, &a->verdict);
		return;
	} else if (res->n == 1 && strcmp(res->mx[0].host, ".") == 0) {
		a->kind = MX_NONE;
		reply_classify(556, "5.1.10 Recipient domain accepts no mail (null MX)", &a->verdict);
	} else if (res->n > 0) {
		a->hosts = dns_mx_hosts(res->mx, res->n, &a->n);
		return;
	} else {
		/* no MX: the domain's own address */
		size_t l = strlen(domain);
		a->hosts = xcalloc(2, sizeof(char *));
		a->hosts[0] = xstrndup(domain, l > 1 && domain[l - 1] == '.' ? l - 1 : l);
		a->n = 1;
		return;
	}
	a->hosts = xcalloc(1, sizeof(char *));
}

void mx_answer_clear(struct mx_answer *a)
{
	dns_hosts_free(a->hosts);
	a->hosts = NULL;
	a->n = 0;
}

static void mx_cached_free(struct mx_cached *e)
{
	free(e->domain);
	mx_answer_clear(&e->a);
	free(e);
}

/* Drops expired entries (all of them when now is 0). */
static void mx_cache_expire(struct scheduler *s, double now)
{
	for (struct mx_cached **p = &s->mxcache; *p;) {
		struct mx_cached *e = *p;
		if (now == 0 || e->expires <= now) {
			*p = e->next;
			mx_cached_free(e);
			s->nmxcache--;
		} else {
			p = &e->next;
		}
	}
}

const struct mx_answer *mx_cache_get(struct scheduler *s, const char *domain)
{
	double now = sched_now(s);
	for (struct mx_cached *e = s->mxcache; e; e = e->next)
		if (strcasecmp(e->domain, domain) == 0)
			return e->expires > now ? &e->a : NULL;
	return NULL;
}

static size_t seen_hash(const char *domain)
{
	size_t h = 5381;
	for (const char *p = domain; *p; p++)
		h = h * 33 + (unsigned char)*p;
	return h % MX_SEEN_BUCKETS;
}

/* Drops entries older than MX_SEEN_TTL (all of them when now is 0). */
static void mx_seen_expire(struct scheduler *s, double now)
{
	for (size_t i = 0; s->mxseen && i < MX_SEEN_BUCKETS; i++)
		for (struct mx_seen **p = &s->mxseen[i]; *p;) {
			struct mx_seen *e = *p;
			if (now == 0 || now - e->at > MX_SEEN_TTL) {
				*p = e->next;
				free(e->domain);
				free(e->host);
				free(e);
				s->nmxseen--;
			} else {
				p = &e->next;
			}
		}
}

/* Notes the best host of domain's answer for mx_seen_each(). */
static void mx_seen_put(struct scheduler *s, const char *domain, const char *host, double now)
{
	char lower[256];
	size_t l = strlen(domain);
	if (l >= sizeof(lower))
		return;
	for (size_t i = 0; i <= l; i++)
		lower[i] = (char)tolower((unsigned char)domain[i]);
	if (s->mxseen == NULL)
		s->mxseen = xcalloc(MX_SEEN_BUCKETS, sizeof(*s->mxseen));
	struct mx_seen **b = &s->mxseen[seen_hash(lower)], *e;
	for (e = *b; e && strcmp(e->domain, lower) != 0; e = e->next)
		;
	if (e == NULL) {
		if (s->nmxseen >= MX_SEEN_MAX)
			mx_seen_expire(s, now);
		if (s->nmxseen >= MX_SEEN_MAX)
			return;   /* full of fresh ones: this domain shows as not resolved */
		e = xcalloc(1, sizeof(*e));
		e->domain = xstrdup(lower);
		e->next = *b;
		*b = e;
		s->nmxseen++;
	} else if (strcmp(e->host, host) != 0) {
		free(e->host);
		e->host = NULL;
	}
	if (e->host == NULL)
		e->host = xstrdup(host);
	e->at = now;
}

void mx_seen_each(struct scheduler *s, void (*fn)(void *arg, const char *domain, const char *host), void *arg)
{
	double now = sched_now(s);
	for (size_t i = 0; s->mxseen && i < MX_SEEN_BUCKETS; i++)
		for (const struct mx_seen *e = s->mxseen[i]; e; e = e->next)
			if (now - e->at <= MX_SEEN_TTL)
				fn(arg, e->domain, e->host);
}

void mx_cache_put(struct scheduler *s, const char *domain, const struct mx_answer *a)
{
	double now = sched_now(s);
	if (a->kind == MX_FAILED)
		return;
	if (a->kind == MX_HOSTS && a->n > 0)
		mx_seen_put(s, domain, a->hosts[0], now);
	mx_cache_expire(s, now);
	for (struct mx_cached *e = s->mxcache; e; e = e->next)
		if (strcasecmp(e->domain, domain) == 0)
			return;  /* a fresh one is there */
	if (s->nmxcache >= MX_CACHE_MAX)
		return;
	struct mx_cached *e = xcalloc(1, sizeof(*e));
	e->domain = xstrdup(domain);
	e->a = *a;
	e->a.hosts = xcalloc(a->n + 1, sizeof(char *));
	for (size_t i = 0; i < a->n; i++)
		e->a.hosts[i] = xstrdup(a->hosts[i]);
	e->expires = now + MX_CACHE_TTL;
	e->next = s->mxcache;
	s->mxcache = e;
	s->nmxcache++;
}

void mx_cache_free(struct scheduler *s)
{
	mx_cache_expire(s, 0);
	mx_seen_expire(s, 0);
	free(s->mxseen);
	s->mxseen = NULL;
}
