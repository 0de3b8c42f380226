/*
 * sched_route: per-recipient routing (part of the scheduler:
 * scheduler_int.h).
 *
 * Contract: sched_route_message() decides every due recipient of a
 * claimed message: its rule is the first that matches (router.h); when a
 * rule matches on MX hosts, or may send the recipient by an mx route, the
 * recipient domain's MX is looked up first (once per domain, read and
 * cached by sched_mx.c, so delivery uses the same answer) and the
 * recipients at that domain are decided with it.  Each recipient's destination class is the
 * provider (provider.h) of its best MX host when known, else of its
 * domain.  Its route is the first of the rule's via that is usable for
 * that class (health not down, a source with warm-up room left).  The
 * recipients that share rule, route and (on mx routes) domain become one
 * job, queued at its destination; a recipient without a rule or with
 * every route down fails at once with a 4xx (it waits for its retry).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/header.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "delivery/health.h"
#include "delivery/provider.h"
#include "delivery/scheduler_int.h"
#include "delivery/throttle.h"

/* An mx route with a warm-up: may one of its sources still send to this
 * class of receiver now?  (The MX host is not known yet: the provider is
 * the recipient domain's; the connection checks again with the host.) */
static int route_warm(struct scheduler *s, const struct route_conf *r, const char *dclass)
{
	if (!r->warmup.set || r->type != ROUTE_MX)
		return 1;
	for (size_t i = 0; i < (r->nsources ? r->nsources : 1); i++) {
		struct throttle_key k = { r->name, r->nsources ? r->sources[i].address : NULL, dclass, NULL };
		if (throttle_warmup_full(s->thr, &k, sched_now(s)) == 0)
			return 1;
	}
	return 0;
}

/* The first route of j's rule, from via position `from` on, that is not
 * down for j's destination class; NULL when none is. */
const struct route_conf *via_next(struct scheduler *s, const struct qmsg *q, const struct rule_conf *rule,
					 size_t from, const char *dclass, size_t *pos)
{
	time_t now = sched_time(s);
	for (size_t k = from; rule && k < rule->nvia; k++) {
		const struct route_conf *r = &q->cf->routes[rule->via[k]];
		int probe;
		if (!route_warm(s, r, dclass))
			continue;
		if (health_usable(s->health, r->name, dclass, now, &probe)) {
			*pos = k;
			return r;
		}
	}
	return NULL;
}

/* Queues j, moved to a new route, at its destination.  A relay job may
 * hold recipients at several domains; on an mx route each domain is a
 * destination of its own, so j is split first. */
void job_requeue(struct job *j)
{
	struct qmsg *q = j->q;
	const char *dom = rcpt_domain_of(q->m->rcpts[j->idx[0]].address);
	size_t kept = 1;
	j->next = NULL;  /* it was popped from its old destination */
	for (size_t i = 1; i < j->n; i++) {
		const char *d = rcpt_domain_of(q->m->rcpts[j->idx[i]].address);
		if (j->route->type != ROUTE_MX || strcasecmp(d, dom) == 0) {
			j->idx[kept++] = j->idx[i];
			continue;
		}
		struct job *o = NULL;  /* this domain's job, made by an earlier recipient */
		for (struct job *p = j->next; p && !o; p = p->next)
			if (strcasecmp(rcpt_domain_of(q->m->rcpts[p->idx[0]].address), d) == 0)
				o = p;
		if (o == NULL) {
			o = xcalloc(1, sizeof(*o));
			*o = (struct job){ q, j->route, j->rule, j->via_pos, "", NULL, 0, j->next };
			snprintf(o->dclass, sizeof(o->dclass), "%s", j->dclass);
			j->next = o;  /* a private list until they are queued */
			q->jobs++;
		}
		o->idx = xreallocarray(o->idx, o->n + 1, sizeof(size_t));
		o->idx[o->n++] = j->idx[i];
	}
	j->n = kept;
	struct job *split = j->next;
	dest_add_job(q->sch, j, dom);
	for (struct job *p = split, *next; p; p = next) {
		next = p->next;
		dest_add_job(q->sch, p, rcpt_domain_of(q->m->rcpts[p->idx[0]].address));
	}
	sched_pump_soon(q->sch);  /* the new destination may start now (its old connection may just park) */
}

