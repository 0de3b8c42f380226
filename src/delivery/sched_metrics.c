/*
 * sched_metrics: the scheduler's gauges (sched_metrics.h).
 */
#include "delivery/sched_metrics.h"

#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "core/xmalloc.h"
#include "delivery/health.h"
#include "delivery/throttle.h"
#include "delivery/scheduler_int.h"
#include "obs/metrics.h"
#include "obs/queue_why.h"
#include "spool/spool_health.h"

/* A destination class as a label: the big providers by name ("gmail"),
 * "*" for a whole route, and "other" for the rest, which are registered
 * domains or addresses: one series each would be one per recipient domain. */
static const char *class_label(const char *dclass)
{
	return strpbrk(dclass, ".:") ? "other" : dclass;
}

/* Paths per state (0 or 1 for a provider; a count for "other"). */
static void health_row(const struct health_row *r, void *arg)
{
	(void)arg;
	for (int st = HEALTH_HEALTHY; st <= HEALTH_DOWN; st++)
		metrics_add(M_ROUTE_HEALTH, r->route, class_label(r->dclass),
			    health_state_name((enum health_state)st), r->state == (enum health_state)st);
}

/* Recipients waiting at d and the creation time of the oldest message. */
static double dest_waiting(const struct dest *d, time_t *oldest)
{
	double n = 0;
	for (const struct job *j = d->head; j; j = j->next) {
		n += (double)j->n;
		if (*oldest == 0 || j->q->m->created < *oldest)
			*oldest = j->q->m->created;
	}
	return n;
}

static void dest_gauges(struct scheduler *s, double now)
{
	for (size_t i = 0; i < s->cf->nroutes; i++) {
		const char *name = s->cf->routes[i].name;
		metrics_set(M_ROUTE_QUEUE, name, NULL, NULL, 0);
		metrics_set(M_ROUTE_QUEUE_OLDEST, name, NULL, NULL, 0);
		metrics_set(M_ROUTE_THROTTLED, name, NULL, NULL, 0);
		metrics_set(M_ROUTE_PARKED, name, NULL, NULL, 0);
	}
	for (const struct dest *d = s->dests; d; d = d->next) {
		time_t oldest = 0;
		double n = dest_waiting(d, &oldest);
		const char *name = d->route->name;
		metrics_add(M_ROUTE_QUEUE, name, NULL, NULL, n);
		if (oldest && now - (double)oldest > metrics_value(M_ROUTE_QUEUE_OLDEST, name, NULL, NULL))
			metrics_set(M_ROUTE_QUEUE_OLDEST, name, NULL, NULL, now - (double)oldest);
		if (d->hold_until > now) {
			metrics_add(M_ROUTE_THROTTLED, name, NULL, NULL, 1);
			metrics_add(M_ROUTE_PARKED, name, NULL, NULL, n);
		}
	}
}

/* Warm-up left per source, from the throttle's state lines
 * ("warmup route=R source=S provider=P period=D sent=N/CAP"), summed over the
 * routes and receivers the source warms up for. */
static void warmup_gauges(struct scheduler *s)
{
	struct buf b = BUF_INIT;
	throttle_describe(s->thr, &b, sched_now(s));
	buf_putc(&b, '\0');
	for (char *line = b.data, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		char source[128];
		unsigned long sent;
		double cap;
		const char *src = strstr(line, " source="), *st = strstr(line, " sent=");
		if (strncmp(line, "warmup ", 7) != 0 || src == NULL || st == NULL ||
		    sscanf(src, " source=%127s", source) != 1 || sscanf(st, " sent=%lu/%lf", &sent, &cap) != 2 ||
		    strcmp(source, "-") == 0)
			continue;
		metrics_add(M_WARMUP_REMAINING, source, NULL, NULL, cap > (double)sent ? cap - (double)sent : 0);
	}
	buf_free(&b);
}

void sched_metrics_collect(void *arg)
{
	struct scheduler *s = arg;
	metrics_clear(M_ROUTE_HEALTH);
	metrics_clear(M_ROUTE_QUEUE);
	metrics_clear(M_ROUTE_QUEUE_OLDEST);
	metrics_clear(M_ROUTE_THROTTLED);
	metrics_clear(M_ROUTE_PARKED);
	metrics_clear(M_WARMUP_REMAINING);
	warmup_gauges(s);
	health_each(s->health, sched_time(s), health_row, NULL);
	dest_gauges(s, sched_now(s));
}

