/*
 * scheduler: claim, pump and record: claimed messages -> destination
 * queues -> outcomes in the spool.  The contract is in scheduler.h; the
 * modules and objects it shares with sched_*.c are in scheduler_int.h.
 *
 * This file claims due messages (at most MAX_INFLIGHT_MSGS in memory),
 * hands each to routing (sched_route.c), starts connections where jobs
 * wait (pump), records each message's outcomes in one spool transaction
 * (with a DSN when one is due) once its last job is done, and owns the
 * clock and network seams, the timers and the life cycle.
 */
#include "scheduler.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "delivery/dsn.h"
#include "delivery/health.h"
#include "delivery/scheduler_int.h"
#include "delivery/throttle.h"
#include "feedback/classify.h"
#include "inbound/tenant.h"
#include "obs/obs.h"
#include "spool/spool.h"

/* ---- the seams: real clock and timers, real network ---- */

struct sched_timer {
	struct event *ev;
	void (*fire)(void *arg);
	void *arg;
};

static double real_now(void *arg)
{
	struct timespec ts;
	(void)arg;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void real_timer_fired(evutil_socket_t fd, short what, void *arg)
{
	struct sched_timer *t = arg;
	(void)fd;
	(void)what;
	t->fire(t->arg);
}

static struct sched_timer *real_timer_new(void *base, void (*fire)(void *), void *arg)
{
	struct sched_timer *t = xcalloc(1, sizeof(*t));
	t->fire = fire;
	t->arg = arg;
	t->ev = evtimer_new(base, real_timer_fired, t);
	return t;
}

static void real_timer_add(void *base, struct sched_timer *t, double w)
{
	struct timeval tv = { (time_t)w, (suseconds_t)((w - (double)(time_t)w) * 1e6) };
	(void)base;
	if (w < 0)
		tv = (struct timeval){ 0, 0 };
	evtimer_add(t->ev, &tv);
}

static void real_timer_del(void *base, struct sched_timer *t)
{
	(void)base;
	evtimer_del(t->ev);
}

static void real_timer_free(void *base, struct sched_timer *t)
{
	(void)base;
	if (t == NULL)
		return;
	event_free(t->ev);
	free(t);
}

static const struct sched_clock real_clock = { real_now, real_timer_new, real_timer_add, real_timer_del,
					       real_timer_free, NULL };

static struct resolver_query *real_query(void *res, const char *name, int rrtype, resolver_cb *cb, void *cb_arg)
{
	return resolver_query(res, name, rrtype, cb, cb_arg);
}

static void real_cancel(void *res, struct resolver_query *q)
{
	(void)res;
	resolver_cancel(q);
}

static struct smtp_client *real_client_new(void *res, const struct smtp_client_params *p)
{
	return smtp_client_new(resolver_base(res), p);
}

static void real_deliver(void *res, struct smtp_client *c, const struct smtp_txn *txn, smtp_client_done_cb *done,
			 void *done_arg)
{
	(void)res;
	smtp_client_deliver(c, txn, done, done_arg);
}

static int real_reusable(void *res, const struct smtp_client *c)
{
	(void)res;
	return smtp_client_reusable(c);
}

static void real_client_free(void *res, struct smtp_client *c)
{
	(void)res;
	smtp_client_free(c);
}

double sched_now(const struct scheduler *s)
{
	return s->clock.now(s->clock.arg);
}

time_t sched_time(const struct scheduler *s)
{
	return (time_t)sched_now(s);
}

struct sched_timer *sched_timer_new(struct scheduler *s, void (*fire)(void *arg), void *arg)
{
	return s->clock.timer_new(s->clock.arg, fire, arg);
}

void sched_timer_add(struct scheduler *s, struct sched_timer *t, double seconds)
{
	s->clock.timer_add(s->clock.arg, t, seconds);
}

void sched_timer_del(struct scheduler *s, struct sched_timer *t)
{
	s->clock.timer_del(s->clock.arg, t);
}

void sched_timer_free(struct scheduler *s, struct sched_timer *t)
{
	if (t)
		s->clock.timer_free(s->clock.arg, t);
}

const char *rcpt_domain_of(const char *address)
{
	const char *at = strrchr(address, '@');
	return at ? at + 1 : "";
}

static void scheduler_check_stopped(struct scheduler *s);
static void spool_next_due_arm(struct scheduler *s);

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

/* result= of the delivery log: delivered, deferred or bounced */
static const char *state_name(enum spool_rcpt_state st)
{
	return str_name_code(spool_rcpt_state_names, (int)st);
}

/* Signs a DSN (dsn_sign) and logs it, with whether and how it was signed. */
static void dsn_sign_logged(struct scheduler *s, const char *qid, struct spool_msg *msg, const char *kind,
			    size_t n)
{
	char info[300] = "none", err[256], q[320];
	if (dsn_sign(s->signer, msg->id, &msg->body, &msg->body_len, info, sizeof(info), err, sizeof(err)) < 0 &&
	    snprintf(info, sizeof(info), "failed: %s", err) < 0)
		info[0] = '\0';
	msg_info("event=dsn qid=%s dsn_qid=%s kind=%s to=<%s> nrcpt=%zu dkim=%s", qid, msg->id, kind,
		 msg->rcpts[0], n, log_quote(q, sizeof(q), info));
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
		dsn_sign_logged(s, q->m->id, msg, want == SPOOL_RCPT_BOUNCED ? "failed" : "delayed", k);
	} else if (k > 0) {
		msg_info("event=dsn_skipped qid=%s reason=\"null sender\"", q->m->id);
	}
	buf_free(&body);
	free(dr);
	free(status);
	return msg;
}

