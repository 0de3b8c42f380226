/*
 * tenant_config: parses tenants (see tenant_config.h), a section of core/config.
 */
#include "inbound/tenant_config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/config.h"
#include "core/config_parse.h"
#include "core/name_code.h"
#include "core/xmalloc.h"

static int tenant_name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > TENANT_NAME_MAX)
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '.' && *s != '_' && *s != '-')
			return 0;
	return 1;
}

static void load_networks(struct cfctx *cx, const config_setting_t *g, struct tenant_conf *t)
{
	size_t n;
	const config_setting_t *l = cf_get_list(cx, g, "networks", &n);
	if (l == NULL || cx->failed)
		return;
	t->networks = xcalloc(n, sizeof(*t->networks));
	for (size_t i = 0; i < n && !cx->failed; i++) {
		const char *v = cf_list_elem(l, i);
		if (v == NULL || netmask_parse(v, &t->networks[t->nnetworks]) < 0)
			cf_error(cx, l, "tenant %s: networks: \"%s\" is not an address or network", t->name,
				 v ? v : "(not a string)");
		else
			t->nnetworks++;
	}
}

static void load_domains(struct cfctx *cx, const config_setting_t *g, struct tenant_conf *t)
{
	t->domains = cf_get_string_list(cx, g, "domains", &t->ndomains);
	for (size_t i = 0; i < t->ndomains; i++) {
		for (char *p = t->domains[i]; *p; p++) {
			if ((unsigned char)*p <= ' ' || *p == '@' || *p == 0x7f) {
				cf_error(cx, config_setting_get_member(g, "domains"),
					 "tenant %s: domains: \"%s\" is not a domain", t->name, t->domains[i]);
				return;
			}
			*p = (char)tolower((unsigned char)*p);
		}
	}
}

static void load_limits(struct cfctx *cx, const config_setting_t *g, struct tenant_conf *t)
{
	static const char *const known[] = { "messages_per_minute", "messages_per_hour",
		"messages_per_day", "recipients_per_message", NULL };
	const config_setting_t *l = config_setting_get_member(g, "limits");
	if (l == NULL)
		return;
	if (!config_setting_is_group(l)) {
		cf_error(cx, l, "tenant %s: limits: expected a group { messages_per_minute = N; ... }", t->name);
		return;
	}
	if (cf_check_keys(cx, l, known) < 0)
		return;
	cf_get_uint(cx, l, "messages_per_minute", &t->limits.per_minute, 0, 10000000);
	cf_get_uint(cx, l, "messages_per_hour", &t->limits.per_hour, 0, 100000000);
	cf_get_uint(cx, l, "messages_per_day", &t->limits.per_day, 0, 1000000000);
	cf_get_uint(cx, l, "recipients_per_message", &t->limits.rcpts_per_msg, 0, 100000);
}

static const struct name_code tenant_action_names[] = {
	{ "hold", TENANT_HOLD }, { "throttle", TENANT_THROTTLE }, { NULL, -1 },
};

/* A percentage member, 0 < v <= 100; *out unchanged when absent. */
static void get_percent(struct cfctx *cx, const config_setting_t *g, const char *key, double *out)
{
	const config_setting_t *s = config_setting_get_member(g, key);
	if (s == NULL)
		return;
	int t = config_setting_type(s);
	double v = t == CONFIG_TYPE_FLOAT ? config_setting_get_float(s)
		 : t == CONFIG_TYPE_INT ? (double)config_setting_get_int(s) : -1;
	if (!(v > 0 && v <= 100))
		cf_error(cx, s, "%s: expected a percentage above 0 and at most 100, such as 0.3 or 5", key);
	else
		*out = v;
}

static void load_protect(struct cfctx *cx, const config_setting_t *g, struct tenant_conf *t)
{
	static const char *const known[] = { "window", "min_messages", "max_bounce_rate", "max_complaint_rate",
		"action", "throttle_per_minute", NULL };
	const config_setting_t *l = config_setting_get_member(g, "protect");
	struct tenant_protect *p = &t->protect;
	if (l == NULL)
		return;
	if (!config_setting_is_group(l)) {
		cf_error(cx, l, "tenant %s: protect: expected a group { window = \"24h\"; max_bounce_rate = 5; ... }",
			 t->name);
		return;
	}
	if (cf_check_keys(cx, l, known) < 0)
		return;
	*p = (struct tenant_protect){ 1, 86400, "24h", 100, 0, 0, TENANT_HOLD, 10 };
	const char *w = NULL;
	if (config_setting_lookup_string(l, "window", &w) && strlen(w) < sizeof(p->window_text))
		snprintf(p->window_text, sizeof(p->window_text), "%s", w);
	cf_get_duration(cx, l, "window", &p->window);
	if (!cx->failed && (p->window < 3600 || p->window % 3600 != 0))
		cf_error(cx, config_setting_get_member(l, "window"),
			 "tenant %s: protect: window is counted in whole hours (\"1h\" to \"7d\")", t->name);
	cf_get_uint(cx, l, "min_messages", &p->min_messages, 1, 10000000);
	get_percent(cx, l, "max_bounce_rate", &p->max_bounce_rate);
	get_percent(cx, l, "max_complaint_rate", &p->max_complaint_rate);
	p->action = (enum tenant_action)cf_get_enum(cx, l, "action", tenant_action_names, TENANT_HOLD);
	cf_get_uint(cx, l, "throttle_per_minute", &p->throttle_per_minute, 1, 10000000);
	if (!cx->failed && p->max_bounce_rate == 0 && p->max_complaint_rate == 0)
		cf_error(cx, l, "tenant %s: protect: set max_bounce_rate or max_complaint_rate", t->name);
}

