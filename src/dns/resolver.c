/*
 * resolver: libunbound made asynchronous on the libevent loop; see
 * resolver.h for the contract.  libunbound runs its work in a thread
 * (ub_ctx_async); answers come back through a pipe, ub_fd(), which a
 * persistent read event drains with ub_process().  Each query has an
 * evtimer: it bounds the query (ub_cancel() when it fires) and also defers
 * the report of a query that failed before reaching libunbound.
 */
#include "dns/resolver.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <event2/event.h>
#include <unbound.h>

#include "log.h"
#include "xmalloc.h"

#define RESOLVER_DEFAULT_TIMEOUT_MS 5000

struct resolver_query {
	struct resolver *r;
	struct resolver_query *prev, *next;
	struct event *timer;
	int async_id;            /* 0: not handed to libunbound */
	int type;
	char *name;
	const char *fail_why;    /* set: report this local failure from the timer */
	struct timeval started;
	resolver_cb *cb;
	void *arg;
};

struct resolver {
	struct event_base *base;
	struct ub_ctx *ctx;
	struct event *ev;        /* ub_fd() readable */
	struct timeval timeout;
	struct resolver_query *head;
	size_t npending;
	int processing;          /* inside ub_process() */
	int dying;               /* resolver_free() called while processing */
};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	if (errlen == 0)
		return;
	va_start(ap, fmt);
	int n = vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	if (n < 0)
		snprintf(err, errlen, "error");
	else if ((size_t)n >= errlen && errlen > 4)
		memcpy(err + errlen - 4, "...", 4);     /* marks truncation */
}

/* "IP" or "IP@PORT" with a numeric port 1..65535. */
static int forwarder_valid(const char *spec)
{
	char ip[INET6_ADDRSTRLEN + 1];
	unsigned char tmp[16];
	const char *at = strchr(spec, '@');
	size_t iplen = at ? (size_t)(at - spec) : strlen(spec);
	if (iplen == 0 || iplen >= sizeof(ip))
		return 0;
	memcpy(ip, spec, iplen);
	ip[iplen] = '\0';
	if (inet_pton(AF_INET, ip, tmp) != 1 && inet_pton(AF_INET6, ip, tmp) != 1)
		return 0;
	if (!at)
		return 1;
	const char *p = at + 1;
	unsigned long port = 0;
	if (*p == '\0' || strlen(p) > 5)
		return 0;
	for (; *p; p++) {
		if (*p < '0' || *p > '9')
			return 0;
		port = port * 10 + (unsigned long)(*p - '0');
	}
	return port >= 1 && port <= 65535;
}

static int set_option(struct ub_ctx *ctx, const char *opt, const char *val,
		      char *err, size_t errlen)
{
	int rc = ub_ctx_set_option(ctx, opt, val);
	if (rc != 0)
		set_err(err, errlen, "libunbound option %s %s: %s", opt, val, ub_strerror(rc));
	return rc == 0 ? 0 : -1;
}

static int resolver_configure(struct ub_ctx *ctx, const char *spec, char *err, size_t errlen)
{
	int rc;
	if ((rc = ub_ctx_async(ctx, 1)) != 0) {
		set_err(err, errlen, "libunbound threads: %s", ub_strerror(rc));
		return -1;
	}
	/* Everything goes to the configured server: test servers and local
	 * caches live on loopback; reverse zones of private and documentation
	 * ranges (unbound answers them NXDOMAIN itself by default) are asked
	 * too, since a cloud's DNS often has PTRs for them; answer order kept. */
	if (set_option(ctx, "do-not-query-localhost:", "no", err, errlen) < 0 ||
	    set_option(ctx, "unblock-lan-zones:", "yes", err, errlen) < 0 ||
	    set_option(ctx, "rrset-roundrobin:", "no", err, errlen) < 0 ||
	    set_option(ctx, "infra-keep-probing:", "yes", err, errlen) < 0)
		return -1;
	if (strcmp(spec, "system") == 0) {
		if ((rc = ub_ctx_resolvconf(ctx, NULL)) != 0) {
			set_err(err, errlen, "cannot use /etc/resolv.conf: %s", ub_strerror(rc));
			return -1;
		}
		if ((rc = ub_ctx_hosts(ctx, NULL)) != 0)
			msg_warn("event=dns_hosts_ignored reason=\"%s\"", ub_strerror(rc));
		return 0;
	}
	if (!forwarder_valid(spec)) {
		set_err(err, errlen, "resolver must be \"system\", IP or IP@PORT");
		return -1;
	}
	if ((rc = ub_ctx_set_fwd(ctx, spec)) != 0) {
		set_err(err, errlen, "resolver %s: %s", spec, ub_strerror(rc));
		return -1;
	}
	return 0;
}

static void on_readable(evutil_socket_t fd, short what, void *arg);
static void resolver_destroy(struct resolver *r);

