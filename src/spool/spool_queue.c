/*
 * spool_queue: claim, record and next-due on the spool; see spool_queue.h.
 *
 * Contract: the public functions run on the loop thread and only build a
 * request (deep copies of the caller's strings) for the storage thread.
 * spool_queue_run() runs on the storage thread: the non-commit requests of
 * one batch share one BEGIN IMMEDIATE ... COMMIT (a burst of records costs
 * one fsync); when that transaction fails it is rolled back, every result
 * of it discarded, and each request is run alone, so one failing request
 * fails only itself.  Claims and next-due read the index
 * messages_due(claimed, next_attempt) with LIMIT (INDEXED BY: a prepare
 * error rather than a silent scan of the queue).  Recipients and attempts
 * are found by their message's key.  A message whose recipients are all
 * final (delivered or bounced) is deleted with its recipients and attempts
 * in the transaction that made the last one final.
 */
#include "spool_queue.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "spool_int.h"
#include "xmalloc.h"

#define Q_REFUSED (-1)           /* not a SQLite code: the request itself is wrong */
#define Q_NEXT_RETRY 60          /* next-due answer after a failed query */

static const char *const spool_qsql[SPOOL_Q_COUNT] = {
	[SPOOL_Q_CLAIM_SEL] =
		"SELECT id, sender, created, body_8bit, smtputf8, delay_notified, auth_user, class, route, body,"
		" tenant, scan_action, body_seg, body_off, size, body_crc"
		" FROM messages INDEXED BY messages_due"
		" WHERE claimed = 0 AND next_attempt <= ?1 ORDER BY next_attempt LIMIT ?2",
	[SPOOL_Q_CLAIM_RCPTS] =
		"SELECT position, address, attempts FROM recipients"
		" WHERE msg_id = ?1 AND state IN ('queued', 'deferred') AND next_attempt <= ?2"
		" ORDER BY position",
	[SPOOL_Q_CLAIM_MARK] = "UPDATE messages SET claimed = 1 WHERE id = ?1",
	[SPOOL_Q_MSG_GET] = "SELECT claimed FROM messages WHERE id = ?1",
	[SPOOL_Q_ATTEMPT] =
		"INSERT INTO attempts (msg_id, recipient, time, route, remote_host, remote_ip,"
		" tls, reply, result)"
		" SELECT msg_id, address, ?3, ?4, ?5, ?6, ?7, ?8, ?9 FROM recipients"
		" WHERE msg_id = ?1 AND position = ?2 AND state IN ('queued', 'deferred')",
	[SPOOL_Q_RCPT_SET] =
		"UPDATE recipients SET state = ?3, attempts = attempts + 1, last_reply = ?4,"
		" last_attempt = ?5, next_attempt = coalesce(?6, next_attempt)"
		" WHERE msg_id = ?1 AND position = ?2",
	[SPOOL_Q_PENDING] =
		"SELECT min(next_attempt) FROM recipients"
		" WHERE msg_id = ?1 AND state IN ('queued', 'deferred')",
	[SPOOL_Q_MSG_SET] =
		"UPDATE messages SET next_attempt = ?2, claimed = 0,"
		" delay_notified = (delay_notified OR ?3) WHERE id = ?1",
	[SPOOL_Q_DEL_RCPTS] = "DELETE FROM recipients WHERE msg_id = ?1",
	[SPOOL_Q_DEL_ATTEMPTS] = "DELETE FROM attempts WHERE msg_id = ?1",
	[SPOOL_Q_DEL_MSG] = "DELETE FROM messages WHERE id = ?1 RETURNING body_seg, body_off, size, body_crc",
	[SPOOL_Q_NEXT] =
		"SELECT next_attempt FROM messages INDEXED BY messages_due"
		" WHERE claimed = 0 ORDER BY next_attempt LIMIT 1",
	[SPOOL_Q_BODY_DEFER] = "UPDATE messages SET next_attempt = ?2 WHERE id = ?1",
};

/* The recipients.state and attempts.result strings (spool_admin shows them). */
const struct name_code spool_rcpt_state_names[] = {
	{ "queued", SPOOL_RCPT_QUEUED }, { "deferred", SPOOL_RCPT_DEFERRED },
	{ "delivered", SPOOL_RCPT_DELIVERED }, { "bounced", SPOOL_RCPT_BOUNCED }, { NULL, -1 },
};

