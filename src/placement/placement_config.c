/*
 * placement_config: parses placement (see placement_config.h).
 */
#include "placement/placement_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/config.h"
#include "core/config_parse.h"
#include "core/xmalloc.h"
#include "obs/http_config.h"

/* imaps://HOST[:PORT][/] or imap://HOST[:PORT][/]; sets the TLS fields. */
static int parse_imap_url(const char *url, struct placement_seed *sd)
{
	char host[256];
	const char *p;
	if (strncasecmp(url, "imaps://", 8) == 0)
		p = url + 8, sd->tls_from_start = 1;
	else if (strncasecmp(url, "imap://", 7) == 0)
		p = url + 7;
	else
		return -1;
	if (strpbrk(p, " \t\r\n@?#;") != NULL)
		return -1;
	int v6 = *p == '[';
	size_t n = v6 ? strcspn(p + 1, "]") : strcspn(p, ":/");
	if (n == 0 || n >= sizeof(host) || (v6 && p[1 + n] != ']'))
		return -1;
	memcpy(host, p + v6, n);
	host[n] = '\0';
	const char *rest = p + n + 2 * v6;
	if (*rest == ':') {
		char *end;
		long port = strtol(rest + 1, &end, 10);
		if (end == rest + 1 || port < 1 || port > 65535)
			return -1;
		rest = end;
	}
	if (!(*rest == '\0' || strcmp(rest, "/") == 0))
		return -1;            /* no mailbox in the URL: outpost picks the folders */
	sd->plain_ok = !sd->tls_from_start && http_host_is_loopback(host);
	return 0;
}

static void load_seed(struct cfctx *cx, struct config *cf, const config_setting_t *g)
{
	static const char *const known[] = { "address", "imap", "user", "password_file", "ca_file", NULL };
	struct placement_seed *sd = &cf->placement.seeds[cf->placement.nseeds++];
	if (cf_expect_group(cx, g, known, "placement: each seed is a group { address = \"probe@...\"; "
			    "imap = \"imaps://host:993\"; user = \"...\"; password_file = \"...\"; }") < 0)
		return;
	sd->address = cf_get_string(cx, g, "address", NULL);
	sd->imap = cf_get_string(cx, g, "imap", NULL);
	sd->user = cf_get_string(cx, g, "user", NULL);
	sd->password_file = cf_get_path(cx, g, "password_file", NULL);
	sd->ca_file = cf_get_path(cx, g, "ca_file", NULL);
	if (cx->failed)
		return;
	const char *at = sd->address ? strrchr(sd->address, '@') : NULL;
	if (at == NULL || at == sd->address || at[1] == '\0' || strpbrk(sd->address, " <>\t") != NULL) {
		cf_error(cx, g, "placement: seed address = \"local@domain\" is required");
		return;
	}
	for (size_t i = 0; i + 1 < cf->placement.nseeds; i++)
		if (strcasecmp(cf->placement.seeds[i].address, sd->address) == 0) {
			cf_error(cx, g, "placement: seed %s is listed twice", sd->address);
			return;
		}
	if (sd->imap == NULL || parse_imap_url(sd->imap, sd) < 0) {
		cf_error(cx, g, "placement: seed %s: imap must be imaps://HOST[:PORT] or imap://HOST[:PORT] "
			 "(STARTTLS; plain only to loopback)%s%s", sd->address, sd->imap ? ", not " : "",
			 sd->imap ? sd->imap : "");
		return;
	}
	if (sd->user == NULL || sd->password_file == NULL) {
		cf_error(cx, g, "placement: seed %s: user and password_file (mode 600) are required", sd->address);
		return;
	}
	sd->password = cf_read_private_line(cx, config_setting_get_member(g, "password_file"),
						    "placement: password_file", sd->password_file, "password", 1);
}

