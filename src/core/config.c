/*
 * config: libconfig file -> struct config, with file:line errors.
 * Every group is checked against its list of known keys first, so a typo
 * is an error rather than a silently ignored setting.
 */
#include "config.h"

#include <errno.h>
#include <libconfig.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "xmalloc.h"

#include <sys/stat.h>

struct cfctx {
	const char *file;
	char *err;
	size_t errlen;
	int failed;
};

static int cf_error(struct cfctx *cx, const config_setting_t *s, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int cf_error(struct cfctx *cx, const config_setting_t *s, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!cx->failed)
		snprintf(cx->err, cx->errlen, "%s:%d: %s", cx->file,
			 s ? config_setting_source_line(s) : 0, msg);
	cx->failed = 1;
	return -1;
}

static long long parse_unit_number(const char *s, const char *const *units,
				   const long long *mult, size_t nunits)
{
	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end - s > 18)
		return -1;
	for (size_t i = 0; i < nunits; i++) {
		if (strcmp(end, units[i]) == 0) {
			if (v > (unsigned long long)(LLONG_MAX / mult[i]))
				return -1;
			return (long long)v * mult[i];
		}
	}
	return -1;
}

long long config_parse_duration(const char *s)
{
	static const char *const units[] = { "s", "m", "h", "d" };
	static const long long mult[] = { 1, 60, 3600, 86400 };
	return parse_unit_number(s, units, mult, 4);
}

long long config_parse_size(const char *s)
{
	static const char *const units[] = { "", "K", "M", "G" };
	static const long long mult[] = { 1, 1024, 1024 * 1024, 1024LL * 1024 * 1024 };
	return parse_unit_number(s, units, mult, 4);
}

/* Fails on the first member of group g whose name is not in known. */
static int check_keys(struct cfctx *cx, const config_setting_t *g, const char *const *known)
{
	int n = config_setting_length(g);
	for (int i = 0; i < n; i++) {
		const config_setting_t *m = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(m);
		size_t k;
		for (k = 0; known[k]; k++)
			if (name && strcmp(name, known[k]) == 0)
				break;
		if (known[k] == NULL)
			return cf_error(cx, m, "unknown setting \"%s\"", name ? name : "?");
	}
	return 0;
}

/* Copies a string member (NULL when absent); errors when of another type. */
static char *get_string(struct cfctx *cx, const config_setting_t *g, const char *key, const char *def)
{
	const config_setting_t *s = config_setting_get_member(g, key);
	if (s == NULL)
		return def ? xstrdup(def) : NULL;
	const char *v = config_setting_get_string(s);
	if (v == NULL) {
		cf_error(cx, s, "%s: expected a string", key);
		return NULL;
	}
	if (*v == '\0') {
		cf_error(cx, s, "%s: must not be empty", key);
		return NULL;
	}
	return xstrdup(v);
}

static void get_uint(struct cfctx *cx, const config_setting_t *g, const char *key,
		     unsigned *out, unsigned min, unsigned max)
{
	const config_setting_t *s = config_setting_get_member(g, key);
	if (s == NULL)
		return;
	if (config_setting_type(s) != CONFIG_TYPE_INT) {
		cf_error(cx, s, "%s: expected an integer", key);
		return;
	}
	int v = config_setting_get_int(s);
	if (v < 0 || (unsigned)v < min || (unsigned)v > max) {
		cf_error(cx, s, "%s: %d is out of range %u..%u", key, v, min, max);
		return;
	}
	*out = (unsigned)v;
}

/* A string with a unit, parsed by parse(); bounds in the parsed unit. */
static void get_unit(struct cfctx *cx, const config_setting_t *g, const char *key,
		     long long (*parse)(const char *), long long min, long long max, uint64_t *out)
{
	const config_setting_t *s = config_setting_get_member(g, key);
	if (s == NULL)
		return;
	const char *v = config_setting_get_string(s);
	long long n = v ? parse(v) : -1;
	if (n < 0) {
		cf_error(cx, s, "%s: expected a string such as %s", key,
			 parse == config_parse_duration ? "\"30s\", \"5m\", \"1h\"" : "\"512K\", \"25M\"");
		return;
	}
	if (n < min || n > max) {
		cf_error(cx, s, "%s: \"%s\" is out of range", key, v);
		return;
	}
	*out = (uint64_t)n;
}

static void get_duration(struct cfctx *cx, const config_setting_t *g, const char *key, unsigned *out)
{
	uint64_t v = *out;
	get_unit(cx, g, key, config_parse_duration, 1, 7 * 86400, &v);
	*out = (unsigned)v;
}

static int parse_enum(struct cfctx *cx, const config_setting_t *g, const char *key,
		      const char *const *names, int def)
{
	const config_setting_t *s = config_setting_get_member(g, key);
	if (s == NULL)
		return def;
	const char *v = config_setting_get_string(s);
	for (int i = 0; v && names[i]; i++)
		if (strcmp(v, names[i]) == 0)
			return i;
	char allowed[256] = "";
	for (int i = 0; names[i]; i++) {
		strncat(allowed, i ? ", \"" : "\"", sizeof(allowed) - strlen(allowed) - 1);
		strncat(allowed, names[i], sizeof(allowed) - strlen(allowed) - 1);
		strncat(allowed, "\"", sizeof(allowed) - strlen(allowed) - 1);
	}
	cf_error(cx, s, "%s: expected one of %s", key, allowed);
	return def;
}

