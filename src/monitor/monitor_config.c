/*
 * monitor_config: parses monitor (see monitor_config.h).
 */
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/config_parse.h"
#include "core/name_code.h"
#include "core/xmalloc.h"
#include "doctor/doctor.h"
#include "monitor/monitor_config.h"

static const char *const default_act_on[] = { "Spamhaus ZEN", "Barracuda", "SpamCop", NULL };

static const struct name_code pbl_names[] = { { "report", 0 }, { "act", 1 }, { NULL, -1 } };

static void monitor_config_defaults(struct config *cf)
{
	cf->monitor.budget = 100;
}

static void load_monitor(struct cfctx *cx, struct config *cf, const config_setting_t *g)
{
	static const char *const known[] = { "interval", "budget", "act_on", "pbl", NULL };
	struct monitor_conf *mc = &cf->monitor;
	if (!config_setting_is_group(g) || cf_check_keys(cx, g, known) < 0) {
		cf_error(cx, g, "monitor: expected a group { interval = \"15m\"; ... }");
		return;
	}
	mc->interval = 900;
	cf_get_duration(cx, g, "interval", &mc->interval);
	cf_get_uint(cx, g, "budget", &mc->budget, 1, 100000);
	int pbl = cf_get_enum(cx, g, "pbl", pbl_names, 0);
	mc->pbl_acts = pbl == 1;
	mc->act_on = cf_get_string_list(cx, g, "act_on", &mc->nact_on);
	for (size_t i = 0; i < mc->nact_on; i++)
		if (!doctor_ip_list_known(mc->act_on[i]))
			cf_error(cx, config_setting_get_member(g, "act_on"), "monitor: act_on: \"%s\" "
				 "is not an IP blocklist the doctor knows (outpost doctor lists them)",
				 mc->act_on[i]);
	if (config_setting_get_member(g, "act_on") != NULL || cx->failed)
		return;
	mc->nact_on = sizeof(default_act_on) / sizeof(default_act_on[0]) - 1;
	mc->act_on = xcalloc(mc->nact_on + 1, sizeof(char *));
	for (size_t i = 0; i < mc->nact_on; i++)
		mc->act_on[i] = xstrdup(default_act_on[i]);
}

static void monitor_config_load(struct cfctx *cx, struct config *cf, const config_setting_t *root)
{
	const config_setting_t *s = config_setting_get_member(root, "monitor");
	if (s != NULL)
		load_monitor(cx, cf, s);
}

static void monitor_config_release(struct config *cf)
{
	for (size_t i = 0; i < cf->monitor.nact_on; i++)
		free(cf->monitor.act_on[i]);
	free(cf->monitor.act_on);
}

int monitor_list_acts(const struct monitor_conf *mc, const char *list, int pbl_only)
{
	if (pbl_only && !mc->pbl_acts)
		return 0;
	for (size_t i = 0; i < mc->nact_on; i++)
		if (strcmp(mc->act_on[i], list) == 0)
			return 1;
	return 0;
}

static const char *const known_monitor_keys[] = { "monitor", NULL };

const struct config_section monitor_config_section = {
	.keys = known_monitor_keys,
	.defaults = monitor_config_defaults,
	.load = monitor_config_load,
	.release = monitor_config_release,
};
