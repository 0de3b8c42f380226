/*
 * status_render: the status page's HTML and SVG (status_render.h).
 */
#include "obs/status_render.h"

#include <stdlib.h>
#include <string.h>

#include "spool/spool_stats.h"

#define CHART_HOURS 24
#define BAR_W 22
#define CHART_H 120

static void esc(FILE *out, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '&': fputs("&amp;", out); break;
		case '<': fputs("&lt;", out); break;
		case '>': fputs("&gt;", out); break;
		case '"': fputs("&quot;", out); break;
		case '\'': fputs("&#39;", out); break;
		default: fputc(*s, out);
		}
	}
}

static const char *jstr(const json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));
	return v ? v : "";
}

static long long jint(const json_t *o, const char *key)
{
	return (long long)json_integer_value(json_object_get(o, key));
}

static void when(FILE *out, time_t t)
{
	char buf[32];
	struct tm tm;
	strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", gmtime_r(&t, &tm));
	fputs(buf, out);
}

static const char style[] =
	"body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}"
	"h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.6em;border-bottom:1px solid #ccc}"
	"table{border-collapse:collapse;margin:.4em 0}td,th{padding:.2em .6em;text-align:left;"
	"border-bottom:1px solid #e4e4e4;vertical-align:top}th{background:#eee}"
	".healthy{color:#176b2c}.degraded{color:#9a6200}.down{color:#b3261e;font-weight:bold}"
	".num{text-align:right;font-variant-numeric:tabular-nums}"
	"figure{display:inline-block;margin:.5em 1.5em .5em 0}figcaption{font-weight:bold}"
	"rect.delivered{fill:#3a9a57}rect.deferred{fill:#e0a020}rect.bounced{fill:#c8372d}"
	".legend span{display:inline-block;width:.8em;height:.8em;margin:0 .3em 0 1em}"
	"pre{margin:0;white-space:pre-wrap}.muted{color:#777}";

static void section_routes(FILE *out, const json_t *routes)
{
	size_t i, k;
	json_t *r, *p, *line;
	fputs("<section id=\"routes\"><h2>Routes</h2><table><tr><th>route</th><th>state</th><th>class</th>"
	      "<th>path state</th><th>reason</th><th>last reply</th></tr>\n", out);
	json_array_foreach(json_object_get(routes, "routes"), i, r) {
		const json_t *paths = json_object_get(r, "paths");
		size_t np = json_array_size(paths);
		fprintf(out, "<tr class=\"route\" data-route=\"");
		esc(out, jstr(r, "name"));
		fprintf(out, "\"><td rowspan=\"%zu\"><b>", np ? np : 1);
		esc(out, jstr(r, "name"));
		fputs("</b><br><span class=\"muted\">", out);
		esc(out, jstr(r, "description"));
		fprintf(out, "</span></td><td rowspan=\"%zu\" class=\"%s\">%s</td>", np ? np : 1, jstr(r, "state"),
			jstr(r, "state"));
		if (np == 0)
			fputs("<td colspan=\"4\" class=\"muted\">no mail yet</td></tr>\n", out);
		json_array_foreach(paths, k, p) {
			if (k)
				fputs("<tr>", out);
			fputs("<td>", out);
			esc(out, jstr(p, "class"));
			fprintf(out, "</td><td class=\"%s\">%s</td><td>", jstr(p, "state"), jstr(p, "state"));
			esc(out, jstr(p, "reason"));
			fputs("</td><td>", out);
			esc(out, jstr(p, "last_reply"));
			fputs("</td></tr>\n", out);
		}
	}
	fputs("</table>\n<h3>Traffic shaping in force</h3><pre id=\"shaping\">", out);
	json_array_foreach(json_object_get(routes, "shaping"), i, line) {
		esc(out, json_string_value(line));
		fputc('\n', out);
	}
	if (json_array_size(json_object_get(routes, "shaping")) == 0)
		fputs("nothing limited, backed off or warming up", out);
	fputs("</pre></section>\n", out);
}

