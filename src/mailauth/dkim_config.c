/*
 * dkim_config: parses the dkim keys and the canary (see dkim_config.h),
 * a section of core/config.
 */
#include "mailauth/dkim_config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/config.h"
#include "core/config_parse.h"
#include "core/xmalloc.h"

static void load_dkim(struct cfctx *cx, struct config *cf, const config_setting_t *l)
{
	static const char *const known[] = { "domain", "selector", "key", "all", "tenant", NULL };
	if (!config_setting_is_list(l)) {
		cf_error(cx, l, "dkim: expected a list ( { domain = ...; selector = ...; key = ...; }, ... )");
		return;
	}
	int n = config_setting_length(l);
	cf->dkim = xcalloc((size_t)n, sizeof(*cf->dkim));
	for (int i = 0; i < n && !cx->failed; i++) {
		const config_setting_t *g = config_setting_get_elem(l, (unsigned)i);
		struct dkim_conf *d = &cf->dkim[cf->ndkim++];
		d->line = config_setting_source_line(g);
		if (cf_expect_group(cx, g, known, "dkim: each key is a group { domain; selector; key; }") < 0)
			return;
		d->domain = cf_get_string(cx, g, "domain", NULL);
		d->selector = cf_get_string(cx, g, "selector", NULL);
		d->key = cf_get_path(cx, g, "key", NULL);
		const config_setting_t *all = config_setting_get_member(g, "all");
		if (all && config_setting_type(all) != CONFIG_TYPE_BOOL)
			cf_error(cx, all, "all: expected true or false");
		d->all = all && config_setting_get_bool(all);
		d->tenant = cf_get_string(cx, g, "tenant", NULL);   /* checked by tenant_config */
		if (!cx->failed && (!d->domain || !d->selector || !d->key || !*d->domain || !*d->selector))
			cf_error(cx, g, "dkim: domain, selector and key are all required");
		for (size_t k = 0; k + 1 < cf->ndkim && !cx->failed; k++)
			if (strcasecmp(cf->dkim[k].domain, d->domain) == 0 &&
			    strcasecmp(cf->dkim[k].selector, d->selector) == 0)
				cf_error(cx, g, "dkim: selector %s._domainkey.%s is listed twice", d->selector,
					 d->domain);
	}
}

static void load_canary(struct cfctx *cx, struct config *cf, const config_setting_t *g)
{
	static const char *const known[] = { "address", "interval", NULL };
	if (cf_expect_group(cx, g, known,
			    "canary: expected a group { address = \"canary@...\"; interval = \"1h\"; }") < 0)
		return;
	cf->canary.address = cf_get_string(cx, g, "address", NULL);
	if (!cx->failed && (!cf->canary.address || !strchr(cf->canary.address, '@')))
		cf_error(cx, g, "canary: address = \"local@domain\" is required");
	cf->canary.interval = 3600;
	cf_get_duration(cx, g, "interval", &cf->canary.interval);
}

static void dkim_config_load(struct cfctx *cx, struct config *cf, const config_setting_t *root)
{
	static const struct cf_member_loader loaders[] = {
		{ "dkim", load_dkim }, { "canary", load_canary }, { NULL, NULL },
	};
	cf_load_members(cx, cf, root, loaders);
}

/* Keys are read once, at start; the canary's mailbox is fixed with them. */
static const char *dkim_config_reload_blocker(const struct config *old, const struct config *cur)
{
	if (old->ndkim != cur->ndkim)
		return "dkim";
	for (size_t i = 0; i < old->ndkim; i++)
		if (strcmp(old->dkim[i].domain, cur->dkim[i].domain) != 0 ||
		    strcmp(old->dkim[i].selector, cur->dkim[i].selector) != 0 ||
		    strcmp(old->dkim[i].key, cur->dkim[i].key) != 0 || old->dkim[i].all != cur->dkim[i].all)
			return "dkim";
	if ((old->canary.address == NULL) != (cur->canary.address == NULL) ||
	    (old->canary.address && strcmp(old->canary.address, cur->canary.address) != 0))
		return "canary";
	return NULL;
}

static void dkim_config_release(struct config *cf)
{
	for (size_t i = 0; i < cf->ndkim; i++) {
		free(cf->dkim[i].domain);
		free(cf->dkim[i].selector);
		free(cf->dkim[i].key);
		free(cf->dkim[i].tenant);
	}
	free(cf->dkim);
	free(cf->canary.address);
}

static const char *const known_dkim_keys[] = { "dkim", "canary", NULL };

const struct config_section dkim_config_section = {
	.keys = known_dkim_keys,
	.load = dkim_config_load,
	.reload_blocker = dkim_config_reload_blocker,
	.release = dkim_config_release,
};
