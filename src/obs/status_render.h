/*
 * status_render: the status page (GET /) as one HTML document with inline
 * CSS and inline SVG charts drawn here: no script, nothing loaded from
 * elsewhere (not even a favicon), so it works offline and behind any proxy.
 *
 * Contract: a pure function of the facts it is given (the JSON of
 * routes_json(), spool_stats_query() over 24 h by route, spool_stats_events()
 * and the queue's age buckets); every string from them is HTML-escaped.
 * Sections (ids the tests look for): #routes (health with reasons and the
 * shaping in force), #charts (per route, delivered/deferred/bounced per
 * hour over 24 h, one <svg class="chart"> each), #queue-age, #reasons (top
 * bounce and deferral reasons), #events (recent events).
 */
#ifndef OUTPOST_STATUS_RENDER_H
#define OUTPOST_STATUS_RENDER_H
#include <jansson.h>
#include <stdio.h>
#include <time.h>

struct status_facts {
	const char *hostname;
	time_t now;
	const json_t *routes;     /* routes_json() */
	const json_t *stats;      /* spool_stats_query(), 24 h, by route; NULL: unreadable */
	const json_t *events;     /* spool_stats_events() */
	const long long *ages;    /* SPOOL_AGE_BUCKETS counts, NULL: unreadable */
	const char *error;        /* why stats or ages are missing, or NULL */
};

void status_render(FILE *out, const struct status_facts *f);

#endif
