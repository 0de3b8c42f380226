/*
 * test_spool: the durable queue through a real event loop and storage
 * thread: acknowledgement only after the row is committed, group commit,
 * detach, spool full, one bad message in a group, ids, close drains, and
 * the admin functions (list, show, retry, flush, delete).
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
#include <pthread.h>
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
#include "xmalloc.h"

struct fx {
	char tmp[64];
	char dir[128];
	struct event_base *base;
	struct spool *sp;
};

struct waiter {
	struct fx *fx;
	int calls, ok, failed, want, in_order;
	int last_arg;
	char reason[200];
	int row_seen_in_cb;     /* for the "ack after commit" test */
	const char *check_id;
};

struct call {
	struct waiter *w;
	int n;
};

/* --- helpers ------------------------------------------------------------- */

static int setup(void **state)
{
	struct fx *fx = xcalloc(1, sizeof(*fx));
	assert_int_equal(tmpdir_make(fx->tmp, sizeof(fx->tmp), "spool"), 0);
	int n = snprintf(fx->dir, sizeof(fx->dir), "%s/spool", fx->tmp);
	assert_true(n > 0 && (size_t)n < sizeof(fx->dir));
	fx->base = event_base_new();
	assert_non_null(fx->base);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;
	spool_close(fx->sp);
	event_base_free(fx->base);
	assert_int_equal(tmpdir_remove(fx->tmp), 0);
	free(fx);
	return 0;
}

static void open_spool(struct fx *fx, uint64_t max_size)
{
	char err[256];
	fx->sp = spool_open(fx->dir, max_size, fx->base, err, sizeof(err));
	if (fx->sp == NULL)
		fail_msg("spool_open: %s", err);
}

static struct spool_msg *make_msg(size_t body_len, size_t nrcpts)
{
	struct spool_msg *m = xcalloc(1, sizeof(*m));
	static const char head[] = "Subject: test\r\nFrom: <sender@example.com>\r\n\r\n";
	spool_id_new(m->id);
	m->sender = xstrdup("sender@example.com");
	m->rcpts = xcalloc(nrcpts, sizeof(char *));
	for (size_t i = 0; i < nrcpts; i++)
		m->rcpts[i] = xasprintf("rcpt%zu@example.net", i);
	m->nrcpts = nrcpts;
	m->client_addr = xstrdup("192.0.2.1");
	m->client_helo = xstrdup("client.example.com");
	if (body_len < sizeof(head) - 1)
		body_len = sizeof(head) - 1;
	m->body = xmalloc(body_len + 1);
	memcpy(m->body, head, sizeof(head) - 1);
	memset(m->body + sizeof(head) - 1, 'x', body_len - (sizeof(head) - 1));
	m->body[body_len] = '\0';
	m->body_len = body_len;
	return m;
}

static sqlite3_int64 db_int(struct fx *fx, const char *sql)
{
	char path[256];
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	sqlite3_int64 v = -1;
	int n = snprintf(path, sizeof(path), "%s/%s", fx->dir, SPOOL_DB_NAME);
	assert_true(n > 0 && (size_t)n < sizeof(path));
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_busy_timeout(db, 5000), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	assert_int_equal(sqlite3_finalize(st), SQLITE_OK);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
	return v;
}

