/*
 * monitor: the daemon's watch over blocklists and DNS (see monitor.h).
 * One run = one asynchronous doctor per sending domain, one after the
 * other (the first with the source addresses, and the only one to ask the
 * lists' RFC 5782 test points: the later ones take its verdicts, and the
 * per-list query count goes on from run to run's domains); the findings
 * are merged into the items kept between runs (per domain), the lists'
 * answers into the listings that decide whether a source is in use.  A
 * reload swaps the config: what is no longer watched is dropped at once
 * (a source it took out of use is given back), the rest keeps its state.
 */
#include "monitor/monitor.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "core/config.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "dns/dns.h"
#include "doctor/doctor.h"
#include "obs/metrics.h"
#include "obs/obs.h"

#define FIRST_RUN_SECS 1

/* One finding as the monitor keeps it: the last status and since when. */
struct monitor_item {
	char *domain;                /* the run's sending domain that reported it */
	char *check, *subject, *evidence;
	enum doctor_status status;
	time_t changed;
	int seen;                    /* reported by the current run */
};

/* One list's verdict on one source address (or, domain set, on one
 * sending domain: those never act). */
struct monitor_listing {
	char *ip, *list, *why;
	int listed, acts, domain, pbl;
	time_t since;
};

struct monitor {
	struct event_base *base;
	struct resolver *res;
	const struct config *cf;     /* the current one (a reload replaces it) */
	const struct config *run_cf; /* the one the doctor in flight was made with */
	struct event *timer;
	char **domains;
	size_t ndomains, cur;
	struct doctor *run;
	char *list_untested[DOCTOR_MAX_LISTS];   /* this run's test point verdicts */
	unsigned list_queries[DOCTOR_MAX_LISTS]; /* this run's queries per list */
	time_t run_started;
	size_t queries, last_queries;
	struct monitor_item *items;
	size_t nitems;
	struct monitor_listing *lst;
	size_t nlst;
	char **down;                 /* sources reported listed through on_source */
	size_t ndown;
	monitor_source_cb *on_source;
	void *arg;
};

char *monitor_state_path(const struct config *cf)
{
	return xasprintf("%s/monitor.json", cf->spool);
}

static void state_write(const struct monitor *m);

/* --- what is watched: the mx routes' source addresses, the sending domains */

static int is_source(const struct config *cf, const char *ip)
{
	for (size_t i = 0; i < cf->nroutes; i++)
		for (size_t k = 0; cf->routes[i].type == ROUTE_MX && k < cf->routes[i].nsources; k++)
			if (strcmp(cf->routes[i].sources[k].address, ip) == 0)
				return 1;
	return 0;
}

static int is_domain(const struct monitor *m, const char *domain)
{
	for (size_t i = 0; i < m->ndomains; i++)
		if (strcasecmp(m->domains[i], domain) == 0)
			return 1;
	return 0;
}

/* A listing's subject still watched: a source address, or (domain set) a
 * sending domain. */
static int watched(const struct monitor *m, const char *subject, int domain)
{
	return domain ? is_domain(m, subject) : is_source(m->cf, subject);
}

/* --- sources in and out of use */

static int source_down(const struct monitor *m, const char *ip)
{
	for (size_t i = 0; i < m->ndown; i++)
		if (strcmp(m->down[i], ip) == 0)
			return 1;
	return 0;
}

/* Whether any acting list lists ip now: the reason, or NULL. */
static const char *acting_listing(const struct monitor *m, const char *ip)
{
	for (size_t i = 0; i < m->nlst; i++)
		if (m->lst[i].listed && m->lst[i].acts && strcmp(m->lst[i].ip, ip) == 0)
			return m->lst[i].why;
	return NULL;
}

static void source_decide(struct monitor *m, const char *ip)
{
	const char *why = acting_listing(m, ip);
	int was = source_down(m, ip);
	if ((why != NULL) == was)
		return;
	if (why) {
		m->down = xreallocarray(m->down, m->ndown + 1, sizeof(char *));
		m->down[m->ndown++] = xstrdup(ip);
	} else {
		for (size_t i = 0; i < m->ndown; i++)
			if (strcmp(m->down[i], ip) == 0) {
				free(m->down[i]);
				m->down[i] = m->down[--m->ndown];
				break;
			}
	}
	msg_warn("event=monitor action=%s source=%s reason=\"%s\"", why ? "source_down" : "source_up",
		 ip, why ? why : "delisted from every list that acts");
	if (m->on_source)
		m->on_source(m->arg, ip, why != NULL, why ? why : "delisted");
	state_write(m);                 /* `outpost monitor` shows it at once */
}

