/*
 * doctor: the checks behind `outpost doctor DOMAIN`, run together on one
 * event loop, and their findings.
 * Contract: doctor_run() starts every check at once (each issues its DNS
 * lookups and connections in parallel through the shared resolver),
 * returns when the last one has reported, then adds the bulk-sender
 * summary and prints the report.  A check reports through doctor_add():
 * one finding each = check name, status, subject (what was checked), the
 * evidence (what was looked up and found) and the exact fix (NULL for a
 * pass).  A check that has work in flight holds the doctor
 * (doctor_hold/doctor_release); the loop ends when no hold is left.
 * Text from DNS goes into findings only through doctor_add(), which
 * replaces every byte outside printable ASCII with '?'.
 * Before any check judges, a first round tests the resolver itself: the
 * domain's own SOA must be answered (NOERROR), and each blocklist's RFC
 * 5782 test points must answer as the RFC says (the "listed" point
 * listed, the "not listed" point absent).  Where that fails, the checks
 * that rest on it report a warning whose evidence starts with "could not
 * test: " and the reason, never a pass or a fail.
 */
#ifndef OUTPOST_DOCTOR_H
#define OUTPOST_DOCTOR_H
#include <stddef.h>

#include "core/name_code.h"
#include "dns/resolver.h"

struct config;
struct event_base;
struct ssl_ctx_st;

#define DOCTOR_MAX_LISTS 16
#define DOCTOR_UNTESTED "could not test: "

enum doctor_status { DOCTOR_PASS, DOCTOR_WARN, DOCTOR_FAIL };
extern const struct name_code doctor_status_names[];   /* "pass", "warn", "fail" */

/* One address mail leaves from straight to MX hosts, with the EHLO name
 * it uses and its route (NULL for an --ip address outside the config). */
struct doctor_source {
	char *ip;
	char *helo;
	const char *route;
};

struct doctor_finding {
	char *check;
	enum doctor_status status;
	char *subject;
	char *evidence;
	char *fix;                   /* NULL when there is nothing to do */
};

struct doctor_opts {
	const char *domain;
	char **ips;                  /* --ip: replaces the config's source addresses */
	size_t nips;
	const char *resolver;        /* NULL: the config's */
	unsigned timeout_ms;         /* per DNS query and per connection step */
	int json;
	int colour;
};

/* The answer of one IP blocklist about one source address, for the
 * monitor: listed (with the decoded codes in why; pbl_only when ZEN lists
 * it on the PBL alone), clean, or untested (the list could not be asked). */
enum doctor_listing { DOCTOR_CLEAN, DOCTOR_LISTED, DOCTOR_LIST_UNTESTED };
typedef void doctor_listing_cb(void *arg, const char *ip, const char *list,
			       enum doctor_listing st, int pbl_only, const char *why);
struct doctor;
typedef void doctor_done_cb(struct doctor *d, void *arg);
struct doctor_q;

struct doctor {
	struct event_base *base;
	struct resolver *res;
	const struct config *cf;
	char *domain;                /* lowercased, no final dot */
	struct doctor_source *src;
	size_t nsrc;
	int ips_given;
	unsigned timeout_ms;
	struct doctor_finding *f;
	size_t nf, capf;
	char **str;                  /* doctor_str() results */
	size_t nstr;
	unsigned holds;
	struct ssl_ctx_st *ssl;      /* client TLS context for the relay probes */
	const char *domain_untested; /* why the resolver cannot judge the domain, or NULL */
	const char *list_untested[DOCTOR_MAX_LISTS];  /* per blocklist: why its test points failed */
	int lists_known;             /* list_untested[] set by the caller (the monitor's later domains
				      * of a run): the first round asks the domain's SOA alone */
	/* the monitor's run (doctor_start_async) */
	int monitor;                 /* only what can change without the operator: no connections */
	int phase;                   /* 0 resolver test, 1 checks, 2 done */
	doctor_done_cb *done;
	void *done_arg;
	doctor_listing_cb *on_listing;
	doctor_listing_cb *on_domain_listing;  /* the domain lists' answers (ip is the domain) */
	void *listing_arg;
	unsigned list_budget;        /* queries per IP list and run, 0 unlimited */
	unsigned list_queries[DOCTOR_MAX_LISTS];
	unsigned pace_ms;            /* lookups go out one per pace_ms (0: all at once) */
	struct doctor_q *waiting, *inflight;
	struct event *pace_ev, *advance_ev;
	int destroying;
	size_t queries;              /* lookups made by this run (an SPF evaluation: its record
				      * and each DNS-querying term, once) */
	void *spf;                   /* check_spf's state while its evaluations run */
};