static void outcome_diag(struct outcome *o)
{
	reply_format(&o->reply, o->diag, sizeof(o->diag));
}

static void qmsg_free(struct qmsg *q)
{
	config_free(q->cf);
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
	if ((*q->rec_pprev = q->rec_next) != NULL)
		q->rec_next->rec_pprev = q->rec_pprev;
	qmsg_free(q);
	s->recording--;
	s->inflight--;
	sched_pump(s);
}/* Why a deferral happened when no server answered, for the operator of a
 * machine that cannot reach the world: " cause=dns" (the MX lookup got no
 * answer), " cause=port25" (no SMTP connection to any MX host on port 25,
 * often blocked outbound), " cause=connect" (another port); else "". */
static const char *defer_cause(const struct config *cf, const struct outcome *o)
{
	if (strncmp(o->reply.enh, "4.4.3", 5) == 0)   /* ours: a server's own 4.4.3 has a code */
		return o->reply.code == 0 || strstr(o->diag, "lookup") ? " cause=dns" : "";
	if (o->reply.code != 0 || strncmp(o->reply.enh, "4.4.1", 5) != 0)
		return "";
	for (size_t r = 0; o->route && r < cf->nroutes; r++)
		if (strcmp(cf->routes[r].name, o->route) == 0)
			return cf->routes[r].type == ROUTE_MX && strcmp(cf->routes[r].port, "25") == 0 ? " cause=port25"
												     : " cause=connect";
	return " cause=connect";
}


/* The bounce parser's reason for a failed outcome (feedback/classify.h),
 * remembered for the next outcome with the same status and words. */
static const char *reason_of(struct scheduler *s, const struct outcome *o)
{
	if (s->why_memo.reason && s->why_memo.code == o->reply.code && strcmp(s->why_memo.enh, o->reply.enh) == 0 &&
	    strcmp(s->why_memo.diag, o->diag) == 0)
		return s->why_memo.reason;
	struct classify_in ci = { o->reply.enh, o->reply.code, o->diag, "", "" };
	const char *r = classify_reason(&ci);
	if (strlen(o->reply.enh) < sizeof(s->why_memo.enh) && strlen(o->diag) < sizeof(s->why_memo.diag)) {
		strcpy(s->why_memo.enh, o->reply.enh);
		strcpy(s->why_memo.diag, o->diag);
		s->why_memo.code = o->reply.code;
		s->why_memo.reason = r;
	}
	return r;
}

