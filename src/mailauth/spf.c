/*
 * spf: check_host() of RFC 7208 as a state machine on the resolver; see
 * spf.h for the contract.  A check holds a stack of frames, one per
 * record being evaluated (include: pushes one; redirect= replaces the
 * current frame's domain and record).  Each step issues its lookups and
 * returns to the loop; on_lookup() dispatches answers by step.  Only the
 * top frame evaluates exp=, and only for a fail result.
 */
#include "mailauth/spf.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/event.h>

#include "dns/resolver.h"
#include "log.h"
#include "mailauth/spf_macro.h"
#include "mailauth/spf_record.h"
#include "xmalloc.h"

#define SPF_MAX_PARALLEL 10      /* >= SPF_MAX_MX and SPF_MAX_PTR */
#define SPF_DOMAIN_MAX   253

enum spf_step {
	STEP_IDLE, STEP_RECORD, STEP_A, STEP_EXISTS, STEP_MX, STEP_MX_ADDR,
	STEP_PTR, STEP_PTR_ADDR, STEP_P_PTR, STEP_P_ADDR, STEP_EXP,
};

/* What to continue with once %{p} is known. */
enum spf_resume { RESUME_TERM, RESUME_REDIRECT, RESUME_EXP_DOMAIN, RESUME_EXP_TEXT };

/* How a term's evaluation went when it returned to run(). */
enum term_state { TERM_MATCH, TERM_NOMATCH, TERM_PENDING, TERM_DONE };

struct spf_frame {
	struct spf_frame *parent;  /* the frame whose include: started this one */
	char *domain;              /* <domain>: raw text, no final dot */
	struct spf_record *rec;
	size_t next;               /* the term being evaluated */
	int counted;               /* that term is counted against the limit */
	int redirected;            /* reached by redirect=: "none" is a permerror */
	char *p;                   /* %{p} for this domain, once computed */
};

struct spf_lookup {
	struct spf_check *c;
	struct resolver_query *q;
	size_t idx;
};

struct spf_check {
	struct resolver *res;
	spf_done_cb *cb;
	void *arg;
	struct event *done_ev;
	struct event *deadline_ev;
	unsigned deadline_ms;
	struct dns_addr ip;
	char ip_i[80], ip_c[INET6_ADDRSTRLEN], ts[24];
	char *domain, *sender, *local, *sender_domain, *helo, *receiver;
	unsigned dns_terms, voids;
	struct spf_frame *frame;
	enum spf_step step;
	enum spf_resume resume;
	struct spf_lookup *lk[SPF_MAX_PARALLEL];
	size_t outstanding;
	char *names[SPF_MAX_PARALLEL];   /* hosts of a parallel step */
	int validated[SPF_MAX_PARALLEL];
	size_t nnames;
	int step_error;
	char *pnames[SPF_MAX_PTR];       /* validated PTR names of <ip>, for %{p} */
	size_t npnames;
	int p_known;
	char target[DNS_NAME_TEXT_MAX];  /* current target, presentation format */
	struct buf exp_text;
	enum spf_result result;
	struct buf reason, explanation;
	int in_exp;                      /* the result is decided; exp= under way */
	int finished;
};

static void run(struct spf_check *c);
static void frame_begin(struct spf_check *c, struct spf_frame *f);
static void exp_start(struct spf_check *c);
static void exp_finish(struct spf_check *c);
static void frame_end(struct spf_check *c);

const char *spf_result_name(enum spf_result r)
{
	switch (r) {
	case SPF_RESULT_NONE: return "none";
	case SPF_RESULT_NEUTRAL: return "neutral";
	case SPF_RESULT_PASS: return "pass";
	case SPF_RESULT_FAIL: return "fail";
	case SPF_RESULT_SOFTFAIL: return "softfail";
	case SPF_RESULT_TEMPERROR: return "temperror";
	case SPF_RESULT_PERMERROR: return "permerror";
	}
	return "permerror";
}