static void load_listen(struct cfctx *cx, struct config *cf, const config_setting_t *l)
{
	static const char *const known[] = { "address", "tls", "auth", NULL };
	static const char *const tls_names[] = { "none", "starttls", "implicit", NULL };
	static const char *const auth_names[] = { "optional", "required", "none", NULL };
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
		if (check_keys(cx, g, known) < 0)
			return;
		lc->line = config_setting_source_line(g);
		lc->address = get_string(cx, g, "address", NULL);
		if (lc->address == NULL) {
			cf_error(cx, g, "listen: address is required");
			return;
		}
		if (hostport_split(lc->address, lc->host, sizeof(lc->host), lc->port, sizeof(lc->port)) < 0) {
			cf_error(cx, g, "listen: address \"%s\" is not host:port", lc->address);
			return;
		}
		lc->tls = (enum listen_tls)parse_enum(cx, g, "tls", tls_names, LISTEN_TLS_NONE);
		lc->auth = (enum listen_auth)parse_enum(cx, g, "auth", auth_names, LISTEN_AUTH_OPTIONAL);
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
	if (!config_setting_is_group(g) || check_keys(cx, g, known) < 0) {
		cf_error(cx, g, "tls: expected { cert = \"...\"; key = \"...\"; }");
		return;
	}
	cf->tls_cert = get_string(cx, g, "cert", NULL);
	cf->tls_key = get_string(cx, g, "key", NULL);
	if (!cx->failed && (cf->tls_cert == NULL || cf->tls_key == NULL))
		cf_error(cx, g, "tls: both cert and key are required");
}

static void load_inbound(struct cfctx *cx, struct config *cf, const config_setting_t *g)
{
	static const char *const known[] = { "max_message_size", "max_recipients", "max_sessions",
		"max_sessions_per_ip", "max_errors", "idle_timeout", "session_timeout", NULL };
	struct inbound_conf *ic = &cf->inbound;
	if (!config_setting_is_group(g)) {
		cf_error(cx, g, "inbound: expected a group { ... }");
		return;
	}
	if (check_keys(cx, g, known) < 0)
		return;
	get_unit(cx, g, "max_message_size", config_parse_size, 1024, 1LL << 30, &ic->max_message_size);
	get_uint(cx, g, "max_recipients", &ic->max_recipients, 1, 100000);
	get_uint(cx, g, "max_sessions", &ic->max_sessions, 1, 100000);
	get_uint(cx, g, "max_sessions_per_ip", &ic->max_sessions_per_ip, 1, 100000);
	get_uint(cx, g, "max_errors", &ic->max_errors, 1, 1000);
	get_duration(cx, g, "idle_timeout", &ic->idle_timeout);
	get_duration(cx, g, "session_timeout", &ic->session_timeout);
}

static int resolver_valid(const char *r)
{
	if (strcmp(r, "system") == 0)
		return 1;
	const char *at = strchr(r, '@');
	struct netmask m;
	char ip[64];
	if (at == NULL || (size_t)(at - r) >= sizeof(ip))
		return 0;
	memcpy(ip, r, (size_t)(at - r));
	ip[at - r] = '\0';
	int port = atoi(at + 1);
	return netmask_parse(ip, &m) == 0 && strchr(ip, '/') == NULL && port > 0 && port < 65536 &&
	       strspn(at + 1, "0123456789") == strlen(at + 1);
}

/* Relay credentials: one "user:password" line in a file only its owner can read. */
static void load_auth_file(struct cfctx *cx, const config_setting_t *s, const char *path,
			   struct route_conf *rc)
{
	struct stat st;
	char line[1024];
	FILE *fp = fopen(path, "r");
	if (fp == NULL) {
		cf_error(cx, s, "auth: cannot open \"%s\": %s", path, strerror(errno));
		return;
	}
	if (fstat(fileno(fp), &st) == 0 && (st.st_mode & 077) != 0)
		cf_error(cx, s, "auth: \"%s\" is readable by group or others; chmod 600 it", path);
	else if (fgets(line, sizeof(line), fp) == NULL || strchr(line, ':') == NULL)
		cf_error(cx, s, "auth: \"%s\" must hold one line user:password", path);
	fclose(fp);
	if (cx->failed)
		return;
	line[strcspn(line, "\r\n")] = '\0';
	char *colon = strchr(line, ':');
	*colon = '\0';
	rc->auth_user = xstrdup(line);
	rc->auth_pass = xstrdup(colon + 1);
	explicit_bzero(line, sizeof(line));
}

static void load_source(struct cfctx *cx, struct route_conf *rc, const config_setting_t *e,
			struct route_source *src)
{
	static const char *const known[] = { "address", "helo", "weight", NULL };
	struct netmask m;
	src->weight = 1;
	if (config_setting_type(e) == CONFIG_TYPE_STRING) {
		src->address = xstrdup(config_setting_get_string(e));
	} else if (config_setting_is_group(e) && check_keys(cx, e, known) == 0) {
		src->address = get_string(cx, e, "address", NULL);
		src->helo = get_string(cx, e, "helo", NULL);
		get_uint(cx, e, "weight", &src->weight, 1, 1000);
	}
	if (!cx->failed && (src->address == NULL || netmask_parse(src->address, &m) < 0 ||
			    strchr(src->address, '/')))
		cf_error(cx, e, "route %s: source: expected \"IP\" or { address = \"IP\"; helo = \"name\"; }",
			 rc->name);
	if (src->helo == NULL)
		src->helo = xstrdup(rc->helo);
}

/* source = "IP" or a pool: source = ( "IP", { address = "IP"; helo = "name"; weight = 2; } ) */
static void load_sources(struct cfctx *cx, struct route_conf *rc, const config_setting_t *s)
{
	if (s == NULL || cx->failed)
		return;
	int n = config_setting_is_list(s) || config_setting_is_array(s) ? config_setting_length(s) : 1;
	rc->sources = xcalloc((size_t)n, sizeof(*rc->sources));
	if (n == 1 && !config_setting_is_list(s) && !config_setting_is_array(s)) {
		load_source(cx, rc, s, &rc->sources[rc->nsources++]);
		return;
	}
	for (int i = 0; i < n && !cx->failed; i++)
		load_source(cx, rc, config_setting_get_elem(s, (unsigned)i), &rc->sources[rc->nsources++]);
	if (n == 0 || n > 64)
		cf_error(cx, s, "route %s: source: expected 1 to 64 addresses", rc->name);
}