/* reset repeats the step's error, which the caller already holds;
 * clear_bindings always returns SQLITE_OK. */
static void q_reset(sqlite3_stmt *st)
{
	(void)sqlite3_reset(st);
	(void)sqlite3_clear_bindings(st);
}

static const char *q_text(sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);
	return s ? (const char *)s : "";
}

/* --- storage thread: claim ----------------------------------------------- */

/* The segment reference in columns i.. (seg, off, len, crc); seg 0: inline. */
static struct spool_body_ref q_body_ref(sqlite3_stmt *st, int i)
{
	struct spool_body_ref b = { 0, 0, 0, 0 };
	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		return b;
	b.seg = sqlite3_column_int64(st, i);
	b.off = sqlite3_column_int64(st, i + 1);
	b.len = sqlite3_column_int64(st, i + 2);
	b.crc = (uint32_t)sqlite3_column_int64(st, i + 3);
	return b;
}

/* The body of the row: inline, or one pread of its segment, checked. */
static char *q_body(struct spool *sp, sqlite3_stmt *st, size_t *len, char *why, size_t whylen)
{
	struct spool_body_ref ref = q_body_ref(st, 12);
	if (ref.seg) {
		*len = (size_t)ref.len;
		return spool_segs_read(sp->segs, &ref, why, whylen);
	}
	const void *body = sqlite3_column_blob(st, 9);
	*len = body ? (size_t)sqlite3_column_bytes(st, 9) : 0;
	char *b = xmalloc(*len + 1);
	if (*len)
		memcpy(b, body, *len);
	b[*len] = '\0';
	return b;
}

/* A claimed row; NULL (with why) when its body cannot be read. */
static struct spool_due_msg *q_due_row(struct spool *sp, sqlite3_stmt *st, char *why, size_t whylen)
{
	size_t body_len = 0;
	char *body = q_body(sp, st, &body_len, why, whylen);
	if (body == NULL)
		return NULL;
	struct spool_due_msg *m = xcalloc(1, sizeof(*m));
	m->body = body;
	m->body_len = body_len;
	const char *id = q_text(st, 0);
	size_t idlen = strnlen(id, SPOOL_ID_LEN);
	memcpy(m->id, id, idlen);
	m->sender = xstrdup(q_text(st, 1));
	m->created = (time_t)sqlite3_column_int64(st, 2);
	m->body_8bit = sqlite3_column_int(st, 3) != 0;
	m->smtputf8 = sqlite3_column_int(st, 4) != 0;
	m->delay_notified = sqlite3_column_int(st, 5) != 0;
	m->auth_user = sqlite3_column_type(st, 6) == SQLITE_NULL ? NULL : xstrdup(q_text(st, 6));
	m->msg_class = xstrdup(q_text(st, 7));
	m->route = sqlite3_column_type(st, 8) == SQLITE_NULL ? NULL : xstrdup(q_text(st, 8));
	m->tenant = sqlite3_column_type(st, 10) == SQLITE_NULL ? NULL : xstrdup(q_text(st, 10));
	m->scan_action = sqlite3_column_type(st, 11) == SQLITE_NULL ? NULL : xstrdup(q_text(st, 11));
	return m;
}

static void q_add_rcpt(struct spool_due_msg *m, sqlite3_stmt *st, size_t *cap)
{
	if (m->nrcpts == *cap) {
		*cap = *cap ? 2 * *cap : 4;
		m->rcpts = xreallocarray(m->rcpts, *cap, sizeof(*m->rcpts));
	}
	struct spool_due_rcpt *r = &m->rcpts[m->nrcpts++];
	r->position = sqlite3_column_int(st, 0);
	r->address = xstrdup(q_text(st, 1));
	r->attempts = sqlite3_column_int(st, 2);
}

