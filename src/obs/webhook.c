/*
 * webhook: the per-hook loop (read a batch of events, POST each in order,
 * save the cursor, retry with back-off), its POSTs on the loop through
 * core/curl_ev.  See webhook.h.
 */
#include "obs/webhook.h"

#include <curl/curl.h>
#include <event2/event.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/config.h"
#include "core/curl_ev.h"
#include "core/log.h"
#include "core/worker.h"
#include "core/xmalloc.h"
#include "spool/spool.h"

#define BATCH 100
#define RETRY_MAX 300
#define POLL_SECONDS 1
#define SAVE_EVERY BATCH         /* acknowledged events between two cursor saves, at most */

struct wevent {
	long long id, time;
	char *event, *qid, *route, *rcpt, *detail;
};

struct hook {
	struct webhook *w;
	char *url, *secret, *ca_file;
	unsigned mask;                 /* bit i: webhook_event_names[i] */
	long long cursor;              /* last id acknowledged */
	struct wevent *batch;
	size_t n, pos;
	unsigned failures;
	unsigned unsaved;              /* acknowledged since the cursor was last saved */
	struct event *wait;            /* retry or poll */
	CURL *easy;
	struct curl_slist *hdrs;
	int ready;                     /* the cursor is known */
};

struct webhook {
	struct event_base *base;
	struct curl_ev *curl;          /* one multi handle: its connections are kept between POSTs */
	struct worker_pool *wp;
	char *db;                      /* SPOOL/queue.db */
	struct hook hooks[WEBHOOK_MAX];
	size_t n;
};

/* A spool job of one hook, run on the worker. */
struct wjob {
	struct hook *h;
	enum { WJ_INIT, WJ_READ, WJ_SAVE } kind;
	long long cursor;              /* INIT: the result; SAVE: to store */
	struct wevent *batch;          /* READ: the result */
	size_t n;
	int ok;
};

static void hook_next(struct hook *h);
static void hook_post(struct hook *h);
static void on_posted(CURL *easy, CURLcode rc, void *arg);
static void hook_job(struct hook *h, int kind, long long cursor);

/* --- signing ----------------------------------------------------------- */

void webhook_sign(const char *secret, long long t, const char *body, size_t len, char *out, size_t outlen)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	char ts[32];
	int tn = snprintf(ts, sizeof(ts), "%lld.", t);
	size_t total = (size_t)tn + len;
	char *msg = xmalloc(total);
	memcpy(msg, ts, (size_t)tn);
	memcpy(msg + tn, body, len);
	HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)msg, total, mac, &maclen);
	free(msg);
	int n = snprintf(out, outlen, "t=%lld,v1=", t);
	for (unsigned i = 0; i < maclen && n > 0 && (size_t)n + 2 < outlen; i++)
		n += snprintf(out + n, outlen - (size_t)n, "%02x", mac[i]);
}

/* --- the spool, on the worker ------------------------------------------- */