/* One route's 24 hourly stacked bars, hour 0 the oldest. */
static void chart(FILE *out, const char *route, const json_t *hourly, time_t now)
{
	long long v[CHART_HOURS][3] = { { 0 } }, max = 1;
	static const char *const kinds[] = { "delivered", "deferred", "bounced" };
	long long h0 = (long long)now / 3600 - (CHART_HOURS - 1);
	size_t i;
	json_t *e;
	json_array_foreach(hourly, i, e) {
		long long h = jint(e, "hour") / 3600 - h0;
		if (strcmp(jstr(e, "route"), route) != 0 || h < 0 || h >= CHART_HOURS)
			continue;
		for (int k = 0; k < 3; k++)
			v[h][k] += jint(e, kinds[k]);
	}
	for (int h = 0; h < CHART_HOURS; h++)
		if (v[h][0] + v[h][1] + v[h][2] > max)
			max = v[h][0] + v[h][1] + v[h][2];
	fputs("<figure><figcaption>", out);
	esc(out, route);
	fprintf(out, "</figcaption><svg class=\"chart\" data-route=\"");
	esc(out, route);
	fprintf(out, "\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" role=\"img\">"
		"<text x=\"0\" y=\"10\" font-size=\"10\">%lld</text>", CHART_HOURS * BAR_W + 30, CHART_H + 30, max);
	fprintf(out, "<line x1=\"28\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#999\"/>", CHART_H + 12,
		CHART_HOURS * BAR_W + 30, CHART_H + 12);
	for (int h = 0; h < CHART_HOURS; h++) {
		double y = CHART_H + 12;
		for (int k = 0; k < 3; k++) {
			if (v[h][k] == 0)
				continue;
			double hh = (double)v[h][k] * CHART_H / (double)max;
			y -= hh;
			fprintf(out, "<rect class=\"%s\" x=\"%d\" y=\"%.1f\" width=\"%d\" height=\"%.1f\">"
				"<title>%lld %s</title></rect>", kinds[k], 30 + h * BAR_W, y, BAR_W - 3, hh, v[h][k],
				kinds[k]);
		}
	}
	fprintf(out, "<text x=\"30\" y=\"%d\" font-size=\"10\">-24 h</text><text x=\"%d\" y=\"%d\" "
		"font-size=\"10\">now</text></svg></figure>\n", CHART_H + 26, CHART_HOURS * BAR_W + 8, CHART_H + 26);
}

static void section_charts(FILE *out, const json_t *routes, const json_t *stats, time_t now)
{
	size_t i;
	json_t *r;
	fputs("<section id=\"charts\"><h2>Deliveries per hour, last 24 h</h2><div class=\"legend\">"
	      "<span style=\"background:#3a9a57\"></span>delivered<span style=\"background:#e0a020\"></span>"
	      "deferred<span style=\"background:#c8372d\"></span>bounced</div>\n", out);
	json_array_foreach(json_object_get(routes, "routes"), i, r)
		chart(out, jstr(r, "name"), json_object_get(stats, "hourly"), now);
	fputs("</section>\n", out);
}

static void section_queue(FILE *out, const long long *ages)
{
	static const char *const names[SPOOL_AGE_BUCKETS] = { "under 5 min", "5 min to 1 h", "1 h to 6 h",
		"6 h to 24 h", "over 24 h" };
	long long total = 0;
	fputs("<section id=\"queue-age\"><h2>Queue by age</h2><table>", out);
	for (int i = 0; ages && i < SPOOL_AGE_BUCKETS; i++) {
		fprintf(out, "<tr><td>%s</td><td class=\"num\">%lld</td></tr>", names[i], ages[i]);
		total += ages[i];
	}
	fprintf(out, "<tr><th>in the spool</th><th class=\"num\" id=\"queue-total\">%lld</th></tr></table></section>\n",
		total);
}

static void reason_table(FILE *out, const json_t *list, const char *title)
{
	size_t i;
	json_t *r;
	fprintf(out, "<h3>%s</h3><table><tr><th>count</th><th>code</th><th>latest reply</th></tr>", title);
	json_array_foreach(list, i, r) {
		fprintf(out, "<tr><td class=\"num\">%lld</td><td>", jint(r, "count"));
		esc(out, jstr(r, "reason"));
		fputs("</td><td>", out);
		esc(out, jstr(r, "example"));
		fputs("</td></tr>", out);
	}
	if (json_array_size(list) == 0)
		fputs("<tr><td colspan=\"3\" class=\"muted\">none</td></tr>", out);
	fputs("</table>\n", out);
}