/* The due recipients of m. */
static int q_due_rcpts(struct spool *sp, struct spool_due_msg *m, time_t now)
{
	sqlite3_stmt *st = sp->q[SPOOL_Q_CLAIM_RCPTS];
	size_t cap = 0;
	int rc = spool_bind_text(st, 1, m->id);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 2, (sqlite3_int64)now);
	if (rc == SQLITE_OK)
		while ((rc = sqlite3_step(st)) == SQLITE_ROW)
			q_add_rcpt(m, st, &cap);
	q_reset(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Runs a statement whose only parameter is ?1 = id. */
static int q_exec_id(struct spool *sp, enum spool_qstmt which, const char *id)
{
	sqlite3_stmt *st = sp->q[which];
	return spool_step_done(st, spool_bind_text(st, 1, id));
}

/* Deletes the row; a body in a segment is released once the transaction
 * has committed (q_txn), never before. */
static int q_delete_msg(struct spool *sp, const char *id)
{
	sqlite3_stmt *st = sp->q[SPOOL_Q_DEL_MSG];
	int rc = spool_bind_text(st, 1, id);
	while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct spool_body_ref ref = q_body_ref(st, 0);
		rc = SQLITE_OK;
		if (ref.seg == 0)
			continue;
		if (sp->ngone == sp->gone_cap) {
			sp->gone_cap = sp->gone_cap ? 2 * sp->gone_cap : 16;
			sp->gone = xreallocarray(sp->gone, sp->gone_cap, sizeof(*sp->gone));
		}
		sp->gone[sp->ngone++] = ref;
	}
	q_reset(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int q_delete(struct spool *sp, const char *id)
{
	int rc = q_exec_id(sp, SPOOL_Q_DEL_RCPTS, id);
	if (rc == SQLITE_OK)
		rc = q_exec_id(sp, SPOOL_Q_DEL_ATTEMPTS, id);
	if (rc == SQLITE_OK)
		rc = q_delete_msg(sp, id);
	return rc;
}

/* The earliest next_attempt of id's pending recipients; *any = 0 when
 * none is pending. */
static int q_pending(struct spool *sp, const char *id, sqlite3_int64 *next, int *any)
{
	sqlite3_stmt *st = sp->q[SPOOL_Q_PENDING];
	int rc = spool_bind_text(st, 1, id);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*any = sqlite3_column_type(st, 0) != SQLITE_NULL;
		*next = sqlite3_column_int64(st, 0);
		rc = SQLITE_OK;
	}
	q_reset(st);
	return rc;
}

/* After recipients changed: the message's next_attempt becomes the earliest
 * of its pending recipients and its claim is released; with no recipient
 * pending, the message leaves the spool (*removed = 1). */
static int q_settle(struct spool *sp, const char *id, int delay_notified, int *removed)
{
	sqlite3_int64 next = 0;
	int any = 0;
	int rc = q_pending(sp, id, &next, &any);
	if (rc != SQLITE_OK)
		return rc;
	if (!any) {
		*removed = 1;
		return q_delete(sp, id);
	}
	sqlite3_stmt *st = sp->q[SPOOL_Q_MSG_SET];
	rc = spool_bind_text(st, 1, id);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 2, next);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int(st, 3, delay_notified != 0);
	return spool_step_done(st, rc);
}

/* Claims m, or, when none of its recipients is due after all (the row's
 * next_attempt was stale), repairs the row and drops m (*keep = 0). */
static int q_claim_one(struct spool *sp, struct spool_due_msg *m, time_t now, int *keep)
{
	int removed = 0;
	int rc = q_due_rcpts(sp, m, now);
	*keep = rc == SQLITE_OK && m->nrcpts > 0;
	if (rc != SQLITE_OK)
		return rc;
	if (*keep)
		return q_exec_id(sp, SPOOL_Q_CLAIM_MARK, m->id);
	rc = q_settle(sp, m->id, 0, &removed);
	msg_warn("event=spool_repair qid=%s reason=\"no due recipient\" removed=%d", m->id, removed);
	return rc;
}

static int q_claim_each(struct spool *sp, struct spool_claim_op *c)
{
	size_t kept = 0, i;
	int rc = SQLITE_OK, keep;
	for (i = 0; i < c->n && rc == SQLITE_OK; i++) {
		struct spool_due_msg *m = c->msgs[i];
		rc = q_claim_one(sp, m, c->now, &keep);
		if (keep || rc != SQLITE_OK)
			c->msgs[kept++] = m;   /* on error discarded by the caller */
		else
			spool_due_free(m);
	}
	for (; i < c->n; i++)
		c->msgs[kept++] = c->msgs[i];
	c->n = kept;
	return rc;
}

/* A message whose body cannot be read is kept, not delivered: it is
 * said (qid and why) and put off for an hour, when it is tried again (the
 * file may have been restored); `outpost spool check` lists it. */
