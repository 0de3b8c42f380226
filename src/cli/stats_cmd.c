/*
 * stats: pflogsumm's report from the spool's statistics, not from logs.
 *     outpost stats [--since 24h] [--by route|reason|domain|sender|tenant] [--top N] [--json]
 * Grand totals (received, delivered, deferred, bounced, rejected, complaints, bytes),
 * a table per key of --by (default route; "-" is mail of no tenant, route...)
 * with delivered/deferred/bounced/complaints and the
 * average and maximum delay of deliveries, and the top bounce and deferral
 * reasons (enhanced status code, with the latest reply that had it), and
 * the top rejection reasons (refusals at SMTP time by class: relay_denied,
 * size, suppressed...).
 * The JSON is spool_stats_query()'s object (spool/spool_stats.h).
 */
#include <event2/http.h>
#include <getopt.h>
#include <stdlib.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli/commands.h"
#include "cli/daemon_client.h"
#include "core/buf.h"
#include "core/config.h"
#include "spool/spool_stats.h"

static void fmt_delay(double s, char *out, size_t len)
{
	if (s < 120)
		snprintf(out, len, "%.1fs", s);
	else if (s < 7200)
		snprintf(out, len, "%.1fm", s / 60);
	else
		snprintf(out, len, "%.1fh", s / 3600);
}

static json_int_t jint(const json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

static void print_totals(const json_t *st, const char *since_arg)
{
	const json_t *t = json_object_get(st, "totals");
	char when[64];
	time_t since = (time_t)jint(st, "since");
	struct tm tm;
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", gmtime_r(&since, &tm));
	printf("Grand totals since %s (%s)\n", when, since_arg);
	static const char *const keys[] = { "received", "delivered", "deferred", "bounced", "rejected", "complaints",
		"bytes_received", "bytes_delivered" };
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		printf("  %-16s %10lld\n", keys[i], (long long)jint(t, keys[i]));
}

static void print_rows(const json_t *st)
{
	const char *by = json_string_value(json_object_get(st, "by"));
	size_t i;
	json_t *r;
	printf("\nPer %s\n  %-32s %9s %9s %9s %9s %10s %9s %9s\n", by, by, "received", "delivered", "deferred",
	       "bounced", "complaints", "avg delay", "max delay");
	json_array_foreach(json_object_get(st, "rows"), i, r) {
		char avg[32], max[32];
		fmt_delay(json_real_value(json_object_get(r, "avg_delay")), avg, sizeof(avg));
		fmt_delay((double)jint(r, "max_delay"), max, sizeof(max));
		const char *key = json_string_value(json_object_get(r, "key"));
		printf("  %-32s %9lld %9lld %9lld %9lld %10lld %9s %9s\n", key[0] ? key : "-",
		       (long long)jint(r, "received"), (long long)jint(r, "delivered"), (long long)jint(r, "deferred"),
		       (long long)jint(r, "bounced"), (long long)jint(r, "complaints"), avg, max);
	}
	if (i == 0)
		printf("  (none)\n");
}

static void print_reasons(const json_t *st, const char *key, const char *title)
{
	size_t i;
	json_t *r;
	printf("\n%s\n", title);
	json_array_foreach(json_object_get(st, key), i, r) {
		const char *ex = json_string_value(json_object_get(r, "example"));
		const char *reason = json_string_value(json_object_get(r, "reason"));
		if (ex && ex[0])
			printf("  %7lld  %-8s %s\n", (long long)jint(r, "count"), reason, ex);
		else   /* a refusal keeps no reply */
			printf("  %7lld  %s\n", (long long)jint(r, "count"), reason);
	}
	if (i == 0)
		printf("  (none)\n");
}

/* The statistics from the running daemon (the same query, run by it);
 * NULL when it is not running.  A refusal of the daemon's is reported and
 * ends the command (*failed). */
static json_t *stats_live(const struct config *cf, const char *since, const char *by, unsigned top, int *failed)
{
	struct buf body = BUF_INIT, path = BUF_INIT;
	int status = 0;
	char *s = evhttp_uriencode(since, -1, 0), *b = evhttp_uriencode(by, -1, 0);
	buf_printf(&path, "/api/v1/stats?since=%s&by=%s&top=%u", s, b, top);
	free(s);
	free(b);
	json_t *doc = NULL;
	if (daemon_get(cf, path.data, &body, &status) == 0) {
		doc = json_loadb(body.data ? body.data : "", body.len, 0, NULL);
		if (status != 200 || doc == NULL) {
			const char *e = json_string_value(json_object_get(doc, "error"));
			fprintf(stderr, "outpost: stats: %s\n", e ? e : "outpostd gave no statistics");
			json_decref(doc);
			doc = NULL;
			*failed = 1;
		}
	}
	buf_free(&body);
	buf_free(&path);
	return doc;
}

static int usage(void)
{
	fprintf(stderr, "usage: outpost [-c FILE] stats [--since 24h] [--by route|reason|domain|sender|tenant] "
		"[--top N] [--json]\n");
	return 2;
}

int cmd_stats(int argc, char **argv, const char *file)
{
	static const struct option opts[] = { { "since", required_argument, NULL, 's' },
		{ "by", required_argument, NULL, 'b' }, { "top", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' }, { NULL, 0, NULL, 0 } };
	const char *since_arg = "24h", *by = "route";
	unsigned top = 10;
	int json = 0, ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 's')
			since_arg = optarg;
		else if (ch == 'b')
			by = optarg;
		else if (ch == 't' && cli_parse_uint(optarg, 1, 100000, &top) == 0)
			continue;
		else if (ch == 'j')
			json = 1;
		else
			return usage();
	}
	long long span = config_parse_duration(since_arg);
	if (optind != argc || span <= 0 || span > 366LL * 86400) {
		if (span <= 0 || span > 366LL * 86400)
			fprintf(stderr, "outpost: stats: --since %s: expected a duration such as 24h, 7d (at most 366d)\n",
				since_arg);
		return usage();
	}
	char err[1024];
	struct config *cf = config_load(file, err, sizeof(err));
	if (cf == NULL) {
		fprintf(stderr, "outpost: %s\n", err);
		return 1;
	}
	time_t now = time(NULL);
	int failed = 0;
	json_t *st = stats_live(cf, since_arg, by, top, &failed);
	if (st == NULL && !failed) {
		daemon_not_running(cf, "statistics read from the spool");
		st = spool_stats_query(cf->spool, now - (time_t)span, now, by, top, err, sizeof(err));
	} else if (failed) {
		config_free(cf);
		return 1;
	}
	config_free(cf);
	if (st == NULL) {
		fprintf(stderr, "outpost: stats: %s\n", err);
		return 1;
	}
	if (json) {
		json_dumpf(st, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
		putchar('\n');
	} else {
		print_totals(st, since_arg);
		print_rows(st);
		print_reasons(st, "bounce_reasons", "Top bounce reasons");
		print_reasons(st, "deferral_reasons", "Top deferral reasons");
		print_reasons(st, "rejection_reasons", "Top rejection reasons");
	}
	json_decref(st);
	return 0;
}
