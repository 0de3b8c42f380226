/*
 * delivery_config: the delivery settings of outpost.conf (retry,
 * delivery with its backoff, health, limits) and their parsers, two
 * sections of core/config (config_parse.h): delivery_config_section and
 * limits_config_section (loaded after dkim, as before the split, so the
 * first error reported stays the same).
 * Contract: the types are part of struct config (core/config.h), read-only
 * after load, every default filled in.  Limits' globs are compiled at
 * load; a route limit names an existing route, a provider limit a provider
 * provider_key() knows or a registered domain (the error lists the known
 * names); two limits that select the same values are an error.  Errors are "FILE:LINE: reason".
 */
#ifndef OUTPOST_DELIVERY_CONFIG_H
#define OUTPOST_DELIVERY_CONFIG_H
#include <stddef.h>

#include "core/glob.h"
#include "core/name_code.h"

struct retry_conf {
	unsigned *schedule;          /* seconds after each failed attempt; the last repeats */
	size_t nschedule;
	unsigned lifetime;           /* then bounce */
	unsigned greylist;           /* retry after a greylisting reply */
	unsigned delay_notice;       /* send a delay DSN after this long; 0: never */
};

/* Route health (circuit breakers, see delivery/health.h). */
struct health_conf_cf {
	unsigned failures;           /* consecutive path failures: down */
	unsigned probe;              /* first probe of a down path after this */
	unsigned probe_max;          /* the probe back-off doubles up to this */
};

/* Traffic limits (delivery/throttle.h): one selector, and any of the caps. */
/* provider: the receiving provider of the MX host (delivery/provider.h), the
 * key warm-up, back-off and route health count by; its values are built-in
 * provider names (aliases made canonical at load) or registered domains. */
enum limit_selector { LIMIT_DOMAIN, LIMIT_MX, LIMIT_ROUTE, LIMIT_SOURCE, LIMIT_PROVIDER };
extern const struct name_code limit_selector_names[];   /* "domain", "mx", "route", "source", "provider" */
struct rate_conf {
	unsigned count;              /* messages ... */
	unsigned per;                /* ... per this many seconds: 1, 60, 3600, 86400 */
};
struct limit_conf {
	enum limit_selector selector;
	struct glob *match;          /* globs on the selector's value, lowercased */
	size_t nmatch;
	unsigned connections;        /* 0: no cap */
	unsigned messages_per_connection; /* 0: no cap */
	struct rate_conf *rates;     /* shortest period first */
	size_t nrates;
	int line;
};
/* Back-off after a receiver's throttling replies. */
struct backoff_conf {
	unsigned cooldown;           /* seconds a cut rate holds before it recovers one step */
	struct rate_conf floor;      /* never cut below this */
};

struct delivery_conf {
	unsigned max_connections;    /* outbound, in total */
	unsigned max_per_destination;/* outbound, per destination (route and domain, or MX host set) */
	unsigned connect_timeout;
	unsigned command_timeout;
	unsigned dns_timeout_ms;
	struct backoff_conf backoff;
};

/* "600/min" -> count 600, per 60 (units s, min, h, day); -1 when malformed. */
int config_parse_rate(const char *s, struct rate_conf *out);

struct config_section;   /* core/config_parse.h */
extern const struct config_section delivery_config_section;
extern const struct config_section limits_config_section;

#endif