/* begin = "2026-11-01": midnight UTC of that day; -1 when not a real date. */
static long long parse_day(const char *s)
{
	int y, m, d, n = -1;
	if (s == NULL || sscanf(s, "%4d-%2d-%2d%n", &y, &m, &d, &n) != 3 || n != 10 || s[n] != '\0')
		return -1;
	struct tm tm = { .tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d };
	time_t t = timegm(&tm);
	if (t == (time_t)-1 || tm.tm_mday != d || tm.tm_mon != m - 1)
		return -1;      /* timegm normalised "2026-02-30": not a date */
	return (long long)t;
}

/* warmup = { start = 50; growth = 1.5; per = "day"; begin = "2026-11-01"; max = 50000; } */
static void load_warmup(struct cfctx *cx, struct route_conf *rc, const config_setting_t *g)
{
	static const char *const known[] = { "start", "growth", "per", "begin", "max", NULL };
	static const char *const pers[] = { "day", "hour", NULL };
	struct warmup_conf *w = &rc->warmup;
	if (g == NULL || cx->failed)
		return;
	if (!config_setting_is_group(g) || check_keys(cx, g, known) < 0) {
		cf_error(cx, g, "route %s: warmup: expected a group { start = 50; growth = 1.5; per = \"day\"; }",
			 rc->name);
		return;
	}
	if (rc->type != ROUTE_MX) {
		cf_error(cx, g, "route %s: warmup is for mx routes (a relay warms up its own addresses)", rc->name);
		return;
	}
	const config_setting_t *gr = config_setting_get_member(g, "growth");
	w->set = 1;
	get_uint(cx, g, "start", &w->start, 1, 10000000);
	if (gr && (config_setting_type(gr) == CONFIG_TYPE_FLOAT || config_setting_type(gr) == CONFIG_TYPE_INT))
		w->growth = config_setting_type(gr) == CONFIG_TYPE_FLOAT ? config_setting_get_float(gr)
									 : config_setting_get_int(gr);
	if (!cx->failed && gr && !(w->growth >= 1.0 && w->growth <= 10.0))
		cf_error(cx, gr, "route %s: warmup: growth: expected a number from 1.0 to 10", rc->name);
	w->per = parse_enum(cx, g, "per", pers, 0) == 1 ? 3600 : 86400;
	get_uint(cx, g, "max", &w->max, 1, 1000000000);
	char *begin = get_string(cx, g, "begin", NULL);
	if (begin && (w->begin = parse_day(begin)) < 0)
		cf_error(cx, config_setting_get_member(g, "begin"),
			 "route %s: warmup: begin: expected a date \"YYYY-MM-DD\", got \"%s\"", rc->name, begin);
	free(begin);
	if (!cx->failed && (w->start == 0 || gr == NULL))
		cf_error(cx, g, "route %s: warmup: start and growth are required", rc->name);
	if (!cx->failed && w->max && w->max < w->start)
		cf_error(cx, g, "route %s: warmup: max is below start", rc->name);
}

static void load_route(struct cfctx *cx, struct config *cf, const config_setting_t *g, struct route_conf *rc)
{
	static const char *const known[] = { "type", "host", "port", "source", "helo", "tls", "auth", "warmup",
		NULL };
	static const char *const types[] = { "mx", "relay", NULL };
	static const char *const tls_names[] = { "none", "opportunistic", "required", "verify", "implicit", NULL };
	rc->name = xstrdup(config_setting_name(g));
	rc->line = config_setting_source_line(g);
	if (!config_setting_is_group(g) || check_keys(cx, g, known) < 0) {
		cf_error(cx, g, "route %s: expected a group { type = ...; }", rc->name);
		return;
	}
	if (config_setting_get_member(g, "type") == NULL) {
		cf_error(cx, g, "route %s: type = \"mx\" or \"relay\" is required", rc->name);
		return;
	}
	rc->type = (enum route_type)parse_enum(cx, g, "type", types, ROUTE_MX);
	rc->tls = (enum route_tls)parse_enum(cx, g, "tls", tls_names,
		rc->type == ROUTE_MX ? ROUTE_TLS_OPPORTUNISTIC : ROUTE_TLS_REQUIRED);
	rc->helo = get_string(cx, g, "helo", cf->hostname);
	load_sources(cx, rc, config_setting_get_member(g, "source"));
	load_warmup(cx, rc, config_setting_get_member(g, "warmup"));
	char *host = get_string(cx, g, "host", NULL);
	unsigned port = 25;
	get_uint(cx, g, "port", &port, 1, 65535);
	snprintf(rc->port, sizeof(rc->port), "%u", port);
	if (rc->type == ROUTE_RELAY && rc->nsources > 1)
		cf_error(cx, g, "route %s: a relay sends from one source address", rc->name);
	if (rc->type == ROUTE_RELAY && (host == NULL ||
	    hostport_split(host, rc->host, sizeof(rc->host), rc->port, sizeof(rc->port)) < 0))
		cf_error(cx, g, "route %s: a relay needs host = \"name:port\"", rc->name);
	if (rc->type == ROUTE_MX && (host || rc->tls == ROUTE_TLS_IMPLICIT))
		cf_error(cx, g, "route %s: an mx route takes no host and no implicit TLS", rc->name);
	free(host);
	char *auth = get_string(cx, g, "auth", NULL);
	if (auth && rc->type == ROUTE_MX)
		cf_error(cx, g, "route %s: auth is for relays", rc->name);
	else if (auth && !cx->failed)
		load_auth_file(cx, config_setting_get_member(g, "auth"), auth, rc);
	free(auth);
}

static void load_routes(struct cfctx *cx, struct config *cf, const config_setting_t *g)
{
	if (!config_setting_is_group(g)) {
		cf_error(cx, g, "routes: expected a group { name = { type = ...; }; ... }");
		return;
	}
	int n = config_setting_length(g);
	cf->routes = xcalloc((size_t)n, sizeof(*cf->routes));
	for (int i = 0; i < n && !cx->failed; i++)
		load_route(cx, cf, config_setting_get_elem(g, (unsigned)i), &cf->routes[cf->nroutes++]);
}

