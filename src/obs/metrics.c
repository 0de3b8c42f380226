/*
 * metrics: families of labelled series under one mutex, rendered as
 * Prometheus text (see metrics.h).  A family holds its series in a list,
 * the one found last moved to the front (deliveries come in runs).
 */
#include "obs/metrics.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/xmalloc.h"

#define MAX_LABELS 3
#define MAX_COLLECTORS 16

struct series {
	char *l[MAX_LABELS];
	double v;                 /* counter or gauge; histogram: the sum */
	uint64_t count;           /* histogram */
	uint64_t *buckets;        /* histogram: one per bound, not cumulative */
	struct series *next;
};

enum mtype { COUNTER, GAUGE, HISTOGRAM };

struct family {
	const char *name, *help;
	enum mtype type;
	const char *labels[MAX_LABELS];
	const double *bounds;
	size_t nbounds;
	struct series *head;
};

static const double latency_bounds[] = { 1, 5, 15, 30, 60, 300, 900, 1800, 3600, 14400, 43200, 86400,
	259200 };
static const double txn_bounds[] = { 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300 };
/* a scan of a small message by a local rspamd takes milliseconds */
static const double scan_bounds[] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
	30 };
#define NB(a) (sizeof(a) / sizeof((a)[0]))

static struct family fam[M_COUNT] = {
	[M_RECEIVED] = { "outpost_messages_received_total", "Messages accepted into the spool.",
			 COUNTER, { "listener", "user" }, NULL, 0, NULL },
	[M_REJECTED] = { "outpost_messages_rejected_total",
			 "Messages (and recipients, at RCPT) refused before they were queued, by reason class.",
			 COUNTER, { "listener", "reason" }, NULL, 0, NULL },
	[M_SESSIONS] = { "outpost_smtp_sessions_total", "SMTP sessions accepted.", COUNTER,
			 { "listener" }, NULL, 0, NULL },
	[M_SESSIONS_OPEN] = { "outpost_smtp_sessions_open", "SMTP sessions open now.", GAUGE,
			      { NULL }, NULL, 0, NULL },
	[M_ATTEMPTS] = { "outpost_delivery_attempts_total",
			 "Recipients attempted, by route and result (delivered, deferred, bounced).", COUNTER,
			 { "route", "result" }, NULL, 0, NULL },
	[M_BOUNCES] = { "outpost_bounces_total",
			"Recipients bounced, by reason and scope as classified, and where it was learnt (delivery, report).",
			COUNTER, { "reason", "scope", "source" }, NULL, 0, NULL },
	[M_FAILOVERS] = { "outpost_failovers_total", "Jobs moved from one route to the next.", COUNTER,
			  { "from_route", "to_route" }, NULL, 0, NULL },
	[M_DKIM_SIGNED] = { "outpost_dkim_signatures_total", "Messages signed with DKIM.", COUNTER,
			    { NULL }, NULL, 0, NULL },
	[M_DKIM_FAILED] = { "outpost_dkim_failures_total", "Messages that could not be DKIM-signed.",
			    COUNTER, { NULL }, NULL, 0, NULL },
	[M_ROUTE_HEALTH] = { "outpost_route_health", "Paths of a route and destination class in each health state (classes beyond the big providers summed as other).",
			     GAUGE, { "route", "class", "state" }, NULL, 0, NULL },
	[M_ROUTE_THROTTLED] = { "outpost_route_throttled_destinations",
				"Destinations of a route held back now by a limit or a back-off.", GAUGE,
				{ "route" }, NULL, 0, NULL },
	[M_ROUTE_PARKED] = { "outpost_route_parked_recipients",
			     "Recipients waiting at destinations that are held back now.", GAUGE,
			     { "route" }, NULL, 0, NULL },
	[M_WARMUP_REMAINING] = { "outpost_warmup_remaining_messages",
				 "Messages the warm-up of a source still allows in its current day.", GAUGE,
				 { "source" }, NULL, 0, NULL },
	[M_ROUTE_QUEUE] = { "outpost_route_queue_recipients",
			    "Recipients claimed from the spool and waiting for a route.", GAUGE,
			    { "route" }, NULL, 0, NULL },
	[M_ROUTE_QUEUE_OLDEST] = { "outpost_route_queue_oldest_age_seconds",
				   "Age of the oldest message waiting for a route.", GAUGE, { "route" },
				   NULL, 0, NULL },
	[M_QUEUE] = { "outpost_queue_messages", "Messages in the spool.", GAUGE, { NULL }, NULL, 0, NULL },
	[M_QUEUE_OLDEST] = { "outpost_queue_oldest_age_seconds", "Age of the oldest message in the spool.",
			     GAUGE, { NULL }, NULL, 0, NULL },
	[M_SPOOL_BYTES] = { "outpost_spool_bytes", "Size of the spool: the database and the body segment files.", GAUGE, { NULL }, NULL,
			    0, NULL },
	[M_DELIVERY_LATENCY] = { "outpost_delivery_latency_seconds",
				 "Time from acceptance to delivery, per delivered recipient.", HISTOGRAM,
				 { "route" }, latency_bounds, NB(latency_bounds), NULL },
	[M_TXN_DURATION] = { "outpost_smtp_transaction_duration_seconds",
			     "Duration of outbound SMTP transactions (MAIL to the end of DATA).", HISTOGRAM,
			     { "route" }, txn_bounds, NB(txn_bounds), NULL },
	[M_SCANS] = { "outpost_scans_total",
		      "Messages judged by the outbound scanner, by action (error: not judged, on_error applied).",
		      COUNTER, { "result", "tenant" }, NULL, 0, NULL },
	[M_SCAN_DURATION] = { "outpost_scan_duration_seconds",
			      "Time the outbound scanner added to the SMTP transaction.", HISTOGRAM,
			      { "scanner" }, scan_bounds, NB(scan_bounds), NULL },
	[M_SCAN_ERRORS] = { "outpost_scan_errors_total",
			    "Scans that failed (timeout, connect, http, reply) and what on_error did (accept, tempfail).",
			    COUNTER, { "reason", "action" }, NULL, 0, NULL },
	[M_TENANT_RECEIVED] = { "outpost_tenant_messages_received_total",
				"Messages accepted into the spool, per tenant (\"\": no tenant).", COUNTER,
				{ "tenant" }, NULL, 0, NULL },
	[M_TENANT_RECIPIENTS] = { "outpost_tenant_recipients_total",
				  "Recipients of a tenant's mail by delivery outcome (delivered, deferred, bounced).",
				  COUNTER, { "tenant", "result" }, NULL, 0, NULL },
	[M_TENANT_BOUNCES] = { "outpost_tenant_bounces_total",
			       "Recipients of a tenant's mail bounced, by reason and source (as outpost_bounces_total).",
			       COUNTER, { "tenant", "reason", "source" }, NULL, 0, NULL },
	[M_TENANT_COMPLAINTS] = { "outpost_tenant_complaints_total",
				  "Complaints (ARF reports) about a tenant's mail.", COUNTER, { "tenant" }, NULL, 0,
				  NULL },
	[M_TENANT_STATE] = { "outpost_tenant_state",
			     "Tenants by protection state (ok, held, throttled): 1 for the current one.", GAUGE,
			     { "tenant", "state" }, NULL, 0, NULL },
	[M_MONITOR_LISTED] = { "outpost_monitor_listed",
			       "Watched subjects (source addresses: kind ip; sending domains: kind domain) a blocklist lists now, per list (0: asked, not listed).",
			       GAUGE, { "list", "kind" }, NULL, 0, NULL },
	[M_MONITOR_FINDINGS] = { "outpost_monitor_findings", "Items the monitor watches, by check and last status.",
				 GAUGE, { "check", "status" }, NULL, 0, NULL },
	[M_MONITOR_SOURCES_DOWN] = { "outpost_monitor_sources_down",
				     "Source addresses out of use because a list that acts lists them.", GAUGE,
				     { NULL }, NULL, 0, NULL },
	[M_PLACEMENT_RESULTS] = { "outpost_placement_results_total",
				  "Inbox-placement probes by route and where they landed (inbox, spam, missing, error).",
				  COUNTER, { "route", "result" }, NULL, 0, NULL },
	[M_PLACEMENT_INBOX] = { "outpost_placement_inbox_ratio",
				"Share of the latest placement round's probes of a route found in the inbox (0 to 1; probes whose look failed left out).",
				GAUGE, { "route" }, NULL, 0, NULL },
	[M_MONITOR_RUNS] = { "outpost_monitor_runs_total", "Monitor runs completed.", COUNTER, { NULL }, NULL, 0,
			     NULL },
	[M_MONITOR_QUERIES] = { "outpost_monitor_dns_queries_total", "DNS lookups made by the monitor.", COUNTER,
				{ NULL }, NULL, 0, NULL },
	[M_MONITOR_CHANGES] = { "outpost_monitor_changes_total",
				"Changes of the monitor's findings (new, another status, gone), by check.", COUNTER,
				{ "check" }, NULL, 0, NULL },
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
	void (*fn)(void *);
	void *arg;
} collectors[MAX_COLLECTORS];

