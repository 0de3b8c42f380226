/*
 * router: rule matching for every recipient; see router.h.
 * It runs once per recipient with tens of rules, so a query is lowercased
 * once (only when it has upper case) and each glob is matched by the
 * cheapest means config load found for it (glob.h).
 */
#include "delivery/router.h"

#include <stdio.h>
#include <string.h>

#include "glob.h"

#define SUBJECT_MAX 1024          /* a DNS name in presentation format fits */

/* One value of a query as the globs see it; s == NULL: unknown or absent. */
struct subject {
	const char *s;
	size_t len;
};

/* A query ready for matching: the keys but mx, lowercased. */
struct rq {
	const struct route_query *q;
	struct subject key[RULE_MX];
	char sender[SUBJECT_MAX], from[SUBJECT_MAX], rcpt[SUBJECT_MAX], cls[SUBJECT_MAX];
	char tenant[SUBJECT_MAX], spam[SUBJECT_MAX];
};

static int has_upper(const char *s)
{
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			return 1;
	return 0;
}

/* s as a subject, lowercased into buf when needed; absent when NULL or "",
 * or too long to be a name (it could not match what a glob means). */
static void subject_set(struct subject *sub, const char *s, char *buf)
{
	sub->s = NULL;
	sub->len = 0;
	if (s == NULL || *s == '\0')
		return;
	if (!has_upper(s)) {
		sub->len = strlen(s);
		sub->s = s;
		return;
	}
	long n = glob_lower(s, buf, SUBJECT_MAX);
	if (n >= 0) {
		sub->s = buf;
		sub->len = (size_t)n;
	}
}

static void rq_init(struct rq *r, const struct route_query *q)
{
	int null_sender = q->sender == NULL || *q->sender == '\0';
	r->q = q;
	subject_set(&r->key[RULE_SENDER], null_sender ? "<>" : q->sender, r->sender);
	const struct subject *snd = &r->key[RULE_SENDER];
	const char *at = snd->s && !null_sender ? strrchr(snd->s, '@') : NULL;
	r->key[RULE_SENDER_DOMAIN].s = at && at[1] ? at + 1 : NULL;
	r->key[RULE_SENDER_DOMAIN].len = at && at[1] ? snd->len - (size_t)(at + 1 - snd->s) : 0;
	subject_set(&r->key[RULE_FROM_DOMAIN], q->from_domain, r->from);
	subject_set(&r->key[RULE_RECIPIENT_DOMAIN], q->rcpt_domain, r->rcpt);
	r->key[RULE_USER].s = q->user && *q->user ? q->user : NULL;   /* case-sensitive */
	r->key[RULE_USER].len = r->key[RULE_USER].s ? strlen(q->user) : 0;
	subject_set(&r->key[RULE_CLASS], q->msg_class, r->cls);
	subject_set(&r->key[RULE_TENANT], q->tenant, r->tenant);
	subject_set(&r->key[RULE_SPAM], q->scan_action, r->spam);
}

static int globs_match(const struct glob *g, size_t n, const struct subject *sub)
{
	if (sub->s == NULL)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (glob_match(&g[i], sub->s, sub->len))
			return 1;
	return 0;
}

static int mx_match(const struct rule_conf *r, const struct route_query *q)
{
	char buf[SUBJECT_MAX];
	for (size_t i = 0; i < q->nmx; i++) {
		struct subject sub;
		subject_set(&sub, q->mx[i], buf);
		if (globs_match(r->match[RULE_MX], r->nmatch[RULE_MX], &sub))
			return 1;
	}
	return 0;
}

/* The verdict of one rule; *failed is the key that did not match. */
static enum router_verdict rule_check(const struct rule_conf *r, const struct rq *rq, enum rule_key *failed)
{
	for (int k = 0; k < RULE_MX; k++) {
		if (r->nmatch[k] && !globs_match(r->match[k], r->nmatch[k], &rq->key[k])) {
			*failed = (enum rule_key)k;
			return ROUTER_NO_RULE;
		}
	}
	if (r->nmatch[RULE_MX] == 0)
		return ROUTER_MATCH;
	if (rq->q->mx == NULL)
		return ROUTER_NEED_MX;
	*failed = RULE_MX;
	return mx_match(r, rq->q) ? ROUTER_MATCH : ROUTER_NO_RULE;
}

enum router_verdict router_match(const struct config *cf, const struct route_query *q,
				 const struct rule_conf **rule)
{
	struct rq rq;
	enum rule_key failed;
	rq_init(&rq, q);
	*rule = NULL;
	for (size_t i = 0; i < cf->nrules; i++) {
		enum router_verdict v = rule_check(&cf->rules[i], &rq, &failed);
		if (v == ROUTER_MATCH)
			*rule = &cf->rules[i];
		if (v != ROUTER_NO_RULE)
			return v;
	}
	return ROUTER_NO_RULE;
}

int router_uses_mx(const struct config *cf)
{
	for (size_t i = 0; i < cf->nrules; i++)
		if (cf->rules[i].nmatch[RULE_MX])
			return 1;
	return 0;
}

/* ---- explanations ---- */

/* s quoted, with control bytes shown as '?': it may come from outside. */
static void put_quoted(struct buf *out, const char *s)
{
	buf_putc(out, '"');
	for (; *s; s++)
		buf_putc(out, (unsigned char)*s < 0x20 || *s == 0x7f || *s == '"' ? '?' : *s);
	buf_putc(out, '"');
}

static void put_globs(struct buf *out, const struct rule_conf *r, enum rule_key k)
{
	enum { SHOWN = 8 };
	for (size_t i = 0; i < r->nmatch[k] && i < SHOWN; i++) {
		buf_puts(out, i ? ", " : "");
		put_quoted(out, r->match[k][i].text);
	}
	if (r->nmatch[k] > SHOWN)
		buf_printf(out, " and %zu more", r->nmatch[k] - SHOWN);
}

