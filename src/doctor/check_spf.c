/*
 * check_spf: the domain's SPF record against every address mail leaves
 * from (the RFC 7208 evaluator in mailauth/spf.c, MAIL FROM
 * postmaster@DOMAIN), a probe with a documentation address that walks the
 * whole record (so a record over the 10-lookup limit shows even when our
 * own addresses match early, and a record that passes anyone shows), and
 * the relays' SPF includes where known.  All evaluations and the TXT
 * lookup run at once; findings and one corrected record come when the
 * last has answered.  In the monitor's run the evaluations run one after
 * the other once the TXT answer is in: each fetches the record again, and
 * asked at once those fetches would be merged by libunbound or not,
 * depending on timing, making the monitor's DNS cost a matter of luck.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "config.h"
#include "dns/dns.h"
#include "doctor/doctor.h"
#include "mailauth/spf.h"
#include "mailauth/spf_record.h"
#include "xmalloc.h"

#define CHECK "spf"
#define PROBE_IP "192.0.2.1"    /* RFC 5737: no sender's record should pass it */

/* Relay providers: a relay host ending in suffix sends from the ranges of
 * SPF record include. */
static const struct {
	const char *suffix, *include, *provider;
} relay_spf[] = {
	{ "amazonaws.com", "amazonses.com", "Amazon SES" },
	{ "sendgrid.net", "sendgrid.net", "SendGrid" },
	{ "mailgun.org", "mailgun.org", "Mailgun" },
	{ "office365.com", "spf.protection.outlook.com", "Microsoft 365" },
	{ "outlook.com", "spf.protection.outlook.com", "Microsoft 365" },
	{ "gmail.com", "_spf.google.com", "Google Workspace" },
	{ "google.com", "_spf.google.com", "Google Workspace" },
};

const char *doctor_relay_spf_include(const char *host, const char **provider)
{
	for (size_t k = 0; k < sizeof(relay_spf) / sizeof(relay_spf[0]); k++)
		if (dns_name_is_subdomain(host, relay_spf[k].suffix)) {
			if (provider)
				*provider = relay_spf[k].provider;
			return relay_spf[k].include;
		}
	return NULL;
}

struct spf_eval {
	struct spf_doc *doc;
	const struct doctor_source *src;   /* NULL: the probe */
	const char *ip, *helo;
	struct spf_check *chk;             /* running */
	int done;
	enum spf_result result;
	char *reason;
	unsigned dns_terms;
};

struct spf_doc {
	struct doctor *d;
	struct spf_eval *ev;               /* nsrc + 1: the probe last */
	size_t nev;
	size_t waiting;
	int txt_failed;                    /* SERVFAIL or timeout */
	size_t nrecords;                   /* v=spf1 records found */
	char *record;                      /* the first of them */
	size_t ips_missing;                /* source addresses the record does not pass */
	size_t next;                       /* the monitor's run: the next evaluation to start */
};

static void finish(struct spf_doc *s);
static void start_next(struct spf_doc *s);

static void waited(struct spf_doc *s)
{
	if (--s->waiting == 0)
		finish(s);
}

static void on_eval(const struct spf_outcome *out, void *arg)
{
	struct spf_eval *e = arg;
	struct doctor *d = e->doc->d;
	e->chk = NULL;                  /* it frees itself after this call */
	e->done = 1;
	e->result = out->result;
	e->reason = xstrdup(out->reason ? out->reason : "");
	e->dns_terms = out->dns_terms;
	d->queries += 1 + out->dns_terms;
	start_next(e->doc);
	waited(e->doc);
	doctor_release(d);
}

static void on_txt(struct doctor *d, const struct dns_result *res, void *arg)
{
	struct spf_doc *s = arg;
	(void)d;
	s->txt_failed = doctor_dns_absent(res) < 0;
	for (size_t i = 0; i < res->n && res->txt; i++) {
		if (!spf_record_is_spf(res->txt[i].data, res->txt[i].len))
			continue;
		if (s->nrecords++ == 0)
			s->record = xstrndup(res->txt[i].data, res->txt[i].len);
	}
	start_next(s);
	waited(s);
}

static const char *ip_term(struct doctor *d, const char *ip)
{
	return doctor_str(d, "%s:%s", strchr(ip, ':') ? "ip6" : "ip4", ip);
}

/* The published record with the terms in add (space-separated) inserted
 * before its "all" mechanism or its redirect=, else at its end. */
static void corrected_record(const char *record, const char *add, struct buf *out)
{
	const char *at = NULL;
	const char *p = record;
	while (*p) {
		while (*p == ' ')
			p++;
		const char *t = p;
		while (*p && *p != ' ')
			p++;
		size_t n = (size_t)(p - t);
		const char *m = n > 0 && strchr("+-~?", *t) ? t + 1 : t;
		size_t mn = n - (size_t)(m - t);
		if ((mn == 3 && strncasecmp(m, "all", 3) == 0) ||
		    (n > 9 && strncasecmp(t, "redirect=", 9) == 0)) {
			at = t;
			break;
		}
	}
	if (at == NULL) {
		buf_printf(out, "%s %s", record, add);
		return;
	}
	buf_append(out, record, (size_t)(at - record));
	buf_printf(out, "%s %s", add, at);
}