/* All jobs of q are done: one spool transaction for its outcomes (and DSNs). */
static void qmsg_finish(struct qmsg *q)
{
	struct scheduler *s = q->sch;
	time_t now = sched_time(s);
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
		obs_outcome(o->route, q->m->tenant, state_name(st), o->reply.enh, q->m->created, now);
		if (q->m->tenant && st != SPOOL_RCPT_DEFERRED)   /* its bounce rate (tenant.h) */
			tenant_outcome(q->cf, q->m->tenant, st == SPOOL_RCPT_BOUNCED, now);
		deferred += st == SPOOL_RCPT_DEFERRED;
		bounced += st == SPOOL_RCPT_BOUNCED;
		char qd[700], why[64] = "";
		if (st != SPOOL_RCPT_DELIVERED) {
			const char *r = reason_of(s, o);
			if (st == SPOOL_RCPT_BOUNCED) {
				obs_bounce(r, classify_scope(r), "delivery");
				obs_tenant_bounce(q->m->tenant, r, "delivery");
			}
			if (snprintf(why, sizeof(why), " reason=%s hard=%s", r,
				     classify_is_hard(r, o->reply.enh, o->reply.code) ? "yes" : "no") >= (int)sizeof(why))
				why[0] = '\0';
		}
		msg_info("event=delivery qid=%s tenant=%s rcpt=<%s> route=%s host=%s ip=%s tls=\"%s\" reply=%s "
			 "result=%s%s%s attempts=%d", q->m->id, q->m->tenant ? q->m->tenant : "-",
			 q->m->rcpts[i].address, o->route,
			 o->host[0] ? o->host : "-", o->ip[0] ? o->ip : "-", o->tls[0] ? o->tls : "none",
			 log_quote(qd, sizeof(qd), o->diag), state_name(st),
			 st == SPOOL_RCPT_DEFERRED ? defer_cause(q->cf, o) : "", why, q->m->rcpts[i].attempts + 1);
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
	if (s->stopped_done)   /* its answer would come to a freed scheduler */
		msg_panic("event=record_after_stop qid=%s", q->m->id);
	s->recording++;
	if ((q->rec_next = s->unrecorded) != NULL)
		q->rec_next->rec_pprev = &q->rec_next;
	q->rec_pprev = &s->unrecorded;
	s->unrecorded = q;
	spool_record(s->sp, q->m->id, so, n, notify && dsn, dsn, recorded, q);
	free(so);
}

void qmsg_release(struct qmsg *q)
{
	if (--q->jobs == 0)
		qmsg_finish(q);
}

void job_done(struct job *j)
{
	struct qmsg *q = j->q;
	free(j->idx);
	free(j);
	qmsg_release(q);
}

static void claim(struct scheduler *s);

/* Routes the next ROUTE_BATCH claimed messages.  Routing one costs about
 * 0.1 ms when its routes are down (it is finished, classified and logged
 * at once): 2,000 in one callback held the loop for 200 ms, and a GET
 * /metrics or an SMTP client with it.  The rest waits for the next loop
 * turn (a timer of 0 s: libevent polls the sockets first); meanwhile
 * claim() holds off, and scheduler_shutdown() drops what is left. */
static void route_claimed(struct scheduler *s)
{
	size_t end = s->stopping ? s->nclaimed : s->claimed_next + ROUTE_BATCH;
	while (s->claimed_next < s->nclaimed && s->claimed_next < end) {
		struct spool_due_msg *m = s->claimed[s->claimed_next++];
		if (s->stopping)
			spool_due_free(m);  /* claims end with the process: due again at start */
		else
			sched_route_message(s, m);
	}
	if (s->claimed_next < s->nclaimed) {
		sched_timer_add(s, s->route_ev, 0);
		sched_pump(s);  /* delivery of the routed ones starts now */
		return;
	}
	size_t n = s->nclaimed;
	free(s->claimed);
	s->claimed = NULL;
	s->nclaimed = s->claimed_next = 0;
	if (n > 0 || s->kicked) {
		s->kicked = 0;
		sched_pump(s);
	} else {
		spool_next_due_arm(s);
	}
}

static void on_route_more(void *arg)
{
	route_claimed(arg);
}

/* Claimed messages not routed yet are dropped (shutdown): due again at start. */
static void drop_claimed(struct scheduler *s)
{
	while (s->claimed_next < s->nclaimed)
		spool_due_free(s->claimed[s->claimed_next++]);
	free(s->claimed);
	s->claimed = NULL;
	s->nclaimed = s->claimed_next = 0;
}

static void on_claimed(void *arg, struct spool_due_msg **msgs, size_t n)
{
	struct scheduler *s = arg;
	s->claiming = 0;
	s->claimed = msgs;
	s->nclaimed = n;
	s->claimed_next = 0;
	route_claimed(s);
}

