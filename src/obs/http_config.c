/*
 * http_config: parses the `http` section (see http_config.h).
 */
#include "obs/http_config.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/config_parse.h"
#include "core/xmalloc.h"

int http_host_is_loopback(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;
	if (strcmp(host, "localhost") == 0)
		return 1;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return 0;
}

/* The token: a private file's first line, no leading blank. */
static void read_token(struct cfctx *cx, struct http_conf *hc, const config_setting_t *s)
{
	char *t = cf_read_private_line(cx, s, "http: token_file", hc->token_file, "token", 16);
	if (t && strspn(t, "\t ") > 0) {
		cf_error(cx, s, "http: token_file %s must hold one token of 16 to 1000 characters on its first line",
			 hc->token_file);
		free(t);
		t = NULL;
	}
	hc->token = t;
}

static void http_load(struct cfctx *cx, struct config *cf, const config_setting_t *root)
{
	static const char *const known_http_keys[] = { "listen", "tls", "token_file", NULL };
	const config_setting_t *g = config_setting_get_member(root, "http");
	struct http_conf *hc = &cf->http;
	if (g == NULL)
		return;
	if (!config_setting_is_group(g)) {
		cf_error(cx, g, "http: expected a group { listen = \"127.0.0.1:8025\"; }");
		return;
	}
	if (cf_check_keys(cx, g, known_http_keys) < 0)
		return;
	hc->line = config_setting_source_line(g);
	hc->listen = cf_get_string(cx, g, "listen", NULL);
	hc->token_file = cf_get_string(cx, g, "token_file", NULL);
	const config_setting_t *t = config_setting_get_member(g, "tls");
	if (t && config_setting_type(t) != CONFIG_TYPE_BOOL)
		cf_error(cx, t, "http: tls: expected true or false");
	else if (t)
		hc->tls = config_setting_get_bool(t);
	if (cx->failed)
		return;
	if (hc->listen == NULL) {
		cf_error(cx, g, "http: listen is required (\"127.0.0.1:8025\")");
		return;
	}
	if (hostport_split(hc->listen, hc->host, sizeof(hc->host), hc->port, sizeof(hc->port)) < 0) {
		cf_error(cx, config_setting_get_member(g, "listen"), "http: listen \"%s\" is not host:port",
			 hc->listen);
		return;
	}
	if (hc->token_file)
		read_token(cx, hc, config_setting_get_member(g, "token_file"));
}

/* After every section: what a listener beyond loopback needs. */
static void http_check(struct cfctx *cx, struct config *cf, const config_setting_t *root)
{
	const struct http_conf *hc = &cf->http;
	const config_setting_t *g = config_setting_get_member(root, "http");
	if (hc->listen == NULL || cx->failed)
		return;
	if (hc->tls && cf->tls_cert == NULL)
		cf_error(cx, g, "http: tls = true needs the top-level tls = { cert; key; }");
	else if (!http_host_is_loopback(hc->host) && (!hc->tls || hc->token == NULL))
		cf_error(cx, g, "http: listen \"%s\" is not a loopback address: it needs tls = true and "
			 "token_file (or listen on 127.0.0.1 behind a reverse proxy)", hc->listen);
}

static int differs(const char *a, const char *b)
{
	return (a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0);
}

/* The listener is opened once, at start. */
static const char *http_reload_blocker(const struct config *old, const struct config *cur)
{
	if (differs(old->http.listen, cur->http.listen) || old->http.tls != cur->http.tls ||
	    differs(old->http.token, cur->http.token))
		return "http";
	return NULL;
}

static void http_release(struct config *cf)
{
	free(cf->http.listen);
	free(cf->http.token_file);
	free(cf->http.token);
}

static const char *const known_http_root_keys[] = { "http", NULL };

const struct config_section http_config_section = {
	.keys = known_http_root_keys,
	.load = http_load,
	.check = http_check,
	.reload_blocker = http_reload_blocker,
	.release = http_release,
};
