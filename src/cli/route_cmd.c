/*
 * route_cmd: `outpost route explain --sender A --rcpt B [--from-header C]
 * [--user U] [--class C] [--resolver IP@PORT] [--json]`.
 * Contract: says which rule of the config routes a recipient, why each
 * earlier rule did not, and the ordered route list, as the daemon would
 * decide it (src/delivery/router.h).  When a rule has an mx key, the
 * recipient domain's MX hosts are looked up first (the config's resolver
 * unless --resolver; no MX records: the domain itself, RFC 5321 5.1).
 * Exit status 0 when a rule matches, 1 when none does (or it needs MX hosts
 * that could not be looked up), 2 for usage and config errors.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <jansson.h>

#include "address.h"
#include "cli/commands.h"
#include "cli/route_health.h"
#include "config.h"
#include "header.h"
#include "delivery/provider.h"
#include "delivery/router.h"
#include "dns/dns.h"
#include "dns/resolver.h"
#include "xmalloc.h"

struct route_opts {
	const char *sender, *rcpt, *from_header, *user, *msg_class, *resolver, *tenant, *spam;
	int json;
};

/* The query and the strings it points to. */
struct route_subject {
	struct route_query q;
	char sender[ADDR_LOCAL_MAX + ADDR_DOMAIN_MAX + 2];
	char rcpt_domain[ADDR_DOMAIN_MAX + 1];
	char from_domain[ADDR_DOMAIN_MAX + 1];
	char **mx;                    /* owned; NULL: not looked up or failed */
	size_t nmx;
	char mx_note[256];            /* what the MX lookup found, for the reader */
};

struct mx_answer {
	struct event_base *base;
	struct route_subject *rs;
};

static int route_usage(void)
{
	fprintf(stderr, "usage: outpost [-c FILE] route explain --sender ADDR --rcpt ADDR\n"
		"              [--from-header 'Name <addr>'] [--user NAME] [--class CLASS]\n"
		"              [--tenant NAME] [--spam 'add header']\n"
		"              [--resolver IP@PORT] [--json]\n");
	return 2;
}