/* The rule for recipient i (mx: its MX hosts, or NULL when not known yet). */
static void rcpt_decide(struct qmsg *q, size_t i, const char *const *mx, size_t nmx)
{
	struct rcpt_route *rr = &q->rr[i];
	const char *domain = rcpt_domain_of(q->m->rcpts[i].address);
	struct route_query rq = { q->m->sender, q->from_domain[0] ? q->from_domain : NULL, domain, mx, nmx,
				  q->m->auth_user, q->m->msg_class, q->m->tenant, q->m->scan_action };
	rr->verdict = router_match(q->cf, &rq, &rr->rule);
	/* the destination class: the provider of the best MX host when the
	 * rules made us look, else of the domain itself */
	provider_of(nmx ? mx[0] : domain, rr->dclass, sizeof(rr->dclass));
}

/* Makes one job per (rule, route, and domain for mx routes) and queues
 * each at its destination: recipients at several domains travel to a
 * relay in one transaction. */
static void qmsg_make_jobs(struct qmsg *q)
{
	struct scheduler *s = q->sch;
	struct spool_due_msg *m = q->m;
	for (size_t i = 0; i < m->nrcpts; i++) {
		struct rcpt_route *rr = &q->rr[i];
		rr->route = rr->forced ? rr->forced
			  : rr->verdict == ROUTER_MATCH ? via_next(s, q, rr->rule, 0, rr->dclass, &rr->via_pos) : NULL;
	}
	for (size_t i = 0; i < m->nrcpts; i++) {
		struct rcpt_route *rr = &q->rr[i];
		if (rr->taken)
			continue;
		if (rr->suppressed[0]) {   /* one job of its own, failed at once: a bounce and its DSN */
			struct job *sj = xcalloc(1, sizeof(*sj));
			struct reply_info ri;
			sj->q = q;
			sj->route = rr->route;
			sj->idx = xcalloc(1, sizeof(size_t));
			sj->idx[0] = i;
			sj->n = 1;
			rr->taken = 1;
			q->jobs++;
			char enh[16] = "";
			const char *text = rr->suppressed + 4;   /* past "550 " */
			size_t el = reply_parse_enhanced(text, enh, sizeof(enh));
			reply_local(enh[0] == '5' ? enh : "5.7.1", text + el, &ri);
			job_fail(sj, &ri, NULL);
			continue;
		}
		const char *dom = rcpt_domain_of(m->rcpts[i].address);
		struct job *j = xcalloc(1, sizeof(*j));
		j->q = q;
		j->rule = rr->forced ? NULL : rr->rule;
		j->route = rr->route;
		j->via_pos = rr->via_pos;
		snprintf(j->dclass, sizeof(j->dclass), "%s", rr->dclass);
		for (size_t k = i; k < m->nrcpts; k++) {
			struct rcpt_route *o = &q->rr[k];
			if (o->taken || o->rule != rr->rule || o->route != rr->route || o->verdict != rr->verdict ||
			    (j->route && j->route->type == ROUTE_MX && strcasecmp(rcpt_domain_of(m->rcpts[k].address), dom)))
				continue;
			o->taken = 1;
			j->idx = xreallocarray(j->idx, j->n + 1, sizeof(size_t));
			j->idx[j->n++] = k;
		}
		q->jobs++;
		struct reply_info ri;
		if (rr->verdict != ROUTER_MATCH && !rr->forced) {
			reply_local("4.3.5", "no rule in the config routes this recipient", &ri);
			job_fail(j, &ri, NULL);
		} else if (j->route == NULL) {
			reply_local("4.4.5", "every route of the rule is down: waiting for a probe", &ri);
			job_fail(j, &ri, NULL);
		} else {
			dest_add_job(s, j, dom);
		}
	}
	free(q->rr);
	q->rr = NULL;
}

struct mx_wait {
	struct qmsg *q;
	char *domain;
};

/* Whether recipient rr needs its domain's MX before its jobs are made:
 * for a rule that matches on MX hosts, and for the destination class
 * (the provider, by the best MX host) of mail that may go by an mx route:
 * warm-up, back-off and route health count per provider (issue 19). */
static int wants_mx(const struct qmsg *q, const struct rcpt_route *rr)
{
	if (rr->forced)
		return rr->forced->type == ROUTE_MX;
	if (rr->verdict == ROUTER_NEED_MX)
		return 1;
	for (size_t k = 0; rr->verdict == ROUTER_MATCH && k < rr->rule->nvia; k++)
		if (q->cf->routes[rr->rule->via[k]].type == ROUTE_MX)
			return 1;
	return 0;
}

/* The MX answer for domain: decide every recipient there that waited for
 * it (NXDOMAIN and a null MX give no host at all: no `mx` glob matches);
 * the others take the provider of its best host as their class.  A failed
 * lookup decides nothing: those recipients keep NEED_MX, get no rule and
 * wait for their retry; the others keep their domain's class. */
