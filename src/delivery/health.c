/*
 * health: circuit breakers for delivery paths; see health.h.
 * The paths live in an array (routes x providers in use), found through
 * a hash of (route, class): with 100 routes all down, routing a message
 * asks each route of its via in turn, and a linear search made that
 * quadratic in the routes.
 */
#include "health.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hash.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "obs/obs.h"

#define MINUTES 60   /* counts over the last hour, one bucket per minute */

struct path {
	char *route, *dclass;
	enum health_state state;
	char reason[256];
	char last_reply[256];
	int canary_broken;        /* degraded by the canary until it passes */
	time_t changed, probe_at;
	unsigned fails;           /* consecutive */
	unsigned backoff;         /* seconds of the current probe back-off */
	int probing;              /* a probe went out since the last failure */
	time_t bucket_min[MINUTES];
	unsigned sent[MINUTES], failed[MINUTES];
};

struct health {
	struct health_conf conf;
	struct path *p;
	size_t n, cap;
	size_t *slot;             /* open addressing: index + 1 into p, 0 empty */
	size_t nslots;            /* a power of 2, at least 2n */
	int dirty;
};

struct health *health_new(const struct health_conf *hc)
{
	struct health *h = xcalloc(1, sizeof(*h));
	h->conf = *hc;
	return h;
}

void health_set_conf(struct health *h, const struct health_conf *hc)
{
	h->conf = *hc;
}

void health_free(struct health *h)
{
	if (h == NULL)
		return;
	for (size_t i = 0; i < h->n; i++) {
		free(h->p[i].route);
		free(h->p[i].dclass);
	}
	free(h->p);
	free(h->slot);
	free(h);
}

const struct name_code health_state_names[] = {
	{ "healthy", HEALTH_HEALTHY }, { "degraded", HEALTH_DEGRADED }, { "down", HEALTH_DOWN }, { NULL, -1 },
};

const char *health_state_name(enum health_state s)
{
	const char *name = str_name_code(health_state_names, (int)s);
	return name ? name : "healthy";
}

static size_t path_hash(const char *route, const char *dclass)
{
	return (size_t)fnv1a_str(fnv1a_byte(fnv1a_str(FNV1A_INIT, route), 0), dclass);
}

/* The slot of (route, dclass): where it is, or the empty one it would take. */
static size_t *path_slot(struct health *h, const char *route, const char *dclass)
{
	size_t i = path_hash(route, dclass) & (h->nslots - 1);
	for (;; i = (i + 1) & (h->nslots - 1)) {
		size_t k = h->slot[i];
		if (k == 0 || (strcmp(h->p[k - 1].route, route) == 0 && strcmp(h->p[k - 1].dclass, dclass) == 0))
			return &h->slot[i];
	}
}

static void path_index(struct health *h)
{
	free(h->slot);
	h->nslots = h->nslots ? 2 * h->nslots : 16;
	h->slot = xcalloc(h->nslots, sizeof(*h->slot));
	for (size_t i = 0; i < h->n; i++)
		*path_slot(h, h->p[i].route, h->p[i].dclass) = i + 1;
}

static struct path *path_find(struct health *h, const char *route, const char *dclass)
{
	if (h->nslots == 0)
		return NULL;
	size_t k = *path_slot(h, route, dclass);
	return k ? &h->p[k - 1] : NULL;
}

static struct path *path_get(struct health *h, const char *route, const char *dclass)
{
	struct path *p = path_find(h, route, dclass);
	if (p)
		return p;
	if (h->n == h->cap) {
		h->cap = h->cap ? 2 * h->cap : 8;
		h->p = xreallocarray(h->p, h->cap, sizeof(*h->p));
	}
	p = &h->p[h->n++];
	memset(p, 0, sizeof(*p));
	p->route = xstrdup(route);
	p->dclass = xstrdup(dclass);
	if (2 * h->n > h->nslots)
		path_index(h);
	else
		*path_slot(h, route, dclass) = h->n;
	return p;
}

/* A path going down or coming back is an event (obs.h: webhooks). */
static void path_event(const struct path *p, enum health_state st, const char *reason, time_t now)
{
	char why[sizeof(p->reason)], last[sizeof(p->last_reply)], dclass[128];
	obs_text(last, sizeof(last), p->last_reply);
	obs_text(dclass, sizeof(dclass), p->dclass);   /* a registered domain, from outside */
	if (st == HEALTH_DOWN && p->state != HEALTH_DOWN)
		obs_event("route_down", NULL, p->route, NULL, "{s:s, s:s, s:s, s:I, s:s}", "class", dclass,
			  "reason", obs_text(why, sizeof(why), reason), "previous", health_state_name(p->state),
			  "probe_at", (long long)p->probe_at, "last_reply", last);
	else if (p->state == HEALTH_DOWN && st != HEALTH_DOWN)
		obs_event("route_up", NULL, p->route, NULL, "{s:s, s:s, s:I, s:s}", "class", dclass, "state",
			  health_state_name(st), "down_seconds", (long long)(now > p->changed ? now - p->changed : 0),
			  "last_reply", last);
}

static void path_set(struct health *h, struct path *p, enum health_state st, const char *reason, time_t now)
{
	if (p->state != st) {
		path_event(p, st, reason, now);
		p->changed = now;
		msg_info("event=route_health route=%s class=%s state=%s previous=%s reason=\"%s\"", p->route,
			 p->dclass, health_state_name(st), health_state_name(p->state), reason ? reason : "");
	}
	p->state = st;
	snprintf(p->reason, sizeof(p->reason), "%s", reason ? reason : "");
	h->dirty = 1;
}

