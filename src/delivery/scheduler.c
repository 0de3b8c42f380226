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
#include "core/header.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "delivery/dsn.h"
#include "delivery/health.h"
#include "delivery/provider.h"
#include "delivery/reply_blame.h"
#include "delivery/router.h"
#include "delivery/smtp_client.h"
#include "delivery/throttle.h"
#include "dns/resolver.h"
#include "spool/spool_health.h"
#include "spool/spool_queue.h"

#define MAX_INFLIGHT_MSGS 2000   /* claimed messages held in memory at once */
#define MAX_TARGETS 10           /* addresses tried per connection attempt */
#define IDLE_POLL 5              /* seconds between looks at the queue when nothing is due */
#define MAX_POOL 64              /* source addresses used per route */
#define HOLD_MAX 60              /* seconds a limit may hold claimed mail in memory */
#define HEALTH_SAVE 5            /* seconds between saves of changed route health */
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
	const struct config *cf;  /* the one it was routed by (a reload keeps it alive) */
	struct spool_due_msg *m;
	struct outcome *out;      /* one per m->rcpts */
	int jobs;
	char from_domain[256];    /* of its From: header, for the rules */
	struct rcpt_route *rr;    /* routing decisions, until the jobs are made */
	unsigned mx_pending;      /* MX lookups the rules wait for */
};

/* How one recipient is routed: its rule (first match), its destination
 * class for route health, and the MX hosts when the rules needed them. */
struct rcpt_route {
	enum router_verdict verdict;
	const struct rule_conf *rule;
	const struct route_conf *forced;  /* a probe's own route, no rule */
	char dclass[64];
	const struct route_conf *route;   /* the first usable of via */
	size_t via_pos;
	int taken;                        /* in a job */
};

struct job {
	struct qmsg *q;
	const struct route_conf *route;
	const struct rule_conf *rule;     /* NULL: a forced route, no failover */
	size_t via_pos;                   /* route = rule->via[via_pos] */
	char dclass[64];
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
	double hold_until;        /* a limit or back-off: no new transaction before */
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
	const struct route_source *source;  /* of the current session, or NULL */
	int counted;              /* the session counts against the limits */
	unsigned sent;            /* messages sent in this session */
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
	unsigned routing;         /* messages waiting for MX lookups the rules need */
	int claiming, kicked, stopping;
	long *src_weight;         /* route_pick_source's state, MAX_POOL per route */
	size_t nsrc_weight;
	struct health *health;
	struct event *health_ev;  /* saves route health when it changed */
	struct throttle *thr;
	struct event *hold_ev;    /* wakes pump when a held destination may go on */
	double hold_next;         /* when hold_ev fires, 0: not armed */
	void (*stopped)(void *);
	void *stopped_arg;
};

static void pump(struct scheduler *s);
static void spool_next_due_arm(struct scheduler *s);
static void scheduler_check_stopped(struct scheduler *s);
static void conn_next_job(struct conn *c);
static void conn_try_target(struct conn *c);
static void conn_after_job(struct conn *c);
static void health_save(struct scheduler *s);
static void conn_park(struct conn *c);
static void conn_start_txn(struct conn *c);
static void conn_note_replies(struct conn *c, const struct smtp_txn_result *res);
static const struct route_conf *route_named(const struct config *cf, const char *name);

