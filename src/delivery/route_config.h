/*
 * route_config: the routes and rules of outpost.conf and their parser,
 * a section of core/config (config_parse.h).
 * Contract: the types are part of struct config (core/config.h), read-only
 * after load.  Rules' globs are compiled here, at load, and only read by
 * the router (router.h); a rule's via names routes that exist, each once;
 * a rule after a catch-all rule is an error; routes without rules are an
 * error.  A relay's auth file (user:password, mode 600) is read here, once.
 * Errors are "FILE:LINE: reason".
 */
#ifndef OUTPOST_ROUTE_CONFIG_H
#define OUTPOST_ROUTE_CONFIG_H
#include <stddef.h>

#include "core/glob.h"
#include "core/name_code.h"

enum route_type { ROUTE_MX, ROUTE_RELAY };
extern const struct name_code route_type_names[];   /* "mx", "relay" */
/* The TLS policy of a route, in the order of strictness. */
enum route_tls { ROUTE_TLS_NONE, ROUTE_TLS_OPPORTUNISTIC, ROUTE_TLS_REQUIRED, ROUTE_TLS_VERIFY,
		 ROUTE_TLS_IMPLICIT };
extern const struct name_code route_tls_names[];    /* "none", "opportunistic", ... */

/* One address a route sends from, with the EHLO name that matches its PTR. */
struct route_source {
	char *address;               /* an IP address */
	char *helo;                  /* EHLO name, default: the route's helo */
	unsigned weight;             /* share of connections, default 1 */
};

/* Warm-up of a route's source IPs: the cap for period d (days or hours)
 * since begin is start * growth^d messages per source IP and receiving
 * provider; none once the cap exceeds max (when max is set). */
struct warmup_conf {
	int set;
	unsigned start;
	double growth;
	unsigned per;                /* seconds of one period: 86400 or 3600 */
	long long begin;             /* Unix time; 0: when the daemon first sends on the route */
	unsigned max;                /* 0: no end */
};

struct route_conf {
	char *name;
	enum route_type type;
	char host[256];              /* relay: host name or IP */
	char port[8];                /* relay: its port; mx: the port to use (default 25) */
	struct route_source *sources;/* source IP pool (mx: several; relay: at most one) */
	size_t nsources;             /* 0: the system chooses the address */
	char *helo;                  /* EHLO name, default hostname */
	enum route_tls tls;
	char *auth_user, *auth_pass; /* relay: read from the auth file */
	char *auth_file;             /* relay: that file (it must stay private to the daemon's user) */
	struct warmup_conf warmup;   /* mx routes: ramp-up of daily volume per source IP */
	int line;
};

/* The match keys of a rule, in the order the router tests them: mx last,
 * as it may need a DNS lookup first (src/delivery/router.h). */
enum rule_key { RULE_SENDER, RULE_SENDER_DOMAIN, RULE_FROM_DOMAIN, RULE_RECIPIENT_DOMAIN,
		RULE_USER, RULE_CLASS, RULE_TENANT, RULE_SPAM, RULE_MX, RULE_NKEYS };
extern const char *const rule_key_name[RULE_NKEYS];   /* as written in the config */

struct rule_conf {
	struct glob *match[RULE_NKEYS]; /* per key, globs of which any may match; NULL: any value */
	size_t nmatch[RULE_NKEYS];   /* user is case-sensitive, the other keys are lowercased */
	size_t *via;                 /* indexes into routes, in order */
	size_t nvia;
	int line;
};

struct config_section;   /* core/config_parse.h */
extern const struct config_section route_config_section;

#endif
