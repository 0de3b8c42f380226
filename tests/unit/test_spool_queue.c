/*
 * test_spool_queue: the scheduler's side of the spool through a real event
 * loop and storage thread: claims return due messages with only their due
 * recipients and are not returned twice, a restart clears claims, recorded
 * outcomes move recipients and messages (deferred, delivered, partial,
 * bounced with a DSN in the same transaction), next-due, bad records fail
 * alone, a version 1 spool upgrades in place, the statistics count per
 * tenant (outcomes and complaints), and a claim from a large spool walks
 * the index (its time is printed).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "tmpdir.h"

#include <event2/event.h>
#include <event2/thread.h>
#include <ftw.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "spool/spool.h"
#include "cli/queue_render.h"
#include "spool/spool_admin.h"
#include "spool/spool_obs.h"
#include "spool/spool_queue.h"
#include "spool/spool_stats.h"
#include "xmalloc.h"

#define SPOOL_FX_TAG "spoolq"
#include "spool_fx.h"

static void on_next(void *arg, time_t next_due)
{
	struct fx *fx = arg;
	fx->calls++;
	fx->next_due = next_due;
}

static time_t next_wait(struct fx *fx)
{
	int want = fx->calls + 1;
	spool_next_due(fx->sp, on_next, fx);
	run_until(fx, want);
	return fx->next_due;
}

/* --- tests --------------------------------------------------------------- */

static void test_claim_returns_due_messages_with_only_due_recipients(void **state)
{
	struct fx *fx = *state;
	char a[SPOOL_ID_LEN + 1], b[SPOOL_ID_LEN + 1], c[SPOOL_ID_LEN + 1];
	open_spool(fx);
	time_t now = time(NULL);
	commit_wait(fx, make_msg("sender@example.com", 3), a);
	commit_wait(fx, make_msg("", 1), b);
	commit_wait(fx, make_msg("sender@example.com", 1), c);
	/* a's recipient 1 and all of c are not due yet */
	db_exec(fx, "UPDATE recipients SET next_attempt = 4000000000 WHERE position = 1;");
	char sql[256];
	snprintf(sql, sizeof(sql), "UPDATE messages SET next_attempt = 4000000000 WHERE id = '%s';"
		 "UPDATE recipients SET next_attempt = 4000000000 WHERE msg_id = '%s'", c, c);
	db_exec(fx, sql);

	assert_int_equal(claim_wait(fx, now + 10, 10), 2);
	const struct spool_due_msg *m = claimed_by_id(fx, a);
	assert_non_null(m);
	assert_string_equal(m->sender, "sender@example.com");
	assert_int_equal(m->nrcpts, 2);
	assert_int_equal(m->rcpts[0].position, 0);
	assert_string_equal(m->rcpts[0].address, "rcpt0@example.net");
	assert_int_equal(m->rcpts[1].position, 2);
	assert_string_equal(m->rcpts[1].address, "rcpt2@example.net");
	assert_int_equal(m->rcpts[0].attempts, 0);
	assert_int_equal(m->body_len, strlen(m->body));
	assert_non_null(strstr(m->body, "Subject: test\r\n"));
	assert_true(m->body_8bit);
	assert_false(m->delay_notified);
	m = claimed_by_id(fx, b);
	assert_non_null(m);
	assert_string_equal(m->sender, "");
	/* claimed messages are not returned again, and c is not due */
	assert_int_equal(claim_wait(fx, now + 10, 10), 0);
	assert_int_equal(db_int(fx, "SELECT count(*) FROM messages WHERE claimed = 1"), 2);
	/* limit */
	db_exec(fx, "UPDATE messages SET claimed = 0");
	assert_int_equal(claim_wait(fx, now + 10, 1), 1);
	assert_int_equal(claim_wait(fx, now + 10, 0), 0);
}

static void test_reopen_clears_claims(void **state)
{
	struct fx *fx = *state;
	char a[SPOOL_ID_LEN + 1];
	open_spool(fx);
	commit_wait(fx, make_msg("sender@example.com", 2), a);
	assert_int_equal(claim_wait(fx, time(NULL) + 10, 10), 1);
	assert_int_equal(claim_wait(fx, time(NULL) + 10, 10), 0);
	reopen_spool(fx);
	assert_int_equal(claim_wait(fx, time(NULL) + 10, 10), 1);
	assert_string_equal(fx->claimed[0]->id, a);
	assert_int_equal(fx->claimed[0]->nrcpts, 2);
}

