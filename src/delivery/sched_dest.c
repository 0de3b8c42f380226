/*
 * sched_dest: destinations, connections, targets, source pools and
 * parking (part of the scheduler: scheduler_int.h).
 *
 * Contract: a job waits at its destination (an mx route and a recipient
 * domain, or a relay route) until a connection takes it.  A connection
 * resolves its targets once (the MX answer through sched_mx.c, then each
 * host's addresses; a relay's host), connects to them in preference
 * order, binds a source address of its route's pool (smooth weighted
 * round-robin, passing over sources whose warm-up cap is used up), and
 * runs one transaction per job, within the limits (throttle.h): a
 * connection opens only when a connections cap has room; each message
 * waits for its rate slot (the destination is held until then, the
 * connection parked for a short wait); a wait over HOLD_MAX sends the
 * destination's mail back to the spool.  A message is counted (rates and
 * warm-up) when it is committed to its connection, before the
 * transaction, and given back (throttle_release) when the receiver does
 * not take it: parallel connections never exceed a limit together.  After a job the connection takes
 * the next job of its destination, is parked for CONN_IDLE seconds, or
 * closes.  What a failure means is sched_trouble.c's to say.
 * Sharing (issue 21): on an mx route, a job whose domain's MX answer is
 * known waits at the destination of that MX host set, which every domain
 * with the same answer shares (its connections, its max_per_destination,
 * one transaction per message there); an idle connection to the address
 * a new connection is about to dial, of any destination of the route,
 * takes the job instead; at max_connections the least recently used idle
 * connection closes for new work.  A `limits` entry that selects domains
 * turns sharing off (its connections cap counts per domain).  A session
 * is uncounted with the domain it was counted with, wherever it went.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stddef.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "delivery/provider.h"
#include "delivery/scheduler_int.h"
#include "delivery/throttle.h"
#include "obs/obs.h"

static void conn_after_job(struct conn *c);
static void conn_park(struct conn *c);
static void conn_start_txn(struct conn *c);
static void conn_note_replies(struct conn *c, const struct smtp_txn_result *res);
static void conn_close_client(struct conn *c);
static int conn_reusable(const struct conn *c);
static int source_warm(struct scheduler *s, const struct conn *c, const struct route_source *src);
static void conn_use_hosts(struct conn *c);
static int conn_move_to_shared(struct conn *c, const struct mx_answer *a);
static int conn_adopt_idle(struct conn *c);

static struct dest *dest_new(struct scheduler *s, const struct route_conf *r, const char *key)
{
	struct dest *d = xcalloc(1, sizeof(*d));
	d->sch = s;
	d->key = xstrdup(key);
	d->route = r;
	d->tail = &d->head;
	d->next = s->dests;
	s->dests = d;
	return d;
}

static struct dest *dest_find(struct scheduler *s, const struct route_conf *r, const char *key)
{
	for (struct dest *d = s->dests; d; d = d->next)
		if (d->route == r && strcmp(d->key, key) == 0)  /* a reload makes new routes */
			return d;
	return NULL;
}

static struct dest *dest_get(struct scheduler *s, const struct route_conf *r, const char *domain)
{
	char key[600];
	snprintf(key, sizeof(key), "%s|%s", r->name, r->type == ROUTE_MX ? domain : "");
	struct dest *d = dest_find(s, r, key);
	if (d == NULL) {
		d = dest_new(s, r, key);
		d->domain = r->type == ROUTE_MX ? xstrdup(domain) : NULL;
	}
	return d;
}

/* Whether mx routes may share destinations by MX host set: not when a
 * limit selects recipient domains, whose connection caps count per domain
 * (a shared connection carries many domains). */
static int dest_share_ok(const struct config *cf)
{
	for (size_t i = 0; i < cf->nlimits; i++)
		if (cf->limits[i].selector == LIMIT_DOMAIN)
			return 0;
	return 1;
}

/* The destination of every domain whose MX answer is hosts a (issue 21:
 * Postfix's connection cache by MX host); NULL when the key does not fit. */