/* Options after "explain"; 0, or 2 for a usage error. */
static int route_parse_opts(int argc, char **argv, struct route_opts *o)
{
	static const struct option longopts[] = {
		{ "sender", required_argument, NULL, 's' },
		{ "rcpt", required_argument, NULL, 'r' },
		{ "from-header", required_argument, NULL, 'f' },
		{ "user", required_argument, NULL, 'u' },
		{ "class", required_argument, NULL, 'c' },
		{ "tenant", required_argument, NULL, 't' },
		{ "spam", required_argument, NULL, 'S' },
		{ "resolver", required_argument, NULL, 'R' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;
	memset(o, 0, sizeof(*o));
	optind = 0;                     /* full reset: main may have used getopt */
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
		switch (ch) {
		case 's': o->sender = optarg; break;
		case 'r': o->rcpt = optarg; break;
		case 'f': o->from_header = optarg; break;
		case 'u': o->user = optarg; break;
		case 'c': o->msg_class = optarg; break;
		case 't': o->tenant = optarg; break;
		case 'S': o->spam = optarg; break;
		case 'R': o->resolver = optarg; break;
		case 'j': o->json = 1; break;
		default:
			fprintf(stderr, "outpost: route: unknown option or missing value: %s\n", argv[optind - 1]);
			return route_usage();
		}
	}
	if (optind != argc || o->sender == NULL || o->rcpt == NULL)
		return route_usage();
	return 0;
}

/* Fills rs from the options as the daemon would see the message; 0, or -1
 * after printing the reason. */
static int route_subject_make(const struct route_opts *o, struct route_subject *rs)
{
	struct address a;
	memset(rs, 0, sizeof(*rs));
	if (*o->sender && strcmp(o->sender, "<>") != 0) {
		if (address_parse(o->sender, strlen(o->sender), ADDR_UTF8, &a) != NULL ||
		    address_format(&a, rs->sender, sizeof(rs->sender)) < 0) {
			fprintf(stderr, "outpost: route: --sender: not an address: %s\n", o->sender);
			return -1;
		}
	}
	if (address_parse(o->rcpt, strlen(o->rcpt), ADDR_UTF8, &a) != NULL || a.literal) {
		fprintf(stderr, "outpost: route: --rcpt: not an address with a domain: %s\n", o->rcpt);
		return -1;
	}
	memcpy(rs->rcpt_domain, a.domain, sizeof(rs->rcpt_domain));
	if (o->from_header) {
		/* the value as it would stand in a message */
		char *msg = xasprintf("From: %s\r\n\r\n", o->from_header);
		int ok = header_from_domain(msg, strlen(msg), rs->from_domain, sizeof(rs->from_domain));
		free(msg);
		if (!ok) {
			fprintf(stderr, "outpost: route: --from-header: no address with a domain in: %s\n",
				o->from_header);
			return -1;
		}
	}
	rs->q.sender = rs->sender;
	rs->q.rcpt_domain = rs->rcpt_domain;
	rs->q.from_domain = o->from_header ? rs->from_domain : NULL;
	rs->q.user = o->user && *o->user ? o->user : NULL;
	rs->q.msg_class = o->msg_class ? o->msg_class : "";
	rs->q.tenant = o->tenant && *o->tenant ? o->tenant : NULL;
	rs->q.scan_action = o->spam && *o->spam ? o->spam : NULL;
	return 0;
}

static void add_mx(struct route_subject *rs, const char *host)
{
	rs->mx = xreallocarray(rs->mx, rs->nmx + 1, sizeof(char *));
	rs->mx[rs->nmx++] = xstrdup(host);
}

static void on_mx(const struct dns_result *res, void *arg)
{
	struct mx_answer *ans = arg;
	struct route_subject *rs = ans->rs;
	event_base_loopbreak(ans->base);
	if (res->rcode == DNS_RCODE_NXDOMAIN) {
		rs->mx = xcalloc(1, sizeof(char *));
		snprintf(rs->mx_note, sizeof(rs->mx_note), "the domain does not exist (NXDOMAIN)");
		return;
	}
	if (res->rcode != DNS_RCODE_NOERROR) {
		snprintf(rs->mx_note, sizeof(rs->mx_note), "the MX lookup failed: %s",
			 res->why ? res->why : "SERVFAIL");
		return;
	}
	rs->mx = xcalloc(1, sizeof(char *));
	if (res->n == 0) {
		add_mx(rs, rs->rcpt_domain);
		snprintf(rs->mx_note, sizeof(rs->mx_note), "no MX records: the domain itself is its MX host");
		return;
	}
	size_t n;
	char **hosts = dns_mx_hosts(res->mx, res->n, &n);
	for (size_t i = 0; i < n; i++)
		add_mx(rs, hosts[i]);
	dns_hosts_free(hosts);
	if (rs->nmx == 0)
		snprintf(rs->mx_note, sizeof(rs->mx_note), "null MX: the domain accepts no mail");
}

/* Looks up the MX hosts of rs's recipient domain into rs->mx; 0, or -1
 * after printing why no lookup could start. */
static int route_lookup_mx(struct route_subject *rs, const char *spec, unsigned timeout_ms)
{
	char err[512];
	struct mx_answer ans = { event_base_new(), rs };
	if (ans.base == NULL) {
		fprintf(stderr, "outpost: route: cannot create an event loop\n");
		return -1;
	}
	struct resolver *r = resolver_new(ans.base, spec, timeout_ms, err, sizeof(err));
	if (r == NULL) {
		fprintf(stderr, "outpost: route: %s\n", err);
		event_base_free(ans.base);
		return -1;
	}
	resolver_query(r, rs->rcpt_domain, DNS_TYPE_MX, on_mx, &ans);
	event_base_dispatch(ans.base);
	resolver_free(r);
	event_base_free(ans.base);
	rs->q.mx = (const char *const *)rs->mx;
	rs->q.nmx = rs->nmx;
	return 0;
}

static json_t *json_str_or_null(const char *s)
{
	return s && *s ? json_string(s) : json_null();
}

static json_t *route_json(const struct route_conf *rc)
{
	json_t *sources = json_array();
	for (size_t i = 0; i < rc->nsources; i++)
		json_array_append_new(sources, json_pack("{s:s, s:s, s:I}", "address", rc->sources[i].address,
							 "helo", rc->sources[i].helo,
							 "weight", (json_int_t)rc->sources[i].weight));
	return json_pack("{s:s, s:s, s:o, s:s, s:s, s:o}", "name", rc->name,
			 "type", str_name_code(route_type_names, (int)rc->type),
			 "host", rc->type == ROUTE_RELAY ? json_string(rc->host) : json_null(),
			 "port", rc->port, "tls", str_name_code(route_tls_names, (int)rc->tls), "sources", sources);
}

/* One JSON object; the verdict through *v. */
static json_t *explain_json(const struct config *cf, const struct route_subject *rs, enum router_verdict *v)
{
	const struct route_query *q = &rs->q;
	json_t *mx = q->mx ? json_array() : json_null();
	for (size_t i = 0; q->mx && i < q->nmx; i++)
		json_array_append_new(mx, json_string(q->mx[i]));
	json_t *rules = json_array(), *via = json_array(), *match = json_null();
	static const char *const result[] = { "match", "no match", "needs mx" };
	*v = ROUTER_NO_RULE;
	for (size_t i = 0; i < cf->nrules && *v == ROUTER_NO_RULE; i++) {
		struct buf why = BUF_INIT;
		*v = router_check_rule(cf, i, q, &why);
		json_array_append_new(rules, json_pack("{s:I, s:i, s:s, s:s}", "rule", (json_int_t)i + 1,
						       "line", cf->rules[i].line, "result", result[*v],
						       "why", why.data ? why.data : ""));
		buf_free(&why);
		if (*v != ROUTER_MATCH)
			continue;
		json_decref(match);
		match = json_pack("{s:I, s:i}", "rule", (json_int_t)i + 1, "line", cf->rules[i].line);
		for (size_t k = 0; k < cf->rules[i].nvia; k++)
			json_array_append_new(via, route_json(&cf->routes[cf->rules[i].via[k]]));
	}
	json_t *query = json_pack("{s:s, s:s, s:o, s:o, s:s, s:o, s:s}", "sender", q->sender,
				  "rcpt_domain", q->rcpt_domain, "from_domain", json_str_or_null(q->from_domain),
				  "user", json_str_or_null(q->user), "class", q->msg_class, "mx", mx,
				  "mx_note", rs->mx_note);
	return json_pack("{s:o, s:o, s:o, s:o}", "query", query, "rules", rules, "match", match, "via", via);
}

/* The health of the matching rule's routes in order, for the
 * recipient's destination class; NULL when no rule matches. */
static json_t *via_health(const struct config *cf, const struct route_subject *rs, int *live)
{
	const struct rule_conf *r;
	char dclass[64];
	if (router_match(cf, &rs->q, &r) != ROUTER_MATCH || r == NULL)
		return NULL;
	provider_of(rs->q.mx && rs->q.nmx ? rs->q.mx[0] : rs->q.rcpt_domain, dclass, sizeof(dclass));
	json_t *doc = route_health_doc(cf), *list = json_array();
	*live = json_is_true(json_object_get(doc, "live"));
	for (size_t k = 0; k < r->nvia; k++)
		json_array_append_new(list, route_health_of(doc, cf->routes[r->via[k]].name, dclass));
	json_decref(doc);
	return list;
}

static int explain(const struct config *cf, const struct route_subject *rs, int json)
{
	enum router_verdict v;
	int live = 0;
	json_t *health = via_health(cf, rs, &live);
	if (json) {
		json_t *o = explain_json(cf, rs, &v);
		if (o && health) {
			json_object_set(o, "health", health);
			json_object_set_new(o, "health_live", json_boolean(live));
		}
		json_decref(health);
		char *text = o ? json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
		json_decref(o);
		if (text == NULL) {
			fprintf(stderr, "outpost: route: cannot make the JSON answer\n");
			return 2;
		}
		puts(text);
		free(text);
		return v == ROUTER_MATCH ? 0 : 1;
	}
	struct buf out = BUF_INIT;
	const struct rule_conf *r;
	v = router_match(cf, &rs->q, &r);
	if (rs->mx_note[0])
		printf("mx: %s\n", rs->mx_note);
	router_explain(cf, &rs->q, &out);
	fputs(out.data ? out.data : "", stdout);
	buf_free(&out);
	if (health)
		route_health_print(health, live);
	json_decref(health);
	return v == ROUTER_MATCH ? 0 : 1;
}

int cmd_route(int argc, char **argv, const char *config_file)
{
	struct route_opts o;
	struct route_subject rs;
	char err[1024];
	if (argc < 2 || strcmp(argv[1], "explain") != 0)
		return route_usage();
	int rc = route_parse_opts(argc - 1, argv + 1, &o);
	if (rc != 0)
		return rc;
	struct config *cf = config_load(config_file, err, sizeof(err));
	if (cf == NULL) {
		fprintf(stderr, "outpost: route: %s\n", err);
		return 2;
	}
	if (route_subject_make(&o, &rs) < 0) {
		config_free(cf);
		return 2;
	}
	rc = 2;
	if (!router_uses_mx(cf) ||
	    route_lookup_mx(&rs, o.resolver ? o.resolver : cf->resolver, cf->delivery.dns_timeout_ms) == 0)
		rc = explain(cf, &rs, o.json);
	for (size_t i = 0; i < rs.nmx; i++)
		free(rs.mx[i]);
	free(rs.mx);
	config_free(cf);
	return rc;
}
