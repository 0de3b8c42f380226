/*
 * delivery_config: parses retry, delivery (with backoff), health and
 * limits (see delivery_config.h), two sections of core/config.
 */
#include "delivery/delivery_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/config.h"
#include "core/config_parse.h"
#include "core/name_code.h"
#include "core/netaddr.h"
#include "core/xmalloc.h"
#include "delivery/provider.h"

static void load_health(struct cfctx *cx, struct config *cf, const config_setting_t *g)
{
	static const char *const known[] = { "failures", "probe", "probe_max", NULL };
	if (cf_expect_group(cx, g, known,
			    "health: expected a group { failures = 3; probe = \"1m\"; probe_max = \"1h\"; }") < 0)
		return;
	cf_get_uint(cx, g, "failures", &cf->health.failures, 1, 1000);
	cf_get_duration(cx, g, "probe", &cf->health.probe);
	cf_get_duration(cx, g, "probe_max", &cf->health.probe_max);
	if (!cx->failed && cf->health.probe_max < cf->health.probe)
		cf_error(cx, g, "health: probe_max is shorter than probe");
}

int config_parse_rate(const char *s, struct rate_conf *out)
{
	static const char *const units[] = { "s", "min", "h", "day" };
	static const unsigned secs[] = { 1, 60, 3600, 86400 };
	const char *slash = s ? strchr(s, '/') : NULL;
	char num[16];
	if (slash == NULL || slash == s || (size_t)(slash - s) >= sizeof(num))
		return -1;
	memcpy(num, s, (size_t)(slash - s));
	num[slash - s] = '\0';
	long long n = config_parse_size(num);    /* plain digits: the count */
	if (n < 1 || n > 1000000000 || strspn(num, "0123456789") != strlen(num))
		return -1;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(slash + 1, units[i]) == 0) {
			out->count = (unsigned)n;
			out->per = secs[i];
			return 0;
		}
	}
	return -1;
}

static int rate_cmp(const void *a, const void *b)
{
	const struct rate_conf *x = a, *y = b;
	return (x->per > y->per) - (x->per < y->per);
}

/* rate = "600/min" or [ "600/min", "20000/day" ]: at most one per unit. */
static void load_rates(struct cfctx *cx, const config_setting_t *g, struct limit_conf *lc)
{
	size_t n;
	const config_setting_t *l = cf_get_list(cx, g, "rate", &n);
	if (l == NULL || cx->failed)
		return;
	lc->rates = xcalloc(n, sizeof(*lc->rates));
	for (size_t i = 0; i < n && !cx->failed; i++) {
		const char *v = cf_list_elem(l, i);
		struct rate_conf *r = &lc->rates[lc->nrates];
		if (config_parse_rate(v, r) < 0) {
			cf_error(cx, l, "rate: \"%s\" is not a rate such as \"600/min\" (N/s, N/min, N/h, N/day)",
				 v ? v : "");
			return;
		}
		for (size_t k = 0; k < lc->nrates; k++)
			if (lc->rates[k].per == r->per)
				cf_error(cx, l, "rate: two rates for the same unit (\"%s\")", v);
		lc->nrates++;
	}
	qsort(lc->rates, lc->nrates, sizeof(*lc->rates), rate_cmp);
}

const struct name_code limit_selector_names[] = {
	{ "domain", LIMIT_DOMAIN }, { "mx", LIMIT_MX }, { "route", LIMIT_ROUTE }, { "source", LIMIT_SOURCE },
	{ "provider", LIMIT_PROVIDER }, { NULL, -1 },
};