#define Q_BODY_RETRY 3600
static int q_body_bad(struct spool *sp, const char *id, const char *why, time_t now)
{
	char q[600];
	msg_warn("event=spool_body_unreadable qid=%s reason=%s action=\"kept, not delivered; retried in %ds: "
		 "restore the segment or see `outpost spool check`\"", id, log_quote(q, sizeof(q), why), Q_BODY_RETRY);
	sqlite3_stmt *st = sp->q[SPOOL_Q_BODY_DEFER];
	int rc = spool_bind_text(st, 1, id);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 2, (sqlite3_int64)(now + Q_BODY_RETRY));
	return spool_step_done(st, rc);
}

/* Reads one candidate row into c, or its id into *bad (with why). */
static void q_claim_row(struct spool *sp, sqlite3_stmt *st, struct spool_claim_op *c, size_t *cap,
			char (*bad)[SPOOL_ID_LEN + 1], char (*why)[200], size_t *nbad)
{
	struct spool_due_msg *m = q_due_row(sp, st, why[*nbad], sizeof(why[*nbad]));
	if (m == NULL) {
		if (*nbad < 8) {   /* more wait for the next claim */
			const char *id = q_text(st, 0);
			size_t idlen = strnlen(id, SPOOL_ID_LEN);
			memcpy(bad[*nbad], id, idlen);
			bad[(*nbad)++][idlen] = '\0';
		}
		return;
	}
	if (c->n == *cap) {
		*cap = *cap ? 2 * *cap : 16;
		c->msgs = xreallocarray(c->msgs, *cap, sizeof(*c->msgs));
	}
	c->msgs[c->n++] = m;
}

/* The candidates are read to the end before any row is changed: the
 * claim updates the very index the select walks. */
static int q_claim(struct spool *sp, struct spool_claim_op *c)
{
	sqlite3_stmt *st = sp->q[SPOOL_Q_CLAIM_SEL];
	char bad[9][SPOOL_ID_LEN + 1], why[9][200];
	size_t cap = 0, nbad = 0;
	sqlite3_int64 lim = c->limit > (size_t)INT64_MAX ? INT64_MAX : (sqlite3_int64)c->limit;
	if (!sp->reserve_held && lim > SPOOL_LOW_SPACE_CLAIM)
		lim = SPOOL_LOW_SPACE_CLAIM;   /* small transactions: each fits what the reserve freed */
	int rc = sqlite3_bind_int64(st, 1, (sqlite3_int64)c->now);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 2, lim);
	while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		q_claim_row(sp, st, c, &cap, bad, why, &nbad);
		rc = SQLITE_OK;
	}
	q_reset(st);
	if (rc != SQLITE_DONE)
		return rc;
	rc = SQLITE_OK;
	for (size_t i = 0; i < nbad && rc == SQLITE_OK; i++)
		rc = q_body_bad(sp, bad[i], why[i], c->now);
	return rc == SQLITE_OK ? q_claim_each(sp, c) : rc;
}

/* --- storage thread: record ---------------------------------------------- */

static int q_msg_exists(struct spool *sp, const char *id, char *reason, size_t len)
{
	sqlite3_stmt *st = sp->q[SPOOL_Q_MSG_GET];
	int rc = spool_bind_text(st, 1, id);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	q_reset(st);
	if (rc == SQLITE_ROW)
		return SQLITE_OK;
	if (rc != SQLITE_DONE)
		return rc;
	set_error(reason, len, "no message %s in the spool", id);
	return Q_REFUSED;
}

static int q_bind_attempt(sqlite3_stmt *st, const struct spool_record_op *op,
			  const struct spool_outcome *o)
{
	int rc = spool_bind_text(st, 1, op->id);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int(st, 2, o->position);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 3, (sqlite3_int64)op->now);
	if (rc == SQLITE_OK)
		rc = spool_bind_text(st, 4, o->route);
	if (rc == SQLITE_OK)
		rc = spool_bind_text(st, 5, o->host);
	if (rc == SQLITE_OK)
		rc = spool_bind_text(st, 6, o->ip);
	if (rc == SQLITE_OK)
		rc = spool_bind_text(st, 7, o->tls);
	if (rc == SQLITE_OK)
		rc = spool_bind_text(st, 8, o->reply);
	if (rc == SQLITE_OK)
		rc = spool_bind_text(st, 9, str_name_code(spool_rcpt_state_names, (int)o->state));
	return rc;
}

