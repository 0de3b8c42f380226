/*
 * spool_obs: the spool's gauges and statistics (spool_obs.h): the gauges
 * read by the storage thread after each round, the statistics written by
 * it inside the transactions that commit and record messages.
 */
#include "spool/spool_obs.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/name_code.h"
#include "core/xmalloc.h"
#include "spool/spool_int.h"

static const char *const obs_sql[SPOOL_OBS_COUNT] = {
	[SPOOL_OBS_COUNT_MSGS] = "SELECT messages FROM queue_totals WHERE id = 1",
	[SPOOL_OBS_OLDEST] = "SELECT created FROM messages ORDER BY id LIMIT 1",
	[SPOOL_OBS_PAGES] = "SELECT page_count * page_size FROM pragma_page_count, pragma_page_size",
	[SPOOL_OBS_RECEIVED] =
		("INSERT INTO stats_minute VALUES (?1 / 60, '', 'received', '', '', ?2, ?4, 1, ?3, 0, 0)"
		" ON CONFLICT (minute, route, result, reason, domain, sender, tenant)"
		" DO UPDATE SET count = count + 1, bytes = bytes + excluded.bytes"),
	[SPOOL_OBS_RECEIVED_EVENT] =
		("INSERT INTO stats_events (time, event, qid, detail) VALUES (?1, 'received', ?2, ?3)"),
	[SPOOL_OBS_OUTCOME] =
		("INSERT INTO stats_minute"
		" SELECT ?1 / 60, ?3, ?4, ?5, lower(substr(r.address, instr(r.address, '@') + 1)), m.sender,"
		"  coalesce(m.tenant, ''), 1, m.size, max(?1 - m.created, 0), max(?1 - m.created, 0)"
		" FROM messages m JOIN recipients r ON r.msg_id = m.id WHERE m.id = ?2 AND r.position = ?6"
		" ON CONFLICT (minute, route, result, reason, domain, sender, tenant)"
		" DO UPDATE SET count = count + 1, bytes = bytes + excluded.bytes,"
		"  delay_sum = delay_sum + excluded.delay_sum, delay_max = max(delay_max, excluded.delay_max)"),
	[SPOOL_OBS_OUTCOME_EVENT] =
		("INSERT INTO stats_events (time, event, qid, route, rcpt, detail)"
		" SELECT ?1, ?4, ?2, ?3, address, ?7 FROM recipients WHERE msg_id = ?2 AND position = ?6"),
	[SPOOL_OBS_PRUNE_EVENTS] = "DELETE FROM stats_events WHERE id <= min(?1,"
		" coalesce((SELECT min(last_id) FROM webhook_cursor), ?1))",
	[SPOOL_OBS_PRUNE_MINUTES] = "DELETE FROM stats_minute WHERE minute < ?1",
	[SPOOL_OBS_EVENT] = "INSERT INTO stats_events (time, event, qid, route, rcpt, detail)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[SPOOL_OBS_REJECTED] = "INSERT INTO stats_minute VALUES (?1, '', 'rejected', ?2, '', '', '', ?3, 0, 0, 0)"
		" ON CONFLICT (minute, route, result, reason, domain, sender, tenant)"
		" DO UPDATE SET count = count + excluded.count",
};

int spool_obs_prepare(struct spool *sp, char *err, size_t errlen)
{
	for (int i = 0; i < SPOOL_OBS_COUNT; i++)
		if (sqlite3_prepare_v3(sp->db, obs_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &sp->obs[i],
				       NULL) != SQLITE_OK)
			return set_error(err, errlen, "prepare: %s", sqlite3_errmsg(sp->db));
	return 0;
}

void spool_obs_finalize(struct spool *sp)
{
	for (int i = 0; i < SPOOL_OBS_COUNT; i++)
		sqlite3_finalize(sp->obs[i]);
}

/* One integer from statement st; 0 when it has no row. */
static sqlite3_int64 obs_int(sqlite3_stmt *st)
{
	sqlite3_int64 v = 0;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return v;
}

