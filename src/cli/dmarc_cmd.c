/*
 * dmarc_cmd: `outpost dmarc import FILE...` stores DMARC aggregate reports
 * collected elsewhere (gzip, zip, XML, or a mail holding one; duplicates
 * count once), and `outpost dmarc report [--since 7d] [--json]` joins the
 * stored records to outpost's routes: a source IP is a route's when it is
 * one of the route's source addresses, or when a relay route's provider
 * publishes it in its SPF include (checked with outpost's SPF evaluator).
 * Per route: messages, DMARC pass rate, SPF and DKIM alignment; then the
 * sources that are not outpost.  A route under dmarc.threshold is a
 * finding with the fix (exit 1).  Import exits 0 when every file held a
 * report, 1 otherwise (each failure named with its reason).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <jansson.h>

#include "cli/commands.h"
#include "core/buf.h"
#include "core/config.h"
#include "dmarc/dmarc_mail.h"
#include "dmarc/dmarc_report.h"
#include "dmarc/dmarc_route.h"
#include "dmarc/dmarc_store.h"
#include "dns/resolver.h"
#include "doctor/doctor.h"
#include "mailauth/spf.h"
#include "xmalloc.h"

static int dmarc_usage(void)
{
	fprintf(stderr, "usage: outpost dmarc import FILE... | outpost dmarc report [--since 7d] [--json]\n");
	return 64;
}

static int import_files(struct dmarc_store *s, int n, char **files)
{
	char err[512];
	int bad = 0;
	for (int i = 0; i < n; i++) {
		struct buf data = BUF_INIT, summary = BUF_INIT;
		size_t stored, dups;
		if (cli_read_file(files[i], &data) < 0) {
			fprintf(stderr, "outpost: dmarc: %s: cannot read it\n", files[i]);
			bad = 1;
		} else if (dmarc_import(s, data.data ? data.data : "", data.len, &stored, &dups, &summary,
					err, sizeof(err)) < 0) {
			fprintf(stderr, "outpost: dmarc: %s: %s\n", files[i], err);
			bad = 1;
		} else {
			printf("%s: %s", files[i], summary.data);
		}
		buf_free(&data);
		buf_free(&summary);
	}
	return bad;
}

/* --- report */

struct tally {
	char *name;                  /* route name, or the source IP for others */
	unsigned long long msgs, pass, spf, dkim;
};

struct rep {
	const struct config *cf;
	struct event_base *base;
	struct resolver *res;
	struct tally *route, *other;
	size_t nroute, nother;
	char **ip, **ip_route;       /* cache: source IP -> route name or NULL */
	size_t nip;
};

struct spf_wait {
	int done;
	enum spf_result result;
};

static void on_spf(const struct spf_outcome *out, void *arg)
{
	struct spf_wait *w = arg;
	w->result = out->result;
	w->done = 1;
}

/* Does the relay provider's SPF include list ip? */
static int provider_sends_from(struct rep *r, const char *include, const char *ip)
{
	char err[256];
	struct spf_wait w = { 0, SPF_RESULT_NONE };
	char *from = xasprintf("postmaster@%s", include);
	struct spf_request req = { .ip = ip, .mail_from = from, .helo = include, .deadline_ms = 10000 };
	if (r->res == NULL || spf_check_start(r->res, &req, on_spf, &w, err, sizeof(err)) == NULL) {
		free(from);
		return 0;
	}
	while (!w.done)
		event_base_loop(r->base, EVLOOP_ONCE);
	free(from);
	return w.result == SPF_RESULT_PASS;
}