static double now_d(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static const char *rcpt_domain_of(const char *address)
{
	const char *at = strrchr(address, '@');
	return at ? at + 1 : "";
}

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

static const char *job_route_name(const struct job *j)
{
	return j->route ? j->route->name : "-";
}

/* Gives every recipient of job j the same result. */
static void job_fail(struct job *j, const struct reply_info *r, const char *host)
{
	for (size_t i = 0; i < j->n; i++) {
		struct outcome *o = &j->q->out[j->idx[i]];
		o->set = 1;
		o->reply = *r;
		o->route = job_route_name(j);
		snprintf(o->host, sizeof(o->host), "%s", host ? host : "");
	}
	job_done(j);
}

/* ---- route health and failover ---- */

/* Whether a result blames the path rather than the recipient or the
 * message: NULL, or the kind of fault.  A relay is one path for all
 * mail, so whatever stops it (a block, AUTH, TLS, no connection) is a
 * fault of the whole route (*route_wide).  Through an mx route only a
 * receiver blocking our address is: a destination that cannot be
 * reached or has a bad certificate is that destination's trouble, and
 * its mail waits for the retry schedule, as any MTA's would. */
static const char *path_fault(const struct route_conf *r, const struct reply_info *ri, int *route_wide)
{
	if (ri->outcome == REPLY_OK)
		return NULL;
	enum blame b = reply_blame_info(ri, NULL);
	*route_wide = r->type == ROUTE_RELAY;
	if (b == BLAME_SENDER_REPUTATION)
		return "blocked";
	if (r->type == ROUTE_MX)
		return NULL;
	if (b == BLAME_AUTH)
		return "refused";
	if (b == BLAME_TLS)
		return "tls";
	/* no reply at all: could not connect, timed out, dropped (4.4.1,
	 * 4.4.2), or the relay broke the protocol (4.5.0) */
	if (ri->code == 0 && (strncmp(ri->enh, "4.4.1", 5) == 0 || strncmp(ri->enh, "4.4.2", 5) == 0 ||
			      strncmp(ri->enh, "4.5.0", 5) == 0))
		return "connection";
	return NULL;
}

/* An mx route with a warm-up: may one of its sources still send to this
 * class of receiver now?  (The MX host is not known yet: the provider is
 * the recipient domain's; the connection checks again with the host.) */
static int route_warm(struct scheduler *s, const struct route_conf *r, const char *dclass)
{
	if (!r->warmup.set || r->type != ROUTE_MX)
		return 1;
	for (size_t i = 0; i < (r->nsources ? r->nsources : 1); i++) {
		struct throttle_key k = { r->name, r->nsources ? r->sources[i].address : NULL, dclass, NULL };
		if (throttle_warmup_full(s->thr, &k, now_d()) == 0)
			return 1;
	}
	return 0;
}

/* The first route of j's rule, from via position `from` on, that is not
 * down for j's destination class; NULL when none is. */
static const struct route_conf *via_next(struct scheduler *s, const struct qmsg *q, const struct rule_conf *rule,
					 size_t from, const char *dclass, size_t *pos)
{
	time_t now = time(NULL);
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

static void job_requeue(struct job *j);

/* j failed on a path fault: count it against the path and move j to the
 * next usable route of its rule at once; fail it as is when there is none. */
static void job_path_failed(struct job *j, const struct reply_info *r, const char *fault, int route_wide,
			    const char *host)
{
	struct scheduler *s = j->q->sch;
	char rf[600], qd[700], why[700];
	reply_format(r, rf, sizeof(rf));
	snprintf(why, sizeof(why), "%s: %s", fault, rf);
	health_failure(s->health, j->route->name, route_wide ? "*" : j->dclass, why, rf, time(NULL));
	size_t pos;
	const struct route_conf *next = via_next(s, j->q, j->rule, j->via_pos + 1, j->dclass, &pos);
	msg_info("event=attempt_failed qid=%s route=%s class=%s host=%s reply=%s fault=%s action=%s%s%s", j->q->m->id,
		 j->route->name, j->dclass, host ? host : "-", log_quote(qd, sizeof(qd), rf), fault,
		 next ? "failover" : "none", next ? " next_route=" : "", next ? next->name : "");
	if (next == NULL)
		return job_fail(j, r, host);
	j->route = next;
	j->via_pos = pos;
	job_requeue(j);
}

/* j cannot go by its route now for a reason that is not the path's fault
 * (a warm-up cap): the next usable route of its rule takes it, else it
 * waits with r. */
static void job_spill(struct job *j, const struct reply_info *r)
{
	size_t pos;
	const struct route_conf *next = via_next(j->q->sch, j->q, j->rule, j->via_pos + 1, j->dclass, &pos);
	msg_info("event=spill qid=%s route=%s class=%s reason=\"%s\" next_route=%s", j->q->m->id, j->route->name,
		 j->dclass, r->text, next ? next->name : "-");
	if (next == NULL)
		return job_fail(j, r, NULL);
	j->route = next;
	j->via_pos = pos;
	job_requeue(j);
}

/* The outcome of a transaction for the path's health; 1 when it was a
 * path fault and j has been failed over (or failed). */
static int job_judge(struct job *j, const struct reply_info *rcpt, size_t n, const char *host, int answered)
{
	struct scheduler *s = j->q->sch;
	const char *fault = NULL;
	int route_wide = 0;
	for (size_t i = 0; i < n; i++) {
		int wide = 0;
		const char *f = path_fault(j->route, &rcpt[i], &wide);
		if (f == NULL && !answered)
			return 0;
		if (f == NULL) {  /* one recipient got through or was judged alone: the path works */
			char rf[600];
			health_success(s->health, j->route->name, j->dclass, reply_format(&rcpt[i], rf, sizeof(rf)),
				       time(NULL));
			return 0;
		}
		fault = f;
		route_wide |= wide;
	}
	if (fault == NULL)
		return 0;
	job_path_failed(j, &rcpt[0], fault, route_wide, host);
	return 1;
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

/* Fails every job waiting at d (a DNS verdict, or a path that failed,
 * holds for all of them); a path fault moves them to their next route. */
static void dest_fail_all(struct dest *d, const struct reply_info *r)
{
	struct job *j;
	while ((j = dest_pop(d)) != NULL) {
		int wide = 0;
		const char *fault = path_fault(d->route, r, &wide);
		if (fault)
			job_path_failed(j, r, fault, wide, NULL);
		else
			job_fail(j, r, NULL);
	}
}

/* ---- connections ---- */

/* What the limits know of c's session: route, source, domain, MX host. */
static struct throttle_key conn_key(const struct conn *c)
{
	const struct route_conf *r = c->d->route;
	return (struct throttle_key){ r->name, c->source ? c->source->address : NULL, c->d->domain,
		r->type == ROUTE_MX && c->cur < c->ntargets ? c->targets[c->cur].host : NULL };
}

static void conn_uncount(struct conn *c)
{
	if (!c->counted)
		return;
	struct throttle_key k = conn_key(c);
	throttle_conn_close(c->d->sch->thr, &k);
	c->counted = 0;
	c->sent = 0;
}

static void conn_free(struct conn *c)
{
	struct dest *d = c->d;
	struct scheduler *s = d->sch;
	conn_uncount(c);
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
			 j->q->m->id, job_route_name(j), c->targets[c->cur].host, res->remote_ip[0] ? res->remote_ip : "-",
			 log_quote(qd, sizeof(qd), reply_format(&res->rcpt[0], rf, sizeof(rf))));
		smtp_client_free(c->client);
		c->client = NULL;
		conn_uncount(c);
		c->cur++;
		conn_try_target(c);
		return;
	}
	conn_note_replies(c, res);
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

/* A job left c: keep the session for the next one if it can be reused. */
static void conn_after_job(struct conn *c)
{
	if (c->client && !smtp_client_reusable(c->client)) {
		smtp_client_free(c->client);
		c->client = NULL;
		conn_uncount(c);
	}
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
	throttle_note_reply(c->d->sch->thr, &k, r->code, r->enh, r->text, now_d());
}

static void dest_push_front(struct dest *d, struct job *j)
{
	j->next = d->head;
	d->head = j;
	if (j->next == NULL)
		d->tail = &j->next;
}

/* d may start nothing new before t: pump looks again then. */
static void dest_hold(struct dest *d, double t)
{
	struct scheduler *s = d->sch;
	d->hold_until = t;
	if (s->hold_next == 0 || t < s->hold_next) {
		double w = t - now_d();
		struct timeval tv = { (time_t)w, (suseconds_t)((w - (double)(time_t)w) * 1e6) };
		if (w < 0)
			tv = (struct timeval){ 0, 0 };
		s->hold_next = t;
		evtimer_add(s->hold_ev, &tv);
	}
}

/* Starts c's job now if the limits allow; else the job goes back to the
 * front of its destination, which waits, and c waits for it (parked) or
 * closes (messages_per_connection reached). */
static void conn_send(struct conn *c)
{
	struct scheduler *s = c->d->sch;
	struct throttle_key k = conn_key(c);
	double now = now_d();
	double wait = throttle_message(s->thr, &k, c->sent, now);
	if (wait == 0) {
		c->sent++;
		return conn_start_txn(c);
	}
	dest_push_front(c->d, c->job);
	c->job = NULL;
	if (wait < 0) {  /* enough messages on this session: a new one takes the job */
		msg_debug("event=throttled route=%s reason=messages_per_connection sent=%u", k.route, c->sent);
		return conn_free(c);
	}
	msg_debug("event=throttled route=%s domain=%s wait=%.3f", k.route, k.domain ? k.domain : "-", wait);
	if (wait > HOLD_MAX) {
		/* a day's cap: the waiting mail goes back to the spool rather than
		 * holding claimed messages (and memory) for hours */
		char why[160];
		struct reply_info r;
		snprintf(why, sizeof(why), "a limit for this destination is reached; next slot in %.0f s", wait);
		reply_local("4.7.0", why, &r);
		dest_fail_all(c->d, &r);
	}
	dest_hold(c->d, now + wait);
	if (c->client && smtp_client_reusable(c->client) && wait < CONN_IDLE)
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
	const char *host = c->ntargets ? c->targets[c->ntargets - 1].host : NULL;
	c->job = NULL;
	if (!job_judge(j, &c->last, 1, host, 0))
		job_fail(j, &c->last, host);
	/* the other jobs here would meet the same wall now: they wait for their retry */
	dest_fail_all(c->d, &c->last);
	conn_free(c);
}

/* Every source of c's route has sent its warm-up share to this receiver
 * today: the job spills to the next route of its rule, or waits. */
static void conn_warm_full(struct conn *c)
{
	struct job *j = c->job;
	struct reply_info r;
	c->job = NULL;
	reply_local("4.7.0", "warm-up cap of every source address reached for this receiver", &r);
	job_spill(j, &r);
	conn_free(c);
}

/* Whether src may still send to c's destination under its route's warm-up. */
static int source_warm(struct scheduler *s, const struct conn *c, const struct route_source *src)
{
	const struct route_conf *r = c->d->route;
	if (!r->warmup.set)
		return 1;
	struct throttle_key k = { r->name, src ? src->address : NULL, c->d->domain,
				  c->cur < c->ntargets ? c->targets[c->cur].host : NULL };
	return throttle_warmup_full(s->thr, &k, now_d()) == 0;
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
	for (size_t tries = 0; tries < n; tries++) {
		size_t best = 0;
		long total = 0;
		for (size_t i = 0; i < n; i++) {
			cur[i] += r->sources[i].weight;
			total += r->sources[i].weight;
			if (cur[i] > cur[best])
				best = i;
		}
		cur[best] -= total;
		if (source_warm(s, c, &r->sources[best]))
			return &r->sources[best];
	}
	return NULL;
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
	msg_debug("event=connect_try route=%s host=%s tls=%s", r->name, p.host_name, tls_mode_name(r->tls));
	struct throttle_key k = conn_key(c);
	if (!throttle_conn_open(s->thr, &k, now_d())) {
		/* a connections limit is full: the job waits at the front of its destination */
		msg_debug("event=throttled route=%s domain=%s reason=connections", k.route, k.domain ? k.domain : "-");
		dest_push_front(c->d, c->job);
		c->job = NULL;
		dest_hold(c->d, now_d() + 1);
		return conn_free(c);
	}
	c->counted = 1;
	c->client = smtp_client_new(s->base, &p);
	conn_send(c);
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
		size_t n;
		char **hosts = dns_mx_hosts(res->mx, res->n, &n);
		for (size_t i = 0; i < n; i++)
			conn_hosts_add(c, hosts[i]);
		dns_hosts_free(hosts);
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
		return conn_send(c);
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

/* ---- routing ---- */

static void dest_add_job(struct scheduler *s, struct job *j, const char *domain)
{
	struct dest *d = dest_get(s, j->route, domain);
	j->next = NULL;
	*d->tail = j;
	d->tail = &j->next;
}

/* Queues j, moved to a new route, at its destination.  A relay job may
 * hold recipients at several domains; on an mx route each domain is a
 * destination of its own, so j is split first. */
static void job_requeue(struct job *j)
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
}

/* The rule for recipient i (mx: its MX hosts, or NULL when not known yet). */
static void rcpt_decide(struct qmsg *q, size_t i, const char *const *mx, size_t nmx)
{
	struct rcpt_route *rr = &q->rr[i];
	const char *domain = rcpt_domain_of(q->m->rcpts[i].address);
	struct route_query rq = { q->m->sender, q->from_domain[0] ? q->from_domain : NULL, domain, mx, nmx,
				  q->m->auth_user, q->m->msg_class };
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

/* The MX hosts the rules asked for: decide every recipient at that domain. */
static void on_rule_mx(const struct dns_result *res, void *arg)
{
	struct mx_wait *w = arg;
	struct qmsg *q = w->q;
	/* no MX records: the domain itself (RFC 5321 5.1); NXDOMAIN and a null
	 * MX: no host at all; a failed lookup decides nothing */
	size_t n = 0;
	char *implicit[] = { w->domain, NULL }, *none[] = { NULL };
	int known = res->rcode == DNS_RCODE_NOERROR || res->rcode == DNS_RCODE_NXDOMAIN;
	char **hosts = res->rcode == DNS_RCODE_NOERROR && res->n ? dns_mx_hosts(res->mx, res->n, &n) : NULL;
	if (res->rcode == DNS_RCODE_NOERROR && res->n == 0)
		n = 1;
	for (size_t i = 0; i < q->m->nrcpts && known; i++)
		if (q->rr[i].verdict == ROUTER_NEED_MX &&
		    strcasecmp(rcpt_domain_of(q->m->rcpts[i].address), w->domain) == 0)
			rcpt_decide(q, i, (const char *const *)(hosts ? hosts : n ? implicit : none), n);
	dns_hosts_free(hosts);
	free(w->domain);
	free(w);
	if (--q->mx_pending > 0)
		return;
	q->sch->routing--;
	if (q->sch->stopping) {  /* nothing attempted: every recipient stays due */
		free(q->rr);
		q->rr = NULL;
	} else {
		/* a failed lookup leaves NEED_MX: those recipients get no rule and wait */
		qmsg_make_jobs(q);
	}
	qmsg_release(q);
}

static const struct route_conf *route_named(const struct config *cf, const char *name)
{
	for (size_t i = 0; i < cf->nroutes; i++)
		if (strcmp(cf->routes[i].name, name) == 0)
			return &cf->routes[i];
	return NULL;
}

/* Decides every recipient's rule (looking up MX hosts first when a rule
 * matches on them), then splits m into jobs.  The qmsg holds one
 * reference of its own until the jobs are made. */
static void route_message(struct scheduler *s, struct spool_due_msg *m)
{
	size_t n = m->nrcpts ? m->nrcpts : 1;
	struct qmsg *q = xcalloc(1, sizeof(*q));
	q->sch = s;
	q->cf = s->cf;
	q->m = m;
	q->out = xcalloc(n, sizeof(*q->out));
	q->rr = xcalloc(n, sizeof(*q->rr));
	q->jobs = 1;  /* held while jobs are made */
	s->inflight++;
	header_from_domain(m->body, m->body_len, q->from_domain, sizeof(q->from_domain));
	const struct route_conf *forced = m->route ? route_named(q->cf, m->route) : NULL;
	for (size_t i = 0; i < m->nrcpts; i++) {
		q->rr[i].forced = forced;
		if (forced)
			provider_of(rcpt_domain_of(m->rcpts[i].address), q->rr[i].dclass, sizeof(q->rr[i].dclass));
		else
			rcpt_decide(q, i, NULL, 0);
	}
	for (size_t i = 0; i < m->nrcpts; i++) {
		const char *dom = rcpt_domain_of(m->rcpts[i].address);
		size_t k;
		if (q->rr[i].verdict != ROUTER_NEED_MX || q->rr[i].forced)
			continue;
		for (k = 0; k < i && !(q->rr[k].verdict == ROUTER_NEED_MX &&
				       strcasecmp(rcpt_domain_of(m->rcpts[k].address), dom) == 0); k++)
			;
		if (k < i)
			continue;  /* that domain's lookup is on its way */
		struct mx_wait *w = xcalloc(1, sizeof(*w));
		w->q = q;
		w->domain = xstrdup(dom);
		q->mx_pending++;
		resolver_query(s->res, dom, DNS_TYPE_MX, on_rule_mx, w);
	}
	if (q->mx_pending) {
		s->routing++;
		return;
	}
	qmsg_make_jobs(q);
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
	 * job; busy ones take the rest in turn; held destinations wait */
	double now = now_d();
	for (struct dest *d = s->dests; d; d = d->next) {
		if (d->hold_until > now) {
			if (d->head)
				dest_hold(d, d->hold_until);  /* (re)arms the wake-up if it is the earliest */
			continue;
		}
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

static void on_hold_over(evutil_socket_t fd, short what, void *arg)
{
	struct scheduler *s = arg;
	(void)fd;
	(void)what;
	s->hold_next = 0;
	pump(s);
}

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
	if (s->stopping && s->conns == 0 && s->recording == 0 && s->routing == 0 && !s->claiming && s->stopped) {
		void (*done)(void *) = s->stopped;
		health_save(s);  /* before the spool closes: it finishes what is queued */
		s->stopped = NULL;
		msg_info("event=delivery_stopped");
		done(s->stopped_arg);
	}
}

/* ---- route health: kept in the spool for `outpost routes` and restarts ---- */

static void health_conf_of(const struct config *cf, struct health_conf *hc)
{
	*hc = (struct health_conf){ cf->health.failures, cf->health.probe, cf->health.probe_max };
}

struct health_rows {
	struct spool_health_row *rows;
	size_t n;
	time_t now;
};

static void health_row_add(const struct health_row *r, void *arg)
{
	struct health_rows *hr = arg;
	hr->rows[hr->n++] = (struct spool_health_row){ (char *)r->route, (char *)r->dclass,
		(char *)health_state_name(r->state), (char *)r->reason, (char *)r->last_reply, r->changed,
		r->probe_at, hr->now, r->fails, r->sent_hour, r->failed_hour };
}

static void health_save(struct scheduler *s)
{
	struct health_rows hr = { NULL, 0, time(NULL) };
	size_t n = health_each(s->health, hr.now, NULL, NULL);
	hr.rows = xcalloc(n ? n : 1, sizeof(*hr.rows));
	health_each(s->health, hr.now, health_row_add, &hr);
	spool_health_save(s->sp, hr.rows, hr.n);  /* copies the rows */
	free(hr.rows);
}

static void on_health_timer(evutil_socket_t fd, short what, void *arg)
{
	struct scheduler *s = arg;
	(void)fd;
	(void)what;
	/* counts over the last hour change with time alone: save once a minute anyway */
	if (health_dirty(s->health) || time(NULL) % 60 < HEALTH_SAVE)
		health_save(s);
}

static void on_health_loaded(void *arg, const struct spool_health_row *rows, size_t n)
{
	struct scheduler *s = arg;
	static const char *const states[] = { "healthy", "degraded", "down" };
	for (size_t i = 0; i < n; i++) {
		struct health_row r = { rows[i].route, rows[i].dclass, HEALTH_HEALTHY, rows[i].reason,
					rows[i].last_reply, rows[i].changed, rows[i].probe_at, rows[i].fails, 0, 0 };
		for (int k = 0; k < 3; k++)
			if (strcmp(rows[i].state, states[k]) == 0)
				r.state = (enum health_state)k;
		if (route_named(s->cf, r.route))
			health_restore(s->health, &r);
	}
	if (n)
		msg_info("event=route_health_restored paths=%zu", n);
}

void scheduler_canary(struct scheduler *s, const char *route, int ok, const char *reason)
{
	if (s)
		health_canary(s->health, route, ok, reason, time(NULL));
}

void scheduler_reload(struct scheduler *s, const struct config *cf)
{
	struct health_conf hc;
	health_conf_of(cf, &hc);
	health_set_conf(s->health, &hc);
	throttle_reload(s->thr, cf);
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
	struct health_conf hc;
	health_conf_of(cf, &hc);
	s->health = health_new(&hc);
	s->thr = throttle_new(cf);
	s->hold_ev = evtimer_new(base, on_hold_over, s);
	spool_health_load(sp, on_health_loaded, s);  /* answered before the first claim */
	s->health_ev = event_new(base, -1, EV_PERSIST, on_health_timer, s);
	struct timeval every = { HEALTH_SAVE, 0 };
	event_add(s->health_ev, &every);
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
	event_del(s->health_ev);
	evtimer_del(s->hold_ev);
	msg_info("event=delivery_stopping connections=%u", s->conns);
	drop_waiting(s);
	scheduler_check_stopped(s);
}

void scheduler_free(struct scheduler *s)
{
	if (s == NULL)
		return;
	event_free(s->timer);
	event_free(s->health_ev);
	event_free(s->hold_ev);
	health_free(s->health);
	throttle_free(s->thr);
	free(s->src_weight);
	free(s);
}
