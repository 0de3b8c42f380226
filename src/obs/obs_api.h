/*
 * obs_api: GET /api/v1/{routes,queue,queue/ID,stats,events}, the same
 * facts as the CLI's --json (one renderer each: obs/routes_render.h,
 * cli/queue_render.h, spool/spool_stats.h), served on the HTTP listener
 * and on the control socket SPOOL/control.sock that `outpost routes`,
 * `queue list|show` and `stats` ask first.
 *
 * Contract:
 * - routes is live: route health from the scheduler's memory and the
 *   throttle's state (limits, back-off, warm-up) as of the request.
 * - queue, stats and events read the spool on a worker thread (a reader
 *   beside the storage thread; the loop never touches the disk) and answer
 *   when it is done.
 * - ?format=text gives the CLI's text for routes and queue; stats takes
 *   since (a duration, default 24h), by, top; events takes limit (default
 *   100, at most 10000).  Bad parameters: 400 with the reason.
 */
#ifndef OUTPOST_OBS_API_H
#define OUTPOST_OBS_API_H

#define OBS_CONTROL_SOCKET "control.sock"

struct config;
struct httpd;
struct scheduler;
struct spool;
struct event_base;

struct obs_api;

/* cf points at the daemon's current config (a reload replaces it); sched
 * is NULL when delivery is off; sp (may be NULL) is the daemon's spool,
 * whose refusals counted in memory a read of the statistics flushes first
 * (spool_flush_rejected()). */
struct obs_api *obs_api_new(struct event_base *base, struct httpd *h, const struct config *const *cf,
			    struct scheduler *sched, struct spool *sp);
void obs_api_free(struct obs_api *a);

#endif