static const char *route_of_ip(struct rep *r, const char *ip)
{
	for (size_t i = 0; i < r->nip; i++)
		if (strcmp(r->ip[i], ip) == 0)
			return r->ip_route[i];
	const char *found = NULL;
	for (size_t i = 0; i < r->cf->nroutes && !found; i++)
		for (size_t k = 0; k < r->cf->routes[i].nsources && !found; k++)
			if (strcmp(r->cf->routes[i].sources[k].address, ip) == 0)
				found = r->cf->routes[i].name;
	for (size_t i = 0; i < r->cf->nroutes && !found; i++) {
		const struct route_conf *rc = &r->cf->routes[i];
		const char *inc = rc->type == ROUTE_RELAY ? doctor_relay_spf_include(rc->host, NULL) : NULL;
		if (inc && provider_sends_from(r, inc, ip))
			found = rc->name;
	}
	r->ip = xreallocarray(r->ip, r->nip + 1, sizeof(char *));
	r->ip_route = xreallocarray(r->ip_route, r->nip + 1, sizeof(char *));
	r->ip[r->nip] = xstrdup(ip);
	r->ip_route[r->nip] = found ? xstrdup(found) : NULL;
	return r->ip_route[r->nip++];
}

static struct tally *tally_get(struct tally **t, size_t *n, const char *name)
{
	for (size_t i = 0; i < *n; i++)
		if (strcmp((*t)[i].name, name) == 0)
			return &(*t)[i];
	*t = xreallocarray(*t, *n + 1, sizeof(**t));
	memset(&(*t)[*n], 0, sizeof(**t));
	(*t)[*n].name = xstrdup(name);
	return &(*t)[(*n)++];
}

static void on_row(const struct dmarc_row *row, void *arg)
{
	struct rep *r = arg;
	const struct dmarc_record *c = row->rec;
	const char *route = route_of_ip(r, c->source_ip);
	struct tally *t = route ? tally_get(&r->route, &r->nroute, route)
				: tally_get(&r->other, &r->nother, c->source_ip);
	t->msgs += c->count;
	int spf = strcmp(c->spf, "pass") == 0, dkim = strcmp(c->dkim, "pass") == 0;
	t->spf += spf ? c->count : 0;
	t->dkim += dkim ? c->count : 0;
	t->pass += spf || dkim ? c->count : 0;
}

