/*
 * feedback_apply: one report attributed to a message outpost sent and
 * acted on by scope (contract in feedback.h).
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/config.h"
#include "core/log.h"
#include "feedback/bounce.h"
#include "feedback/feedback.h"
#include "feedback/suppress.h"
#include "spool/spool_obs.h"
#include "obs/obs.h"

/* What the spool knows of qid and rcpt. */
struct sent {
	int known_qid;           /* the message is in the history or the queue */
	int known_rcpt;          /* ... and was sent (or queued) to rcpt */
	char route[128], host[256], sender[320], tenant[128];
};

static void col(sqlite3_stmt *st, int i, char *out, size_t outlen)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	snprintf(out, outlen, "%s", t ? (const char *)t : "");
}

static int query_sent(sqlite3 *db, const char *sql, const char *qid, const char *rcpt, struct sent *s,
		      int ncols)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(st, 1, qid, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, rcpt ? rcpt : "", -1, SQLITE_STATIC);
	int rc = sqlite3_step(st), found = rc == SQLITE_ROW;
	if (found && ncols == 4) {
		col(st, 0, s->route, sizeof(s->route));
		col(st, 1, s->host, sizeof(s->host));
		col(st, 2, s->sender, sizeof(s->sender));
		col(st, 3, s->tenant, sizeof(s->tenant));
	} else if (found && ncols == 2) {
		col(st, 0, s->sender, sizeof(s->sender));
		col(st, 1, s->tenant, sizeof(s->tenant));
	}
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? found : -1;
}

static int lookup_sent(sqlite3 *db, const char *qid, const char *rcpt, struct sent *s)
{
	memset(s, 0, sizeof(*s));
	int rc = query_sent(db, "SELECT route, remote_host, sender, tenant FROM sent_history WHERE qid = ?1"
			    " AND recipient = lower(?2) ORDER BY time DESC LIMIT 1", qid, rcpt, s, 4);
	if (rc > 0)
		return s->known_qid = s->known_rcpt = 1;
	if (rc == 0)   /* still in the queue (other recipients pending) */
		rc = query_sent(db, "SELECT m.sender, m.tenant FROM recipients r JOIN messages m ON m.id = r.msg_id"
				" WHERE r.msg_id = ?1 AND lower(r.address) = lower(?2)", qid, rcpt, s, 2);
	if (rc > 0)
		return s->known_qid = s->known_rcpt = 1;
	if (rc == 0)
		rc = query_sent(db, "SELECT 1 FROM sent_history WHERE qid = ?1 UNION ALL"
				" SELECT 1 FROM messages WHERE id = ?1 LIMIT 1", qid, NULL, s, 0);
	if (rc > 0)
		s->known_qid = 1;
	return rc;
}

/* The message a report refers to: by a VERP address with a valid tag,
 * else by the queue id in its returned headers when the spool knows it. */
static void attribute(sqlite3 *db, const struct feedback_ctx *fx, const struct bounce_report *r,
		      const char *envelope_rcpt, struct feedback_outcome *out)
{
	const char *cand[] = { envelope_rcpt, r->delivered_to, r->return_path };
	int forged = 0;
	struct sent s;
	for (size_t i = 0; fx->key && fx->cf->bounces.domain && i < 3; i++) {
		if (cand[i] == NULL || cand[i][0] == '\0')
			continue;
		int v = verp_parse(fx->key, fx->keylen, cand[i], fx->cf->bounces.domain, out->qid, sizeof(out->qid));
		if (v == 1) {
			out->attributed = 1;
			snprintf(out->why, sizeof(out->why), "%s", "VERP tag valid");
			return;
		}
		forged |= v < 0;
	}
	out->qid[0] = '\0';
	if (r->queue_id[0] && strlen(r->queue_id) < sizeof(out->qid) && lookup_sent(db, r->queue_id, NULL, &s) > 0 &&
	    s.known_qid) {
		out->attributed = 1;
		memcpy(out->qid, r->queue_id, strlen(r->queue_id) + 1);
		snprintf(out->why, sizeof(out->why), "%s", "queue id in the sent history");
		return;
	}
	snprintf(out->why, sizeof(out->why), "%s",
		 forged ? "forged VERP tag" : "refers to no message outpost sent");
}