struct resolver *resolver_new(struct event_base *base, const char *spec,
			      unsigned timeout_ms, char *err, size_t errlen)
{
	struct ub_ctx *ctx = ub_ctx_create();
	if (ctx == NULL) {
		set_err(err, errlen, "cannot create a libunbound context");
		return NULL;
	}
	if (resolver_configure(ctx, spec, err, errlen) < 0) {
		ub_ctx_delete(ctx);
		return NULL;
	}
	struct resolver *r = xcalloc(1, sizeof(*r));
	r->base = base;
	r->ctx = ctx;
	if (timeout_ms == 0)
		timeout_ms = RESOLVER_DEFAULT_TIMEOUT_MS;
	r->timeout.tv_sec = timeout_ms / 1000;
	r->timeout.tv_usec = (timeout_ms % 1000) * 1000;
	r->ev = event_new(base, ub_fd(ctx), EV_READ | EV_PERSIST, on_readable, r);
	if (r->ev == NULL || event_add(r->ev, NULL) < 0) {
		set_err(err, errlen, "cannot watch the libunbound descriptor");
		resolver_destroy(r);
		return NULL;
	}
	return r;
}

struct event_base *resolver_base(const struct resolver *r)
{
	return r->base;
}

size_t resolver_pending(const struct resolver *r)
{
	return r->npending;
}

static void query_unlink(struct resolver_query *q)
{
	struct resolver *r = q->r;
	if (q->prev)
		q->prev->next = q->next;
	else
		r->head = q->next;
	if (q->next)
		q->next->prev = q->prev;
	r->npending--;
	event_free(q->timer);
	q->timer = NULL;
}

static void query_free(struct resolver_query *q)
{
	free(q->name);
	free(q);
}

static long elapsed_ms(const struct timeval *since)
{
	struct timeval now;
	gettimeofday(&now, NULL);
	return (long)(now.tv_sec - since->tv_sec) * 1000 + (now.tv_usec - since->tv_usec) / 1000;
}

/* Hands res to the caller and forgets q; the resolver may be freed by the
 * callback, so nothing of it is touched afterwards. */
static void query_deliver(struct resolver_query *q, const struct dns_result *res)
{
	char qn[DNS_NAME_TEXT_MAX + 8], tn[16];
	if (log_debug_enabled())
		msg_debug("event=dns_answer name=%s type=%s rcode=%d timed_out=%d records=%zu ms=%ld%s%s",
			  log_quote(qn, sizeof(qn), q->name), dns_type_name(q->type, tn, sizeof(tn)),
			  res->rcode, res->timed_out, res->n, elapsed_ms(&q->started),
			  res->why ? " why=" : "", res->why ? res->why : "");
	query_unlink(q);
	q->cb(res, q->arg);
	query_free(q);
}

static const char *rcode_text(int rcode)
{
	switch (rcode) {
	case DNS_RCODE_FORMERR: return "FORMERR";
	case DNS_RCODE_SERVFAIL: return "SERVFAIL";
	case DNS_RCODE_NXDOMAIN: return "NXDOMAIN";
	case DNS_RCODE_REFUSED: return "REFUSED";
	}
	return "error rcode";
}

static void on_answer(void *arg, int err, struct ub_result *ub)
{
	struct resolver_query *q = arg;
	struct dns_result res;
	memset(&res, 0, sizeof(res));
	res.qname = q->name;
	res.qtype = q->type;
	q->async_id = 0;
	if (err != 0 || ub == NULL) {
		res.rcode = DNS_RCODE_SERVFAIL;
		res.why = err ? ub_strerror(err) : "no result";
	} else if (ub->bogus) {
		res.rcode = DNS_RCODE_SERVFAIL;
		res.why = "DNSSEC validation failed";
	} else {
		res.rcode = ub->rcode;
		if (res.rcode != DNS_RCODE_NOERROR)
			res.why = rcode_text(res.rcode);
		else if (ub->havedata && resolver_decode(q->type, ub->data, ub->len, &res) < 0) {
			resolver_result_clear(&res);
			res.rcode = DNS_RCODE_SERVFAIL;
			res.why = "malformed record data";
		}
	}
	query_deliver(q, &res);
	resolver_result_clear(&res);
	ub_resolve_free(ub);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct resolver_query *q = arg;
	struct dns_result res;
	(void)fd;
	(void)what;
	memset(&res, 0, sizeof(res));
	res.qname = q->name;
	res.qtype = q->type;
	res.rcode = DNS_RCODE_SERVFAIL;
	if (q->fail_why) {
		res.why = q->fail_why;
	} else {
		res.timed_out = 1;
		res.why = "timeout";
		(void)ub_cancel(q->r->ctx, q->async_id);
		q->async_id = 0;
	}
	query_deliver(q, &res);
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
	struct resolver *r = arg;
	(void)fd;
	(void)what;
	r->processing++;
	int rc = ub_process(r->ctx);
	r->processing--;
	if (rc != 0)
		msg_warn("event=dns_error op=ub_process reason=\"%s\"", ub_strerror(rc));
	if (r->dying && r->processing == 0)
		resolver_destroy(r);
}

