/*
 * check_rdns: for each source address, its PTR (reverse DNS), whether
 * that name resolves back to the address (forward-confirmed reverse DNS,
 * FCrDNS), and whether it is the EHLO name the route sends.  Gmail and
 * Yahoo refuse mail from an address without valid FCrDNS.  The lookups of
 * all addresses run at once; each address takes a PTR and then an A or
 * AAAA lookup.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "dns/dns.h"
#include "doctor/doctor.h"
#include "xmalloc.h"

#define CHECK "rdns"

struct rdns {
	const struct doctor_source *src;
	struct dns_addr addr;
	const char *subject;
	const char *ptr;
	size_t nptr;
};

static void on_forward(struct doctor *d, const struct dns_result *res, void *arg)
{
	struct rdns *r = arg;
	const char *ev, *fix;
	int confirmed = 0;
	for (size_t i = 0; i < res->n && res->addr; i++) {
		struct dns_addr a = res->addr[i];
		confirmed |= a.family == r->addr.family &&
			     memcmp(a.a, r->addr.a, a.family == AF_INET ? 4 : 16) == 0;
	}
	if (!confirmed) {
		ev = doctor_str(d, "PTR %s -> %s, but %s does not resolve back to %s (%s)",
				r->src->ip, r->ptr, r->ptr, r->src->ip, doctor_dns_outcome(d, res));
		fix = doctor_str(d, "publish %s. %s %s (forward-confirmed reverse DNS)", r->ptr,
				 r->addr.family == AF_INET ? "A" : "AAAA", r->src->ip);
		doctor_add(d, CHECK, doctor_dns_absent(res) < 0 ? DOCTOR_WARN : DOCTOR_FAIL,
			   r->subject, ev, fix);
	} else if (!dns_name_equal(r->ptr, r->src->helo)) {
		ev = doctor_str(d, "PTR %s -> %s (forward-confirmed), but the route says "
				"EHLO %s", r->src->ip, r->ptr, r->src->helo);
		fix = doctor_str(d, "set helo = \"%s\" for source %s in route %s (or point "
				 "the PTR at %s)", r->ptr, r->src->ip, r->src->route ? r->src->route : "?",
				 r->src->helo);
		doctor_add(d, CHECK, DOCTOR_FAIL, r->subject, ev, fix);
	} else {
		ev = doctor_str(d, "PTR %s -> %s -> %s, the route's EHLO name%s", r->src->ip,
				r->ptr, r->src->ip, r->nptr > 1 ? " (more than one PTR: receivers may "
				"pick another)" : "");
		doctor_add(d, CHECK, r->nptr > 1 ? DOCTOR_WARN : DOCTOR_PASS, r->subject, ev,
			   r->nptr > 1 ? "keep exactly one PTR record" : NULL);
	}
	free(r);
}

static void on_ptr(struct doctor *d, const struct dns_result *res, void *arg)
{
	struct rdns *r = arg;
	const char *ev, *fix;
	if (res->n == 0 || res->name == NULL) {
		ev = doctor_str(d, "PTR of %s: %s", r->src->ip,
				doctor_dns_outcome(d, res));
		fix = doctor_str(d, "ask whoever owns %s (the cloud provider's console or "
				 "support) to set its PTR to %s, and publish %s. %s %s", r->src->ip,
				 r->src->helo, r->src->helo, r->addr.family == AF_INET ? "A" : "AAAA",
				 r->src->ip);
		if (doctor_dns_absent(res) < 0)
			doctor_add(d, CHECK, DOCTOR_WARN, r->subject, ev, "run again when DNS answers");
		else
			doctor_add(d, CHECK, DOCTOR_FAIL, r->subject, ev, fix);
		free(r);
		return;
	}
	/* The first name is the one a receiver checks; others are noted. */
	r->ptr = doctor_str(d, "%s", res->name[0]);
	r->nptr = res->n;
	doctor_lookup(d, r->ptr, r->addr.family == AF_INET ? DNS_TYPE_A : DNS_TYPE_AAAA,
		      on_forward, r);
}

void check_rdns_start(struct doctor *d)
{
	char rev[128];
	for (size_t i = 0; i < d->nsrc; i++) {
		struct rdns *r = xcalloc(1, sizeof(*r));
		r->src = &d->src[i];
		r->subject = doctor_str(d, "%s (route %s)", r->src->ip,
					r->src->route ? r->src->route : "--ip");
		if (dns_addr_parse(r->src->ip, &r->addr) < 0 ||
		    dns_reverse_name(&r->addr, rev, sizeof(rev)) < 0) {
			doctor_add(d, CHECK, DOCTOR_FAIL, r->subject, "not an IP address",
				   "give source addresses as IPv4 or IPv6 text");
			free(r);
			continue;
		}
		doctor_lookup(d, rev, DNS_TYPE_PTR, on_ptr, r);
	}
}