static void db_exec(struct fx *fx, const char *sql)
{
	char path[256];
	sqlite3 *db = NULL;
	int n = snprintf(path, sizeof(path), "%s/%s", fx->dir, SPOOL_DB_NAME);
	assert_true(n > 0 && (size_t)n < sizeof(path));
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_busy_timeout(db, 5000), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

static sqlite3_int64 count_messages(struct fx *fx)
{
	return db_int(fx, "SELECT count(*) FROM messages");
}

static void on_commit(void *arg, int ok, const char *reason)
{
	struct call *c = arg;
	struct waiter *w = c->w;
	assert_non_null(reason);
	if (c->n <= w->last_arg)
		w->in_order = 0;
	w->last_arg = c->n;
	w->calls++;
	if (ok) {
		w->ok++;
		assert_string_equal(reason, "");
	} else {
		w->failed++;
		snprintf(w->reason, sizeof(w->reason), "%s", reason);
	}
	if (w->check_id) {
		char sql[128];
		int n = snprintf(sql, sizeof(sql), "SELECT count(*) FROM messages WHERE id = '%s'",
				 w->check_id);
		assert_true(n > 0 && (size_t)n < sizeof(sql));
		w->row_seen_in_cb = db_int(w->fx, sql) == 1;
	}
	free(c);
	if (w->calls >= w->want)
		event_base_loopbreak(w->fx->base);
}

static void waiter_init(struct waiter *w, struct fx *fx)
{
	memset(w, 0, sizeof(*w));
	w->fx = fx;
	w->in_order = 1;
	w->last_arg = -1;
}

static struct spool_req *commit(struct fx *fx, struct waiter *w, struct spool_msg *m, int n)
{
	struct call *c = xcalloc(1, sizeof(*c));
	c->w = w;
	c->n = n;
	return spool_commit(fx->sp, m, on_commit, c);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	*(int *)arg = 1;   /* EVLOOP_ONCE returns after this */
}

/* Runs the loop until w has seen want callbacks (or 30 s pass). */
static void run_until(struct fx *fx, struct waiter *w, int want)
{
	int timed_out = 0;
	struct timeval tv = { 30, 0 };
	struct event *t = event_new(fx->base, -1, 0, on_timeout, &timed_out);
	w->want = want;
	assert_int_equal(event_add(t, &tv), 0);
	while (w->calls < want && !timed_out)
		assert_true(event_base_loop(fx->base, EVLOOP_ONCE) >= 0);
	event_free(t);
	assert_false(timed_out);
}

static json_t *admin_json(struct fx *fx, const char *id)
{
	char *text = NULL, err[256];
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	int rc = id ? queue_print_show(fx->dir, id, 1, f, err, sizeof(err))
		    : queue_print_list(fx->dir, 1, f, err, sizeof(err));
	assert_int_equal(fclose(f), 0);
	if (rc != 0)
		fail_msg("admin: rc=%d %s", rc, err);
	json_error_t jerr;
	json_t *j = json_loads(text, 0, &jerr);
	if (j == NULL)
		fail_msg("bad JSON: %s\n%s", jerr.text, text);
	free(text);
	return j;
}

static char *admin_text(struct fx *fx, const char *id, int *rc)
{
	char *text = NULL, err[256];
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	*rc = id ? queue_print_show(fx->dir, id, 0, f, err, sizeof(err))
		 : queue_print_list(fx->dir, 0, f, err, sizeof(err));
	assert_int_equal(fclose(f), 0);
	return text;
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* --- tests --------------------------------------------------------------- */

static void test_ack_comes_only_after_row_is_committed(void **state)
{
	struct fx *fx = *state;
	struct waiter w;
	struct stat st;
	open_spool(fx, 0);
	assert_int_equal(stat(fx->dir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(db_int(fx, "PRAGMA user_version"), SPOOL_SCHEMA_VERSION);
	char wal[256];
	int n = snprintf(wal, sizeof(wal), "%s/%s-wal", fx->dir, SPOOL_DB_NAME);
	assert_true(n > 0 && (size_t)n < sizeof(wal));
	assert_int_equal(access(wal, F_OK), 0);
	waiter_init(&w, fx);
	struct spool_msg *m = make_msg(4096, 2);
	char id[SPOOL_ID_LEN + 1];
	memcpy(id, m->id, sizeof(id));
	w.check_id = id;
	commit(fx, &w, m, 0);
	run_until(fx, &w, 1);
	assert_int_equal(w.ok, 1);
	assert_true(w.row_seen_in_cb);
	assert_int_equal(db_int(fx, "SELECT count(*) FROM recipients WHERE state = 'queued'"), 2);
	assert_int_equal(db_int(fx, "SELECT size FROM messages"), 4096);
}

static void test_admin_list_and_show_report_the_message(void **state)
{
	struct fx *fx = *state;
	struct waiter w;
	int rc;
	open_spool(fx, 0);
	waiter_init(&w, fx);
	struct spool_msg *m = make_msg(2000, 2);
	m->auth_user = xstrdup("alice");
	/* an invalid UTF-8 byte in a header must still give valid JSON */
	memcpy(m->body, "Subject: tes\xff\r\n", 15);
	char id[SPOOL_ID_LEN + 1];
	memcpy(id, m->id, sizeof(id));
	commit(fx, &w, m, 0);
	run_until(fx, &w, 1);

	json_t *list = admin_json(fx, NULL);
	assert_int_equal(json_array_size(list), 1);
	json_t *o = json_array_get(list, 0);
	assert_string_equal(json_string_value(json_object_get(o, "id")), id);
	assert_string_equal(json_string_value(json_object_get(o, "sender")), "sender@example.com");
	assert_int_equal(json_integer_value(json_object_get(o, "size")), 2000);
	assert_non_null(strchr(json_string_value(json_object_get(o, "created")), 'T'));
	assert_non_null(json_string_value(json_object_get(o, "next_attempt")));
	json_t *r = json_object_get(o, "recipients");
	assert_int_equal(json_array_size(r), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(r, 1), "address")),
			    "rcpt1@example.net");
	assert_string_equal(json_string_value(json_object_get(json_array_get(r, 0), "state")), "queued");
	assert_int_equal(json_integer_value(json_object_get(json_array_get(r, 0), "attempts")), 0);
	assert_true(json_is_null(json_object_get(json_array_get(r, 0), "last_reply")));
	json_decref(list);

	db_exec(fx, "INSERT INTO attempts (msg_id, recipient, time, route, remote_host, remote_ip,"
		    " tls, reply, result) SELECT id, 'rcpt0@example.net', 1700000000, 'direct',"
		    " 'mx.example.net', '198.51.100.7', 'TLSv1.3', '451 4.7.1 try later',"
		    " 'deferred' FROM messages");
	json_t *s = admin_json(fx, id);
	assert_string_equal(json_string_value(json_object_get(s, "auth_user")), "alice");
	assert_string_equal(json_string_value(json_object_get(s, "client_addr")), "192.0.2.1");
	assert_true(json_is_false(json_object_get(s, "smtputf8")));
	const char *h = json_string_value(json_object_get(s, "headers"));
	assert_non_null(strstr(h, "Subject: tes\xef\xbf\xbd\n"));
	assert_non_null(strstr(h, "From: <sender@example.com>"));
	assert_null(strstr(h, "xxxx"));   /* the body is not shown */
	json_t *a = json_array_get(json_object_get(s, "attempts"), 0);
	assert_string_equal(json_string_value(json_object_get(a, "reply")), "451 4.7.1 try later");
	assert_string_equal(json_string_value(json_object_get(a, "time")), "2023-11-14T22:13:20Z");
	assert_int_equal(json_array_size(json_object_get(s, "recipients")), 2);
	json_decref(s);

	char *text = admin_text(fx, NULL, &rc);
	assert_int_equal(rc, 0);
	assert_non_null(strstr(text, id));
	assert_non_null(strstr(text, "<sender@example.com> rcpt0@example.net(queued) rcpt1@example.net(queued)\n"));
	free(text);
	text = admin_text(fx, id, &rc);
	assert_int_equal(rc, 0);
	assert_non_null(strstr(text, "auth_user: alice\n"));
	assert_non_null(strstr(text, "reply=\"451 4.7.1 try later\""));
	assert_non_null(strstr(text, "headers:\nSubject: t"));
	free(text);
	text = admin_text(fx, "NOSUCHMESSAGE000", &rc);
	assert_int_equal(rc, 1);
	free(text);
}

static void test_group_commit_groups_many_messages(void **state)
{
	struct fx *fx = *state;
	struct waiter w;
	struct spool_stats st;
	open_spool(fx, 0);
	waiter_init(&w, fx);
	for (int i = 0; i < 200; i++)
		commit(fx, &w, make_msg(1024, 1 + (size_t)(i % 3)), i);
	run_until(fx, &w, 200);
	assert_int_equal(w.ok, 200);
	assert_true(w.in_order);
	spool_stats(fx->sp, &st);
	print_message("200 messages in %llu groups (largest %llu)\n",
		      (unsigned long long)st.groups, (unsigned long long)st.max_group);
	assert_true(st.groups < 200);
	assert_int_equal(st.committed, 200);
	assert_int_equal(st.failed, 0);
	assert_int_equal(count_messages(fx), 200);
	assert_int_equal(db_int(fx, "SELECT count(*) FROM recipients"), 67 * 1 + 67 * 2 + 66 * 3);
}

static void test_detached_request_is_committed_without_callback(void **state)
{
	struct fx *fx = *state;
	struct waiter w;
	open_spool(fx, 0);
	waiter_init(&w, fx);
	/* the arg of a detached request stays the caller's to free */
	struct call *gone = xcalloc(1, sizeof(*gone));
	gone->w = &w;
	spool_req_detach(spool_commit(fx->sp, make_msg(100, 1), on_commit, gone));
	commit(fx, &w, make_msg(100, 1), 1);
	run_until(fx, &w, 1);
	assert_int_equal(w.calls, 1);
	assert_int_equal(w.last_arg, 1);
	assert_int_equal(count_messages(fx), 2);
	free(gone);
}

static void test_full_spool_refuses_and_keeps_what_it_accepted(void **state)
{
	struct fx *fx = *state;
	struct waiter w;
	struct spool_stats st;
	char err[256];
	size_t n;
	open_spool(fx, 160 * 1024);
	waiter_init(&w, fx);
	for (n = 0; n < 200 && w.failed == 0; n++) {
		commit(fx, &w, make_msg(8192, 2), (int)n);
		run_until(fx, &w, (int)n + 1);
	}
	assert_int_equal(w.failed, 1);
	assert_true(w.ok >= 5);
	assert_non_null(strstr(w.reason, "full"));
	assert_int_equal(count_messages(fx), w.ok);
	/* a group: messages that fit are taken, the others refused */
	int before = w.ok;
	for (int i = 0; i < 20; i++)
		commit(fx, &w, make_msg(i % 2 ? 200 : 8192, 1), (int)n + i);
	run_until(fx, &w, (int)n + 20);
	spool_stats(fx->sp, &st);
	assert_true(st.failed >= 2);
	assert_int_equal(count_messages(fx), w.ok);
	assert_true(w.ok >= before);
	/* deleting frees room again */
	json_t *list = admin_json(fx, NULL);
	const char *first = json_string_value(json_object_get(json_array_get(list, 0), "id"));
	assert_int_equal(spool_admin_delete(fx->dir, first, err, sizeof(err)), 0);
	json_decref(list);
	int calls = w.calls, ok = w.ok;
	commit(fx, &w, make_msg(4096, 1), 1000);
	run_until(fx, &w, calls + 1);
	assert_int_equal(w.ok, ok + 1);
	assert_int_equal(count_messages(fx), w.ok - 1);
	assert_string_equal(w.reason, "spool full");
}

static void test_bad_message_does_not_fail_its_group(void **state)
{
	struct fx *fx = *state;
	struct waiter w;
	struct spool_stats st;
	open_spool(fx, 0);
	waiter_init(&w, fx);
	struct spool_msg *a = make_msg(100, 1);
	char id[SPOOL_ID_LEN + 1];
	memcpy(id, a->id, sizeof(id));
	commit(fx, &w, a, 0);
	run_until(fx, &w, 1);
	/* hold the write lock so that the next three form one group */
	char path[256];
	sqlite3 *db;
	snprintf(path, sizeof(path), "%s/%s", fx->dir, SPOOL_DB_NAME);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	commit(fx, &w, make_msg(100, 1), 1);
	usleep(100 * 1000);
	struct spool_msg *dup = make_msg(100, 1);
	memcpy(dup->id, id, sizeof(id));
	commit(fx, &w, dup, 2);
	commit(fx, &w, make_msg(100, 1), 3);
	commit(fx, &w, make_msg(100, 1), 4);
	usleep(100 * 1000);
	assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
	run_until(fx, &w, 5);
	assert_int_equal(w.ok, 4);
	assert_int_equal(w.failed, 1);
	assert_non_null(strstr(w.reason, "spool error: UNIQUE"));
	spool_stats(fx->sp, &st);
	assert_int_equal(st.retried, 1);
	assert_int_equal(st.max_group, 3);
	assert_int_equal(count_messages(fx), 4);
}

#define ID_THREADS 4
#define ID_PER_THREAD 20000

static void *make_ids(void *p)
{
	char *ids = p;
	for (int i = 0; i < ID_PER_THREAD; i++)
		spool_id_new(ids + (size_t)i * (SPOOL_ID_LEN + 1));
	return NULL;
}

static int cmp_id(const void *a, const void *b)
{
	return strcmp(a, b);
}

static void test_ids_are_unique_sortable_and_alnum(void **state)
{
	(void)state;
	size_t n = (size_t)ID_THREADS * ID_PER_THREAD, w = SPOOL_ID_LEN + 1;
	char *ids = xcalloc(n, w);
	pthread_t t[ID_THREADS];
	char before[SPOOL_ID_LEN + 1], after[SPOOL_ID_LEN + 1];
	spool_id_new(before);
	for (int i = 0; i < ID_THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, make_ids,
						ids + (size_t)i * ID_PER_THREAD * w), 0);
	for (int i = 0; i < ID_THREADS; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	usleep(2000);
	spool_id_new(after);
	for (size_t i = 0; i < n; i++) {
		const char *id = ids + i * w;
		assert_int_equal(strlen(id), SPOOL_ID_LEN);
		assert_int_equal(strspn(id, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"), SPOOL_ID_LEN);
		if (i % ID_PER_THREAD)
			assert_true(strcmp(id, id - w) > 0);   /* sorted within a thread */
		assert_true(strcmp(before, id) < 0 && strcmp(id, after) < 0);
	}
	qsort(ids, n, w, cmp_id);
	for (size_t i = 1; i < n; i++)
		assert_true(strcmp(ids + (i - 1) * w, ids + i * w) < 0);
	free(ids);
}

static void test_close_drains_pending_requests(void **state)
{
	struct fx *fx = *state;
	struct waiter w;
	open_spool(fx, 0);
	waiter_init(&w, fx);
	/* callbacks are skipped by close, so their args are collected here */
	struct call *calls[100];
	for (int i = 0; i < 100; i++) {
		calls[i] = xcalloc(1, sizeof(struct call));
		calls[i]->w = &w;
		spool_commit(fx->sp, make_msg(4096, 2), on_commit, calls[i]);
	}
	spool_close(fx->sp);
	fx->sp = NULL;
	assert_int_equal(w.calls, 0);
	for (int i = 0; i < 100; i++)
		free(calls[i]);
	assert_int_equal(count_messages(fx), 100);
	/* the admin side reads them with no daemon running */
	json_t *j = admin_json(fx, NULL);
	assert_int_equal(json_array_size(j), 100);
	json_decref(j);
	/* and a reopened spool keeps them */
	open_spool(fx, 0);
	assert_int_equal(count_messages(fx), 100);
}

static void test_admin_retry_flush_delete(void **state)
{
	struct fx *fx = *state;
	struct waiter w;
	char err[256], ids[3][SPOOL_ID_LEN + 1];
	size_t count = 99;
	open_spool(fx, 0);
	waiter_init(&w, fx);
	for (int i = 0; i < 3; i++) {
		struct spool_msg *m = make_msg(300, 2);
		memcpy(ids[i], m->id, sizeof(ids[i]));
		commit(fx, &w, m, i);
	}
	run_until(fx, &w, 3);
	db_exec(fx, "UPDATE messages SET next_attempt = 4000000000;"
		    "UPDATE recipients SET next_attempt = 4000000000;"
		    "UPDATE recipients SET state = 'delivered' WHERE position = 1");
	assert_int_equal(spool_admin_retry(fx->dir, ids[0], err, sizeof(err)), 0);
	assert_int_equal(db_int(fx, "SELECT count(*) FROM messages WHERE next_attempt < 4000000000"), 1);
	/* final recipients keep their time */
	assert_int_equal(db_int(fx, "SELECT count(*) FROM recipients WHERE next_attempt < 4000000000"), 1);
	assert_int_equal(spool_admin_retry(fx->dir, "0000000000000000", err, sizeof(err)), 1);
	assert_int_equal(spool_admin_flush(fx->dir, &count, err, sizeof(err)), 0);
	assert_int_equal(count, 3);
	assert_int_equal(db_int(fx, "SELECT count(*) FROM messages WHERE next_attempt > strftime('%s','now')"), 0);
	assert_int_equal(spool_admin_delete(fx->dir, ids[1], err, sizeof(err)), 0);
	assert_int_equal(count_messages(fx), 2);
	assert_int_equal(db_int(fx, "SELECT count(*) FROM recipients"), 4);
	assert_int_equal(spool_admin_delete(fx->dir, ids[1], err, sizeof(err)), 1);
	assert_int_equal(spool_admin_retry(fx->dir, ids[1], err, sizeof(err)), 1);
}

static void test_admin_never_creates_a_spool(void **state)
{
	struct fx *fx = *state;
	char err[256];
	size_t count;
	FILE *f = fopen("/dev/null", "w");
	assert_int_equal(queue_print_list(fx->dir, 0, f, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no spool at"));
	assert_int_equal(spool_admin_flush(fx->dir, &count, err, sizeof(err)), -1);
	assert_int_equal(queue_print_show(fx->dir, "X", 1, f, err, sizeof(err)), -1);
	assert_int_equal(spool_admin_delete(fx->dir, "X", err, sizeof(err)), -1);
	assert_int_equal(access(fx->dir, F_OK), -1);
	fclose(f);
	/* an empty queue lists as nothing, or [] */
	open_spool(fx, 0);
	json_t *j = admin_json(fx, NULL);
	assert_int_equal(json_array_size(j), 0);
	json_decref(j);
}

static void test_rate_of_2000_commits_of_4k(void **state)
{
	struct fx *fx = *state;
	struct waiter w;
	struct spool_stats st;
	open_spool(fx, 0);
	waiter_init(&w, fx);
	double t0 = now_ms();
	for (int i = 0; i < 2000; i++)
		commit(fx, &w, make_msg(4096, 1), i);
	run_until(fx, &w, 2000);
	double t1 = now_ms();
	spool_stats(fx->sp, &st);
	printf("spool: 2000 x 4 KB submitted at once: %.0f ms, %.0f msg/s, %llu groups\n",
	       t1 - t0, 2000.0 / ((t1 - t0) / 1e3), (unsigned long long)st.groups);
	/* one at a time: each waits for its own fsync'd commit */
	t0 = now_ms();
	for (int i = 0; i < 300; i++) {
		commit(fx, &w, make_msg(4096, 1), 2000 + i);
		run_until(fx, &w, 2001 + i);
	}
	t1 = now_ms();
	printf("spool: 300 x 4 KB one at a time: %.0f ms, %.0f commits/s\n", t1 - t0,
	       300.0 / ((t1 - t0) / 1e3));
	/* 32 concurrent submitters: a new one arrives as each commit returns */
	spool_stats(fx->sp, &st);
	uint64_t g0 = st.groups;
	t0 = now_ms();
	for (int i = 0; i < 32; i++)
		commit(fx, &w, make_msg(4096, 1), 2300 + i);
	for (int i = 32; i < 2000; i++) {
		run_until(fx, &w, 2300 + i - 31);
		commit(fx, &w, make_msg(4096, 1), 2300 + i);
	}
	run_until(fx, &w, 4300);
	t1 = now_ms();
	spool_stats(fx->sp, &st);
	printf("spool: 2000 x 4 KB, 32 in flight: %.0f ms, %.0f msg/s, %llu groups\n", t1 - t0,
	       2000.0 / ((t1 - t0) / 1e3), (unsigned long long)(st.groups - g0));
	assert_int_equal(w.ok, 4300);
	assert_int_equal(count_messages(fx), 4300);
}

int main(void)
{
	log_init("test_spool", LOG_DEST_STDERR);
	if (getenv("SPOOL_TEST_DEBUG"))
		log_set_debug(1);
	evthread_use_pthreads();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ack_comes_only_after_row_is_committed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_admin_list_and_show_report_the_message, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group_commit_groups_many_messages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_detached_request_is_committed_without_callback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_spool_refuses_and_keeps_what_it_accepted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_message_does_not_fail_its_group, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ids_are_unique_sortable_and_alnum, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_drains_pending_requests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_admin_retry_flush_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_admin_never_creates_a_spool, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rate_of_2000_commits_of_4k, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