struct resolver_query *resolver_query(struct resolver *r, const char *name, int rrtype,
				      resolver_cb *cb, void *arg)
{
	static const struct timeval now = { 0, 0 };
	char qn[DNS_NAME_TEXT_MAX + 8], tn[16];
	struct resolver_query *q = xcalloc(1, sizeof(*q));
	q->r = r;
	q->name = xstrdup(name);
	q->type = rrtype;
	q->cb = cb;
	q->arg = arg;
	gettimeofday(&q->started, NULL);
	q->timer = evtimer_new(r->base, on_timer, q);
	if (q->timer == NULL)
		msg_fatal("event=dns_error reason=\"cannot create a timer\"");
	q->next = r->head;
	if (r->head)
		r->head->prev = q;
	r->head = q;
	r->npending++;
	if (log_debug_enabled())
		msg_debug("event=dns_query name=%s type=%s", log_quote(qn, sizeof(qn), name),
			  dns_type_name(rrtype, tn, sizeof(tn)));
	if (r->dying) {
		q->fail_why = "resolver closing";
	} else if (!dns_name_valid(name)) {
		q->fail_why = "invalid name";
	} else {
		int rc = ub_resolve_async(r->ctx, name, rrtype, 1, q, on_answer, &q->async_id);
		if (rc != 0) {
			q->async_id = 0;
			q->fail_why = ub_strerror(rc);
		}
	}
	evtimer_add(q->timer, q->fail_why ? &now : &r->timeout);
	return q;
}

void resolver_cancel(struct resolver_query *q)
{
	if (q->async_id)
		(void)ub_cancel(q->r->ctx, q->async_id);
	query_unlink(q);
	query_free(q);
}

static void resolver_destroy(struct resolver *r)
{
	while (r->head)
		resolver_cancel(r->head);
	if (r->ev)
		event_free(r->ev);
	ub_ctx_delete(r->ctx);
	free(r);
}

void resolver_free(struct resolver *r)
{
	if (r == NULL)
		return;
	if (r->processing) {
		/* inside ub_process(): finish once it has returned */
		while (r->head)
			resolver_cancel(r->head);
		r->dying = 1;
		return;
	}
	resolver_destroy(r);
}

static int decode_one(int qtype, const unsigned char *d, size_t len, struct dns_result *res,
		      size_t i)
{
	char name[DNS_NAME_TEXT_MAX];
	unsigned pref;
	switch (qtype) {
	case DNS_TYPE_TXT:
	case DNS_TYPE_SPF:
		return dns_rdata_txt(d, len, &res->txt[i]);
	case DNS_TYPE_A:
		return dns_rdata_a(d, len, &res->addr[i]);
	case DNS_TYPE_AAAA:
		return dns_rdata_aaaa(d, len, &res->addr[i]);
	case DNS_TYPE_MX:
		if (dns_rdata_mx(d, len, 0, len, &pref, name, sizeof(name)) < 0)
			return -1;
		res->mx[i].pref = pref;
		res->mx[i].host = xstrdup(name);
		return 0;
	default:
		if (dns_rdata_name(d, len, 0, len, name, sizeof(name)) < 0)
			return -1;
		res->name[i] = xstrdup(name);
		return 0;
	}
}

int resolver_decode(int qtype, char *const *data, const int *len, struct dns_result *res)
{
	size_t count = 0;
	while (data[count])
		count++;
	res->n = 0;
	if (count == 0)
		return 0;
	switch (qtype) {
	case DNS_TYPE_TXT:
	case DNS_TYPE_SPF:
		res->txt = xcalloc(count, sizeof(*res->txt));
		break;
	case DNS_TYPE_A:
	case DNS_TYPE_AAAA:
		res->addr = xcalloc(count, sizeof(*res->addr));
		break;
	case DNS_TYPE_MX:
		res->mx = xcalloc(count, sizeof(*res->mx));
		break;
	case DNS_TYPE_PTR:
	case DNS_TYPE_CNAME:
	case DNS_TYPE_NS:
		res->name = xcalloc(count, sizeof(*res->name));
		break;
	default:
		return 0;               /* not decoded; n stays 0 */
	}
	for (size_t i = 0; i < count; i++) {
		res->n = i + 1;         /* so that clear frees a partial item */
		if (len[i] < 0 ||
		    decode_one(qtype, (const unsigned char *)data[i], (size_t)len[i], res, i) < 0)
			return -1;
	}
	return 0;
}

void resolver_result_clear(struct dns_result *res)
{
	for (size_t i = 0; i < res->n; i++) {
		if (res->txt)
			buf_free(&res->txt[i]);
		if (res->mx)
			free(res->mx[i].host);
		if (res->name)
			free(res->name[i]);
	}
	free(res->txt);
	free(res->addr);
	free(res->mx);
	free(res->name);
	res->txt = NULL;
	res->addr = NULL;
	res->mx = NULL;
	res->name = NULL;
	res->n = 0;
}
