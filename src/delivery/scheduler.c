/*
 * scheduler: claimed messages -> destination queues -> SMTP transactions
 * -> outcomes in the spool.  See scheduler.h for the contract.
 *
 * Objects:
 *   qmsg  a claimed message; counts the jobs still working on it and
 *         collects one outcome per due recipient; recorded once, when the
 *         last job is done (so a message is never claimed twice at once).
 *   job   the recipients of one qmsg that go to one destination.
 *   dest  a destination: an mx route and a recipient domain, or a relay
 *         route.  Holds the jobs waiting and counts its connections.
 *   conn  one delivery connection of a dest: resolves its targets (MX
 *         hosts in preference order, each address of each), connects to
 *         them in turn until one takes the transaction, and then takes the
 *         dest's next job on the same connection while there is one.
 */
#include "scheduler.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "delivery/dsn.h"
#include "delivery/smtp_client.h"
#include "dns/resolver.h"
#include "spool/spool_queue.h"

#define MAX_INFLIGHT_MSGS 2000   /* claimed messages held in memory at once */
#define MAX_TARGETS 10           /* addresses tried per connection attempt */
#define IDLE_POLL 5              /* seconds between looks at the queue when nothing is due */
#define MAX_POOL 64              /* source addresses used per route */
#define CONN_IDLE 2              /* seconds a connection waits for the next job (as Postfix's cache) */

struct outcome {
	int set;
	struct reply_info reply;
	char diag[600];           /* "550 5.1.1 text" as the server said it, or "4.4.1 local reason" */
	char host[256], ip[64], tls[128];
	const char *route;
};

struct qmsg {
	struct scheduler *sch;
	struct spool_due_msg *m;
	struct outcome *out;      /* one per m->rcpts */
	int jobs;
};

struct job {
	struct qmsg *q;
	const char *route;        /* its name, for the outcome */
	size_t *idx;              /* into q->m->rcpts */
	size_t n;
	struct job *next;
};

struct dest {
	struct scheduler *sch;
	char *key;
	const struct route_conf *route;
	char *domain;             /* mx routes */
	struct job *head, **tail;
	unsigned conns;           /* including idle ones */
	struct conn *idle;        /* connected, waiting for a job */
	struct dest *next;
};

struct target {
	char host[256];
	struct sockaddr_storage ss;
	socklen_t sslen;
};

struct conn {
	struct dest *d;
	struct smtp_client *client;
	struct job *job;
	struct target targets[MAX_TARGETS];
	size_t ntargets, cur;
	char **hosts;             /* names still to resolve, in order */
	size_t nhosts, nexthost;
	struct resolver_query *q;
	struct reply_info last;   /* the last connection-level failure */
	const char *const *rcpts; /* the addresses of the current job */
	struct event *idle_ev;    /* ends an idle wait */
	struct conn *next_idle;
};

struct scheduler {
	struct event_base *base;
	const struct config *cf;
	struct spool *sp;
	struct resolver *res;
	SSL_CTX *ssl;
	struct event *timer;
	struct dest *dests;
	unsigned conns, inflight, recording;
	int claiming, kicked, stopping;
	long *src_weight;         /* route_pick_source's state, MAX_POOL per route */
	size_t nsrc_weight;
	void (*stopped)(void *);
	void *stopped_arg;
};

static void pump(struct scheduler *s);
static void spool_next_due_arm(struct scheduler *s);
static void scheduler_check_stopped(struct scheduler *s);
static void conn_next_job(struct conn *c);
static void conn_try_target(struct conn *c);

/* ---- outcomes and recording ---- */

static unsigned retry_delay(const struct scheduler *s, int attempts, int greylisted)
{
	const struct retry_conf *r = &s->cf->retry;
	if (greylisted)
		return r->greylist;
	size_t i = (size_t)attempts < r->nschedule ? (size_t)attempts : r->nschedule - 1;
	unsigned d = r->schedule[i];
	unsigned jitter = d / 10;  /* +-10 %: retries of a burst spread out */
	return jitter ? d - jitter + (unsigned)(random() % (2 * jitter + 1)) : d;
}