static void set_reason(struct spf_check *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void set_reason(struct spf_check *c, const char *fmt, ...)
{
	va_list ap;
	buf_reset(&c->reason);
	va_start(ap, fmt);
	buf_vprintf(&c->reason, fmt, ap);
	va_end(ap);
}

static void cancel_lookups(struct spf_check *c)
{
	for (size_t i = 0; i < SPF_MAX_PARALLEL; i++)
		if (c->lk[i]) {
			resolver_cancel(c->lk[i]->q);
			free(c->lk[i]);
			c->lk[i] = NULL;
		}
	c->outstanding = 0;
}

static void free_names(struct spf_check *c)
{
	for (size_t i = 0; i < c->nnames; i++) {
		free(c->names[i]);
		c->names[i] = NULL;
	}
	c->nnames = 0;
}

/* Ends the check with result (the reason is already set); the callback
 * runs from the loop. */
static void conclude(struct spf_check *c, enum spf_result result)
{
	c->result = result;
	cancel_lookups(c);
	free_names(c);
	c->finished = 1;
	c->step = STEP_IDLE;
	evtimer_del(c->deadline_ev);
	event_active(c->done_ev, EV_TIMEOUT, 1);
}

static void finish(struct spf_check *c, enum spf_result result, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void finish(struct spf_check *c, enum spf_result result, const char *fmt, ...)
{
	va_list ap;
	buf_reset(&c->reason);
	va_start(ap, fmt);
	buf_vprintf(&c->reason, fmt, ap);
	va_end(ap);
	conclude(c, result);
}

static void frame_free(struct spf_frame *f)
{
	spf_record_free(f->rec);
	free(f->domain);
	free(f->p);
	free(f);
}

static void check_free(struct spf_check *c)
{
	cancel_lookups(c);
	free_names(c);
	for (size_t i = 0; i < c->npnames; i++)
		free(c->pnames[i]);
	while (c->frame) {
		struct spf_frame *parent = c->frame->parent;
		frame_free(c->frame);
		c->frame = parent;
	}
	event_free(c->done_ev);
	event_free(c->deadline_ev);
	buf_free(&c->exp_text);
	buf_free(&c->reason);
	buf_free(&c->explanation);
	free(c->domain);
	free(c->sender);
	free(c->local);
	free(c->sender_domain);
	free(c->helo);
	free(c->receiver);
	free(c);
}

void spf_check_cancel(struct spf_check *c)
{
	if (c)
		check_free(c);
}

static void on_done(evutil_socket_t fd, short what, void *arg)
{
	struct spf_check *c = arg;
	struct spf_outcome out;
	char q1[600], q2[2100];
	(void)fd;
	(void)what;
	memset(&out, 0, sizeof(out));
	out.result = c->result;
	out.domain = c->domain;
	out.explanation = c->explanation.len ? c->explanation.data : NULL;
	out.reason = c->reason.data ? c->reason.data : "";
	out.dns_terms = c->dns_terms;
	out.void_lookups = c->voids;
	msg_debug("event=spf_result domain=%s result=%s dns_terms=%u void_lookups=%u reason=%s",
		  log_quote(q1, sizeof(q1), c->domain), spf_result_name(c->result), c->dns_terms,
		  c->voids, log_quote(q2, sizeof(q2), out.reason));
	c->cb(&out, c->arg);
	check_free(c);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct spf_check *c = arg;
	(void)fd;
	(void)what;
	if (c->finished)
		return;
	if (c->in_exp) {
		buf_reset(&c->explanation);     /* the fail stands, unexplained */
		conclude(c, c->result);
		return;
	}
	finish(c, SPF_RESULT_TEMPERROR, "SPF evaluation took longer than %u ms",
	       c->deadline_ms);
}

static void fill_vars(const struct spf_check *c, struct spf_macro_vars *v)
{
	v->s = c->sender;
	v->l = c->local;
	v->o = c->sender_domain;
	v->d = c->frame->domain;
	v->i = c->ip_i;
	v->p = c->frame->p;
	v->v = c->ip.family == AF_INET ? "in-addr" : "ip6";
	v->h = c->helo;
	v->c = c->ip_c;
	v->r = c->receiver;
	v->t = c->ts;
}

/* Expands a domain-spec to a raw name: macros, then section 7.3's cut of
 * left-hand labels to 253 characters, without the final dot. */
static int expand_name(const struct spf_check *c, const char *spec, struct buf *raw,
		       char *err, size_t errlen)
{
	struct spf_macro_vars v;
	struct buf tmp = BUF_INIT;
	fill_vars(c, &v);
	if (spf_macro_expand(spec, strlen(spec), SPF_MACRO_DOMAIN, &v, &tmp, err, errlen) < 0) {
		buf_free(&tmp);
		return -1;
	}
	size_t start = 0, len = tmp.len;
	if (len > 0 && tmp.data[len - 1] == '.')
		len--;
	while (len - start > SPF_DOMAIN_MAX) {
		const char *dot = memchr(tmp.data + start, '.', len - start);
		if (dot == NULL)
			break;
		start = (size_t)(dot - tmp.data) + 1;
	}
	buf_append(raw, tmp.data + start, len - start);
	buf_free(&tmp);
	return 0;
}

/* Labels of 1..63 bytes, 253 bytes in all. */
static int raw_name_ok(const char *raw)
{
	size_t len = strlen(raw), label = 0;
	if (len == 0 || len > SPF_DOMAIN_MAX)
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (raw[i] != '.') {
			if (++label > DNS_LABEL_MAX)
				return 0;
		} else if (label == 0) {
			return 0;
		} else {
			label = 0;
		}
	}
	return label > 0;
}

/* Section 4.3: a domain check_host() can look up at all. */
static int check_host_domain_ok(const char *d)
{
	size_t labels = 0;
	if (!raw_name_ok(d) || d[0] == '[')
		return 0;
	for (const char *p = d; *p; p++)
		if (*p == '.')
			labels++;
	const char *last = strrchr(d, '.');
	if (labels == 0 || last == NULL)
		return 0;
	for (const char *p = last + 1; *p; p++)
		if (*p < '0' || *p > '9')
			return 1;
	return 0;               /* numeric top label: an address, not a domain */
}

/* Puts the query form of raw into c->target; -1 when it is no DNS name. */
static int set_target(struct spf_check *c, const char *raw)
{
	struct buf b = BUF_INIT;
	int ok = 0;
	if (raw_name_ok(raw)) {
		dns_name_escape(raw, strlen(raw), &b);
		ok = b.len < sizeof(c->target) && dns_name_valid(b.data);
		if (ok)
			memcpy(c->target, b.data, b.len + 1);
	}
	buf_free(&b);
	return ok ? 0 : -1;
}

static void on_lookup(const struct dns_result *res, void *arg);

static void lookup(struct spf_check *c, size_t idx, const char *name, int type)
{
	char q1[600], q2[DNS_NAME_TEXT_MAX + 8], tn[16];
	struct spf_lookup *lk = xcalloc(1, sizeof(*lk));
	if (log_debug_enabled())
		msg_debug("event=spf_lookup domain=%s type=%s name=%s dns_terms=%u",
			  log_quote(q1, sizeof(q1), c->frame->domain),
			  dns_type_name(type, tn, sizeof(tn)), log_quote(q2, sizeof(q2), name),
			  c->dns_terms);
	lk->c = c;
	lk->idx = idx;
	c->lk[idx] = lk;
	c->outstanding++;
	lk->q = resolver_query(c->res, name, type, on_lookup, lk);
}

static int addr_type(const struct spf_check *c)
{
	return c->ip.family == AF_INET ? DNS_TYPE_A : DNS_TYPE_AAAA;
}

/* 1 when one of the addresses of res is <ip> within prefix. */
static int addrs_match(const struct spf_check *c, const struct dns_result *res, int prefix)
{
	if (res->addr == NULL)
		return 0;
	for (size_t i = 0; i < res->n; i++)
		if (dns_addr_match(&c->ip, &res->addr[i], prefix))
			return 1;
	return 0;
}

static int mech_prefix(const struct spf_check *c, const struct spf_mech *m)
{
	return c->ip.family == AF_INET ? m->cidr4 : m->cidr6;
}

static int is_void(const struct dns_result *res)
{
	return res->rcode == DNS_RCODE_NXDOMAIN || (res->rcode == DNS_RCODE_NOERROR && res->n == 0);
}

static const struct spf_mech *cur_mech(const struct spf_check *c)
{
	return &c->frame->rec->mech[c->frame->next];
}

static int count_term(struct spf_check *c)
{
	struct spf_frame *f = c->frame;
	if (f->counted)
		return 0;
	f->counted = 1;
	if (++c->dns_terms > SPF_MAX_DNS_TERMS) {
		finish(c, SPF_RESULT_PERMERROR, "more than %d DNS-querying terms (RFC 7208 4.6.4), "
		       "reached in %s", SPF_MAX_DNS_TERMS, f->domain);
		return -1;
	}
	return 0;
}

static int count_void(struct spf_check *c, const char *name)
{
	if (++c->voids > SPF_MAX_VOID) {
		finish(c, SPF_RESULT_PERMERROR, "more than %d void lookups (RFC 7208 4.6.4), "
		       "the last for %s", SPF_MAX_VOID, name);
		return -1;
	}
	return 0;
}

static enum spf_result qual_result(enum spf_qualifier q)
{
	switch (q) {
	case SPF_QUAL_PASS: return SPF_RESULT_PASS;
	case SPF_QUAL_FAIL: return SPF_RESULT_FAIL;
	case SPF_QUAL_SOFTFAIL: return SPF_RESULT_SOFTFAIL;
	case SPF_QUAL_NEUTRAL: return SPF_RESULT_NEUTRAL;
	}
	return SPF_RESULT_NEUTRAL;
}

static void term_matched(struct spf_check *c);

static void term_next(struct spf_check *c)
{
	c->frame->next++;
	c->frame->counted = 0;
	run(c);
}

/* A frame has its result r (reason set): hand it to whoever asked. */
static void frame_result(struct spf_check *c, enum spf_result r)
{
	struct spf_frame *f = c->frame;
	if (r == SPF_RESULT_TEMPERROR || r == SPF_RESULT_PERMERROR) {
		conclude(c, r);
		return;
	}
	if (r == SPF_RESULT_NONE && (f->redirected || f->parent)) {
		struct buf why = BUF_INIT;
		buf_printf(&why, "%s target: %s", f->redirected ? "redirect=" : "include:",
			   c->reason.data ? c->reason.data : "no SPF record");
		finish(c, SPF_RESULT_PERMERROR, "%s", why.data);
		buf_free(&why);
		return;
	}
	if (f->parent == NULL) {
		c->result = r;
		if (r == SPF_RESULT_FAIL && f->rec && f->rec->exp) {
			c->in_exp = 1;
			exp_start(c);
		} else {
			conclude(c, r);
		}
		return;
	}
	c->frame = f->parent;
	frame_free(f);
	if (r == SPF_RESULT_PASS)
		term_matched(c);
	else
		term_next(c);
}

static void term_matched(struct spf_check *c)
{
	const struct spf_mech *m = cur_mech(c);
	set_reason(c, "matched %s in %s", m->text, c->frame->domain);
	frame_result(c, qual_result(m->qual));
}

/* %{p} (section 7.3): the PTR names of <ip> are looked up and validated
 * once per check (up to 10, in parallel); each frame then picks its value:
 * the <domain> itself, else a subdomain of it, else any validated name,
 * else "unknown". */
static void p_choose(struct spf_check *c)
{
	struct spf_frame *f = c->frame;
	struct buf dom = BUF_INIT;
	const char *best = "unknown";
	int best_rank = 0;
	dns_name_escape(f->domain, strlen(f->domain), &dom);
	for (size_t i = 0; i < c->npnames; i++) {
		int rank = dns_name_equal(c->pnames[i], dom.data) ? 3 :
			   dns_name_is_subdomain(c->pnames[i], dom.data) ? 2 : 1;
		if (rank > best_rank) {
			best_rank = rank;
			best = c->pnames[i];
		}
	}
	buf_free(&dom);
	free(f->p);
	f->p = xstrdup(best);
}

static void p_start(struct spf_check *c, enum spf_resume resume)
{
	char rev[80];
	c->resume = resume;
	if (dns_reverse_name(&c->ip, rev, sizeof(rev)) < 0)
		msg_panic("spf: reverse name does not fit");
	c->step = STEP_P_PTR;
	lookup(c, 0, rev, DNS_TYPE_PTR);
}

/* 0 when spec can be expanded now (%{p} unused or known), 1 when a %{p}
 * lookup has started and resume will continue the work. */
static int p_prepare(struct spf_check *c, const char *spec, enum spf_resume resume)
{
	if (spec == NULL || c->frame->p || !spf_macro_uses(spec, strlen(spec), 'p'))
		return 0;
	if (c->p_known) {
		p_choose(c);
		return 0;
	}
	p_start(c, resume);
	return 1;
}

static void p_done(struct spf_check *c)
{
	c->p_known = 1;
	free_names(c);
	p_choose(c);
	switch (c->resume) {
	case RESUME_TERM:
		run(c);
		break;
	case RESUME_REDIRECT:
		frame_end(c);
		break;
	case RESUME_EXP_DOMAIN:
		exp_start(c);
		break;
	case RESUME_EXP_TEXT:
		exp_finish(c);
		break;
	}
}

static void on_p_ptr(struct spf_check *c, const struct dns_result *res)
{
	if (res->rcode != DNS_RCODE_NOERROR || res->n == 0 || res->name == NULL) {
		p_done(c);
		return;
	}
	c->nnames = 0;
	for (size_t i = 0; i < res->n && i < SPF_MAX_PTR; i++) {
		c->validated[i] = 0;
		c->names[c->nnames++] = xstrdup(res->name[i]);
	}
	c->step = STEP_P_ADDR;
	for (size_t i = 0; i < c->nnames; i++)
		lookup(c, i, c->names[i], addr_type(c));
}

static void on_p_addr(struct spf_check *c, size_t idx, const struct dns_result *res)
{
	if (res->rcode == DNS_RCODE_NOERROR && addrs_match(c, res, c->ip.family == AF_INET ? 32 : 128))
		c->validated[idx] = 1;
	if (c->outstanding > 0)
		return;
	for (size_t i = 0; i < c->nnames; i++)
		if (c->validated[i]) {
			c->pnames[c->npnames++] = c->names[i];
			c->names[i] = NULL;
		}
	p_done(c);
}

static void on_record(struct spf_check *c, const struct dns_result *res)
{
	struct spf_frame *f = c->frame;
	char err[512];
	size_t found = 0, which = 0;
	if (res->rcode == DNS_RCODE_NXDOMAIN) {
		set_reason(c, "%s does not exist", f->domain);
		frame_result(c, SPF_RESULT_NONE);
		return;
	}
	if (res->rcode != DNS_RCODE_NOERROR) {
		finish(c, SPF_RESULT_TEMPERROR, "DNS error looking up TXT %s: %s", f->domain,
		       res->why ? res->why : "error");
		return;
	}
	for (size_t i = 0; res->txt && i < res->n; i++)
		if (spf_record_is_spf(res->txt[i].data, res->txt[i].len)) {
			found++;
			which = i;
		}
	if (found != 1) {
		if (found == 0) {
			set_reason(c, "no SPF record for %s", f->domain);
			frame_result(c, SPF_RESULT_NONE);
		} else {
			finish(c, SPF_RESULT_PERMERROR, "%s publishes %zu SPF records", f->domain, found);
		}
		return;
	}
	if (spf_record_parse(res->txt[which].data, res->txt[which].len, &f->rec, err,
			     sizeof(err)) < 0) {
		finish(c, SPF_RESULT_PERMERROR, "SPF record of %s: %s", f->domain, err);
		return;
	}
	f->next = 0;
	f->counted = 0;
	run(c);
}

static void on_a(struct spf_check *c, const struct dns_result *res)
{
	if (is_void(res)) {
		if (count_void(c, res->qname) == 0)
			term_next(c);
		return;
	}
	if (res->rcode != DNS_RCODE_NOERROR) {
		finish(c, SPF_RESULT_TEMPERROR, "DNS error looking up %s for %s: %s", res->qname,
		       cur_mech(c)->text, res->why ? res->why : "error");
		return;
	}
	if (c->step == STEP_EXISTS || addrs_match(c, res, mech_prefix(c, cur_mech(c))))
		term_matched(c);
	else
		term_next(c);
}

static void on_mx(struct spf_check *c, const struct dns_result *res)
{
	if (is_void(res)) {
		if (count_void(c, res->qname) == 0)
			term_next(c);
		return;
	}
	if (res->rcode != DNS_RCODE_NOERROR || res->mx == NULL) {
		finish(c, SPF_RESULT_TEMPERROR, "DNS error looking up MX %s: %s", res->qname,
		       res->why ? res->why : "error");
		return;
	}
	if (res->n > SPF_MAX_MX) {
		finish(c, SPF_RESULT_PERMERROR, "%s has %zu MX records, more than %d (RFC 7208 4.6.4)",
		       res->qname, res->n, SPF_MAX_MX);
		return;
	}
	c->nnames = 0;
	c->step_error = 0;
	for (size_t i = 0; i < res->n; i++)
		if (strcmp(res->mx[i].host, ".") != 0)     /* null MX, RFC 7505 */
			c->names[c->nnames++] = xstrdup(res->mx[i].host);
	if (c->nnames == 0) {
		term_next(c);
		return;
	}
	c->step = STEP_MX_ADDR;
	for (size_t i = 0; i < c->nnames; i++)
		lookup(c, i, c->names[i], addr_type(c));
}

static void on_mx_addr(struct spf_check *c, const struct dns_result *res)
{
	if (res->rcode == DNS_RCODE_NOERROR && addrs_match(c, res, mech_prefix(c, cur_mech(c)))) {
		cancel_lookups(c);
		free_names(c);
		term_matched(c);
		return;
	}
	if (res->rcode != DNS_RCODE_NOERROR && res->rcode != DNS_RCODE_NXDOMAIN && !c->step_error) {
		c->step_error = 1;
		set_reason(c, "DNS error looking up %s for %s: %s", res->qname, cur_mech(c)->text,
			   res->why ? res->why : "error");
	}
	if (c->outstanding > 0)
		return;
	free_names(c);
	if (c->step_error)
		conclude(c, SPF_RESULT_TEMPERROR);
	else
		term_next(c);
}

static void on_ptr(struct spf_check *c, const struct dns_result *res)
{
	/* 5.5: a DNS error on the PTR lookup makes the mechanism not match */
	if (res->rcode != DNS_RCODE_NOERROR || res->n == 0 || res->name == NULL) {
		term_next(c);
		return;
	}
	c->nnames = 0;
	for (size_t i = 0; i < res->n && i < SPF_MAX_PTR; i++)
		if (dns_name_is_subdomain(res->name[i], c->target))
			c->names[c->nnames++] = xstrdup(res->name[i]);
	if (c->nnames == 0) {
		term_next(c);
		return;
	}
	c->step = STEP_PTR_ADDR;
	for (size_t i = 0; i < c->nnames; i++)
		lookup(c, i, c->names[i], addr_type(c));
}

static void on_ptr_addr(struct spf_check *c, const struct dns_result *res)
{
	/* 5.5: a DNS error validating one name skips that name */
	if (res->rcode == DNS_RCODE_NOERROR && addrs_match(c, res, c->ip.family == AF_INET ? 32 : 128)) {
		cancel_lookups(c);
		free_names(c);
		term_matched(c);
		return;
	}
	if (c->outstanding > 0)
		return;
	free_names(c);
	term_next(c);
}

static void on_exp(struct spf_check *c, const struct dns_result *res)
{
	char err[256];
	/* 6.2: any trouble with the explanation means no explanation */
	if (res->rcode != DNS_RCODE_NOERROR || res->n != 1 || res->txt == NULL ||
	    spf_macro_check(res->txt[0].data, res->txt[0].len, SPF_MACRO_EXPLAIN, err,
			    sizeof(err)) < 0) {
		conclude(c, c->result);
		return;
	}
	buf_reset(&c->exp_text);
	buf_append(&c->exp_text, res->txt[0].data, res->txt[0].len);
	if (p_prepare(c, c->exp_text.data, RESUME_EXP_TEXT))
		return;
	exp_finish(c);
}

static void on_lookup(const struct dns_result *res, void *arg)
{
	struct spf_lookup *lk = arg;
	struct spf_check *c = lk->c;
	size_t idx = lk->idx;
	c->lk[idx] = NULL;
	c->outstanding--;
	free(lk);
	switch (c->step) {
	case STEP_RECORD: on_record(c, res); break;
	case STEP_A:
	case STEP_EXISTS: on_a(c, res); break;
	case STEP_MX: on_mx(c, res); break;
	case STEP_MX_ADDR: on_mx_addr(c, res); break;
	case STEP_PTR: on_ptr(c, res); break;
	case STEP_PTR_ADDR: on_ptr_addr(c, res); break;
	case STEP_P_PTR: on_p_ptr(c, res); break;
	case STEP_P_ADDR: on_p_addr(c, idx, res); break;
	case STEP_EXP: on_exp(c, res); break;
	case STEP_IDLE: msg_panic("spf: answer while idle");
	}
}

/* Starts the lookup of a DNS term towards raw (its expanded target). */
static enum term_state term_lookup(struct spf_check *c, const struct spf_mech *m, const char *raw)
{
	char rev[80];
	if (m->type == SPF_MECH_INCLUDE) {
		struct spf_frame *nf = xcalloc(1, sizeof(*nf));
		nf->parent = c->frame;
		nf->domain = xstrdup(raw);
		c->frame = nf;
		frame_begin(c, nf);
		return TERM_PENDING;
	}
	if (set_target(c, raw) < 0) {
		msg_debug("event=spf_target_invalid term=%s", m->text);
		return TERM_NOMATCH;    /* not a DNS name: nothing can match */
	}
	switch (m->type) {
	case SPF_MECH_A:
		c->step = STEP_A;
		lookup(c, 0, c->target, addr_type(c));
		break;
	case SPF_MECH_EXISTS:
		c->step = STEP_EXISTS;
		lookup(c, 0, c->target, DNS_TYPE_A);
		break;
	case SPF_MECH_MX:
		c->step = STEP_MX;
		lookup(c, 0, c->target, DNS_TYPE_MX);
		break;
	default:                        /* SPF_MECH_PTR */
		if (dns_reverse_name(&c->ip, rev, sizeof(rev)) < 0)
			msg_panic("spf: reverse name does not fit");
		c->step = STEP_PTR;
		lookup(c, 0, rev, DNS_TYPE_PTR);
		break;
	}
	return TERM_PENDING;
}

static enum term_state term_start(struct spf_check *c, const struct spf_mech *m)
{
	char err[256];
	switch (m->type) {
	case SPF_MECH_ALL:
		return TERM_MATCH;
	case SPF_MECH_IP4:
	case SPF_MECH_IP6:
		return dns_addr_match(&c->ip, &m->net, mech_prefix(c, m)) ? TERM_MATCH : TERM_NOMATCH;
	default:
		break;
	}
	if (count_term(c) < 0)
		return TERM_DONE;
	if (p_prepare(c, m->domain, RESUME_TERM))
		return TERM_PENDING;
	struct buf raw = BUF_INIT;
	if (m->domain == NULL) {
		buf_puts(&raw, c->frame->domain);
	} else if (expand_name(c, m->domain, &raw, err, sizeof(err)) < 0) {
		buf_free(&raw);
		finish(c, SPF_RESULT_PERMERROR, "%s in %s: %s", m->text, c->frame->domain, err);
		return TERM_DONE;
	}
	enum term_state st = term_lookup(c, m, raw.data);
	buf_free(&raw);
	return st;
}

static void run(struct spf_check *c)
{
	struct spf_frame *f = c->frame;
	while (f->next < f->rec->nmech) {
		switch (term_start(c, &f->rec->mech[f->next])) {
		case TERM_NOMATCH:
			f->next++;
			f->counted = 0;
			continue;
		case TERM_MATCH:
			term_matched(c);
			return;
		default:
			return;
		}
	}
	frame_end(c);
}

/* No mechanism matched: follow redirect=, or the default neutral. */
static void frame_end(struct spf_check *c)
{
	struct spf_frame *f = c->frame;
	struct buf raw = BUF_INIT;
	char err[256];
	if (f->rec->redirect == NULL) {
		set_reason(c, "no mechanism matched in %s (default neutral)", f->domain);
		frame_result(c, SPF_RESULT_NEUTRAL);
		return;
	}
	if (count_term(c) < 0)
		return;
	if (p_prepare(c, f->rec->redirect, RESUME_REDIRECT))
		return;
	if (expand_name(c, f->rec->redirect, &raw, err, sizeof(err)) < 0) {
		buf_free(&raw);
		finish(c, SPF_RESULT_PERMERROR, "redirect= in %s: %s", f->domain, err);
		return;
	}
	free(f->domain);
	f->domain = buf_steal(&raw, NULL);
	spf_record_free(f->rec);
	f->rec = NULL;
	free(f->p);
	f->p = NULL;
	f->redirected = 1;
	frame_begin(c, f);
}

static void frame_begin(struct spf_check *c, struct spf_frame *f)
{
	f->next = 0;
	f->counted = 0;
	if (!check_host_domain_ok(f->domain) || set_target(c, f->domain) < 0) {
		set_reason(c, "\"%s\" is not a valid domain name", f->domain);
		frame_result(c, SPF_RESULT_NONE);
		return;
	}
	c->step = STEP_RECORD;
	lookup(c, 0, c->target, DNS_TYPE_TXT);
}

/* exp= (6.2): expand the domain-spec and fetch the explanation text. */
static void exp_start(struct spf_check *c)
{
	struct spf_frame *f = c->frame;
	struct buf raw = BUF_INIT;
	char err[256];
	if (p_prepare(c, f->rec->exp, RESUME_EXP_DOMAIN))
		return;
	if (expand_name(c, f->rec->exp, &raw, err, sizeof(err)) < 0 || set_target(c, raw.data) < 0) {
		buf_free(&raw);
		conclude(c, c->result);
		return;
	}
	buf_free(&raw);
	c->step = STEP_EXP;
	lookup(c, 0, c->target, DNS_TYPE_TXT);
}

static void exp_finish(struct spf_check *c)
{
	struct spf_macro_vars v;
	char err[256];
	fill_vars(c, &v);
	buf_reset(&c->explanation);
	if (spf_macro_expand(c->exp_text.data, c->exp_text.len, SPF_MACRO_EXPLAIN, &v,
			     &c->explanation, err, sizeof(err)) < 0)
		buf_reset(&c->explanation);
	conclude(c, c->result);
}

/* i and c macro values and the timestamp (section 7.3). */
static void set_ip_strings(struct spf_check *c)
{
	if (spf_macro_ip_strings(&c->ip, c->ip_i, sizeof(c->ip_i), c->ip_c, sizeof(c->ip_c)) < 0)
		msg_panic("spf: address text does not fit");
	int n = snprintf(c->ts, sizeof(c->ts), "%lld", (long long)time(NULL));
	if (n < 0 || (size_t)n >= sizeof(c->ts))
		msg_panic("spf: timestamp does not fit");
}

/* <sender>, its local-part and domain (4.3: postmaster for an empty
 * local-part; the HELO name for the null sender). */
static void set_sender(struct spf_check *c, const char *mail_from)
{
	const char *at = strrchr(mail_from, '@');
	const char *dom = *mail_from == '\0' ? c->helo : at ? at + 1 : mail_from;
	size_t llen = at && *mail_from ? (size_t)(at - mail_from) : 0;
	c->local = llen ? xstrndup(mail_from, llen) : xstrdup("postmaster");
	size_t dlen = strlen(dom);
	if (dlen > 0 && dom[dlen - 1] == '.')
		dlen--;
	c->sender_domain = xstrndup(dom, dlen);
	c->sender = xasprintf("%s@%s", c->local, c->sender_domain);
}

struct spf_check *spf_check_start(struct resolver *res, const struct spf_request *req,
				  spf_done_cb *cb, void *arg, char *err, size_t errlen)
{
	struct dns_addr ip;
	if (req->ip == NULL || dns_addr_parse(req->ip, &ip) < 0) {
		int n = snprintf(err, errlen, "not an IP address: %s", req->ip ? req->ip : "(none)");
		if (n < 0 || (size_t)n >= errlen)
			snprintf(err, errlen, "not an IP address");
		return NULL;
	}
	dns_addr_unmap(&ip);            /* 5/9/2: IPv4-mapped is IPv4 */
	struct spf_check *c = xcalloc(1, sizeof(*c));
	c->res = res;
	c->cb = cb;
	c->arg = arg;
	c->ip = ip;
	c->done_ev = event_new(resolver_base(res), -1, 0, on_done, c);
	c->deadline_ev = evtimer_new(resolver_base(res), on_deadline, c);
	if (c->done_ev == NULL || c->deadline_ev == NULL)
		msg_fatal("event=spf_error reason=\"cannot create an event\"");
	c->deadline_ms = req->deadline_ms ? req->deadline_ms : SPF_DEADLINE_MS;
	struct timeval tv = { c->deadline_ms / 1000, (c->deadline_ms % 1000) * 1000 };
	evtimer_add(c->deadline_ev, &tv);
	set_ip_strings(c);
	c->helo = xstrdup(req->helo ? req->helo : "");
	c->receiver = xstrdup(req->receiver ? req->receiver : "unknown");
	set_sender(c, req->mail_from ? req->mail_from : "");
	c->domain = xstrdup(c->sender_domain);
	c->frame = xcalloc(1, sizeof(*c->frame));
	c->frame->domain = xstrdup(c->sender_domain);
	frame_begin(c, c->frame);
	return c;
}