static void test_deferred_is_not_due_until_its_time(void **state)
{
	struct fx *fx = *state;
	char a[SPOOL_ID_LEN + 1];
	open_spool(fx);
	time_t now = time(NULL);
	commit_wait(fx, make_msg("sender@example.com", 2), a);
	assert_int_equal(claim_wait(fx, now + 10, 10), 1);
	struct spool_outcome o[2] = { outcome(0, SPOOL_RCPT_DEFERRED, now + 600),
				      outcome(1, SPOOL_RCPT_DEFERRED, now + 300) };
	assert_true(record_wait(fx, a, o, 2, NULL));
	assert_int_equal(db_int(fx, "SELECT next_attempt FROM messages"), now + 300);
	assert_int_equal(db_int(fx, "SELECT claimed FROM messages"), 0);
	assert_int_equal(db_int(fx, "SELECT count(*) FROM recipients WHERE state = 'deferred'"
				" AND attempts = 1 AND last_reply LIKE '451 %%'"), 2);
	assert_int_equal(db_int(fx, "SELECT count(*) FROM attempts WHERE result = 'deferred'"
				" AND route = 'direct' AND remote_host = 'mx.example.net'"
				" AND remote_ip = '192.0.2.25' AND tls LIKE 'TLSv1.3%%'"), 2);
	assert_int_equal(next_wait(fx), now + 300);
	assert_int_equal(claim_wait(fx, now + 299, 10), 0);
	assert_int_equal(claim_wait(fx, now + 300, 10), 1);
	assert_int_equal(fx->claimed[0]->nrcpts, 1);
	assert_int_equal(fx->claimed[0]->rcpts[0].position, 1);
	assert_int_equal(fx->claimed[0]->rcpts[0].attempts, 1);
	/* `outpost queue show` of a message in progress shows its attempts */
	char *text = NULL, err[256];
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	assert_int_equal(queue_print_show(fx->dir, a, 1, f, err, sizeof(err)), 0);
	assert_int_equal(fclose(f), 0);
	json_t *j = json_loads(text, 0, NULL);
	free(text);
	assert_non_null(j);
	json_t *atts = json_object_get(j, "attempts");
	assert_int_equal(json_array_size(atts), 2);
	json_t *at = json_array_get(atts, 0);
	assert_string_equal(json_string_value(json_object_get(at, "result")), "deferred");
	assert_string_equal(json_string_value(json_object_get(at, "reply")), "451 4.7.1 Try again later");
	assert_non_null(json_string_value(json_object_get(at, "recipient")));
	json_decref(j);
}

static void test_all_delivered_removes_the_message(void **state)
{
	struct fx *fx = *state;
	char a[SPOOL_ID_LEN + 1], b[SPOOL_ID_LEN + 1];
	open_spool(fx);
	commit_wait(fx, make_msg("sender@example.com", 2), a);
	commit_wait(fx, make_msg("sender@example.com", 1), b);
	assert_int_equal(claim_wait(fx, time(NULL) + 10, 10), 2);
	struct spool_outcome o[2] = { outcome(0, SPOOL_RCPT_DELIVERED, 0),
				      outcome(1, SPOOL_RCPT_DELIVERED, 0) };
	assert_true(record_wait(fx, a, o, 2, NULL));
	assert_int_equal(db_int(fx, "SELECT count(*) FROM messages WHERE id = '%s'", a), 0);
	assert_int_equal(db_int(fx, "SELECT count(*) FROM recipients WHERE msg_id = '%s'", a), 0);
	assert_int_equal(db_int(fx, "SELECT count(*) FROM attempts WHERE msg_id = '%s'", a), 0);
	/* the other message is untouched and still claimed */
	assert_int_equal(db_int(fx, "SELECT claimed FROM messages WHERE id = '%s'", b), 1);
	assert_int_equal(next_wait(fx), 0);
}

