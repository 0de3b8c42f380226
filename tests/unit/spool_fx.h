/*
 * spool_fx.h: the fixture of the unit tests that drive the real storage
 * thread (test_spool_queue.c, test_spool_seg.c): a spool in a temporary
 * directory, an event base to wait on, and commit/claim/record calls that
 * wait for their answer.  Define SPOOL_FX_TAG (the temporary directory's
 * name) before including it, after cmocka.h, tmpdir.h and the spool headers.
 */
#ifndef OUTPOST_TESTS_SPOOL_FX_H
#define OUTPOST_TESTS_SPOOL_FX_H

#define MAX_CLAIMED 256

struct fx {
	char tmp[64];
	char dir[128];
	struct event_base *base;
	struct spool *sp;
	int calls;                              /* callbacks of any kind */
	struct spool_due_msg *claimed[MAX_CLAIMED];
	size_t nclaimed;
	int ok, failed;
	char reason[200];
	time_t next_due;
};

/* --- helpers ------------------------------------------------------------- */

static void drop_claimed(struct fx *fx)
{
	for (size_t i = 0; i < fx->nclaimed; i++)
		spool_due_free(fx->claimed[i]);
	fx->nclaimed = 0;
}

static int setup(void **state)
{
	struct fx *fx = xcalloc(1, sizeof(*fx));
	assert_int_equal(tmpdir_make(fx->tmp, sizeof(fx->tmp), SPOOL_FX_TAG), 0);
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
	drop_claimed(fx);
	spool_close(fx->sp);
	event_base_free(fx->base);
	assert_int_equal(tmpdir_remove(fx->tmp), 0);
	free(fx);
	return 0;
}

static void open_spool(struct fx *fx)
{
	char err[256];
	fx->sp = spool_open(fx->dir, 0, fx->base, err, sizeof(err));
	if (fx->sp == NULL)
		fail_msg("spool_open: %s", err);
}

static void reopen_spool(struct fx *fx)
{
	spool_close(fx->sp);
	fx->sp = NULL;
	open_spool(fx);
}

static struct spool_msg *make_msg(const char *sender, size_t nrcpts)
{
	static const char text[] = "Subject: test\r\nFrom: <sender@example.com>\r\n\r\nbody\r\n";
	struct spool_msg *m = xcalloc(1, sizeof(*m));
	spool_id_new(m->id);
	m->sender = xstrdup(sender);
	m->rcpts = xcalloc(nrcpts ? nrcpts : 1, sizeof(char *));
	for (size_t i = 0; i < nrcpts; i++)
		m->rcpts[i] = xasprintf("rcpt%zu@example.net", i);
	m->nrcpts = nrcpts;
	m->client_addr = xstrdup("192.0.2.1");
	m->client_helo = xstrdup("client.example.com");
	m->body = xstrdup(text);
	m->body_len = sizeof(text) - 1;
	m->body_8bit = 1;
	return m;
}

static char *db_path(struct fx *fx)
{
	return xasprintf("%s/%s", fx->dir, SPOOL_DB_NAME);
}

static sqlite3 *db_open(struct fx *fx)
{
	char *path = db_path(fx);
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
					 NULL), SQLITE_OK);
	assert_int_equal(sqlite3_busy_timeout(db, 5000), SQLITE_OK);
	free(path);
	return db;
}

static sqlite3_int64 db_int(struct fx *fx, const char *fmt, ...)
{
	va_list ap;
	char sql[512];
	sqlite3_stmt *st = NULL;
	sqlite3_int64 v = -1;
	va_start(ap, fmt);
	int n = vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	assert_true(n > 0 && (size_t)n < sizeof(sql));
	sqlite3 *db = db_open(fx);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	assert_int_equal(sqlite3_finalize(st), SQLITE_OK);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
	return v;
}

static void db_exec(struct fx *fx, const char *sql)
{
	sqlite3 *db = db_open(fx);
	char *err = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("%s: %s", sql, err);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	*(int *)arg = 1;
}

/* Runs the loop until fx has seen want callbacks in all (or 60 s pass). */
static void run_until(struct fx *fx, int want)
{
	int timed_out = 0;
	struct timeval tv = { 60, 0 };
	struct event *t = event_new(fx->base, -1, 0, on_timeout, &timed_out);
	assert_int_equal(event_add(t, &tv), 0);
	while (fx->calls < want && !timed_out)
		assert_true(event_base_loop(fx->base, EVLOOP_ONCE) >= 0);
	event_free(t);
	assert_false(timed_out);
}

static void on_commit(void *arg, int ok, const char *reason)
{
	struct fx *fx = arg;
	fx->calls++;
	if (ok) {
		fx->ok++;
	} else {
		fx->failed++;
		snprintf(fx->reason, sizeof(fx->reason), "%s", reason);
	}
}

static void on_due(void *arg, struct spool_due_msg **msgs, size_t n)
{
	struct fx *fx = arg;
	fx->calls++;
	for (size_t i = 0; i < n; i++) {
		assert_true(fx->nclaimed < MAX_CLAIMED);
		fx->claimed[fx->nclaimed++] = msgs[i];
	}
	free(msgs);   /* the array is the callback's too */
}

/* Commits m and waits; returns its id in id. */
static void commit_wait(struct fx *fx, struct spool_msg *m, char id[SPOOL_ID_LEN + 1])
{
	memcpy(id, m->id, SPOOL_ID_LEN + 1);
	int want = fx->calls + 1, ok = fx->ok;
	spool_commit(fx->sp, m, on_commit, fx);
	run_until(fx, want);
	assert_int_equal(fx->ok, ok + 1);
}

/* Claims (up to limit, at now) and waits; the result is in fx->claimed. */
static size_t claim_wait(struct fx *fx, time_t now, size_t limit)
{
	drop_claimed(fx);
	int want = fx->calls + 1;
	spool_claim_due(fx->sp, now, limit, on_due, fx);
	run_until(fx, want);
	return fx->nclaimed;
}

static int record_wait(struct fx *fx, const char *id, const struct spool_outcome *o, size_t n,
		       struct spool_msg *dsn)
{
	int want = fx->calls + 1, ok = fx->ok;
	spool_record(fx->sp, id, o, n, 0, dsn, on_commit, fx);
	run_until(fx, want);
	return fx->ok == ok + 1;
}

static struct spool_outcome outcome(int position, enum spool_rcpt_state state, time_t next)
{
	struct spool_outcome o = {
		.position = position, .state = state, .next_attempt = next,
		.reply = state == SPOOL_RCPT_DELIVERED ? "250 2.0.0 Ok: queued as X"
			: state == SPOOL_RCPT_BOUNCED ? "550 5.1.1 No such user"
			: "451 4.7.1 Try again later",
		.route = "direct", .host = "mx.example.net", .ip = "192.0.2.25",
		.tls = "TLSv1.3 TLS_AES_256_GCM_SHA384 verified",
	};
	return o;
}

static const struct spool_due_msg *claimed_by_id(struct fx *fx, const char *id)
{
	for (size_t i = 0; i < fx->nclaimed; i++)
		if (strcmp(fx->claimed[i]->id, id) == 0)
			return fx->claimed[i];
	return NULL;
}

#endif