static int label_eq(const char *a, const char *b)
{
	return strcmp(a, b ? b : "") == 0;
}

/* The series of f with these labels, made when absent (mu held). */
static struct series *series_get(struct family *f, const char *const *lv)
{
	struct series **pp = &f->head, *s;
	for (; (s = *pp) != NULL; pp = &s->next) {
		int same = 1;
		for (int i = 0; i < MAX_LABELS && f->labels[i] && same; i++)
			same = label_eq(s->l[i], lv[i]);
		if (same) {
			*pp = s->next;     /* to the front */
			break;
		}
	}
	if (s == NULL) {
		s = xcalloc(1, sizeof(*s));
		for (int i = 0; i < MAX_LABELS && f->labels[i]; i++)
			s->l[i] = xstrdup(lv[i] ? lv[i] : "");
		if (f->nbounds)
			s->buckets = xcalloc(f->nbounds, sizeof(*s->buckets));
	}
	s->next = f->head;
	f->head = s;
	return s;
}

void metrics_add(enum metric_id m, const char *l1, const char *l2, const char *l3, double v)
{
	const char *lv[MAX_LABELS] = { l1, l2, l3 };
	pthread_mutex_lock(&mu);
	series_get(&fam[m], lv)->v += v;
	pthread_mutex_unlock(&mu);
}