static void test_partial_delivery_keeps_the_pending_recipient(void **state)
{
	struct fx *fx = *state;
	char a[SPOOL_ID_LEN + 1];
	open_spool(fx);
	time_t now = time(NULL);
	commit_wait(fx, make_msg("sender@example.com", 2), a);
	assert_int_equal(claim_wait(fx, now + 10, 10), 1);
	struct spool_outcome o[2] = { outcome(0, SPOOL_RCPT_DELIVERED, 0),
				      outcome(1, SPOOL_RCPT_DEFERRED, now + 60) };
	assert_true(record_wait(fx, a, o, 2, NULL));
	assert_int_equal(db_int(fx, "SELECT count(*) FROM messages"), 1);
	assert_int_equal(db_int(fx, "SELECT count(*) FROM recipients WHERE state = 'delivered'"), 1);
	assert_int_equal(db_int(fx, "SELECT next_attempt FROM messages"), now + 60);
	assert_int_equal(claim_wait(fx, now + 60, 10), 1);
	assert_int_equal(fx->claimed[0]->nrcpts, 1);
	assert_string_equal(fx->claimed[0]->rcpts[0].address, "rcpt1@example.net");
	/* now the last one: the message goes */
	struct spool_outcome last = outcome(1, SPOOL_RCPT_DELIVERED, 0);
	assert_true(record_wait(fx, a, &last, 1, NULL));
	assert_int_equal(db_int(fx, "SELECT count(*) FROM messages"), 0);
	assert_int_equal(db_int(fx, "SELECT count(*) FROM attempts"), 0);
}

static void test_bounce_with_dsn_replaces_the_message_in_one_transaction(void **state)
{
	struct fx *fx = *state;
	char a[SPOOL_ID_LEN + 1];
	open_spool(fx);
	commit_wait(fx, make_msg("sender@example.com", 1), a);
	assert_int_equal(claim_wait(fx, time(NULL) + 10, 10), 1);
	struct spool_msg *dsn = make_msg("", 0);
	dsn->id[0] = '\0';   /* the spool names it */
	dsn->rcpts[0] = xstrdup("sender@example.com");
	dsn->nrcpts = 1;
	struct spool_outcome o = outcome(0, SPOOL_RCPT_BOUNCED, 0);
	assert_true(record_wait(fx, a, &o, 1, dsn));
	assert_int_equal(db_int(fx, "SELECT count(*) FROM messages WHERE id = '%s'", a), 0);
	assert_int_equal(db_int(fx, "SELECT count(*) FROM messages"), 1);
	assert_int_equal(db_int(fx, "SELECT count(*) FROM messages WHERE sender = ''"
				" AND length(id) = %d AND claimed = 0", SPOOL_ID_LEN), 1);
	assert_int_equal(db_int(fx, "SELECT count(*) FROM recipients"
				" WHERE address = 'sender@example.com' AND state = 'queued'"), 1);
	/* and the DSN is due */
	assert_int_equal(claim_wait(fx, time(NULL) + 10, 10), 1);
	assert_string_equal(fx->claimed[0]->sender, "");
	assert_string_equal(fx->claimed[0]->rcpts[0].address, "sender@example.com");
}

static void test_delay_notified_is_kept(void **state)
{
	struct fx *fx = *state;
	char a[SPOOL_ID_LEN + 1];
	open_spool(fx);
	time_t now = time(NULL);
	commit_wait(fx, make_msg("sender@example.com", 1), a);
	assert_int_equal(claim_wait(fx, now + 10, 10), 1);
	struct spool_outcome o = outcome(0, SPOOL_RCPT_DEFERRED, now + 5);
	int want = fx->calls + 1;
	spool_record(fx->sp, a, &o, 1, 1, make_msg("", 1), on_commit, fx);
	run_until(fx, want);
	assert_int_equal(fx->failed, 0);
	assert_int_equal(db_int(fx, "SELECT count(*) FROM messages"), 2);
	assert_int_equal(claim_wait(fx, now + 10, 10), 2);
	const struct spool_due_msg *m = claimed_by_id(fx, a);
	assert_non_null(m);
	assert_true(m->delay_notified);
}