static struct monitor_listing *listing_get(struct monitor *m, const char *ip, const char *list)
{
	for (size_t i = 0; i < m->nlst; i++)
		if (strcmp(m->lst[i].ip, ip) == 0 && strcmp(m->lst[i].list, list) == 0)
			return &m->lst[i];
	m->lst = xreallocarray(m->lst, m->nlst + 1, sizeof(*m->lst));
	struct monitor_listing *l = &m->lst[m->nlst++];
	memset(l, 0, sizeof(*l));
	l->ip = xstrdup(ip);
	l->list = xstrdup(list);
	l->why = xstrdup("");
	return l;
}

/* A subject newly listed or delisted is an event (obs.h: webhooks). */
static void listing_event(const struct monitor_listing *l, const char *why)
{
	char ev[512];
	obs_event(l->listed ? "blocklisted" : "delisted", NULL, NULL, NULL, "{s:s, s:s, s:s, s:b, s:s}", "subject",
		  l->ip, "kind", l->domain ? "domain" : "ip", "list", l->list, "acts", l->acts, "evidence",
		  obs_text(ev, sizeof(ev), why));
}

/* The answer of one list about subject (an IP, or a domain): a change of
 * its verdict is kept, and told. */
static struct monitor_listing *listing_note(struct monitor *m, const char *subject, const char *list, int domain,
					    enum doctor_listing st, int pbl_only, const char *why)
{
	if (st == DOCTOR_LIST_UNTESTED)
		return NULL;            /* keeps its last state: not knowing is not a change */
	if (!watched(m, subject, domain))
		return NULL;            /* an answer for a config a reload replaced */
	struct monitor_listing *l = listing_get(m, subject, list);
	int listed = st == DOCTOR_LISTED;
	l->domain = domain;
	l->pbl = listed && pbl_only;
	l->acts = listed && !domain && monitor_list_acts(&m->cf->monitor, list, pbl_only);
	if (l->listed != listed || strcmp(l->why, why) != 0) {
		int changed = l->listed != listed;
		l->since = changed ? time(NULL) : l->since;
		l->listed = listed;
		if (changed)
			listing_event(l, listed ? why : l->why);
		free(l->why);
		l->why = xstrdup(why);
	}
	return l;
}

static void on_listing(void *arg, const char *ip, const char *list, enum doctor_listing st, int pbl_only,
		       const char *why)
{
	struct monitor *m = arg;
	if (listing_note(m, ip, list, 0, st, pbl_only, why))
		source_decide(m, ip);
}

static void on_domain_listing(void *arg, const char *domain, const char *list, enum doctor_listing st,
			      int pbl_only, const char *why)
{
	listing_note(arg, domain, list, 1, st, pbl_only, why);
}

/* --- findings into items */

static struct monitor_item *item_find(struct monitor *m, const char *domain, const char *check,
				      const char *subject)
{
	for (size_t i = 0; i < m->nitems; i++)
		if (strcmp(m->items[i].check, check) == 0 && strcmp(m->items[i].subject, subject) == 0 &&
		    strcmp(m->items[i].domain, domain) == 0)
			return &m->items[i];
	return NULL;
}

static void item_free(struct monitor_item *it)
{
	free(it->domain);
	free(it->check);
	free(it->subject);
	free(it->evidence);
}

static void log_change(const struct monitor_item *it, const char *previous)
{
	metrics_inc(M_MONITOR_CHANGES, it->check, NULL);
	msg_info("event=monitor domain=%s check=%s subject=\"%s\" status=%s previous=%s evidence=\"%s\"",
		 it->domain, it->check, it->subject, doctor_status_name(it->status), previous, it->evidence);
}

