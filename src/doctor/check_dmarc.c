/*
 * check_dmarc: the DMARC record of the domain (or of its organisational
 * domain when the domain has none, RFC 7489 6.6.3), its policy, its
 * deprecated and unknown tags, its report addresses (rua) and, for each
 * one at another organisational domain, the authorisation record there
 * (RFC 7489 7.1), and for each route whether mail from @DOMAIN can align:
 * SPF through the envelope sender on mx routes, DKIM through a configured
 * key.  Relays often put their own domain in MAIL FROM, so through a
 * relay only DKIM can align.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "dns/dns.h"
#include "doctor/doctor.h"
#include "mailauth/dmarc.h"
#include "xmalloc.h"

#define CHECK "dmarc"

struct dmarc_doc {
	struct doctor *d;
	const char *org;                 /* the organisational domain */
	const char *at;                  /* where the record was looked up */
	int fallback;                    /* found at the organisational domain */
};

struct rua_check {
	struct doctor *d;
	const char *name;
	const char *uri;
};

static void on_rua_auth(struct doctor *d, const struct dns_result *res, void *arg)
{
	struct rua_check *rc = arg;
	const char *ev, *fix;
	int ok = 0;
	for (size_t i = 0; i < res->n && res->txt; i++)
		ok |= dmarc_record_is_dmarc(res->txt[i].data, res->txt[i].len);
	if (ok) {
		ev = doctor_str(d, "TXT %s authorises reports to %s", rc->name, rc->uri);
		doctor_add(d, CHECK, DOCTOR_PASS, "rua", ev, NULL);
	} else {
		ev = doctor_str(d, "%s is at another domain and TXT %s: %s: receivers "
				"send it no reports", rc->uri, rc->name, doctor_dns_outcome(d, res));
		fix = doctor_str(d, "publish %s. TXT \"v=DMARC1\" (in the zone of the report "
				 "address)", rc->name);
		doctor_add(d, CHECK, DOCTOR_WARN, "rua", ev, fix);
	}
	free(rc);
}

static void check_rua(struct dmarc_doc *s, const struct dmarc_record *rec)
{
	struct doctor *d = s->d;
	char dom[256];
	const char *fix;
	if (rec->nrua == 0) {
		fix = doctor_str(d, "add rua=mailto:dmarc-reports@%s to the record, to learn "
				 "who sends as %s and whether it aligns", d->domain, d->domain);
		doctor_add(d, CHECK, DOCTOR_WARN, "rua", "the record asks for no aggregate reports",
			   fix);
		return;
	}
	for (size_t i = 0; i < rec->nrua; i++) {
		if (dmarc_uri_mailto_domain(rec->rua[i], dom, sizeof(dom)) < 0 ||
		    dmarc_aligned(dom, d->domain, 0))
			continue;       /* same organisation: no authorisation needed */
		struct rua_check *rc = xcalloc(1, sizeof(*rc));
		rc->d = d;
		rc->uri = doctor_str(d, "%s", rec->rua[i]);
		rc->name = doctor_str(d, "%s._report._dmarc.%s", d->domain, dom);
		doctor_lookup(d, rc->name, DNS_TYPE_TXT, on_rua_auth, rc);
	}
}

static const struct dkim_conf *aligned_key(const struct doctor *d, int strict)
{
	/* a key signs mail of its domain and subdomains (config.h) */
	for (size_t i = 0; i < d->cf->ndkim; i++)
		if (dns_name_is_subdomain(d->domain, d->cf->dkim[i].domain) &&
		    dmarc_aligned(d->cf->dkim[i].domain, d->domain, strict))
			return &d->cf->dkim[i];
	return NULL;
}

/* Per route: can mail From: @DOMAIN pass DMARC through it? */
static void check_alignment(struct dmarc_doc *s, const struct dmarc_record *rec)
{
	struct doctor *d = s->d;
	const char *subject, *ev, *fix;
	const struct dkim_conf *k = aligned_key(d, rec->adkim_strict);
	const char *dkim_ev;
	if (k)
		dkim_ev = doctor_str(d, "DKIM d=%s s=%s aligns (adkim=%s)", k->domain,
				     k->selector, rec->adkim_strict ? "s" : "r");
	else
		dkim_ev = doctor_str(d, "no DKIM key in the config whose domain aligns "
				     "with %s (adkim=%s)", d->domain, rec->adkim_strict ? "s" : "r");
	fix = doctor_str(d, "add dkim = ( { domain = \"%s\"; selector = \"s1\"; key = "
			 "\"/etc/outpost/dkim/s1.pem\"; } ) and publish its key (`outpost dkim show`)",
			 d->domain);
	for (size_t i = 0; i < d->cf->nroutes; i++) {
		const struct route_conf *rc = &d->cf->routes[i];
		subject = doctor_str(d, "route %s", rc->name);
		if (rc->type == ROUTE_MX) {
			ev = doctor_str(d, "SPF aligns when the envelope sender is @%s (aspf=%s); %s",
					d->domain, rec->aspf_strict ? "s" : "r", dkim_ev);
			doctor_add(d, CHECK, k ? DOCTOR_PASS : DOCTOR_WARN, subject, ev,
				   k ? NULL : fix);
		} else {
			ev = doctor_str(d, "relay %s may use its own envelope domain, so SPF "
					"cannot be counted on to align; %s", rc->host, dkim_ev);
			doctor_add(d, CHECK, k ? DOCTOR_PASS : DOCTOR_FAIL, subject, ev,
				   k ? NULL : fix);
		}
	}
}

