/*
 * obs_api: the JSON API and the CLI's live answers (see obs_api.h).
 */
#include "obs/obs_api.h"

#include <sys/queue.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/worker.h"
#include "core/xmalloc.h"
#include "cli/queue_render.h"
#include "delivery/sched_metrics.h"
#include "obs/httpd.h"
#include "obs/queue_why.h"
#include "obs/routes_render.h"
#include "obs/status_render.h"
#include "spool/spool.h"
#include "spool/spool_obs.h"
#include "spool/spool_stats.h"

#define JSON_TYPE "application/json"
#define TEXT_TYPE "text/plain; charset=utf-8"

struct obs_api {
	struct worker_pool *wp;
	const struct config *const *cf;
	struct scheduler *sched;
	struct spool *sp;
};

/* A read of the spool, run on a worker. */
struct api_job {
	struct evhttp_request *req;
	enum { J_QUEUE, J_SHOW, J_STATS, J_EVENTS, J_PAGE } kind;
	char *dir, *id, *by, *hostname;
	struct spool *sp;         /* J_STATS, J_PAGE: refusals counted in memory are flushed first */
	json_t *routes;           /* J_PAGE: gathered live on the loop */
	struct queue_live_set live;   /* J_QUEUE, J_SHOW: what the scheduler holds, and why */
	int text;
	time_t since;
	unsigned top, limit;
	int status;
	char *body;
	size_t len;
	const char *type;
};

/* The query's parameters into q (empty when it has none or is malformed). */
static void query_parse(struct evhttp_request *req, struct evkeyvalq *q)
{
	const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
	const char *qs = u ? evhttp_uri_get_query(u) : NULL;
	TAILQ_INIT(q);
	if (qs && evhttp_parse_query_str(qs, q) < 0)
		evhttp_clear_headers(q);
}

static const char *param(const char *key, struct evkeyvalq *q)
{
	return evhttp_find_header(q, key);
}

static void reply_json(struct evhttp_request *req, int status, json_t *doc)
{
	char *s = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
	httpd_reply(req, status, JSON_TYPE, s, strlen(s));
	free(s);
	json_decref(doc);
}

static void reply_error(struct evhttp_request *req, int status, const char *why)
{
	reply_json(req, status, json_pack("{s:s}", "error", why));
}

/* The live routes document (routes_json()). */
static json_t *routes_live(struct obs_api *a)
{
	struct spool_health_row *rows = NULL;
	size_t n = 0;
	struct buf shaping = BUF_INIT;
	if (a->sched)
		sched_routes_live(a->sched, &rows, &n, &shaping);
	buf_putc(&shaping, '\0');
	json_t *doc = routes_json(*a->cf, rows, n, shaping.data);
	buf_free(&shaping);
	sched_routes_free(rows, n);
	return doc;
}

/* The status page's facts from the spool, then its HTML (worker thread). */
static void page_run(struct api_job *j, FILE *out)
{
	char err[512] = "";
	long long ages[SPOOL_AGE_BUCKETS];
	time_t now = time(NULL);
	json_t *stats = spool_stats_query(j->dir, now - 86400, now, "route", 10, err, sizeof(err));
	json_t *events = stats ? spool_stats_events(j->dir, 25, err, sizeof(err)) : NULL;
	int aged = events && spool_queue_ages(j->dir, now, ages, err, sizeof(err)) == 0;
	struct status_facts f = { j->hostname, now, j->routes, stats, events, aged ? ages : NULL,
				  aged ? NULL : err };
	status_render(out, &f);
	json_decref(stats);
	json_decref(events);
}

static void on_routes(struct evhttp_request *req, const char *path, void *arg)
{
	struct obs_api *a = arg;
	struct evkeyvalq q;
	query_parse(req, &q);
	const char *format = param("format", &q);
	struct spool_health_row *rows = NULL;
	size_t n = 0;
	struct buf shaping = BUF_INIT;
	(void)path;
	if (a->sched)
		sched_routes_live(a->sched, &rows, &n, &shaping);
	buf_putc(&shaping, '\0');
	char *body = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&body, &len);
	if (out == NULL)
		abort();   /* out of memory, as xmalloc */
	int text = format && strcmp(format, "text") == 0;
	routes_render(out, *a->cf, rows, n, shaping.data, !text);
	fclose(out);
	httpd_reply(req, 200, text ? TEXT_TYPE : JSON_TYPE, body, len);
	free(body);
	buf_free(&shaping);
	sched_routes_free(rows, n);
	evhttp_clear_headers(&q);
}