static void count(struct path *p, int failed, time_t now)
{
	time_t min = now / 60;
	size_t b = (size_t)(min % MINUTES);
	if (p->bucket_min[b] != min) {
		p->bucket_min[b] = min;
		p->sent[b] = p->failed[b] = 0;
	}
	if (failed)
		p->failed[b]++;
	else
		p->sent[b]++;
}

/* Is the path p down for mail now?  Offers the due probe once: the next
 * one is due a back-off later, so a probe that never reports (the daemon
 * stopped first) does not keep the path closed for ever. */
static int path_blocks(struct path *p, time_t now, int *probe)
{
	if (p == NULL || p->state != HEALTH_DOWN)
		return 0;
	if (now < p->probe_at)
		return 1;
	p->probing = 1;
	p->probe_at = now + p->backoff;
	*probe = 1;
	msg_info("event=route_probe route=%s class=%s reason=\"%s\"", p->route, p->dclass, p->reason);
	return 0;
}

int health_usable(struct health *h, const char *route, const char *dclass, time_t now, int *probe)
{
	*probe = 0;
	if (path_blocks(path_find(h, route, "*"), now, probe))
		return 0;
	if (strcmp(dclass, "*") != 0 && path_blocks(path_find(h, route, dclass), now, probe))
		return 0;
	return 1;
}

void health_success(struct health *h, const char *route, const char *dclass, const char *reply, time_t now)
{
	struct path *p = path_get(h, route, dclass);
	count(p, 0, now);
	snprintf(p->last_reply, sizeof(p->last_reply), "%s", reply ? reply : "");
	p->fails = 0;
	p->backoff = 0;
	p->probing = 0;
	if (p->state == HEALTH_DOWN || (p->state == HEALTH_DEGRADED && !p->canary_broken))
		path_set(h, p, HEALTH_HEALTHY, "", now);
	/* a route-wide breaker closes too: the route just delivered */
	struct path *all = strcmp(dclass, "*") != 0 ? path_find(h, route, "*") : NULL;
	if (all && all->state != HEALTH_HEALTHY && !all->canary_broken) {
		all->fails = 0;
		all->backoff = 0;
		all->probing = 0;
		path_set(h, all, HEALTH_HEALTHY, "", now);
	}
}

int health_failure(struct health *h, const char *route, const char *dclass, const char *reason,
		   const char *reply, time_t now)
{
	struct path *p = path_get(h, route, dclass);
	count(p, 1, now);
	snprintf(p->last_reply, sizeof(p->last_reply), "%s", reply ? reply : "");
	p->fails++;
	h->dirty = 1;
	if (p->state == HEALTH_DOWN) {
		if (p->probing) {  /* the probe failed: wait twice as long */
			p->probing = 0;
			p->backoff = p->backoff * 2 > h->conf.probe_max ? h->conf.probe_max : p->backoff * 2;
			p->probe_at = now + p->backoff;
			snprintf(p->reason, sizeof(p->reason), "%s", reason);
		}
		return 0;
	}
	if (p->fails < h->conf.failures) {
		path_set(h, p, HEALTH_DEGRADED, reason, now);
		return 0;
	}
	p->backoff = h->conf.probe;
	p->probe_at = now + p->backoff;
	p->probing = 0;
	path_set(h, p, HEALTH_DOWN, reason, now);
	return 1;
}

void health_down(struct health *h, const char *route, const char *dclass, const char *reason, time_t now)
{
	struct path *p = path_get(h, route, dclass);
	if (p->state == HEALTH_DOWN)
		return;
	p->fails = h->conf.failures;
	p->backoff = h->conf.probe;
	p->probe_at = now + p->backoff;
	p->probing = 0;
	path_set(h, p, HEALTH_DOWN, reason, now);
}

void health_canary(struct health *h, const char *route, int ok, const char *reason, time_t now)
{
	struct path *p = path_get(h, route, "*");
	p->canary_broken = !ok;
	if (!ok && p->state != HEALTH_DOWN)
		path_set(h, p, HEALTH_DEGRADED, reason, now);
	else if (ok && p->state == HEALTH_DEGRADED && p->fails == 0)
		path_set(h, p, HEALTH_HEALTHY, "", now);
}

static unsigned hour_sum(const struct path *p, const unsigned *v, time_t now)
{
	unsigned s = 0;
	for (size_t i = 0; i < MINUTES; i++)
		if (p->bucket_min[i] > now / 60 - MINUTES)
			s += v[i];
	return s;
}

size_t health_each(struct health *h, time_t now, void (*fn)(const struct health_row *r, void *arg), void *arg)
{
	for (size_t i = 0; i < h->n && fn; i++) {
		const struct path *p = &h->p[i];
		struct health_row r = { p->route, p->dclass, p->state, p->reason, p->last_reply, p->changed,
					p->state == HEALTH_DOWN ? p->probe_at : 0, p->fails,
					hour_sum(p, p->sent, now), hour_sum(p, p->failed, now) };
		fn(&r, arg);
	}
	return h->n;
}

void health_restore(struct health *h, const struct health_row *r)
{
	struct path *p = path_get(h, r->route, r->dclass);
	p->state = r->state;
	p->changed = r->changed;
	p->probe_at = r->probe_at;
	p->fails = r->fails;
	p->backoff = h->conf.probe;
	snprintf(p->reason, sizeof(p->reason), "%s", r->reason ? r->reason : "");
	snprintf(p->last_reply, sizeof(p->last_reply), "%s", r->last_reply ? r->last_reply : "");
}

int health_dirty(struct health *h)
{
	int d = h->dirty;
	h->dirty = 0;
	return d;
}
