/*
 * obs: the hooks of obs.h, as metrics (metrics.h), and the events handed
 * to the daemon's sink.
 */
#include "obs/obs.h"

#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/utf8.h"
#include "obs/metrics.h"

/* obs.h promises that "I" takes a long long */
_Static_assert(sizeof(json_int_t) == sizeof(long long), "json_int_t is long long");

static pthread_mutex_t sink_mu = PTHREAD_MUTEX_INITIALIZER;
static obs_event_fn *sink_fn;
static void *sink_arg;
static obs_rejected_fn *rej_fn;   /* under sink_mu */
static void *rej_arg;

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
	(void)enh;
	if (result[0] == 'd' && result[1] == 'e' && result[2] == 'l')
		metrics_observe(M_DELIVERY_LATENCY, route, now > created ? (double)(now - created) : 0);
}

void obs_bounce(const char *reason, const char *scope, const char *source)
{
	metrics_add(M_BOUNCES, reason, scope, source, 1);
}

void obs_failover(const char *from, const char *to)
{
	metrics_inc(M_FAILOVERS, from, to);
}

void obs_transaction(const char *route, double seconds)
{
	metrics_observe(M_TXN_DURATION, route, seconds);
}

void obs_tenant_bounce(const char *tenant, const char *reason, const char *source)
{
	metrics_add(M_TENANT_BOUNCES, tenant, reason, source, 1);
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

void obs_placement(const char *route, const char *result)
{
	metrics_inc(M_PLACEMENT_RESULTS, route, result);
}

void obs_placement_round(void)
{
	metrics_clear(M_PLACEMENT_INBOX);
}

void obs_placement_share(const char *route, double share)
{
	metrics_set(M_PLACEMENT_INBOX, route, NULL, NULL, share);
}

void obs_rejected(const char *listener, const char *reason)
{
	metrics_inc(M_REJECTED, listener, reason);
	pthread_mutex_lock(&sink_mu);
	if (rej_fn)
		rej_fn(rej_arg, reason);
	pthread_mutex_unlock(&sink_mu);
}

void obs_rejected_sink(obs_rejected_fn *fn, void *arg)
{
	pthread_mutex_lock(&sink_mu);
	rej_fn = fn;
	rej_arg = arg;
	pthread_mutex_unlock(&sink_mu);
}

void obs_event_sink(obs_event_fn *fn, void *arg)
{
	pthread_mutex_lock(&sink_mu);
	sink_fn = fn;
	sink_arg = arg;
	pthread_mutex_unlock(&sink_mu);
}

void obs_event(const char *event, const char *qid, const char *route, const char *rcpt, const char *fmt, ...)
{
	char *detail = NULL;
	if (fmt) {
		va_list ap;
		json_error_t err;
		va_start(ap, fmt);
		json_t *o = json_vpack_ex(&err, 0, fmt, ap);
		va_end(ap);
		if (o == NULL)   /* a caller's format is wrong: a bug, but no reason to stop */
			msg_warn("event=obs_error event_name=%s reason=\"detail: %s\"", event, err.text);
		detail = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
		json_decref(o);
	}
	pthread_mutex_lock(&sink_mu);
	if (sink_fn)
		sink_fn(sink_arg, event, qid, route, rcpt, detail);
	pthread_mutex_unlock(&sink_mu);
	free(detail);
}

const char *obs_text(char *out, size_t outlen, const char *in)
{
	size_t o = 0, left = in ? strlen(in) : 0;
	const unsigned char *p = (const unsigned char *)(in ? in : "");
	if (outlen == 0)
		return out;
	while (left > 0) {
		size_t n = utf8_next(p, left, NULL);
		if (n == 0 || *p < 0x20 || *p == 0x7f)
			n = 0;
		if (o + (n ? n : 1) >= outlen)
			break;
		if (n == 0) {
			out[o++] = '?';
			p++;
			left--;
			continue;
		}
		memcpy(out + o, p, n);
		o += n;
		p += n;
		left -= n;
	}
	out[o] = '\0';
	return out;
}
