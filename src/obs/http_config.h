/*
 * http_config: the `http` section of outpost.conf, the operator's HTTP
 * listener (GET /metrics, /api/v1/..., the status page), a section of
 * core/config (config_parse.h).
 *
 *     http = { listen = "127.0.0.1:8025"; }                  # loopback: open
 *     http = { listen = "[::]:8025"; tls = true;             # elsewhere: TLS and
 *              token_file = "/etc/outpost/http.token"; }     #   a bearer token
 *
 * Contract: off (listen NULL) unless configured.  A listener on anything
 * but a loopback address (127.0.0.0/8, ::1, localhost) is refused at load,
 * with FILE:LINE, unless it has both tls = true (with the top-level
 * tls = { cert; key; }) and a token_file that only its owner may read
 * (mode 600 or stricter) holding one non-empty line, the token.  A token
 * may be set on loopback too; then every request needs it.  Changing the
 * section needs a restart.
 */
#ifndef OUTPOST_HTTP_CONFIG_H
#define OUTPOST_HTTP_CONFIG_H

struct http_conf {
	char *listen;          /* "127.0.0.1:8025", NULL: no HTTP listener */
	char host[256];
	char port[8];
	int tls;               /* serve HTTPS with the top-level tls cert */
	char *token_file;
	char *token;           /* its contents (one line, without the newline) */
	int line;
};

struct config_section;   /* core/config_parse.h */
extern const struct config_section http_config_section;

/* 1 when host (as in listen) is a loopback address or "localhost". */
int http_host_is_loopback(const char *host);

#endif