static void load_tenant(struct cfctx *cx, const config_setting_t *g, struct tenant_conf *t)
{
	static const char *const known[] = { "name", "users", "networks", "domains", "limits", "protect",
		NULL };
	t->line = config_setting_source_line(g);
	if (!config_setting_is_group(g)) {
		cf_error(cx, g, "tenants: each tenant is a group { name = \"...\"; users = [ ... ]; }");
		return;
	}
	if (cf_check_keys(cx, g, known) < 0)
		return;
	t->name = cf_get_string(cx, g, "name", NULL);
	if (t->name == NULL || !tenant_name_ok(t->name)) {
		cf_error(cx, g, "tenants: name is required: 1 to %d letters, digits, '.', '_' or '-'",
			 TENANT_NAME_MAX);
		return;
	}
	t->users = cf_get_string_list(cx, g, "users", &t->nusers);
	load_networks(cx, g, t);
	load_domains(cx, g, t);
	load_limits(cx, g, t);
	load_protect(cx, g, t);
	if (!cx->failed && t->nusers + t->nnetworks + t->ndomains == 0)
		cf_error(cx, g, "tenant %s: name its users, networks or domains, or it has no mail", t->name);
}

/* A second tenant claiming a name, user or domain another already has. */
static void check_unique(struct cfctx *cx, const config_setting_t *l, const struct config *cf, size_t i)
{
	const struct tenant_conf *t = &cf->tenants[i];
	const config_setting_t *g = config_setting_get_elem(l, (unsigned)i);
	for (size_t j = 0; j < i && !cx->failed; j++) {
		const struct tenant_conf *o = &cf->tenants[j];
		if (strcmp(o->name, t->name) == 0)
			cf_error(cx, g, "tenant %s: the name is taken by the tenant at line %d", t->name, o->line);
		for (size_t a = 0; a < t->nusers && !cx->failed; a++)
			for (size_t b = 0; b < o->nusers && !cx->failed; b++)
				if (strcmp(t->users[a], o->users[b]) == 0)
					cf_error(cx, g, "tenant %s: user \"%s\" already belongs to tenant %s",
						 t->name, t->users[a], o->name);
		for (size_t a = 0; a < t->ndomains && !cx->failed; a++)
			for (size_t b = 0; b < o->ndomains && !cx->failed; b++)
				if (strcmp(t->domains[a], o->domains[b]) == 0)
					cf_error(cx, g, "tenant %s: domain \"%s\" already belongs to tenant %s",
						 t->name, t->domains[a], o->name);
	}
}

static void tenant_config_load(struct cfctx *cx, struct config *cf, const config_setting_t *root)
{
	const config_setting_t *l = config_setting_get_member(root, "tenants");
	if (l == NULL || cx->failed)
		return;
	if (!config_setting_is_list(l)) {
		cf_error(cx, l, "tenants: expected a list ( { name = \"acme\"; users = [ ... ]; }, ... )");
		return;
	}
	int n = config_setting_length(l);
	cf->tenants = xcalloc((size_t)n + 1, sizeof(*cf->tenants));
	for (int i = 0; i < n && !cx->failed; i++) {
		load_tenant(cx, config_setting_get_elem(l, (unsigned)i), &cf->tenants[cf->ntenants++]);
		if (!cx->failed)
			check_unique(cx, l, cf, cf->ntenants - 1);
	}
}

static void free_strings(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void tenant_config_release(struct config *cf)
{
	for (size_t i = 0; i < cf->ntenants; i++) {
		struct tenant_conf *t = &cf->tenants[i];
		free(t->name);
		free_strings(t->users, t->nusers);
		free(t->networks);
		free_strings(t->domains, t->ndomains);
	}
	free(cf->tenants);
}

/* After every section: a dkim key's tenant is one of the tenants. */
static void tenant_config_check(struct cfctx *cx, struct config *cf, const config_setting_t *root)
{
	const config_setting_t *l = config_setting_get_member(root, "dkim");
	for (size_t i = 0; i < cf->ndkim && !cx->failed; i++) {
		const char *name = cf->dkim[i].tenant;
		size_t k;
		for (k = 0; name && k < cf->ntenants && strcmp(cf->tenants[k].name, name) != 0; k++)
			;
		if (name && k == cf->ntenants)
			cf_error(cx, l ? config_setting_get_elem(l, (unsigned)i) : NULL,
				 "dkim: tenant \"%s\" is not one of tenants", name);
	}
}

static const char *const known_tenant_keys[] = { "tenants", NULL };

const struct config_section tenant_config_section = {
	.keys = known_tenant_keys,
	.load = tenant_config_load,
	.check = tenant_config_check,
	.release = tenant_config_release,
};
