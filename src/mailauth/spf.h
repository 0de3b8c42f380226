/*
 * spf: the RFC 7208 check_host() function, evaluated asynchronously on the
 * resolver (one state machine per check, lookups issued in parallel where
 * the RFC allows: the address lookups of an mx mechanism, the validation
 * of ptr names and of %{p}).
 * Contract: spf_check_start() either returns a running check or NULL with
 * the reason in err (a request that cannot be evaluated: bad IP).  The done
 * callback runs exactly once, on the loop and never from inside
 * spf_check_start(), unless spf_check_cancel() is called first; the check
 * frees itself after the callback returns, and the outcome's strings live
 * only for that call.  Limits enforced: 10 DNS-querying terms, 2 void
 * lookups, 10 MX records per mx, 10 PTR names per ptr and %{p}; exp= is
 * looked up at most once, after the result, outside both limits.
 */
#ifndef OUTPOST_SPF_H
#define OUTPOST_SPF_H
#include <stddef.h>

struct resolver;
struct spf_check;

enum spf_result {
	SPF_RESULT_NONE, SPF_RESULT_NEUTRAL, SPF_RESULT_PASS, SPF_RESULT_FAIL,
	SPF_RESULT_SOFTFAIL, SPF_RESULT_TEMPERROR, SPF_RESULT_PERMERROR,
};

#define SPF_MAX_DNS_TERMS   10
#define SPF_MAX_VOID        2
#define SPF_MAX_MX          10
#define SPF_MAX_PTR         10
#define SPF_DEADLINE_MS     20000   /* RFC 7208 4.6.4: at least 20 s */

struct spf_request {
	const char *ip;          /* SMTP client address, IPv4 or IPv6 text */
	const char *mail_from;   /* MAIL FROM address; "" for the null sender */
	const char *helo;        /* HELO/EHLO name; checked when mail_from is "" */
	const char *receiver;    /* %{r}; NULL: "unknown" */
	unsigned deadline_ms;    /* bound on the whole check (0: SPF_DEADLINE_MS);
				    past it the result is temperror, except that
				    a fail already decided stays fail */
};

struct spf_outcome {
	enum spf_result result;
	const char *domain;      /* the domain checked first */
	const char *explanation; /* from exp=, only for fail; NULL when none */
	const char *reason;      /* what decided: the matching term, or the error */
	unsigned dns_terms;      /* terms that needed DNS, counted against the limit */
	unsigned void_lookups;
};

typedef void spf_done_cb(const struct spf_outcome *out, void *arg);

struct spf_check *spf_check_start(struct resolver *res, const struct spf_request *req,
				  spf_done_cb *cb, void *arg, char *err, size_t errlen);
void spf_check_cancel(struct spf_check *c);
/* "pass", "fail", "softfail", "neutral", "none", "temperror", "permerror". */
const char *spf_result_name(enum spf_result r);

#endif