static struct dest *dest_get_shared(struct scheduler *s, const struct route_conf *r, const struct mx_answer *a)
{
	char key[1024];
	size_t used = (size_t)snprintf(key, sizeof(key), "%s|mx:", r->name);
	for (size_t i = 0; i < a->n && used < sizeof(key); i++)
		used += (size_t)snprintf(key + used, sizeof(key) - used, "%s%s", i ? "," : "", a->hosts[i]);
	if (used >= sizeof(key))
		return NULL;
	for (char *p = key; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	struct dest *d = dest_find(s, r, key);
	if (d)
		return d;
	d = dest_new(s, r, key);
	d->mx = xcalloc(a->n + 1, sizeof(char *));
	for (size_t i = 0; i < a->n; i++)
		d->mx[i] = xstrdup(a->hosts[i]);
	return d;
}

void dest_free_if_idle(struct dest *d)
{
	struct scheduler *s = d->sch;
	if (d->head || d->conns)
		return;
	if (s->pumping)
		return;  /* sched_pump walks the list: dest_sweep() frees it after */
	for (struct dest **p = &s->dests; *p; p = &(*p)->next) {
		if (*p == d) {
			*p = d->next;
			break;
		}
	}
	config_free(d->cf);
	free(d->key);
	free(d->domain);
	for (size_t i = 0; d->mx && d->mx[i]; i++)
		free(d->mx[i]);
	free(d->mx);
	free(d);
}

void dest_sweep(struct scheduler *s)
{
	for (struct dest *d = s->dests, *next; d; d = next) {
		next = d->next;
		dest_free_if_idle(d);
	}
}

struct job *dest_pop(struct dest *d)
{
	struct job *j = d->head;
	if (j && (d->head = j->next) == NULL)
		d->tail = &d->head;
	return j;
}

/* The recipient domain c works for: its destination's, or on a shared
 * destination its job's (the domain its session was counted with between jobs). */
static const char *conn_domain(const struct conn *c)
{
	if (c->d->domain)
		return c->d->domain;
	if (c->job)
		return rcpt_domain_of(c->job->q->m->rcpts[c->job->idx[0]].address);
	return c->count_domain[0] ? c->count_domain : NULL;
}

/* What the limits know of c's session: route, source, domain, MX host. */
static struct throttle_key conn_key(const struct conn *c)
{
	const struct route_conf *r = c->d->route;
	return (struct throttle_key){ r->name, c->source ? c->source->address : NULL, conn_domain(c),
		r->type == ROUTE_MX && c->cur < c->ntargets ? c->targets[c->cur].host : NULL };
}

static void conn_uncount(struct conn *c)
{
	if (!c->counted)
		return;
	struct throttle_key k = conn_key(c);
	k.domain = c->count_domain[0] ? c->count_domain : NULL;  /* as it was opened, wherever it went since */
	throttle_conn_close(c->d->sch->thr, &k);
	c->counted = 0;
	c->sent = 0;
}

void conn_free(struct conn *c)
{
	struct dest *d = c->d;
	struct scheduler *s = d->sch;
	conn_uncount(c);
	if (c->q)
		s->net.cancel(s->net.arg, c->q);
	if (c->client)
		s->net.client_free(s->net.arg, c->client);
	for (size_t i = 0; i < c->nhosts; i++)
		free(c->hosts[i]);
	free(c->hosts);
	free((void *)c->rcpts);
	free(c->return_path);
	sched_timer_free(s, c->idle_ev);
	if ((*c->all_pprev = c->all_next) != NULL)
		c->all_next->all_pprev = c->all_pprev;
	free(c);
	d->conns--;
	s->conns--;
	dest_free_if_idle(d);
	sched_pump(s);
}

/* c's message was counted when it was committed to c (warm-up share and
 * rate slots) but the receiver did not take it: give them back. */
static void conn_release(struct conn *c)
{
	struct scheduler *s = c->d->sch;
	struct throttle_key k = conn_key(c);
	throttle_release(s->thr, &k, c->counted_at, sched_now(s));
}

static void on_txn_done(void *arg, const struct smtp_txn_result *res)
{
	struct conn *c = arg;
	struct job *j = c->job;
	obs_transaction(job_route_name(j), sched_now(c->d->sch) - c->txn_start);
	if (txn_try_next_host(c, res)) {
		/* the whole session failed here: the next MX host or address may take it */
		c->last = res->rcpt[0];
		char qd[700], rf[600];
		msg_info("event=attempt_failed qid=%s route=%s host=%s ip=%s reply=%s action=next_host",
			 j->q->m->id, job_route_name(j), c->targets[c->cur].host, res->remote_ip[0] ? res->remote_ip : "-",
			 log_quote(qd, sizeof(qd), reply_format(&res->rcpt[0], rf, sizeof(rf))));
		conn_release(c);
		conn_close_client(c);
		c->cur++;
		conn_try_target(c);
		return;
	}
	conn_note_replies(c, res);
	size_t ok = 0;
	for (size_t i = 0; i < res->nrcpts; i++)
		ok += res->rcpt[i].outcome == REPLY_OK;
	if (ok == 0)
		conn_release(c);
	free((void *)c->rcpts);
	c->rcpts = NULL;
	c->job = NULL;
	if (job_judge(j, res->rcpt, res->nrcpts, c->targets[c->cur].host, 1))
		return conn_after_job(c);
	for (size_t i = 0; i < j->n; i++) {
		struct outcome *o = &j->q->out[j->idx[i]];
		o->set = 1;
		o->reply = res->rcpt[i];
		o->route = job_route_name(j);
		snprintf(o->host, sizeof(o->host), "%s", c->targets[c->cur].host);
		snprintf(o->ip, sizeof(o->ip), "%s", res->remote_ip);
		snprintf(o->tls, sizeof(o->tls), "%s%s", res->tls,
			 res->tls[0] ? (res->tls_verified ? " verified" : " unverified") : "none");
	}
	job_done(j);
	conn_after_job(c);
}

/* c's session is over (not reusable, or failed): close it, uncount it. */
static void conn_close_client(struct conn *c)
{
	struct scheduler *s = c->d->sch;
	s->net.client_free(s->net.arg, c->client);
	c->client = NULL;
	conn_uncount(c);
}

static int conn_reusable(const struct conn *c)
{
	struct scheduler *s = c->d->sch;
	return c->client && s->net.reusable(s->net.arg, c->client);
}

/* A job left c: keep the session for the next one if it can be reused. */
static void conn_after_job(struct conn *c)
{
	if (c->client && !conn_reusable(c))
		conn_close_client(c);
	conn_next_job(c);
}

/* The receiver's answer feeds the back-off (a "slow down" halves the rate). */
static void conn_note_replies(struct conn *c, const struct smtp_txn_result *res)
{
	const struct reply_info *r = &res->rcpt[0];
	for (size_t i = 0; i < res->nrcpts; i++)
		if (res->rcpt[i].outcome != REPLY_OK) {
			r = &res->rcpt[i];
			break;
		}
	struct throttle_key k = conn_key(c);
	throttle_note_reply(c->d->sch->thr, &k, r->code, r->enh, r->text, sched_now(c->d->sch));
}

static void dest_push_front(struct dest *d, struct job *j)
{
	j->next = d->head;
	d->head = j;
	if (j->next == NULL)
		d->tail = &j->next;
}

void dest_defer_held(struct dest *d, double wait)
{
	char why[160];
	struct reply_info r;
	snprintf(why, sizeof(why), "a limit for this destination is reached; next slot in %.0f s", wait);
	reply_local("4.7.0", why, &r);
	dest_fail_all(d, &r);
}

void dest_hold(struct dest *d, double t)
{
	struct scheduler *s = d->sch;
	d->hold_until = t;
	if (s->hold_next == 0 || t < s->hold_next) {
		s->hold_next = t;
		sched_timer_add(s, s->hold_ev, t - sched_now(s));
	}
}

/* Starts c's job now if the limits allow; else the job goes back to the
 * front of its destination, which waits, and c waits for it (parked) or
 * closes (messages_per_connection reached). */
static void conn_send(struct conn *c)
{
	struct scheduler *s = c->d->sch;
	struct throttle_key k = conn_key(c);
	double now = sched_now(s);
	/* a reused session checks the warm-up again: its source may have sent
	 * its share to this provider meanwhile (issue 19); throttle_message()
	 * counts the message at once (warm-up and rates), before the
	 * transaction, so that the next session's check already sees it;
	 * conn_release() gives it back if the receiver does not take it */
	int warm = c->sent == 0 || source_warm(s, c, c->source);
	double wait = warm ? throttle_message(s->thr, &k, c->sent, now) : -1;
	if (wait == 0) {
		c->sent++;
		c->counted_at = now;
		return conn_start_txn(c);
	}
	dest_push_front(c->d, c->job);
	c->job = NULL;
	if (!warm) {  /* a new session takes another source, or the job spills to the next route */
		msg_debug("event=throttled route=%s reason=warmup sent=%u", k.route, c->sent);
		return conn_free(c);
	}
	if (wait < 0) {  /* enough messages on this session: a new one takes the job */
		msg_debug("event=throttled route=%s reason=messages_per_connection sent=%u", k.route, c->sent);
		return conn_free(c);
	}
	msg_debug("event=throttled route=%s domain=%s wait=%.3f", k.route, k.domain ? k.domain : "-", wait);
	if (wait > HOLD_MAX)
		dest_defer_held(c->d, wait);
	c->d->hold_why = "a rate limit or a back-off of this destination";
	dest_hold(c->d, now + wait);
	if (conn_reusable(c) && wait < CONN_IDLE)
		return conn_park(c);
	conn_free(c);
}

static void conn_start_txn(struct conn *c)
{
	struct job *j = c->job;
	const struct spool_due_msg *m = j->q->m;
	const char **rcpts = xcalloc(j->n, sizeof(char *));
	free((void *)c->rcpts);  /* the same job tried at an earlier target */
	for (size_t i = 0; i < j->n; i++)
		rcpts[i] = m->rcpts[j->idx[i]].address;
	c->rcpts = rcpts;
	struct scheduler *s = c->d->sch;
	char verp[512];
	free(c->return_path);   /* the client reads the sender until the transaction ends */
	c->return_path = s->return_path && s->return_path(s->return_path_arg, m->id, m->sender, verp, sizeof(verp))
			 ? xstrdup(verp) : NULL;
	const char *sender = c->return_path ? c->return_path : m->sender;
	struct smtp_txn txn = { m->id, sender, rcpts, j->n, m->body, m->body_len, m->body_8bit, m->smtputf8 };
	c->txn_start = sched_now(s);
	s->net.deliver(s->net.arg, c->client, &txn, on_txn_done, c);
}

static void conn_add_target(struct conn *c, const char *host, const struct dns_addr *a)
{
	struct target *t = &c->targets[c->ntargets++];
	unsigned short port = htons((unsigned short)atoi(c->d->route->port));
	memset(&t->ss, 0, sizeof(t->ss));
	snprintf(t->host, sizeof(t->host), "%s", host);
	if (a->family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&t->ss;
		sin->sin_family = AF_INET;
		sin->sin_port = port;
		memcpy(&sin->sin_addr, a->a, 4);
		t->sslen = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&t->ss;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = port;
		memcpy(&sin6->sin6_addr, a->a, 16);
		t->sslen = sizeof(*sin6);
	}
}

static void on_host_addrs(const struct dns_result *res, void *arg)
{
	struct conn *c = arg;
	c->q = NULL;
	for (size_t i = 0; i < res->n && c->ntargets < MAX_TARGETS; i++)
		conn_add_target(c, c->hosts[c->nexthost - 1], &res->addr[i]);
	if (res->n == 0) {
		char why[300];
		snprintf(why, sizeof(why), "no address for %s (%s)", c->hosts[c->nexthost - 1],
			 res->rcode == DNS_RCODE_NXDOMAIN ? "NXDOMAIN" : res->why ? res->why : "no A record");
		reply_local("4.4.4", why, &c->last);
	}
	conn_try_target(c);
}

/* Whether src may still send to c's destination under its route's warm-up. */
static int source_warm(struct scheduler *s, const struct conn *c, const struct route_source *src)
{
	const struct route_conf *r = c->d->route;
	if (!r->warmup.set)
		return 1;
	struct throttle_key k = { r->name, src ? src->address : NULL, conn_domain(c),
				  c->cur < c->ntargets ? c->targets[c->cur].host : NULL };
	return throttle_warmup_full(s->thr, &k, sched_now(s)) == 0;
}

static int all_listed(const struct scheduler *s, const struct route_conf *r, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!sched_source_is_listed(s, r->sources[i].address))
			return 0;
	return 1;
}