void metrics_set(enum metric_id m, const char *l1, const char *l2, const char *l3, double v)
{
	const char *lv[MAX_LABELS] = { l1, l2, l3 };
	pthread_mutex_lock(&mu);
	series_get(&fam[m], lv)->v = v;
	pthread_mutex_unlock(&mu);
}

void metrics_observe(enum metric_id m, const char *l1, double v)
{
	const char *lv[MAX_LABELS] = { l1, NULL, NULL };
	struct family *f = &fam[m];
	pthread_mutex_lock(&mu);
	struct series *s = series_get(f, lv);
	s->v += v;
	s->count++;
	for (size_t i = 0; i < f->nbounds; i++)
		if (v <= f->bounds[i]) {
			s->buckets[i]++;
			break;
		}
	pthread_mutex_unlock(&mu);
}

static void family_clear(struct family *f)
{
	struct series *s, *next;
	for (s = f->head; s; s = next) {
		next = s->next;
		for (int i = 0; i < MAX_LABELS; i++)
			free(s->l[i]);
		free(s->buckets);
		free(s);
	}
	f->head = NULL;
}

void metrics_clear(enum metric_id m)
{
	pthread_mutex_lock(&mu);
	family_clear(&fam[m]);
	pthread_mutex_unlock(&mu);
}

double metrics_value(enum metric_id m, const char *l1, const char *l2, const char *l3)
{
	const char *lv[MAX_LABELS] = { l1, l2, l3 };
	double v = 0;
	pthread_mutex_lock(&mu);
	for (struct series *s = fam[m].head; s; s = s->next) {
		int same = 1;
		for (int i = 0; i < MAX_LABELS && fam[m].labels[i] && same; i++)
			same = label_eq(s->l[i], lv[i]);
		if (same) {
			v = fam[m].type == HISTOGRAM ? (double)s->count : s->v;
			break;
		}
	}
	pthread_mutex_unlock(&mu);
	return v;
}

