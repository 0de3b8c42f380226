/*
 * listener_config: parses listen, client_networks, tls and inbound
 * (see listener_config.h), a section of core/config.
 */
#include "inbound/listener_config.h"

#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/config_parse.h"
#include "core/name_code.h"
#include "core/xmalloc.h"

const struct name_code listen_tls_names[] = {
	{ "none", LISTEN_TLS_NONE }, { "starttls", LISTEN_TLS_STARTTLS }, { "implicit", LISTEN_TLS_IMPLICIT },
	{ NULL, -1 },
};

const struct name_code listen_auth_names[] = {
	{ "optional", LISTEN_AUTH_OPTIONAL }, { "required", LISTEN_AUTH_REQUIRED }, { "none", LISTEN_AUTH_NONE },
	{ NULL, -1 },
};

static void load_listen(struct cfctx *cx, struct config *cf, const config_setting_t *l)
{
	static const char *const known[] = { "address", "tls", "auth", NULL };
	if (!config_setting_is_list(l) && !config_setting_is_array(l)) {
		cf_error(cx, l, "listen: expected a list ( { address = \"127.0.0.1:25\"; }, ... )");
		return;
	}
	int n = config_setting_length(l);
	cf->listen = xcalloc((size_t)n, sizeof(*cf->listen));
	for (int i = 0; i < n && !cx->failed; i++) {
		const config_setting_t *g = config_setting_get_elem(l, (unsigned)i);
		struct listen_conf *lc = &cf->listen[cf->nlisten++];
		if (!config_setting_is_group(g)) {
			cf_error(cx, g, "listen: each entry must be a group { address = ...; }");
			return;
		}
		if (cf_check_keys(cx, g, known) < 0)
			return;
		lc->line = config_setting_source_line(g);
		lc->address = cf_get_string(cx, g, "address", NULL);
		if (lc->address == NULL) {
			cf_error(cx, g, "listen: address is required");
			return;
		}
		if (hostport_split(lc->address, lc->host, sizeof(lc->host), lc->port, sizeof(lc->port)) < 0) {
			cf_error(cx, g, "listen: address \"%s\" is not host:port", lc->address);
			return;
		}
		lc->tls = (enum listen_tls)cf_get_enum(cx, g, "tls", listen_tls_names, LISTEN_TLS_NONE);
		lc->auth = (enum listen_auth)cf_get_enum(cx, g, "auth", listen_auth_names, LISTEN_AUTH_OPTIONAL);
	}
}

static void load_networks(struct cfctx *cx, struct config *cf, const config_setting_t *l)
{
	if (!config_setting_is_array(l) && !config_setting_is_list(l)) {
		cf_error(cx, l, "client_networks: expected a list of strings [ \"127.0.0.0/8\" ]");
		return;
	}
	int n = config_setting_length(l);
	cf->client_networks = xcalloc((size_t)n, sizeof(struct netmask));
	for (int i = 0; i < n; i++) {
		const char *v = config_setting_get_string_elem(l, i);
		if (v == NULL || netmask_parse(v, &cf->client_networks[i]) < 0) {
			cf_error(cx, l, "client_networks: \"%s\" is not an address or network",
				 v ? v : "(not a string)");
			return;
		}
		cf->nclient_networks++;
	}
}

static void load_tls(struct cfctx *cx, struct config *cf, const config_setting_t *g)
{
	static const char *const known[] = { "cert", "key", NULL };
	if (cf_expect_group(cx, g, known, "tls: expected { cert = \"...\"; key = \"...\"; }") < 0)
		return;
	cf->tls_cert = cf_get_path(cx, g, "cert", NULL);
	cf->tls_key = cf_get_path(cx, g, "key", NULL);
	if (!cx->failed && (cf->tls_cert == NULL || cf->tls_key == NULL))
		cf_error(cx, g, "tls: both cert and key are required");
}

/* inbound.threads: the number of inbound event loops, or "auto" (0): one per CPU. */
static void load_threads(struct cfctx *cx, struct inbound_conf *ic, const config_setting_t *g)
{
	const config_setting_t *s = config_setting_get_member(g, "threads");
	const char *text = s ? config_setting_get_string(s) : NULL;
	if (text && strcmp(text, "auto") == 0)
		ic->threads = 0;
	else if (text)
		cf_error(cx, s, "threads: expected an integer 1..%d or \"auto\"", INBOUND_THREADS_MAX);
	else
		cf_get_uint(cx, g, "threads", &ic->threads, 1, INBOUND_THREADS_MAX);
}

