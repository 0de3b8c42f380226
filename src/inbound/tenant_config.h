/*
 * tenant_config: the tenants of outpost.conf (the customers one outpost
 * relays for) and their parser, a section of core/config (config_parse.h).
 *
 *     tenants = ( { name = "acme";
 *                   users = [ "alice" ];              # authenticated users
 *                   networks = [ "192.0.2.0/24" ];    # client networks
 *                   domains = [ "acme.example" ];     # its sender domains
 *                   limits = { messages_per_minute = 60; messages_per_hour = 1000;
 *                              messages_per_day = 10000; recipients_per_message = 50; };
 *                   protect = { window = "24h"; min_messages = 100; max_bounce_rate = 5.0;
 *                               max_complaint_rate = 0.3; action = "hold"; }; } );
 *
 * Contract: the types are part of struct config (core/config.h), read-only
 * after load.  A name is 1..63 of [A-Za-z0-9._-] (it goes into log lines,
 * replies and the spool); a tenant names at least one user, network or
 * domain; no name, user or domain belongs to two tenants (networks may
 * overlap: the first tenant in the file wins).  A limit of 0 (the default)
 * is no limit.  protect's rates are percentages (0 < rate <= 100, absent:
 * not checked) over window (1 hour to 7 days, counted in whole hours), judged
 * once min_messages (default 100) outcomes are in the window; action
 * "throttle" caps the tenant at throttle_per_minute (default 10) messages a
 * minute instead of holding it.  Errors are "FILE:LINE: reason".
 */
#ifndef OUTPOST_TENANT_CONFIG_H
#define OUTPOST_TENANT_CONFIG_H
#include <stddef.h>

#include "core/netaddr.h"

#define TENANT_NAME_MAX 63

struct tenant_limits {
	unsigned per_minute, per_hour, per_day;   /* messages accepted; 0: no limit */
	unsigned rcpts_per_msg;                   /* 0: only inbound.max_recipients */
};

enum tenant_action { TENANT_HOLD, TENANT_THROTTLE };

struct tenant_protect {
	int set;
	unsigned window;                 /* seconds, a whole number of hours */
	char window_text[16];            /* as written: "24h" */
	unsigned min_messages;
	double max_bounce_rate;          /* percent; 0: not checked */
	double max_complaint_rate;       /* percent; 0: not checked */
	enum tenant_action action;
	unsigned throttle_per_minute;
};

struct tenant_conf {
	char *name;
	char **users;            /* NULL-terminated (or NULL) */
	size_t nusers;
	struct netmask *networks;
	size_t nnetworks;
	char **domains;          /* lowercase; the sender domains it may use */
	size_t ndomains;
	struct tenant_limits limits;
	struct tenant_protect protect;
	int line;
};

struct config_section;   /* core/config_parse.h */
extern const struct config_section tenant_config_section;

#endif