/* The next address of c's route's source pool, by smooth weighted
 * round-robin (as nginx's: weights 3:1 give a a b a, not a a a b),
 * passing over addresses whose warm-up cap is used up; NULL when all are. */
static const struct route_source *route_pick_source(struct scheduler *s, const struct conn *c)
{
	const struct route_conf *r = c->d->route, *now_r = route_named(s->cf, r->name);
	size_t ri = now_r ? (size_t)(now_r - s->cf->routes) : 0;  /* r may be of an older config */
	size_t n = r->nsources < MAX_POOL ? r->nsources : MAX_POOL;
	if (s->nsrc_weight < s->cf->nroutes * MAX_POOL) {
		s->src_weight = xreallocarray(s->src_weight, s->cf->nroutes * MAX_POOL, sizeof(long));
		memset(s->src_weight, 0, s->cf->nroutes * MAX_POOL * sizeof(long));
		s->nsrc_weight = s->cf->nroutes * MAX_POOL;
	}
	long *cur = &s->src_weight[ri * MAX_POOL];
	size_t rounds = 0;              /* smooth WRR names every source within the weights' sum */
	for (size_t i = 0; i < n; i++)
		rounds += r->sources[i].weight;
	for (size_t tries = 0; tries < rounds && tries < 10000; tries++) {
		size_t best = 0;
		long total = 0;
		for (size_t i = 0; i < n; i++) {
			cur[i] += r->sources[i].weight;
			total += r->sources[i].weight;
			if (cur[i] > cur[best])
				best = i;
		}
		cur[best] -= total;
		/* a listed source is passed over, unless all are (the route's probe) */
		if (sched_source_is_listed(s, r->sources[best].address) && !all_listed(s, r, n))
			continue;
		if (source_warm(s, c, &r->sources[best]))
			return &r->sources[best];
	}
	return NULL;
}

