/*
 * listener_config: the inbound settings of outpost.conf (listen,
 * client_networks, tls, inbound) and their parser, a section of
 * core/config (config_parse.h).
 * Contract: the types are part of struct config (core/config.h), read-only
 * after load; listener_config_section loads, checks (a TLS listener needs
 * tls = { cert; key; }), compares for SIGHUP (a changed listen needs a
 * restart) and frees them.  Errors are "FILE:LINE: reason".
 */
#ifndef OUTPOST_LISTENER_CONFIG_H
#define OUTPOST_LISTENER_CONFIG_H
#include <stdint.h>

#include "core/name_code.h"

enum listen_tls { LISTEN_TLS_NONE, LISTEN_TLS_STARTTLS, LISTEN_TLS_IMPLICIT };
enum listen_auth { LISTEN_AUTH_OPTIONAL, LISTEN_AUTH_REQUIRED, LISTEN_AUTH_NONE };
extern const struct name_code listen_tls_names[];    /* "none", "starttls", "implicit" */
extern const struct name_code listen_auth_names[];   /* "optional", "required", "none" */

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
	unsigned max_local_sessions; /* on the local socket, a budget of its own */
	unsigned auth_max_failures;  /* failed AUTHs per client address per hour */
	unsigned threads;            /* inbound event loops; 0: "auto", one per CPU */
};

#define INBOUND_THREADS_MAX 64

struct config_section;   /* core/config_parse.h */
extern const struct config_section listener_config_section;

#endif
