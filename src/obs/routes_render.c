/*
 * routes_render: `outpost routes` and GET /api/v1/routes (routes_render.h).
 */
#include "obs/routes_render.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/name_code.h"
#include "delivery/health.h"
#include "delivery/router.h"

/* The shaping lines that name route (limits by route, back-off and
 * warm-up of its sources): what holds its mail now besides health. */
static json_t *route_shaping(const char *shaping, const char *route)
{
	json_t *a = json_array();
	char key[160];
	snprintf(key, sizeof(key), "route=%s", route);
	size_t kl = strlen(key);
	while (shaping && *shaping) {
		size_t n = strcspn(shaping, "\n");
		const char *hit = memmem(shaping, n, key, kl);
		if (hit && (hit + kl == shaping + n || hit[kl] == ' ' || hit[kl] == ','))
			json_array_append_new(a, json_stringn(shaping, n));
		shaping += n + (shaping[n] == '\n');
	}
	return a;
}

/* The throttle's state lines (throttle_describe), indented. */
static void print_shaping(FILE *out, const char *shaping)
{
	if (*shaping == '\0')
		fprintf(out, "  nothing limited, backed off or warming up\n");
	while (*shaping) {
		size_t n = strcspn(shaping, "\n");
		fprintf(out, "  %.*s\n", (int)n, shaping);
		shaping += n + (shaping[n] == '\n');
	}
}

static json_t *shaping_json(const char *shaping)
{
	json_t *a = json_array();
	while (*shaping) {
		size_t n = strcspn(shaping, "\n");
		json_array_append_new(a, json_stringn(shaping, n));
		shaping += n + (shaping[n] == '\n');
	}
	return a;
}

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

/* What the provider of a path is (the footnote of the text). */
#define PROVIDER_NOTE "each path counts for the receiving provider of its MX hosts, " \
	"as warm-up, back-off and limits by provider do; provider * is the route as a whole"

static void print_path(FILE *out, const struct spool_health_row *r, time_t now)
{
	char probe[32] = "";
	if (state_rank(r->state) == HEALTH_DOWN)
		when(r->probe_at, now, probe, sizeof(probe));
	fprintf(out, "  provider %-12s %-9s sent %u, failed %u in the last hour%s%s\n", r->dclass, r->state,
		r->sent_hour, r->failed_hour, probe[0] ? "; probe " : "", probe);
	if (r->reason[0])
		fprintf(out, "  %-21s reason: %s\n", "", r->reason);
	if (r->last_reply[0])
		fprintf(out, "  %-21s last reply: %s\n", "", r->last_reply);
}

static void print_text(FILE *out, const struct config *cf, const struct spool_health_row *rows, size_t n,
		       const char *shaping)
{
	time_t now = time(NULL), updated = 0;
	for (size_t i = 0; i < n; i++)
		updated = rows[i].updated > updated ? rows[i].updated : updated;
	for (size_t k = 0; k < cf->nroutes; k++) {
		const struct route_conf *rc = &cf->routes[k];
		struct buf d = BUF_INIT;
		router_describe_route(rc, &d);
		fprintf(out, "%s: %s (%.*s)\n", rc->name, route_state(rows, n, rc->name), (int)d.len, d.data);
		buf_free(&d);
		int any = 0;
		for (size_t i = 0; i < n; i++)
			if (strcmp(rows[i].route, rc->name) == 0 && (any = 1))
				print_path(out, &rows[i], now);
		if (!any)
			fprintf(out, "  no mail yet\n");
		json_t *mine = route_shaping(shaping, rc->name), *line;
		size_t li;
		json_array_foreach(mine, li, line)
			fprintf(out, "  shaping: %s\n", json_string_value(line));
		json_decref(mine);
	}
	if (shaping) {
		fprintf(out, "traffic shaping now (limits, back-off, warm-up):\n");
		print_shaping(out, shaping);
		fprintf(out, "(live from outpostd; %s)\n", PROVIDER_NOTE);
	} else if (updated) {
		fprintf(out, "(as the daemon saw it %llds ago; %s)\n", (long long)(now - updated), PROVIDER_NOTE);
	} else {
		fprintf(out, "(the daemon has saved no route health yet)\n");
	}
}

static json_t *path_json(const struct spool_health_row *r)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:i, s:i, s:i, s:I}", "class", r->dclass,
			 "provider", r->dclass, "state",
			 r->state, "reason", r->reason, "last_reply", r->last_reply, "changed",
			 (json_int_t)r->changed, "probe_at", (json_int_t)r->probe_at, "consecutive_failures",
			 (int)r->fails, "sent_last_hour", (int)r->sent_hour, "failed_last_hour",
			 (int)r->failed_hour, "updated", (json_int_t)r->updated);
}

json_t *routes_json(const struct config *cf, const struct spool_health_row *rows, size_t n, const char *shaping)
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
		if (shaping)
			json_object_set_new(json_array_get(arr, json_array_size(arr) - 1), "shaping",
					    route_shaping(shaping, rc->name));
		buf_free(&d);
	}
	json_t *doc = json_pack("{s:o,s:b}", "routes", arr, "live", shaping != NULL);
	if (shaping)
		json_object_set_new(doc, "shaping", shaping_json(shaping));
	return doc;
}

void routes_render(FILE *out, const struct config *cf, const struct spool_health_row *rows, size_t n,
		   const char *shaping, int json)
{
	if (!json)
		return print_text(out, cf, rows, n, shaping);
	json_t *doc = routes_json(cf, rows, n, shaping);
	json_dumpf(doc, out, JSON_INDENT(2));
	fputc('\n', out);
	json_decref(doc);
}