/* Connects to the current target, resolving the next host's addresses when needed. */
void conn_try_target(struct conn *c)
{
	const struct route_conf *r = c->d->route;
	struct scheduler *s = c->d->sch;
	if (c->cur >= c->ntargets) {
		if (c->nexthost >= c->nhosts || c->cur >= MAX_TARGETS)
			return conn_fail_job(c);
		const char *h = c->hosts[c->nexthost++];
		struct dns_addr lit = { .family = strchr(h, ':') ? AF_INET6 : AF_INET };
		if (inet_pton(lit.family, h, lit.a) != 1)
			return (void)(c->q = s->net.query(s->net.arg, h, DNS_TYPE_A, on_host_addrs, c));
		conn_add_target(c, h, &lit);  /* an address needs no lookup */
	}
	if (sched_is_self(s, &c->targets[c->cur].ss))
		return conn_loops_back(c);
	if (c->client == NULL && conn_adopt_idle(c))
		return;
	struct smtp_client_params p = { 0 };
	p.host_name = c->targets[c->cur].host;
	p.addr = c->targets[c->cur].ss;
	p.addrlen = c->targets[c->cur].sslen;
	p.helo = r->helo;
	c->source = NULL;
	if (r->nsources == 0 && !source_warm(s, c, NULL))
		return conn_warm_full(c);
	if (r->nsources) {
		const struct route_source *src = c->source = route_pick_source(s, c);
		if (src == NULL)
			return conn_warm_full(c);
		struct addrinfo hints = { .ai_flags = AI_NUMERICHOST }, *ai;
		if (getaddrinfo(src->address, NULL, &hints, &ai) == 0) {
			memcpy(&p.source, ai->ai_addr, ai->ai_addrlen);
			p.sourcelen = ai->ai_addrlen;
			freeaddrinfo(ai);
		}
		p.helo = src->helo;
	}
	p.tls = (enum smtp_tls_mode)r->tls;
	p.ssl_ctx = s->ssl;
	p.auth_user = r->auth_user;
	p.auth_pass = r->auth_pass;
	p.connect_timeout = s->cf->delivery.connect_timeout;
	p.command_timeout = s->cf->delivery.command_timeout;
	msg_debug("event=connect_try route=%s host=%s tls=%s", r->name, p.host_name, str_name_code(route_tls_names, (int)r->tls));
	struct throttle_key k = conn_key(c);
	if (!throttle_conn_open(s->thr, &k, sched_now(s))) {
		/* a connections limit is full: the job waits at the front of its destination */
		msg_debug("event=throttled route=%s domain=%s reason=connections", k.route, k.domain ? k.domain : "-");
		dest_push_front(c->d, c->job);
		c->job = NULL;
		c->d->hold_why = "a connections limit of this destination is full";
		dest_hold(c->d, sched_now(s) + 1);
		return conn_free(c);
	}
	c->counted = 1;
	if (snprintf(c->count_domain, sizeof(c->count_domain), "%s", k.domain ? k.domain : "") >=
	    (int)sizeof(c->count_domain))
		c->count_domain[0] = '\0';  /* a domain is at most 255 octets: cannot happen */
	c->client = s->net.client_new(s->net.arg, &p);
	conn_send(c);
}

