/*
 * tenant_cmd: `outpost tenant list|show NAME [--json]`, the tenants of the
 * config (inbound/tenant_config.h): how each is recognised, the domains it
 * may send as, its limits and protection, and whether it is held (from the
 * spool's tenant_state, inbound/tenant_guard.h); `outpost tenant release
 * NAME` lifts a hold (the daemon notices within TENANT_GUARD_POLL seconds).
 * show adds what became of the tenant's mail over its protect window (24h
 * without one) from the spool's statistics: received, delivered, deferred,
 * bounced, complaints and the rates protection judges.
 * Contract: exit 0, 1 on a config or spool error or an unknown tenant (or,
 * for release, one that is not held), 2 on a usage error.
 */
#include <arpa/inet.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "cli/commands.h"
#include "core/config.h"
#include "inbound/tenant_guard.h"
#include "spool/spool_stats.h"

static int tenant_usage(void)
{
	fprintf(stderr, "usage: outpost [-c FILE] tenant list [--json]\n"
		"       outpost [-c FILE] tenant show NAME [--json]\n"
		"       outpost [-c FILE] tenant release NAME\n");
	return 2;
}

/* The holds in the spool; none when it cannot be read (said on stderr). */
struct holds {
	struct tenant_state_row *rows;
	size_t n;
};