static void merge_finding(struct monitor *m, const char *domain, const struct doctor_finding *f, time_t now)
{
	struct monitor_item *it = item_find(m, domain, f->check, f->subject);
	int untested = strncmp(f->evidence, DOCTOR_UNTESTED, strlen(DOCTOR_UNTESTED)) == 0;
	if (it == NULL) {
		m->items = xreallocarray(m->items, m->nitems + 1, sizeof(*m->items));
		it = &m->items[m->nitems++];
		*it = (struct monitor_item){ xstrdup(domain), xstrdup(f->check), xstrdup(f->subject),
					     xstrdup(f->evidence), f->status, now, 1 };
		log_change(it, "new");
		return;
	}
	it->seen = 1;
	if (untested && it->status != DOCTOR_WARN)
		return;                 /* could not test: the last verdict stands */
	free(it->evidence);
	it->evidence = xstrdup(f->evidence);
	if (it->status == f->status)
		return;
	const char *previous = doctor_status_name(it->status);
	it->status = f->status;
	it->changed = now;
	log_change(it, previous);
}

/* An item no longer watched or no longer found: counted, logged, freed. */
static void item_gone(struct monitor_item *it)
{
	metrics_inc(M_MONITOR_CHANGES, it->check, NULL);
	msg_info("event=monitor domain=%s check=%s subject=\"%s\" status=gone previous=%s", it->domain, it->check,
		 it->subject, doctor_status_name(it->status));
	item_free(it);
}

/* Items no run reported any more (a listing gone, a source removed). */
static void drop_unseen(struct monitor *m)
{
	size_t k = 0;
	for (size_t i = 0; i < m->nitems; i++) {
		struct monitor_item *it = &m->items[i];
		if (it->seen) {
			it->seen = 0;
			m->items[k++] = *it;
			continue;
		}
		item_gone(it);
	}
	m->nitems = k;
}

/* --- the state file */

static json_t *state_json(const struct monitor *m)
{
	json_t *items = json_array(), *lst = json_array(), *down = json_array();
	for (size_t i = 0; i < m->nitems; i++) {
		const struct monitor_item *it = &m->items[i];
		json_array_append_new(items, json_pack("{s:s, s:s, s:s, s:s, s:s, s:I}", "domain", it->domain,
					"check", it->check, "subject", it->subject, "status",
					doctor_status_name(it->status), "evidence", it->evidence, "changed",
					(json_int_t)it->changed));
	}
	for (size_t i = 0; i < m->nlst; i++)
		json_array_append_new(lst, json_pack("{s:s, s:s, s:s, s:b, s:b, s:b, s:s, s:I}", "source",
				      m->lst[i].ip, "kind", m->lst[i].domain ? "domain" : "ip", "list", m->lst[i].list,
				      "listed", m->lst[i].listed, "acts", m->lst[i].acts, "pbl_only", m->lst[i].pbl,
				      "evidence", m->lst[i].why, "since", (json_int_t)m->lst[i].since));
	for (size_t i = 0; i < m->ndown; i++)
		json_array_append_new(down, json_string(m->down[i]));
	return json_pack("{s:I, s:I, s:I, s:o, s:o, s:o}", "interval", (json_int_t)m->cf->monitor.interval,
			 "updated", (json_int_t)time(NULL), "queries_last_run", (json_int_t)m->last_queries,
			 "items", items, "listings", lst, "sources_down", down);
}

static void state_write(const struct monitor *m)
{
	char *path = monitor_state_path(m->cf), *tmp = xasprintf("%s.tmp", path);
	json_t *j = state_json(m);
	if (j == NULL || json_dump_file(j, tmp, JSON_INDENT(1) | JSON_ENSURE_ASCII) < 0 ||
	    rename(tmp, path) < 0) {
		msg_warn("event=monitor_error reason=\"cannot write %s: %s\"", path, strerror(errno));
		unlink(tmp);
	}
	json_decref(j);
	free(tmp);
	free(path);
}