static sqlite3 *job_db(struct hook *h, int rw)
{
	sqlite3 *db = NULL;
	/* synchronous=NORMAL (WAL): a cursor lost with the power is events sent
	 * again, which at least once allows; no fsync per save */
	if (sqlite3_open_v2(h->w->db, &db, rw ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
	    sqlite3_busy_timeout(db, 10000) != SQLITE_OK ||
	    (rw && sqlite3_exec(db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL) != SQLITE_OK)) {
		sqlite3_close(db);
		return NULL;
	}
	return db;
}

/* A new hook starts at the newest event; a known one where it was. */
static int job_init(struct wjob *j, sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	int ok = sqlite3_prepare_v2(db, "INSERT OR IGNORE INTO webhook_cursor (url, last_id)"
				    " SELECT ?1, coalesce(max(id), 0) FROM stats_events", -1, &st, NULL) == SQLITE_OK &&
		 sqlite3_bind_text(st, 1, j->h->url, -1, SQLITE_STATIC) == SQLITE_OK && sqlite3_step(st) == SQLITE_DONE;
	sqlite3_finalize(st);
	st = NULL;
	ok = ok && sqlite3_prepare_v2(db, "SELECT last_id FROM webhook_cursor WHERE url = ?1", -1, &st, NULL) ==
			   SQLITE_OK && sqlite3_bind_text(st, 1, j->h->url, -1, SQLITE_STATIC) == SQLITE_OK &&
		 sqlite3_step(st) == SQLITE_ROW;
	if (ok)
		j->cursor = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return ok;
}

/* The column as a string, NULL for SQL NULL (null in the JSON). */
static char *col_dup(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	return t ? xstrdup((const char *)t) : NULL;
}

static int event_wanted(const struct hook *h, const char *event)
{
	for (unsigned i = 0; webhook_event_names[i]; i++)
		if (strcmp(event, webhook_event_names[i]) == 0)
			return (h->mask >> i) & 1;
	return 0;
}

static int job_read(struct wjob *j, sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, "SELECT id, time, event, qid, route, rcpt, detail FROM stats_events"
			       " WHERE id > ?1 ORDER BY id LIMIT ?2", -1, &st, NULL) != SQLITE_OK)
		return 0;
	sqlite3_bind_int64(st, 1, j->h->cursor);
	sqlite3_bind_int(st, 2, BATCH);
	j->batch = xcalloc(BATCH, sizeof(*j->batch));
	int rc;
	long long last = j->h->cursor;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		last = sqlite3_column_int64(st, 0);
		const char *ev = (const char *)sqlite3_column_text(st, 2);
		if (ev == NULL || !event_wanted(j->h, ev))
			continue;
		j->batch[j->n++] = (struct wevent){ last, sqlite3_column_int64(st, 1), col_dup(st, 2), col_dup(st, 3),
			col_dup(st, 4), col_dup(st, 5), col_dup(st, 6) };
	}
	j->cursor = last;   /* events it does not want are passed over */
	sqlite3_finalize(st);
	return rc == SQLITE_DONE;
}

static int job_save(struct wjob *j, sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	int ok = sqlite3_prepare_v2(db, "UPDATE webhook_cursor SET last_id = ?2 WHERE url = ?1", -1, &st, NULL) ==
			 SQLITE_OK && sqlite3_bind_text(st, 1, j->h->url, -1, SQLITE_STATIC) == SQLITE_OK &&
		 sqlite3_bind_int64(st, 2, j->cursor) == SQLITE_OK && sqlite3_step(st) == SQLITE_DONE;
	sqlite3_finalize(st);
	return ok;
}

static void job_run(void *arg)
{
	struct wjob *j = arg;
	sqlite3 *db = job_db(j->h, j->kind != WJ_READ);
	if (db == NULL)
		return;
	j->ok = j->kind == WJ_INIT ? job_init(j, db) : j->kind == WJ_READ ? job_read(j, db) : job_save(j, db);
	sqlite3_close(db);
}

static void batch_free(struct wevent *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(b[i].event);
		free(b[i].qid);
		free(b[i].route);
		free(b[i].rcpt);
		free(b[i].detail);
	}
	free(b);
}

static void job_free(void *arg)
{
	struct wjob *j = arg;
	batch_free(j->batch, j->n);
	free(j);
}

static void hook_wait(struct hook *h, int seconds)
{
	struct timeval tv = { seconds, 0 };
	evtimer_add(h->wait, &tv);
}

static void job_done(void *arg)
{
	struct wjob *j = arg;
	struct hook *h = j->h;
	if (!j->ok) {
		msg_warn("event=webhook_error url=%s reason=\"the spool could not be read or written\"", h->url);
		job_free(j);
		return hook_wait(h, 5);
	}
	if (j->kind == WJ_INIT) {
		h->cursor = j->cursor;
		h->ready = 1;
	} else if (j->kind == WJ_READ) {
		h->batch = j->batch;
		h->n = j->n;
		h->pos = 0;
		j->batch = NULL;
		j->n = 0;
		if (h->n == 0 && j->cursor > h->cursor) {
			/* only events it does not want: passed over, and saved so
			 * that they may be pruned */
			h->cursor = j->cursor;
			job_free(j);
			return hook_job(h, WJ_SAVE, h->cursor);
		}
	}
	job_free(j);
	hook_next(h);
}