/* Why key k of r did not match (it is absent from q, or none of its globs). */
static void put_failure(struct buf *out, const struct rule_conf *r, enum rule_key k, const struct rq *rq)
{
	static const char *const absent[RULE_MX] = {
		[RULE_SENDER] = "the sender is too long to match",
		[RULE_SENDER_DOMAIN] = "the null sender has no domain",
		[RULE_FROM_DOMAIN] = "the message has no From: domain",
		[RULE_RECIPIENT_DOMAIN] = "the recipient domain is missing or too long",
		[RULE_USER] = "the message was not sent by an authenticated user",
		[RULE_CLASS] = "the message has no class (X-Outpost-Class)",
		[RULE_TENANT] = "the message has no tenant",
		[RULE_SPAM] = "the message was not scanned",
	};
	const struct route_query *q = rq->q;
	buf_printf(out, "%s: ", rule_key_name[k]);
	if (k == RULE_MX && q->nmx == 0) {
		buf_puts(out, "the recipient domain has no MX host");
		return;
	}
	if (k != RULE_MX && rq->key[k].s == NULL) {
		buf_puts(out, absent[k]);
		return;
	}
	if (k == RULE_MX) {
		buf_puts(out, "MX hosts");
		for (size_t i = 0; i < q->nmx; i++) {
			buf_puts(out, i ? ", " : " ");
			put_quoted(out, q->mx[i]);
		}
		buf_puts(out, " match");
	} else {
		put_quoted(out, rq->key[k].s);
		buf_puts(out, " matches");
	}
	buf_puts(out, " none of ");
	put_globs(out, r, k);
}

static enum router_verdict check_rule(const struct config *cf, size_t i, const struct rq *rq, struct buf *why)
{
	enum rule_key failed = RULE_SENDER;
	enum router_verdict v = rule_check(&cf->rules[i], rq, &failed);
	if (why == NULL)
		return v;
	if (v == ROUTER_MATCH)
		buf_puts(why, "matches");
	else if (v == ROUTER_NEED_MX)
		buf_puts(why, "needs the MX hosts of the recipient domain, not known yet");
	else
		put_failure(why, &cf->rules[i], failed, rq);
	return v;
}

enum router_verdict router_check_rule(const struct config *cf, size_t i, const struct route_query *q,
				      struct buf *why)
{
	struct rq rq;
	rq_init(&rq, q);
	return check_rule(cf, i, &rq, why);
}

void router_describe_route(const struct route_conf *rc, struct buf *out)
{
	if (rc->type == ROUTE_RELAY)
		buf_printf(out, "relay %s:%s", rc->host, rc->port);
	else
		buf_printf(out, "mx port %s", rc->port);
	buf_printf(out, " tls=%s", str_name_code(route_tls_names, (int)rc->tls));
	if (rc->auth_user)
		buf_puts(out, " auth");
	for (size_t i = 0; i < rc->nsources; i++)
		buf_printf(out, "%s%s (helo %s, weight %u)", i ? ", " : " source ", rc->sources[i].address,
			   rc->sources[i].helo, rc->sources[i].weight);
}

static void put_query(struct buf *out, const struct route_query *q)
{
	buf_puts(out, "query: sender ");
	put_quoted(out, q->sender && *q->sender ? q->sender : "<>");
	buf_puts(out, ", recipient domain ");
	put_quoted(out, q->rcpt_domain ? q->rcpt_domain : "");
	buf_puts(out, ", from_domain ");
	put_quoted(out, q->from_domain ? q->from_domain : "");
	buf_puts(out, ", user ");
	put_quoted(out, q->user ? q->user : "");
	buf_puts(out, ", class ");
	put_quoted(out, q->msg_class ? q->msg_class : "");
	if (q->tenant) {
		buf_puts(out, ", tenant ");
		put_quoted(out, q->tenant);
	}
	if (q->scan_action) {
		buf_puts(out, ", spam ");
		put_quoted(out, q->scan_action);
	}
	if (q->mx == NULL) {
		buf_puts(out, ", MX hosts not resolved\n");
		return;
	}
	buf_puts(out, ", MX hosts");
	for (size_t i = 0; i < q->nmx; i++) {
		buf_puts(out, i ? ", " : " ");
		put_quoted(out, q->mx[i]);
	}
	buf_puts(out, q->nmx ? "\n" : " none\n");
}

void router_explain(const struct config *cf, const struct route_query *q, struct buf *out)
{
	struct rq rq;
	enum router_verdict v = ROUTER_NO_RULE;
	size_t i;
	rq_init(&rq, q);
	put_query(out, q);
	for (i = 0; i < cf->nrules && v == ROUTER_NO_RULE; i++) {
		buf_printf(out, "rule %zu (line %d): ", i + 1, cf->rules[i].line);
		v = check_rule(cf, i, &rq, out);
		buf_putc(out, '\n');
	}
	if (v == ROUTER_NO_RULE) {
		buf_puts(out, "no rule matches: the recipient is not delivered (4.3.5, it stays queued)\n");
		return;
	}
	if (v == ROUTER_NEED_MX) {
		buf_printf(out, "undecided: rule %zu needs the MX hosts\n", i);
		return;
	}
	const struct rule_conf *r = &cf->rules[i - 1];
	buf_printf(out, "rule %zu (line %d) routes it via, in failover order:\n", i, r->line);
	for (size_t k = 0; k < r->nvia; k++) {
		const struct route_conf *rc = &cf->routes[r->via[k]];
		buf_printf(out, "  %zu. %s: ", k + 1, rc->name);
		router_describe_route(rc, out);
		buf_putc(out, '\n');
	}
}