void spool_obs_read(struct spool *sp, struct spool_gauges *g)
{
	sqlite3_int64 n = obs_int(sp->obs[SPOOL_OBS_COUNT_MSGS]);
	g->messages = n > 0 ? (uint64_t)n : 0;
	g->oldest = (time_t)obs_int(sp->obs[SPOOL_OBS_OLDEST]);
	n = obs_int(sp->obs[SPOOL_OBS_PAGES]);
	g->bytes = n > 0 ? (uint64_t)n : 0;
}

void spool_obs_committed(struct spool *sp, const struct spool_gauges *g)
{
	sp->txn_gauges = *g;
	sp->txn_gauges_fresh = 1;
}

void spool_obs_refresh(struct spool *sp)
{
	struct spool_gauges g;
	if (sp->txn_gauges_fresh)   /* read inside the round's last commit: no read transaction */
		g = sp->txn_gauges;
	else                        /* nothing committed: three reads, one read transaction each */
		spool_obs_read(sp, &g);
	sp->txn_gauges_fresh = 0;
	long long segs = spool_segs_bytes(sp->segs);   /* the database and the body segments (as of now) */
	g.bytes += segs > 0 ? (uint64_t)segs : 0;
	pthread_mutex_lock(&sp->mu);
	sp->gauges = g;
	pthread_mutex_unlock(&sp->mu);
}

void spool_gauges(struct spool *sp, struct spool_gauges *g)
{
	pthread_mutex_lock(&sp->mu);
	*g = sp->gauges;
	pthread_mutex_unlock(&sp->mu);
}

/* The enhanced status code of a reply ("550 5.1.1 text", "4.4.1 text")
 * into out (16 bytes), "" when it has none. */
static void reply_enh(const char *reply, char *out)
{
	const char *p = reply ? reply : "";
	size_t n;
	out[0] = '\0';
	if (strspn(p, "0123456789") == 3 && (p[3] == ' ' || p[3] == '-'))
		p += 4;
	if ((p[0] != '2' && p[0] != '4' && p[0] != '5') || p[1] != '.')
		return;
	n = 2 + strspn(p + 2, "0123456789");
	if (n == 2 || n > 5 || p[n] != '.')
		return;
	size_t m = strspn(p + n + 1, "0123456789");
	if (m == 0 || m > 3 || (p[n + 1 + m] != '\0' && p[n + 1 + m] != ' '))
		return;
	memcpy(out, p, n + 1 + m);
	out[n + 1 + m] = '\0';
}

static int obs_step(sqlite3_stmt *st, int rc)
{
	return spool_step_done(st, rc);
}

/* Raw events beyond the last SPOOL_OBS_EVENTS go, one by one as new ones
 * come; rollups older than SPOOL_OBS_DAYS go when the minute turns. */
static int obs_prune(struct spool *sp, time_t now)
{
	sqlite3_int64 last = sqlite3_last_insert_rowid(sp->db);
	int rc = SQLITE_OK;
	if (last > SPOOL_OBS_EVENTS) {
		sqlite3_stmt *st = sp->obs[SPOOL_OBS_PRUNE_EVENTS];
		rc = obs_step(st, sqlite3_bind_int64(st, 1, last - SPOOL_OBS_EVENTS));
	}
	long long minute = (long long)now / 60;
	if (rc == SQLITE_OK && minute != sp->obs_minute) {
		sqlite3_stmt *st = sp->obs[SPOOL_OBS_PRUNE_MINUTES];
		rc = obs_step(st, sqlite3_bind_int64(st, 1, minute - SPOOL_OBS_DAYS * 1440LL));
		if (rc == SQLITE_OK)
			sp->obs_minute = minute;
	}
	return rc;
}