static enum spool_rcpt_state final_state(const struct scheduler *s, const struct qmsg *q,
					 const struct outcome *o, time_t now)
{
	if (o->reply.outcome == REPLY_OK)
		return SPOOL_RCPT_DELIVERED;
	if (o->reply.outcome == REPLY_PERM || now - q->m->created >= (time_t)s->cf->retry.lifetime)
		return SPOOL_RCPT_BOUNCED;
	return SPOOL_RCPT_DEFERRED;
}

static const char *state_name(enum spool_rcpt_state st)
{
	return st == SPOOL_RCPT_DELIVERED ? "delivered" : st == SPOOL_RCPT_BOUNCED ? "bounced" : "deferred";
}

/* A DSN for the recipients in state want (failed or delayed); NULL when none or null sender. */
static struct spool_msg *make_dsn(struct scheduler *s, struct qmsg *q, const struct spool_outcome *so,
				  size_t n, enum spool_rcpt_state want, time_t now)
{
	struct dsn_rcpt *dr = xcalloc(n, sizeof(*dr));
	char (*status)[16] = xcalloc(n, 16);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		const struct outcome *o = &q->out[so[i].position];
		if (so[i].state != want)
			continue;
		int expired = o->reply.outcome == REPLY_TEMP && want == SPOOL_RCPT_BOUNCED;
		snprintf(status[k], 16, "%s", expired ? "4.4.7" : o->reply.enh);
		dr[k] = (struct dsn_rcpt){ q->m->rcpts[so[i].position].address,
			want == SPOOL_RCPT_BOUNCED ? DSN_FAILED : DSN_DELAYED, status[k],
			o->host[0] ? o->host : NULL, o->diag, now };
		k++;
	}
	struct spool_msg *msg = NULL;
	struct buf body = BUF_INIT;
	struct dsn_info info = { s->cf->hostname, q->m->id, q->m->sender, q->m->created, q->m->body,
				 q->m->body_len, dr, k, now };
	if (k > 0 && dsn_build(&info, &body) == 0) {
		msg = xcalloc(1, sizeof(*msg));
		msg->sender = xstrdup("");
		msg->rcpts = xcalloc(1, sizeof(char *));
		msg->rcpts[0] = xstrdup(q->m->sender);
		msg->nrcpts = 1;
		msg->client_addr = xstrdup("local");
		msg->client_helo = xstrdup(s->cf->hostname);
		for (const char *p = q->m->sender; *p; p++)
			msg->smtputf8 |= (unsigned char)*p >= 0x80;  /* its To: and RCPT need SMTPUTF8 */
		msg->body = buf_steal(&body, &msg->body_len);
		msg->created = now;
		spool_id_new(msg->id);
		msg_info("event=dsn qid=%s dsn_qid=%s kind=%s to=<%s> nrcpt=%zu", q->m->id, msg->id,
			 want == SPOOL_RCPT_BOUNCED ? "failed" : "delayed", q->m->sender, k);
	} else if (k > 0) {
		msg_info("event=dsn_skipped qid=%s reason=\"null sender\"", q->m->id);
	}
	buf_free(&body);
	free(dr);
	free(status);
	return msg;
}

/* The reply as an operator (and a DSN's Diagnostic-Code) should see it:
 * "550 5.1.1 text" as the server said it, or "4.4.1 local reason". */
static const char *reply_format(const struct reply_info *r, char *out, size_t outlen)
{
	size_t el = strlen(r->enh);
	int has_enh = el && strncmp(r->text, r->enh, el) == 0;
	if (r->code)
		snprintf(out, outlen, "%d %s%s%s", r->code, has_enh ? "" : r->enh, has_enh ? "" : " ", r->text);
	else if (has_enh)
		snprintf(out, outlen, "%s", r->text);
	else
		snprintf(out, outlen, "%s %s", r->enh, r->text);
	return out;
}

static void outcome_diag(struct outcome *o)
{
	reply_format(&o->reply, o->diag, sizeof(o->diag));
}

static void qmsg_free(struct qmsg *q)
{
	spool_due_free(q->m);
	free(q->out);
	free(q);
}

static void recorded(void *arg, int ok, const char *reason)
{
	struct qmsg *q = arg;
	struct scheduler *s = q->sch;
	if (!ok)
		msg_warn("event=record_failed qid=%s reason=\"%s\"", q->m->id, reason);
	qmsg_free(q);
	s->recording--;
	s->inflight--;
	pump(s);
}

