/*
 * route_health: for `outpost route explain`, the health of each route of
 * the matching rule's via, in order, for the recipient's destination class
 * (the worst of the route's "*" path and that class's path): live from the
 * running daemon (GET /api/v1/routes on its control socket), else as last
 * saved in the spool.  A path with no mail yet is healthy.
 */
#ifndef OUTPOST_ROUTE_HEALTH_H
#define OUTPOST_ROUTE_HEALTH_H
#include <jansson.h>

struct config;

/* routes_json()'s document, live or from the spool ("live" says which). */
json_t *route_health_doc(const struct config *cf);
/* { route, class, state, reason, probe_at, ... } of route for dclass. */
json_t *route_health_of(const json_t *doc, const char *route, const char *dclass);
void route_health_print(const json_t *health, int live);

#endif