static void test_next_due_answers_the_earliest_unclaimed(void **state)
{
	struct fx *fx = *state;
	char a[SPOOL_ID_LEN + 1], b[SPOOL_ID_LEN + 1];
	open_spool(fx);
	assert_int_equal(next_wait(fx), 0);
	commit_wait(fx, make_msg("sender@example.com", 1), a);
	commit_wait(fx, make_msg("sender@example.com", 1), b);
	char sql[256];
	snprintf(sql, sizeof(sql), "UPDATE messages SET next_attempt = 3000000000 WHERE id = '%s';"
		 "UPDATE messages SET next_attempt = 3000000100 WHERE id = '%s'", a, b);
	db_exec(fx, sql);
	assert_int_equal(next_wait(fx), 3000000000);
	db_exec(fx, "UPDATE messages SET claimed = 1 WHERE next_attempt = 3000000000");
	assert_int_equal(next_wait(fx), 3000000100);
}

static void test_bad_record_fails_alone_and_stores_nothing(void **state)
{
	struct fx *fx = *state;
	char a[SPOOL_ID_LEN + 1], b[SPOOL_ID_LEN + 1];
	open_spool(fx);
	commit_wait(fx, make_msg("sender@example.com", 1), a);
	commit_wait(fx, make_msg("sender@example.com", 1), b);
	assert_int_equal(claim_wait(fx, time(NULL) + 10, 10), 2);
	struct spool_outcome good = outcome(0, SPOOL_RCPT_DELIVERED, 0);
	struct spool_outcome bad[2] = { outcome(0, SPOOL_RCPT_DELIVERED, 0),
					outcome(7, SPOOL_RCPT_DELIVERED, 0) };
	int want = fx->calls + 3;
	/* the three requests usually reach the thread as one group */
	spool_record(fx->sp, b, bad, 2, 0, make_msg("", 1), on_commit, fx);
	spool_record(fx->sp, a, &good, 1, 0, NULL, on_commit, fx);
	spool_record(fx->sp, "0000000000000000", &good, 1, 0, NULL, on_commit, fx);
	run_until(fx, want);
	assert_int_equal(fx->failed, 2);
	assert_int_equal(db_int(fx, "SELECT count(*) FROM messages WHERE id = '%s'", a), 0);
	/* b: not even its valid recipient 0 was recorded, nor its DSN */
	assert_int_equal(db_int(fx, "SELECT count(*) FROM messages"), 1);
	assert_int_equal(db_int(fx, "SELECT count(*) FROM attempts"), 0);
	assert_int_equal(db_int(fx, "SELECT count(*) FROM recipients WHERE state = 'queued'"), 1);
	/* a message that has left the spool cannot be recorded again */
	assert_false(record_wait(fx, a, &good, 1, NULL));
	struct spool_outcome queued = outcome(0, SPOOL_RCPT_QUEUED, 0);
	assert_false(record_wait(fx, b, &queued, 1, NULL));
	assert_non_null(strstr(fx->reason, "bad outcome state"));
}

static json_t *tenant_row(json_t *st, const char *key)
{
	size_t i;
	json_t *r;
	json_array_foreach(json_object_get(st, "rows"), i, r)
		if (strcmp(json_string_value(json_object_get(r, "key")), key) == 0)
			return r;
	fail_msg("no row %s", key);
	return NULL;
}