/* Runs every check for o->domain with the config cf; prints the report
 * (text or JSON) to stdout and returns the exit status: 0 all pass, 1
 * warnings, 2 failures; 69 with the reason on stderr when the loop or
 * the resolver cannot be set up. */
int doctor_run(const struct config *cf, const struct doctor_opts *o);

/* The monitor's run on the caller's loop: the checks that can change
 * without the operator (SPF, DKIM, DMARC, PTR, blocklists; no connection
 * is made), for domain and (with_sources) the config's source addresses;
 * done runs once, on the loop, when the last finding is in.  Nothing is
 * printed.  Free with doctor_destroy() (from done or later). */
struct doctor *doctor_new_async(struct event_base *base, struct resolver *res, const struct config *cf,
				const char *domain, int with_sources, unsigned timeout_ms);
void doctor_start_async(struct doctor *d, doctor_done_cb *done, void *arg);
void doctor_destroy(struct doctor *d);

void doctor_hold(struct doctor *d);
void doctor_release(struct doctor *d);
void doctor_add(struct doctor *d, const char *check, enum doctor_status st, const char *subject,
		const char *evidence, const char *fix);
/* The worst status among the findings of check (PASS when none). */
enum doctor_status doctor_worst(const struct doctor *d, const char *check);

/* A DNS lookup held by the doctor: cb runs once with the answer. */
typedef void doctor_dns_cb(struct doctor *d, const struct dns_result *res, void *arg);
void doctor_lookup(struct doctor *d, const char *name, int type, doctor_dns_cb *cb, void *arg);
/* A formatted string that lives as long as the doctor: for the text of
 * findings, which has no length limit. */
const char *doctor_str(struct doctor *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "NXDOMAIN", "no TXT record", "SERVFAIL (why)", "timed out", for evidence. */
const char *doctor_dns_outcome(struct doctor *d, const struct dns_result *res);
/* 1 when the answer says the name or record does not exist (NXDOMAIN or
 * NODATA), 0 for records, -1 for a failure to learn (SERVFAIL, timeout). */
int doctor_dns_absent(const struct dns_result *res);

/* The SPF include of a known relay provider by its host
 * ("email-smtp.us-east-1.amazonaws.com" -> "amazonses.com"), and its name
 * in *provider; NULL when outpost does not know the relay. */
const char *doctor_relay_spf_include(const char *host, const char **provider);
/* 1 when name is one of the IP blocklists the doctor asks ("Spamhaus ZEN"). */
int doctor_ip_list_known(const char *name);

/* The checks: each starts its work and reports through doctor_add(). */
void check_spf_start(struct doctor *d);
/* Ends the SPF evaluations still running (doctor_destroy of a run in flight). */
void check_spf_cancel(struct doctor *d);
void check_dkim_start(struct doctor *d);
/* Config only (no DNS): can outpost's own mail (MAILER-DAEMON@hostname) be
 * signed?  Judged even when the resolver cannot see the domain. */
void check_dkim_own_mail(struct doctor *d);
void check_dmarc_start(struct doctor *d);
void check_rdns_start(struct doctor *d);
void check_dnsbl_start(struct doctor *d);
void check_transport_start(struct doctor *d);
/* Routes' DMARC results in the aggregate reports received (SPOOL/dmarc.db). */
void check_dmarc_reports_start(struct doctor *d);
/* The bounce domain's MX and SPF (only with bounces.domain set). */
void check_bounces_start(struct doctor *d);
/* Each relay route: connect, TLS as its tls setting requires, AUTH, QUIT. */
void check_relay_start(struct doctor *d);
/* The first round: the domain's SOA and every blocklist's test points;
 * sets domain_untested and list_untested[]. */
void check_resolver_start(struct doctor *d);
void check_dnsbl_test_points(struct doctor *d);
/* A warning "could not test: WHY" for check on subject. */
void doctor_untested(struct doctor *d, const char *check, const char *subject, const char *why);
/* 1 when check made at least one finding. */
int doctor_checked(const struct doctor *d, const char *check);
/* After all others: the Gmail/Yahoo 2024 bulk-sender requirements, from
 * the findings already made. */
void check_bulk_finish(struct doctor *d);

/* report.c: the findings grouped by severity, as text (colour escapes
 * when colour is set) or as one JSON object. */
void doctor_report_text(const struct doctor *d, int colour);
int doctor_report_json(const struct doctor *d);
const char *doctor_status_name(enum doctor_status st);

#endif