/* Why glob v cannot select a limit's key, or NULL. */
static const char *limit_glob_fault(const struct config *cf, enum limit_selector sel, const char *v)
{
	struct netmask m;
	if (v == NULL || *v == '\0')
		return "expected non-empty strings";
	if (sel == LIMIT_PROVIDER && strpbrk(v, "*?[") != NULL)
		return "is a glob: name each provider (gmail, outlook, ...)";
	if (strpbrk(v, "*?[") != NULL)
		return NULL;
	if (sel == LIMIT_ROUTE) {
		for (size_t i = 0; i < cf->nroutes; i++)
			if (strcmp(cf->routes[i].name, v) == 0)
				return NULL;
		return "names no route";
	}
	if (sel == LIMIT_SOURCE && (netmask_parse(v, &m) < 0 || strchr(v, '/')))
		return "is not an IP address (or a glob such as \"203.0.113.*\")";
	return NULL;
}

/* A provider value v as the throttle compares it: the built-in name of a
 * provider or alias (into out), or a registered domain that no built-in
 * provider owns (an MX host's provider when the table has none).  NULL
 * with the reason in why when v names neither. */
static const char *limit_provider(const char *v, char *out, size_t outlen, char *why, size_t whylen)
{
	char known[512], reg[256];
	const char *key = provider_key(v);
	if (key) {
		snprintf(out, outlen, "%s", key);
		return out;
	}
	if (provider_key_list(known, sizeof(known)) < 0)
		snprintf(known, sizeof(known), "(the list is too long to show)");
	if (strchr(v, '.') && !strpbrk(v, "*?[") && provider_of(v, reg, sizeof(reg)) == 0) {
		if (strcasecmp(reg, v) == 0) {
			snprintf(out, outlen, "%s", reg);
			return out;
		}
		snprintf(why, whylen, "\"%s\" is counted as provider \"%s\": write that", v, reg);
		return NULL;
	}
	snprintf(why, whylen, "\"%s\" is not a provider outpost knows (known: %s; or the registered domain "
		 "of another provider's MX hosts, such as \"example.net\")", v, known);
	return NULL;
}

/* The globs of lc's selector from list l (n values), checked. */
static void load_limit_match(struct cfctx *cx, struct config *cf, const config_setting_t *l, size_t n,
			     struct limit_conf *lc)
{
	const char *key = str_name_code(limit_selector_names, (int)lc->selector);
	char why[1024], canon[256];
	lc->match = xcalloc(n, sizeof(struct glob));
	for (size_t i = 0; i < n && !cx->failed; i++) {
		const char *v = cf_list_elem(l, i), *fault = limit_glob_fault(cf, lc->selector, v);
		if (!fault && lc->selector == LIMIT_PROVIDER &&
		    (v = limit_provider(v, canon, sizeof(canon), why, sizeof(why))) == NULL)
			cf_error(cx, l, "%s: %s", key, why);
		else if (fault)
			cf_error(cx, l, "%s: \"%s\" %s", key, v ? v : "", fault);
		else if (glob_compile(v, 1, &lc->match[lc->nmatch], why, sizeof(why)) < 0)
			cf_error(cx, l, "%s: %s", key, why);
		else
			lc->nmatch++;
	}
}

static void load_limit(struct cfctx *cx, struct config *cf, const config_setting_t *g, struct limit_conf *lc)
{
	static const char *const known[] = { "domain", "mx", "route", "source", "provider", "connections",
		"messages_per_connection", "rate", NULL };
	int nsel = 0;
	size_t n;
	lc->line = config_setting_source_line(g);
	if (cf_expect_group(cx, g, known,
			    "limits: each entry is a group { domain = \"...\"; rate = \"600/min\"; }") < 0)
		return;
	for (const struct name_code *sel = limit_selector_names; sel->name; sel++)
		if (config_setting_get_member(g, sel->name) != NULL) {
			nsel++;
			lc->selector = (enum limit_selector)sel->code;
		}
	if (nsel != 1) {
		cf_error(cx, g, "limits: each entry selects by exactly one of domain, mx, route, source, provider");
		return;
	}
	const char *key = str_name_code(limit_selector_names, (int)lc->selector);
	const config_setting_t *l = cf_get_list(cx, g, key, &n);
	if (cx->failed)
		return;
	load_limit_match(cx, cf, l, n, lc);
	cf_get_uint(cx, g, "connections", &lc->connections, 1, 100000);
	cf_get_uint(cx, g, "messages_per_connection", &lc->messages_per_connection, 1, 10000000);
	load_rates(cx, g, lc);
	if (!cx->failed && lc->connections == 0 && lc->messages_per_connection == 0 && lc->nrates == 0)
		cf_error(cx, g, "limits: the entry sets no limit: give connections, messages_per_connection or rate");
}

