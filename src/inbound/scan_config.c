/*
 * scan_config: parses scanner (see scan_config.h), a section of core/config.
 */
#include "inbound/scan_config.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/config_parse.h"
#include "core/name_code.h"

static const struct name_code scan_type_names[] = { { "rspamd", 0 }, { NULL, -1 } };
static const struct name_code scan_on_error_names[] = {
	{ "accept", SCAN_ON_ERROR_ACCEPT }, { "tempfail", SCAN_ON_ERROR_TEMPFAIL }, { NULL, -1 },
};

/* "http://IP[:PORT]" (IPv6 in brackets) into sc; -1 when it is not one. */
static int parse_url(const char *url, struct scanner_conf *sc)
{
	const char *p = url, *end;
	unsigned char a[16];
	if (strncmp(p, "http://", 7) != 0)
		return -1;
	p += 7;
	if (*p == '[') {
		end = strchr(++p, ']');
		if (end == NULL || (size_t)(end - p) >= sizeof(sc->host))
			return -1;
		memcpy(sc->host, p, (size_t)(end - p));
		sc->host[end - p] = '\0';
		p = end + 1;
	} else {
		size_t n = strcspn(p, ":/");
		if (n == 0 || n >= sizeof(sc->host))
			return -1;
		memcpy(sc->host, p, n);
		sc->host[n] = '\0';
		p += n;
	}
	if (inet_pton(AF_INET, sc->host, a) != 1 && inet_pton(AF_INET6, sc->host, a) != 1)
		return -1;
	sc->port = 11333;
	if (*p == ':') {
		char *e;
		long port = strtol(p + 1, &e, 10);
		if (e == p + 1 || port < 1 || port > 65535)
			return -1;
		sc->port = (unsigned short)port;
		p = e;
	}
	return strcmp(p, "") == 0 || strcmp(p, "/") == 0 ? 0 : -1;
}

static void scan_config_load(struct cfctx *cx, struct config *cf, const config_setting_t *root)
{
	static const char *const known[] = { "type", "url", "timeout", "on_error", NULL };
	const config_setting_t *g = config_setting_get_member(root, "scanner");
	struct scanner_conf *sc = &cf->scanner;
	if (g == NULL || cx->failed)
		return;
	if (!config_setting_is_group(g)) {
		cf_error(cx, g, "scanner: expected a group { type = \"rspamd\"; url = \"http://127.0.0.1:11333\"; }");
		return;
	}
	if (cf_check_keys(cx, g, known) < 0)
		return;
	if (config_setting_get_member(g, "type") == NULL) {
		cf_error(cx, g, "scanner: type = \"rspamd\" is required");
		return;
	}
	cf_get_enum(cx, g, "type", scan_type_names, 0);
	sc->url = cf_get_string(cx, g, "url", "http://127.0.0.1:11333");
	if (!cx->failed && parse_url(sc->url, sc) < 0)
		cf_error(cx, config_setting_get_member(g, "url"),
			 "scanner: url \"%s\" is not http://IP[:PORT] (an IP address: no DNS lookup on the event loop)",
			 sc->url);
	sc->timeout = 5;
	uint64_t t = sc->timeout;
	cf_get_unit(cx, g, "timeout", config_parse_duration, 1, 300, &t);
	sc->timeout = (unsigned)t;
	sc->on_error = (enum scan_on_error)cf_get_enum(cx, g, "on_error", scan_on_error_names, SCAN_ON_ERROR_ACCEPT);
	sc->set = !cx->failed;
}

static void scan_config_release(struct config *cf)
{
	free(cf->scanner.url);
}

static const char *const known_scan_keys[] = { "scanner", NULL };

const struct config_section scan_config_section = {
	.keys = known_scan_keys,
	.load = scan_config_load,
	.release = scan_config_release,
};
