/*
 * obs_http: what the operator's HTTP listener serves (GET /metrics) and
 * the collectors that feed it from the spool.
 *
 * Contract: obs_http_start() registers the handlers on h (nothing when h
 * is NULL: no listener configured) and the spool's gauges as a metrics
 * collector; obs_http_stop() removes the collector.  Everything runs on
 * the loop thread and reads only memory (spool_gauges(), metrics).
 */
#ifndef OUTPOST_OBS_HTTP_H
#define OUTPOST_OBS_HTTP_H

struct httpd;
struct spool;

void obs_http_start(struct httpd *h, struct spool *sp);
void obs_http_stop(struct spool *sp);

#endif