/* A listing that acted before a restart acts again at once. */
static void state_read(struct monitor *m)
{
	char *path = monitor_state_path(m->cf);
	json_t *j = json_load_file(path, 0, NULL), *lst = json_object_get(j, "listings"), *e;
	size_t i;
	json_array_foreach(lst, i, e) {
		const char *ip = json_string_value(json_object_get(e, "source"));
		const char *list = json_string_value(json_object_get(e, "list"));
		const char *why = json_string_value(json_object_get(e, "evidence"));
		const char *kind = json_string_value(json_object_get(e, "kind"));
		int domain = kind && strcmp(kind, "domain") == 0;
		if (ip == NULL || list == NULL || !json_is_true(json_object_get(e, "listed")) ||
		    !watched(m, ip, domain))
			continue;       /* not listed, or no longer watched (changed while stopped) */
		struct monitor_listing *l = listing_get(m, ip, list);
		l->listed = 1;
		l->domain = domain;
		l->pbl = json_is_true(json_object_get(e, "pbl_only"));
		l->acts = !l->domain && monitor_list_acts(&m->cf->monitor, list, l->pbl) &&
			  (json_object_get(e, "pbl_only") != NULL || json_is_true(json_object_get(e, "acts")));
		l->since = (time_t)json_integer_value(json_object_get(e, "since"));
		free(l->why);
		l->why = xstrdup(why ? why : "listed before the restart");
		if (!l->domain)
			source_decide(m, ip);
	}
	json_decref(j);
	free(path);
}

/* --- runs */

static void run_domain(struct monitor *m);

static void schedule(struct monitor *m, time_t secs)
{
	struct timeval tv = { secs, 0 };
	evtimer_add(m->timer, &tv);
}

static void list_verdicts_clear(struct monitor *m)
{
	for (size_t i = 0; i < DOCTOR_MAX_LISTS; i++) {
		free(m->list_untested[i]);
		m->list_untested[i] = NULL;
		m->list_queries[i] = 0;
	}
}

/* The doctor of a run ends (done, or a reload aborts it). */
static void run_end(struct monitor *m)
{
	doctor_destroy(m->run);
	m->run = NULL;
	config_free(m->run_cf);
	m->run_cf = NULL;
}

static void on_domain_done(struct doctor *d, void *arg)
{
	struct monitor *m = arg;
	time_t now = time(NULL);
	for (size_t i = 0; i < d->nf; i++)
		merge_finding(m, d->domain, &d->f[i], now);
	m->queries += d->queries;
	metrics_add(M_MONITOR_QUERIES, NULL, NULL, NULL, (double)d->queries);
	for (size_t i = 0; i < DOCTOR_MAX_LISTS; i++) {
		if (m->cur == 0)        /* the test points were asked by the first domain's doctor */
			m->list_untested[i] = d->list_untested[i] ? xstrdup(d->list_untested[i]) : NULL;
		m->list_queries[i] = d->list_queries[i];
	}
	run_end(m);
	if (++m->cur < m->ndomains)
		return run_domain(m);
	drop_unseen(m);
	metrics_inc(M_MONITOR_RUNS, NULL, NULL);
	m->last_queries = m->queries;
	msg_info("event=monitor_run domains=%zu queries=%zu secs=%lld", m->ndomains, m->queries,
		 (long long)(now - m->run_started));
	state_write(m);
	time_t next = m->run_started + m->cf->monitor.interval - now;
	schedule(m, next > 0 ? next : 0);
}

static void run_domain(struct monitor *m)
{
	const struct config *cf = m->run_cf = config_ref(m->cf);
	struct doctor *d = doctor_new_async(m->base, m->res, cf, m->domains[m->cur], m->cur == 0,
					    cf->delivery.dns_timeout_ms);
	d->on_listing = on_listing;
	d->on_domain_listing = on_domain_listing;
	d->listing_arg = m;
	d->list_budget = cf->monitor.budget;
	if (m->cur > 0) {               /* each list's test points once per run, not per domain */
		d->lists_known = 1;
		for (size_t i = 0; i < DOCTOR_MAX_LISTS; i++)
			d->list_untested[i] = m->list_untested[i] ? doctor_str(d, "%s", m->list_untested[i]) : NULL;
		memcpy(d->list_queries, m->list_queries, sizeof(d->list_queries));
	}
	/* spread over the interval: the last run's count tells how many lookups come */
	if (m->last_queries > 0)
		d->pace_ms = (unsigned)((unsigned long long)cf->monitor.interval * 1000 / (m->last_queries + 1));
	m->run = d;
	doctor_start_async(d, on_domain_done, m);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct monitor *m = arg;
	(void)fd;
	(void)what;
	m->cur = 0;
	m->queries = 0;
	m->run_started = time(NULL);
	list_verdicts_clear(m);
	run_domain(m);
}