static void job_run(void *arg)
{
	struct api_job *j = arg;
	char err[512] = "";
	json_t *doc = NULL;
	FILE *out = open_memstream(&j->body, &j->len);
	int rc = 0;
	if (out == NULL)
		abort();
	j->status = 200;
	j->type = j->text ? TEXT_TYPE : JSON_TYPE;
	if ((j->kind == J_STATS || j->kind == J_PAGE) && j->sp)
		spool_flush_rejected(j->sp);
	if (j->kind == J_PAGE) {
		j->type = "text/html; charset=utf-8";
		page_run(j, out);
	} else if (j->kind == J_QUEUE)
		rc = queue_print_list_live(j->dir, !j->text, &j->live, out, err, sizeof(err));
	else if (j->kind == J_SHOW)
		rc = queue_print_show_live(j->dir, j->id, !j->text, &j->live, out, err, sizeof(err));
	else if (j->kind == J_STATS)
		rc = (doc = spool_stats_query(j->dir, j->since, time(NULL), j->by, j->top, err, sizeof(err))) ? 0 : -1;
	else
		rc = (doc = spool_stats_events(j->dir, j->limit, err, sizeof(err))) ? 0 : -1;
	if (doc) {
		json_dumpf(doc, out, JSON_INDENT(2) | JSON_SORT_KEYS);
		json_decref(doc);
	}
	if (rc != 0) {
		rewind(out);
		j->status = rc == 1 ? 404 : 500;
		j->type = JSON_TYPE;
		doc = json_pack("{s:s}", "error", rc == 1 ? "no such message" : err);
		json_dumpf(doc, out, 0);
		json_decref(doc);
	}
	fclose(out);
	if (rc != 0)
		j->len = strlen(j->body);
}

static void job_free(void *arg)
{
	struct api_job *j = arg;
	free(j->dir);
	free(j->id);
	free(j->by);
	free(j->hostname);
	json_decref(j->routes);
	queue_live_free(&j->live);
	free(j->body);
	free(j);
}

static void job_done(void *arg)
{
	struct api_job *j = arg;
	httpd_reply(j->req, j->status, j->type, j->body ? j->body : "", j->len);
	job_free(j);
}

/* Fills j from the query; an error text for a 400, or NULL. */
static const char *job_params(struct api_job *j, struct evhttp_request *req)
{
	struct evkeyvalq q;
	const char *v, *bad = NULL;
	query_parse(req, &q);
	j->text = (v = param("format", &q)) && strcmp(v, "text") == 0;
	long long since = config_parse_duration((v = param("since", &q)) ? v : "24h");
	if (since <= 0 || since > 366LL * 86400)
		bad = "since: expected a duration such as 24h or 7d (at most 366d)";
	j->since = time(NULL) - (time_t)since;
	j->by = xstrdup((v = param("by", &q)) ? v : "route");
	j->top = (v = param("top", &q)) ? (unsigned)strtoul(v, NULL, 10) : 10;
	j->limit = (v = param("limit", &q)) ? (unsigned)strtoul(v, NULL, 10) : 100;
	if (j->top == 0 || j->top > 100000)
		bad = "top: expected 1 to 100000";
	if (j->limit == 0 || j->limit > 10000)
		bad = "limit: expected 1 to 10000";
	evhttp_clear_headers(&q);
	return bad;
}

static void on_spool_read(struct evhttp_request *req, const char *path, void *arg)
{
	struct obs_api *a = arg;
	struct api_job *j = xcalloc(1, sizeof(*j));
	const char *bad = job_params(j, req);
	j->req = req;
	j->dir = xstrdup((*a->cf)->spool);
	const char *id = strncmp(path, "/api/v1/queue/", 14) == 0 ? path + 14 : "";
	if (strcmp(path, "/api/v1/queue") == 0) {
		j->kind = J_QUEUE;
	} else if (strlen(id) == SPOOL_ID_LEN && strspn(id, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ") == SPOOL_ID_LEN) {
		j->kind = J_SHOW;
		j->id = xstrdup(id);
	} else if (strcmp(path, "/api/v1/stats") == 0) {
		j->kind = J_STATS;
	} else if (strcmp(path, "/api/v1/events") == 0) {
		j->kind = J_EVENTS;
	} else {
		bad = NULL;
		job_free(j);
		return reply_error(req, 404, "not found: /api/v1/{routes,queue,queue/ID,stats,events}");
	}
	if (bad) {
		job_free(j);
		return reply_error(req, 400, bad);
	}
	j->sp = a->sp;
	if ((j->kind == J_QUEUE || j->kind == J_SHOW) && a->sched)
		sched_queue_live(a->sched, &j->live);
	worker_submit(a->wp, job_run, job_done, job_free, j);
}

static void on_page(struct evhttp_request *req, const char *path, void *arg)
{
	struct obs_api *a = arg;
	if (strcmp(path, "/") != 0)
		return httpd_reply(req, 404, TEXT_TYPE, "not found\n", 10);
	struct api_job *j = xcalloc(1, sizeof(*j));
	j->req = req;
	j->kind = J_PAGE;
	j->dir = xstrdup((*a->cf)->spool);
	j->hostname = xstrdup((*a->cf)->hostname);
	j->routes = routes_live(a);
	j->sp = a->sp;
	worker_submit(a->wp, job_run, job_done, job_free, j);
}

struct obs_api *obs_api_new(struct event_base *base, struct httpd *h, const struct config *const *cf,
			    struct scheduler *sched, struct spool *sp)
{
	struct obs_api *a = xcalloc(1, sizeof(*a));
	a->sp = sp;
	a->wp = worker_pool_new(base, 1);
	a->cf = cf;
	a->sched = sched;
	httpd_handle(h, "/api/v1/routes", on_routes, a);
	httpd_handle(h, "/api/v1/", on_spool_read, a);
	httpd_handle(h, "/", on_page, a);
	return a;
}

void obs_api_free(struct obs_api *a)
{
	if (a == NULL)
		return;
	worker_pool_free(a->wp);
	free(a);
}
