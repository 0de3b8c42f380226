/*
 * resolver: asynchronous DNS lookups on the libevent loop, by libunbound.
 * Contract: resolver_query() never calls its callback before it returns;
 * the callback is called exactly once per query, on the loop, unless the
 * query is cancelled first, and is never called after resolver_cancel().
 * Every query is bounded by the resolver's own timer (libunbound alone
 * takes ~17 s to give up): when it fires the query is cancelled inside
 * libunbound and reported with timed_out set.  The dns_result handed to a
 * callback, and everything it points to, lives only for that call.  While
 * a resolver exists it keeps a persistent event on the base, so
 * event_base_dispatch() does not return on its own: callers end the loop.
 * resolver_free() cancels what is still pending (no callbacks run).
 */
#ifndef OUTPOST_RESOLVER_H
#define OUTPOST_RESOLVER_H
#include <stddef.h>

#include "buf.h"
#include "dns/dns.h"

struct event_base;
struct resolver;
struct resolver_query;

struct dns_result {
	const char *qname;       /* as asked, presentation format */
	int qtype;
	int rcode;               /* DNS_RCODE_*; SERVFAIL also for timeouts and local errors */
	int timed_out;           /* our timer fired before an answer came */
	const char *why;         /* short reason when rcode is not NOERROR, else NULL */
	size_t n;                /* decoded records (of the types below), 0 for NODATA */
	struct buf *txt;         /* TXT, SPF: one string per record */
	struct dns_addr *addr;   /* A, AAAA */
	struct dns_mx *mx;       /* MX */
	char **name;             /* PTR, CNAME, NS: presentation format */
};

typedef void resolver_cb(const struct dns_result *res, void *arg);

/* spec: "system" (resolv.conf and /etc/hosts) or "IP", "IP@PORT" (one
 * forwarding server, e.g. a test server on loopback).  timeout_ms bounds
 * each query (0: 5000).  NULL with a reason in err on failure. */
struct resolver *resolver_new(struct event_base *base, const char *spec,
			      unsigned timeout_ms, char *err, size_t errlen);
void resolver_free(struct resolver *r);
struct event_base *resolver_base(const struct resolver *r);

/* Starts a lookup of name (presentation format) for rrtype.  Never NULL:
 * an invalid name or a libunbound error is reported through cb (with rcode
 * SERVFAIL and why set), after this function has returned.  The handle is
 * valid until the callback returns or resolver_cancel() is called. */
struct resolver_query *resolver_query(struct resolver *r, const char *name, int rrtype,
				      resolver_cb *cb, void *arg);
void resolver_cancel(struct resolver_query *q);
/* Number of queries started and neither answered nor cancelled. */
size_t resolver_pending(const struct resolver *r);

/* Decodes the rdata items libunbound returns (data[i], len[i], NULL-ended)
 * for qtype into res (n, txt/addr/mx/name), allocating with xmalloc.  -1
 * when an item is malformed.  Callable alone (unit tests, fuzzing). */
int resolver_decode(int qtype, char *const *data, const int *len, struct dns_result *res);
/* Frees what resolver_decode() allocated and zeroes the record fields. */
void resolver_result_clear(struct dns_result *res);

#endif
