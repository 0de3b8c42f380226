/*
 * router_bench: the cost of rule matching per recipient.
 *
 *     router_bench [-n QUERIES]
 *
 * Builds a config with 5 routes and 50 rules that use every match key
 * (sender, sender_domain, from_domain, recipient_domain lists, user, class,
 * mx), literal, "*.suffix", "prefix*" and general globs, the last rule a
 * catch-all; then times router_match() over QUERIES queries (default
 * 1,000,000) cycling through 1,000 prebuilt ones: a mix that matches rules
 * all over the list, and separately queries that fall through to the
 * catch-all (every rule tested: the worst case), and the same queries
 * against a one-rule config (the single-route baseline).  Prints one
 * key=value line per case: queries= ns_per_query= and the spread of the
 * matching rule.  Not a test: it asserts nothing about time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "config.h"
#include "delivery/router.h"

#define NQ 1000

static const char *const mx_google[] = { "aspmx.l.google.com", "alt1.aspmx.l.google.com" };
static const char *const mx_outlook[] = { "example-com.mail.protection.outlook.com" };
static const char *const mx_other[] = { "mx1.mail.example.net", "mx2.mail.example.net" };

static void add_rule(struct buf *b, int i)
{
	static const char *const via[] = { "\"ses\", \"direct\"", "\"sendgrid\"", "\"mailgun\", \"ses\"",
					   "\"direct\"", "\"pool\", \"sendgrid\"" };
	const char *v = via[i % 5];
	switch (i % 7) {
	case 0: buf_printf(b, "{ sender = [ \"*@news%d.example.com\", \"bounce-*@app%d.example.com\" ]; via = [ %s ]; },\n",
			   i, i, v); break;
	case 1: buf_printf(b, "{ sender_domain = [ \"tenant%d.example.com\", \"*.tenant%d.example.com\" ]; via = [ %s ]; },\n",
			   i, i, v); break;
	case 2: buf_printf(b, "{ recipient_domain = [ \"customer%d.example.org\", \"*.customer%d.example.org\", "
			   "\"partner%d.example.net\" ]; via = [ %s ]; },\n", i, i, i, v); break;
	case 3: buf_printf(b, "{ from_domain = \"brand%d.example.com\"; class = \"bulk\"; via = [ %s ]; },\n", i, v); break;
	case 4: buf_printf(b, "{ user = \"tenant-%d\"; via = [ %s ]; },\n", i, v); break;
	case 5: buf_printf(b, "{ sender_domain = \"shop%d.example.com\"; mx = [ \"*.google.com\", \"*.googlemail.com\" ]; "
			   "via = [ %s ]; },\n", i, v); break;
	case 6: buf_printf(b, "{ recipient_domain = \"r%d-[a-m]*.example.org\"; mx = \"*.protection.outlook.com\"; "
			   "via = [ %s ]; },\n", i, v); break;
	}
}

static struct config *make_config(int nrules)
{
	struct buf b = BUF_INIT;
	char err[512];
	buf_puts(&b, "routes = {\n"
		 "  direct = { type = \"mx\"; };\n"
		 "  pool = { type = \"mx\"; source = ( \"192.0.2.1\", \"192.0.2.2\" ); };\n"
		 "  ses = { type = \"relay\"; host = \"email-smtp.us-east-1.amazonaws.com:587\"; };\n"
		 "  sendgrid = { type = \"relay\"; host = \"smtp.sendgrid.net:587\"; };\n"
		 "  mailgun = { type = \"relay\"; host = \"smtp.mailgun.org:587\"; };\n};\nrules = (\n");
	for (int i = 0; i + 1 < nrules; i++)
		add_rule(&b, i);
	buf_puts(&b, "{ via = [ \"direct\", \"ses\" ]; } );\n");
	struct config *cf = config_parse(b.data, "router_bench.conf", err, sizeof(err));
	buf_free(&b);
	if (cf == NULL) {
		fprintf(stderr, "router_bench: %s\n", err);
		exit(2);
	}
	return cf;
}

struct qstore {
	struct route_query q[NQ];
	char text[NQ][4][96];
};

/* Queries: with mix set, each aimed at a rule (1 in 4 at none); else none
 * match before the catch-all.  All have their MX hosts. */
static void make_queries(struct qstore *s, int mix)
{
	for (int i = 0; i < NQ; i++) {
		struct route_query *q = &s->q[i];
		int r = mix && i % 4 ? (i * 7919) % 49 : -1;
		char *snd = s->text[i][0], *from = s->text[i][1], *rcpt = s->text[i][2], *user = s->text[i][3];
		snprintf(snd, 96, "User%d@Mail.Example.com", i);
		snprintf(from, 96, "example.com");
		snprintf(rcpt, 96, "r%d-x%d.example.org", i, i);
		snprintf(user, 96, "someone");
		q->mx = mx_other;
		q->nmx = 2;
		q->msg_class = "";
		switch (r < 0 ? -1 : r % 7) {
		case 0: snprintf(snd, 96, "bounce-%d@app%d.example.com", i, r); break;
		case 1: snprintf(snd, 96, "orders@eu.tenant%d.example.com", r); break;
		case 2: snprintf(rcpt, 96, "mail.customer%d.example.org", r); break;
		case 3: snprintf(from, 96, "brand%d.example.com", r); q->msg_class = "bulk"; break;
		case 4: snprintf(user, 96, "tenant-%d", r); break;
		case 5: snprintf(snd, 96, "a@shop%d.example.com", r); q->mx = mx_google; break;
		case 6: snprintf(rcpt, 96, "r%d-b%d.example.org", r, i); q->mx = mx_outlook; q->nmx = 1; break;
		}
		q->sender = snd;
		q->from_domain = from;
		q->rcpt_domain = rcpt;
		q->user = user;
	}
}

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void run(const char *name, const struct config *cf, const struct qstore *s, long n)
{
	size_t *hits = calloc(cf->nrules + 1, sizeof(size_t));
	const struct rule_conf *r;
	double t0 = now_ns();
	for (long i = 0; i < n; i++) {
		if (router_match(cf, &s->q[i % NQ], &r) != ROUTER_MATCH)
			r = NULL;
		hits[r ? (size_t)(r - cf->rules) : cf->nrules]++;
	}
	double ns = (now_ns() - t0) / (double)n;
	size_t distinct = 0;
	for (size_t i = 0; i < cf->nrules; i++)
		distinct += hits[i] != 0;
	printf("case=%s rules=%zu routes=%zu queries=%ld ns_per_query=%.1f rules_hit=%zu catch_all=%.0f%% unrouted=%zu\n",
	       name, cf->nrules, cf->nroutes, n, ns, distinct,
	       100.0 * (double)hits[cf->nrules - 1] / (double)n, hits[cf->nrules]);
	free(hits);
}

int main(int argc, char **argv)
{
	long n = 1000000;
	if (argc == 3 && strcmp(argv[1], "-n") == 0)
		n = atol(argv[2]);
	else if (argc != 1) {
		fprintf(stderr, "usage: router_bench [-n QUERIES]\n");
		return 2;
	}
	if (n < 1)
		n = 1;
	struct config *cf = make_config(50), *one = make_config(1);
	static struct qstore mix, worst;
	make_queries(&mix, 1);
	make_queries(&worst, 0);
	run("mix", cf, &mix, n);
	run("worst", cf, &worst, n);
	run("single_rule", one, &mix, n);
	config_free(cf);
	config_free(one);
	return 0;
}