struct live_rows {
	struct spool_health_row *rows;
	size_t n, cap;
	time_t now;
};

static void live_row(const struct health_row *r, void *arg)
{
	struct live_rows *lr = arg;
	if (lr->n == lr->cap) {
		lr->cap = lr->cap ? 2 * lr->cap : 16;
		lr->rows = xreallocarray(lr->rows, lr->cap, sizeof(*lr->rows));
	}
	lr->rows[lr->n++] = (struct spool_health_row){ xstrdup(r->route), xstrdup(r->dclass),
		xstrdup(health_state_name(r->state)), xstrdup(r->reason), xstrdup(r->last_reply), r->changed,
		r->probe_at, lr->now, r->fails, r->sent_hour, r->failed_hour };
}

void sched_routes_live(struct scheduler *s, struct spool_health_row **rows, size_t *n, struct buf *shaping)
{
	struct live_rows lr = { NULL, 0, 0, sched_time(s) };
	health_each(s->health, lr.now, live_row, &lr);
	*rows = lr.rows;
	*n = lr.n;
	throttle_describe(s->thr, shaping, sched_now(s));
	sched_conns_describe(s, shaping);
}

void sched_routes_free(struct spool_health_row *rows, size_t n)
{
	spool_health_rows_free(rows, n);
}

/* The shaping lines (throttle_describe) of back-off and warm-up on route,
 * "; "-joined into out, for a reason. */
static void route_shaping(const char *shaping, const char *route, char *out, size_t len)
{
	char key[160];
	size_t used = 0;
	out[0] = '\0';
	snprintf(key, sizeof(key), "route=%s ", route);
	for (const char *p = shaping; *p;) {
		size_t n = strcspn(p, "\n");
		int mine = (strncmp(p, "backoff ", 8) == 0 || strncmp(p, "warmup ", 7) == 0) &&
			   memmem(p, n, key, strlen(key)) != NULL;
		if (mine && used + n + 3 < len) {
			used += (size_t)snprintf(out + used, len - used, "; %.*s", (int)n, p);
		}
		p += n + (p[n] == '\n');
	}
}

static void live_add(struct queue_live_set *set, size_t *cap, const struct job *j, const struct dest *d,
		     double now, const char *shaping)
{
	char extra[300];
	if (set->n == *cap) {
		*cap = *cap ? 2 * *cap : 64;
		set->v = xreallocarray(set->v, *cap, sizeof(*set->v));
	}
	struct queue_live *l = &set->v[set->n++];
	snprintf(l->id, sizeof(l->id), "%s", j->q->m->id);
	route_shaping(shaping, d->route->name, extra, sizeof(extra));
	if (d->hold_until > now) {
		snprintf(l->reason, sizeof(l->reason), "held on route %s%s%s: %s%s", d->route->name,
			 d->domain ? " for " : "", d->domain ? d->domain : "",
			 d->hold_why ? d->hold_why : "a limit of this destination", extra);
		l->until = (long long)d->hold_until + 1;
	} else {
		snprintf(l->reason, sizeof(l->reason), "in delivery on route %s%s%s: waiting for a connection%s",
			 d->route->name, d->domain ? " for " : "", d->domain ? d->domain : "", extra);
		l->until = (long long)now;
	}
}

struct mx_copy {
	struct queue_live_set *set;
	size_t cap;
};

static void mx_add(void *arg, const char *domain, const char *host)
{
	struct mx_copy *mc = arg;
	struct queue_live_set *set = mc->set;
	if (set->nmx == mc->cap) {
		mc->cap = mc->cap ? 2 * mc->cap : 64;
		set->mx = xreallocarray(set->mx, mc->cap, sizeof(*set->mx));
	}
	set->mx[set->nmx++] = (struct queue_mx){ xstrdup(domain), xstrdup(host) };
}

void sched_queue_live(struct scheduler *s, struct queue_live_set *set)
{
	struct buf shaping = BUF_INIT;
	size_t cap = 0;
	double now = sched_now(s);
	throttle_describe(s->thr, &shaping, now);
	buf_putc(&shaping, '\0');
	*set = (struct queue_live_set){ NULL, 0, NULL, 0 };
	for (const struct dest *d = s->dests; d; d = d->next)
		for (const struct job *j = d->head; j; j = j->next)
			live_add(set, &cap, j, d, now, shaping.data);
	buf_free(&shaping);
	struct mx_copy mc = { set, 0 };
	mx_seen_each(s, mx_add, &mc);
	queue_live_sort(set);
}
