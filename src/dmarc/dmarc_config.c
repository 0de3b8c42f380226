/*
 * dmarc_config: parses dmarc (see dmarc_config.h).
 */
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/config_parse.h"
#include "dmarc/dmarc_config.h"

static void dmarc_config_defaults(struct config *cf)
{
	cf->dmarc.threshold = 90;
}

static void dmarc_config_load(struct cfctx *cx, struct config *cf, const config_setting_t *root)
{
	static const char *const known[] = { "rua", "threshold", NULL };
	const config_setting_t *g = config_setting_get_member(root, "dmarc");
	if (g == NULL)
		return;
	if (!config_setting_is_group(g) || cf_check_keys(cx, g, known) < 0) {
		cf_error(cx, g, "dmarc: expected a group { rua = \"dmarc-reports@example.com\"; threshold = 90; }");
		return;
	}
	cf->dmarc.rua = cf_get_string(cx, g, "rua", NULL);
	cf_get_uint(cx, g, "threshold", &cf->dmarc.threshold, 0, 100);
	if (cf->dmarc.rua && (strchr(cf->dmarc.rua, '@') == NULL || strncmp(cf->dmarc.rua, "mailto:", 7) == 0))
		cf_error(cx, config_setting_get_member(g, "rua"), "dmarc: rua \"%s\" must be an address "
			 "local@domain (without mailto:)", cf->dmarc.rua);
}

static const char *dmarc_config_reload_blocker(const struct config *old, const struct config *cur)
{
	const char *a = old->dmarc.rua, *b = cur->dmarc.rua;
	return (a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0) ? "dmarc" : NULL;
}

static void dmarc_config_release(struct config *cf)
{
	free(cf->dmarc.rua);
}

static const char *const known_dmarc_keys[] = { "dmarc", NULL };

const struct config_section dmarc_config_section = {
	.keys = known_dmarc_keys,
	.defaults = dmarc_config_defaults,
	.load = dmarc_config_load,
	.reload_blocker = dmarc_config_reload_blocker,
	.release = dmarc_config_release,
};
