/*
 * check_bounces: with `bounces.domain` set, the records that make bounces
 * come back to outpost and pass receivers' checks: an MX for the bounce
 * domain (its hosts named in the evidence; a null MX or none at all is a
 * failure: bounces would be lost), and an SPF record for it (the envelope
 * sender's domain is now the bounce domain, so receivers evaluate SPF
 * there; its absence is a warning).  Nothing is reported without the
 * setting.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "core/config.h"
#include "dns/dns.h"
#include "doctor/doctor.h"

#define CHECK "bounces"

static void on_mx(struct doctor *d, const struct dns_result *res, void *arg)
{
	const char *dom = arg;
	const char *subject = doctor_str(d, "MX of %s (bounces.domain)", dom);
	const char *fix = doctor_str(d, "publish %s. MX 10 %s. (the host outpost receives on, port 25)", dom,
				     d->cf->hostname);
	if (res->n == 0 || res->mx == NULL) {
		doctor_add(d, CHECK, doctor_dns_absent(res) < 0 ? DOCTOR_WARN : DOCTOR_FAIL, subject,
			   doctor_str(d, "MX %s: %s: bounces sent there are lost", dom, doctor_dns_outcome(d, res)),
			   fix);
		return;
	}
	struct buf hosts = BUF_INIT;
	int null_mx = 0, ours = 0;
	for (size_t i = 0; i < res->n; i++) {
		buf_printf(&hosts, "%s%u %s", i ? ", " : "", res->mx[i].pref, res->mx[i].host);
		null_mx |= strcmp(res->mx[i].host, ".") == 0;
		ours |= dns_name_equal(res->mx[i].host, d->cf->hostname);
	}
	if (null_mx)
		doctor_add(d, CHECK, DOCTOR_FAIL, subject,
			   doctor_str(d, "MX %s: %s (a null MX: it takes no mail)", dom, hosts.data), fix);
	else
		doctor_add(d, CHECK, ours ? DOCTOR_PASS : DOCTOR_WARN, subject,
			   doctor_str(d, "MX %s: %s%s", dom, hosts.data,
				      ours ? "" : doctor_str(d, " (none is this host, %s: make sure it reaches outpost)",
							     d->cf->hostname)),
			   ours ? NULL : fix);
	buf_free(&hosts);
}

static void on_txt(struct doctor *d, const struct dns_result *res, void *arg)
{
	const char *dom = arg, *spf = NULL;
	for (size_t i = 0; i < res->n && res->txt; i++)
		if (strncasecmp(res->txt[i].data, "v=spf1", 6) == 0 &&
		    (res->txt[i].data[6] == ' ' || res->txt[i].data[6] == '\0'))
			spf = res->txt[i].data;
	const char *subject = doctor_str(d, "SPF of %s (the envelope sender's domain)", dom);
	if (spf)
		doctor_add(d, CHECK, DOCTOR_PASS, subject, doctor_str(d, "TXT %s: \"%s\"", dom, spf), NULL);
	else
		doctor_add(d, CHECK, DOCTOR_WARN, subject,
			   doctor_str(d, "TXT %s: %s: receivers find no SPF record for the envelope sender", dom,
				      res->n ? "no v=spf1 record" : doctor_dns_outcome(d, res)),
			   doctor_str(d, "publish %s. TXT \"v=spf1 ...\" with the same terms as the sending domain's "
				      "(its ip4:/include: for every source address and relay) and -all", dom));
}

void check_bounces_start(struct doctor *d)
{
	const char *dom = d->cf->bounces.domain;
	if (dom == NULL)
		return;
	doctor_lookup(d, dom, DNS_TYPE_MX, on_mx, (void *)dom);
	doctor_lookup(d, dom, DNS_TYPE_TXT, on_txt, (void *)dom);
}