static void load_seeds(struct cfctx *cx, struct config *cf, const config_setting_t *g)
{
	const config_setting_t *l = config_setting_get_member(g, "seeds");
	if (l == NULL || !config_setting_is_list(l) || config_setting_length(l) == 0) {
		cf_error(cx, l ? l : g, "placement: seeds = ( { address; imap; user; password_file; }, ... ) "
			 "is required");
		return;
	}
	int n = config_setting_length(l);
	if (n > PLACEMENT_MAX_SEEDS) {
		cf_error(cx, l, "placement: at most %d seeds", PLACEMENT_MAX_SEEDS);
		return;
	}
	cf->placement.seeds = xcalloc((size_t)n, sizeof(*cf->placement.seeds));
	for (int i = 0; i < n && !cx->failed; i++)
		load_seed(cx, cf, config_setting_get_elem(l, (unsigned)i));
}

static void load_placement(struct cfctx *cx, struct config *cf, const config_setting_t *g)
{
	static const char *const known[] = { "interval", "wait", "history", "seeds", NULL };
	struct placement_conf *pc = &cf->placement;
	if (cf_expect_group(cx, g, known, "placement: expected a group { interval = \"6h\"; wait = \"5m\"; "
			    "seeds = ( ... ); }") < 0)
		return;
	pc->interval = 6 * 3600;
	pc->wait = 300;
	pc->history = 100;
	cf_get_duration(cx, g, "interval", &pc->interval);
	cf_get_duration(cx, g, "wait", &pc->wait);
	cf_get_uint(cx, g, "history", &pc->history, 1, 10000);
	if (cx->failed)
		return;
	if (pc->wait >= pc->interval) {
		cf_error(cx, config_setting_get_member(g, "wait"), "placement: wait (%us) must be shorter than "
			 "interval (%us): a round is looked for before the next one is sent", pc->wait, pc->interval);
		return;
	}
	load_seeds(cx, cf, g);
	if (!cx->failed && cf->ndkim == 0)
		cf_error(cx, g, "placement: the probes are DKIM-signed like all mail: configure a dkim key "
			 "(outpost dkim keygen)");
}

static void placement_config_load(struct cfctx *cx, struct config *cf, const config_setting_t *root)
{
	const config_setting_t *s = config_setting_get_member(root, "placement");
	if (s != NULL)
		load_placement(cx, cf, s);
}

static int seeds_differ(const struct placement_seed *a, const struct placement_seed *b)
{
	return strcmp(a->address, b->address) != 0 || strcmp(a->imap, b->imap) != 0 ||
	       strcmp(a->user, b->user) != 0 || strcmp(a->password, b->password) != 0 ||
	       (a->ca_file == NULL) != (b->ca_file == NULL) || (a->ca_file && strcmp(a->ca_file, b->ca_file) != 0);
}

/* The probes' timer and seeds are set up once, at start. */
static const char *placement_config_reload_blocker(const struct config *old, const struct config *cur)
{
	const struct placement_conf *a = &old->placement, *b = &cur->placement;
	if (a->interval != b->interval || a->wait != b->wait || a->history != b->history || a->nseeds != b->nseeds)
		return "placement";
	for (size_t i = 0; i < a->nseeds; i++)
		if (seeds_differ(&a->seeds[i], &b->seeds[i]))
			return "placement";
	return NULL;
}

static void placement_config_release(struct config *cf)
{
	for (size_t i = 0; i < cf->placement.nseeds; i++) {
		struct placement_seed *sd = &cf->placement.seeds[i];
		free(sd->address);
		free(sd->imap);
		free(sd->user);
		free(sd->password_file);
		if (sd->password)
			explicit_bzero(sd->password, strlen(sd->password));
		free(sd->password);
		free(sd->ca_file);
	}
	free(cf->placement.seeds);
}

static const char *const known_placement_keys[] = { "placement", NULL };

const struct config_section placement_config_section = {
	.keys = known_placement_keys,
	.load = placement_config_load,
	.reload_blocker = placement_config_reload_blocker,
	.release = placement_config_release,
};