static void claim(struct scheduler *s)
{
	if (s->claiming || s->claimed || s->stopping || s->inflight >= MAX_INFLIGHT_MSGS)
		return;
	s->claiming = 1;
	spool_claim_due(s->sp, sched_time(s), MAX_INFLIGHT_MSGS - s->inflight, on_claimed, s);
}

/* One pass over the destinations: idle connections first, then each new
 * connection takes one waiting job; busy ones take the rest in turn.  A
 * destination held by a limit waits, and one that becomes held during the
 * pass (its job went back to the front: no rate slot, no connection slot)
 * is left at once: starting it again could only give the job back, over
 * and over until the slot came (issue 11 item 2: a full core). */
static void pump_once(struct scheduler *s, double now)
{
	for (struct dest *d = s->dests; d; d = d->next) {
		if (d->hold_until > now) {
			if (d->head && d->hold_until - now > HOLD_MAX)
				dest_defer_held(d, d->hold_until - now);  /* mail that came after the hold began */
			else if (d->head)
				dest_hold(d, d->hold_until);  /* (re)arms the wake-up if it is the earliest */
			continue;
		}
		while (d->head && d->idle && d->hold_until <= now) {
			struct conn *c = d->idle;
			conn_unpark(c);
			conn_next_job(c);
		}
		/* at the total cap, the least recently used idle connection
		 * (another destination's: d has none left) closes for d (issue 21) */
		while (d->head && d->hold_until <= now && d->conns < s->cf->delivery.max_per_destination &&
		       (s->conns < s->cf->delivery.max_connections || conn_evict_idle(s)))
			conn_start(d);
	}
}

/* Starts connections where jobs wait, then claims more when there is room.
 * Not reentrant: a connection that ends during a pass (conn_free pumps)
 * asks for one more pass instead, and destinations left idle are freed
 * after the last pass, never under the loop that walks them. */
void sched_pump(struct scheduler *s)
{
	if (s->stopping) {
		scheduler_check_stopped(s);
		return;
	}
	if (s->pumping) {
		s->repump = 1;
		return;
	}
	s->pumping = 1;
	do {
		s->repump = 0;
		pump_once(s, sched_now(s));
	} while (s->repump && !s->stopping);
	s->pumping = 0;
	dest_sweep(s);
	if (s->stopping)
		return scheduler_check_stopped(s);
	claim(s);
}

/* ---- timer, kick, life cycle ---- */

static void on_hold_over(void *arg)
{
	struct scheduler *s = arg;
	s->hold_next = 0;
	sched_pump(s);
}

static void on_pump_soon(void *arg)
{
	sched_pump(arg);
}

void sched_pump_soon(struct scheduler *s)
{
	if (!s->stopping)
		sched_timer_add(s, s->soon_ev, 0);
}

static void on_next_due(void *arg, time_t next)
{
	struct scheduler *s = arg;
	time_t now = sched_time(s);
	/* polled at least every IDLE_POLL seconds, so `outpost queue flush` takes effect soon */
	long wait = next == 0 ? IDLE_POLL : next <= now ? 0 : (long)(next - now);
	s->recording--;
	if (s->stopping)
		return scheduler_check_stopped(s);
	sched_timer_add(s, s->timer, wait > IDLE_POLL ? IDLE_POLL : wait);
}

static void spool_next_due_arm(struct scheduler *s)
{
	s->recording++;  /* an answer from the spool is outstanding */
	spool_next_due(s->sp, on_next_due, s);
}

static void on_timer(void *arg)
{
	claim(arg);
}

void scheduler_set_dkim(struct scheduler *s, const struct dkim_signer *signer)
{
	if (s)                       /* NULL: no routes, so no delivery and no DSN */
		s->signer = signer;
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
	if (s->stopping && !s->dropping && s->conns == 0 && s->recording == 0 && s->routing == 0 && !s->claiming &&
	    s->claimed == NULL && s->stopped) {
		void (*done)(void *) = s->stopped;
		sched_health_save(s);  /* before the spool closes: it finishes what is queued */
		s->stopped = NULL;
		s->stopped_done = 1;
		msg_info("event=delivery_stopped");
		done(s->stopped_arg);
	}
}