static void hook_job(struct hook *h, int kind, long long cursor)
{
	struct wjob *j = xcalloc(1, sizeof(*j));
	j->h = h;
	j->kind = kind;
	j->cursor = cursor;
	worker_submit(h->w->wp, job_run, job_done, job_free, j);
}

/* What to do next: init, post the next event of the batch, or read more. */
static void hook_next(struct hook *h)
{
	if (!h->ready)
		return hook_job(h, WJ_INIT, 0);
	if (h->pos < h->n)
		return hook_post(h);
	int had = h->n > 0;
	batch_free(h->batch, h->n);
	h->batch = NULL;
	h->n = h->pos = 0;
	if (had)
		return hook_job(h, WJ_READ, 0);   /* more may be there at once */
	hook_wait(h, POLL_SECONDS);
}

static void on_wait(evutil_socket_t fd, short what, void *arg)
{
	struct hook *h = arg;
	(void)fd;
	(void)what;
	if (h->pos < h->n)
		return hook_post(h);   /* a retry */
	if (!h->ready)
		return hook_job(h, WJ_INIT, 0);
	hook_job(h, WJ_READ, 0);
}

/* --- one POST ------------------------------------------------------------- */

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

/* The detail of an event: the text of a message's events (received,
 * delivered, deferred, bounced: the envelope or the reply), the JSON
 * object of the others (obs_event), or null. */
static json_t *event_detail(const struct wevent *e)
{
	static const char *const text_events[] = { "received", "delivered", "deferred", "bounced" };
	if (e->detail == NULL)
		return json_null();
	for (size_t i = 0; i < sizeof(text_events) / sizeof(text_events[0]); i++)
		if (strcmp(e->event, text_events[i]) == 0)
			return json_string(e->detail);
	json_t *o = json_loads(e->detail, 0, NULL);
	if (json_is_object(o))
		return o;
	json_decref(o);
	return json_string(e->detail);
}

static char *event_body(const struct wevent *e)
{
	json_t *o = json_pack("{s:I,s:s,s:I,s:s?,s:s?,s:s?,s:o?}", "id", (json_int_t)e->id, "event", e->event, "time",
			      (json_int_t)e->time, "qid", e->qid, "route", e->route, "recipient", e->rcpt, "detail",
			      event_detail(e));
	char *body = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(o);
	return body ? body : xstrdup("{}");
}

static struct curl_slist *event_headers(const struct hook *h, const struct wevent *e, const char *body)
{
	char sig[160], line[256];
	struct curl_slist *l = NULL;
	webhook_sign(h->secret, (long long)time(NULL), body, strlen(body), sig, sizeof(sig));
	l = curl_slist_append(l, "Content-Type: application/json");
	snprintf(line, sizeof(line), "X-Outpost-Signature: %s", sig);
	l = curl_slist_append(l, line);
	snprintf(line, sizeof(line), "X-Outpost-Event: %s", e->event ? e->event : "");
	l = curl_slist_append(l, line);
	snprintf(line, sizeof(line), "X-Outpost-Event-Id: %lld", e->id);
	l = curl_slist_append(l, line);
	l = curl_slist_append(l, "User-Agent: outpost/" OUTPOST_VERSION);
	l = curl_slist_append(l, "Expect:");
	return l;
}