static const char *domain_of(const char *addr)
{
	const char *at = strrchr(addr, '@');
	return at ? at + 1 : "";
}

static int suppress_now(sqlite3 *db, const struct feedback_ctx *fx, const struct bounce_rcpt *x, const char *qid,
			const char *source, const char *scope, time_t now, time_t expires, char *err, size_t errlen)
{
	struct suppression s = { 0 };
	snprintf(s.address, sizeof(s.address), "%s", x->recipient);
	snprintf(s.scope, sizeof(s.scope), "%s", scope);
	snprintf(s.reason, sizeof(s.reason), "%s", x->reason);
	snprintf(s.source, sizeof(s.source), "%s", source);
	snprintf(s.status, sizeof(s.status), "%s", x->status);
	snprintf(s.qid, sizeof(s.qid), "%s", qid);
	snprintf(s.diagnostic, sizeof(s.diagnostic), "%s", x->diagnostic);
	s.first = s.last = now;
	s.expires = expires;
	s.count = 1;
	if (suppress_put(db, &s, err, errlen) < 0)
		return -1;
	if (fx->suppressed_fn)
		fx->suppressed_fn(fx->suppressed_arg, s.address, s.scope);
	char q[400], rcpt[sizeof(x->recipient)], sc[sizeof(s.scope)], st[sizeof(x->status)];
	msg_info("event=suppressed qid=%s rcpt=<%s> reason=%s source=%s scope=%s status=%s expires=%lld diagnostic=%s",
		 qid, x->recipient, x->reason, source, scope[0] ? scope : "global", x->status[0] ? x->status : "-",
		 (long long)expires, log_quote(q, sizeof(q), x->diagnostic));
	obs_event("suppressed", qid[0] ? qid : NULL, NULL, obs_text(rcpt, sizeof(rcpt), x->recipient),
		  "{s:s, s:s, s:s, s:s, s:I, s:s}", "reason", x->reason, "source", source, "scope",
		  scope[0] ? obs_text(sc, sizeof(sc), scope) : "global", "status", obs_text(st, sizeof(st), x->status),
		  "expires", (long long)expires, "diagnostic", obs_text(q, sizeof(q), x->diagnostic));
	return 0;
}

/* A complaint is an event (obs.h: webhooks) before it suppresses. */
static void complaint_event(const struct bounce_report *r, const struct bounce_rcpt *x, const struct sent *s,
			    const char *qid, const char *sender)
{
	char rcpt[sizeof(x->recipient)], from[sizeof(r->sender)], type[sizeof(r->feedback_type)];
	obs_event("complaint", qid[0] ? qid : NULL, s->route[0] ? s->route : NULL,
		  obs_text(rcpt, sizeof(rcpt), x->recipient), "{s:s, s:s, s:s?}", "feedback_type",
		  obs_text(type, sizeof(type), r->feedback_type), "sender", obs_text(from, sizeof(from), sender),
		  "tenant", s->tenant[0] ? s->tenant : NULL);
}

