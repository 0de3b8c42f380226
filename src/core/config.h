/*
 * config: reads outpost.conf (libconfig syntax) into struct config.
 * Contract: config_load() either returns a complete, validated config with
 * every default filled in, or NULL with "FILE:LINE: reason" in err.  Unknown
 * keys, wrong types and out-of-range values are errors.  The result is
 * immutable after load except for its reference count: config_load()
 * returns one reference, config_ref() adds one for each holder that may
 * outlive the current config (SIGHUP swaps in a new one), and
 * config_free() drops one, freeing the config with the last.  On error, err holds
 * every error found, one "FILE:LINE: reason" per line.  A relative path in
 * a file (spool, socket, users, tls, dkim keys, relay auth) is made
 * absolute against the file's directory; config_parse() keeps it as is.
 */
#ifndef OUTPOST_CONFIG_H
#define OUTPOST_CONFIG_H
#include <stddef.h>
#include <stdint.h>

#include "glob.h"
#include "netaddr.h"

/* Each module's settings are parsed beside that module (config_parse.h):
 * these headers hold their types, which struct config is made of. */
#include "delivery/delivery_config.h"
#include "delivery/route_config.h"
#include "inbound/listener_config.h"
#include "inbound/scan_config.h"
#include "inbound/tenant_config.h"
#include "mailauth/dkim_config.h"
#include "obs/http_config.h"
#include "obs/webhook_config.h"
#include "feedback/feedback_config.h"
#include "monitor/monitor_config.h"
#include "dmarc/dmarc_config.h"
#include "placement/placement_config.h"

struct config {
	_Atomic unsigned refs;      /* config_ref() / config_free() */
	char *file;
	char *hostname;
	char *spool;                 /* directory */
	char *socket;                /* local submission socket (sendmail) */
	char *maildrop;              /* sendmail's drop directory when the socket is unreachable */
	char *admin_address;         /* where mail to a bare local name (root) goes; NULL: name@hostname */
	char *resolver;              /* "system" or "IP@PORT" */
	uint64_t spool_max_size;     /* 0: unlimited */
	struct listen_conf *listen;
	size_t nlisten;
	struct netmask *client_networks;
	size_t nclient_networks;
	char *users;                 /* users file or NULL */
	char *user;                  /* started as root, outpostd runs as this user (default "outpost") */
	int allow_root;              /* started as root, keep running as root (no user switch) */
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
	struct http_conf http;        /* the operator's HTTP listener */
	struct webhook_conf *webhooks;
	size_t nwebhooks;
	struct bounces_conf bounces;
	struct suppression_conf suppression;
	struct monitor_conf monitor;  /* the blocklist and DNS monitor */
	struct dmarc_conf dmarc;      /* DMARC aggregate reports */
	struct placement_conf placement; /* inbox-placement probes */
	struct tenant_conf *tenants;  /* the customers outpost relays for */
	size_t ntenants;
	struct scanner_conf scanner;  /* outbound scanning (rspamd); .set 0: none */
};

struct config *config_load(const char *file, char *err, size_t errlen);
/* Only what `outpost sendmail` needs (hostname, spool, socket, maildrop,
 * admin_address, inbound.max_message_size), so that any local user can
 * submit: other settings are neither checked nor followed to the files
 * they name (relay secrets, keys).  Free with config_free(). */
struct config *config_load_submit(const char *file, char *err, size_t errlen);
/* The same from text in memory; name is used in error messages. */
struct config *config_parse(const char *text, const char *name, char *err, size_t errlen);
/* Another reference to cf (returned, for `x->cf = config_ref(cf)`). */
const struct config *config_ref(const struct config *cf);
/* Drops one reference; the last frees the config.  NULL is ignored. */
void config_free(const struct config *cf);

/* NULL when new may replace old in a running daemon (SIGHUP), else the
 * name of a setting whose change needs a restart. */
const char *config_reload_blocker(const struct config *old, const struct config *new);

/* "30s", "5m", "2h", "5d" -> seconds; -1 when malformed or overflowing. */
long long config_parse_duration(const char *s);
/* "1024", "512K", "25M", "2G" -> octets; -1 when malformed or overflowing. */
long long config_parse_size(const char *s);

#endif
