/*
 * sched_mx: the one reader of an MX answer (part of the scheduler:
 * scheduler_int.h), for routing (the `mx` rules) and for delivery alike.
 *
 * Contract: mx_answer_read() turns a dns_result for domain's MX into
 *   MX_HOSTS   the hosts in preference order (RFC 5321 5.1), trailing dot
 *              removed; no MX records (NODATA) gives the domain itself;
 *              records that are all "." (but not a lone null MX) give none;
 *   MX_NONE    NXDOMAIN (550 5.1.2) or a null MX (RFC 7505, 556 5.1.10):
 *              no host, and a permanent verdict for every recipient;
 *   MX_FAILED  SERVFAIL, timeout or another rcode (451 4.4.3): defer.
 * hosts is a NULL-ended array (empty for MX_NONE, NULL for MX_FAILED);
 * mx_answer_clear() frees it.
 */
#include <stdio.h>
#include <string.h>

#include "core/xmalloc.h"
#include "delivery/scheduler_int.h"
#include "dns/dns.h"

void mx_answer_read(const struct dns_result *res, const char *domain, struct mx_answer *a)
{
	*a = (struct mx_answer){ MX_HOSTS, NULL, 0, { 0 } };
	if (res->rcode == DNS_RCODE_NXDOMAIN) {
		a->kind = MX_NONE;
		reply_classify(550, "5.1.2 Recipient domain does not exist (NXDOMAIN)", &a->verdict);
	} else if (res->rcode != DNS_RCODE_NOERROR) {
		char why[300];
		snprintf(why, sizeof(why), "4.4.3 MX lookup for %s failed: %s", domain,
			 res->timed_out ? "timeout" : res->why ? res->why : "SERVFAIL");
		a->kind = MX_FAILED;
		reply_classify(451, why, &a->verdict);
		return;
	} else if (res->n == 1 && strcmp(res->mx[0].host, ".") == 0) {
		a->kind = MX_NONE;
		reply_classify(556, "5.1.10 Recipient domain accepts no mail (null MX)", &a->verdict);
	} else if (res->n > 0) {
		a->hosts = dns_mx_hosts(res->mx, res->n, &a->n);
		return;
	} else {
		/* no MX: the domain's own address */
		size_t l = strlen(domain);
		a->hosts = xcalloc(2, sizeof(char *));
		a->hosts[0] = xstrndup(domain, l > 1 && domain[l - 1] == '.' ? l - 1 : l);
		a->n = 1;
		return;
	}
	a->hosts = xcalloc(1, sizeof(char *));
}

void mx_answer_clear(struct mx_answer *a)
{
	dns_hosts_free(a->hosts);
	a->hosts = NULL;
	a->n = 0;
}
