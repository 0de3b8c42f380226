/*
 * route_config: parses routes (with their sources, warm-up and relay
 * credentials) and rules (see route_config.h), a section of core/config.
 */
#include "delivery/route_config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sys/stat.h>

#include "core/config.h"
#include "core/config_parse.h"
#include "core/name_code.h"
#include "core/netaddr.h"
#include "core/xmalloc.h"

/* Relay credentials: one "user:password" line in a file only its owner can read. */
static void load_auth_file(struct cfctx *cx, const config_setting_t *s, const char *path,
			   struct route_conf *rc)
{
	struct stat st;
	char line[1024];
	FILE *fp = fopen(path, "r");
	if (fp == NULL) {
		cf_error(cx, s, "auth: cannot open \"%s\": %s", path, strerror(errno));
		return;
	}
	if (fstat(fileno(fp), &st) == 0 && (st.st_mode & 077) != 0)
		cf_error(cx, s, "auth: \"%s\" is readable by group or others; chmod 600 it", path);
	else if (fgets(line, sizeof(line), fp) == NULL || strchr(line, ':') == NULL)
		cf_error(cx, s, "auth: \"%s\" must hold one line user:password", path);
	fclose(fp);
	if (cx->failed)
		return;
	line[strcspn(line, "\r\n")] = '\0';
	char *colon = strchr(line, ':');
	*colon = '\0';
	rc->auth_user = xstrdup(line);
	rc->auth_pass = xstrdup(colon + 1);
	explicit_bzero(line, sizeof(line));
}

static void load_source(struct cfctx *cx, struct route_conf *rc, const config_setting_t *e,
			struct route_source *src)
{
	static const char *const known[] = { "address", "helo", "weight", NULL };
	struct netmask m;
	src->weight = 1;
	if (config_setting_type(e) == CONFIG_TYPE_STRING) {
		src->address = xstrdup(config_setting_get_string(e));
	} else if (config_setting_is_group(e) && cf_check_keys(cx, e, known) == 0) {
		src->address = cf_get_string(cx, e, "address", NULL);
		src->helo = cf_get_string(cx, e, "helo", NULL);
		cf_get_uint(cx, e, "weight", &src->weight, 1, 1000);
	}
	if (!cx->failed && (src->address == NULL || netmask_parse(src->address, &m) < 0 ||
			    strchr(src->address, '/')))
		cf_error(cx, e, "route %s: source: expected \"IP\" or { address = \"IP\"; helo = \"name\"; }",
			 rc->name);
	if (src->helo == NULL)
		src->helo = xstrdup(rc->helo);
}

/* source = "IP" or a pool: source = ( "IP", { address = "IP"; helo = "name"; weight = 2; } ) */
static void load_sources(struct cfctx *cx, struct route_conf *rc, const config_setting_t *s)
{
	if (s == NULL || cx->failed)
		return;
	int n = config_setting_is_list(s) || config_setting_is_array(s) ? config_setting_length(s) : 1;
	rc->sources = xcalloc((size_t)n, sizeof(*rc->sources));
	if (n == 1 && !config_setting_is_list(s) && !config_setting_is_array(s)) {
		load_source(cx, rc, s, &rc->sources[rc->nsources++]);
		return;
	}
	for (int i = 0; i < n && !cx->failed; i++)
		load_source(cx, rc, config_setting_get_elem(s, (unsigned)i), &rc->sources[rc->nsources++]);
	if (n == 0 || n > 64)
		cf_error(cx, s, "route %s: source: expected 1 to 64 addresses", rc->name);
}

const struct name_code route_type_names[] = {
	{ "mx", ROUTE_MX }, { "relay", ROUTE_RELAY }, { NULL, -1 },
};

const struct name_code route_tls_names[] = {
	{ "none", ROUTE_TLS_NONE }, { "opportunistic", ROUTE_TLS_OPPORTUNISTIC },
	{ "required", ROUTE_TLS_REQUIRED }, { "verify", ROUTE_TLS_VERIFY },
	{ "implicit", ROUTE_TLS_IMPLICIT }, { NULL, -1 },
};

