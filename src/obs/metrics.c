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
#include "core/log.h"
#include "core/hash.h"
#include "core/xmalloc.h"

#define MAX_LABELS 3
#define MAX_COLLECTORS 16
#define MAX_BOUNDS 24        /* histogram buckets of a family, at most */

struct series {
	char *l[MAX_LABELS];
	double v;                 /* counter or gauge; histogram: the sum */
	uint64_t count;           /* histogram */
	uint64_t *buckets;        /* histogram: one per bound, not cumulative */
	uint32_t hash;            /* of the label values */
	struct series *next;      /* the family's list, in the order made */
	struct series *hnext;     /* its hash bucket */
};

enum mtype { COUNTER, GAUGE, HISTOGRAM };

struct family {
	const char *name, *help;
	enum mtype type;
	const char *labels[MAX_LABELS];
	const double *bounds;
	size_t nbounds;
	struct series *head;      /* in the order made */
};

/* Where a family's series are found: beside fam[] (same index), so that
 * fam[]'s initializers name every field of struct family. */
static struct fam_index {
	struct series **tail;     /* the last next pointer of the list; NULL: &head */
	struct series **tab;      /* hash buckets: tabsz, a power of 2, or 0 */
	size_t tabsz, n;
} fidx[M_COUNT];

static const double latency_bounds[] = { 1, 5, 15, 30, 60, 300, 900, 1800, 3600, 14400, 43200, 86400,
	259200 };
static const double txn_bounds[] = { 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300 };
/* a scan of a small message by a local rspamd takes milliseconds */
static const double scan_bounds[] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
	30 };
#define NB(a) (sizeof(a) / sizeof((a)[0]))
_Static_assert(NB(latency_bounds) <= MAX_BOUNDS && NB(txn_bounds) <= MAX_BOUNDS && NB(scan_bounds) <= MAX_BOUNDS,
	       "put_family() has room for MAX_BOUNDS bucket bounds");

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

/* FNV-1a over the label values, each ended by a NUL (NULL is ""). */
static uint32_t labels_hash(const struct family *f, const char *const *lv)
{
	uint64_t h = FNV1A_INIT;
	for (int i = 0; i < MAX_LABELS && f->labels[i]; i++)
		h = fnv1a_byte(fnv1a_str(h, lv[i] ? lv[i] : ""), 0);
	return (uint32_t)(h ^ (h >> 32));
}

static struct fam_index *index_of(const struct family *f)
{
	return &fidx[f - fam];
}

static struct series *series_find(const struct family *f, const char *const *lv, uint32_t h)
{
	const struct fam_index *x = index_of(f);
	if (x->tabsz == 0)
		return NULL;
	for (struct series *s = x->tab[h & (x->tabsz - 1)]; s; s = s->hnext) {
		int same = s->hash == h;
		for (int i = 0; i < MAX_LABELS && f->labels[i] && same; i++)
			same = label_eq(s->l[i], lv[i]);
		if (same)
			return s;
	}
	return NULL;
}

/* Twice the buckets once there are more series than buckets. */
static void family_grow(struct family *f)
{
	struct fam_index *x = index_of(f);
	free(x->tab);
	x->tabsz = x->tabsz ? x->tabsz * 2 : 16;
	x->tab = xcalloc(x->tabsz, sizeof(*x->tab));
	for (struct series *s = f->head; s; s = s->next) {
		struct series **b = &x->tab[s->hash & (x->tabsz - 1)];
		s->hnext = *b;
		*b = s;
	}
}

/* The series of f with these labels, made when absent (mu held).  A
 * collector sets every series of its families on each scrape: one hash
 * lookup each, where a list search made that quadratic. */