/* 1 when a and b select the same values (their counters would be one). */
static int limit_same_match(const struct limit_conf *a, const struct limit_conf *b)
{
	if (a->selector != b->selector || a->nmatch != b->nmatch)
		return 0;
	for (size_t i = 0; i < a->nmatch; i++)
		if (strcmp(a->match[i].text, b->match[i].text) != 0)
			return 0;
	return 1;
}

/* limits = ( { domain = [ "gmail.com" ]; connections = 10; rate = "600/min"; }, ... ) */
static void load_limits(struct cfctx *cx, struct config *cf, const config_setting_t *l)
{
	if (!config_setting_is_list(l)) {
		cf_error(cx, l, "limits: expected a list ( { mx = \"*.google.com\"; rate = \"600/min\"; }, ... )");
		return;
	}
	int n = config_setting_length(l);
	cf->limits = xcalloc((size_t)n, sizeof(*cf->limits));
	for (int i = 0; i < n && !cx->failed; i++) {
		const config_setting_t *g = config_setting_get_elem(l, (unsigned)i);
		struct limit_conf *lc = &cf->limits[cf->nlimits++];
		load_limit(cx, cf, g, lc);
		for (size_t k = 0; k + 1 < cf->nlimits && !cx->failed; k++)
			if (limit_same_match(&cf->limits[k], lc))
				cf_error(cx, g, "limits: the entry at line %d selects the same; merge the two",
					 cf->limits[k].line);
	}
}

/* delivery = { backoff = { cooldown = "10m"; floor = "1/min"; }; } */
static void load_backoff(struct cfctx *cx, struct config *cf, const config_setting_t *g)
{
	static const char *const known[] = { "cooldown", "floor", NULL };
	struct backoff_conf *b = &cf->delivery.backoff;
	if (g == NULL || cx->failed)
		return;
	if (cf_expect_group(cx, g, known,
			    "backoff: expected a group { cooldown = \"10m\"; floor = \"1/min\"; }") < 0)
		return;
	cf_get_duration(cx, g, "cooldown", &b->cooldown);
	const config_setting_t *f = config_setting_get_member(g, "floor");
	if (f && config_parse_rate(config_setting_get_string(f), &b->floor) < 0)
		cf_error(cx, f, "floor: expected a rate such as \"1/min\"");
}

static void load_retry(struct cfctx *cx, struct config *cf, const config_setting_t *g)
{
	static const char *const known[] = { "schedule", "lifetime", "greylist", "delay_notice", NULL };
	struct retry_conf *rc = &cf->retry;
	if (cf_expect_group(cx, g, known,
			    "retry: expected a group { schedule = [ \"1m\", ... ]; lifetime = \"5d\"; }") < 0)
		return;
	size_t n;
	char **sched = cf_get_string_list(cx, g, "schedule", &n);
	if (sched) {
		free(rc->schedule);
		rc->schedule = xcalloc(n ? n : 1, sizeof(unsigned));
		rc->nschedule = 0;
		for (size_t i = 0; i < n; i++) {
			long long d = config_parse_duration(sched[i]);
			if (d < 1 || d > 30 * 86400)
				cf_error(cx, config_setting_get_member(g, "schedule"),
					 "schedule: \"%s\" is not a duration such as \"5m\"", sched[i]);
			rc->schedule[rc->nschedule++] = (unsigned)(d > 0 ? d : 1);
			free(sched[i]);
		}
		free(sched);
		if (!cx->failed && rc->nschedule == 0)
			cf_error(cx, g, "schedule: give at least one duration");
	}
	uint64_t v = rc->lifetime;
	cf_get_unit(cx, g, "lifetime", config_parse_duration, 1, 60 * 86400, &v);
	rc->lifetime = (unsigned)v;
	v = rc->greylist;
	cf_get_unit(cx, g, "greylist", config_parse_duration, 1, 86400, &v);
	rc->greylist = (unsigned)v;
	v = rc->delay_notice;
	cf_get_unit(cx, g, "delay_notice", config_parse_duration, 0, 60 * 86400, &v);
	rc->delay_notice = (unsigned)v;
}