/* A JSON value of an event's detail as text: a string as it is, an object
 * or array in compact JSON, anything else as jansson writes it. */
static void detail_value(FILE *out, const json_t *v)
{
	if (json_is_string(v)) {
		esc(out, json_string_value(v));
		return;
	}
	char *text = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	esc(out, text);
	free(text);
}

/* An event's detail: the JSON object of an event that concerns no
 * message (obs_event) as "key=value key=value" (a value with a space in
 * quotes), so a person reads it as a log line; other details (a reply, a
 * received line) as they are. */
static void detail_text(FILE *out, const char *detail)
{
	json_t *o = detail[0] == '{' ? json_loads(detail, 0, NULL) : NULL;
	if (!json_is_object(o)) {
		json_decref(o);
		esc(out, detail);
		return;
	}
	const char *key;
	json_t *v;
	int first = 1;
	json_object_foreach(o, key, v) {   /* in the stored order: obs_event sorts the keys */
		const char *str = json_string_value(v);
		int quote = str && (str[0] == '\0' || strpbrk(str, " \t\"=") != NULL);
		fputs(first ? "" : " ", out);
		esc(out, key);
		fputs(quote ? "=\"" : "=", out);
		detail_value(out, v);
		fputs(quote ? "\"" : "", out);
		first = 0;
	}
	json_decref(o);
}

static void section_events(FILE *out, const json_t *events)
{
	size_t i;
	json_t *e;
	fputs("<section id=\"events\"><h2>Recent events</h2><table><tr><th>time (UTC)</th><th>event</th>"
	      "<th>queue id</th><th>route</th><th>recipient</th><th>detail</th></tr>\n", out);
	json_array_foreach(events, i, e) {
		fputs("<tr class=\"event\"><td>", out);
		when(out, (time_t)jint(e, "time"));
		static const char *const keys[] = { "event", "qid", "route", "rcpt" };
		for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
			fputs("</td><td>", out);
			esc(out, jstr(e, keys[k]));
		}
		fputs("</td><td class=\"detail\">", out);
		detail_text(out, jstr(e, "detail"));
		fputs("</td></tr>\n", out);
	}
	fputs("</table></section>\n", out);
}

void status_render(FILE *out, const struct status_facts *f)
{
	const json_t *t = json_object_get(f->stats, "totals");
	fprintf(out, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
		"<meta name=\"viewport\" content=\"width=device-width\"><link rel=\"icon\" href=\"data:,\">"
		"<title>outpost on ");
	esc(out, f->hostname);
	fprintf(out, "</title><style>%s</style></head><body>\n<h1>outpost on ", style);
	esc(out, f->hostname);
	fputs("</h1><p class=\"muted\">as of ", out);
	when(out, f->now);
	fputs(" UTC</p>\n", out);
	if (f->error) {
		fputs("<p class=\"down\" id=\"error\">", out);
		esc(out, f->error);
		fputs("</p>\n", out);
	}
	fprintf(out, "<p id=\"totals\">Last 24 h: <b>%lld</b> received, <b>%lld</b> delivered, <b>%lld</b> "
		"deferred, <b>%lld</b> bounced, <b>%lld</b> rejected.</p>\n", jint(t, "received"), jint(t, "delivered"),
		jint(t, "deferred"), jint(t, "bounced"), jint(t, "rejected"));
	section_routes(out, f->routes);
	section_charts(out, f->routes, f->stats, f->now);
	section_queue(out, f->ages);
	fputs("<section id=\"reasons\"><h2>Top reasons, last 24 h</h2>", out);
	reason_table(out, json_object_get(f->stats, "bounce_reasons"), "Bounces");
	reason_table(out, json_object_get(f->stats, "deferral_reasons"), "Deferrals");
	reason_table(out, json_object_get(f->stats, "rejection_reasons"), "Rejections (at SMTP time)");
	fputs("</section>\n", out);
	section_events(out, f->events);
	fputs("</body></html>\n", out);
}