void metrics_collector_add(void (*fn)(void *arg), void *arg)
{
	for (size_t i = 0; i < MAX_COLLECTORS; i++)
		if (collectors[i].fn == NULL) {
			collectors[i].fn = fn;
			collectors[i].arg = arg;
			return;
		}
	abort();   /* a fixed number of modules register one each */
}

void metrics_collector_remove(void (*fn)(void *arg), void *arg)
{
	for (size_t i = 0; i < MAX_COLLECTORS; i++)
		if (collectors[i].fn == fn && collectors[i].arg == arg)
			collectors[i].fn = NULL;
}

/* A label value as the exposition format wants it: \\, \" and \n escaped. */
static void put_label_value(struct buf *out, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			buf_putc(out, '\\');
		if (*v == '\n') {
			buf_puts(out, "\\n");
			continue;
		}
		buf_putc(out, *v);
	}
}

/* {a="x",b="y"} with an extra le="..." for buckets; nothing without labels. */
static void put_labels(struct buf *out, const struct family *f, const struct series *s, const char *le)
{
	int n = 0;
	for (int i = 0; i < MAX_LABELS && f->labels[i]; i++) {
		buf_puts(out, n++ ? ",": "{");
		buf_printf(out, "%s=\"", f->labels[i]);
		put_label_value(out, s->l[i]);
		buf_putc(out, '"');
	}
	if (le)
		buf_printf(out, "%sle=\"%s\"", n++ ? "," : "{", le);
	if (n)
		buf_putc(out, '}');
}

static void put_number(struct buf *out, double v)
{
	if (v > -1e15 && v < 1e15 && v == (double)(long long)v)
		buf_printf(out, " %.0f\n", v);
	else
		buf_printf(out, " %.6g\n", v);
}

static void put_histogram(struct buf *out, const struct family *f, const struct series *s)
{
	uint64_t cum = 0;
	char le[32];
	for (size_t i = 0; i <= f->nbounds; i++) {
		if (i < f->nbounds) {
			cum += s->buckets[i];
			snprintf(le, sizeof(le), "%g", f->bounds[i]);
		} else {
			cum = s->count;
			snprintf(le, sizeof(le), "+Inf");
		}
		buf_printf(out, "%s_bucket", f->name);
		put_labels(out, f, s, le);
		put_number(out, (double)cum);
	}
	buf_printf(out, "%s_sum", f->name);
	put_labels(out, f, s, NULL);
	put_number(out, s->v);
	buf_printf(out, "%s_count", f->name);
	put_labels(out, f, s, NULL);
	put_number(out, (double)s->count);
}

static void put_family(struct buf *out, const struct family *f)
{
	static const char *const types[] = { "counter", "gauge", "histogram" };
	const char *base = f->name;
	buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", base, f->help, base, types[f->type]);
	/* a family without labels always has its one series, 0 until set */
	if (f->head == NULL && f->labels[0] == NULL && f->type != HISTOGRAM)
		buf_printf(out, "%s 0\n", base);
	for (const struct series *s = f->head; s; s = s->next) {
		if (f->type == HISTOGRAM) {
			put_histogram(out, f, s);
			continue;
		}
		buf_puts(out, base);
		put_labels(out, f, s, NULL);
		put_number(out, s->v);
	}
}

void metrics_render(struct buf *out)
{
	for (size_t i = 0; i < MAX_COLLECTORS; i++)
		if (collectors[i].fn)
			collectors[i].fn(collectors[i].arg);
	pthread_mutex_lock(&mu);
	for (size_t i = 0; i < M_COUNT; i++)
		put_family(out, &fam[i]);
	pthread_mutex_unlock(&mu);
}

void metrics_reset(void)
{
	pthread_mutex_lock(&mu);
	for (size_t i = 0; i < M_COUNT; i++)
		family_clear(&fam[i]);
	pthread_mutex_unlock(&mu);
}