int spool_obs_received(struct spool *sp, const struct spool_msg *m)
{
	char detail[1200];
	sqlite3_stmt *st = sp->obs[SPOOL_OBS_RECEIVED];
	int rc = sqlite3_bind_int64(st, 1, (sqlite3_int64)m->created);
	if (rc == SQLITE_OK)
		rc = spool_bind_text(st, 2, m->sender ? m->sender : "");
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 3, (sqlite3_int64)m->body_len);
	if (rc == SQLITE_OK)
		rc = spool_bind_text(st, 4, m->tenant ? m->tenant : "");
	if ((rc = obs_step(st, rc)) != SQLITE_OK)
		return rc;
	int n = snprintf(detail, sizeof(detail), "from=<%s> nrcpt=%zu size=%zu user=%s tenant=%s client=%s",
			 m->sender ? m->sender : "", m->nrcpts, m->body_len, m->auth_user ? m->auth_user : "-",
			 m->tenant ? m->tenant : "-", m->client_addr ? m->client_addr : "-");
	if (n < 0 || (size_t)n >= sizeof(detail))
		detail[sizeof(detail) - 1] = '\0';   /* a cut detail is still a detail */
	st = sp->obs[SPOOL_OBS_RECEIVED_EVENT];
	rc = sqlite3_bind_int64(st, 1, (sqlite3_int64)m->created);
	if (rc == SQLITE_OK)
		rc = spool_bind_text(st, 2, m->id);
	if (rc == SQLITE_OK)
		rc = spool_bind_text(st, 3, detail);
	if ((rc = obs_step(st, rc)) != SQLITE_OK)
		return rc;
	return obs_prune(sp, m->created);
}

/* Binds what both outcome statements take: ?1 time, ?2 qid, ?3 route,
 * ?4 result, ?5 enhanced code, ?6 position (and ?7 the reply). */
static int bind_outcome(sqlite3_stmt *st, const struct spool_record_op *op, const struct spool_outcome *o,
			const char *enh, int with_reply)
{
	int rc = sqlite3_bind_int64(st, 1, (sqlite3_int64)op->now);
	if (rc == SQLITE_OK)
		rc = spool_bind_text(st, 2, op->id);
	if (rc == SQLITE_OK)
		rc = spool_bind_text(st, 3, o->route ? o->route : "");
	if (rc == SQLITE_OK)
		rc = spool_bind_text(st, 4, str_name_code(spool_rcpt_state_names, (int)o->state));
	if (rc == SQLITE_OK && !with_reply)
		rc = spool_bind_text(st, 5, enh);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int(st, 6, o->position);
	if (rc == SQLITE_OK && with_reply)
		rc = spool_bind_text(st, 7, o->reply ? o->reply : "");
	return rc;
}

int spool_obs_outcome(struct spool *sp, const struct spool_record_op *op, const struct spool_outcome *o)
{
	char enh[16];
	reply_enh(o->reply, enh);
	if (o->state == SPOOL_RCPT_DELIVERED)
		enh[0] = '\0';       /* 2.0.0 for every delivery says nothing */
	sqlite3_stmt *st = sp->obs[SPOOL_OBS_OUTCOME];
	int rc = obs_step(st, bind_outcome(st, op, o, enh, 0));
	if (rc != SQLITE_OK)
		return rc;
	st = sp->obs[SPOOL_OBS_OUTCOME_EVENT];
	if ((rc = obs_step(st, bind_outcome(st, op, o, enh, 1))) != SQLITE_OK)
		return rc;
	return obs_prune(sp, op->now);
}

int spool_obs_complaint(sqlite3 *db, time_t now, const char *route, const char *domain, const char *sender,
			const char *tenant)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, "INSERT INTO stats_minute VALUES (?1 / 60, ?2, 'complaint', '', lower(?3), ?4,"
				    " ?5, 1, 0, 0, 0) ON CONFLICT (minute, route, result, reason, domain, sender, tenant)"
				    " DO UPDATE SET count = count + 1", -1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 1, (sqlite3_int64)now);
	if (rc == SQLITE_OK)
		rc = spool_bind_text(st, 2, route ? route : "");
	if (rc == SQLITE_OK)
		rc = spool_bind_text(st, 3, domain ? domain : "");
	if (rc == SQLITE_OK)
		rc = spool_bind_text(st, 4, sender ? sender : "");
	if (rc == SQLITE_OK)
		rc = spool_bind_text(st, 5, tenant ? tenant : "");
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
	sqlite3_finalize(st);
	return rc;
}

/* NULL stays NULL (an SQL NULL, null in a webhook's JSON). */
static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

void spool_event(struct spool *sp, const char *event, const char *qid, const char *route, const char *rcpt,
		 const char *detail)
{
	struct spool_req *r = xcalloc(1, sizeof(*r));
	r->kind = SPOOL_REQ_EVENT;
	r->u.event = (struct spool_event_op){ time(NULL), xstrdup(event), dup_or_null(qid), dup_or_null(route),
					      dup_or_null(rcpt), dup_or_null(detail) };
	spool_enqueue(sp, r);
}

