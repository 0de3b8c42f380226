/*
 * check_bulk: the requirements Gmail and Yahoo put on bulk senders since
 * February 2024 (5,000+ messages a day to their users), judged from the
 * other checks' findings and the config: SPF and DKIM pass, DMARC
 * published and alignable, valid forward-confirmed PTR, TLS on every
 * route, and one-click unsubscribe (RFC 8058).
 */
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "config.h"
#include "doctor/doctor.h"

#define CHECK "bulk"

/* A route that may send in clear: the name of the first, or NULL. */
static const char *route_without_tls(const struct config *cf)
{
	for (size_t i = 0; i < cf->nroutes; i++)
		if (cf->routes[i].tls == ROUTE_TLS_NONE)
			return cf->routes[i].name;
	return NULL;
}

/* One requirement: met (its check passed), unverified (warnings: a
 * lookup failed or a detail is off) or unmet (failures). */
static void requirement(struct buf *b[3], enum doctor_status st, const char *what)
{
	buf_printf(b[st], "%s%s", b[st]->len ? ", " : "", what);
}

/* A requirement judged from check's findings: one that made no finding
 * was not checked, which is never "met". */
static void judged(struct doctor *d, struct buf *b[3], struct buf *unchecked, const char *check,
		   const char *what)
{
	if (doctor_checked(d, check))
		requirement(b, doctor_worst(d, check), what);
	else
		buf_printf(unchecked, "%s%s", unchecked->len ? ", " : "", what);
}

void check_bulk_finish(struct doctor *d)
{
	struct buf met = BUF_INIT, unverified = BUF_INIT, unmet = BUF_INIT, ev = BUF_INIT;
	struct buf unchecked = BUF_INIT;
	struct buf *b[3] = { &met, &unverified, &unmet };
	const char *clear = route_without_tls(d->cf);
	judged(d, b, &unchecked, "spf", "SPF");
	judged(d, b, &unchecked, "dkim", "DKIM");
	judged(d, b, &unchecked, "dmarc", "DMARC aligned");
	judged(d, b, &unchecked, "rdns", "PTR (FCrDNS)");
	requirement(b, clear ? DOCTOR_FAIL : DOCTOR_PASS,
		    clear ? doctor_str(d, "TLS (route %s has tls = \"none\")", clear) : "TLS");
	if (unmet.len)
		buf_printf(&ev, "not met: %s; ", unmet.data);
	if (unverified.len)
		buf_printf(&ev, "not verified (see the warnings): %s; ", unverified.data);
	if (unchecked.len)
		buf_printf(&ev, "not checked (nothing to check it on: no source address, or no "
			   "key configured): %s; ", unchecked.data);
	buf_printf(&ev, "met: %s", met.len ? met.data : "none");
	enum doctor_status st = unmet.len ? DOCTOR_FAIL : unverified.len || unchecked.len
				? DOCTOR_WARN : DOCTOR_PASS;
	doctor_add(d, CHECK, st, "Gmail/Yahoo 2024", ev.data, st == DOCTOR_PASS ? NULL :
		   "fix what the other checks report: bulk mail that misses any of these is "
		   "refused or sent to spam");
	/* outpost has no bulk class yet: the headers are the sending app's */
	doctor_add(d, CHECK, DOCTOR_PASS, "one-click unsubscribe",
		   "outpost does not add unsubscribe headers: marketing mail must carry "
		   "List-Unsubscribe (with an https URI) and List-Unsubscribe-Post: "
		   "List-Unsubscribe=One-Click (RFC 8058), added by the sending app", NULL);
	buf_free(&met);
	buf_free(&unverified);
	buf_free(&unmet);
	buf_free(&unchecked);
	buf_free(&ev);
}