static void judge(struct dmarc_doc *s, const char *txt, size_t len)
{
	struct doctor *d = s->d;
	struct dmarc_record *rec;
	char err[300];
	const char *ev, *fix;
	if (dmarc_record_parse(txt, len, &rec, err, sizeof(err)) < 0) {
		ev = doctor_str(d, "TXT %s: \"%.*s\": %s", s->at, (int)(len > 600 ? 600 : len),
				txt, err);
		fix = doctor_str(d, "publish a valid record, e.g. %s. TXT \"v=DMARC1; "
				 "p=none; rua=mailto:dmarc-reports@%s\"", s->at, d->domain);
		doctor_add(d, CHECK, DOCTOR_FAIL, "record", ev, fix);
		return;
	}
	enum dmarc_policy p = s->fallback ? rec->sp : rec->p;
	ev = doctor_str(d, "TXT %s: \"%.*s\": policy %s%s", s->at,
			(int)(len > 600 ? 600 : len), txt, dmarc_policy_name(p),
			s->fallback ? " (the organisational domain's sp=)" : "");
	if (p == DMARC_POLICY_NONE)
		doctor_add(d, CHECK, DOCTOR_WARN, "policy", ev,
			   "p=none only monitors: once the reports show all your mail aligned, "
			   "move to p=quarantine, then p=reject");
	else
		doctor_add(d, CHECK, DOCTOR_PASS, "policy", ev, NULL);
	for (size_t i = 0; i < rec->nnotes; i++)
		doctor_add(d, CHECK, DOCTOR_WARN, "tags", rec->notes[i],
			   "remove the tag from the record");
	check_rua(s, rec);
	check_alignment(s, rec);
	dmarc_record_free(rec);
}

static void on_record(struct doctor *d, const struct dns_result *res, void *arg)
{
	struct dmarc_doc *s = arg;
	const char *ev, *fix;
	size_t found = 0, idx = 0;
	for (size_t i = 0; i < res->n && res->txt; i++)
		if (dmarc_record_is_dmarc(res->txt[i].data, res->txt[i].len) && found++ == 0)
			idx = i;
	if (found == 0 && doctor_dns_absent(res) >= 0 && !s->fallback &&
	    strcmp(s->org, d->domain) != 0) {
		s->fallback = 1;
		s->at = doctor_str(d, "_dmarc.%s", s->org);
		doctor_lookup(d, s->at, DNS_TYPE_TXT, on_record, s);
		return;
	}
	if (found == 1) {
		judge(s, res->txt[idx].data, res->txt[idx].len);
	} else if (found > 1) {
		ev = doctor_str(d, "TXT %s: %zu v=DMARC1 records: receivers apply none", s->at,
				found);
		doctor_add(d, CHECK, DOCTOR_FAIL, "record", ev, "keep exactly one record");
	} else if (doctor_dns_absent(res) < 0) {
		ev = doctor_str(d, "TXT %s: %s", s->at, doctor_dns_outcome(d, res));
		doctor_add(d, CHECK, DOCTOR_WARN, "record", ev, "run again when DNS answers");
	} else {
		ev = doctor_str(d, "no v=DMARC1 record at _dmarc.%s%s%s: Gmail and Yahoo "
				"require one of bulk senders", d->domain, s->fallback ? " nor at " : "",
				s->fallback ? s->at : "");
		fix = doctor_str(d, "publish _dmarc.%s. TXT \"v=DMARC1; p=none; "
				 "rua=mailto:dmarc-reports@%s\"", d->domain, d->domain);
		doctor_add(d, CHECK, DOCTOR_FAIL, "record", ev, fix);
	}
	free(s);
}

void check_dmarc_start(struct doctor *d)
{
	char org[256];
	struct dmarc_doc *s = xcalloc(1, sizeof(*s));
	s->d = d;
	s->org = dmarc_org_domain(d->domain, org, sizeof(org)) == 0 ? doctor_str(d, "%s", org)
								   : d->domain;
	s->at = doctor_str(d, "_dmarc.%s", d->domain);
	doctor_lookup(d, s->at, DNS_TYPE_TXT, on_record, s);
}