static char **get_string_list(struct cfctx *cx, const config_setting_t *g, const char *key, size_t *n)
{
	const config_setting_t *l = config_setting_get_member(g, key);
	*n = 0;
	if (l == NULL)
		return NULL;
	if (!config_setting_is_array(l) && !config_setting_is_list(l)) {
		cf_error(cx, l, "%s: expected a list of strings [ \"...\" ]", key);
		return NULL;
	}
	int len = config_setting_length(l);
	char **v = xcalloc((size_t)len + 1, sizeof(char *));
	for (int i = 0; i < len; i++) {
		const char *e = config_setting_get_string_elem(l, i);
		if (e == NULL || *e == '\0') {
			cf_error(cx, l, "%s: expected non-empty strings", key);
			break;
		}
		v[(*n)++] = xstrdup(e);
	}
	return v;
}

const char *const rule_key_name[RULE_NKEYS] = { "sender", "sender_domain", "from_domain",
	"recipient_domain", "user", "class", "mx" };

/* A list of strings, or one string as a list of one; NULL (and *n 0) when
 * absent, and an error when empty. */
static const config_setting_t *get_list(struct cfctx *cx, const config_setting_t *g, const char *key,
					size_t *n)
{
	const config_setting_t *l = config_setting_get_member(g, key);
	*n = 0;
	if (l == NULL)
		return NULL;
	if (config_setting_type(l) == CONFIG_TYPE_STRING)
		*n = 1;
	else if (config_setting_is_array(l) || config_setting_is_list(l))
		*n = (size_t)config_setting_length(l);
	else
		cf_error(cx, l, "%s: expected a string or a list of strings [ \"...\" ]", key);
	if (!cx->failed && *n == 0)
		cf_error(cx, l, "%s: an empty list matches nothing; leave the key out to match anything", key);
	return l;
}

static const char *list_elem(const config_setting_t *l, size_t i)
{
	if (config_setting_type(l) == CONFIG_TYPE_STRING)
		return config_setting_get_string(l);
	return config_setting_get_string_elem(l, (int)i);
}

/* Why glob v cannot be a pattern for key k, or NULL. */
static const char *rule_glob_fault(enum rule_key k, const char *v)
{
	if (k == RULE_SENDER)
		return strchr(v, '@') || strcmp(v, "*") == 0 || strcmp(v, "<>") == 0 ? NULL :
		       "has no '@' (\"<>\" is the null sender; for a domain use sender_domain)";
	if (k == RULE_USER || k == RULE_CLASS)
		return NULL;
	for (const char *p = v; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == '@' || *p == 0x7f)
			return "is not a domain glob (no '@', no spaces)";
	return NULL;
}

static void load_rule_key(struct cfctx *cx, const config_setting_t *g, enum rule_key k, struct rule_conf *r)
{
	const char *key = rule_key_name[k];
	size_t n;
	char why[256];
	const config_setting_t *l = get_list(cx, g, key, &n);
	if (l == NULL || cx->failed)
		return;
	r->match[k] = xcalloc(n, sizeof(struct glob));
	for (size_t i = 0; i < n && !cx->failed; i++) {
		const char *v = list_elem(l, i);
		const char *fault = v && *v ? rule_glob_fault(k, v) : NULL;
		if (v == NULL || *v == '\0')
			cf_error(cx, l, "%s: expected non-empty strings", key);
		else if (fault)
			cf_error(cx, l, "%s: \"%s\" %s", key, v, fault);
		else if (glob_compile(v, k != RULE_USER, &r->match[k][r->nmatch[k]], why, sizeof(why)) < 0)
			cf_error(cx, l, "%s: %s", key, why);
		else
			r->nmatch[k]++;
	}
}

static void load_via(struct cfctx *cx, struct config *cf, const config_setting_t *g, struct rule_conf *r)
{
	size_t n;
	const config_setting_t *l = get_list(cx, g, "via", &n);
	if (!cx->failed && l == NULL)
		cf_error(cx, g, "rules: via = [ \"route\", ... ] is required");
	if (cx->failed)
		return;
	r->via = xcalloc(n, sizeof(size_t));
	for (size_t i = 0; i < n && !cx->failed; i++) {
		const char *v = list_elem(l, i);
		size_t k;
		for (k = 0; v && k < cf->nroutes && strcmp(cf->routes[k].name, v) != 0; k++)
			;
		if (k == cf->nroutes || v == NULL)
			cf_error(cx, l, "via: no route named \"%s\"", v ? v : "");
		for (size_t j = 0; j < r->nvia && !cx->failed; j++)
			if (r->via[j] == k)
				cf_error(cx, l, "via: route \"%s\" is listed twice", v);
		r->via[r->nvia++] = k;
	}
}

static void load_rule(struct cfctx *cx, struct config *cf, const config_setting_t *g, struct rule_conf *r)
{
	static const char *const known[] = { "sender", "sender_domain", "from_domain", "recipient_domain",
		"user", "class", "mx", "via", NULL };
	r->line = config_setting_source_line(g);
	if (!config_setting_is_group(g) || check_keys(cx, g, known) < 0) {
		cf_error(cx, g, "rules: each rule is a group { ...; via = [ \"route\" ]; }");
		return;
	}
	for (int k = 0; k < RULE_NKEYS; k++)
		load_rule_key(cx, g, (enum rule_key)k, r);
	load_via(cx, cf, g, r);
}

/* 1 when r matches every recipient of every message: each of its keys
 * (if any) is sender or recipient_domain with a "*" among its globs.  The
 * other keys can be unknown or empty ("*" does not match a message without
 * From:, user or class), so they never make a catch-all. */
static int rule_matches_all(const struct rule_conf *r)
{
	for (int k = 0; k < RULE_NKEYS; k++) {
		if (r->nmatch[k] == 0)
			continue;
		if (k != RULE_SENDER && k != RULE_RECIPIENT_DOMAIN)
			return 0;
		size_t i;
		for (i = 0; i < r->nmatch[k] && r->match[k][i].kind != GLOB_ANY; i++)
			;
		if (i == r->nmatch[k])
			return 0;
	}
	return 1;
}

