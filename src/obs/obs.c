/*
 * obs: the hooks of obs.h, as metrics (metrics.h).
 */
#include "obs/obs.h"

#include "obs/metrics.h"

void obs_session(const char *listener, int open)
{
	if (open)
		metrics_inc(M_SESSIONS, listener, NULL);
	metrics_add(M_SESSIONS_OPEN, NULL, NULL, NULL, open ? 1 : -1);
}

void obs_received(const char *listener, const char *user, const char *tenant)
{
	metrics_inc(M_RECEIVED, listener, user ? user : "");
	metrics_inc(M_TENANT_RECEIVED, tenant, NULL);
}

void obs_dkim(int rc)
{
	if (rc > 0)
		metrics_inc(M_DKIM_SIGNED, NULL, NULL);
	else if (rc < 0)
		metrics_inc(M_DKIM_FAILED, NULL, NULL);
}

void obs_outcome(const char *route, const char *tenant, const char *result, const char *enh, time_t created,
		 time_t now)
{
	metrics_inc(M_ATTEMPTS, route, result);
	metrics_inc(M_TENANT_RECIPIENTS, tenant, result);
	if (result[0] == 'b') {
		obs_bounce(enh && enh[0] ? enh : "none", "recipient");
		metrics_inc(M_TENANT_BOUNCES, tenant, enh && enh[0] ? enh : "none");
	} else if (result[0] == 'd' && result[1] == 'e' && result[2] == 'l')
		metrics_observe(M_DELIVERY_LATENCY, route, now > created ? (double)(now - created) : 0);
}

void obs_bounce(const char *reason, const char *scope)
{
	metrics_inc(M_BOUNCES, reason, scope);
}

void obs_failover(const char *from, const char *to)
{
	metrics_inc(M_FAILOVERS, from, to);
}

void obs_transaction(const char *route, double seconds)
{
	metrics_observe(M_TXN_DURATION, route, seconds);
}

void obs_complaint(const char *tenant)
{
	metrics_inc(M_TENANT_COMPLAINTS, tenant, NULL);
}

void obs_scan(const char *result, const char *tenant, double seconds)
{
	metrics_inc(M_SCANS, result, tenant);
	metrics_observe(M_SCAN_DURATION, "rspamd", seconds);
}

void obs_scan_error(const char *reason, const char *action)
{
	metrics_inc(M_SCAN_ERRORS, reason, action);
}