static void conn_hosts_add(struct conn *c, const char *h)
{
	size_t l = strlen(h);
	c->hosts = xreallocarray(c->hosts, c->nhosts + 1, sizeof(char *));
	c->hosts[c->nhosts++] = xstrndup(h, l && h[l - 1] == '.' && l > 1 ? l - 1 : l);
}

/* The MX verdict for the whole destination (read by sched_mx.c). */
static void conn_use_mx(struct conn *c, const struct mx_answer *a)
{
	for (size_t i = 0; i < a->n; i++)
		conn_hosts_add(c, a->hosts[i]);
	if (a->kind == MX_HOSTS) {
		reply_local("4.4.4", "no MX host could be reached", &c->last);
		return conn_try_target(c);
	}
	c->last = a->verdict;
	conn_fail_job(c);
}

static void on_mx(const struct dns_result *res, void *arg)
{
	struct conn *c = arg;
	struct mx_answer a;
	c->q = NULL;
	mx_answer_read(res, c->d->domain, &a);
	mx_cache_put(c->d->sch, c->d->domain, &a);
	if (!conn_move_to_shared(c, &a))
		conn_use_mx(c, &a);  /* may free c, never a */
	mx_answer_clear(&a);
}

void conn_unpark(struct conn *c)
{
	struct conn **p;
	for (p = &c->d->idle; *p && *p != c; p = &(*p)->next_idle)
		;
	if (*p)
		*p = c->next_idle;
	c->next_idle = NULL;
	c->parked = 0;
	sched_timer_del(c->d->sch, c->idle_ev);
}