static int q_set_rcpt(struct spool *sp, const struct spool_record_op *op,
		      const struct spool_outcome *o)
{
	sqlite3_stmt *st = sp->q[SPOOL_Q_RCPT_SET];
	int rc = spool_bind_text(st, 1, op->id);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int(st, 2, o->position);
	if (rc == SQLITE_OK)
		rc = spool_bind_text(st, 3, str_name_code(spool_rcpt_state_names, (int)o->state));
	if (rc == SQLITE_OK)
		rc = spool_bind_text(st, 4, o->reply);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 5, (sqlite3_int64)op->now);
	if (rc == SQLITE_OK)
		rc = o->state == SPOOL_RCPT_DEFERRED
			? sqlite3_bind_int64(st, 6, (sqlite3_int64)o->next_attempt)
			: sqlite3_bind_null(st, 6);
	return spool_step_done(st, rc);
}

/* One recipient's outcome: its attempts row (which names the recipient,
 * so it is copied from the recipients row), then its new state. */
static int q_outcome(struct spool *sp, const struct spool_record_op *op,
		     const struct spool_outcome *o, char *reason, size_t len)
{
	if (o->state != SPOOL_RCPT_DEFERRED && o->state != SPOOL_RCPT_DELIVERED &&
	    o->state != SPOOL_RCPT_BOUNCED) {
		set_error(reason, len, "bad outcome state %d for %s", (int)o->state, op->id);
		return Q_REFUSED;
	}
	sqlite3_stmt *st = sp->q[SPOOL_Q_ATTEMPT];
	int rc = spool_step_done(st, q_bind_attempt(st, op, o));
	if (rc != SQLITE_OK)
		return rc;
	if (sqlite3_changes(sp->db) != 1) {
		set_error(reason, len, "no pending recipient %d in %s", o->position, op->id);
		return Q_REFUSED;
	}
	rc = spool_obs_outcome(sp, op, o);
	return rc == SQLITE_OK ? q_set_rcpt(sp, op, o) : rc;
}

static int q_record(struct spool *sp, struct spool_req *r, char *reason, size_t len)
{
	struct spool_record_op *op = &r->u.record;
	int rc = q_msg_exists(sp, op->id, reason, len);
	for (size_t i = 0; i < op->n && rc == SQLITE_OK; i++)
		rc = q_outcome(sp, op, &op->o[i], reason, len);
	if (rc == SQLITE_OK)
		rc = q_settle(sp, op->id, op->delay_notified, &op->removed);
	if (rc == SQLITE_OK && r->msg)
		rc = spool_insert_msg(sp, r->msg);
	if (rc == SQLITE_OK && r->msg)
		rc = spool_insert_rcpts(sp, r->msg);
	return rc;
}

/* --- storage thread: next-due, transactions ------------------------------ */