static void load_rules(struct cfctx *cx, struct config *cf, const config_setting_t *l)
{
	if (!config_setting_is_list(l)) {
		cf_error(cx, l, "rules: expected a list ( { via = [ \"route\" ]; }, ... )");
		return;
	}
	int n = config_setting_length(l);
	cf->rules = xcalloc((size_t)n, sizeof(*cf->rules));
	for (int i = 0; i < n && !cx->failed; i++)
		load_rule(cx, cf, config_setting_get_elem(l, (unsigned)i), &cf->rules[cf->nrules++]);
	for (size_t i = 0; i + 1 < cf->nrules && !cx->failed; i++)
		if (rule_matches_all(&cf->rules[i]))
			cf_error(cx, config_setting_get_elem(l, (unsigned)i + 1),
				 "rule at line %d is never reached: the rule at line %d matches everything",
				 cf->rules[i + 1].line, cf->rules[i].line);
}

static void load_dkim(struct cfctx *cx, struct config *cf, const config_setting_t *l)
{
	static const char *const known[] = { "domain", "selector", "key", "all", NULL };
	if (!config_setting_is_list(l)) {
		cf_error(cx, l, "dkim: expected a list ( { domain = ...; selector = ...; key = ...; }, ... )");
		return;
	}
	int n = config_setting_length(l);
	cf->dkim = xcalloc((size_t)n, sizeof(*cf->dkim));
	for (int i = 0; i < n && !cx->failed; i++) {
		const config_setting_t *g = config_setting_get_elem(l, (unsigned)i);
		struct dkim_conf *d = &cf->dkim[cf->ndkim++];
		d->line = config_setting_source_line(g);
		if (!config_setting_is_group(g) || check_keys(cx, g, known) < 0) {
			cf_error(cx, g, "dkim: each key is a group { domain; selector; key; }");
			return;
		}
		d->domain = get_string(cx, g, "domain", NULL);
		d->selector = get_string(cx, g, "selector", NULL);
		d->key = get_string(cx, g, "key", NULL);
		const config_setting_t *all = config_setting_get_member(g, "all");
		if (all && config_setting_type(all) != CONFIG_TYPE_BOOL)
			cf_error(cx, all, "all: expected true or false");
		d->all = all && config_setting_get_bool(all);
		if (!cx->failed && (!d->domain || !d->selector || !d->key || !*d->domain || !*d->selector))
			cf_error(cx, g, "dkim: domain, selector and key are all required");
		for (size_t k = 0; k + 1 < cf->ndkim && !cx->failed; k++)
			if (strcasecmp(cf->dkim[k].domain, d->domain) == 0 &&
			    strcasecmp(cf->dkim[k].selector, d->selector) == 0)
				cf_error(cx, g, "dkim: selector %s._domainkey.%s is listed twice", d->selector,
					 d->domain);
	}
}

static void load_canary(struct cfctx *cx, struct config *cf, const config_setting_t *g)
{
	static const char *const known[] = { "address", "interval", NULL };
	if (!config_setting_is_group(g) || check_keys(cx, g, known) < 0) {
		cf_error(cx, g, "canary: expected a group { address = \"canary@...\"; interval = \"1h\"; }");
		return;
	}
	cf->canary.address = get_string(cx, g, "address", NULL);
	if (!cx->failed && (!cf->canary.address || !strchr(cf->canary.address, '@')))
		cf_error(cx, g, "canary: address = \"local@domain\" is required");
	cf->canary.interval = 3600;
	get_duration(cx, g, "interval", &cf->canary.interval);
}

static void load_health(struct cfctx *cx, struct config *cf, const config_setting_t *g)
{
	static const char *const known[] = { "failures", "probe", "probe_max", NULL };
	if (!config_setting_is_group(g) || check_keys(cx, g, known) < 0) {
		cf_error(cx, g, "health: expected a group { failures = 3; probe = \"1m\"; probe_max = \"1h\"; }");
		return;
	}
	get_uint(cx, g, "failures", &cf->health.failures, 1, 1000);
	get_duration(cx, g, "probe", &cf->health.probe);
	get_duration(cx, g, "probe_max", &cf->health.probe_max);
	if (!cx->failed && cf->health.probe_max < cf->health.probe)
		cf_error(cx, g, "health: probe_max is shorter than probe");
}

int config_parse_rate(const char *s, struct rate_conf *out)
{
	static const char *const units[] = { "s", "min", "h", "day" };
	static const unsigned secs[] = { 1, 60, 3600, 86400 };
	const char *slash = s ? strchr(s, '/') : NULL;
	char num[16];
	if (slash == NULL || slash == s || (size_t)(slash - s) >= sizeof(num))
		return -1;
	memcpy(num, s, (size_t)(slash - s));
	num[slash - s] = '\0';
	long long n = config_parse_size(num);    /* plain digits: the count */
	if (n < 1 || n > 1000000000 || strspn(num, "0123456789") != strlen(num))
		return -1;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(slash + 1, units[i]) == 0) {
			out->count = (unsigned)n;
			out->per = secs[i];
			return 0;
		}
	}
	return -1;
}

static int rate_cmp(const void *a, const void *b)
{
	const struct rate_conf *x = a, *y = b;
	return (x->per > y->per) - (x->per < y->per);
}

/* rate = "600/min" or [ "600/min", "20000/day" ]: at most one per unit. */
static void load_rates(struct cfctx *cx, const config_setting_t *g, struct limit_conf *lc)
{
	size_t n;
	const config_setting_t *l = get_list(cx, g, "rate", &n);
	if (l == NULL || cx->failed)
		return;
	lc->rates = xcalloc(n, sizeof(*lc->rates));
	for (size_t i = 0; i < n && !cx->failed; i++) {
		const char *v = list_elem(l, i);
		struct rate_conf *r = &lc->rates[lc->nrates];
		if (config_parse_rate(v, r) < 0) {
			cf_error(cx, l, "rate: \"%s\" is not a rate such as \"600/min\" (N/s, N/min, N/h, N/day)",
				 v ? v : "");
			return;
		}
		for (size_t k = 0; k < lc->nrates; k++)
			if (lc->rates[k].per == r->per)
				cf_error(cx, l, "rate: two rates for the same unit (\"%s\")", v);
		lc->nrates++;
	}
	qsort(lc->rates, lc->nrates, sizeof(*lc->rates), rate_cmp);
}

