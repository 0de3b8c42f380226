/*
 * monitor_cmd: `outpost monitor [--json]`: what the daemon's monitor
 * watches (SPOOL/monitor.json, written after each run), each item (by the
 * sending domain whose run reported it) with its state, since when and the
 * evidence; the blocklist verdicts on each
 * source address and the sources taken out of use.  --json prints the
 * state file's object as it is.  Exit 0; 1 when something fails or a
 * source is out of use; 69 when there is no state (no monitor configured,
 * or no run yet).  With placement probes configured, a route whose newest
 * probe to a seed landed in spam is a finding too (listed after the
 * monitor's items, "placement" in the JSON; exit 1), also when the
 * monitor itself is off.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cli/commands.h"
#include "core/config.h"
#include "monitor/monitor.h"

#define PLACEMENT_TREND 10      /* probes counted in a placement finding */

static const char *when(json_t *t, char *buf, size_t len)
{
	time_t v = (time_t)json_integer_value(t);
	struct tm tm;
	if (v <= 0 || gmtime_r(&v, &tm) == NULL || strftime(buf, len, "%Y-%m-%d %H:%M:%SZ", &tm) == 0)
		return "-";
	return buf;
}

static int print_text(json_t *j)
{
	char t[32];
	size_t i;
	json_t *e;
	int bad = 0;
	if (json_object_get(j, "interval") != NULL)
		printf("monitor: every %llds, last run %s, %lld DNS queries\n",
		       (long long)json_integer_value(json_object_get(j, "interval")),
		       when(json_object_get(j, "updated"), t, sizeof(t)),
		       (long long)json_integer_value(json_object_get(j, "queries_last_run")));
	json_array_foreach(json_object_get(j, "items"), i, e) {
		const char *st = json_string_value(json_object_get(e, "status"));
		bad |= st && strcmp(st, "fail") == 0;
		const char *dom = json_string_value(json_object_get(e, "domain"));
		printf("%-4s %-9s %s%s%s (since %s)\n               %s\n", st ? st : "?",
		       json_string_value(json_object_get(e, "check")), dom ? dom : "", dom ? ": " : "",
		       json_string_value(json_object_get(e, "subject")),
		       when(json_object_get(e, "changed"), t, sizeof(t)),
		       json_string_value(json_object_get(e, "evidence")));
	}
	json_array_foreach(json_object_get(j, "listings"), i, e)
		if (json_is_true(json_object_get(e, "listed")))
			printf("listed %s on %s since %s%s: %s\n",
			       json_string_value(json_object_get(e, "source")),
			       json_string_value(json_object_get(e, "list")),
			       when(json_object_get(e, "since"), t, sizeof(t)),
			       json_is_true(json_object_get(e, "acts")) ? " (acts)" : " (reported only)",
			       json_string_value(json_object_get(e, "evidence")));
	json_array_foreach(json_object_get(j, "sources_down"), i, e) {
		printf("source %s: out of use (its mail takes the next source or route)\n",
		       json_string_value(e));
		bad = 1;
	}
	if (placement_print_findings(json_object_get(j, "placement")) > 0)
		bad = 1;
	return bad;
}

int cmd_monitor(int argc, char **argv, const char *config_file)
{
	char err[512];
	int json = argc == 2 && strcmp(argv[1], "--json") == 0;
	if (argc > 2 || (argc == 2 && !json)) {
		fprintf(stderr, "usage: outpost monitor [--json]\n");
		return 64;
	}
	struct config *cf = config_load(config_file, err, sizeof(err));
	if (cf == NULL) {
		fprintf(stderr, "outpost: monitor: %s\n", err);
		return 69;
	}
	char *path = monitor_state_path(cf);
	json_error_t je;
	json_t *j = json_load_file(path, 0, &je);
	json_t *placement = cf->placement.interval ? placement_results_json(cf, PLACEMENT_TREND, err, sizeof(err)) : NULL;
	int rc = 69;
	if (j == NULL && placement != NULL)
		j = json_object();      /* no monitor run (or none configured): the placement findings alone */
	if (placement)
		json_object_set_new(j, "placement", placement);
	if (j == NULL)
		fprintf(stderr, "outpost: monitor: no state in %s (%s): %s\n", path, je.text,
			cf->monitor.interval ? "the monitor has not finished a run yet"
			: "no monitor configured (monitor = { interval = \"15m\"; })");
	else if (json)
		rc = json_dumpf(j, stdout, JSON_INDENT(2) | JSON_ENSURE_ASCII) < 0 ? 69 : (puts(""), 0);
	else
		rc = print_text(j);
	json_decref(j);
	free(path);
	config_free(cf);
	return rc;
}
