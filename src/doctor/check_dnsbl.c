/*
 * check_dnsbl: each source address against the IP blocklists, the domain
 * against the domain blocklists, and each address against the DNSWL
 * allow-list, all queries at once.  A list answers an A record under
 * 127.0.0.0/8 for a listing (decoded where the list documents its codes);
 * NXDOMAIN or no record is "not listed".  127.255.255.252/254/255, other
 * answers outside 127/8, and a list's own "refused" code mean the list
 * refuses this resolver (public resolvers, too many queries): a warning
 * that the list could not be tested, never a listing.
 * Before that (check_dnsbl_test_points, in the doctor's first round) each
 * list's RFC 5782 test points are asked: 127.0.0.2 (for domain lists the
 * name TEST, or the one the list documents) must answer listed, 127.0.0.1
 * (INVALID) must not.  A list that fails them is "could not test: why"
 * for every subject: a resolver that answers NXDOMAIN for everything (or
 * a list that is gone) would otherwise say "not listed".  An answer with
 * several codes (ZEN: SBL, XBL and PBL at once) reports every code.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "buf.h"
#include "dns/dns.h"
#include "doctor/doctor.h"
#include "xmalloc.h"

#define CHECK "dnsbl"

enum list_kind { LIST_IP, LIST_DOMAIN, LIST_ALLOW };
enum decode { DEC_ZEN, DEC_DBL, DEC_SURBL, DEC_DNSWL, DEC_PLAIN };

struct dnsbl {
	const char *zone, *name;
	enum list_kind kind;
	enum decode decode;
	enum doctor_status listed;       /* the status of a listing */
	const char *delist;
	const char *test_listed;         /* domain lists: the RFC 5782 test point, NULL: "test" */
};

static const struct dnsbl lists[] = {
	{ "zen.spamhaus.org", "Spamhaus ZEN", LIST_IP, DEC_ZEN, DOCTOR_FAIL,
	  "https://check.spamhaus.org/", NULL },
	{ "b.barracudacentral.org", "Barracuda", LIST_IP, DEC_PLAIN, DOCTOR_FAIL,
	  "https://www.barracudacentral.org/rbl/removal-request", NULL },
	{ "bl.spamcop.net", "SpamCop", LIST_IP, DEC_PLAIN, DOCTOR_FAIL,
	  "listings expire 24 h after the last report: https://www.spamcop.net/bl.shtml", NULL },
	{ "dnsbl-1.uceprotect.net", "UCEPROTECT level 1", LIST_IP, DEC_PLAIN, DOCTOR_FAIL,
	  "expires 7 days after the last spam: https://www.uceprotect.net/en/rblcheck.php", NULL },
	/* levels 2 and 3 list whole networks and ASNs, few receivers use them */
	{ "dnsbl-2.uceprotect.net", "UCEPROTECT level 2", LIST_IP, DEC_PLAIN, DOCTOR_WARN,
	  "the provider's network is listed: ask the provider, or send through a relay route", NULL },
	{ "dnsbl-3.uceprotect.net", "UCEPROTECT level 3", LIST_IP, DEC_PLAIN, DOCTOR_WARN,
	  "the provider's ASN is listed: ask the provider, or send through a relay route", NULL },
	{ "psbl.surriel.com", "PSBL", LIST_IP, DEC_PLAIN, DOCTOR_FAIL, "https://psbl.org/remove", NULL },
	{ "bl.mailspike.net", "Mailspike", LIST_IP, DEC_PLAIN, DOCTOR_FAIL,
	  "https://mailspike.io/ip_verify", NULL },
	{ "list.dnswl.org", "DNSWL", LIST_ALLOW, DEC_DNSWL, DOCTOR_PASS, NULL, NULL },
	{ "dbl.spamhaus.org", "Spamhaus DBL", LIST_DOMAIN, DEC_DBL, DOCTOR_FAIL,
	  "https://check.spamhaus.org/", "dbltest.com" },
	{ "multi.surbl.org", "SURBL", LIST_DOMAIN, DEC_SURBL, DOCTOR_FAIL,
	  "https://www.surbl.org/surbl-analysis", "test.surbl.org" },
};
#define NLISTS (sizeof(lists) / sizeof(lists[0]))
_Static_assert(NLISTS <= DOCTOR_MAX_LISTS, "doctor.h: DOCTOR_MAX_LISTS too small");

