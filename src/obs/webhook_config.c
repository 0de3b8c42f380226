/*
 * webhook_config: parses `webhooks` (see webhook_config.h).
 */
#include "obs/webhook_config.h"

#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/config_parse.h"
#include "core/xmalloc.h"
#include "obs/http_config.h"

const char *const webhook_event_names[] = { "received", "delivered", "deferred", "bounced", "complaint",
					    "suppressed", "route_down", "route_up", "failover", "canary_failed",
					    "blocklisted", "delisted", "placement", NULL };

/* https://, or http:// to loopback; the host as in the URL. */
static int url_ok(const char *url)
{
	char host[256];
	const char *p;
	if (strncmp(url, "https://", 8) == 0)
		return strlen(url) > 8 && strpbrk(url, " \t\r\n") == NULL;
	if (strncmp(url, "http://", 7) != 0)
		return 0;
	p = url + 7;
	size_t n = *p == '[' ? strcspn(p + 1, "]") : strcspn(p, ":/");
	if (*p == '[')
		p++;
	if (n == 0 || n >= sizeof(host))
		return 0;
	memcpy(host, p, n);
	host[n] = '\0';
	return http_host_is_loopback(host) && strpbrk(url, " \t\r\n") == NULL;
}

static void load_events(struct cfctx *cx, const config_setting_t *g, struct webhook_conf *w)
{
	w->events = cf_get_string_list(cx, g, "events", &w->nevents);
	if (!cx->failed && w->nevents == 0) {
		cf_error(cx, g, "webhooks: events is required, e.g. [ \"delivered\", \"bounced\" ]");
		return;
	}
	for (size_t i = 0; i < w->nevents && !cx->failed; i++) {
		size_t k;
		for (k = 0; webhook_event_names[k]; k++)
			if (strcmp(w->events[i], webhook_event_names[k]) == 0)
				break;
		if (webhook_event_names[k] == NULL)
			cf_error(cx, config_setting_get_member(g, "events"),
				 "webhooks: event \"%s\": outpost emits received, delivered, deferred, bounced,"
				 " complaint, suppressed, route_down, route_up, failover, canary_failed, blocklisted,"
				 " delisted, placement", w->events[i]);
	}
}

static void load_hook(struct cfctx *cx, struct config *cf, const config_setting_t *g)
{
	static const char *const known_webhook_keys[] = { "url", "events", "secret_file", "ca_file", NULL };
	struct webhook_conf *w = &cf->webhooks[cf->nwebhooks++];
	if (!config_setting_is_group(g)) {
		cf_error(cx, g, "webhooks: each entry must be a group { url; events; secret_file; }");
		return;
	}
	if (cf_check_keys(cx, g, known_webhook_keys) < 0)
		return;
	w->line = config_setting_source_line(g);
	w->url = cf_get_string(cx, g, "url", NULL);
	w->secret_file = cf_get_string(cx, g, "secret_file", NULL);
	w->ca_file = cf_get_string(cx, g, "ca_file", NULL);
	if (cx->failed)
		return;
	if (w->url == NULL || !url_ok(w->url)) {
		cf_error(cx, g, "webhooks: url must be https://... (or http:// to a loopback address)%s%s",
			 w->url ? ", not " : "", w->url ? w->url : "");
		return;
	}
	for (size_t i = 0; i + 1 < cf->nwebhooks; i++)
		if (strcmp(cf->webhooks[i].url, w->url) == 0) {
			cf_error(cx, g, "webhooks: url %s is listed twice", w->url);
			return;
		}
	load_events(cx, g, w);
	if (!cx->failed && w->secret_file == NULL)
		cf_error(cx, g, "webhooks: secret_file is required (the HMAC-SHA256 key, mode 600)");
	else if (!cx->failed)
		w->secret = cf_read_private_line(cx, config_setting_get_member(g, "secret_file"), "webhooks: secret_file",
						 w->secret_file, "key", 16);
}

static void webhook_load(struct cfctx *cx, struct config *cf, const config_setting_t *root)
{
	const config_setting_t *l = config_setting_get_member(root, "webhooks");
	if (l == NULL)
		return;
	if (!config_setting_is_list(l)) {
		cf_error(cx, l, "webhooks: expected a list ( { url; events; secret_file; }, ... )");
		return;
	}
	int n = config_setting_length(l);
	if (n > WEBHOOK_MAX) {
		cf_error(cx, l, "webhooks: at most %d hooks", WEBHOOK_MAX);
		return;
	}
	cf->webhooks = xcalloc((size_t)n + 1, sizeof(*cf->webhooks));
	for (int i = 0; i < n && !cx->failed; i++)
		load_hook(cx, cf, config_setting_get_elem(l, (unsigned)i));
}

static const char *webhook_reload_blocker(const struct config *old, const struct config *cur)
{
	if (old->nwebhooks != cur->nwebhooks)
		return "webhooks";
	for (size_t i = 0; i < old->nwebhooks; i++)
		if (strcmp(old->webhooks[i].url, cur->webhooks[i].url) != 0 ||
		    strcmp(old->webhooks[i].secret, cur->webhooks[i].secret) != 0)
			return "webhooks";
	return NULL;
}

static void webhook_release(struct config *cf)
{
	for (size_t i = 0; i < cf->nwebhooks; i++) {
		struct webhook_conf *w = &cf->webhooks[i];
		free(w->url);
		for (size_t k = 0; k < w->nevents; k++)
			free(w->events[k]);
		free(w->events);
		free(w->secret_file);
		free(w->secret);
		free(w->ca_file);
	}
	free(cf->webhooks);
}

static const char *const known_webhook_root_keys[] = { "webhooks", NULL };

const struct config_section webhook_config_section = {
	.keys = known_webhook_root_keys,
	.load = webhook_load,
	.reload_blocker = webhook_reload_blocker,
	.release = webhook_release,
};