static void load_delivery(struct cfctx *cx, struct config *cf, const config_setting_t *g)
{
	static const char *const known[] = { "max_connections", "max_per_destination", "connect_timeout",
		"command_timeout", "dns_timeout", "backoff", NULL };
	struct delivery_conf *dc = &cf->delivery;
	if (cf_expect_group(cx, g, known, "delivery: expected a group { max_connections = 100; ... }") < 0)
		return;
	cf_get_uint(cx, g, "max_connections", &dc->max_connections, 1, 10000);
	cf_get_uint(cx, g, "max_per_destination", &dc->max_per_destination, 1, 10000);
	cf_get_duration(cx, g, "connect_timeout", &dc->connect_timeout);
	cf_get_duration(cx, g, "command_timeout", &dc->command_timeout);
	unsigned dns = dc->dns_timeout_ms / 1000;
	cf_get_duration(cx, g, "dns_timeout", &dns);
	dc->dns_timeout_ms = dns * 1000;
	load_backoff(cx, cf, config_setting_get_member(g, "backoff"));
}

static void delivery_defaults(struct config *cf)
{
	static const unsigned schedule[] = { 60, 300, 900, 1800, 3600, 7200, 14400 };
	cf->retry.nschedule = sizeof(schedule) / sizeof(schedule[0]);
	cf->retry.schedule = xcalloc(cf->retry.nschedule, sizeof(unsigned));
	memcpy(cf->retry.schedule, schedule, sizeof(schedule));
	cf->retry.lifetime = 5 * 86400;
	cf->retry.greylist = 300;
	cf->retry.delay_notice = 4 * 3600;
	cf->health.failures = 3;
	cf->health.probe = 60;
	cf->health.probe_max = 3600;
	cf->delivery.max_connections = 100;
	cf->delivery.max_per_destination = 10;
	cf->delivery.connect_timeout = 30;
	cf->delivery.command_timeout = 300;
	cf->delivery.dns_timeout_ms = 10000;
	cf->delivery.backoff.cooldown = 600;
	cf->delivery.backoff.floor = (struct rate_conf){ 1, 60 };
}

static void delivery_load(struct cfctx *cx, struct config *cf, const config_setting_t *root)
{
	static const struct cf_member_loader loaders[] = {
		{ "retry", load_retry }, { "delivery", load_delivery }, { "health", load_health }, { NULL, NULL },
	};
	cf_load_members(cx, cf, root, loaders);
}

static void delivery_release(struct config *cf)
{
	free(cf->retry.schedule);
}

static const char *const known_delivery_keys[] = { "retry", "delivery", "health", NULL };

const struct config_section delivery_config_section = {
	.keys = known_delivery_keys,
	.defaults = delivery_defaults,
	.load = delivery_load,
	.release = delivery_release,
};

static void limits_load(struct cfctx *cx, struct config *cf, const config_setting_t *root)
{
	const config_setting_t *s;
	if (!cx->failed && (s = config_setting_get_member(root, "limits")) != NULL)
		load_limits(cx, cf, s);
}

static void limits_release(struct config *cf)
{
	for (size_t i = 0; i < cf->nlimits; i++) {
		for (size_t k = 0; k < cf->limits[i].nmatch; k++)
			glob_free(&cf->limits[i].match[k]);
		free(cf->limits[i].match);
		free(cf->limits[i].rates);
	}
	free(cf->limits);
}

static const char *const known_limits_keys[] = { "limits", NULL };

const struct config_section limits_config_section = {
	.keys = known_limits_keys,
	.load = limits_load,
	.release = limits_release,
};
