/*
 * routes: every configured route with the health of its paths, as the
 * daemon last saved it in the spool (every few seconds while it runs).
 *     outpost routes [--json]
 * A route is as bad as its worst path; a route without saved paths has
 * carried no mail since the spool was made and shows as healthy.
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli/commands.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/name_code.h"
#include "delivery/health.h"
#include "delivery/router.h"
#include "spool/spool_admin.h"
#include "spool/spool_health.h"

static int state_rank(const char *state)
{
	int code = name_code(health_state_names, state);
	return code < 0 ? HEALTH_HEALTHY : code;      /* a state this version does not know */
}

static const char *route_state(const struct spool_health_row *rows, size_t n, const char *route)
{
	int worst = 0;
	for (size_t i = 0; i < n; i++)
		if (strcmp(rows[i].route, route) == 0 && state_rank(rows[i].state) > worst)
			worst = state_rank(rows[i].state);
	return health_state_name((enum health_state)worst);
}

static void when(time_t t, time_t now, char *out, size_t len)
{
	if (t <= now)
		snprintf(out, len, "now");
	else if (t - now < 120)
		snprintf(out, len, "in %llds", (long long)(t - now));
	else
		snprintf(out, len, "in %lldm", (long long)((t - now + 59) / 60));
}

static void print_path(const struct spool_health_row *r, time_t now)
{
	char probe[32] = "";
	if (state_rank(r->state) == HEALTH_DOWN)
		when(r->probe_at, now, probe, sizeof(probe));
	printf("  %-12s %-9s sent %u, failed %u in the last hour%s%s\n", r->dclass, r->state, r->sent_hour,
	       r->failed_hour, probe[0] ? "; probe " : "", probe);
	if (r->reason[0])
		printf("  %-12s reason: %s\n", "", r->reason);
	if (r->last_reply[0])
		printf("  %-12s last reply: %s\n", "", r->last_reply);
}

static void print_text(const struct config *cf, const struct spool_health_row *rows, size_t n)
{
	time_t now = time(NULL), updated = 0;
	for (size_t i = 0; i < n; i++)
		updated = rows[i].updated > updated ? rows[i].updated : updated;
	for (size_t k = 0; k < cf->nroutes; k++) {
		const struct route_conf *rc = &cf->routes[k];
		struct buf d = BUF_INIT;
		router_describe_route(rc, &d);
		printf("%s: %s (%.*s)\n", rc->name, route_state(rows, n, rc->name), (int)d.len, d.data);
		buf_free(&d);
		int any = 0;
		for (size_t i = 0; i < n; i++)
			if (strcmp(rows[i].route, rc->name) == 0 && (any = 1))
				print_path(&rows[i], now);
		if (!any)
			printf("  no mail yet\n");
	}
	if (updated)
		printf("(as the daemon saw it %llds ago; class * is the route as a whole)\n",
		       (long long)(now - updated));
	else
		printf("(the daemon has saved no route health yet)\n");
}

static json_t *path_json(const struct spool_health_row *r)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:i, s:i, s:i, s:I}", "class", r->dclass, "state",
			 r->state, "reason", r->reason, "last_reply", r->last_reply, "changed",
			 (json_int_t)r->changed, "probe_at", (json_int_t)r->probe_at, "consecutive_failures",
			 (int)r->fails, "sent_last_hour", (int)r->sent_hour, "failed_last_hour",
			 (int)r->failed_hour, "updated", (json_int_t)r->updated);
}

static void print_json(const struct config *cf, const struct spool_health_row *rows, size_t n)
{
	json_t *arr = json_array();
	for (size_t k = 0; k < cf->nroutes; k++) {
		const struct route_conf *rc = &cf->routes[k];
		struct buf d = BUF_INIT;
		router_describe_route(rc, &d);
		json_t *paths = json_array();
		for (size_t i = 0; i < n; i++)
			if (strcmp(rows[i].route, rc->name) == 0)
				json_array_append_new(paths, path_json(&rows[i]));
		json_array_append_new(arr, json_pack("{s:s, s:s, s:s%, s:s, s:o}", "name", rc->name, "type",
			str_name_code(route_type_names, (int)rc->type), "description", d.data ? d.data : "", d.len, "state",
			route_state(rows, n, rc->name), "paths", paths));
		buf_free(&d);
	}
	json_t *doc = json_pack("{s:o}", "routes", arr);
	json_dumpf(doc, stdout, JSON_INDENT(2));
	printf("\n");
	json_decref(doc);
}

int cmd_routes(int argc, char **argv, const char *file)
{
	int json = argc == 2 && strcmp(argv[1], "--json") == 0;
	if (argc > 2 || (argc == 2 && !json)) {
		fprintf(stderr, "usage: outpost [-c FILE] routes [--json]\n");
		return 2;
	}
	char err[1024];
	struct config *cf = config_load(file, err, sizeof(err));
	if (cf == NULL) {
		fprintf(stderr, "outpost: %s\n", err);
		return 1;
	}
	struct spool_health_row *rows = NULL;
	size_t n = 0;
	/* no spool yet (the daemon never ran): every route is simply unused */
	if (spool_admin_routes(cf->spool, &rows, &n, err, sizeof(err)) < 0 && strncmp(err, "no spool", 8) != 0) {
		fprintf(stderr, "outpost: routes: %s\n", err);
		config_free(cf);
		return 1;
	}
	if (json)
		print_json(cf, rows, n);
	else
		print_text(cf, rows, n);
	spool_health_rows_free(rows, n);
	config_free(cf);
	return 0;
}