/* All jobs of q are done: one spool transaction for its outcomes (and DSNs). */
static void qmsg_finish(struct qmsg *q)
{
	struct scheduler *s = q->sch;
	time_t now = time(NULL);
	struct spool_outcome *so = xcalloc(q->m->nrcpts, sizeof(*so));
	size_t n = 0;
	int deferred = 0, bounced = 0;
	for (size_t i = 0; i < q->m->nrcpts; i++) {
		struct outcome *o = &q->out[i];
		if (!o->set)
			continue;  /* not attempted (shutting down): stays due */
		enum spool_rcpt_state st = final_state(s, q, o, now);
		outcome_diag(o);
		so[n] = (struct spool_outcome){ (int)i, st, 0, o->diag, o->route,
			o->host[0] ? o->host : NULL, o->ip[0] ? o->ip : NULL, o->tls[0] ? o->tls : NULL };
		if (st == SPOOL_RCPT_DEFERRED)
			so[n].next_attempt = now + retry_delay(s, q->m->rcpts[i].attempts, o->reply.greylisted);
		deferred += st == SPOOL_RCPT_DEFERRED;
		bounced += st == SPOOL_RCPT_BOUNCED;
		char qd[700];
		msg_info("event=delivery qid=%s rcpt=<%s> route=%s host=%s ip=%s tls=\"%s\" reply=%s "
			 "result=%s attempts=%d", q->m->id, q->m->rcpts[i].address, o->route,
			 o->host[0] ? o->host : "-", o->ip[0] ? o->ip : "-", o->tls[0] ? o->tls : "none",
			 log_quote(qd, sizeof(qd), o->diag), state_name(st), q->m->rcpts[i].attempts + 1);
		n++;
	}
	/* positions in so[] are indexes into rcpts; the spool wants recipient positions */
	struct spool_msg *dsn = bounced ? make_dsn(s, q, so, n, SPOOL_RCPT_BOUNCED, now) : NULL;
	int notify = !dsn && deferred && !q->m->delay_notified && s->cf->retry.delay_notice &&
		     now - q->m->created >= (time_t)s->cf->retry.delay_notice;
	if (notify)
		dsn = make_dsn(s, q, so, n, SPOOL_RCPT_DEFERRED, now);
	for (size_t i = 0; i < n; i++)
		so[i].position = q->m->rcpts[so[i].position].position;
	s->recording++;
	spool_record(s->sp, q->m->id, so, n, notify && dsn, dsn, recorded, q);
	free(so);
}

static void qmsg_release(struct qmsg *q)
{
	if (--q->jobs == 0)
		qmsg_finish(q);
}

static void job_done(struct job *j)
{
	struct qmsg *q = j->q;
	free(j->idx);
	free(j);
	qmsg_release(q);
}

/* Gives every recipient of job j the same result. */
static void job_fail(struct job *j, const struct reply_info *r, const char *host)
{
	for (size_t i = 0; i < j->n; i++) {
		struct outcome *o = &j->q->out[j->idx[i]];
		o->set = 1;
		o->reply = *r;
		o->route = j->route;
		snprintf(o->host, sizeof(o->host), "%s", host ? host : "");
	}
	job_done(j);
}

/* ---- destinations ---- */

static struct dest *dest_get(struct scheduler *s, const struct route_conf *r, const char *domain)
{
	char key[600];
	snprintf(key, sizeof(key), "%s|%s", r->name, r->type == ROUTE_MX ? domain : "");
	for (struct dest *d = s->dests; d; d = d->next)
		if (d->route == r && strcmp(d->key, key) == 0)  /* a reload makes new routes */
			return d;
	struct dest *d = xcalloc(1, sizeof(*d));
	d->sch = s;
	d->key = xstrdup(key);
	d->route = r;
	d->domain = r->type == ROUTE_MX ? xstrdup(domain) : NULL;
	d->tail = &d->head;
	d->next = s->dests;
	s->dests = d;
	return d;
}

static void dest_free_if_idle(struct dest *d)
{
	struct scheduler *s = d->sch;
	if (d->head || d->conns)
		return;
	for (struct dest **p = &s->dests; *p; p = &(*p)->next) {
		if (*p == d) {
			*p = d->next;
			break;
		}
	}
	free(d->key);
	free(d->domain);
	free(d);
}

static struct job *dest_pop(struct dest *d)
{
	struct job *j = d->head;
	if (j && (d->head = j->next) == NULL)
		d->tail = &d->head;
	return j;
}

