/*
 * placement_cmd: `outpost placement [--json] [--last N]`: the inbox-
 * placement probes' results (SPOOL/placement.db, written by the daemon):
 * per route and seed the newest result (inbox, spam, missing, error),
 * where and when, and the trend over the last N probes (default 10) that
 * could be looked for: how many landed in the inbox, in spam, nowhere,
 * and the inbox share.  Exit 0; 1 when a route's newest probe to some seed
 * landed in spam (a finding, also listed by `outpost monitor`); 69 when
 * there are no results (no placement configured, or no round finished).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cli/commands.h"
#include "core/config.h"
#include "placement/placement_store.h"

#define DEFAULT_WINDOW 10

static json_t *line_json(const struct placement_line *l)
{
	unsigned looked = l->inbox + l->spam + l->missing;
	json_t *trend = json_pack("{s:i, s:i, s:i, s:i, s:f}", "probes", (int)l->n, "inbox", (int)l->inbox, "spam",
				  (int)l->spam, "missing", (int)l->missing, "inbox_share",
				  looked ? (double)l->inbox / looked : 0.0);
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:o}", "route", l->route, "seed", l->seed,
			 "provider", l->provider, "result", l->result, "folder", l->folder, "token", l->token,
			 "detail", l->detail, "time", (json_int_t)l->time, "trend", trend);
}

json_t *placement_results_json(const struct config *cf, unsigned window, char *err, size_t errlen)
{
	struct placement_store *s = placement_store_open(cf->spool, 0, err, errlen);
	struct placement_line *l = NULL;
	size_t n = 0;
	if (s == NULL)
		return NULL;
	int rc = placement_store_summary(s, window, &l, &n, err, errlen);
	placement_store_close(s);
	json_t *arr = rc == 0 ? json_array() : NULL;
	for (size_t i = 0; arr && i < n; i++)
		json_array_append_new(arr, line_json(&l[i]));
	placement_lines_free(l, n);
	return arr;
}

static const char *when(json_t *t, char *buf, size_t len)
{
	time_t v = (time_t)json_integer_value(t);
	struct tm tm;
	if (v <= 0 || gmtime_r(&v, &tm) == NULL || strftime(buf, len, "%Y-%m-%d %H:%M:%SZ", &tm) == 0)
		return "-";
	return buf;
}

static const char *str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s && *s ? s : "-";
}

int placement_print_findings(json_t *results)
{
	size_t i;
	json_t *e;
	char t[32];
	int n = 0;
	json_array_foreach(results, i, e) {
		if (strcmp(str(e, "result"), "spam") != 0)
			continue;
		json_t *tr = json_object_get(e, "trend");
		printf("fail placement  route %s to %s (%s)\n               the newest probe landed in %s "
		       "at %s; %lld of the last %lld in spam\n", str(e, "route"), str(e, "seed"),
		       str(e, "provider"), str(e, "folder"), when(json_object_get(e, "time"), t, sizeof(t)),
		       (long long)json_integer_value(json_object_get(tr, "spam")),
		       (long long)json_integer_value(json_object_get(tr, "probes")));
		n++;
	}
	return n;
}

static void print_text(const struct config *cf, json_t *results, unsigned window)
{
	size_t i;
	json_t *e;
	char t[32];
	printf("placement: a probe per route and seed every %us, looked for %us after sending; "
	       "trend over the last %u probes\n", cf->placement.interval, cf->placement.wait, window);
	printf("%-12s %-28s %-10s %-8s %-20s %-16s %s\n", "ROUTE", "SEED", "PROVIDER", "RESULT", "WHEN", "FOLDER",
	       "TREND");
	json_array_foreach(results, i, e) {
		json_t *tr = json_object_get(e, "trend");
		printf("%-12s %-28s %-10s %-8s %-20s %-16s %lld%% inbox (%lld inbox, %lld spam, %lld missing of %lld)\n",
		       str(e, "route"), str(e, "seed"), str(e, "provider"), str(e, "result"),
		       when(json_object_get(e, "time"), t, sizeof(t)), str(e, "folder"),
		       (long long)(json_real_value(json_object_get(tr, "inbox_share")) * 100 + 0.5),
		       (long long)json_integer_value(json_object_get(tr, "inbox")),
		       (long long)json_integer_value(json_object_get(tr, "spam")),
		       (long long)json_integer_value(json_object_get(tr, "missing")),
		       (long long)json_integer_value(json_object_get(tr, "probes")));
		if (strcmp(str(e, "result"), "error") == 0 || strcmp(str(e, "result"), "missing") == 0)
			printf("%-12s %s\n", "", str(e, "detail"));
	}
}

static int placement_usage(void)
{
	fprintf(stderr, "usage: outpost placement [--json] [--last N]\n");
	return 64;
}

int cmd_placement(int argc, char **argv, const char *config_file)
{
	char err[512];
	int json = 0;
	unsigned window = DEFAULT_WINDOW;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else if (strcmp(argv[i], "--last") == 0 && i + 1 < argc && cli_parse_uint(argv[i + 1], 1, 10000, &window) == 0)
			i++;
		else
			return placement_usage();
	}
	struct config *cf = config_load(config_file, err, sizeof(err));
	if (cf == NULL) {
		fprintf(stderr, "outpost: placement: %s\n", err);
		return 69;
	}
	json_t *res = placement_results_json(cf, window, err, sizeof(err));
	int rc = 69;
	if (res == NULL)
		fprintf(stderr, "outpost: placement: %s%s\n", err, cf->placement.interval ? "" :
			" (no placement configured: placement = { seeds = ( ... ); })");
	else if (json)
		rc = json_dumpf(res, stdout, JSON_INDENT(2) | JSON_ENSURE_ASCII) < 0 ? 69 : (puts(""), 0);
	else
		print_text(cf, res, window), rc = 0;
	if (res && rc == 0) {
		size_t i;
		json_t *e;
		json_array_foreach(res, i, e)
			if (strcmp(str(e, "result"), "spam") == 0)
				rc = 1;
	}
	json_decref(res);
	config_free(cf);
	return rc;
}
