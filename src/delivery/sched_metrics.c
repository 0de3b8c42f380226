/*
 * sched_metrics: the scheduler's gauges (sched_metrics.h).
 */
#include "delivery/sched_metrics.h"

#include <string.h>

#include "delivery/health.h"
#include "delivery/scheduler_int.h"
#include "obs/metrics.h"

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

void sched_metrics_collect(void *arg)
{
	struct scheduler *s = arg;
	metrics_clear(M_ROUTE_HEALTH);
	metrics_clear(M_ROUTE_QUEUE);
	metrics_clear(M_ROUTE_QUEUE_OLDEST);
	metrics_clear(M_ROUTE_THROTTLED);
	metrics_clear(M_ROUTE_PARKED);
	health_each(s->health, sched_time(s), health_row, NULL);
	dest_gauges(s, sched_now(s));
}
