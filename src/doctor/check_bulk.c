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

static void requirement(struct buf *unmet, struct buf *met, int ok, const char *what)
{
	struct buf *b = ok ? met : unmet;
	buf_printf(b, "%s%s", b->len ? ", " : "", what);
}

void check_bulk_finish(struct doctor *d)
{
	struct buf unmet = BUF_INIT, met = BUF_INIT, ev = BUF_INIT;
	char tls[300];
	const char *clear = route_without_tls(d->cf);
	snprintf(tls, sizeof(tls), "TLS (route %s has tls = \"none\")", clear ? clear : "");
	requirement(&unmet, &met, doctor_worst(d, "spf") != DOCTOR_FAIL, "SPF");
	requirement(&unmet, &met, doctor_worst(d, "dkim") != DOCTOR_FAIL, "DKIM");
	requirement(&unmet, &met, doctor_worst(d, "dmarc") != DOCTOR_FAIL, "DMARC aligned");
	requirement(&unmet, &met, doctor_worst(d, "rdns") != DOCTOR_FAIL, "PTR (FCrDNS)");
	requirement(&unmet, &met, clear == NULL, clear ? tls : "TLS");
	if (unmet.len) {
		buf_printf(&ev, "not met: %s%s%s", unmet.data, met.len ? "; met: " : "",
			   met.len ? met.data : "");
		doctor_add(d, CHECK, DOCTOR_FAIL, "Gmail/Yahoo 2024", ev.data,
			   "fix the failures above: bulk mail that misses any of these is refused or "
			   "sent to spam");
	} else {
		buf_printf(&ev, "met: %s", met.data);
		doctor_add(d, CHECK, DOCTOR_PASS, "Gmail/Yahoo 2024", ev.data, NULL);
	}
	/* outpost has no bulk class yet: the headers are the sending app's */
	doctor_add(d, CHECK, DOCTOR_PASS, "one-click unsubscribe",
		   "outpost does not add unsubscribe headers: marketing mail must carry "
		   "List-Unsubscribe (with an https URI) and List-Unsubscribe-Post: "
		   "List-Unsubscribe=One-Click (RFC 8058), added by the sending app", NULL);
	buf_free(&unmet);
	buf_free(&met);
	buf_free(&ev);
}