static int record_has_include(const char *record, const char *include)
{
	size_t n = strlen(include);
	for (const char *p = record; (p = strcasestr(p, include)) != NULL; p += n)
		if (p - record >= 8 && strncasecmp(p - 8, "include:", 8) == 0 &&
		    (p - 8 == record || p[-9] == ' ' || p[-9] == '+') && (p[n] == '\0' || p[n] == ' '))
			return 1;
	return 0;
}

/* The include:s the relay routes need and the record lacks; a finding
 * per relay route. */
static void check_relays(struct spf_doc *s, struct buf *missing)
{
	struct doctor *d = s->d;
	const char *subject, *ev, *fix;
	for (size_t i = 0; i < d->cf->nroutes; i++) {
		const struct route_conf *rc = &d->cf->routes[i];
		size_t k, nrel = sizeof(relay_spf) / sizeof(relay_spf[0]);
		if (rc->type != ROUTE_RELAY)
			continue;
		for (k = 0; k < nrel; k++)
			if (dns_name_is_subdomain(rc->host, relay_spf[k].suffix))
				break;
		subject = doctor_str(d, "relay route %s (%s)", rc->name, rc->host);
		if (k == nrel) {
			doctor_add(d, CHECK, DOCTOR_WARN, subject,
				   "outpost does not know this relay's SPF include",
				   "find the include the relay documents for your SPF record and add it");
			continue;
		}
		if (s->record && record_has_include(s->record, relay_spf[k].include)) {
			ev = doctor_str(d, "%s: the record has include:%s", relay_spf[k].provider,
					relay_spf[k].include);
			doctor_add(d, CHECK, DOCTOR_PASS, subject, ev, NULL);
			continue;
		}
		ev = doctor_str(d, "%s sends from the ranges of include:%s, which the "
				"record of %s does not name (only its own terms were read)",
				relay_spf[k].provider, relay_spf[k].include, d->domain);
		fix = doctor_str(d, "add include:%s (unless the relay uses its own "
				 "MAIL FROM domain)", relay_spf[k].include);
		doctor_add(d, CHECK, DOCTOR_WARN, subject, ev, fix);
		if (!strstr(missing->data ? missing->data : "", relay_spf[k].include))
			buf_printf(missing, "%sinclude:%s", missing->len ? " " : "",
				   relay_spf[k].include);
	}
}

static void report_eval(struct spf_doc *s, const struct spf_eval *e, struct buf *missing)
{
	struct doctor *d = s->d;
	const char *term = ip_term(d, e->src->ip);
	const char *subject, *ev, *fix;
	subject = doctor_str(d, "%s (route %s)", e->src->ip,
			     e->src->route ? e->src->route : "--ip");
	ev = doctor_str(d, "check_host(%s, postmaster@%s) = %s: %s", e->src->ip, d->domain,
			spf_result_name(e->result), e->reason);
	switch (e->result) {
	case SPF_RESULT_PASS:
		doctor_add(d, CHECK, DOCTOR_PASS, subject, ev, NULL);
		return;
	case SPF_RESULT_TEMPERROR:
		doctor_add(d, CHECK, DOCTOR_WARN, subject, ev,
			   "the DNS lookups failed: check the domain's name servers and run again");
		return;
	case SPF_RESULT_PERMERROR:
		fix = doctor_str(d, "receivers treat the record as broken: %s",
				 e->dns_terms > SPF_MAX_DNS_TERMS || strstr(e->reason, "limit")
				 ? "keep it within 10 DNS-querying terms (include, a, mx, ptr, "
				 "exists, redirect): replace includes by ip4:/ip6: ranges"
				 : "fix the syntax error named above");
		doctor_add(d, CHECK, DOCTOR_FAIL, subject, ev, fix);
		return;
	default:
		fix = s->nrecords == 0 ? doctor_str(d, "publish the record suggested for TXT %s",
						    d->domain)
				       : doctor_str(d, "add %s to the SPF record of %s", term, d->domain);
		doctor_add(d, CHECK, DOCTOR_FAIL, subject, ev, fix);
		buf_printf(missing, "%s%s", missing->len ? " " : "", term);
		s->ips_missing++;
	}
}

/* The probe walked the whole record for an address nobody should pass. */
static void report_probe(struct spf_doc *s, const struct spf_eval *e)
{
	struct doctor *d = s->d;
	const char *ev;
	ev = doctor_str(d, "check_host(%s) = %s after %u DNS-querying terms: %s", PROBE_IP,
			spf_result_name(e->result), e->dns_terms, e->reason);
	if (e->result == SPF_RESULT_PERMERROR)
		doctor_add(d, CHECK, DOCTOR_WARN, "whole record", ev,
			   "receivers get permerror for any address not matched before the limit: "
			   "keep the record within 10 DNS-querying terms and 2 void lookups");
	else if (e->result == SPF_RESULT_PASS)
		doctor_add(d, CHECK, DOCTOR_FAIL, "whole record", ev,
			   "the record authorises any address (+all or similar): end it with ~all or -all");
}