/* Fails every job waiting at d (a DNS verdict holds for all of them). */
static void dest_fail_all(struct dest *d, const struct reply_info *r)
{
	struct job *j;
	while ((j = dest_pop(d)) != NULL)
		job_fail(j, r, NULL);
}

/* ---- connections ---- */

static void conn_free(struct conn *c)
{
	struct dest *d = c->d;
	struct scheduler *s = d->sch;
	if (c->q)
		resolver_cancel(c->q);
	if (c->client)
		smtp_client_free(c->client);
	for (size_t i = 0; i < c->nhosts; i++)
		free(c->hosts[i]);
	free(c->hosts);
	free((void *)c->rcpts);
	if (c->idle_ev)
		event_free(c->idle_ev);
	free(c);
	d->conns--;
	s->conns--;
	dest_free_if_idle(d);
	pump(s);
}

static const char *tls_mode_name(enum route_tls t)
{
	static const char *const n[] = { "none", "opportunistic", "required", "verify", "implicit" };
	return n[t];
}

static void on_txn_done(void *arg, const struct smtp_txn_result *res)
{
	struct conn *c = arg;
	struct job *j = c->job;
	int all_temp = 1;
	for (size_t i = 0; i < res->nrcpts; i++)
		all_temp &= res->rcpt[i].outcome == REPLY_TEMP;
	if (all_temp && !smtp_client_reusable(c->client) && c->cur + 1 < c->ntargets + (c->nexthost < c->nhosts)) {
		/* the whole session failed here: the next MX host or address may take it */
		c->last = res->rcpt[0];
		char qd[700], rf[600];
		msg_info("event=attempt_failed qid=%s route=%s host=%s ip=%s reply=%s action=next_host",
			 j->q->m->id, j->route, c->targets[c->cur].host, res->remote_ip[0] ? res->remote_ip : "-",
			 log_quote(qd, sizeof(qd), reply_format(&res->rcpt[0], rf, sizeof(rf))));
		smtp_client_free(c->client);
		c->client = NULL;
		c->cur++;
		conn_try_target(c);
		return;
	}
	for (size_t i = 0; i < j->n; i++) {
		struct outcome *o = &j->q->out[j->idx[i]];
		o->set = 1;
		o->reply = res->rcpt[i];
		o->route = j->route;
		snprintf(o->host, sizeof(o->host), "%s", c->targets[c->cur].host);
		snprintf(o->ip, sizeof(o->ip), "%s", res->remote_ip);
		snprintf(o->tls, sizeof(o->tls), "%s%s", res->tls,
			 res->tls[0] ? (res->tls_verified ? " verified" : " unverified") : "none");
	}
	free((void *)c->rcpts);
	c->rcpts = NULL;
	c->job = NULL;
	job_done(j);
	if (!smtp_client_reusable(c->client)) {
		smtp_client_free(c->client);
		c->client = NULL;
	}
	conn_next_job(c);
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
	struct smtp_txn txn = { m->id, m->sender, rcpts, j->n, m->body, m->body_len, m->body_8bit, m->smtputf8 };
	smtp_client_deliver(c->client, &txn, on_txn_done, c);
}

static void conn_try_target(struct conn *c);

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

static void conn_fail_job(struct conn *c)
{
	struct job *j = c->job;
	c->job = NULL;
	job_fail(j, &c->last, c->ntargets ? c->targets[c->ntargets - 1].host : NULL);
	/* the other jobs here would meet the same wall now: they wait for their retry */
	dest_fail_all(c->d, &c->last);
	conn_free(c);
}

/* The next address of r's source pool: smooth weighted round-robin (as
 * nginx's), so weights 3:1 give a a b a, not a a a b. */
static const struct route_source *route_pick_source(struct scheduler *s, const struct route_conf *r)
{
	size_t ri = (size_t)(r - s->cf->routes), best = 0;
	long total = 0;
	if (s->nsrc_weight < s->cf->nroutes * MAX_POOL) {
		s->src_weight = xreallocarray(s->src_weight, s->cf->nroutes * MAX_POOL, sizeof(long));
		memset(s->src_weight, 0, s->cf->nroutes * MAX_POOL * sizeof(long));
		s->nsrc_weight = s->cf->nroutes * MAX_POOL;
	}
	long *cur = &s->src_weight[ri * MAX_POOL];
	size_t n = r->nsources < MAX_POOL ? r->nsources : MAX_POOL;
	for (size_t i = 0; i < n; i++) {
		cur[i] += r->sources[i].weight;
		total += r->sources[i].weight;
		if (cur[i] > cur[best])
			best = i;
	}
	cur[best] -= total;
	return &r->sources[best];
}

