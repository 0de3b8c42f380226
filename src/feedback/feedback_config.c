/*
 * feedback_config: parses bounces and suppression (see feedback_config.h).
 */
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/config_parse.h"
#include "core/name_code.h"
#include "feedback/feedback_config.h"

static const struct name_code on_rcpt_names[] = {
	{ "refuse", SUPPRESS_REFUSE }, { "accept", SUPPRESS_ACCEPT_DSN }, { NULL, -1 },
};

static void feedback_config_defaults(struct config *cf)
{
	cf->suppression.on_rcpt = SUPPRESS_REFUSE;
	cf->suppression.mailboxfull_failures = 3;
	cf->suppression.mailboxfull_window = 7 * 86400;
	cf->suppression.soft_expiry = 30 * 86400;
}

static void load_bounces(struct cfctx *cx, struct config *cf, const config_setting_t *g)
{
	static const char *const known[] = { "domain", "secret_file", "report_addresses", NULL };
	if (!config_setting_is_group(g) || cf_check_keys(cx, g, known) < 0) {
		cf_error(cx, g, "bounces: expected a group { domain = \"bounces.example.com\"; secret_file = \"...\"; }");
		return;
	}
	cf->bounces.domain = cf_get_string(cx, g, "domain", NULL);
	cf->bounces.secret_file = cf_get_path(cx, g, "secret_file", NULL);
	cf->bounces.report_addresses = cf_get_string_list(cx, g, "report_addresses", &cf->bounces.nreport_addresses);
	if (cx->failed)
		return;
	if (cf->bounces.domain && (strchr(cf->bounces.domain, '@') || !strchr(cf->bounces.domain, '.')))
		cf_error(cx, g, "bounces: domain must be a domain name (\"bounces.example.com\")");
	else if (cf->bounces.domain && cf->bounces.secret_file == NULL)
		cf_error(cx, g, "bounces: domain needs secret_file (the key of the VERP tags; make one with "
				"head -c 32 /dev/urandom > FILE; chmod 600 FILE)");
	for (size_t i = 0; i < cf->bounces.nreport_addresses; i++)
		if (strchr(cf->bounces.report_addresses[i], '@') == NULL)
			cf_error(cx, g, "bounces: report address \"%s\" is not local@domain",
				 cf->bounces.report_addresses[i]);
}

static void load_suppression(struct cfctx *cx, struct config *cf, const config_setting_t *g)
{
	static const char *const known[] = { "on_rcpt", "mailboxfull_failures", "mailboxfull_window",
					     "soft_expiry", NULL };
	if (!config_setting_is_group(g) || cf_check_keys(cx, g, known) < 0) {
		cf_error(cx, g, "suppression: expected a group { on_rcpt = \"refuse\"; ... }");
		return;
	}
	int a = cf_get_enum(cx, g, "on_rcpt", on_rcpt_names, SUPPRESS_REFUSE);
	if (a >= 0)
		cf->suppression.on_rcpt = (enum suppress_action)a;
	cf_get_uint(cx, g, "mailboxfull_failures", &cf->suppression.mailboxfull_failures, 1, 1000);
	uint64_t v = cf->suppression.mailboxfull_window;
	cf_get_unit(cx, g, "mailboxfull_window", config_parse_duration, 60, 365 * 86400LL, &v);
	cf->suppression.mailboxfull_window = (unsigned)v;
	v = cf->suppression.soft_expiry;
	cf_get_unit(cx, g, "soft_expiry", config_parse_duration, 60, 3650 * 86400LL, &v);
	cf->suppression.soft_expiry = (unsigned)v;
}

static void feedback_config_load(struct cfctx *cx, struct config *cf, const config_setting_t *root)
{
	const config_setting_t *s;
	if ((s = config_setting_get_member(root, "bounces")) != NULL)
		load_bounces(cx, cf, s);
	if ((s = config_setting_get_member(root, "suppression")) != NULL)
		load_suppression(cx, cf, s);
}

static int str_differs(const char *a, const char *b)
{
	return (a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0);
}

/* The bounce mailboxes are registered and the key read once, at start. */
static const char *feedback_config_reload_blocker(const struct config *old, const struct config *cur)
{
	if (str_differs(old->bounces.domain, cur->bounces.domain) ||
	    str_differs(old->bounces.secret_file, cur->bounces.secret_file) ||
	    old->bounces.nreport_addresses != cur->bounces.nreport_addresses)
		return "bounces";
	for (size_t i = 0; i < old->bounces.nreport_addresses; i++)
		if (strcmp(old->bounces.report_addresses[i], cur->bounces.report_addresses[i]) != 0)
			return "bounces";
	return NULL;
}

static void feedback_config_release(struct config *cf)
{
	free(cf->bounces.domain);
	free(cf->bounces.secret_file);
	for (size_t i = 0; i < cf->bounces.nreport_addresses; i++)
		free(cf->bounces.report_addresses[i]);
	free(cf->bounces.report_addresses);
}

static const char *const known_feedback_keys[] = { "bounces", "suppression", NULL };

const struct config_section feedback_config_section = {
	.keys = known_feedback_keys,
	.defaults = feedback_config_defaults,
	.load = feedback_config_load,
	.reload_blocker = feedback_config_reload_blocker,
	.release = feedback_config_release,
};