/* begin = "2026-11-01": midnight UTC of that day; -1 when not a real date. */
static long long parse_day(const char *s)
{
	int y, m, d, n = -1;
	if (s == NULL || sscanf(s, "%4d-%2d-%2d%n", &y, &m, &d, &n) != 3 || n != 10 || s[n] != '\0')
		return -1;
	struct tm tm = { .tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d };
	time_t t = timegm(&tm);
	if (t == (time_t)-1 || tm.tm_mday != d || tm.tm_mon != m - 1)
		return -1;      /* timegm normalised "2026-02-30": not a date */
	return (long long)t;
}

/* warmup = { start = 50; growth = 1.5; per = "day"; begin = "2026-11-01"; max = 50000; } */
static void load_warmup(struct cfctx *cx, struct route_conf *rc, const config_setting_t *g)
{
	static const char *const known[] = { "start", "growth", "per", "begin", "max", NULL };
	static const struct name_code pers[] = { { "day", 86400 }, { "hour", 3600 }, { NULL, 0 } };
	struct warmup_conf *w = &rc->warmup;
	if (g == NULL || cx->failed)
		return;
	if (cf_expect_group(cx, g, known,
			    "route %s: warmup: expected a group { start = 50; growth = 1.5; per = \"day\"; }",
			    rc->name) < 0)
		return;
	if (rc->type != ROUTE_MX) {
		cf_error(cx, g, "route %s: warmup is for mx routes (a relay warms up its own addresses)", rc->name);
		return;
	}
	const config_setting_t *gr = config_setting_get_member(g, "growth");
	w->set = 1;
	cf_get_uint(cx, g, "start", &w->start, 1, 10000000);
	if (gr && (config_setting_type(gr) == CONFIG_TYPE_FLOAT || config_setting_type(gr) == CONFIG_TYPE_INT))
		w->growth = config_setting_type(gr) == CONFIG_TYPE_FLOAT ? config_setting_get_float(gr)
									 : config_setting_get_int(gr);
	if (!cx->failed && gr && !(w->growth >= 1.0 && w->growth <= 10.0))
		cf_error(cx, gr, "route %s: warmup: growth: expected a number from 1.0 to 10", rc->name);
	w->per = (unsigned)cf_get_enum(cx, g, "per", pers, 86400);
	cf_get_uint(cx, g, "max", &w->max, 1, 1000000000);
	char *begin = cf_get_string(cx, g, "begin", NULL);
	if (begin && (w->begin = parse_day(begin)) < 0)
		cf_error(cx, config_setting_get_member(g, "begin"),
			 "route %s: warmup: begin: expected a date \"YYYY-MM-DD\", got \"%s\"", rc->name, begin);
	free(begin);
	if (!cx->failed && (w->start == 0 || gr == NULL))
		cf_error(cx, g, "route %s: warmup: start and growth are required", rc->name);
	if (!cx->failed && w->max && w->max < w->start)
		cf_error(cx, g, "route %s: warmup: max is below start", rc->name);
}

static void load_route(struct cfctx *cx, struct config *cf, const config_setting_t *g, struct route_conf *rc)
{
	static const char *const known[] = { "type", "host", "port", "source", "helo", "tls", "auth", "warmup",
		NULL };
	rc->name = xstrdup(config_setting_name(g));
	rc->line = config_setting_source_line(g);
	if (cf_expect_group(cx, g, known, "route %s: expected a group { type = ...; }", rc->name) < 0)
		return;
	if (config_setting_get_member(g, "type") == NULL) {
		cf_error(cx, g, "route %s: type = \"mx\" or \"relay\" is required", rc->name);
		return;
	}
	rc->type = (enum route_type)cf_get_enum(cx, g, "type", route_type_names, ROUTE_MX);
	rc->tls = (enum route_tls)cf_get_enum(cx, g, "tls", route_tls_names,
		rc->type == ROUTE_MX ? ROUTE_TLS_OPPORTUNISTIC : ROUTE_TLS_REQUIRED);
	rc->helo = cf_get_string(cx, g, "helo", cf->hostname);
	load_sources(cx, rc, config_setting_get_member(g, "source"));
	load_warmup(cx, rc, config_setting_get_member(g, "warmup"));
	char *host = cf_get_string(cx, g, "host", NULL);
	unsigned port = 25;
	cf_get_uint(cx, g, "port", &port, 1, 65535);
	snprintf(rc->port, sizeof(rc->port), "%u", port);
	if (rc->type == ROUTE_RELAY && rc->nsources > 1)
		cf_error(cx, g, "route %s: a relay sends from one source address", rc->name);
	if (rc->type == ROUTE_RELAY && (host == NULL ||
	    hostport_split(host, rc->host, sizeof(rc->host), rc->port, sizeof(rc->port)) < 0))
		cf_error(cx, g, "route %s: a relay needs host = \"name:port\"", rc->name);
	if (rc->type == ROUTE_MX && (host || rc->tls == ROUTE_TLS_IMPLICIT))
		cf_error(cx, g, "route %s: an mx route takes no host and no implicit TLS", rc->name);
	free(host);
	char *auth = cf_get_path(cx, g, "auth", NULL);
	if (auth && rc->type == ROUTE_MX)
		cf_error(cx, g, "route %s: auth is for relays", rc->name);
	else if (auth && !cx->failed)
		load_auth_file(cx, config_setting_get_member(g, "auth"), auth, rc);
	rc->auth_file = auth;
}