int doctor_ip_list_known(const char *name)
{
	for (size_t i = 0; i < NLISTS; i++)
		if (lists[i].kind == LIST_IP && strcmp(lists[i].name, name) == 0)
			return 1;
	return 0;
}

/* Everything asked about one subject (an address or the domain). */
struct subject {
	struct doctor *d;
	const char *name;                /* for findings; the doctor's or a source's */
	size_t waiting;
	unsigned char clean[NLISTS];     /* lists that do not list it (answers come in any order:
					  * the finding names them in the order of lists[]) */
	size_t nclean;
};

struct bl_query {
	struct subject *s;
	const struct dnsbl *list;
};

/* 127.0.0.x decoded for the lists that document their codes; NULL for
 * "refused" codes.  Sets *out to the meaning. */
static int decode_code(struct doctor *d, const struct dnsbl *l, const unsigned char *a,
		       const char **out)
{
	if (a[0] != 127 || (a[1] == 255 && a[2] == 255)) {
		*out = doctor_str(d, "answered %u.%u.%u.%u", a[0], a[1], a[2], a[3]);
		return -1;
	}
	switch (l->decode) {
	case DEC_ZEN:
		if (a[1] != 0 || a[2] != 0)
			break;
		if (a[3] == 2 || a[3] == 9)
			*out = doctor_str(d, "127.0.0.%u: SBL%s (spam source)", a[3],
					  a[3] == 9 ? " DROP" : "");
		else if (a[3] == 3)
			*out = doctor_str(d, "127.0.0.3: SBL CSS (snowshoe spam)");
		else if (a[3] >= 4 && a[3] <= 7)
			*out = doctor_str(d, "127.0.0.%u: XBL (infected or exploited host)", a[3]);
		else if (a[3] == 10 || a[3] == 11)
			*out = doctor_str(d, "127.0.0.%u: PBL (%s: an address range that should "
					  "not send mail straight to MX hosts)", a[3],
					  a[3] == 10 ? "listed by the provider" : "listed by Spamhaus");
		else
			break;
		return 0;
	case DEC_DBL:
		if (a[1] == 0 && a[2] == 1 && a[3] == 255) {
			*out = doctor_str(d, "127.0.1.255: query refused");
			return -1;
		}
		if (a[1] == 0 && a[2] == 1) {
			*out = doctor_str(d, "127.0.1.%u: %s", a[3],
					  a[3] >= 100 ? "abused legitimate domain" : a[3] == 4 ? "phishing" :
					  a[3] == 5 ? "malware" : a[3] == 6 ? "botnet C&C" : "spam domain");
			return 0;
		}
		break;
	case DEC_SURBL:
		if (a[1] == 0 && a[2] == 0 && a[3] == 1) {
			*out = doctor_str(d, "127.0.0.1: query refused");
			return -1;
		}
		*out = doctor_str(d, "127.0.0.%u:%s%s%s%s", a[3], a[3] & 8 ? " phishing" : "",
				  a[3] & 16 ? " malware" : "", a[3] & 64 ? " abuse" : "",
				  a[3] & 128 ? " cracked" : "");
		return 0;
	case DEC_DNSWL:
		if (a[3] == 255) {
			*out = doctor_str(d, "127.0.%u.255: query refused", a[2]);
			return -1;
		}
		*out = doctor_str(d, "127.0.%u.%u: trust %s", a[2], a[3],
				  a[3] == 3 ? "high" : a[3] == 2 ? "medium" : a[3] == 1 ? "low" : "none");
		return 0;
	case DEC_PLAIN:
		break;
	}
	*out = doctor_str(d, "%u.%u.%u.%u: listed", a[0], a[1], a[2], a[3]);
	return 0;
}

/* Every code of an answer, decoded and joined with "; "; -1 (and the
 * refusing code in *out) when any code says the query was refused. */
static int decode_all(struct doctor *d, const struct dnsbl *l, const struct dns_result *res,
		      const char **out)
{
	struct buf all = BUF_INIT;
	const char *code;
	for (size_t i = 0; i < res->n; i++) {
		const struct dns_addr *a = &res->addr[i];
		if (a->family != AF_INET || decode_code(d, l, a->a, &code) < 0) {
			*out = a->family != AF_INET ? doctor_str(d, "an IPv6 answer") : code;
			buf_free(&all);
			return -1;
		}
		buf_printf(&all, "%s%s", all.len ? "; " : "", code);
	}
	*out = doctor_str(d, "%s", all.len ? all.data : "");
	buf_free(&all);
	return 0;
}

