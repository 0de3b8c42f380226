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
};

struct config *config_load(const char *file, char *err, size_t errlen);
/* The same from text in memory; name is used in error messages. */
struct config *config_parse(const char *text, const char *name, char *err, size_t errlen);
void config_free(struct config *cf);

/* "30s", "5m", "2h", "5d" -> seconds; -1 when malformed or overflowing. */
long long config_parse_duration(const char *s);
/* "1024", "512K", "25M", "2G" -> octets; -1 when malformed or overflowing. */
long long config_parse_size(const char *s);

#endif
