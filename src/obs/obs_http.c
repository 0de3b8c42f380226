/*
 * obs_http: GET /metrics (Prometheus text format 0.0.4) and the spool's
 * gauges (see obs_http.h).
 */
#include "obs/obs_http.h"

#include <stdlib.h>
#include <time.h>

#include "core/buf.h"
#include "obs/httpd.h"
#include "obs/metrics.h"
#include "spool/spool_obs.h"

static void spool_collect(void *arg)
{
	struct spool_gauges g;
	time_t now = time(NULL);
	spool_gauges(arg, &g);
	metrics_set(M_QUEUE, NULL, NULL, NULL, (double)g.messages);
	metrics_set(M_QUEUE_OLDEST, NULL, NULL, NULL, g.oldest && now > g.oldest ? (double)(now - g.oldest) : 0);
	metrics_set(M_SPOOL_BYTES, NULL, NULL, NULL, (double)g.bytes);
}

static void on_metrics(struct evhttp_request *req, const char *path, void *arg)
{
	struct buf out = BUF_INIT;
	(void)path;
	(void)arg;
	metrics_render(&out);
	httpd_reply(req, 200, "text/plain; version=0.0.4; charset=utf-8", out.data ? out.data : "", out.len);
	buf_free(&out);
}

void obs_http_start(struct httpd *h, struct spool *sp)
{
	metrics_collector_add(spool_collect, sp);
	httpd_handle(h, "/metrics", on_metrics, NULL);
}

void obs_http_stop(struct spool *sp)
{
	metrics_collector_remove(spool_collect, sp);
}