/* /metrics: the state of what is watched, as of the last answers. */
static void monitor_collect(void *arg)
{
	const struct monitor *m = arg;
	metrics_clear(M_MONITOR_LISTED);
	metrics_clear(M_MONITOR_FINDINGS);
	for (size_t i = 0; i < m->nlst; i++)
		metrics_add(M_MONITOR_LISTED, m->lst[i].list, m->lst[i].domain ? "domain" : "ip", NULL,
			    m->lst[i].listed);
	for (size_t i = 0; i < m->nitems; i++)
		metrics_add(M_MONITOR_FINDINGS, m->items[i].check, doctor_status_name(m->items[i].status), NULL, 1);
	metrics_set(M_MONITOR_SOURCES_DOWN, NULL, NULL, NULL, (double)m->ndown);
}

/* The DKIM domains of cf, each once; else the hostname's parent domain. */
static char **collect_domains(const struct config *cf, size_t *n)
{
	char **doms = NULL;
	*n = 0;
	for (size_t i = 0; i < cf->ndkim; i++) {
		int dup = 0;
		for (size_t k = 0; k < *n && !dup; k++)
			dup = strcasecmp(doms[k], cf->dkim[i].domain) == 0;
		if (dup)
			continue;
		doms = xreallocarray(doms, *n + 1, sizeof(char *));
		doms[(*n)++] = xstrdup(cf->dkim[i].domain);
	}
	if (*n == 0) {
		const char *dot = strchr(cf->hostname, '.');
		doms = xmalloc(sizeof(char *));
		doms[(*n)++] = xstrdup(dot && strchr(dot + 1, '.') ? dot + 1 : cf->hostname);
	}
	return doms;
}

static void domains_free(char **doms, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(doms[i]);
	free(doms);
}

struct monitor *monitor_new(struct event_base *base, const struct config *cf, struct resolver *res,
			    monitor_source_cb *on_source, void *arg)
{
	if (cf->monitor.interval == 0)
		return NULL;
	struct monitor *m = xcalloc(1, sizeof(*m));
	m->base = base;
	m->cf = config_ref(cf);
	m->res = res;
	m->on_source = on_source;
	m->arg = arg;
	m->timer = evtimer_new(base, on_timer, m);
	if (m->timer == NULL)
		msg_fatal("event=monitor_error reason=\"event_new failed\"");
	m->domains = collect_domains(cf, &m->ndomains);
	state_read(m);
	metrics_collector_add(monitor_collect, m);
	schedule(m, FIRST_RUN_SECS);
	msg_info("event=monitor_start interval=%u domains=%zu budget=%u", cf->monitor.interval,
		 m->ndomains, cf->monitor.budget);
	return m;
}

static void listing_free(struct monitor_listing *l)
{
	free(l->ip);
	free(l->list);
	free(l->why);
}

void monitor_free(struct monitor *m)
{
	if (m == NULL)
		return;
	metrics_collector_remove(monitor_collect, m);
	event_free(m->timer);
	run_end(m);              /* its lookups in flight are the resolver's to cancel */
	list_verdicts_clear(m);
	for (size_t i = 0; i < m->nitems; i++)
		item_free(&m->items[i]);
	free(m->items);
	for (size_t i = 0; i < m->nlst; i++)
		listing_free(&m->lst[i]);
	free(m->lst);
	for (size_t i = 0; i < m->ndown; i++)
		free(m->down[i]);
	free(m->down);
	domains_free(m->domains, m->ndomains);
	config_free(m->cf);
	free(m);
}

/* --- reload */

/* A source the monitor took out of use goes back: it is no longer watched. */
static void source_release_all(struct monitor *m, int all, const char *why)
{
	size_t k = 0;
	for (size_t i = 0; i < m->ndown; i++) {
		char *ip = m->down[i];
		if (!all && is_source(m->cf, ip)) {
			m->down[k++] = ip;
			continue;
		}
		msg_warn("event=monitor action=source_up source=%s reason=\"%s\"", ip, why);
		if (m->on_source)
			m->on_source(m->arg, ip, 0, why);
		free(ip);
	}
	m->ndown = k;
}

/* An item about a source address ("203.0.113.7 on ...", "203.0.113.7
 * (route direct)") that is no longer a source. */