void scheduler_reload(struct scheduler *s, const struct config *cf)
{
	struct health_conf hc;
	sched_health_conf(cf, &hc);
	health_set_conf(s->health, &hc);
	throttle_reload(s->thr, cf);
	config_free(s->cf);   /* messages and destinations routed by it hold their own reference */
	s->cf = config_ref(cf);
	msg_info("event=delivery_reloaded routes=%zu rules=%zu", cf->nroutes, cf->nrules);
	sched_pump(s);
}

struct scheduler *scheduler_new_with(struct event_base *base, const struct config *cf, struct spool *sp,
				     const struct sched_clock *clock, const struct sched_net *net)
{
	if (cf->nroutes == 0) {
		msg_info("event=delivery_disabled reason=\"no routes in the config\"");
		return NULL;
	}
	struct scheduler *s = xcalloc(1, sizeof(*s));
	s->base = base;
	s->cf = config_ref(cf);
	s->sp = sp;
	s->clock = clock ? *clock : real_clock;
	if (clock == NULL)
		s->clock.arg = base;
	s->net = *net;
	struct health_conf hc;
	sched_health_conf(cf, &hc);
	s->health = health_new(&hc);
	s->thr = throttle_new(cf);
	sched_self_load(s, cf);
	s->hold_ev = sched_timer_new(s, on_hold_over, s);
	s->soon_ev = sched_timer_new(s, on_pump_soon, s);
	s->route_ev = sched_timer_new(s, on_route_more, s);
	sched_health_start(s);  /* the spool answers the load before the first claim */
	s->timer = sched_timer_new(s, on_timer, s);
	sched_timer_add(s, s->timer, 0);
	msg_info("event=delivery_started routes=%zu rules=%zu max_connections=%u", cf->nroutes, cf->nrules,
		 cf->delivery.max_connections);
	return s;
}

struct scheduler *scheduler_new(struct event_base *base, const struct config *cf, struct spool *sp,
				struct resolver *res, SSL_CTX *client_ctx)
{
	struct sched_net net = { real_query, real_cancel, real_client_new, real_deliver, real_reusable,
				 real_client_free, res };
	struct scheduler *s = scheduler_new_with(base, cf, sp, NULL, &net);
	if (s)
		s->ssl = client_ctx;
	return s;
}

/* Jobs not started yet are dropped without an outcome (their recipients
 * stay due); idle connections say QUIT. */
static void drop_waiting(struct scheduler *s)
{
	/* freeing an idle connection checks whether delivery has stopped: not
	 * before the jobs of the destinations after it are dropped too (each
	 * drop is recorded) */
	s->dropping = 1;
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
	s->dropping = 0;
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
	sched_timer_del(s, s->timer);
	sched_health_stop(s);
	sched_timer_del(s, s->hold_ev);
	sched_timer_del(s, s->soon_ev);
	sched_timer_del(s, s->route_ev);
	drop_claimed(s);
	msg_info("event=delivery_stopping connections=%u", s->conns);
	drop_waiting(s);
	scheduler_check_stopped(s);
}

void scheduler_abort(struct scheduler *s)
{
	if (s == NULL || !s->stopping)
		return;
	s->stopped = NULL;      /* the daemon exits without waiting for us */
	s->dropping = 1;
	while (s->all_conns) {  /* none is idle: drop_waiting closed those */
		struct conn *c = s->all_conns;
		struct job *j = c->job;
		c->job = NULL;
		conn_free(c);
		if (j)
			job_done(j);    /* no outcome: its recipients stay due */
	}
	s->dropping = 0;
	msg_warn("event=delivery_aborted recording=%u routing=%u", s->recording, s->routing);
}

void scheduler_free(struct scheduler *s)
{
	if (s == NULL)
		return;
	while (s->unrecorded) {   /* a forced exit: spool_close dropped the answer (not the record) */
		struct qmsg *q = s->unrecorded;
		s->unrecorded = q->rec_next;
		qmsg_free(q);
	}
	drop_claimed(s);
	sched_timer_free(s, s->timer);
	sched_timer_free(s, s->route_ev);
	sched_timer_free(s, s->health_ev);
	sched_timer_free(s, s->hold_ev);
	sched_timer_free(s, s->soon_ev);
	health_free(s->health);
	throttle_free(s->thr);
	free(s->src_weight);
	for (size_t i = 0; i < s->nlisted_src; i++)
		free(s->listed_src[i]);
	free(s->listed_src);
	free(s->self);
	mx_cache_free(s);
	config_free(s->cf);
	free(s);
}
