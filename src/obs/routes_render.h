/*
 * routes_render: every configured route with the health of its paths, as
 * text for `outpost routes` or as the JSON document of --json and
 * GET /api/v1/routes (one renderer for the CLI and the daemon).
 *
 * Contract: rows are the paths (live from the daemon's memory, or as last
 * saved in the spool); shaping is the throttle's state lines
 * (throttle_describe: limits, back-off, warm-up) when the rows are live,
 * NULL when they come from the spool.  A route is as bad as its worst
 * path; a route without paths has carried no mail and shows as healthy.
 * A path's class is the receiving provider its mail counts under (the
 * provider of the MX hosts: warm-up, back-off, limits by provider; "*" the
 * route as a whole), printed as "provider gmail" and given as both
 * "class" and "provider" in JSON.
 * JSON: { "routes": [ { name, type, description, state, paths: [ { class,
 * provider, state, reason, last_reply, changed, probe_at, consecutive_failures,
 * sent_last_hour, failed_last_hour, updated } ] } ], "live": bool,
 * "shaping": [ lines ] (live only) }.
 */
#ifndef OUTPOST_ROUTES_RENDER_H
#define OUTPOST_ROUTES_RENDER_H
#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

#include "spool/spool_health.h"

struct config;

json_t *routes_json(const struct config *cf, const struct spool_health_row *rows, size_t n, const char *shaping);
void routes_render(FILE *out, const struct config *cf, const struct spool_health_row *rows, size_t n,
		   const char *shaping, int json);

#endif