static void subject_done(struct subject *s)
{
	if (s->nclean > 0) {
		struct buf names = BUF_INIT;
		size_t n = 0;
		for (size_t i = 0; i < NLISTS; i++)
			if (s->clean[i])
				buf_printf(&names, "%s%s", n++ ? ", " : "", lists[i].name);
		const char *ev = doctor_str(s->d, "not listed on %s", names.data);
		doctor_add(s->d, CHECK, DOCTOR_PASS, s->name, ev, NULL);
		buf_free(&names);
	}
	free(s);
}

/* ZEN listing the address on the PBL alone (a routing matter, not spam). */
static int pbl_only(const struct dnsbl *l, const struct dns_result *res)
{
	if (l->decode != DEC_ZEN || res->n == 0)
		return 0;
	for (size_t i = 0; i < res->n; i++)
		if (res->addr[i].family != AF_INET || res->addr[i].a[3] < 10 || res->addr[i].a[3] > 11)
			return 0;
	return 1;
}

/* The monitor hears every IP list's answer about a source, and every
 * domain list's about a sending domain. */
static void tell_listing(struct doctor *d, const struct dnsbl *l, const char *ip,
			 enum doctor_listing st, int pbl, const char *why)
{
	if (d->on_listing && l->kind == LIST_IP)
		d->on_listing(d->listing_arg, ip, l->name, st, pbl, why);
	else if (d->on_domain_listing && l->kind == LIST_DOMAIN)
		d->on_domain_listing(d->listing_arg, ip, l->name, st, pbl, why);
}

static void report_answer(struct subject *s, const struct dnsbl *l, const struct dns_result *res)
{
	struct doctor *d = s->d;
	const char *ev, *code, *subj;
	subj = doctor_str(d, "%s on %s", s->name, l->name);
	int absent = doctor_dns_absent(res);
	if (absent == 1 || (absent == 0 && res->addr == NULL)) {
		if (l->kind != LIST_ALLOW) {
			s->clean[l - lists] = 1;
			s->nclean++;
		}
		tell_listing(d, l, s->name, DOCTOR_CLEAN, 0, "not listed");
		return;
	}
	if (absent < 0) {
		ev = doctor_str(d, "A %s: %s", res->qname, doctor_dns_outcome(d, res));
		tell_listing(d, l, s->name, DOCTOR_LIST_UNTESTED, 0, ev);
		doctor_add(d, CHECK, DOCTOR_WARN, subj, ev, "could not test: run again later");
		return;
	}
	if (decode_all(d, l, res, &code) < 0) {
		ev = doctor_str(d, "A %s: %s: could not test, this resolver is refused",
				res->qname, code);
		tell_listing(d, l, s->name, DOCTOR_LIST_UNTESTED, 0, ev);
		doctor_add(d, CHECK, DOCTOR_WARN, subj, ev,
			   "use a resolver of your own, not a public one (`--resolver 127.0.0.1@53` "
			   "with a local unbound): the list refuses queries from this one");
		return;
	}
	ev = doctor_str(d, "A %s: %s", res->qname, code);
	tell_listing(d, l, s->name, DOCTOR_LISTED, pbl_only(l, res), ev);
	if (l->kind == LIST_ALLOW)
		doctor_add(d, CHECK, DOCTOR_PASS, subj, ev, NULL);
	else
		doctor_add(d, CHECK, l->listed, subj, ev, l->delist);
}

static void on_answer(struct doctor *d, const struct dns_result *res, void *arg)
{
	struct bl_query *q = arg;
	struct subject *s = q->s;
	(void)d;
	report_answer(s, q->list, res);
	free(q);
	if (--s->waiting == 0)
		subject_done(s);
}

/* One subject against every list of kinds (a bit mask of 1 << kind);
 * prefix is the reversed address or the domain. */
