/*
 * sched_trouble: what a failed delivery attempt means (part of the
 * scheduler: scheduler_int.h), as Postfix's smtp_trouble.c decides it.
 *
 * Contract: every failure reaches one of four ends here:
 * - next host: a session that failed as a whole (every recipient 4xx and
 *   the connection unusable) while another MX host or address is left is
 *   tried there (txn_try_next_host);
 * - fail over: a failure that blames the path (path_fault: a receiver
 *   blocking our address; on a relay route also AUTH, TLS or no
 *   connection) counts against the route's health and moves the job at
 *   once to the next usable route of its rule's via (job_path_failed);
 * - bounce or defer: otherwise, or when no route is left, each recipient
 *   gets the result (job_fail); scheduler.c's record turns 5xx into a
 *   bounce and 4xx into a retry (or a bounce when its lifetime is over);
 * - a failure of the connection (DNS verdict, no host reachable) fails
 *   the other jobs waiting at the same destination too (dest_fail_all):
 *   they would meet the same wall now.
 * A warm-up cap is no fault: the job spills to the next route, or waits.
 */
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "delivery/health.h"
#include "delivery/reply_blame.h"
#include "delivery/scheduler_int.h"
#include "obs/obs.h"

/* The reply as an operator (and a DSN's Diagnostic-Code) should see it:
 * "550 5.1.1 text" as the server said it, or "4.4.1 local reason". */
const char *reply_format(const struct reply_info *r, char *out, size_t outlen)
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

const char *job_route_name(const struct job *j)
{
	return j->route ? j->route->name : "-";
}

/* Gives every recipient of job j the same result. */
void job_fail(struct job *j, const struct reply_info *r, const char *host)
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

/* j failed on a path fault: count it against the path and move j to the
 * next usable route of its rule at once; fail it as is when there is none. */
static void job_path_failed(struct job *j, const struct reply_info *r, const char *fault, int route_wide,
			    const char *host)
{
	struct scheduler *s = j->q->sch;
	char rf[600], qd[700], why[700], dclass[sizeof(j->dclass)];
	reply_format(r, rf, sizeof(rf));
	snprintf(why, sizeof(why), "%s: %s", fault, rf);
	health_failure(s->health, j->route->name, route_wide ? "*" : j->dclass, why, rf, sched_time(s));
	size_t pos;
	const struct route_conf *next = via_next(s, j->q, j->rule, j->via_pos + 1, j->dclass, &pos);
	msg_info("event=attempt_failed qid=%s route=%s class=%s host=%s reply=%s fault=%s action=%s%s%s", j->q->m->id,
		 j->route->name, j->dclass, host ? host : "-", log_quote(qd, sizeof(qd), rf), fault,
		 next ? "failover" : "none", next ? " next_route=" : "", next ? next->name : "");
	if (next == NULL)
		return job_fail(j, r, host);
	obs_failover(j->route->name, next->name);
	obs_event("failover", j->q->m->id, j->route->name, NULL, "{s:s, s:s, s:s, s:s, s:I}", "to_route", next->name,
		  "class", obs_text(dclass, sizeof(dclass), j->dclass), "fault", fault, "reply", obs_text(qd, sizeof(qd), rf),
		  "recipients", (long long)j->n);
	j->route = next;
	j->via_pos = pos;
	job_requeue(j);
}

/* j cannot go by its route now for a reason that is not the path's fault
 * (a warm-up cap): the next usable route of its rule takes it, else it
 * waits with r. */
void job_spill(struct job *j, const struct reply_info *r)
{
	char why[sizeof(r->text)];
	size_t pos;
	const struct route_conf *next = via_next(j->q->sch, j->q, j->rule, j->via_pos + 1, j->dclass, &pos);
	msg_info("event=spill qid=%s route=%s class=%s reason=\"%s\" next_route=%s", j->q->m->id, j->route->name,
		 j->dclass, r->text, next ? next->name : "-");
	if (next == NULL)
		return job_fail(j, r, NULL);
	obs_failover(j->route->name, next->name);
	char dclass[sizeof(j->dclass)];
	obs_event("failover", j->q->m->id, j->route->name, NULL, "{s:s, s:s, s:s, s:s, s:I}", "to_route", next->name,
		  "class", obs_text(dclass, sizeof(dclass), j->dclass), "fault", "spill", "reply",
		  obs_text(why, sizeof(why), r->text), "recipients", (long long)j->n);
	j->route = next;
	j->via_pos = pos;
	job_requeue(j);
}

/* The outcome of a transaction for the path's health; 1 when it was a
 * path fault and j has been failed over (or failed). */
int job_judge(struct job *j, const struct reply_info *rcpt, size_t n, const char *host, int answered)
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
				       sched_time(s));
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

/* Fails every job waiting at d (a DNS verdict, or a path that failed,
 * holds for all of them); a path fault moves them to their next route. */
void dest_fail_all(struct dest *d, const struct reply_info *r)
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

void conn_fail_job(struct conn *c)
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
void conn_warm_full(struct conn *c)
{
	struct job *j = c->job;
	struct reply_info r;
	c->job = NULL;
	reply_local("4.7.0", "warm-up cap of every source address reached for this receiver", &r);
	job_spill(j, &r);
	conn_free(c);
}


int txn_try_next_host(const struct conn *c, const struct smtp_txn_result *res)
{
	struct scheduler *s = c->d->sch;
	int all_temp = 1;
	for (size_t i = 0; i < res->nrcpts; i++)
		all_temp &= res->rcpt[i].outcome == REPLY_TEMP;
	return all_temp && !s->net.reusable(s->net.arg, c->client) &&
	       c->cur + 1 < c->ntargets + (c->nexthost < c->nhosts);
}

void conn_loops_back(struct conn *c)
{
	const char *host = c->targets[c->cur].host;
	if (c->cur > 0) {
		/* we are a less preferred host: those before us were tried; wait for them */
		msg_info("event=mail_loop_skipped route=%s host=%s reason=\"less preferred MX is ourselves\"",
			 c->d->route->name, host);
		c->ntargets = c->cur;
		return conn_fail_job(c);
	}
	char why[400];
	snprintf(why, sizeof(why), "5.4.6 mail for %s loops back to myself (%s)",
		 c->d->domain ? c->d->domain : c->d->route->name, host);
	reply_classify(554, why, &c->last);
	msg_warn("event=mail_loop qid=%s route=%s host=%s reason=\"MX is this host\"", c->job->q->m->id,
		 c->d->route->name, host);
	c->ntargets = c->cur + 1;
	conn_fail_job(c);
}