static void load_inbound(struct cfctx *cx, struct config *cf, const config_setting_t *g)
{
	static const char *const known[] = { "max_message_size", "max_recipients", "max_sessions",
		"max_sessions_per_ip", "max_errors", "idle_timeout", "session_timeout",
		"max_local_sessions", "auth_max_failures", "threads", NULL };
	struct inbound_conf *ic = &cf->inbound;
	if (!config_setting_is_group(g)) {
		cf_error(cx, g, "inbound: expected a group { ... }");
		return;
	}
	if (cf_check_keys(cx, g, known) < 0)
		return;
	cf_get_unit(cx, g, "max_message_size", config_parse_size, 1024, 1LL << 30, &ic->max_message_size);
	cf_get_uint(cx, g, "max_recipients", &ic->max_recipients, 1, 100000);
	cf_get_uint(cx, g, "max_sessions", &ic->max_sessions, 1, 100000);
	cf_get_uint(cx, g, "max_sessions_per_ip", &ic->max_sessions_per_ip, 1, 100000);
	cf_get_uint(cx, g, "max_errors", &ic->max_errors, 1, 1000);
	cf_get_duration(cx, g, "idle_timeout", &ic->idle_timeout);
	cf_get_duration(cx, g, "session_timeout", &ic->session_timeout);
	cf_get_uint(cx, g, "max_local_sessions", &ic->max_local_sessions, 1, 100000);
	cf_get_uint(cx, g, "auth_max_failures", &ic->auth_max_failures, 1, 100000);
	load_threads(cx, ic, g);
}

static void listener_defaults(struct config *cf)
{
	cf->inbound.max_message_size = 25 * 1024 * 1024;
	cf->inbound.max_recipients = 1000;
	cf->inbound.max_sessions = 500;
	cf->inbound.max_sessions_per_ip = 100;
	cf->inbound.max_errors = 10;
	cf->inbound.idle_timeout = 300;
	cf->inbound.session_timeout = 1800;
	cf->inbound.max_local_sessions = 100;
	cf->inbound.auth_max_failures = 10;
	cf->inbound.threads = 0;   /* auto */
}

static void listener_load(struct cfctx *cx, struct config *cf, const config_setting_t *root)
{
	static const struct cf_member_loader loaders[] = {
		{ "listen", load_listen }, { "client_networks", load_networks }, { "tls", load_tls },
		{ "inbound", load_inbound }, { NULL, NULL },
	};
	cf_load_members(cx, cf, root, loaders);
}

/* After every section: a TLS listener needs the certificate. */
static void listener_check(struct cfctx *cx, struct config *cf, const config_setting_t *root)
{
	for (size_t i = 0; i < cf->nlisten && !cx->failed; i++)
		if (cf->listen[i].tls != LISTEN_TLS_NONE && cf->tls_cert == NULL)
			cf_error(cx, config_setting_get_member(root, "listen"),
				 "listen %s: tls = starttls/implicit needs tls = { cert; key; }",
				 cf->listen[i].address);
}

/* Listeners are opened, and inbound loops started, once, at start. */
static const char *listener_reload_blocker(const struct config *old, const struct config *cur)
{
	if (old->inbound.threads != cur->inbound.threads)
		return "inbound.threads";
	if (old->nlisten != cur->nlisten)
		return "listen";
	for (size_t i = 0; i < old->nlisten; i++)
		if (strcmp(old->listen[i].address, cur->listen[i].address) != 0 ||
		    old->listen[i].tls != cur->listen[i].tls || old->listen[i].auth != cur->listen[i].auth)
			return "listen";
	return NULL;
}

static void listener_release(struct config *cf)
{
	for (size_t i = 0; i < cf->nlisten; i++)
		free(cf->listen[i].address);
	free(cf->listen);
	free(cf->client_networks);
	free(cf->tls_cert);
	free(cf->tls_key);
}

static const char *const known_listener_keys[] = { "listen", "client_networks", "tls", "inbound",
	NULL };

const struct config_section listener_config_section = {
	.keys = known_listener_keys,
	.defaults = listener_defaults,
	.load = listener_load,
	.check = listener_check,
	.reload_blocker = listener_reload_blocker,
	.release = listener_release,
};