static void on_idle_over(void *arg)
{
	struct conn *c = arg;
	conn_unpark(c);
	conn_free(c);
}

/* Keeps a healthy connection for the destination's next job, for a while. */
static void conn_park(struct conn *c)
{
	struct scheduler *s = c->d->sch;
	if (c->idle_ev == NULL)
		c->idle_ev = sched_timer_new(s, on_idle_over, c);
	c->next_idle = c->d->idle;
	c->d->idle = c;
	c->idle_since = sched_now(s);
	c->parked = 1;
	sched_timer_add(s, c->idle_ev, CONN_IDLE);
}

int conn_evict_idle(struct scheduler *s)
{
	struct conn *lru = NULL;
	for (struct dest *d = s->dests; d; d = d->next)
		for (struct conn *c = d->idle; c; c = c->next_idle)
			if (lru == NULL || c->idle_since < lru->idle_since)
				lru = c;
	if (lru == NULL)
		return 0;
	msg_debug("event=conn_evicted route=%s host=%s idle=%.3f", lru->d->route->name,
		  lru->cur < lru->ntargets ? lru->targets[lru->cur].host : "-", sched_now(s) - lru->idle_since);
	conn_unpark(lru);
	conn_free(lru);
	return 1;
}

/* An idle connection of c's route to c's current target address (and
 * port), of any destination, takes c's job: Postfix's connection cache by
 * address (issue 21), as RFC 5321 lets a server take any recipient it
 * accepts.  It moves to c's destination and c, never connected, ends.
 * The reused session checks warm-up and rates for its new job (conn_send). */
