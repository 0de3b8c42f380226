/*
 * route_health: the health of each route of a rule's via, in order, for
 * `outpost route explain` (route_health.h).
 */
#include "cli/route_health.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli/daemon_client.h"
#include "core/buf.h"
#include "core/config.h"
#include "obs/routes_render.h"
#include "spool/spool_admin.h"
#include "spool/spool_health.h"

json_t *route_health_doc(const struct config *cf)
{
	struct buf body = BUF_INIT;
	int status = 0;
	json_t *doc = NULL;
	if (daemon_get(cf, "/api/v1/routes", &body, &status) == 0 && status == 200)
		doc = json_loadb(body.data ? body.data : "", body.len, 0, NULL);
	buf_free(&body);
	if (doc)
		return doc;
	struct spool_health_row *rows = NULL;
	size_t n = 0;
	char err[512];
	if (spool_admin_routes(cf->spool, &rows, &n, err, sizeof(err)) < 0)
		n = 0;    /* no spool yet: every route is unused */
	doc = routes_json(cf, rows, n, NULL);
	spool_health_rows_free(rows, n);
	return doc;
}

static int rank(const char *state)
{
	return strcmp(state, "down") == 0 ? 2 : strcmp(state, "degraded") == 0 ? 1 : 0;
}

json_t *route_health_of(const json_t *doc, const char *route, const char *dclass)
{
	size_t i, k;
	json_t *r, *p, *worst = NULL;
	json_array_foreach(json_object_get(doc, "routes"), i, r) {
		if (strcmp(json_string_value(json_object_get(r, "name")), route) != 0)
			continue;
		json_array_foreach(json_object_get(r, "paths"), k, p) {
			const char *c = json_string_value(json_object_get(p, "class"));
			if (strcmp(c, "*") != 0 && strcmp(c, dclass) != 0)
				continue;
			if (worst == NULL || rank(json_string_value(json_object_get(p, "state"))) >
					     rank(json_string_value(json_object_get(worst, "state"))))
				worst = p;
		}
	}
	if (worst == NULL)
		return json_pack("{s:s,s:s,s:s,s:s}", "route", route, "class", dclass, "state", "healthy", "reason",
				 "no mail on this path yet");
	json_t *h = json_deep_copy(worst);
	json_object_set_new(h, "route", json_string(route));
	return h;
}

void route_health_print(const json_t *health, int live)
{
	size_t i;
	json_t *h;
	time_t now = time(NULL);
	printf("route health, in the order of via (%s):\n", live ? "live from outpostd" : "as saved in the spool");
	json_array_foreach(health, i, h) {
		const char *state = json_string_value(json_object_get(h, "state"));
		printf("  %zu. %s: %s (class %s)", i + 1, json_string_value(json_object_get(h, "route")), state,
		       json_string_value(json_object_get(h, "class")));
		long long probe = (long long)json_integer_value(json_object_get(h, "probe_at"));
		if (strcmp(state, "down") == 0 && probe > now)
			printf(", next probe in %llds", probe - (long long)now);
		const char *reason = json_string_value(json_object_get(h, "reason"));
		printf("%s%s\n", reason && *reason ? ": " : "", reason ? reason : "");
	}
}
