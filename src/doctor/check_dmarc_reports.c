/*
 * check_dmarc_reports: what receivers reported about the domain's mail in
 * the last 7 days (the DMARC aggregate reports in SPOOL/dmarc.db, when
 * there are any), per route: each record's source IP is a route's when it
 * is one of the route's source addresses, or when a relay route's provider
 * lists it in its SPF include (outpost's SPF evaluator, on the doctor's
 * resolver; not in the monitor, which joins own addresses only).  A route whose DMARC pass rate is under dmarc.threshold is a
 * warning with the fix; others pass.  Without reports: nothing is said
 * (the monitor runs this too).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "config.h"
#include "dmarc/dmarc_report.h"
#include "dmarc/dmarc_route.h"
#include "dmarc/dmarc_store.h"
#include "doctor/doctor.h"
#include "mailauth/spf.h"
#include "xmalloc.h"

#define CHECK "dmarc"
#define WINDOW (7 * 86400)

struct source {                  /* one source IP's reported mail */
	char ip[64];
	unsigned long long msgs, pass, spf, dkim;
	const char *route;       /* NULL: not outpost (yet) */
	unsigned pending;        /* SPF checks in flight */
};

struct reports {
	struct doctor *d;
	struct source *src;
	size_t n;
	unsigned pending;
};

struct spf_ask {
	struct reports *r;
	size_t idx;
	const char *route;
};

static void on_row(const struct dmarc_row *row, void *arg)
{
	struct reports *r = arg;
	if (strcmp(row->domain, r->d->domain) != 0)
		return;
	const struct dmarc_record *c = row->rec;
	struct source *s = NULL;
	for (size_t i = 0; i < r->n && !s; i++)
		if (strcmp(r->src[i].ip, c->source_ip) == 0)
			s = &r->src[i];
	if (s == NULL) {
		r->src = xreallocarray(r->src, r->n + 1, sizeof(*r->src));
		s = &r->src[r->n++];
		memset(s, 0, sizeof(*s));
		snprintf(s->ip, sizeof(s->ip), "%s", c->source_ip);
	}
	int spf = strcmp(c->spf, "pass") == 0, dkim = strcmp(c->dkim, "pass") == 0;
	s->msgs += c->count;
	s->spf += spf ? c->count : 0;
	s->dkim += dkim ? c->count : 0;
	s->pass += spf || dkim ? c->count : 0;
}

static void judge_routes(struct reports *r)
{
	const struct config *cf = r->d->cf;
	for (size_t i = 0; i < cf->nroutes; i++) {
		unsigned long long msgs = 0, pass = 0, spf = 0, dkim = 0;
		for (size_t k = 0; k < r->n; k++)
			if (r->src[k].route && strcmp(r->src[k].route, cf->routes[i].name) == 0) {
				msgs += r->src[k].msgs;
				pass += r->src[k].pass;
				spf += r->src[k].spf;
				dkim += r->src[k].dkim;
			}
		if (msgs == 0)
			continue;
		double rate = 100.0 * (double)pass / (double)msgs;
		const char *subj = doctor_str(r->d, "route %s in DMARC reports", cf->routes[i].name);
		const char *ev = doctor_str(r->d, "last 7 days: %.1f%% of %llu messages pass DMARC "
					    "(threshold %u%%): SPF aligned %.1f%%, DKIM aligned %.1f%%", rate,
					    msgs, cf->dmarc.threshold, 100.0 * (double)spf / (double)msgs,
					    100.0 * (double)dkim / (double)msgs);
		if (rate < cf->dmarc.threshold)
			doctor_add(r->d, CHECK, DOCTOR_WARN, subj, ev,
				   dmarc_route_fix(cf, cf->routes[i].name, spf < msgs, dkim < msgs));
		else
			doctor_add(r->d, CHECK, DOCTOR_PASS, subj, ev, NULL);
	}
	free(r->src);
	free(r);
}

static void on_spf(const struct spf_outcome *out, void *arg)
{
	struct spf_ask *a = arg;
	struct reports *r = a->r;
	struct doctor *d = r->d;
	if (out->result == SPF_RESULT_PASS && r->src[a->idx].route == NULL)
		r->src[a->idx].route = a->route;
	free(a);
	if (--r->pending == 0)
		judge_routes(r);
	doctor_release(d);
}

static const char *own_route(const struct config *cf, const char *ip)
{
	for (size_t i = 0; i < cf->nroutes; i++)
		for (size_t k = 0; k < cf->routes[i].nsources; k++)
			if (strcmp(cf->routes[i].sources[k].address, ip) == 0)
				return cf->routes[i].name;
	return NULL;
}

/* The relay providers' SPF includes, asked about each IP no route owns. */
static void ask_relays(struct reports *r, size_t idx)
{
	const struct config *cf = r->d->cf;
	char err[256];
	for (size_t i = 0; i < cf->nroutes; i++) {
		const struct route_conf *rc = &cf->routes[i];
		const char *inc = rc->type == ROUTE_RELAY ? doctor_relay_spf_include(rc->host, NULL) : NULL;
		if (inc == NULL)
			continue;
		struct spf_ask *a = xmalloc(sizeof(*a));
		*a = (struct spf_ask){ r, idx, rc->name };
		struct spf_request req = { .ip = r->src[idx].ip, .helo = inc, .deadline_ms = r->d->timeout_ms * 4,
					   .mail_from = doctor_str(r->d, "postmaster@%s", inc) };
		r->pending++;
		doctor_hold(r->d);
		if (spf_check_start(r->d->res, &req, on_spf, a, err, sizeof(err)) == NULL) {
			free(a);
			r->pending--;
			doctor_release(r->d);
		}
	}
}

void check_dmarc_reports_start(struct doctor *d)
{
	char err[512];
	struct stat st;
	char *path = xasprintf("%s/dmarc.db", d->cf->spool);
	int have = stat(path, &st) == 0;
	free(path);
	struct dmarc_store *s = have ? dmarc_store_open(d->cf->spool, err, sizeof(err)) : NULL;
	if (s == NULL)
		return;                 /* no reports received: nothing to say */
	struct reports *r = xcalloc(1, sizeof(*r));
	r->d = d;
	if (dmarc_store_each(s, (long long)time(NULL) - WINDOW, on_row, r, err, sizeof(err)) < 0)
		doctor_add(d, CHECK, DOCTOR_WARN, "DMARC reports", err, NULL);
	dmarc_store_close(s);
	r->pending = 1;                 /* held while the checks start */
	/* in the daemon (the monitor) only outpost's own addresses: an SPF walk
	 * in flight could not be ended with the run */
	for (size_t i = 0; i < r->n; i++)
		if ((r->src[i].route = own_route(d->cf, r->src[i].ip)) == NULL && !d->monitor)
			ask_relays(r, i);
	if (--r->pending == 0)
		judge_routes(r);
}
