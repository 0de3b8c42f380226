/* doctor: the runner (one loop, every check in parallel) and the finding
 * list; see doctor.h for the contract. */
#include "doctor/doctor.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <openssl/ssl.h>

#include "buf.h"
#include "config.h"
#include "dns/dns.h"
#include "log.h"
#include "xmalloc.h"

/* One lookup: waiting for its turn (a paced run), then in flight.  The
 * doctor keeps both lists so that doctor_destroy() can end every one
 * through its callback (as a failure), letting each check free its state. */
struct doctor_q {
	struct doctor *d;
	doctor_dns_cb *cb;
	void *arg;
	char *name;
	int type;
	struct resolver_query *rq;       /* in flight; NULL while waiting */
	struct doctor_q *prev, *next;
};

static void q_unlink(struct doctor_q **head, struct doctor_q *q)
{
	if (q->prev)
		q->prev->next = q->next;
	else
		*head = q->next;
	if (q->next)
		q->next->prev = q->prev;
	q->prev = q->next = NULL;
}

static void q_push(struct doctor_q **head, struct doctor_q *q)
{
	q->prev = NULL;
	q->next = *head;
	if (*head)
		(*head)->prev = q;
	*head = q;
}

void doctor_hold(struct doctor *d)
{
	d->holds++;
}

void doctor_release(struct doctor *d)
{
	if (d->holds == 0)
		msg_panic("event=doctor_release_unbalanced");
	if (--d->holds > 0)
		return;
	if (d->destroying)
		return;
	if (d->done) {                  /* the monitor's run: the next phase, on the loop */
		struct timeval now = { 0, 0 };
		evtimer_add(d->advance_ev, &now);
		return;
	}
	event_base_loopbreak(d->base);  /* the resolver's event keeps the loop alive */
}

