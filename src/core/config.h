/*
 * config: reads outpost.conf (libconfig syntax) into struct config.
 * Contract: config_load() either returns a complete, validated config with
 * every default filled in, or NULL with "FILE:LINE: reason" in err.  Unknown
 * keys, wrong types and out-of-range values are errors.  The result is
 * immutable after load; config_free() releases it.
 */
#ifndef OUTPOST_CONFIG_H
#define OUTPOST_CONFIG_H
#include <stddef.h>
#include <stdint.h>

#include "glob.h"
#include "netaddr.h"

enum listen_tls { LISTEN_TLS_NONE, LISTEN_TLS_STARTTLS, LISTEN_TLS_IMPLICIT };
enum listen_auth { LISTEN_AUTH_OPTIONAL, LISTEN_AUTH_REQUIRED, LISTEN_AUTH_NONE };

struct listen_conf {
	char *address;          /* as written: "127.0.0.1:25" */
	char host[256];
	char port[8];
	enum listen_tls tls;
	enum listen_auth auth;
	int line;
};

struct inbound_conf {
	uint64_t max_message_size;   /* octets, SIZE= and DATA cap */
	unsigned max_recipients;     /* per transaction */
	unsigned max_sessions;       /* in total */
	unsigned max_sessions_per_ip;
	unsigned max_errors;         /* bad commands before 421 */
	unsigned idle_timeout;       /* seconds between commands */
	unsigned session_timeout;    /* seconds per session in all */
};

enum route_type { ROUTE_MX, ROUTE_RELAY };
/* The TLS policy of a route, in the order of strictness. */
enum route_tls { ROUTE_TLS_NONE, ROUTE_TLS_OPPORTUNISTIC, ROUTE_TLS_REQUIRED, ROUTE_TLS_VERIFY,
		 ROUTE_TLS_IMPLICIT };

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
	struct warmup_conf warmup;   /* mx routes: ramp-up of daily volume per source IP */
	int line;
};

/* The match keys of a rule, in the order the router tests them: mx last,
 * as it may need a DNS lookup first (src/delivery/router.h). */
enum rule_key { RULE_SENDER, RULE_SENDER_DOMAIN, RULE_FROM_DOMAIN, RULE_RECIPIENT_DOMAIN,
		RULE_USER, RULE_CLASS, RULE_MX, RULE_NKEYS };
extern const char *const rule_key_name[RULE_NKEYS];   /* as written in the config */

struct rule_conf {
	struct glob *match[RULE_NKEYS]; /* per key, globs of which any may match; NULL: any value */
	size_t nmatch[RULE_NKEYS];   /* user is case-sensitive, the other keys are lowercased */
	size_t *via;                 /* indexes into routes, in order */
	size_t nvia;
	int line;
};

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
enum limit_selector { LIMIT_DOMAIN, LIMIT_MX, LIMIT_ROUTE, LIMIT_SOURCE };
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
	unsigned max_per_destination;/* outbound, per route and domain */
	unsigned connect_timeout;
	unsigned command_timeout;
	unsigned dns_timeout_ms;
	struct backoff_conf backoff;
};

/* A DKIM signing key: mail whose From: domain is domain (or a subdomain,
 * when no closer entry exists) is signed with it.  key is a PEM file
 * (RSA or Ed25519), read by the signer, never by config. */
struct dkim_conf {
	char *domain;
	char *selector;
	char *key;
	int all;                     /* sign every message with it too (relay/tenant domain) */
	int line;
};

/* canary: probes sent through each relay route to address, verified on arrival. */
struct canary_conf {
	char *address;               /* NULL: no canary */
	unsigned interval;           /* seconds between rounds */
};

struct config {
	char *file;
	char *hostname;
	char *spool;                 /* directory */
	char *socket;                /* local submission socket (sendmail) */
	char *resolver;              /* "system" or "IP@PORT" */
	uint64_t spool_max_size;     /* 0: unlimited */
	struct listen_conf *listen;
	size_t nlisten;
	struct netmask *client_networks;
	size_t nclient_networks;
	char *users;                 /* users file or NULL */
	char *tls_cert, *tls_key;    /* NULL when no TLS */
	struct inbound_conf inbound;
	struct route_conf *routes;
	size_t nroutes;
	struct rule_conf *rules;
	size_t nrules;
	struct retry_conf retry;
	struct delivery_conf delivery;
	struct health_conf_cf health;
	struct dkim_conf *dkim;
	size_t ndkim;
	struct canary_conf canary;
	struct limit_conf *limits;
	size_t nlimits;
};

struct config *config_load(const char *file, char *err, size_t errlen);
/* The same from text in memory; name is used in error messages. */
struct config *config_parse(const char *text, const char *name, char *err, size_t errlen);
void config_free(struct config *cf);

/* NULL when new may replace old in a running daemon (SIGHUP), else the
 * name of a setting whose change needs a restart. */
const char *config_reload_blocker(const struct config *old, const struct config *new);

/* "30s", "5m", "2h", "5d" -> seconds; -1 when malformed or overflowing. */
long long config_parse_duration(const char *s);
/* "1024", "512K", "25M", "2G" -> octets; -1 when malformed or overflowing. */
long long config_parse_size(const char *s);
/* "600/min" -> count 600, per 60 (units s, min, h, day); -1 when malformed. */
int config_parse_rate(const char *s, struct rate_conf *out);

#endif