static void load_routes(struct cfctx *cx, struct config *cf, const config_setting_t *g)
{
	if (!config_setting_is_group(g)) {
		cf_error(cx, g, "routes: expected a group { name = { type = ...; }; ... }");
		return;
	}
	int n = config_setting_length(g);
	cf->routes = xcalloc((size_t)n, sizeof(*cf->routes));
	for (int i = 0; i < n && !cx->failed; i++)
		load_route(cx, cf, config_setting_get_elem(g, (unsigned)i), &cf->routes[cf->nroutes++]);
}

const char *const rule_key_name[RULE_NKEYS] = { "sender", "sender_domain", "from_domain",
	"recipient_domain", "user", "class", "tenant", "spam", "mx" };

/* Why glob v cannot be a pattern for key k, or NULL. */
static const char *rule_glob_fault(enum rule_key k, const char *v)
{
	if (k == RULE_SENDER)
		return strchr(v, '@') || strcmp(v, "*") == 0 || strcmp(v, "<>") == 0 ? NULL :
		       "has no '@' (\"<>\" is the null sender; for a domain use sender_domain)";
	if (k == RULE_USER || k == RULE_CLASS || k == RULE_TENANT || k == RULE_SPAM)
		return NULL;
	for (const char *p = v; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == '@' || *p == 0x7f)
			return "is not a domain glob (no '@', no spaces)";
	return NULL;
}

static void load_rule_key(struct cfctx *cx, const config_setting_t *g, enum rule_key k, struct rule_conf *r)
{
	const char *key = rule_key_name[k];
	size_t n;
	char why[256];
	const config_setting_t *l = cf_get_list(cx, g, key, &n);
	if (l == NULL || cx->failed)
		return;
	r->match[k] = xcalloc(n, sizeof(struct glob));
	for (size_t i = 0; i < n && !cx->failed; i++) {
		const char *v = cf_list_elem(l, i);
		const char *fault = v && *v ? rule_glob_fault(k, v) : NULL;
		if (v == NULL || *v == '\0')
			cf_error(cx, l, "%s: expected non-empty strings", key);
		else if (fault)
			cf_error(cx, l, "%s: \"%s\" %s", key, v, fault);
		else if (glob_compile(v, k != RULE_USER, &r->match[k][r->nmatch[k]], why, sizeof(why)) < 0)
			cf_error(cx, l, "%s: %s", key, why);
		else
			r->nmatch[k]++;
	}
}

static void load_via(struct cfctx *cx, struct config *cf, const config_setting_t *g, struct rule_conf *r)
{
	size_t n;
	const config_setting_t *l = cf_get_list(cx, g, "via", &n);
	if (!cx->failed && l == NULL)
		cf_error(cx, g, "rules: via = [ \"route\", ... ] is required");
	if (cx->failed)
		return;
	r->via = xcalloc(n, sizeof(size_t));
	for (size_t i = 0; i < n && !cx->failed; i++) {
		const char *v = cf_list_elem(l, i);
		size_t k;
		for (k = 0; v && k < cf->nroutes && strcmp(cf->routes[k].name, v) != 0; k++)
			;
		if (k == cf->nroutes || v == NULL)
			cf_error(cx, l, "via: no route named \"%s\"", v ? v : "");
		for (size_t j = 0; j < r->nvia && !cx->failed; j++)
			if (r->via[j] == k)
				cf_error(cx, l, "via: route \"%s\" is listed twice", v);
		r->via[r->nvia++] = k;
	}
}