/* Connects to the current target, resolving the next host's addresses when needed. */
static void conn_try_target(struct conn *c)
{
	const struct route_conf *r = c->d->route;
	struct scheduler *s = c->d->sch;
	if (c->cur >= c->ntargets) {
		if (c->nexthost >= c->nhosts || c->cur >= MAX_TARGETS)
			return conn_fail_job(c);
		const char *h = c->hosts[c->nexthost++];
		struct dns_addr lit = { .family = strchr(h, ':') ? AF_INET6 : AF_INET };
		if (inet_pton(lit.family, h, lit.a) != 1)
			return (void)(c->q = resolver_query(s->res, h, DNS_TYPE_A, on_host_addrs, c));
		conn_add_target(c, h, &lit);  /* an address needs no lookup */
	}
	struct smtp_client_params p = { 0 };
	p.host_name = c->targets[c->cur].host;
	p.addr = c->targets[c->cur].ss;
	p.addrlen = c->targets[c->cur].sslen;
	p.helo = r->helo;
	if (r->nsources) {
		const struct route_source *src = route_pick_source(s, r);
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
	msg_debug("event=connect_try route=%s host=%s tls=%s", r->name, p.host_name, tls_mode_name(r->tls));
	c->client = smtp_client_new(s->base, &p);
	conn_start_txn(c);
}

static int mx_cmp(const void *a, const void *b)
{
	const struct dns_mx *x = a, *y = b;
	return (x->pref > y->pref) - (x->pref < y->pref);
}

static void conn_hosts_add(struct conn *c, const char *h)
{
	size_t l = strlen(h);
	c->hosts = xreallocarray(c->hosts, c->nhosts + 1, sizeof(char *));
	c->hosts[c->nhosts++] = xstrndup(h, l && h[l - 1] == '.' && l > 1 ? l - 1 : l);
}

/* The MX verdict for the whole destination (RFC 5321 5.1, RFC 7505). */
static void on_mx(const struct dns_result *res, void *arg)
{
	struct conn *c = arg;
	struct reply_info r;
	c->q = NULL;
	if (res->rcode == DNS_RCODE_NXDOMAIN) {
		reply_classify(550, "5.1.2 Recipient domain does not exist (NXDOMAIN)", &r);
	} else if (res->rcode != DNS_RCODE_NOERROR) {
		char why[300];
		snprintf(why, sizeof(why), "4.4.3 MX lookup for %s failed: %s", c->d->domain,
			 res->timed_out ? "timeout" : res->why ? res->why : "SERVFAIL");
		reply_classify(451, why, &r);
	} else if (res->n == 1 && strcmp(res->mx[0].host, ".") == 0) {
		reply_classify(556, "5.1.10 Recipient domain accepts no mail (null MX)", &r);
	} else {
		struct dns_mx *mx = xcalloc(res->n ? res->n : 1, sizeof(*mx));
		if (res->n)
			memcpy(mx, res->mx, res->n * sizeof(*mx));
		qsort(mx, res->n, sizeof(*mx), mx_cmp);
		for (size_t i = 0; i < res->n; i++)
			if (strcmp(mx[i].host, ".") != 0)
				conn_hosts_add(c, mx[i].host);
		free(mx);
		if (res->n == 0)
			conn_hosts_add(c, c->d->domain);  /* no MX: the domain's own address */
		reply_local("4.4.4", "no MX host could be reached", &c->last);
		return conn_try_target(c);
	}
	c->last = r;
	conn_fail_job(c);
}

static void conn_unpark(struct conn *c)
{
	struct conn **p;
	for (p = &c->d->idle; *p && *p != c; p = &(*p)->next_idle)
		;
	if (*p)
		*p = c->next_idle;
	c->next_idle = NULL;
	evtimer_del(c->idle_ev);
}

static void on_idle_over(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	(void)fd;
	(void)what;
	conn_unpark(c);
	conn_free(c);
}

/* Keeps a healthy connection for the destination's next job, for a while. */
static void conn_park(struct conn *c)
{
	struct timeval tv = { CONN_IDLE, 0 };
	if (c->idle_ev == NULL)
		c->idle_ev = evtimer_new(c->d->sch->base, on_idle_over, c);
	c->next_idle = c->d->idle;
	c->d->idle = c;
	evtimer_add(c->idle_ev, &tv);
}

static void conn_next_job(struct conn *c)
{
	struct scheduler *s = c->d->sch;
	if (s->stopping)
		return conn_free(c);
	if ((c->job = dest_pop(c->d)) == NULL)
		return c->client && smtp_client_reusable(c->client) ? conn_park(c) : conn_free(c);
	if (c->client)
		return conn_start_txn(c);
	if (c->nhosts == 0 && c->d->route->type == ROUTE_MX) {
		c->q = resolver_query(s->res, c->d->domain, DNS_TYPE_MX, on_mx, c);
		return;
	}
	if (c->nhosts == 0)
		conn_hosts_add(c, c->d->route->host);
	/* a new connection for the same targets: start over at the best one */
	c->cur = 0;
	c->ntargets = 0;
	c->nexthost = 0;
	conn_try_target(c);
}

static void conn_start(struct dest *d)
{
	struct conn *c = xcalloc(1, sizeof(*c));
	c->d = d;
	d->conns++;
	d->sch->conns++;
	conn_next_job(c);
}

/* ---- claiming ---- */

static const char *rcpt_domain(const char *address)
{
	const char *at = strrchr(address, '@');
	return at ? at + 1 : "";
}

/* Splits m's recipients into one job per destination.  Each recipient's
 * route is decided once (the rules may be many globs). */
static void route_message(struct scheduler *s, struct spool_due_msg *m)
{
	size_t n = m->nrcpts ? m->nrcpts : 1;
	struct qmsg *q = xcalloc(1, sizeof(*q));
	const struct route_conf **route = xcalloc(n, sizeof(*route));
	int *taken = xcalloc(n, sizeof(int));
	q->sch = s;
	q->m = m;
	q->out = xcalloc(n, sizeof(*q->out));
	q->jobs = 1;  /* held while jobs are made */
	s->inflight++;
	for (size_t i = 0; i < m->nrcpts; i++)
		route[i] = config_route_for(s->cf, m->sender, rcpt_domain(m->rcpts[i].address));
	for (size_t i = 0; i < m->nrcpts; i++) {
		if (taken[i])
			continue;
		const struct route_conf *r = route[i];
		const char *dom = rcpt_domain(m->rcpts[i].address);
		struct job *j = xcalloc(1, sizeof(*j));
		j->q = q;
		j->route = r ? r->name : "-";
		for (size_t k = i; k < m->nrcpts; k++) {
			if (taken[k] || route[k] != r || (r && r->type == ROUTE_MX &&
			    strcasecmp(rcpt_domain(m->rcpts[k].address), dom) != 0))
				continue;
			taken[k] = 1;
			j->idx = xreallocarray(j->idx, j->n + 1, sizeof(size_t));
			j->idx[j->n++] = k;
		}
		q->jobs++;
		if (r == NULL) {
			struct reply_info ri;
			reply_local("4.3.5", "no rule in the config routes this recipient", &ri);
			job_fail(j, &ri, NULL);
			continue;
		}
		struct dest *d = dest_get(s, r, dom);
		*d->tail = j;
		d->tail = &j->next;
	}
	free(taken);
	free(route);
	qmsg_release(q);
}

static void claim(struct scheduler *s);

static void on_claimed(void *arg, struct spool_due_msg **msgs, size_t n)
{
	struct scheduler *s = arg;
	s->claiming = 0;
	for (size_t i = 0; i < n; i++) {
		if (s->stopping)
			spool_due_free(msgs[i]);  /* claims end with the process: due again at start */
		else
			route_message(s, msgs[i]);
	}
	free(msgs);
	if (n > 0 || s->kicked) {
		s->kicked = 0;
		pump(s);
	} else {
		spool_next_due_arm(s);
	}
}

static void claim(struct scheduler *s)
{
	if (s->claiming || s->stopping || s->inflight >= MAX_INFLIGHT_MSGS)
		return;
	s->claiming = 1;
	spool_claim_due(s->sp, time(NULL), MAX_INFLIGHT_MSGS - s->inflight, on_claimed, s);
}

/* Starts connections where jobs wait, then claims more when there is room. */
static void pump(struct scheduler *s)
{
	if (s->stopping) {
		scheduler_check_stopped(s);
		return;
	}
	/* idle connections first, then each new connection takes one waiting
	 * job; busy ones take the rest in turn */
	for (struct dest *d = s->dests; d; d = d->next) {
		while (d->head && d->idle) {
			struct conn *c = d->idle;
			conn_unpark(c);
			conn_next_job(c);
		}
		while (d->head && d->conns < s->cf->delivery.max_per_destination &&
		       s->conns < s->cf->delivery.max_connections)
			conn_start(d);
	}
	claim(s);
}

/* ---- timer, kick, life cycle ---- */

static void on_next_due(void *arg, time_t next)
{
	struct scheduler *s = arg;
	time_t now = time(NULL);
	/* polled at least every IDLE_POLL seconds, so `outpost queue flush` takes effect soon */
	long wait = next == 0 ? IDLE_POLL : next <= now ? 0 : (long)(next - now);
	struct timeval tv = { wait > IDLE_POLL ? IDLE_POLL : wait, 0 };
	s->recording--;
	if (s->stopping)
		return scheduler_check_stopped(s);
	evtimer_add(s->timer, &tv);
}

static void spool_next_due_arm(struct scheduler *s)
{
	s->recording++;  /* an answer from the spool is outstanding */
	spool_next_due(s->sp, on_next_due, s);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	claim(arg);
}

void scheduler_kick(void *arg)
{
	struct scheduler *s = arg;
	if (s == NULL || s->stopping)
		return;
	if (s->claiming)
		s->kicked = 1;
	else
		claim(s);
}

static void scheduler_check_stopped(struct scheduler *s)
{
	if (s->stopping && s->conns == 0 && s->recording == 0 && !s->claiming && s->stopped) {
		void (*done)(void *) = s->stopped;
		s->stopped = NULL;
		msg_info("event=delivery_stopped");
		done(s->stopped_arg);
	}
}

void scheduler_reload(struct scheduler *s, const struct config *cf)
{
	s->cf = cf;
	msg_info("event=delivery_reloaded routes=%zu rules=%zu", cf->nroutes, cf->nrules);
	pump(s);
}

struct scheduler *scheduler_new(struct event_base *base, const struct config *cf, struct spool *sp,
				struct resolver *res, SSL_CTX *client_ctx)
{
	if (cf->nroutes == 0) {
		msg_info("event=delivery_disabled reason=\"no routes in the config\"");
		return NULL;
	}
	struct scheduler *s = xcalloc(1, sizeof(*s));
	s->base = base;
	s->cf = cf;
	s->sp = sp;
	s->res = res;
	s->ssl = client_ctx;
	s->timer = evtimer_new(base, on_timer, s);
	struct timeval now = { 0, 0 };
	evtimer_add(s->timer, &now);
	msg_info("event=delivery_started routes=%zu rules=%zu max_connections=%u", cf->nroutes, cf->nrules,
		 cf->delivery.max_connections);
	return s;
}

/* Jobs not started yet are dropped without an outcome (their recipients
 * stay due); idle connections say QUIT. */
static void drop_waiting(struct scheduler *s)
{
	for (struct dest *d = s->dests, *next; d; d = next) {
		next = d->next;
		struct job *j;
		while ((j = dest_pop(d)) != NULL)
			job_done(j);
		if (d->idle == NULL) {
			dest_free_if_idle(d);
			continue;
		}
		for (struct conn *c = d->idle, *cn; c; c = cn) {
			cn = c->next_idle;  /* freeing the last idle connection may free d */
			conn_unpark(c);
			conn_free(c);
		}
	}
}

void scheduler_shutdown(struct scheduler *s, void (*done)(void *), void *arg)
{
	if (s == NULL) {
		done(arg);
		return;
	}
	s->stopping = 1;
	s->stopped = done;
	s->stopped_arg = arg;
	evtimer_del(s->timer);
	msg_info("event=delivery_stopping connections=%u", s->conns);
	drop_waiting(s);
	scheduler_check_stopped(s);
}

void scheduler_free(struct scheduler *s)
{
	if (s == NULL)
		return;
	event_free(s->timer);
	free(s->src_weight);
	free(s);
}