/* Why glob v cannot select a limit's key, or NULL. */
static const char *limit_glob_fault(const struct config *cf, enum limit_selector sel, const char *v)
{
	struct netmask m;
	if (v == NULL || *v == '\0')
		return "expected non-empty strings";
	if (strpbrk(v, "*?[") != NULL)
		return NULL;
	if (sel == LIMIT_ROUTE) {
		for (size_t i = 0; i < cf->nroutes; i++)
			if (strcmp(cf->routes[i].name, v) == 0)
				return NULL;
		return "names no route";
	}
	if (sel == LIMIT_SOURCE && (netmask_parse(v, &m) < 0 || strchr(v, '/')))
		return "is not an IP address (or a glob such as \"203.0.113.*\")";
	return NULL;
}

static void load_limit(struct cfctx *cx, struct config *cf, const config_setting_t *g, struct limit_conf *lc)
{
	static const char *const known[] = { "domain", "mx", "route", "source", "connections",
		"messages_per_connection", "rate", NULL };
	static const char *const selectors[] = { "domain", "mx", "route", "source" };   /* enum order */
	char why[256];
	int nsel = 0;
	size_t n;
	lc->line = config_setting_source_line(g);
	if (!config_setting_is_group(g) || check_keys(cx, g, known) < 0) {
		cf_error(cx, g, "limits: each entry is a group { domain = \"...\"; rate = \"600/min\"; }");
		return;
	}
	for (int k = 0; k < 4; k++)
		if (config_setting_get_member(g, selectors[k]) != NULL) {
			nsel++;
			lc->selector = (enum limit_selector)k;
		}
	if (nsel != 1) {
		cf_error(cx, g, "limits: each entry selects by exactly one of domain, mx, route, source");
		return;
	}
	const char *key = selectors[lc->selector];
	const config_setting_t *l = get_list(cx, g, key, &n);
	if (cx->failed)
		return;
	lc->match = xcalloc(n, sizeof(struct glob));
	for (size_t i = 0; i < n && !cx->failed; i++) {
		const char *v = list_elem(l, i), *fault = limit_glob_fault(cf, lc->selector, v);
		if (fault)
			cf_error(cx, l, "%s: \"%s\" %s", key, v ? v : "", fault);
		else if (glob_compile(v, 1, &lc->match[lc->nmatch], why, sizeof(why)) < 0)
			cf_error(cx, l, "%s: %s", key, why);
		else
			lc->nmatch++;
	}
	get_uint(cx, g, "connections", &lc->connections, 1, 100000);
	get_uint(cx, g, "messages_per_connection", &lc->messages_per_connection, 1, 10000000);
	load_rates(cx, g, lc);
	if (!cx->failed && lc->connections == 0 && lc->messages_per_connection == 0 && lc->nrates == 0)
		cf_error(cx, g, "limits: the entry sets no limit: give connections, messages_per_connection or rate");
}

/* 1 when a and b select the same values (their counters would be one). */
static int limit_same_match(const struct limit_conf *a, const struct limit_conf *b)
{
	if (a->selector != b->selector || a->nmatch != b->nmatch)
		return 0;
	for (size_t i = 0; i < a->nmatch; i++)
		if (strcmp(a->match[i].text, b->match[i].text) != 0)
			return 0;
	return 1;
}

/* limits = ( { domain = [ "gmail.com" ]; connections = 10; rate = "600/min"; }, ... ) */
static void load_limits(struct cfctx *cx, struct config *cf, const config_setting_t *l)
{
	if (!config_setting_is_list(l)) {
		cf_error(cx, l, "limits: expected a list ( { mx = \"*.google.com\"; rate = \"600/min\"; }, ... )");
		return;
	}
	int n = config_setting_length(l);
	cf->limits = xcalloc((size_t)n, sizeof(*cf->limits));
	for (int i = 0; i < n && !cx->failed; i++) {
		const config_setting_t *g = config_setting_get_elem(l, (unsigned)i);
		struct limit_conf *lc = &cf->limits[cf->nlimits++];
		load_limit(cx, cf, g, lc);
		for (size_t k = 0; k + 1 < cf->nlimits && !cx->failed; k++)
			if (limit_same_match(&cf->limits[k], lc))
				cf_error(cx, g, "limits: the entry at line %d selects the same; merge the two",
					 cf->limits[k].line);
	}
}

/* delivery = { backoff = { cooldown = "10m"; floor = "1/min"; }; } */
static void load_backoff(struct cfctx *cx, struct config *cf, const config_setting_t *g)
{
	static const char *const known[] = { "cooldown", "floor", NULL };
	struct backoff_conf *b = &cf->delivery.backoff;
	if (g == NULL || cx->failed)
		return;
	if (!config_setting_is_group(g) || check_keys(cx, g, known) < 0) {
		cf_error(cx, g, "backoff: expected a group { cooldown = \"10m\"; floor = \"1/min\"; }");
		return;
	}
	get_duration(cx, g, "cooldown", &b->cooldown);
	const config_setting_t *f = config_setting_get_member(g, "floor");
	if (f && config_parse_rate(config_setting_get_string(f), &b->floor) < 0)
		cf_error(cx, f, "floor: expected a rate such as \"1/min\"");
}