static struct series *series_get(struct family *f, const char *const *lv)
{
	uint32_t h = labels_hash(f, lv);
	struct series *s = series_find(f, lv, h);
	if (s)
		return s;
	s = xcalloc(1, sizeof(*s));
	for (int i = 0; i < MAX_LABELS && f->labels[i]; i++)
		s->l[i] = xstrdup(lv[i] ? lv[i] : "");
	if (f->nbounds)
		s->buckets = xcalloc(f->nbounds, sizeof(*s->buckets));
	s->hash = h;
	struct fam_index *x = index_of(f);
	if (x->tail == NULL)
		x->tail = &f->head;
	*x->tail = s;
	x->tail = &s->next;
	if (++x->n > x->tabsz) {
		family_grow(f);
	} else {
		struct series **b = &x->tab[h & (x->tabsz - 1)];
		s->hnext = *b;
		*b = s;
	}
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
	struct fam_index *x = index_of(f);
	x->tail = &f->head;
	free(x->tab);
	x->tab = NULL;
	x->tabsz = x->n = 0;
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
	const struct series *s = series_find(&fam[m], lv, labels_hash(&fam[m], lv));
	if (s)
		v = fam[m].type == HISTOGRAM ? (double)s->count : s->v;
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

/* A label value as the exposition format wants it: \\, \" and \n escaped;
 * the runs between them copied whole. */
static void put_label_value(struct buf *out, const char *v)
{
	for (;;) {
		size_t n = strcspn(v, "\\\"\n");
		buf_append(out, v, n);
		v += n;
		if (*v == '\0')
			return;
		buf_append(out, *v == '\n' ? "\\n" : *v == '"' ? "\\\"" : "\\\\", 2);
		v++;
	}
}

/* {a="x",b="y"} with an extra le="..." for buckets; nothing without labels. */
static void put_labels(struct buf *out, const struct family *f, const struct series *s, const char *le)
{
	int n = 0;
	for (int i = 0; i < MAX_LABELS && f->labels[i]; i++) {
		buf_putc(out, n++ ? ',' : '{');
		buf_puts(out, f->labels[i]);
		buf_append(out, "=\"", 2);
		put_label_value(out, s->l[i]);
		buf_putc(out, '"');
	}
	if (le) {
		buf_append(out, n++ ? ",le=\"" : "{le=\"", 5);
		buf_puts(out, le);
		buf_putc(out, '"');
	}
	if (n)
		buf_putc(out, '}');
}

/* " V\n": whole numbers (nearly every value) in decimal without printf,
 * which was a third of a scrape of 2,700 series. */
static void put_number(struct buf *out, double v)
{
	if (!(v > -1e15 && v < 1e15 && v == (double)(long long)v)) {
		buf_printf(out, " %.6g\n", v);
		return;
	}
	char d[24], *p = d + sizeof(d);
	long long x = (long long)v;
	unsigned long long u = x < 0 ? 0ULL - (unsigned long long)x : (unsigned long long)x;
	*--p = '\n';
	do
		*--p = (char)('0' + u % 10);
	while ((u /= 10) != 0);
	if (x < 0)
		*--p = '-';
	*--p = ' ';
	buf_append(out, p, (size_t)(d + sizeof(d) - p));
}

static void put_histogram(struct buf *out, const struct family *f, const struct series *s,
			  char le[][32])
{
	uint64_t cum = 0;
	for (size_t i = 0; i <= f->nbounds; i++) {
		cum = i < f->nbounds ? cum + s->buckets[i] : s->count;
		buf_puts(out, f->name);
		buf_append(out, "_bucket", 7);
		put_labels(out, f, s, i < f->nbounds ? le[i] : "+Inf");
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
	char le[MAX_BOUNDS][32];   /* the bounds as text, once per family */
	for (size_t i = 0; i < f->nbounds; i++)
		if (snprintf(le[i], sizeof(le[i]), "%g", f->bounds[i]) >= (int)sizeof(le[i]))
			msg_panic("metrics: bound %zu of %s does not fit", i, f->name);
	for (const struct series *s = f->head; s; s = s->next) {
		if (f->type == HISTOGRAM) {
			put_histogram(out, f, s, le);
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