static int conn_adopt_idle(struct conn *c)
{
	struct scheduler *s = c->d->sch;
	const struct target *t = &c->targets[c->cur];
	struct conn *o = NULL;
	if (!dest_share_ok(c->d->cf))
		return 0;  /* a domain's connections cap counts the connections opened for it */
	for (struct dest *d = s->dests; d && !o; d = d->next)
		for (struct conn *i = d->idle; i && !o; i = i->next_idle)
			if (d->route == c->d->route && i->cur < i->ntargets && i->targets[i->cur].sslen == t->sslen &&
			    memcmp(&i->targets[i->cur].ss, &t->ss, t->sslen) == 0)
				o = i;
	if (o == NULL)
		return 0;
	struct dest *old = o->d;
	conn_unpark(o);
	old->conns--;
	o->d = c->d;
	c->d->conns++;
	o->job = c->job;
	c->job = NULL;
	msg_debug("event=conn_reused route=%s host=%s from=%s to=%s", c->d->route->name, o->targets[o->cur].host,
		  old->key, c->d->key);
	dest_free_if_idle(old);
	conn_free(c);
	conn_send(o);
	return 1;
}

/* A new connection for c's hosts: start over at the best one. */
static void conn_use_hosts(struct conn *c)
{
	c->cur = 0;
	c->ntargets = 0;
	c->nexthost = 0;
	conn_try_target(c);
}

void conn_next_job(struct conn *c)
{
	struct scheduler *s = c->d->sch;
	if (s->stopping)
		return conn_free(c);
	if ((c->job = dest_pop(c->d)) == NULL)
		return conn_reusable(c) ? conn_park(c) : conn_free(c);
	if (c->client)
		return conn_send(c);
	if (c->nhosts == 0 && c->d->route->type == ROUTE_MX) {
		for (size_t i = 0; c->d->mx && c->d->mx[i]; i++)
			conn_hosts_add(c, c->d->mx[i]);  /* a shared destination: its hosts are its key */
		if (c->d->mx) {
			reply_local("4.4.4", "no MX host could be reached", &c->last);
			return conn_use_hosts(c);
		}
		const struct mx_answer *cached = mx_cache_get(s, c->d->domain);
		if (cached && conn_move_to_shared(c, cached))
			return;
		if (cached)
			return conn_use_mx(c, cached);  /* the answer routing asked for a moment ago */
		c->q = s->net.query(s->net.arg, c->d->domain, DNS_TYPE_MX, on_mx, c);
		return;
	}
	if (c->nhosts == 0)
		conn_hosts_add(c, c->d->route->host);
	conn_use_hosts(c);
}

void conn_start(struct dest *d)
{
	struct conn *c = xcalloc(1, sizeof(*c));
	c->d = d;
	d->conns++;
	d->sch->conns++;
	c->all_next = d->sch->all_conns;
	if (c->all_next)
		c->all_next->all_pprev = &c->all_next;
	c->all_pprev = &d->sch->all_conns;
	d->sch->all_conns = c;
	conn_next_job(c);
}

/* Recipients one merged transaction may carry: every server must take 100
 * (RFC 5321 4.5.3.1.8); a single domain's job is never split, as before. */
#define MERGE_MAX_RCPTS 100

/* j joins the last job at d when both are recipients of one message on
 * the same path: one transaction (same sender, route, MX host set). */