/* A copy of s safe for a terminal and for JSON: printable ASCII only. */
static char *clean_copy(const char *s)
{
	char *c = xstrdup(s);
	for (char *p = c; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			*p = '?';
	return c;
}

void doctor_add(struct doctor *d, const char *check, enum doctor_status st, const char *subject,
		const char *evidence, const char *fix)
{
	if (d->nf == d->capf) {
		d->capf = d->capf ? d->capf * 2 : 32;
		d->f = xreallocarray(d->f, d->capf, sizeof(*d->f));
	}
	struct doctor_finding *f = &d->f[d->nf++];
	f->check = xstrdup(check);
	f->status = st;
	f->subject = clean_copy(subject);
	f->evidence = clean_copy(evidence);
	f->fix = fix ? clean_copy(fix) : NULL;
}

enum doctor_status doctor_worst(const struct doctor *d, const char *check)
{
	enum doctor_status worst = DOCTOR_PASS;
	for (size_t i = 0; i < d->nf; i++)
		if (strcmp(d->f[i].check, check) == 0 && d->f[i].status > worst)
			worst = d->f[i].status;
	return worst;
}

int doctor_checked(const struct doctor *d, const char *check)
{
	for (size_t i = 0; i < d->nf; i++)
		if (strcmp(d->f[i].check, check) == 0)
			return 1;
	return 0;
}

void doctor_untested(struct doctor *d, const char *check, const char *subject, const char *why)
{
	doctor_add(d, check, DOCTOR_WARN, subject, doctor_str(d, DOCTOR_UNTESTED "%s", why),
		   "make sure the resolver answers (the config's resolver, or `--resolver "
		   "127.0.0.1@53` with a local unbound), then run again");
}

static void q_end(struct doctor_q *q, const struct dns_result *res)
{
	struct doctor *d = q->d;
	q->cb(d, res, q->arg);
	free(q->name);
	free(q);
	doctor_release(d);
}

static void on_lookup(const struct dns_result *res, void *arg)
{
	struct doctor_q *q = arg;
	q_unlink(&q->d->inflight, q);
	q_end(q, res);
}

/* A lookup that will not be made: the run is being destroyed. */
static void q_fail(struct doctor_q *q)
{
	struct dns_result res;
	memset(&res, 0, sizeof(res));
	res.qname = q->name;
	res.qtype = q->type;
	res.rcode = DNS_RCODE_SERVFAIL;
	res.why = "cancelled";
	q_end(q, &res);
}

static void q_send(struct doctor_q *q)
{
	q_push(&q->d->inflight, q);
	q->rq = resolver_query(q->d->res, q->name, q->type, on_lookup, q);
}

/* The oldest waiting lookup (the list is newest first). */
static struct doctor_q *q_oldest(struct doctor_q *head)
{
	while (head && head->next)
		head = head->next;
	return head;
}

/* A paced run: one waiting lookup goes out per tick. */
static void on_pace(evutil_socket_t fd, short what, void *arg)
{
	struct doctor *d = arg;
	struct doctor_q *q = q_oldest(d->waiting);
	(void)fd;
	(void)what;
	if (q == NULL)
		return;
	q_unlink(&d->waiting, q);
	if (d->waiting) {
		struct timeval tv = { d->pace_ms / 1000, (d->pace_ms % 1000) * 1000 };
		evtimer_add(d->pace_ev, &tv);
	}
	q_send(q);
}

void doctor_lookup(struct doctor *d, const char *name, int type, doctor_dns_cb *cb, void *arg)
{
	struct doctor_q *q = xcalloc(1, sizeof(*q));
	q->d = d;
	q->cb = cb;
	q->arg = arg;
	q->name = xstrdup(name);
	q->type = type;
	doctor_hold(d);
	d->queries++;
	if (d->destroying)
		return q_fail(q);
	if (d->pace_ms == 0 || d->pace_ev == NULL)
		return q_send(q);
	q_push(&d->waiting, q);
	struct timeval zero = { 0, 0 };
	if (!evtimer_pending(d->pace_ev, NULL))
		evtimer_add(d->pace_ev, &zero);
}

int doctor_dns_absent(const struct dns_result *res)
{
	if (res->rcode == DNS_RCODE_NXDOMAIN)
		return 1;
	if (res->rcode != DNS_RCODE_NOERROR || res->timed_out)
		return -1;
	return res->n == 0;
}

const char *doctor_str(struct doctor *d, const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	d->str = xreallocarray(d->str, d->nstr + 1, sizeof(*d->str));
	d->str[d->nstr] = buf_steal(&b, NULL);
	return d->str[d->nstr++];
}

const char *doctor_dns_outcome(struct doctor *d, const struct dns_result *res)
{
	char tmp[16];
	if (res->timed_out)
		return "timed out";
	if (res->rcode == DNS_RCODE_NXDOMAIN)
		return "NXDOMAIN";
	if (res->rcode != DNS_RCODE_NOERROR)
		return doctor_str(d, "%s", res->why ? res->why : "lookup failed");
	if (res->n == 0)
		return doctor_str(d, "no %s record", dns_type_name(res->qtype, tmp, sizeof(tmp)));
	return doctor_str(d, "%zu record(s)", res->n);
}

static void add_source(struct doctor *d, const char *ip, const char *helo, const char *route)
{
	for (size_t i = 0; i < d->nsrc; i++)
		if (strcmp(d->src[i].ip, ip) == 0)
			return;         /* one address, checked once */
	d->src = xreallocarray(d->src, d->nsrc + 1, sizeof(*d->src));
	d->src[d->nsrc].ip = xstrdup(ip);
	d->src[d->nsrc].helo = xstrdup(helo);
	d->src[d->nsrc].route = route;
	d->nsrc++;
}

/* The configured source of address ip on an mx route, or NULL. */
static const struct route_source *find_source(const struct config *cf, const char *ip,
					      const struct route_conf **route)
{
	for (size_t i = 0; i < cf->nroutes; i++)
		for (size_t k = 0; cf->routes[i].type == ROUTE_MX && k < cf->routes[i].nsources; k++)
			if (strcmp(cf->routes[i].sources[k].address, ip) == 0) {
				*route = &cf->routes[i];
				return &cf->routes[i].sources[k];
			}
	return NULL;
}

static const struct route_conf *first_mx_route(const struct config *cf)
{
	for (size_t i = 0; i < cf->nroutes; i++)
		if (cf->routes[i].type == ROUTE_MX)
			return &cf->routes[i];
	return NULL;
}

/* The addresses mail leaves from straight to MX hosts: --ip, else every
 * source of every mx route.  Relay routes' sources only reach the relay. */
static void collect_sources(struct doctor *d, const struct doctor_opts *o)
{
	const struct config *cf = d->cf;
	if (o->nips > 0) {
		const struct route_conf *mx = first_mx_route(cf);
		d->ips_given = 1;
		for (size_t i = 0; i < o->nips; i++) {
			const struct route_conf *rc = NULL;
			const struct route_source *s = find_source(cf, o->ips[i], &rc);
			if (s)
				add_source(d, s->address, s->helo, rc->name);
			else
				add_source(d, o->ips[i], mx ? mx->helo : cf->hostname,
					   mx ? mx->name : NULL);
		}
		return;
	}
	for (size_t i = 0; i < cf->nroutes; i++)
		for (size_t k = 0; cf->routes[i].type == ROUTE_MX && k < cf->routes[i].nsources; k++)
			add_source(d, cf->routes[i].sources[k].address, cf->routes[i].sources[k].helo,
				   cf->routes[i].name);
}

/* An mx route without source addresses sends from whatever address the
 * system picks, which outpost cannot see: say so once. */
static void report_unknown_sources(struct doctor *d)
{
	for (size_t i = 0; i < d->cf->nroutes && !d->ips_given; i++) {
		const struct route_conf *rc = &d->cf->routes[i];
		if (rc->type != ROUTE_MX || rc->nsources > 0)
			continue;
		doctor_add(d, "sources", DOCTOR_WARN, doctor_str(d, "route %s", rc->name),
			   "this mx route has no source address: the system picks it, so the "
			   "public IP that receivers see is unknown and SPF, PTR and blocklists "
			   "cannot be checked for it",
			   "run `outpost doctor DOMAIN --ip YOUR.PUBLIC.IP` (or set source = \"IP\" "
			   "on the route)");
		return;
	}
}

static void doctor_free(struct doctor *d)
{
	d->destroying = 1;              /* every lookup left ends as a failure, freeing its check's state */
	while (d->waiting || d->inflight) {
		struct doctor_q *q = d->waiting ? d->waiting : d->inflight;
		if (q->rq)
			resolver_cancel(q->rq);
		q_unlink(q->rq ? &d->inflight : &d->waiting, q);
		q_fail(q);
	}
	check_spf_cancel(d);            /* its evaluations are the resolver's, not in the lists above */
	if (d->pace_ev)
		event_free(d->pace_ev);
	if (d->advance_ev)
		event_free(d->advance_ev);
	for (size_t i = 0; i < d->nf; i++) {
		free(d->f[i].check);
		free(d->f[i].subject);
		free(d->f[i].evidence);
		free(d->f[i].fix);
	}
	free(d->f);
	for (size_t i = 0; i < d->nstr; i++)
		free(d->str[i]);
	free(d->str);
	for (size_t i = 0; i < d->nsrc; i++) {
		free(d->src[i].ip);
		free(d->src[i].helo);
	}
	free(d->src);
	free(d->domain);
}

static int exit_status(const struct doctor *d)
{
	int st = 0;
	for (size_t i = 0; i < d->nf; i++) {
		if (d->f[i].status == DOCTOR_FAIL)
			return 2;
		if (d->f[i].status == DOCTOR_WARN)
			st = 1;
	}
	return st;
}

static void on_domain_soa(struct doctor *d, const struct dns_result *res, void *arg)
{
	(void)arg;
	if (res->rcode == DNS_RCODE_NOERROR && !res->timed_out)
		return;                 /* the name exists for this resolver (SOA or not) */
	d->domain_untested = doctor_str(d, "SOA %s: %s: this resolver does not see the domain "
					"(it is not registered, or the resolver answers nothing "
					"true), so none of its records can be judged", d->domain,
					doctor_dns_outcome(d, res));
}

void check_resolver_start(struct doctor *d)
{
	doctor_lookup(d, d->domain, DNS_TYPE_SOA, on_domain_soa, NULL);
	if (!d->lists_known)
		check_dnsbl_test_points(d);
}

/* The domain's checks when the resolver cannot judge the domain. */
static void report_domain_untested(struct doctor *d)
{
	static const char *const what[][2] = {
		{ "spf", "SPF of " }, { "dkim", "DKIM of " }, { "dmarc", "DMARC of " },
		{ "rdns", "PTR of the source addresses, sending for " },
		{ "transport", "MX, MTA-STS and TLS-RPT of " },
	};
	for (size_t i = 0; i < sizeof(what) / sizeof(what[0]); i++)
		doctor_untested(d, what[i][0], doctor_str(d, "%s%s", what[i][1], d->domain),
				d->domain_untested);
}

static void run_loop(struct doctor *d, void (*start)(struct doctor *))
{
	doctor_hold(d);                 /* no check may end the loop before all started */
	start(d);
	doctor_release(d);
	if (d->holds > 0)
		event_base_dispatch(d->base);
}

static void start_checks(struct doctor *d)
{
	report_unknown_sources(d);
	check_dkim_own_mail(d);
	if (d->domain_untested) {
		report_domain_untested(d);
	} else {
		check_spf_start(d);
		check_dkim_start(d);
		check_dmarc_start(d);
		check_rdns_start(d);
		check_dmarc_reports_start(d);
		if (!d->monitor)
			check_transport_start(d);
	}
	if (!d->monitor)
		check_bounces_start(d); /* another domain: not judged by this one's SOA */
	check_dnsbl_start(d);
	if (!d->monitor)
		check_relay_start(d);
}

/* The monitor's run: phase 0 (resolver test) done -> the checks; phase 1
 * done -> the caller. */
static void run_advance(evutil_socket_t fd, short what, void *arg)
{
	struct doctor *d = arg;
	(void)fd;
	(void)what;
	if (d->phase++ == 0) {
		doctor_hold(d);
		start_checks(d);
		doctor_release(d);
		return;
	}
	d->done(d, d->done_arg);
}

static void run_checks(struct doctor *d)
{
	run_loop(d, check_resolver_start);
	run_loop(d, start_checks);
	check_bulk_finish(d);
}

static void doctor_set_domain(struct doctor *d, const char *domain)
{
	d->domain = xstrdup(domain);
	for (char *p = d->domain; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	size_t n = strlen(d->domain);
	if (n > 1 && d->domain[n - 1] == '.')
		d->domain[n - 1] = '\0';
}

struct doctor *doctor_new_async(struct event_base *base, struct resolver *res, const struct config *cf,
				const char *domain, int with_sources, unsigned timeout_ms)
{
	struct doctor *d = xcalloc(1, sizeof(*d));
	d->base = base;
	d->res = res;
	d->cf = cf;
	d->monitor = 1;
	d->timeout_ms = timeout_ms;
	doctor_set_domain(d, domain);
	d->pace_ev = evtimer_new(base, on_pace, d);
	d->advance_ev = evtimer_new(base, run_advance, d);
	if (with_sources) {
		struct doctor_opts o = { .domain = domain };
		collect_sources(d, &o);
	}
	return d;
}

void doctor_start_async(struct doctor *d, doctor_done_cb *done, void *arg)
{
	d->done = done;
	d->done_arg = arg;
	d->phase = 0;
	doctor_hold(d);
	check_resolver_start(d);
	doctor_release(d);
}

void doctor_destroy(struct doctor *d)
{
	if (d == NULL)
		return;
	doctor_free(d);
	free(d);
}

int doctor_run(const struct config *cf, const struct doctor_opts *o)
{
	char err[512];
	struct doctor d;
	memset(&d, 0, sizeof(d));
	d.cf = cf;
	d.timeout_ms = o->timeout_ms;
	doctor_set_domain(&d, o->domain);
	d.base = event_base_new();
	if (d.base == NULL) {
		fprintf(stderr, "outpost: doctor: cannot create an event loop\n");
		doctor_free(&d);
		return 69;
	}
	const char *spec = o->resolver ? o->resolver : cf->resolver ? cf->resolver : "system";
	d.res = resolver_new(d.base, spec, o->timeout_ms, err, sizeof(err));
	if (d.res == NULL) {
		fprintf(stderr, "outpost: doctor: %s\n", err);
		event_base_free(d.base);
		doctor_free(&d);
		return 69;
	}
	d.ssl = SSL_CTX_new(TLS_client_method());
	if (d.ssl) {
		SSL_CTX_set_min_proto_version(d.ssl, TLS1_2_VERSION);
		SSL_CTX_set_default_verify_paths(d.ssl);
	}
	collect_sources(&d, o);
	run_checks(&d);
	resolver_free(d.res);
	event_base_dispatch(d.base);    /* the relay probes' QUIT, answered or timed out */
	SSL_CTX_free(d.ssl);
	event_base_free(d.base);
	if (!o->json || doctor_report_json(&d) < 0)
		doctor_report_text(&d, o->colour);
	int st = exit_status(&d);
	doctor_free(&d);
	return st;
}
