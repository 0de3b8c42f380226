/*
 * suppress_api: the CLI's changes into the daemon's suppression set
 * (contract in suppress_api.h).  One worker thread owns the read-only
 * connection; the set serialises its writers itself, so a refresh here and
 * one from the feedback worker cannot interleave their read and apply.
 */
#include <sys/queue.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/worker.h"
#include "core/xmalloc.h"
#include "feedback/suppress_api.h"
#include "feedback/suppress_set.h"
#include "obs/httpd.h"

#define JSON_TYPE "application/json"

struct suppress_api {
	struct worker_pool *wp;
	sqlite3 *db;               /* used only on wp's thread */
	struct suppress_set *set;
};

struct sync_job {
	struct suppress_api *a;
	struct evhttp_request *req;   /* NULL: a reload on SIGHUP */
	char *address, *scope;        /* address NULL: reload the whole list */
	long result;                  /* listed (0/1) or entries; -1 on error */
	char err[512];
};

static void sync_run(void *arg)
{
	struct sync_job *j = arg;
	struct suppress_api *a = j->a;
	if (j->address) {
		j->result = suppress_set_refresh(a->set, a->db, j->address, j->scope, time(NULL), j->err, sizeof(j->err));
		if (j->result >= 0)
			msg_info("event=suppression_refreshed rcpt=<%s> scope=%s listed=%s", j->address,
				 j->scope[0] ? j->scope : "global", j->result ? "yes" : "no");
	} else {
		j->result = suppress_set_load(a->set, a->db, time(NULL), j->err, sizeof(j->err));
		struct suppress_set_stats st;
		suppress_set_stats(a->set, &st);
		if (j->result >= 0)
			msg_info("event=suppression_reloaded entries=%ld bytes=%zu", j->result, st.bytes);
	}
	if (j->result < 0)
		msg_warn("event=suppress_set_error rcpt=<%s> error=\"%s\"", j->address ? j->address : "*", j->err);
}

static void sync_free(void *arg)
{
	struct sync_job *j = arg;
	free(j->address);
	free(j->scope);
	free(j);
}

static void reply_json(struct evhttp_request *req, int status, json_t *doc)
{
	char *s = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
	httpd_reply(req, status, JSON_TYPE, s, strlen(s));
	free(s);
	json_decref(doc);
}

static void sync_done(void *arg)
{
	struct sync_job *j = arg;
	if (j->req == NULL) {
		sync_free(j);
		return;
	}
	if (j->result < 0)
		reply_json(j->req, 500, json_pack("{s:s}", "error", j->err));
	else if (j->address)
		reply_json(j->req, 200, json_pack("{s:s, s:s, s:b}", "address", j->address, "scope", j->scope, "listed",
						  (int)j->result));
	else
		reply_json(j->req, 200, json_pack("{s:I}", "entries", (json_int_t)j->result));
	sync_free(j);
}

static void on_request(struct evhttp_request *req, const char *path, void *arg)
{
	struct suppress_api *a = arg;
	const char *what = path + strlen(SUPPRESS_API_PATH);
	int refresh = strcmp(what, "refresh") == 0;
	if (!refresh && strcmp(what, "reload") != 0)
		return reply_json(req, 404, json_pack("{s:s}", "error", "not found: " SUPPRESS_API_PATH "{refresh,reload}"));
	struct sync_job *j = xcalloc(1, sizeof(*j));
	j->a = a;
	j->req = req;
	if (refresh) {
		const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
		const char *qs = u ? evhttp_uri_get_query(u) : NULL, *v;
		struct evkeyvalq q;
		TAILQ_INIT(&q);
		if (qs && evhttp_parse_query_str(qs, &q) == 0 && (v = evhttp_find_header(&q, "address")) && *v) {
			j->address = xstrdup(v);
			j->scope = xstrdup((v = evhttp_find_header(&q, "scope")) ? v : "");
		}
		evhttp_clear_headers(&q);
		if (j->address == NULL) {
			sync_free(j);
			return reply_json(req, 400, json_pack("{s:s}", "error", "refresh: expected ?address=A[&scope=S]"));
		}
	}
	worker_submit(a->wp, sync_run, sync_done, sync_free, j);
}

struct suppress_api *suppress_api_new(struct event_base *base, struct httpd *h, const char *spool_dir,
				      struct suppress_set *set, char *err, size_t errlen)
{
	char path[4096];
	int n = snprintf(path, sizeof(path), "%s/queue.db", spool_dir);
	sqlite3 *db = NULL;
	if (n < 0 || (size_t)n >= sizeof(path) ||
	    sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "suppression api: cannot open %s: %s", path, db ? sqlite3_errmsg(db) : "");
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_busy_timeout(db, 10000);
	struct suppress_api *a = xcalloc(1, sizeof(*a));
	a->db = db;
	a->set = set;
	a->wp = worker_pool_new(base, 1);
	httpd_handle(h, SUPPRESS_API_PATH, on_request, a);
	return a;
}

void suppress_api_reload(struct suppress_api *a)
{
	struct sync_job *j = xcalloc(1, sizeof(*j));
	j->a = a;
	worker_submit(a->wp, sync_run, sync_done, sync_free, j);
}

void suppress_api_free(struct suppress_api *a)
{
	if (a == NULL)
		return;
	worker_pool_free(a->wp);
	sqlite3_close(a->db);
	free(a);
}