static void report_record(struct spf_doc *s, const struct buf *missing)
{
	struct doctor *d = s->d;
	const char *subject, *ev;
	struct buf fix = BUF_INIT;
	subject = doctor_str(d, "TXT %s", d->domain);
	if (s->txt_failed && s->nrecords == 0) {
		doctor_add(d, CHECK, DOCTOR_WARN, subject, "the TXT lookup failed",
			   "check the domain's name servers and run again");
	} else if (s->nrecords == 0) {
		buf_printf(&fix, "publish %s. TXT \"v=spf1 %s ~all\"", d->domain,
			   missing->len ? missing->data : "mx");
		doctor_add(d, CHECK, DOCTOR_FAIL, subject, "no v=spf1 record: receivers see SPF none",
			   fix.data);
	} else if (s->nrecords > 1) {
		ev = doctor_str(d, "%zu v=spf1 records (permerror for every receiver)",
				s->nrecords);
		doctor_add(d, CHECK, DOCTOR_FAIL, subject, ev, "merge them into one record");
	} else if (missing->len > 0) {
		ev = doctor_str(d, "published: \"%s\"", s->record);
		buf_puts(&fix, "publish instead: \"");
		corrected_record(s->record, missing->data, &fix);
		buf_putc(&fix, '"');
		/* a relay's missing include is a warning, as check_relays() says */
		doctor_add(d, CHECK, s->ips_missing ? DOCTOR_FAIL : DOCTOR_WARN, subject, ev, fix.data);
	} else {
		ev = doctor_str(d, "published: \"%s\"", s->record);
		doctor_add(d, CHECK, DOCTOR_PASS, subject, ev, NULL);
	}
	buf_free(&fix);
}

static void finish(struct spf_doc *s)
{
	struct buf missing = BUF_INIT;
	for (size_t i = 0; i < s->nev; i++) {
		if (!s->ev[i].done)
			continue;
		if (s->ev[i].src)
			report_eval(s, &s->ev[i], &missing);
		else if (s->nrecords == 1)
			report_probe(s, &s->ev[i]);
	}
	check_relays(s, &missing);
	report_record(s, &missing);
	buf_free(&missing);
	for (size_t i = 0; i < s->nev; i++)
		free(s->ev[i].reason);
	free(s->ev);
	free(s->record);
	struct doctor *d = s->d;
	d->spf = NULL;
	free(s);
	doctor_release(d);
}

/* 1 when the evaluation runs (its callback will come). */
static int start_eval(struct spf_doc *s, struct spf_eval *e)
{
	struct doctor *d = s->d;
	char err[256];
	const char *ev, *from;
	from = doctor_str(d, "postmaster@%s", d->domain);
	struct spf_request req = { .ip = e->ip, .mail_from = from, .helo = e->helo,
				   .deadline_ms = d->timeout_ms * 4 };
	s->waiting++;
	doctor_hold(d);
	if ((e->chk = spf_check_start(d->res, &req, on_eval, e, err, sizeof(err))) == NULL) {
		ev = doctor_str(d, "cannot evaluate: %s", err);
		doctor_add(d, CHECK, DOCTOR_WARN, e->ip, ev, NULL);
		s->waiting--;
		doctor_release(d);
		return 0;
	}
	return 1;
}

/* The monitor's run: the next evaluation, after the previous one's answer. */
static void start_next(struct spf_doc *s)
{
	if (!s->d->monitor || s->d->destroying)
		return;
	while (s->next < s->nev && !start_eval(s, &s->ev[s->next++]))
		;
}

void check_spf_cancel(struct doctor *d)
{
	struct spf_doc *s = d->spf;
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->nev; i++)
		if (s->ev[i].chk) {
			spf_check_cancel(s->ev[i].chk);
			s->ev[i].chk = NULL;
			s->waiting--;
			doctor_release(d);
		}
	if (s->waiting == 0)
		finish(s);
}

void check_spf_start(struct doctor *d)
{
	struct spf_doc *s = xcalloc(1, sizeof(*s));
	s->d = d;
	s->nev = d->nsrc + 1;
	s->ev = xcalloc(s->nev, sizeof(*s->ev));
	d->spf = s;
	doctor_hold(d);                 /* released by finish() */
	s->waiting = 1;                 /* the TXT lookup */
	for (size_t i = 0; i < s->nev; i++) {
		s->ev[i].doc = s;
		s->ev[i].src = i < d->nsrc ? &d->src[i] : NULL;
		s->ev[i].ip = i < d->nsrc ? d->src[i].ip : PROBE_IP;
		s->ev[i].helo = i < d->nsrc ? d->src[i].helo : d->cf->hostname;
	}
	doctor_lookup(d, d->domain, DNS_TYPE_TXT, on_txt, s);
	for (size_t i = 0; !d->monitor && i < s->nev; i++)
		start_eval(s, &s->ev[i]);
}