static int item_of_removed_source(const struct monitor *m, const struct monitor_item *it)
{
	char ip[64];
	struct dns_addr a;
	size_t n = strcspn(it->subject, " ");
	if (n >= sizeof(ip))
		return 0;
	memcpy(ip, it->subject, n);
	ip[n] = '\0';
	return dns_addr_parse(ip, &a) == 0 && !is_source(m->cf, ip);
}

/* Drops the listings and items of what the config no longer watches. */
static void prune_unwatched(struct monitor *m)
{
	size_t k = 0;
	for (size_t i = 0; i < m->nlst; i++) {
		if (watched(m, m->lst[i].ip, m->lst[i].domain)) {
			m->lst[k++] = m->lst[i];
			continue;
		}
		msg_info("event=monitor action=unwatched subject=%s list=\"%s\"", m->lst[i].ip, m->lst[i].list);
		listing_free(&m->lst[i]);
	}
	m->nlst = k;
	k = 0;
	for (size_t i = 0; i < m->nitems; i++) {
		struct monitor_item *it = &m->items[i];
		if (is_domain(m, it->domain) && !item_of_removed_source(m, it)) {
			m->items[k++] = *it;
			continue;
		}
		item_gone(it);
	}
	m->nitems = k;
	source_release_all(m, 0, "no longer a source address");
}

static int sources_in(const struct config *a, const struct config *b)
{
	for (size_t i = 0; i < a->nroutes; i++)
		for (size_t k = 0; a->routes[i].type == ROUTE_MX && k < a->routes[i].nsources; k++)
			if (!is_source(b, a->routes[i].sources[k].address))
				return 0;
	return 1;
}

/* What a run asks changed: another run must start from the beginning. */
static int run_changed(const struct monitor *m, const struct config *old, char **doms, size_t ndoms)
{
	if (old->monitor.interval != m->cf->monitor.interval || old->monitor.budget != m->cf->monitor.budget ||
	    ndoms != m->ndomains || !sources_in(old, m->cf) || !sources_in(m->cf, old))
		return 1;
	for (size_t i = 0; i < ndoms; i++)
		if (strcasecmp(doms[i], m->domains[i]) != 0)
			return 1;
	return 0;
}

static void monitor_update(struct monitor *m, const struct config *cf)
{
	const struct config *old = m->cf;
	char **doms = m->domains;
	size_t ndoms = m->ndomains;
	m->cf = config_ref(cf);
	m->domains = collect_domains(cf, &m->ndomains);
	int restart = run_changed(m, old, doms, ndoms);
	domains_free(doms, ndoms);
	prune_unwatched(m);
	for (size_t i = 0; i < m->nlst; i++) {   /* act_on or pbl may have changed */
		struct monitor_listing *l = &m->lst[i];
		l->acts = l->listed && !l->domain && monitor_list_acts(&cf->monitor, l->list, l->pbl);
	}
	for (size_t i = 0; i < m->nlst; i++)
		if (!m->lst[i].domain)
			source_decide(m, m->lst[i].ip);
	if (restart) {                  /* the run in flight asks for what was: start again */
		run_end(m);             /* paced on the last run's count: no burst of lookups */
		evtimer_del(m->timer);
		schedule(m, FIRST_RUN_SECS);
	}
	state_write(m);
	msg_info("event=monitor_reload interval=%u domains=%zu budget=%u run=%s", cf->monitor.interval,
		 m->ndomains, cf->monitor.budget, restart ? "restarted" : "kept");
	config_free(old);
}

struct monitor *monitor_reload(struct monitor *m, struct event_base *base, const struct config *cf,
			       struct resolver *res, monitor_source_cb *on_source, void *arg)
{
	if (m == NULL)
		return monitor_new(base, cf, res, on_source, arg);
	if (cf->monitor.interval > 0) {
		monitor_update(m, cf);
		return m;
	}
	source_release_all(m, 1, "the monitor is turned off");
	char *path = monitor_state_path(m->cf);
	if (unlink(path) < 0 && errno != ENOENT)
		msg_warn("event=monitor_error reason=\"cannot remove %s: %s\"", path, strerror(errno));
	free(path);
	msg_info("event=monitor_stop reason=\"no monitor in the config any more\"");
	monitor_free(m);
	return NULL;
}
