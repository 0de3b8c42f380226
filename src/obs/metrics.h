/*
 * metrics: the counters, gauges and histograms of outpost, kept in memory
 * and rendered as Prometheus text exposition (format 0.0.4) for GET /metrics.
 *
 * Contract:
 * - Every metric is one entry of enum metric_id, with a fixed name, type,
 *   help and label names (metrics.c); names follow Prometheus style
 *   (outpost_ prefix, _total counters, _seconds and _bytes units).
 * - Label values are bounded by the config (routes, classes, listeners,
 *   users, tenants, sources, enhanced status codes), never recipient
 *   addresses or domains.  A label value is copied; NULL means "" (for
 *   tenant: mail of no tenant).
 * - metrics_inc/add/set/observe are thread-safe (one mutex, held for a
 *   lookup among a family's series) and cheap enough for every delivery.
 * - Gauges that describe state (route health, queue, sessions) are set by
 *   collectors that metrics_render() runs first, on the loop thread;
 *   a collector clears its families (metrics_clear) before setting them.
 * - metrics_reset() forgets everything (tests, and the end of outpostd so
 *   LeakSanitizer sees nothing held).
 */
#ifndef OUTPOST_METRICS_H
#define OUTPOST_METRICS_H
#include <stddef.h>

struct buf;

enum metric_id {
	M_RECEIVED,            /* counter {listener,user} messages accepted into the spool */
	M_REJECTED,            /* counter {listener,reason} messages or recipients refused at the door */
	M_SESSIONS,            /* counter {listener} SMTP sessions accepted */
	M_SESSIONS_OPEN,       /* gauge SMTP sessions open now */
	M_ATTEMPTS,            /* counter {route,result} recipients by delivery outcome */
	M_BOUNCES,             /* counter {reason,scope,source} */
	M_FAILOVERS,           /* counter {from_route,to_route} */
	M_DKIM_SIGNED,         /* counter messages signed */
	M_DKIM_FAILED,         /* counter messages that could not be signed */
	M_ROUTE_HEALTH,        /* gauge {route,class,state} 1 for the current state */
	M_ROUTE_THROTTLED,     /* gauge {route} destinations held back by a limit or back-off */
	M_ROUTE_PARKED,        /* gauge {route} jobs waiting at the route's destinations */
	M_WARMUP_REMAINING,    /* gauge {source} messages the warm-up still allows today */
	M_ROUTE_QUEUE,         /* gauge {route} recipients waiting in memory for the route */
	M_ROUTE_QUEUE_OLDEST,  /* gauge {route} age of the oldest of them */
	M_QUEUE,               /* gauge messages in the spool */
	M_QUEUE_OLDEST,        /* gauge age of the oldest message in the spool */
	M_SPOOL_BYTES,         /* gauge size of the spool database */
	M_DELIVERY_LATENCY,    /* histogram {route} accept to delivered, seconds */
	M_TXN_DURATION,        /* histogram {route} outbound SMTP transaction, seconds */
	M_SCANS,               /* counter {result,tenant} messages judged by the outbound scanner, or "error" */
	M_SCAN_DURATION,       /* histogram {scanner} time a scan added to the SMTP transaction, seconds */
	M_SCAN_ERRORS,         /* counter {reason,action} scans that failed, and what on_error did */
	M_TENANT_RECEIVED,     /* counter {tenant} messages accepted into the spool */
	M_TENANT_RECIPIENTS,   /* counter {tenant,result} recipients by delivery outcome */
	M_TENANT_BOUNCES,      /* counter {tenant,reason,source} recipients bounced, as M_BOUNCES */
	M_TENANT_COMPLAINTS,   /* counter {tenant} complaints (ARF) about the tenant's mail */
	M_TENANT_STATE,        /* gauge {tenant,state} 1 for the current state (ok, held, throttled) */
	M_MONITOR_LISTED,      /* gauge {list,kind} watched subjects listed now (0: asked, not listed) */
	M_MONITOR_FINDINGS,    /* gauge {check,status} the monitor's watched items by status */
	M_MONITOR_SOURCES_DOWN,/* gauge source addresses out of use for a listing */
	M_MONITOR_RUNS,        /* counter monitor runs completed */
	M_MONITOR_QUERIES,     /* counter DNS lookups the monitor made */
	M_MONITOR_CHANGES,     /* counter {check} changes of the monitor's findings (new, status, gone) */
	M_PLACEMENT_RESULTS,   /* counter {route,result} placement probes by where they landed */
	M_PLACEMENT_INBOX,     /* gauge {route} share of the latest round's probes found in the inbox */
	M_COUNT
};

void metrics_add(enum metric_id m, const char *l1, const char *l2, const char *l3, double v);
static inline void metrics_inc(enum metric_id m, const char *l1, const char *l2)
{
	metrics_add(m, l1, l2, NULL, 1);
}
void metrics_set(enum metric_id m, const char *l1, const char *l2, const char *l3, double v);
void metrics_observe(enum metric_id m, const char *l1, double v);
void metrics_clear(enum metric_id m);

/* fn runs at the start of every metrics_render(); at most 16 of them. */
void metrics_collector_add(void (*fn)(void *arg), void *arg);
void metrics_collector_remove(void (*fn)(void *arg), void *arg);
void metrics_render(struct buf *out);
/* The value of one series (tests): 0 when it does not exist. */
double metrics_value(enum metric_id m, const char *l1, const char *l2, const char *l3);
void metrics_reset(void);

#endif