static double pct(unsigned long long part, unsigned long long whole)
{
	return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

static json_t *tally_json(const struct tally *t, const char *key)
{
	return json_pack("{s:s, s:I, s:f, s:f, s:f}", key, t->name, "messages", (json_int_t)t->msgs,
			 "dmarc_pass", pct(t->pass, t->msgs), "spf_aligned", pct(t->spf, t->msgs),
			 "dkim_aligned", pct(t->dkim, t->msgs));
}

static int print_report(const struct rep *r, int json, long long since)
{
	int bad = 0;
	json_t *routes = json_array(), *others = json_array(), *findings = json_array();
	for (size_t i = 0; i < r->nroute; i++) {
		const struct tally *t = &r->route[i];
		json_array_append_new(routes, tally_json(t, "route"));
		if (pct(t->pass, t->msgs) < r->cf->dmarc.threshold) {
			char ev[300];
			bad = 1;
			if (snprintf(ev, sizeof(ev), "%.1f%% of %llu messages pass DMARC (threshold %u%%): SPF "
				     "aligned %.1f%%, DKIM aligned %.1f%%", pct(t->pass, t->msgs), t->msgs,
				     r->cf->dmarc.threshold, pct(t->spf, t->msgs), pct(t->dkim, t->msgs)) < 0)
				ev[0] = '\0';
			json_array_append_new(findings, json_pack("{s:s, s:s, s:s}", "route", t->name, "evidence",
				ev, "fix", dmarc_route_fix(r->cf, t->name, t->spf < t->msgs, t->dkim < t->msgs)));
		}
	}
	for (size_t i = 0; i < r->nother; i++)
		json_array_append_new(others, tally_json(&r->other[i], "source_ip"));
	json_t *top = json_pack("{s:I, s:o, s:o, s:o}", "since", (json_int_t)since, "routes", routes,
				"not_outpost", others, "findings", findings);
	if (json) {
		char *text = json_dumps(top, JSON_INDENT(2) | JSON_ENSURE_ASCII);
		puts(text ? text : "{}");
		free(text);
	} else {
		size_t i;
		json_t *e;
		printf("%-16s %10s %8s %8s %8s\n", "route", "messages", "dmarc", "spf", "dkim");
		json_array_foreach(routes, i, e)
			printf("%-16s %10lld %7.1f%% %7.1f%% %7.1f%%\n", json_string_value(json_object_get(e, "route")),
			       (long long)json_integer_value(json_object_get(e, "messages")),
			       json_real_value(json_object_get(e, "dmarc_pass")),
			       json_real_value(json_object_get(e, "spf_aligned")),
			       json_real_value(json_object_get(e, "dkim_aligned")));
		if (json_array_size(others))
			printf("\nsources that are not outpost (a forgotten sender, or spoofing):\n");
		json_array_foreach(others, i, e)
			printf("%-16s %10lld %7.1f%%\n", json_string_value(json_object_get(e, "source_ip")),
			       (long long)json_integer_value(json_object_get(e, "messages")),
			       json_real_value(json_object_get(e, "dmarc_pass")));
		json_array_foreach(findings, i, e)
			printf("\nFINDING route %s: %s\n  fix: %s\n", json_string_value(json_object_get(e, "route")),
			       json_string_value(json_object_get(e, "evidence")),
			       json_string_value(json_object_get(e, "fix")));
	}
	json_decref(top);
	return bad;
}

static void rep_free(struct rep *r)
{
	for (size_t i = 0; i < r->nroute; i++)
		free(r->route[i].name);
	for (size_t i = 0; i < r->nother; i++)
		free(r->other[i].name);
	for (size_t i = 0; i < r->nip; i++) {
		free(r->ip[i]);
		free(r->ip_route[i]);
	}
	free(r->route);
	free(r->other);
	free(r->ip);
	free(r->ip_route);
	resolver_free(r->res);
	if (r->base)
		event_base_free(r->base);
}

static int report(struct dmarc_store *s, const struct config *cf, int argc, char **argv)
{
	char err[512];
	int json = 0;
	long long window = 7 * 86400;
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else if (strcmp(argv[i], "--since") == 0 && i + 1 < argc &&
			 (window = config_parse_duration(argv[++i])) > 0)
			continue;
		else
			return dmarc_usage();
	}
	struct rep r = { .cf = cf };
	r.base = event_base_new();
	r.res = r.base ? resolver_new(r.base, cf->resolver ? cf->resolver : "system", 5000, err, sizeof(err))
		       : NULL;
	long long since = (long long)time(NULL) - window;
	int rc = dmarc_store_each(s, since, on_row, &r, err, sizeof(err));
	if (rc < 0)
		fprintf(stderr, "outpost: dmarc: %s\n", err);
	else
		rc = print_report(&r, json, since);
	rep_free(&r);
	return rc < 0 ? 69 : rc;
}

int cmd_dmarc(int argc, char **argv, const char *config_file)
{
	char err[512];
	if (argc < 2 || (strcmp(argv[1], "import") != 0 && strcmp(argv[1], "report") != 0) ||
	    (strcmp(argv[1], "import") == 0 && argc < 3))
		return dmarc_usage();
	struct config *cf = config_load(config_file, err, sizeof(err));
	if (cf == NULL) {
		fprintf(stderr, "outpost: dmarc: %s\n", err);
		return 69;
	}
	struct dmarc_store *s = dmarc_store_open(cf->spool, err, sizeof(err));
	int rc = 69;
	if (s == NULL)
		fprintf(stderr, "outpost: dmarc: %s\n", err);
	else if (strcmp(argv[1], "import") == 0)
		rc = import_files(s, argc - 2, argv + 2);
	else
		rc = report(s, cf, argc, argv);
	dmarc_store_close(s);
	config_free(cf);
	return rc;
}