static void mx_apply(struct qmsg *q, const char *domain, const struct mx_answer *a)
{
	for (size_t i = 0; i < q->m->nrcpts && a->kind != MX_FAILED; i++) {
		struct rcpt_route *rr = &q->rr[i];
		if (strcasecmp(rcpt_domain_of(q->m->rcpts[i].address), domain) != 0)
			continue;
		if (rr->verdict == ROUTER_NEED_MX && !rr->forced)
			rcpt_decide(q, i, (const char *const *)a->hosts, a->n);
		else if (a->n)
			provider_of(a->hosts[0], rr->dclass, sizeof(rr->dclass));
	}
}

static void on_rule_mx(const struct dns_result *res, void *arg)
{
	struct mx_wait *w = arg;
	struct qmsg *q = w->q;
	struct mx_answer a;
	mx_answer_read(res, w->domain, &a);
	mx_cache_put(q->sch, w->domain, &a);
	mx_apply(q, w->domain, &a);
	mx_answer_clear(&a);
	free(w->domain);
	free(w);
	if (--q->mx_pending > 0)
		return;
	q->sch->routing--;
	if (q->sch->stopping) {  /* nothing attempted: every recipient stays due */
		free(q->rr);
		q->rr = NULL;
	} else {
		qmsg_make_jobs(q);
	}
	struct scheduler *s = q->sch;
	qmsg_release(q);
	sched_pump(s);  /* the new jobs wait at their destinations: start them */
}

/* Looks up the MX of every domain of q that wants it, once per domain:
 * from the cache at once, else through the resolver (q->mx_pending). */
static void route_lookup_mx(struct scheduler *s, struct qmsg *q)
{
	const struct spool_due_msg *m = q->m;
	for (size_t i = 0; i < m->nrcpts; i++) {
		const char *dom = rcpt_domain_of(m->rcpts[i].address);
		size_t k;
		if (!wants_mx(q, &q->rr[i]))
			continue;
		for (k = 0; k < i && !(wants_mx(q, &q->rr[k]) &&
				       strcasecmp(rcpt_domain_of(m->rcpts[k].address), dom) == 0); k++)
			;
		if (k < i)
			continue;  /* that domain is done or on its way */
		const struct mx_answer *cached = mx_cache_get(s, dom);
		if (cached) {
			mx_apply(q, dom, cached);
			continue;
		}
		struct mx_wait *w = xcalloc(1, sizeof(*w));
		w->q = q;
		w->domain = xstrdup(dom);
		q->mx_pending++;
		s->net.query(s->net.arg, dom, DNS_TYPE_MX, on_rule_mx, w);
	}
}

const struct route_conf *route_named(const struct config *cf, const char *name)
{
	for (size_t i = 0; i < cf->nroutes; i++)
		if (strcmp(cf->routes[i].name, name) == 0)
			return &cf->routes[i];
	return NULL;
}

/* Decides every recipient's rule (looking up MX hosts first when a rule
 * matches on them, or for the class of mail that may go by an mx route),
 * then splits m into jobs.  The qmsg holds one
 * reference of its own until the jobs are made. */
void sched_route_message(struct scheduler *s, struct spool_due_msg *m)
{
	size_t n = m->nrcpts ? m->nrcpts : 1;
	struct qmsg *q = xcalloc(1, sizeof(*q));
	q->sch = s;
	q->cf = config_ref(s->cf);
	q->m = m;
	q->out = xcalloc(n, sizeof(*q->out));
	q->rr = xcalloc(n, sizeof(*q->rr));
	q->jobs = 1;  /* held while jobs are made */
	s->inflight++;
	header_from_domain(m->body, m->body_len, q->from_domain, sizeof(q->from_domain));
	const struct route_conf *forced = m->route ? route_named(q->cf, m->route) : NULL;
	for (size_t i = 0; i < m->nrcpts; i++) {
		if (s->rcpt_filter && !forced &&
		    s->rcpt_filter(s->rcpt_filter_arg, m->rcpts[i].address, m->sender, m->auth_user, m->id,
				   q->rr[i].suppressed, sizeof(q->rr[i].suppressed)) && strlen(q->rr[i].suppressed) < 12)
			q->rr[i].suppressed[0] = '\0';   /* not a reply ("550 5.x.y text"): send it */
		q->rr[i].forced = forced;
		if (forced)
			provider_of(rcpt_domain_of(m->rcpts[i].address), q->rr[i].dclass, sizeof(q->rr[i].dclass));
		else
			rcpt_decide(q, i, NULL, 0);
	}
	route_lookup_mx(s, q);
	if (q->mx_pending) {
		s->routing++;
		return;
	}
	qmsg_make_jobs(q);
	qmsg_release(q);
}