static void query_lists(struct doctor *d, const char *name, const char *prefix, unsigned kinds,
			int ipv6)
{
	char qname[DNS_NAME_TEXT_MAX + 64];
	struct subject *s = xcalloc(1, sizeof(*s));
	s->d = d;
	s->name = name;
	s->waiting = 1;                 /* held until every query is started */
	for (size_t i = 0; i < NLISTS; i++) {
		if (!(kinds & (1u << lists[i].kind)))
			continue;
		/* of these lists only Spamhaus answers for IPv6 */
		if (ipv6 && strcmp(lists[i].zone, "zen.spamhaus.org") != 0)
			continue;
		const char *why = d->list_untested[i];   /* its test points failed */
		if (why == NULL && d->list_budget && d->list_queries[i] >= d->list_budget)
			why = doctor_str(d, "over the monitor's budget of %u queries per list and run",
					 d->list_budget);
		if (why) {              /* no answer would mean anything, or none may be asked */
			doctor_untested(d, CHECK, doctor_str(d, "%s on %s", name, lists[i].name), why);
			tell_listing(d, &lists[i], name, DOCTOR_LIST_UNTESTED, 0, why);
			continue;
		}
		d->list_queries[i]++;
		int n = snprintf(qname, sizeof(qname), "%s.%s", prefix, lists[i].zone);
		if (n < 0 || (size_t)n >= sizeof(qname))
			continue;
		struct bl_query *q = xmalloc(sizeof(*q));
		q->s = s;
		q->list = &lists[i];
		s->waiting++;
		doctor_lookup(d, qname, DNS_TYPE_A, on_answer, q);
	}
	if (--s->waiting == 0)
		subject_done(s);
}

/* One test point of one list: want_listed says which answer is right. */
struct test_point {
	const struct dnsbl *list;
	int want_listed;
};

static void on_test_point(struct doctor *d, const struct dns_result *res, void *arg)
{
	struct test_point *t = arg;
	const struct dnsbl *l = t->list;
	const char *code = NULL, **why = &d->list_untested[l - lists];
	int absent = doctor_dns_absent(res);
	int listed = absent == 0 && res->addr && decode_all(d, l, res, &code) == 0;
	if (*why == NULL && absent < 0)
		*why = doctor_str(d, "the list's test point A %s: %s", res->qname,
				  doctor_dns_outcome(d, res));
	else if (*why == NULL && t->want_listed && !listed)
		*why = doctor_str(d, "the list's test point A %s must answer listed (RFC 5782) "
				  "but answered %s: this resolver does not reach the list",
				  res->qname, code ? code : doctor_dns_outcome(d, res));
	else if (*why == NULL && !t->want_listed && absent != 1)
		*why = doctor_str(d, "the list's test point A %s must not be listed (RFC 5782) "
				  "but answered %s: the resolver's answers cannot be trusted",
				  res->qname, code ? code : doctor_dns_outcome(d, res));
	free(t);
}

static void ask_test_point(struct doctor *d, const struct dnsbl *l, const char *name, int listed)
{
	struct test_point *t = xmalloc(sizeof(*t));
	t->list = l;
	t->want_listed = listed;
	doctor_lookup(d, doctor_str(d, "%s.%s", name, l->zone), DNS_TYPE_A, on_test_point, t);
}

void check_dnsbl_test_points(struct doctor *d)
{
	for (size_t i = 0; i < NLISTS; i++) {
		const struct dnsbl *l = &lists[i];
		if (l->kind == LIST_DOMAIN) {
			ask_test_point(d, l, l->test_listed ? l->test_listed : "test", 1);
			ask_test_point(d, l, "invalid", 0);
		} else if (d->nsrc > 0) {
			ask_test_point(d, l, "2.0.0.127", 1);
			ask_test_point(d, l, "1.0.0.127", 0);
		}
	}
}

void check_dnsbl_start(struct doctor *d)
{
	char rev[128];
	struct dns_addr a;
	for (size_t i = 0; i < d->nsrc; i++) {
		if (dns_addr_parse(d->src[i].ip, &a) < 0 || dns_reverse_name(&a, rev, sizeof(rev)) < 0)
			continue;       /* check_rdns reports it */
		/* "4.3.2.1.in-addr.arpa" -> "4.3.2.1"; the ip6.arpa suffix likewise */
		char *suffix = strstr(rev, a.family == AF_INET ? ".in-addr.arpa" : ".ip6.arpa");
		if (suffix)
			*suffix = '\0';
		query_lists(d, d->src[i].ip, rev, 1u << LIST_IP | 1u << LIST_ALLOW,
			    a.family == AF_INET6);
	}
	query_lists(d, d->domain, d->domain, 1u << LIST_DOMAIN, 0);
}