static sqlite3 *open_spool(const struct config *cf, int flags)
{
	char path[4096];
	sqlite3 *db = NULL;
	int n = snprintf(path, sizeof(path), "%s/queue.db", cf->spool);
	if (n < 0 || (size_t)n >= sizeof(path) || sqlite3_open_v2(path, &db, flags, NULL) != SQLITE_OK) {
		fprintf(stderr, "outpost: tenant: cannot open %s: %s\n", path, db ? sqlite3_errmsg(db) : "");
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_busy_timeout(db, 5000);
	return db;
}

static void holds_load(const struct config *cf, struct holds *h)
{
	char err[512];
	h->rows = NULL;
	h->n = 0;
	sqlite3 *db = open_spool(cf, SQLITE_OPEN_READONLY);
	if (db && tenant_state_read(db, &h->rows, &h->n, err, sizeof(err)) < 0)
		fprintf(stderr, "outpost: tenant: %s (start outpostd once to upgrade the spool)\n", err);
	sqlite3_close(db);
}

static const struct tenant_state_row *hold_of(const struct holds *h, const char *name)
{
	for (size_t i = 0; i < h->n; i++)
		if (strcmp(h->rows[i].name, name) == 0)
			return &h->rows[i];
	return NULL;
}

static const char *state_name(const struct tenant_state_row *r)
{
	return r == NULL ? "ok" : r->held == 2 ? "throttled" : "held";
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

static json_t *protect_json(const struct tenant_protect *p)
{
	if (!p->set)
		return json_null();
	return json_pack("{s:s, s:I, s:f, s:f, s:s, s:I}", "window", p->window_text,
			 "min_messages", (json_int_t)p->min_messages, "max_bounce_rate", p->max_bounce_rate,
			 "max_complaint_rate", p->max_complaint_rate,
			 "action", p->action == TENANT_THROTTLE ? "throttle" : "hold",
			 "throttle_per_minute", (json_int_t)p->throttle_per_minute);
}

static json_t *tenant_json(const struct tenant_conf *t, const struct holds *h)
{
	const struct tenant_state_row *r = hold_of(h, t->name);
	json_t *nets = json_array();
	char net[64];
	for (size_t i = 0; i < t->nnetworks; i++) {
		network_text(&t->networks[i], net, sizeof(net));
		json_array_append_new(nets, json_string(net));
	}
	return json_pack("{s:s, s:o, s:o, s:o, s:{s:I, s:I, s:I, s:I}, s:o, s:s, s:s?, s:I, s:i}", "name", t->name,
			 "users", strings_json(t->users, t->nusers), "networks", nets,
			 "domains", strings_json(t->domains, t->ndomains), "limits",
			 "messages_per_minute", (json_int_t)t->limits.per_minute,
			 "messages_per_hour", (json_int_t)t->limits.per_hour,
			 "messages_per_day", (json_int_t)t->limits.per_day,
			 "recipients_per_message", (json_int_t)t->limits.rcpts_per_msg,
			 "protect", protect_json(&t->protect), "state", state_name(r), "reason", r ? r->reason : NULL,
			 "since", (json_int_t)(r ? r->since : 0), "line", t->line);
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

static void protect_text(const struct tenant_protect *p)
{
	if (!p->set) {
		printf("protect: -\n");
		return;
	}
	printf("protect: window %s, min_messages %u", p->window_text, p->min_messages);
	if (p->max_bounce_rate > 0)
		printf(", max_bounce_rate %g %%", p->max_bounce_rate);
	if (p->max_complaint_rate > 0)
		printf(", max_complaint_rate %g %%", p->max_complaint_rate);
	if (p->action == TENANT_THROTTLE)
		printf(", action throttle to %u per minute\n", p->throttle_per_minute);
	else
		printf(", action hold\n");
}

static void tenant_text(const struct tenant_conf *t, const struct holds *h)
{
	char net[64], since[32];
	const struct tenant_state_row *r = hold_of(h, t->name);
	struct tm tm;
	printf("tenant: %s (line %d)\n", t->name, t->line);
	if (r && gmtime_r(&r->since, &tm) && strftime(since, sizeof(since), "%Y-%m-%dT%H:%M:%SZ", &tm))
		printf("state: %s since %s: %s\n", state_name(r), since, r->reason);
	else
		printf("state: %s\n", state_name(r));
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
	protect_text(&t->protect);
}

static int print_json(json_t *j)
{
	int rc = json_dumpf(j, stdout, JSON_INDENT(2));
	json_decref(j);
	return rc == 0 && fputc('\n', stdout) != EOF ? 0 : 1;
}

static int tenant_list(const struct config *cf, const struct holds *h, int json)
{
	if (json) {
		json_t *a = json_array();
		for (size_t i = 0; i < cf->ntenants; i++)
			json_array_append_new(a, tenant_json(&cf->tenants[i], h));
		return print_json(a);
	}
	if (cf->ntenants == 0)
		printf("no tenants in the config\n");
	for (size_t i = 0; i < cf->ntenants; i++) {
		const struct tenant_conf *t = &cf->tenants[i];
		printf("%-20s %-9s users=%zu networks=%zu domains=%zu\n", t->name, state_name(hold_of(h, t->name)),
		       t->nusers, t->nnetworks, t->ndomains);
	}
	return 0;
}

/* What became of t's mail over its protect window (24h without one), from
 * the spool's statistics (spool/spool_stats.h); rates as protection judges
 * them: of the recipients delivered or bounced.  NULL when unreadable. */
static json_t *activity_json(const struct config *cf, const struct tenant_conf *t)
{
	char err[512];
	const char *wtext = t->protect.set ? t->protect.window_text : "24h";
	time_t window = t->protect.set ? (time_t)t->protect.window : 86400;
	json_t *a = spool_stats_tenant(cf->spool, t->name, time(NULL) - window, err, sizeof(err));
	if (a == NULL) {
		fprintf(stderr, "outpost: tenant: statistics: %s\n", err);
		return NULL;
	}
	json_int_t sent = json_integer_value(json_object_get(a, "delivered")) +
			  json_integer_value(json_object_get(a, "bounced"));
	double br = sent ? 100.0 * (double)json_integer_value(json_object_get(a, "bounced")) / (double)sent : 0;
	double cr = sent ? 100.0 * (double)json_integer_value(json_object_get(a, "complaints")) / (double)sent : 0;
	json_object_set_new(a, "window", json_string(wtext));
	json_object_set_new(a, "bounce_rate", json_real(br));
	json_object_set_new(a, "complaint_rate", json_real(cr));
	return a;
}

static void activity_text(const json_t *a)
{
	if (a == NULL) {
		printf("activity: unknown (the spool's statistics cannot be read)\n");
		return;
	}
	printf("activity over %s: received %lld, delivered %lld, deferred %lld, bounced %lld, complaints %lld"
	       " (bounce rate %.1f %%, complaint rate %.1f %%)\n",
	       json_string_value(json_object_get(a, "window")),
	       (long long)json_integer_value(json_object_get(a, "received")),
	       (long long)json_integer_value(json_object_get(a, "delivered")),
	       (long long)json_integer_value(json_object_get(a, "deferred")),
	       (long long)json_integer_value(json_object_get(a, "bounced")),
	       (long long)json_integer_value(json_object_get(a, "complaints")),
	       json_real_value(json_object_get(a, "bounce_rate")),
	       json_real_value(json_object_get(a, "complaint_rate")));
}

static int tenant_show(const struct config *cf, const struct holds *h, const char *name, int json)
{
	for (size_t i = 0; i < cf->ntenants; i++) {
		if (strcmp(cf->tenants[i].name, name) != 0)
			continue;
		json_t *act = activity_json(cf, &cf->tenants[i]);
		if (json) {
			json_t *j = tenant_json(&cf->tenants[i], h);
			json_object_set_new(j, "activity", act ? act : json_null());
			return print_json(j);
		}
		tenant_text(&cf->tenants[i], h);
		activity_text(act);
		json_decref(act);
		return 0;
	}
	fprintf(stderr, "outpost: tenant: no tenant named %s in %s\n", name, cf->file);
	return 1;
}

static int tenant_release(const struct config *cf, const char *name)
{
	char err[512];
	sqlite3 *db = open_spool(cf, SQLITE_OPEN_READWRITE);
	if (db == NULL)
		return 1;
	int rc = tenant_state_release(db, name, err, sizeof(err));
	sqlite3_close(db);
	if (rc < 0)
		fprintf(stderr, "outpost: tenant: %s\n", err);
	else if (rc == 0)
		fprintf(stderr, "outpost: tenant: %s is not held\n", name);
	else
		printf("tenant %s released: outpostd accepts its mail again within %d s\n", name, TENANT_GUARD_POLL);
	return rc == 1 ? 0 : 1;
}

static int known_sub(const char *sub, int n)
{
	return (strcmp(sub, "list") == 0 && n == 2) || (strcmp(sub, "show") == 0 && n == 3) ||
	       (strcmp(sub, "release") == 0 && n == 3);
}

int cmd_tenant(int argc, char **argv, const char *file)
{
	char err[4096];
	struct holds h;
	int json = argc > 1 && strcmp(argv[argc - 1], "--json") == 0;
	int n = argc - json;
	if (n < 2 || !known_sub(argv[1], n) || (json && strcmp(argv[1], "release") == 0))
		return tenant_usage();
	struct config *cf = config_load(file, err, sizeof(err));
	if (cf == NULL) {
		fprintf(stderr, "outpost: tenant: %s", err);
		return 1;
	}
	int rc;
	if (strcmp(argv[1], "release") == 0) {
		rc = tenant_release(cf, argv[2]);
	} else {
		holds_load(cf, &h);
		rc = strcmp(argv[1], "list") == 0 ? tenant_list(cf, &h, json) : tenant_show(cf, &h, argv[2], json);
		tenant_state_free(h.rows, h.n);
	}
	config_free(cf);
	return rc;
}
