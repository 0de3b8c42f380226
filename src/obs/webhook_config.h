/*
 * webhook_config: the `webhooks` section of outpost.conf, a section of
 * core/config (config_parse.h).
 *
 *     webhooks = ( { url = "https://hooks.example.com/outpost";
 *                    events = [ "delivered", "bounced", "deferred" ];
 *                    secret_file = "/etc/outpost/webhook.secret"; } );
 *
 * Contract: url is https:// (certificates verified against the system's
 * store, or ca_file), or http:// to a loopback address only (a receiver
 * on the same host); events are among those outpost emits (received,
 * delivered, deferred, bounced, complaint, suppressed, route_down,
 * route_up, failover, canary_failed, blocklisted, delisted); secret_file is required, mode 600, its
 * first line (16 to 1000 characters) the HMAC-SHA256 key.  At most 16
 * hooks, each url once.  Errors are FILE:LINE.  A change needs a restart.
 */
#ifndef OUTPOST_WEBHOOK_CONFIG_H
#define OUTPOST_WEBHOOK_CONFIG_H
#include <stddef.h>

#define WEBHOOK_MAX 16

struct webhook_conf {
	char *url;
	char **events;          /* NULL-terminated */
	size_t nevents;
	char *secret_file;
	char *secret;           /* its first line */
	char *ca_file;          /* NULL: the system's CA store */
	int line;
};

struct config_section;
extern const struct config_section webhook_config_section;

/* The events a hook may ask for (NULL-terminated). */
extern const char *const webhook_event_names[];

#endif