static int dest_merge_job(struct dest *d, struct job *j)
{
	if (d->head == NULL)
		return 0;
	struct job *last = (struct job *)(void *)((char *)d->tail - offsetof(struct job, next));
	if (last->q != j->q || last->route != j->route || last->rule != j->rule || last->via_pos != j->via_pos ||
	    strcmp(last->dclass, j->dclass) != 0 || last->n + j->n > MERGE_MAX_RCPTS)
		return 0;
	last->idx = xreallocarray(last->idx, last->n + j->n, sizeof(size_t));
	memcpy(last->idx + last->n, j->idx, j->n * sizeof(size_t));
	last->n += j->n;
	j->q->jobs--;
	free(j->idx);
	free(j);
	return 1;
}

/* Queues j for domain, at the destination its MX answer a (or NULL: not
 * known yet) shares with other domains when it can, else the domain's own. */
static void dest_queue(struct scheduler *s, struct job *j, const char *domain, const struct mx_answer *a)
{
	struct dest *d = NULL;
	if (j->route->type == ROUTE_MX && a && a->kind == MX_HOSTS && a->n > 0 && dest_share_ok(j->q->cf))
		d = dest_get_shared(s, j->route, a);
	if (d == NULL)
		d = dest_get(s, j->route, domain);
	if (d->cf == NULL)        /* a new dest: its route lives in the job's config */
		d->cf = config_ref(j->q->cf);
	j->next = NULL;
	if (d->mx && dest_merge_job(d, j))
		return;
	*d->tail = j;
	d->tail = &j->next;
}

void dest_add_job(struct scheduler *s, struct job *j, const char *domain)
{
	dest_queue(s, j, domain, j->route->type == ROUTE_MX ? mx_cache_get(s, domain) : NULL);
}

/* The MX answer a of c's domain names hosts that other domains may share:
 * c's job and the others waiting at its destination move to the shared
 * one, and c, not connected yet, ends.  0 when they stay. */
static int conn_move_to_shared(struct conn *c, const struct mx_answer *a)
{
	struct dest *d = c->d;
	struct scheduler *s = d->sch;
	if (d->domain == NULL || a->kind != MX_HOSTS || a->n == 0 || !dest_share_ok(d->cf) || c->client)
		return 0;
	if (dest_get_shared(s, d->route, a) == NULL)
		return 0;
	struct job *j = c->job;
	c->job = NULL;
	dest_queue(s, j, d->domain, a);
	while ((j = dest_pop(d)) != NULL)
		dest_queue(s, j, d->domain, a);
	conn_free(c);  /* pumps: the shared destination starts */
	return 1;
}

struct conn_tally {
	const char *route;
	char provider[64];
	unsigned open, idle;
};

/* Adds c (connected: it has a session) to its route and provider's tally. */
static void conn_tally_add(struct conn_tally **t, size_t *n, const struct conn *c, int idle)
{
	char prov[64] = "relay";
	if (c->d->route->type == ROUTE_MX && c->cur < c->ntargets)
		provider_of(c->targets[c->cur].host, prov, sizeof(prov));
	size_t i;
	for (i = 0; i < *n; i++)
		if (strcmp((*t)[i].route, c->d->route->name) == 0 && strcmp((*t)[i].provider, prov) == 0)
			break;
	if (i == *n) {
		*t = xreallocarray(*t, *n + 1, sizeof(**t));
		(*t)[i] = (struct conn_tally){ c->d->route->name, "", 0, 0 };
		snprintf((*t)[i].provider, sizeof((*t)[i].provider), "%s", prov);
		(*n)++;
	}
	(*t)[i].open++;
	(*t)[i].idle += idle != 0;
}

void sched_conns_describe(struct scheduler *s, struct buf *out)
{
	struct conn_tally *t = NULL;
	size_t n = 0;
	unsigned idle = 0;
	for (const struct conn *c = s->all_conns; c; c = c->all_next) {
		if (c->client)    /* connecting or resolving ones have no session yet */
			conn_tally_add(&t, &n, c, c->parked);
		idle += c->parked != 0;
	}
	for (size_t i = 0; i < n; i++)
		buf_printf(out, "connections route=%s provider=%s open=%u idle=%u\n", t[i].route, t[i].provider,
			   t[i].open, t[i].idle);
	if (s->conns)
		buf_printf(out, "connections total=%u idle=%u max=%u\n", s->conns, idle, s->cf->delivery.max_connections);
	free(t);
}