static int q_next(struct spool *sp, struct spool_req *r)
{
	sqlite3_stmt *st = sp->q[SPOOL_Q_NEXT];
	int rc = sqlite3_step(st);
	sqlite3_int64 v = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	q_reset(st);
	if (rc == SQLITE_ROW)
		r->u.next_due = v > 0 ? (time_t)v : 1;   /* 0 means "none" */
	else
		r->u.next_due = 0;
	/* after failed claims, due work waits out the back-off (q_claim_result) */
	if (r->u.next_due && r->u.next_due < sp->claim_retry_at)
		r->u.next_due = sp->claim_retry_at;
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int q_op(struct spool *sp, struct spool_req *r, char *reason, size_t len)
{
	switch (r->kind) {
	case SPOOL_REQ_CLAIM:
		return q_claim(sp, &r->u.claim);
	case SPOOL_REQ_RECORD:
		return q_record(sp, r, reason, len);
	case SPOOL_REQ_NEXT:
		return q_next(sp, r);
	case SPOOL_REQ_HEALTH_SAVE:
	case SPOOL_REQ_HEALTH_LOAD:
		return spool_health_run(sp, r);
	case SPOOL_REQ_EVENT:
		return spool_obs_event_run(sp, &r->u.event);
	case SPOOL_REQ_REJECTS:
		return spool_obs_rejects_run(sp, &r->u.rejects);
	case SPOOL_REQ_COMMIT:
		break;
	}
	msg_panic("event=spool_bug reason=\"commit in the queue ops\"");
}

/* Forgets what a rolled-back transaction produced for r. */
static void q_discard(struct spool_req *r)
{
	if (r->kind == SPOOL_REQ_CLAIM) {
		for (size_t i = 0; i < r->u.claim.n; i++)
			spool_due_free(r->u.claim.msgs[i]);
		free(r->u.claim.msgs);
		r->u.claim.msgs = NULL;
		r->u.claim.n = 0;
	} else if (r->kind == SPOOL_REQ_RECORD) {
		r->u.record.removed = 0;
	} else if (r->kind == SPOOL_REQ_HEALTH_LOAD) {
		spool_health_rows_free(r->u.health.rows, r->u.health.n);
		r->u.health.rows = NULL;
		r->u.health.n = 0;
	} else if (r->kind == SPOOL_REQ_NEXT) {
		r->u.next_due = 0;
	}
}

/* Whether one of the n requests at r needs its COMMIT durable when it
 * returns.  Claims, attempts' records, next-due and refusal counts do not:
 * a power loss before the next durable COMMIT (the next accepted message's,
 * or a checkpoint) rolls them back together, so a delivery is made again,
 * never lost, as with Postfix, which does not fsync a queue file's
 * "done" marks either.  (A crash of outpostd alone loses nothing: the
 * frames are in the kernel's cache.)  Events and route health are kept
 * as soon as they are said. */
static int q_needs_sync(const struct spool_req *r, size_t n)
{
	for (size_t i = 0; i < n; i++, r = r->next)
		if (r->kind == SPOOL_REQ_EVENT || r->kind == SPOOL_REQ_HEALTH_SAVE)
			return 1;
	return 0;
}

/* One transaction for the n requests starting at r (see spool.c's
 * spool_txn); on failure every result is discarded. */
static int q_txn(struct spool *sp, struct spool_req *r, size_t n, char *reason, size_t len,
		 int *began)
{
	int rc = spool_begin(sp, q_needs_sync(r, n));
	*began = rc == SQLITE_OK;
	struct spool_req *p = r;
	sp->ngone = 0;
	for (size_t i = 0; i < n && rc == SQLITE_OK; i++, p = p->next)
		rc = q_op(sp, p, reason, len);
	rc = spool_end(sp, rc, reason, len);   /* Q_REFUSED (< 0): q_op said why */
	if (rc == SQLITE_OK) {
		for (size_t i = 0; i < sp->ngone; i++)   /* the rows are gone for good: their bodies too */
			spool_segs_release(sp->segs, &sp->gone[i]);
		sp->ngone = 0;
		return SQLITE_OK;
	}
	sp->ngone = 0;
	p = r;
	for (size_t i = 0; i < n; i++, p = p->next)
		q_discard(p);
	return rc;
}

static const char *const q_ops[] = {
	[SPOOL_REQ_COMMIT] = "commit", [SPOOL_REQ_CLAIM] = "claim",
	[SPOOL_REQ_RECORD] = "record", [SPOOL_REQ_NEXT] = "next_due",
	[SPOOL_REQ_HEALTH_SAVE] = "health_save", [SPOOL_REQ_HEALTH_LOAD] = "health_load",
	[SPOOL_REQ_EVENT] = "event", [SPOOL_REQ_REJECTS] = "rejects",
};

/* Says how often the error being counted came back since its line. */
static void q_errlog_flush(struct spool *sp)
{
	char q[2 * SPOOL_REASON_LEN];
	if (sp->errlog.repeated)
		msg_warn("event=spool_error qid=- op=%s reason=%s repeated=%u seconds=%lld", sp->errlog.op,
			 log_quote(q, sizeof(q), sp->errlog.reason), sp->errlog.repeated,
			 (long long)(time(NULL) - sp->errlog.since));
	sp->errlog.repeated = 0;
	sp->errlog.key[0] = '\0';
}

/* One line per error; the same error again (same op and reason, within a
 * minute) is counted and said once as repeated=N, so a failing spool
 * does not flood the log. */
static void q_log_error(struct spool *sp, const struct spool_req *r, const char *id)
{
	char q[2 * SPOOL_REASON_LEN], key[sizeof(sp->errlog.key)];
	time_t now = time(NULL);
	int n = snprintf(key, sizeof(key), "%s %s", q_ops[r->kind], r->reason);
	if (n < 0)
		key[0] = '\0';   /* a log key: cut is fine */
	if (strcmp(key, sp->errlog.key) == 0 && now - sp->errlog.since < 60) {
		sp->errlog.repeated++;
		return;
	}
	q_errlog_flush(sp);
	msg_warn("event=spool_error qid=%s op=%s reason=%s", id, q_ops[r->kind],
		 log_quote(q, sizeof(q), r->reason));
	memcpy(sp->errlog.key, key, sizeof(key));
	snprintf(sp->errlog.op, sizeof(sp->errlog.op), "%s", q_ops[r->kind]);
	memcpy(sp->errlog.reason, r->reason, sizeof(sp->errlog.reason));
	sp->errlog.since = now;
}

/* Claims that fail back off (1, 2, 4 ... 60 s): next_due answers no
 * sooner, so the scheduler does not spin on a spool that cannot write. */
static void q_claim_result(struct spool *sp, const struct spool_req *r)
{
	if (r->kind != SPOOL_REQ_CLAIM)
		return;
	if (r->ok) {
		if (sp->claim_failures)
			msg_info("event=spool_recovered op=claim failures=%u", sp->claim_failures);
		sp->claim_failures = 0;
		sp->claim_retry_at = 0;
		return;
	}
	unsigned shift = sp->claim_failures < 6 ? sp->claim_failures : 6;
	long delay = 1L << shift;
	sp->claim_failures++;
	sp->claim_retry_at = time(NULL) + (delay > 60 ? 60 : delay);
}

static void q_log(struct spool *sp, const struct spool_req *r)
{
	char extra[64];
	const char *id = r->kind == SPOOL_REQ_RECORD ? r->u.record.id : "-";
	if (r->ok && sp->errlog.key[0] && strncmp(sp->errlog.key, q_ops[r->kind], strlen(q_ops[r->kind])) == 0)
		q_errlog_flush(sp);   /* that operation works again */
	q_claim_result(sp, r);
	if (!r->ok)
		return q_log_error(sp, r, id);
	if (r->kind == SPOOL_REQ_CLAIM)
		msg_debug("event=spool_claim count=%zu", r->u.claim.n);
	if (r->kind != SPOOL_REQ_RECORD)
		return;
	if (r->u.record.removed)
		msg_info("event=removed qid=%s", id);
	int n = snprintf(extra, sizeof(extra), " dsn_for=%s", id);
	if (n < 0 || (size_t)n >= sizeof(extra))
		msg_panic("event=spool_bug reason=\"log text truncated\"");
	if (r->msg)
		spool_log_queued(r->msg, extra);
}

void spool_queue_run(struct spool *sp, struct spool_req *ops)
{
	char reason[SPOOL_REASON_LEN];
	size_t n = 0;
	int began;
	for (struct spool_req *r = ops; r; r = r->next)
		n++;
	int rc = q_txn(sp, ops, n, reason, sizeof(reason), &began);
	/* a full disk: these writes make room, so they may use the reserve */
	if (spool_rc_full(rc) && spool_reserve_give_up(sp, q_ops[ops->kind]))
		rc = q_txn(sp, ops, n, reason, sizeof(reason), &began);
	if (rc == SQLITE_OK) {
		for (struct spool_req *r = ops; r; r = r->next)
			r->ok = 1;
	} else if (n == 1 || !began) {
		for (struct spool_req *r = ops; r; r = r->next)
			memcpy(r->reason, reason, sizeof(r->reason));
	} else {
		spool_each_alone(sp, ops, q_txn);
	}
	for (struct spool_req *r = ops; r; r = r->next) {
		q_log(sp, r);
		spool_msg_free(r->msg);
		r->msg = NULL;
	}
}

int spool_queue_prepare(struct spool *sp, char *err, size_t errlen)
{
	for (int i = 0; i < SPOOL_Q_COUNT; i++) {
		if (sqlite3_prepare_v3(sp->db, spool_qsql[i], -1, SQLITE_PREPARE_PERSISTENT,
				       &sp->q[i], NULL) != SQLITE_OK) {
			set_error(err, errlen, "prepare %s: %s", spool_qsql[i], sqlite3_errmsg(sp->db));
			return -1;
		}
	}
	return 0;
}

void spool_queue_finalize(struct spool *sp)
{
	/* finalize returns the last step error, already reported */
	for (int i = 0; i < SPOOL_Q_COUNT; i++)
		sqlite3_finalize(sp->q[i]);
}

/* --- loop thread --------------------------------------------------------- */

static void q_free_outcomes(struct spool_record_op *op)
{
	for (size_t i = 0; i < op->n; i++) {
		struct spool_outcome *o = &op->o[i];
		free((char *)o->reply);
		free((char *)o->route);
		free((char *)o->host);
		free((char *)o->ip);
		free((char *)o->tls);
	}
	free(op->o);
}

void spool_queue_finish(struct spool_req *r, int call)
{
	struct spool_claim_op *c = &r->u.claim;
	switch (r->kind) {
	case SPOOL_REQ_CLAIM:
		if (call && r->cb.due) {
			r->cb.due(r->arg, c->msgs, c->n);   /* the array and messages are its */
			break;
		}
		for (size_t i = 0; i < c->n; i++)
			spool_due_free(c->msgs[i]);
		free(c->msgs);
		break;
	case SPOOL_REQ_RECORD:
		if (call && r->cb.commit)
			r->cb.commit(r->arg, r->ok, r->ok ? "" : r->reason);
		q_free_outcomes(&r->u.record);
		break;
	case SPOOL_REQ_NEXT:
		if (call && r->cb.next)
			r->cb.next(r->arg, r->ok ? r->u.next_due : time(NULL) + Q_NEXT_RETRY);
		break;
	case SPOOL_REQ_HEALTH_SAVE:
	case SPOOL_REQ_HEALTH_LOAD:
		spool_health_finish(r, call);
		break;
	case SPOOL_REQ_EVENT:
		spool_obs_event_finish(r);
		break;
	case SPOOL_REQ_REJECTS:
		free(r->u.rejects.rows);
		break;
	case SPOOL_REQ_COMMIT:
		msg_panic("event=spool_bug reason=\"commit finished as a queue op\"");
	}
}

static struct spool_req *q_req(enum spool_req_kind kind, void *arg)
{
	struct spool_req *r = xcalloc(1, sizeof(*r));
	r->kind = kind;
	r->arg = arg;
	return r;
}

void spool_claim_due(struct spool *sp, time_t now, size_t limit, spool_due_cb *cb, void *arg)
{
	struct spool_req *r = q_req(SPOOL_REQ_CLAIM, arg);
	r->cb.due = cb;
	r->u.claim.now = now;
	r->u.claim.limit = limit;
	spool_enqueue(sp, r);
}

static const char *q_dup(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

void spool_record(struct spool *sp, const char *id, const struct spool_outcome *o, size_t n,
		  int delay_notified, struct spool_msg *dsn, spool_commit_cb *cb, void *arg)
{
	struct spool_req *r = q_req(SPOOL_REQ_RECORD, arg);
	struct spool_record_op *op = &r->u.record;
	int len = snprintf(op->id, sizeof(op->id), "%s", id);
	if (len < 0 || (size_t)len >= sizeof(op->id))
		msg_panic("event=spool_bug reason=\"record of a bad queue id\"");
	r->cb.commit = cb;
	op->o = xcalloc(n ? n : 1, sizeof(*op->o));
	op->n = n;
	for (size_t i = 0; i < n; i++) {
		op->o[i] = o[i];
		op->o[i].reply = q_dup(o[i].reply);
		op->o[i].route = q_dup(o[i].route);
		op->o[i].host = q_dup(o[i].host);
		op->o[i].ip = q_dup(o[i].ip);
		op->o[i].tls = q_dup(o[i].tls);
	}
	op->delay_notified = delay_notified;
	op->now = time(NULL);
	if (dsn && dsn->id[0] == '\0')
		spool_id_new(dsn->id);
	if (dsn && dsn->created == 0)
		dsn->created = op->now;
	r->msg = dsn;
	spool_enqueue(sp, r);
}

void spool_next_due(struct spool *sp, spool_next_cb *cb, void *arg)
{
	struct spool_req *r = q_req(SPOOL_REQ_NEXT, arg);
	r->cb.next = cb;
	spool_enqueue(sp, r);
}

void spool_due_free(struct spool_due_msg *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->nrcpts; i++)
		free(m->rcpts[i].address);
	free(m->rcpts);
	free(m->sender);
	free(m->auth_user);
	free(m->msg_class);
	free(m->tenant);
	free(m->scan_action);
	free(m->route);
	free(m->body);
	free(m);
}