static void load_retry(struct cfctx *cx, struct config *cf, const config_setting_t *g)
{
	static const char *const known[] = { "schedule", "lifetime", "greylist", "delay_notice", NULL };
	struct retry_conf *rc = &cf->retry;
	if (!config_setting_is_group(g) || check_keys(cx, g, known) < 0) {
		cf_error(cx, g, "retry: expected a group { schedule = [ \"1m\", ... ]; lifetime = \"5d\"; }");
		return;
	}
	size_t n;
	char **sched = get_string_list(cx, g, "schedule", &n);
	if (sched) {
		free(rc->schedule);
		rc->schedule = xcalloc(n ? n : 1, sizeof(unsigned));
		rc->nschedule = 0;
		for (size_t i = 0; i < n; i++) {
			long long d = config_parse_duration(sched[i]);
			if (d < 1 || d > 30 * 86400)
				cf_error(cx, config_setting_get_member(g, "schedule"),
					 "schedule: \"%s\" is not a duration such as \"5m\"", sched[i]);
			rc->schedule[rc->nschedule++] = (unsigned)(d > 0 ? d : 1);
			free(sched[i]);
		}
		free(sched);
		if (!cx->failed && rc->nschedule == 0)
			cf_error(cx, g, "schedule: give at least one duration");
	}
	uint64_t v = rc->lifetime;
	get_unit(cx, g, "lifetime", config_parse_duration, 1, 60 * 86400, &v);
	rc->lifetime = (unsigned)v;
	v = rc->greylist;
	get_unit(cx, g, "greylist", config_parse_duration, 1, 86400, &v);
	rc->greylist = (unsigned)v;
	v = rc->delay_notice;
	get_unit(cx, g, "delay_notice", config_parse_duration, 0, 60 * 86400, &v);
	rc->delay_notice = (unsigned)v;
}

static void load_delivery(struct cfctx *cx, struct config *cf, const config_setting_t *g)
{
	static const char *const known[] = { "max_connections", "max_per_destination", "connect_timeout",
		"command_timeout", "dns_timeout", "backoff", NULL };
	struct delivery_conf *dc = &cf->delivery;
	if (!config_setting_is_group(g) || check_keys(cx, g, known) < 0) {
		cf_error(cx, g, "delivery: expected a group { max_connections = 100; ... }");
		return;
	}
	get_uint(cx, g, "max_connections", &dc->max_connections, 1, 10000);
	get_uint(cx, g, "max_per_destination", &dc->max_per_destination, 1, 10000);
	get_duration(cx, g, "connect_timeout", &dc->connect_timeout);
	get_duration(cx, g, "command_timeout", &dc->command_timeout);
	unsigned dns = dc->dns_timeout_ms / 1000;
	get_duration(cx, g, "dns_timeout", &dns);
	dc->dns_timeout_ms = dns * 1000;
	load_backoff(cx, cf, config_setting_get_member(g, "backoff"));
}

static int str_differs(const char *a, const char *b)
{
	return (a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0);
}

const char *config_reload_blocker(const struct config *old, const struct config *new)
{
	if (str_differs(old->spool, new->spool) || old->spool_max_size != new->spool_max_size)
		return "spool";
	if (str_differs(old->socket, new->socket))
		return "socket";
	if (str_differs(old->resolver, new->resolver))
		return "resolver";
	if (str_differs(old->tls_cert, new->tls_cert) || str_differs(old->tls_key, new->tls_key))
		return "tls";
	if (str_differs(old->hostname, new->hostname))
		return "hostname";
	if ((old->nroutes == 0) != (new->nroutes == 0))
		return "routes (turning delivery on or off)";
	if (old->nlisten != new->nlisten)
		return "listen";
	for (size_t i = 0; i < old->nlisten; i++)
		if (strcmp(old->listen[i].address, new->listen[i].address) != 0 ||
		    old->listen[i].tls != new->listen[i].tls || old->listen[i].auth != new->listen[i].auth)
			return "listen";
	if (old->ndkim != new->ndkim)
		return "dkim";
	for (size_t i = 0; i < old->ndkim; i++)   /* keys are read once, at start */
		if (strcmp(old->dkim[i].domain, new->dkim[i].domain) != 0 ||
		    strcmp(old->dkim[i].selector, new->dkim[i].selector) != 0 ||
		    strcmp(old->dkim[i].key, new->dkim[i].key) != 0 || old->dkim[i].all != new->dkim[i].all)
			return "dkim";
	if (str_differs(old->canary.address, new->canary.address))
		return "canary";
	return NULL;
}

static void set_defaults(struct config *cf)
{
	cf->inbound.max_message_size = 25 * 1024 * 1024;
	cf->inbound.max_recipients = 1000;
	cf->inbound.max_sessions = 500;
	cf->inbound.max_sessions_per_ip = 100;
	cf->inbound.max_errors = 10;
	cf->inbound.idle_timeout = 300;
	cf->inbound.session_timeout = 1800;
	static const unsigned schedule[] = { 60, 300, 900, 1800, 3600, 7200, 14400 };
	cf->retry.nschedule = sizeof(schedule) / sizeof(schedule[0]);
	cf->retry.schedule = xcalloc(cf->retry.nschedule, sizeof(unsigned));
	memcpy(cf->retry.schedule, schedule, sizeof(schedule));
	cf->retry.lifetime = 5 * 86400;
	cf->retry.greylist = 300;
	cf->retry.delay_notice = 4 * 3600;
	cf->health.failures = 3;
	cf->health.probe = 60;
	cf->health.probe_max = 3600;
	cf->delivery.max_connections = 100;
	cf->delivery.max_per_destination = 10;
	cf->delivery.connect_timeout = 30;
	cf->delivery.command_timeout = 300;
	cf->delivery.dns_timeout_ms = 10000;
	cf->delivery.backoff.cooldown = 600;
	cf->delivery.backoff.floor = (struct rate_conf){ 1, 60 };
}