int spool_obs_event_run(struct spool *sp, const struct spool_event_op *op)
{
	sqlite3_stmt *st = sp->obs[SPOOL_OBS_EVENT];
	int rc = sqlite3_bind_int64(st, 1, (sqlite3_int64)op->time);
	const char *text[] = { op->event, op->qid, op->route, op->rcpt, op->detail };
	for (int i = 0; i < 5 && rc == SQLITE_OK; i++)
		rc = spool_bind_text(st, 2 + i, text[i]);   /* NULL: SQL NULL */
	if ((rc = obs_step(st, rc)) != SQLITE_OK)
		return rc;
	return obs_prune(sp, op->time);
}

void spool_obs_event_finish(struct spool_req *r)
{
	struct spool_event_op *op = &r->u.event;
	free(op->event);
	free(op->qid);
	free(op->route);
	free(op->rcpt);
	free(op->detail);
	memset(op, 0, sizeof(*op));
}

/* mu held: the row of (minute, reason); when the table is full (no flush
 * for a long while), the latest row of the reason, else the first row. */
static struct spool_rejection *rej_row(struct spool *sp, const char *reason, long long minute)
{
	struct spool_rejection *same_reason = NULL;
	for (size_t i = 0; i < sp->rej_n; i++) {
		struct spool_rejection *r = &sp->rej[i];
		if (strcmp(r->reason, reason) != 0)
			continue;
		if (r->minute == minute)
			return r;
		same_reason = r;
	}
	if (sp->rej_n == SPOOL_REJ_ROWS)
		return same_reason ? same_reason : &sp->rej[0];
	struct spool_rejection *r = &sp->rej[sp->rej_n++];
	r->minute = minute;
	r->count = 0;
	if (snprintf(r->reason, sizeof(r->reason), "%s", reason) >= (int)sizeof(r->reason))
		r->reason[sizeof(r->reason) - 1] = '\0';   /* reasons are short words: cannot happen */
	return r;
}

void spool_count_rejected(struct spool *sp, const char *reason, time_t now)
{
	pthread_mutex_lock(&sp->mu);
	rej_row(sp, reason && reason[0] ? reason : "other", (long long)now / 60)->count++;
	pthread_mutex_unlock(&sp->mu);
}

void spool_rejects_queue(struct spool *sp)
{
	if (sp->rej_n == 0 || sp->rej_queued)
		return;
	struct spool_req *r = xcalloc(1, sizeof(*r));
	r->kind = SPOOL_REQ_REJECTS;
	r->u.rejects.seq = ++sp->rej_seq;
	sp->rej_queued = 1;
	*sp->todo_tail = r;
	sp->todo_tail = &r->next;
}

void spool_flush_rejected(struct spool *sp)
{
	pthread_mutex_lock(&sp->mu);
	if (!sp->stopping) {
		spool_rejects_queue(sp);
		pthread_cond_signal(&sp->cv);
	}
	unsigned long long target = sp->rej_seq;
	while (sp->rej_done < target && !sp->stopping)
		pthread_cond_wait(&sp->idle_cv, &sp->mu);
	pthread_mutex_unlock(&sp->mu);
}

int spool_obs_rejects_run(struct spool *sp, struct spool_rejects_op *op)
{
	if (!op->taken) {
		pthread_mutex_lock(&sp->mu);
		op->n = sp->rej_n;
		op->rows = xmalloc((op->n ? op->n : 1) * sizeof(*op->rows));
		memcpy(op->rows, sp->rej, op->n * sizeof(*op->rows));
		sp->rej_n = 0;
		sp->rej_queued = 0;
		op->taken = 1;
		pthread_mutex_unlock(&sp->mu);
	}
	sqlite3_stmt *st = sp->obs[SPOOL_OBS_REJECTED];
	int rc = SQLITE_OK;
	for (size_t i = 0; i < op->n && rc == SQLITE_OK; i++) {
		rc = sqlite3_bind_int64(st, 1, op->rows[i].minute);
		if (rc == SQLITE_OK)
			rc = spool_bind_text(st, 2, op->rows[i].reason);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_int64(st, 3, (sqlite3_int64)op->rows[i].count);
		rc = obs_step(st, rc);
	}
	return rc;
}