/* One recipient's outcome, by its scope. */
static int act(sqlite3 *db, const struct feedback_ctx *fx, const struct bounce_report *r,
	       const struct bounce_rcpt *x, const struct sent *s, time_t now, struct feedback_outcome *out,
	       char *err, size_t errlen)
{
	const struct suppression_conf *sc = &fx->cf->suppression;
	char q[400], scope[330];
	if (r->kind == BOUNCE_ARF) {
		const char *sender = s->sender[0] ? s->sender : r->sender;
		int n = snprintf(scope, sizeof(scope), "domain:%s", domain_of(sender));
		if (n < 0 || (size_t)n >= sizeof(scope) || domain_of(sender)[0] == '\0')
			scope[0] = '\0';
		msg_info("event=complaint qid=%s rcpt=<%s> tenant=%s feedback_type=%s sender=<%s>", out->qid,
			 x->recipient, s->tenant[0] ? s->tenant : "-", r->feedback_type[0] ? r->feedback_type : "-",
			 sender);
		complaint_event(r, x, s, out->qid, sender);
		out->complaints++;
		out->suppressed++;
		/* the statistics count it for its route and tenant (spool_obs.h) */
		if (spool_obs_complaint(db, now, s->route, domain_of(x->recipient), sender, s->tenant) != SQLITE_OK)
			msg_warn("event=stats_error qid=%s op=complaint error=\"%s\"", out->qid, sqlite3_errmsg(db));
		return suppress_now(db, fx, x, out->qid, "complaint", scope, now, 0, err, errlen);
	}
	if (x->action[0] == '\0' || strcasecmp(x->action, "failed") == 0) {   /* not "delayed", "delivered" */
		obs_bounce(x->reason, x->scope, "report");
		obs_tenant_bounce(s->tenant, x->reason, "report");
	}
	if (x->hard) {
		out->suppressed++;
		return suppress_now(db, fx, x, out->qid, "bounce", "", now, 0, err, errlen);
	}
	if (strcmp(x->reason, "mailboxfull") == 0) {
		unsigned count = 0;
		if (suppress_soft_failure(db, x->recipient, now, sc->mailboxfull_window, &count, err, errlen) < 0)
			return -1;
		out->soft_counted++;
		msg_info("event=soft_bounce qid=%s rcpt=<%s> reason=%s count=%u threshold=%u", out->qid, x->recipient,
			 x->reason, count, sc->mailboxfull_failures);
		if (count < sc->mailboxfull_failures)
			return 0;
		out->suppressed++;
		return suppress_now(db, fx, x, out->qid, "bounce", "", now, now + (time_t)sc->soft_expiry, err, errlen);
	}
	msg_info("event=async_bounce qid=%s rcpt=<%s> reason=%s scope=%s route=%s status=%s diagnostic=%s", out->qid,
		 x->recipient, x->reason, x->scope, s->route[0] ? s->route : "-", x->status,
		 log_quote(q, sizeof(q), x->diagnostic));
	if (strcmp(x->scope, "route") == 0 && fx->route_fn && s->route[0]) {
		fx->route_fn(fx->route_arg, s->route, s->host, x->recipient, x->reason, x->diagnostic);
		out->route_failures++;
	}
	return 0;
}

int feedback_apply(sqlite3 *db, const struct feedback_ctx *fx, const struct bounce_report *r,
		   const char *envelope_rcpt, time_t now, struct feedback_outcome *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	if (r->kind == BOUNCE_AUTOREPLY || r->kind == BOUNCE_UNKNOWN) {
		msg_info("event=%s rcpt=<%s> action=none", r->kind == BOUNCE_AUTOREPLY ? "auto_reply" : "report_unknown",
			 r->nrcpt ? r->rcpt[0].recipient : "");
		snprintf(out->why, sizeof(out->why), "%s", r->kind == BOUNCE_AUTOREPLY ? "an auto-reply" : "not a report");
		return 0;
	}
	attribute(db, fx, r, envelope_rcpt, out);
	for (size_t i = 0; i < r->nrcpt; i++) {
		const struct bounce_rcpt *x = &r->rcpt[i];
		struct sent s = { 0 };
		if (out->attributed && lookup_sent(db, out->qid, x->recipient, &s) < 0)
			return set_error(err, errlen, "sent history: %s", sqlite3_errmsg(db));
		/* a tag proves the message; the recipient must be one of it
		 * when the spool still knows the message's recipients */
		const char *why = !out->attributed ? out->why :
				  s.known_qid && !s.known_rcpt ? "recipient not among the message's" : NULL;
		if (why) {
			msg_info("event=bounce_ignored qid=%s rcpt=<%s> kind=%s reason=%s why=\"%s\"",
				 out->qid[0] ? out->qid : "-", x->recipient, bounce_kind_name(r->kind), x->reason, why);
			out->ignored++;
			continue;
		}
		if (act(db, fx, r, x, &s, now, out, err, errlen) < 0)
			return -1;
	}
	return 0;
}