static void load_root(struct cfctx *cx, struct config *cf, const config_setting_t *root)
{
	static const char *const known[] = { "hostname", "spool", "socket", "resolver", "spool_max_size",
		"listen", "client_networks", "users", "tls", "inbound", "routes", "rules", "retry", "delivery", "health",
		"dkim", "canary", "limits", NULL };
	const config_setting_t *s;
	if (check_keys(cx, root, known) < 0)
		return;
	char host[256] = "localhost";
	if (gethostname(host, sizeof(host) - 1) < 0)
		strcpy(host, "localhost");
	cf->hostname = get_string(cx, root, "hostname", host);
	cf->spool = get_string(cx, root, "spool", "./spool");
	cf->resolver = get_string(cx, root, "resolver", "system");
	cf->users = get_string(cx, root, "users", NULL);
	cf->socket = get_string(cx, root, "socket", NULL);
	if (cf->socket == NULL && cf->spool)
		cf->socket = xasprintf("%s/outpost.sock", cf->spool);
	get_unit(cx, root, "spool_max_size", config_parse_size, 1024 * 1024, 1LL << 50, &cf->spool_max_size);
	if (cf->resolver && !resolver_valid(cf->resolver))
		cf_error(cx, config_setting_get_member(root, "resolver"),
			 "resolver: expected \"system\" or \"IP@PORT\", got \"%s\"", cf->resolver);
	if ((s = config_setting_get_member(root, "listen")) != NULL)
		load_listen(cx, cf, s);
	if ((s = config_setting_get_member(root, "client_networks")) != NULL)
		load_networks(cx, cf, s);
	if ((s = config_setting_get_member(root, "tls")) != NULL)
		load_tls(cx, cf, s);
	if ((s = config_setting_get_member(root, "inbound")) != NULL)
		load_inbound(cx, cf, s);
	if (!cx->failed && (s = config_setting_get_member(root, "routes")) != NULL)
		load_routes(cx, cf, s);
	if (!cx->failed && (s = config_setting_get_member(root, "rules")) != NULL)
		load_rules(cx, cf, s);
	if (!cx->failed && cf->nroutes && cf->nrules == 0)
		cf_error(cx, config_setting_get_member(root, "routes"),
			 "routes: add rules = ( { via = [ \"%s\" ]; } ) to say which mail takes which route",
			 cf->routes[0].name);
	if ((s = config_setting_get_member(root, "retry")) != NULL)
		load_retry(cx, cf, s);
	if ((s = config_setting_get_member(root, "delivery")) != NULL)
		load_delivery(cx, cf, s);
	if ((s = config_setting_get_member(root, "health")) != NULL)
		load_health(cx, cf, s);
	if ((s = config_setting_get_member(root, "dkim")) != NULL)
		load_dkim(cx, cf, s);
	if ((s = config_setting_get_member(root, "canary")) != NULL)
		load_canary(cx, cf, s);
	if (!cx->failed && (s = config_setting_get_member(root, "limits")) != NULL)
		load_limits(cx, cf, s);
	for (size_t i = 0; i < cf->nlisten && !cx->failed; i++)
		if (cf->listen[i].tls != LISTEN_TLS_NONE && cf->tls_cert == NULL)
			cf_error(cx, config_setting_get_member(root, "listen"),
				 "listen %s: tls = starttls/implicit needs tls = { cert; key; }",
				 cf->listen[i].address);
}

/* Builds the config from a parsed libconfig tree, or reports its syntax error. */
static struct config *config_from(config_t *lc, int read_ok, const char *name, char *err, size_t errlen)
{
	struct cfctx cx = { name, err, errlen, 0 };
	if (!read_ok) {
		if (config_error_type(lc) == CONFIG_ERR_FILE_IO)
			snprintf(err, errlen, "%s: cannot read: %s", name, strerror(errno));
		else
			snprintf(err, errlen, "%s:%d: %s", name, config_error_line(lc), config_error_text(lc));
		config_destroy(lc);
		return NULL;
	}
	struct config *cf = xcalloc(1, sizeof(*cf));
	cf->file = xstrdup(name);
	set_defaults(cf);
	load_root(&cx, cf, config_root_setting(lc));
	config_destroy(lc);
	if (cx.failed) {
		config_free(cf);
		return NULL;
	}
	return cf;
}

struct config *config_load(const char *file, char *err, size_t errlen)
{
	config_t lc;
	config_init(&lc);
	return config_from(&lc, config_read_file(&lc, file) == CONFIG_TRUE, file, err, errlen);
}

struct config *config_parse(const char *text, const char *name, char *err, size_t errlen)
{
	config_t lc;
	if (strstr(text, "@include") != NULL) {
		/* it would read files the text names */
		snprintf(err, errlen, "%s: @include is not allowed here", name);
		return NULL;
	}
	config_init(&lc);
	return config_from(&lc, config_read_string(&lc, text) == CONFIG_TRUE, name, err, errlen);
}

void config_free(struct config *cf)
{
	if (cf == NULL)
		return;
	for (size_t i = 0; i < cf->nlisten; i++)
		free(cf->listen[i].address);
	free(cf->listen);
	free(cf->client_networks);
	free(cf->file);
	free(cf->hostname);
	free(cf->spool);
	free(cf->socket);
	free(cf->resolver);
	free(cf->users);
	free(cf->tls_cert);
	free(cf->tls_key);
	for (size_t i = 0; i < cf->nroutes; i++) {
		struct route_conf *r = &cf->routes[i];
		free(r->name);
		for (size_t k = 0; k < r->nsources; k++) {
			free(r->sources[k].address);
			free(r->sources[k].helo);
		}
		free(r->sources);
		free(r->helo);
		free(r->auth_user);
		if (r->auth_pass)
			explicit_bzero(r->auth_pass, strlen(r->auth_pass));
		free(r->auth_pass);
	}
	free(cf->routes);
	for (size_t i = 0; i < cf->nrules; i++) {
		struct rule_conf *r = &cf->rules[i];
		for (int k = 0; k < RULE_NKEYS; k++) {
			for (size_t j = 0; j < r->nmatch[k]; j++)
				glob_free(&r->match[k][j]);
			free(r->match[k]);
		}
		free(r->via);
	}
	free(cf->rules);
	free(cf->retry.schedule);
	for (size_t i = 0; i < cf->ndkim; i++) {
		free(cf->dkim[i].domain);
		free(cf->dkim[i].selector);
		free(cf->dkim[i].key);
	}
	free(cf->dkim);
	free(cf->canary.address);
	for (size_t i = 0; i < cf->nlimits; i++) {
		for (size_t k = 0; k < cf->limits[i].nmatch; k++)
			glob_free(&cf->limits[i].match[k]);
		free(cf->limits[i].match);
		free(cf->limits[i].rates);
	}
	free(cf->limits);
	free(cf);
}