static void load_rule(struct cfctx *cx, struct config *cf, const config_setting_t *g, struct rule_conf *r)
{
	static const char *const known[] = { "sender", "sender_domain", "from_domain", "recipient_domain",
		"user", "class", "tenant", "spam", "mx", "via", NULL };
	r->line = config_setting_source_line(g);
	if (cf_expect_group(cx, g, known, "rules: each rule is a group { ...; via = [ \"route\" ]; }") < 0)
		return;
	for (int k = 0; k < RULE_NKEYS; k++)
		load_rule_key(cx, g, (enum rule_key)k, r);
	load_via(cx, cf, g, r);
}

/* 1 when r matches every recipient of every message: each of its keys
 * (if any) is sender or recipient_domain with a "*" among its globs.  The
 * other keys can be unknown or empty ("*" does not match a message without
 * From:, user or class), so they never make a catch-all. */
static int rule_matches_all(const struct rule_conf *r)
{
	for (int k = 0; k < RULE_NKEYS; k++) {
		if (r->nmatch[k] == 0)
			continue;
		if (k != RULE_SENDER && k != RULE_RECIPIENT_DOMAIN)
			return 0;
		size_t i;
		for (i = 0; i < r->nmatch[k] && r->match[k][i].kind != GLOB_ANY; i++)
			;
		if (i == r->nmatch[k])
			return 0;
	}
	return 1;
}

static void load_rules(struct cfctx *cx, struct config *cf, const config_setting_t *l)
{
	if (!config_setting_is_list(l)) {
		cf_error(cx, l, "rules: expected a list ( { via = [ \"route\" ]; }, ... )");
		return;
	}
	int n = config_setting_length(l);
	cf->rules = xcalloc((size_t)n, sizeof(*cf->rules));
	for (int i = 0; i < n && !cx->failed; i++)
		load_rule(cx, cf, config_setting_get_elem(l, (unsigned)i), &cf->rules[cf->nrules++]);
	for (size_t i = 0; i + 1 < cf->nrules && !cx->failed; i++)
		if (rule_matches_all(&cf->rules[i]))
			cf_error(cx, config_setting_get_elem(l, (unsigned)i + 1),
				 "rule at line %d is never reached: the rule at line %d matches everything",
				 cf->rules[i + 1].line, cf->rules[i].line);
}

static void route_config_load(struct cfctx *cx, struct config *cf, const config_setting_t *root)
{
	const config_setting_t *s;
	if (!cx->failed && (s = config_setting_get_member(root, "routes")) != NULL)
		load_routes(cx, cf, s);
	if (!cx->failed && (s = config_setting_get_member(root, "rules")) != NULL)
		load_rules(cx, cf, s);
	if (!cx->failed && cf->nroutes && cf->nrules == 0)
		cf_error(cx, config_setting_get_member(root, "routes"),
			 "routes: add rules = ( { via = [ \"%s\" ]; } ) to say which mail takes which route",
			 cf->routes[0].name);
}

static void route_config_release(struct config *cf)
{
	for (size_t i = 0; i < cf->nroutes; i++) {
		struct route_conf *r = &cf->routes[i];
		free(r->name);
		for (size_t k = 0; k < r->nsources; k++) {
			free(r->sources[k].address);
			free(r->sources[k].helo);
		}
		free(r->sources);
		free(r->helo);
		free(r->auth_user);
		free(r->auth_file);
		if (r->auth_pass)
			explicit_bzero(r->auth_pass, strlen(r->auth_pass));
		free(r->auth_pass);
	}
	free(cf->routes);
	for (size_t i = 0; i < cf->nrules; i++) {
		struct rule_conf *r = &cf->rules[i];
		for (int k = 0; k < RULE_NKEYS; k++) {
			for (size_t j = 0; j < r->nmatch[k]; j++)
				glob_free(&r->match[k][j]);
			free(r->match[k]);
		}
		free(r->via);
	}
	free(cf->rules);
}

static const char *const known_route_keys[] = { "routes", "rules", NULL };

const struct config_section route_config_section = {
	.keys = known_route_keys,
	.load = route_config_load,
	.release = route_config_release,
};