static json_int_t jget(json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

static void test_stats_count_per_tenant(void **state)
{
	struct fx *fx = *state;
	char a[SPOOL_ID_LEN + 1], b[SPOOL_ID_LEN + 1], err[256];
	open_spool(fx);
	struct spool_msg *m = make_msg("app@acme.example", 2);
	m->tenant = xstrdup("acme");
	commit_wait(fx, m, a);
	commit_wait(fx, make_msg("app@other.example", 1), b);
	assert_int_equal(claim_wait(fx, time(NULL) + 10, 10), 2);
	struct spool_outcome o[2] = { outcome(0, SPOOL_RCPT_DELIVERED, 0), outcome(1, SPOOL_RCPT_BOUNCED, 0) };
	assert_true(record_wait(fx, a, o, 2, NULL));
	assert_true(record_wait(fx, b, o, 1, NULL));
	sqlite3 *db = db_open(fx);   /* as the feedback loop counts a complaint */
	assert_int_equal(spool_obs_complaint(db, time(NULL), "relay", "Example.NET", "app@acme.example", "acme"),
			 SQLITE_OK);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
	json_t *st = spool_stats_query(fx->dir, 0, time(NULL), "tenant", 10, err, sizeof(err));
	assert_non_null(st);
	json_t *acme = tenant_row(st, "acme"), *none = tenant_row(st, "");
	assert_int_equal(jget(acme, "received"), 1);
	assert_int_equal(jget(acme, "delivered"), 1);
	assert_int_equal(jget(acme, "bounced"), 1);
	assert_int_equal(jget(acme, "complaints"), 1);
	assert_int_equal(jget(none, "received"), 1);
	assert_int_equal(jget(none, "delivered"), 1);
	assert_int_equal(jget(none, "bounced") + jget(none, "complaints"), 0);
	assert_int_equal(jget(json_object_get(st, "totals"), "complaints"), 1);
	json_decref(st);
	st = spool_stats_query(fx->dir, 0, time(NULL), "route", 10, err, sizeof(err));   /* tenants whatever by is */
	assert_non_null(st);
	assert_int_equal(json_array_size(json_object_get(st, "tenants")), 2);
	json_decref(st);
	json_t *c = spool_stats_tenant(fx->dir, "acme", 0, err, sizeof(err));
	assert_non_null(c);
	assert_int_equal(jget(c, "received") + jget(c, "delivered") + jget(c, "bounced") + jget(c, "complaints"), 4);
	assert_int_equal(jget(c, "deferred"), 0);
	json_decref(c);
	assert_null(spool_stats_query(fx->dir, 0, time(NULL), "user", 10, err, sizeof(err)));
	assert_non_null(strstr(err, "sender or tenant"));
}

static json_int_t rejection_count(json_t *st, const char *reason)
{
	size_t i;
	json_t *r;
	json_array_foreach(json_object_get(st, "rejection_reasons"), i, r)
		if (strcmp(json_string_value(json_object_get(r, "reason")), reason) == 0)
			return jget(r, "count");
	return -1;
}

/* Refusals are counted in memory and reach stats_minute with queue work
 * (here a claim) or an explicit flush; those left at close are flushed by
 * spool_close; none shows up in the per-route rows. */
static void test_rejections_reach_the_stats(void **state)
{
	struct fx *fx = *state;
	char err[256];
	time_t now = time(NULL);
	open_spool(fx);
	spool_count_rejected(fx->sp, "relay_denied", now);
	spool_count_rejected(fx->sp, "relay_denied", now);
	spool_count_rejected(fx->sp, "size", now - 120);   /* an older minute: a row of its own */
	json_t *st = spool_stats_query(fx->dir, 0, now + 60, "route", 10, err, sizeof(err));
	assert_non_null(st);
	assert_int_equal(jget(json_object_get(st, "totals"), "rejected"), 0);   /* nothing flushed yet */
	json_decref(st);
	assert_int_equal(claim_wait(fx, now, 10), 0);   /* the flush rides with the claim */
	spool_count_rejected(fx->sp, "size", now);
	spool_flush_rejected(fx->sp);
	spool_flush_rejected(fx->sp);   /* nothing left: returns at once */
	st = spool_stats_query(fx->dir, 0, now + 60, "route", 10, err, sizeof(err));
	assert_non_null(st);
	assert_int_equal(jget(json_object_get(st, "totals"), "rejected"), 4);
	assert_int_equal(rejection_count(st, "relay_denied"), 2);
	assert_int_equal(rejection_count(st, "size"), 2);
	assert_int_equal(json_array_size(json_object_get(st, "rows")), 0);
	json_decref(st);
	spool_count_rejected(fx->sp, "suppressed", now);
	spool_close(fx->sp);
	fx->sp = NULL;
	st = spool_stats_query(fx->dir, 0, now + 60, "reason", 10, err, sizeof(err));
	assert_non_null(st);
	assert_int_equal(rejection_count(st, "suppressed"), 1);
	assert_int_equal(jget(json_object_get(st, "totals"), "rejected"), 5);
	assert_int_equal(json_array_size(json_object_get(st, "rows")), 0);
	json_decref(st);
}

/* The v1 schema as the first release created it. */
static const char v1_ddl[] =
	"CREATE TABLE messages (id TEXT PRIMARY KEY NOT NULL, sender TEXT NOT NULL,"
	" client_addr TEXT, client_helo TEXT, auth_user TEXT, size INTEGER NOT NULL,"
	" smtputf8 INTEGER NOT NULL DEFAULT 0, body_8bit INTEGER NOT NULL DEFAULT 0,"
	" created INTEGER NOT NULL, next_attempt INTEGER NOT NULL, body BLOB NOT NULL);"
	"CREATE INDEX messages_next_attempt ON messages(next_attempt);"
	"CREATE TABLE recipients (msg_id TEXT NOT NULL, position INTEGER NOT NULL,"
	" address TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'queued'"
	"  CHECK (state IN ('queued','delivered','bounced','deferred')),"
	" attempts INTEGER NOT NULL DEFAULT 0, last_reply TEXT, last_attempt INTEGER,"
	" next_attempt INTEGER NOT NULL, PRIMARY KEY (msg_id, position)) WITHOUT ROWID;"
	"CREATE INDEX recipients_next_attempt ON recipients(next_attempt);"
	"CREATE TABLE attempts (id INTEGER PRIMARY KEY, msg_id TEXT NOT NULL,"
	" recipient TEXT NOT NULL, time INTEGER NOT NULL, route TEXT, remote_host TEXT,"
	" remote_ip TEXT, tls TEXT, reply TEXT, result TEXT NOT NULL);"
	"CREATE INDEX attempts_msg_id ON attempts(msg_id, time);"
	"PRAGMA user_version=1;"
	"INSERT INTO messages (id, sender, size, created, next_attempt, body)"
	" VALUES ('0V1MESSAGE000000', 'old@example.com', 4, 1000, 1000, X'41420D0A');"
	"INSERT INTO recipients (msg_id, position, address, state, next_attempt)"
	" VALUES ('0V1MESSAGE000000', 0, 'a@example.net', 'queued', 1000),"
	" ('0V1MESSAGE000000', 1, 'b@example.net', 'delivered', 1000);";

static void test_v1_spool_upgrades_in_place(void **state)
{
	struct fx *fx = *state;
	assert_int_equal(mkdir(fx->dir, 0700), 0);
	db_exec(fx, "PRAGMA journal_mode=WAL");
	db_exec(fx, v1_ddl);
	assert_int_equal(db_int(fx, "PRAGMA user_version"), 1);
	open_spool(fx);
	assert_int_equal(db_int(fx, "PRAGMA user_version"), SPOOL_SCHEMA_VERSION);
	assert_int_equal(db_int(fx, "SELECT count(*) FROM sqlite_master WHERE name = 'messages_due'"), 1);
	assert_int_equal(db_int(fx, "SELECT claimed + delay_notified FROM messages"), 0);
	assert_int_equal(db_int(fx, "SELECT count(*) FROM pragma_table_info('stats_minute') WHERE name = 'tenant'"), 1);
	assert_int_equal(claim_wait(fx, 2000, 10), 1);
	assert_string_equal(fx->claimed[0]->id, "0V1MESSAGE000000");
	assert_string_equal(fx->claimed[0]->sender, "old@example.com");
	assert_int_equal(fx->claimed[0]->nrcpts, 1);
	assert_int_equal(fx->claimed[0]->body_len, 4);
	struct spool_outcome o = outcome(0, SPOOL_RCPT_DELIVERED, 0);
	assert_true(record_wait(fx, "0V1MESSAGE000000", &o, 1, NULL));
	assert_int_equal(db_int(fx, "SELECT count(*) FROM messages"), 0);
	/* a second open does not migrate again */
	reopen_spool(fx);
	assert_int_equal(db_int(fx, "PRAGMA user_version"), SPOOL_SCHEMA_VERSION);
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

#define BIG 200000

/* BIG messages of 512 octets with 2 recipients each, half of them due at
 * 2000, one in ten claimed; then the WAL is checkpointed so that the
 * first claim does not pay for it. */
static void fill_big_spool(struct fx *fx)
{
	char sql[1024];
	int n = snprintf(sql, sizeof(sql),
		"BEGIN;"
		"WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i < %d)"
		" INSERT INTO messages (id, sender, size, created, next_attempt, claimed, body)"
		" SELECT printf('B%%015d', i), 's@example.com', 512, 1000, 1000 + i %% 2000,"
		" i %% 10 = 0, zeroblob(512) FROM c;"
		"INSERT INTO recipients (msg_id, position, address, next_attempt)"
		" SELECT id, 0, 'a@example.net', next_attempt FROM messages;"
		"INSERT INTO recipients (msg_id, position, address, next_attempt)"
		" SELECT id, 1, 'b@example.net', next_attempt FROM messages;"
		"COMMIT;"
		"PRAGMA wal_checkpoint(TRUNCATE);", BIG - 1);
	assert_true(n > 0 && (size_t)n < sizeof(sql));
	db_exec(fx, sql);
}

static void plan_uses_index(struct fx *fx, const char *sql)
{
	sqlite3 *db = db_open(fx);
	sqlite3_stmt *st = NULL;
	char *q = xasprintf("EXPLAIN QUERY PLAN %s", sql);
	assert_int_equal(sqlite3_prepare_v2(db, q, -1, &st, NULL), SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *d = (const char *)sqlite3_column_text(st, 3);
		printf("spool_queue: plan: %s\n", d);
		assert_non_null(strstr(d, "INDEX messages_due"));
		assert_null(strstr(d, "TEMP B-TREE"));
	}
	assert_int_equal(sqlite3_finalize(st), SQLITE_OK);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
	free(q);
}

static void test_claim_100_from_200k_walks_the_index(void **state)
{
	struct fx *fx = *state;
	open_spool(fx);
	double t0 = now_ms();
	fill_big_spool(fx);
	printf("spool_queue: filled %d messages in %.0f ms\n", BIG, now_ms() - t0);
	plan_uses_index(fx, "SELECT id, body FROM messages INDEXED BY messages_due"
			" WHERE claimed = 0 AND next_attempt <= 2000 ORDER BY next_attempt LIMIT 100");
	plan_uses_index(fx, "SELECT next_attempt FROM messages INDEXED BY messages_due"
			" WHERE claimed = 0 ORDER BY next_attempt LIMIT 1");
	for (int round = 0; round < 3; round++) {
		t0 = now_ms();
		assert_int_equal(claim_wait(fx, 2000, 100), 100);
		printf("spool_queue: claim of 100 from %d: %.2f ms\n", BIG, now_ms() - t0);
	}
	for (size_t i = 0; i < fx->nclaimed; i++)
		assert_int_equal(fx->claimed[i]->nrcpts, 2);
	t0 = now_ms();
	assert_int_equal(next_wait(fx), 1004);   /* 1000 is claimed, 1001-1003 taken */
	printf("spool_queue: next_due from %d: %.2f ms\n", BIG, now_ms() - t0);
	t0 = now_ms();
	reopen_spool(fx);
	printf("spool_queue: reopen (claims cleared) with %d: %.0f ms\n", BIG, now_ms() - t0);
	assert_int_equal(db_int(fx, "SELECT count(*) FROM messages WHERE claimed = 1"), 0);
}

int main(void)
{
	log_init("test_spool_queue", LOG_DEST_STDERR);
	if (getenv("SPOOL_TEST_DEBUG"))
		log_set_debug(1);
	evthread_use_pthreads();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_claim_returns_due_messages_with_only_due_recipients, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen_clears_claims, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deferred_is_not_due_until_its_time, setup, teardown),
		cmocka_unit_test_setup_teardown(test_all_delivered_removes_the_message, setup, teardown),
		cmocka_unit_test_setup_teardown(test_partial_delivery_keeps_the_pending_recipient, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bounce_with_dsn_replaces_the_message_in_one_transaction, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delay_notified_is_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_next_due_answers_the_earliest_unclaimed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_record_fails_alone_and_stores_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stats_count_per_tenant, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rejections_reach_the_stats, setup, teardown),
		cmocka_unit_test_setup_teardown(test_v1_spool_upgrades_in_place, setup, teardown),
		cmocka_unit_test_setup_teardown(test_claim_100_from_200k_walks_the_index, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
