/*
 * router: which rule of the config routes one recipient of a message, and
 * why.  The rules' globs are compiled at config load (config.c); this
 * module only reads them.
 * Contract: pure functions of (config, query): no I/O, no allocation
 * except into a caller's struct buf, no state, safe from any thread.  The
 * first rule whose every key matches wins; a key matches when any of its
 * globs matches the query's value.  A value that is unknown or absent (no
 * From: domain, no authenticated user, no class, no tenant, no scan verdict, the null sender's domain,
 * a domain without MX hosts) matches no glob, not even "*".  The null
 * sender is matched by the sender glob "<>" (and "*").  All values except
 * user are compared ASCII case-insensitively; domains are compared as
 * written (a UTF-8 domain is not converted to its xn-- form).
 */
#ifndef OUTPOST_ROUTER_H
#define OUTPOST_ROUTER_H
#include <stddef.h>

#include "buf.h"
#include "config.h"

struct route_query {
	const char *sender;       /* envelope sender, "" for <> */
	const char *from_domain;  /* From: header domain, NULL unknown/absent */
	const char *rcpt_domain;
	const char *const *mx;    /* MX host names of rcpt_domain, NULL = not resolved yet */
	size_t nmx;               /* 0 with mx != NULL: the domain has no MX host */
	const char *user;         /* authenticated user, NULL */
	const char *msg_class;    /* "" (or NULL) when none */
	const char *tenant;       /* the message's tenant, NULL when none */
	const char *scan_action;  /* the scanner's verdict ("add header", ...), NULL: not scanned */
};

enum router_verdict { ROUTER_MATCH, ROUTER_NO_RULE, ROUTER_NEED_MX };

/* The first rule that matches q.  ROUTER_NEED_MX when q->mx is NULL and the
 * first rule whose other keys match has an mx key: resolve the MX hosts
 * (a domain without MX records has its own name as implicit MX, RFC 5321
 * 5.1) and ask again.  *rule is set for ROUTER_MATCH, else NULL. */
enum router_verdict router_match(const struct config *cf, const struct route_query *q,
				 const struct rule_conf **rule);
/* How rule i alone fares against q: ROUTER_MATCH, ROUTER_NO_RULE (it does
 * not match) or ROUTER_NEED_MX; why (may be NULL) gets "matches" or the
 * first key that failed and its globs, one line without newline. */
enum router_verdict router_check_rule(const struct config *cf, size_t i, const struct route_query *q,
				      struct buf *why);
/* Human explanation, appended to out: the query, each rule in order up to
 * the one that decides with the key that failed or "matches", then the
 * route order (via) with each route's type, host, TLS and sources. */
void router_explain(const struct config *cf, const struct route_query *q, struct buf *out);
/* One line about route rc: "relay smtp.example.net:587 tls=required". */
void router_describe_route(const struct route_conf *rc, struct buf *out);
/* True when some rule has an mx key (then MX must be known before routing). */
int router_uses_mx(const struct config *cf);

#endif
