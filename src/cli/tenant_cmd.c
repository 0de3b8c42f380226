/*
 * tenant_cmd: `outpost tenant list|show NAME [--json]`, the tenants of the
 * config (inbound/tenant_config.h): how each is recognised, the domains it
 * may send as and its limits.
 * Contract: reads only the config; exit 0, 1 on a config error or an
 * unknown tenant, 2 on a usage error.
 */
#include <arpa/inet.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "cli/commands.h"
#include "core/config.h"

static int tenant_usage(void)
{
	fprintf(stderr, "usage: outpost [-c FILE] tenant list [--json]\n"
		"       outpost [-c FILE] tenant show NAME [--json]\n");
	return 2;
}

static void network_text(const struct netmask *m, char *out, size_t len)
{
	char a[INET6_ADDRSTRLEN];
	if (inet_ntop(m->family, m->addr, a, sizeof(a)) == NULL)
		snprintf(a, sizeof(a), "?");
	int n = snprintf(out, len, "%s/%d", a, m->prefix);
	if (n < 0 || (size_t)n >= len)
		snprintf(out, len, "?");
}

static json_t *strings_json(char **v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

static json_t *tenant_json(const struct tenant_conf *t)
{
	json_t *nets = json_array();
	char net[64];
	for (size_t i = 0; i < t->nnetworks; i++) {
		network_text(&t->networks[i], net, sizeof(net));
		json_array_append_new(nets, json_string(net));
	}
	return json_pack("{s:s, s:o, s:o, s:o, s:{s:I, s:I, s:I, s:I}, s:i}", "name", t->name,
			 "users", strings_json(t->users, t->nusers), "networks", nets,
			 "domains", strings_json(t->domains, t->ndomains), "limits",
			 "messages_per_minute", (json_int_t)t->limits.per_minute,
			 "messages_per_hour", (json_int_t)t->limits.per_hour,
			 "messages_per_day", (json_int_t)t->limits.per_day,
			 "recipients_per_message", (json_int_t)t->limits.rcpts_per_msg, "line", t->line);
}

static void put_list(const char *label, char **v, size_t n)
{
	printf("%s:", label);
	for (size_t i = 0; i < n; i++)
		printf(" %s", v[i]);
	printf("%s\n", n ? "" : " -");
}

static void put_limit(const char *label, unsigned v)
{
	if (v)
		printf("  %s: %u\n", label, v);
	else
		printf("  %s: unlimited\n", label);
}

static void tenant_text(const struct tenant_conf *t)
{
	char net[64];
	printf("tenant: %s (line %d)\n", t->name, t->line);
	put_list("users", t->users, t->nusers);
	printf("networks:");
	for (size_t i = 0; i < t->nnetworks; i++) {
		network_text(&t->networks[i], net, sizeof(net));
		printf(" %s", net);
	}
	printf("%s\n", t->nnetworks ? "" : " -");
	put_list("domains", t->domains, t->ndomains);
	printf("limits:\n");
	put_limit("messages_per_minute", t->limits.per_minute);
	put_limit("messages_per_hour", t->limits.per_hour);
	put_limit("messages_per_day", t->limits.per_day);
	put_limit("recipients_per_message", t->limits.rcpts_per_msg);
}

static int print_json(json_t *j)
{
	int rc = json_dumpf(j, stdout, JSON_INDENT(2));
	json_decref(j);
	return rc == 0 && fputc('\n', stdout) != EOF ? 0 : 1;
}

static int tenant_list(const struct config *cf, int json)
{
	if (json) {
		json_t *a = json_array();
		for (size_t i = 0; i < cf->ntenants; i++)
			json_array_append_new(a, tenant_json(&cf->tenants[i]));
		return print_json(a);
	}
	if (cf->ntenants == 0)
		printf("no tenants in the config\n");
	for (size_t i = 0; i < cf->ntenants; i++) {
		const struct tenant_conf *t = &cf->tenants[i];
		printf("%-20s users=%zu networks=%zu domains=%zu\n", t->name, t->nusers, t->nnetworks,
		       t->ndomains);
	}
	return 0;
}

static int tenant_show(const struct config *cf, const char *name, int json)
{
	for (size_t i = 0; i < cf->ntenants; i++) {
		if (strcmp(cf->tenants[i].name, name) != 0)
			continue;
		if (json)
			return print_json(tenant_json(&cf->tenants[i]));
		tenant_text(&cf->tenants[i]);
		return 0;
	}
	fprintf(stderr, "outpost: tenant: no tenant named %s in %s\n", name, cf->file);
	return 1;
}

int cmd_tenant(int argc, char **argv, const char *file)
{
	char err[4096];
	int json = argc > 1 && strcmp(argv[argc - 1], "--json") == 0;
	int n = argc - json;
	if (n < 2 || (strcmp(argv[1], "list") == 0 && n != 2) || (strcmp(argv[1], "show") == 0 && n != 3) ||
	    (strcmp(argv[1], "list") != 0 && strcmp(argv[1], "show") != 0))
		return tenant_usage();
	struct config *cf = config_load(file, err, sizeof(err));
	if (cf == NULL) {
		fprintf(stderr, "outpost: tenant: %s", err);
		return 1;
	}
	int rc = strcmp(argv[1], "list") == 0 ? tenant_list(cf, json) : tenant_show(cf, argv[2], json);
	config_free(cf);
	return rc;
}