static void hook_post(struct hook *h)
{
	const struct wevent *e = &h->batch[h->pos];
	char *body = event_body(e);
	h->easy = curl_easy_init();
	if (h->easy == NULL)
		msg_fatal("event=webhook_error reason=\"curl_easy_init failed\"");
	h->hdrs = event_headers(h, e, body);
	curl_easy_setopt(h->easy, CURLOPT_URL, h->url);
	curl_easy_setopt(h->easy, CURLOPT_COPYPOSTFIELDS, body);
	curl_easy_setopt(h->easy, CURLOPT_HTTPHEADER, h->hdrs);
	curl_easy_setopt(h->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h->easy, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(h->easy, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(h->easy, CURLOPT_WRITEFUNCTION, discard);
	if (h->ca_file)
		curl_easy_setopt(h->easy, CURLOPT_CAINFO, h->ca_file);
	free(body);
	curl_ev_add(h->w->curl, h->easy, on_posted, h);
}

/* The POST of the current event ended: save the cursor after a 2xx, else
 * try it again later. */
static void hook_posted(struct hook *h, CURLcode rc, long status)
{
	const struct wevent *e = &h->batch[h->pos];
	curl_easy_cleanup(h->easy);
	curl_slist_free_all(h->hdrs);
	h->easy = NULL;
	h->hdrs = NULL;
	if (rc == CURLE_OK && status >= 200 && status < 300) {
		msg_info("event=webhook_sent url=%s id=%lld event=%s qid=%s status=%ld", h->url, e->id, e->event,
			 e->qid ? e->qid : "-", status);
		h->failures = 0;
		h->cursor = e->id;
		h->pos++;
		/* the cursor is saved once per batch, not per event */
		if (h->pos < h->n && ++h->unsaved < SAVE_EVERY)
			return hook_post(h);
		h->unsaved = 0;
		return hook_job(h, WJ_SAVE, h->cursor);
	}
	int delay = 1 << (h->failures < 9 ? h->failures : 9);
	if (delay > RETRY_MAX)
		delay = RETRY_MAX;
	h->failures++;
	msg_warn("event=webhook_failed url=%s id=%lld event=%s status=%ld reason=\"%s\" retry_in=%ds", h->url, e->id,
		 e->event, status, rc == CURLE_OK ? "not a 2xx answer" : curl_easy_strerror(rc), delay);
	hook_wait(h, delay);
}

static void on_posted(CURL *easy, CURLcode rc, void *arg)
{
	long status = 0;
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
	hook_posted(arg, rc, status);
}

/* --- life ------------------------------------------------------------------ */

static void hook_init(struct webhook *w, struct hook *h, const struct webhook_conf *c)
{
	h->w = w;
	h->url = xstrdup(c->url);
	h->secret = xstrdup(c->secret);
	h->ca_file = c->ca_file ? xstrdup(c->ca_file) : NULL;
	for (size_t k = 0; k < c->nevents; k++)
		for (unsigned i = 0; webhook_event_names[i]; i++)
			if (strcmp(c->events[k], webhook_event_names[i]) == 0)
				h->mask |= 1u << i;
	h->wait = evtimer_new(w->base, on_wait, h);
	msg_info("event=webhook url=%s events=%zu", h->url, c->nevents);
	hook_next(h);
}

struct webhook *webhook_new(struct event_base *base, const struct config *cf)
{
	if (cf->nwebhooks == 0)
		return NULL;
	struct webhook *w = xcalloc(1, sizeof(*w));
	w->base = base;
	w->db = xasprintf("%s/%s", cf->spool, SPOOL_DB_NAME);
	w->wp = worker_pool_new(base, 1);
	w->curl = curl_ev_new(base);
	for (size_t i = 0; i < cf->nwebhooks && i < WEBHOOK_MAX; i++)
		hook_init(w, &w->hooks[w->n++], &cf->webhooks[i]);
	return w;
}

void webhook_free(struct webhook *w)
{
	if (w == NULL)
		return;
	worker_pool_free(w->wp);   /* jobs still queued are dropped: the spool keeps their events */
	for (size_t i = 0; i < w->n; i++) {
		struct hook *h = &w->hooks[i];
		if (h->easy) {
			curl_ev_cancel(w->curl, h->easy);
			curl_easy_cleanup(h->easy);
			curl_slist_free_all(h->hdrs);
		}
		batch_free(h->batch, h->n);
		event_free(h->wait);
		free(h->url);
		free(h->secret);
		free(h->ca_file);
	}
	curl_ev_free(w->curl);
	free(w->db);
	free(w);
}
