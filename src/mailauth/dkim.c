/* dkim: key selection, signing (dkim_sign.c) and verification with
 * libopendkim; see dkim.h. */
#include "mailauth/dkim.h"

#include <ctype.h>
#include <event2/event.h>
#include <opendkim/dkim.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "config.h"
#include "dns/resolver.h"
#include "header.h"
#include "log.h"
#include "mailauth/dkim_key.h"
#include "mailauth/dkim_sign.h"
#include "xmalloc.h"

struct signer_key {
	const char *domain, *selector;   /* point into the config, which outlives us */
	const char *tenant;              /* NULL: any message's key */
	int all;
	struct dkim_key *key;
	struct dkim_sign_key *sk;        /* decoded once; signs on every worker thread */
};

struct dkim_signer {
	struct signer_key *keys;
	size_t nkeys;
};

static DKIM_LIB *lib_new(void)
{
	DKIM_LIB *lib = dkim_init(NULL, NULL);
	if (!lib)
		msg_fatal("event=dkim_init_failed reason=\"dkim_init returned NULL\"");
	return lib;
}

/* 1 when every CR is followed by LF and every LF preceded by CR: libopendkim
 * 2.11 asserts (aborts) on some bare-LF input, so it never gets any, and
 * receivers disagree on how to canonicalize one, so we never sign one. */
static int crlf_clean(const char *m, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (m[i] == '\r' && (i + 1 == n || m[i + 1] != '\n'))
			return 0;
		if (m[i] == '\n' && (i == 0 || m[i - 1] != '\r'))
			return 0;
	}
	return 1;
}

struct dkim_signer *dkim_signer_new(const struct dkim_conf *conf, size_t n, char *err, size_t errlen)
{
	struct dkim_signer *sg = xcalloc(1, sizeof(*sg));

	sg->keys = xcalloc(n ? n : 1, sizeof(*sg->keys));
	for (size_t i = 0; i < n; i++) {
		struct signer_key *k = &sg->keys[sg->nkeys];
		if (dkim_key_load(conf[i].key, &k->key, err, errlen) < 0) {
			dkim_signer_free(sg);
			return NULL;
		}
		k->sk = dkim_sign_key_new(k->key, err, errlen);
		if (!k->sk) {
			char why[160];
			set_error(why, sizeof(why), "%s", err);
			set_error(err, errlen, "%s: %s", conf[i].key, why);
			dkim_key_free(k->key);
			dkim_signer_free(sg);
			return NULL;
		}
		k->domain = conf[i].domain;
		k->selector = conf[i].selector;
		k->all = conf[i].all;
		k->tenant = conf[i].tenant;
		sg->nkeys++;
	}
	return sg;
}

void dkim_signer_free(struct dkim_signer *sg)
{
	if (!sg)
		return;
	for (size_t i = 0; i < sg->nkeys; i++) {
		dkim_sign_key_free(sg->keys[i].sk);
		dkim_key_free(sg->keys[i].key);
	}
	free(sg->keys);
	free(sg);
}

size_t dkim_signer_nkeys(const struct dkim_signer *sg)
{
	return sg ? sg->nkeys : 0;
}

/* Length of the key domain d that from is, or is under; 0 when neither. */
static size_t domain_match(const char *from, const char *d)
{
	size_t fl = strlen(from), dl = strlen(d);
	if (fl == dl && strcasecmp(from, d) == 0)
		return dl;
	if (fl > dl && from[fl - dl - 1] == '.' && strcasecmp(from + fl - dl, d) == 0)
		return dl;
	return 0;
}

long dkim_conf_key_for(const struct dkim_conf *conf, size_t n, const char *domain)
{
	size_t best = 0;
	long at = -1;
	for (size_t i = 0; i < n; i++) {
		size_t m = domain_match(domain, conf[i].domain);
		if (m > best) {
			best = m;
			at = (long)i;
		}
	}
	return at;
}

/* 1 when key k may sign a message of tenant (NULL: none). */
static int key_for_tenant(const struct signer_key *k, const char *tenant)
{
	return k->tenant == NULL || (tenant && strcmp(k->tenant, tenant) == 0);
}

/* Marks in use[] the keys that sign msg; returns how many.  Among the keys
 * of the closest domain, the tenant's own win over the others. */
static size_t select_keys(const struct dkim_signer *sg, const char *msg, size_t len, const char *tenant,
			  int *use)
{
	char from[256];
	size_t best = 0, n = 0;
	int own = 0;
	int have_from = header_from_domain(msg, len, from, sizeof(from));
	for (size_t i = 0; have_from && i < sg->nkeys; i++) {
		size_t m = key_for_tenant(&sg->keys[i], tenant) ? domain_match(from, sg->keys[i].domain) : 0;
		if (m > best)
			best = m;
	}
	for (size_t i = 0; best && i < sg->nkeys; i++)
		own |= sg->keys[i].tenant && key_for_tenant(&sg->keys[i], tenant) &&
		       domain_match(from, sg->keys[i].domain) == best;
	for (size_t i = 0; i < sg->nkeys; i++) {
		const struct signer_key *k = &sg->keys[i];
		int fits = key_for_tenant(k, tenant);
		use[i] = fits && (k->all || (best && have_from && domain_match(from, k->domain) == best &&
					     (!own || k->tenant)));
		n += (size_t)use[i];
	}
	return n;
}

int dkim_signer_wants(const struct dkim_signer *sg, const char *msg, size_t len)
{
	return dkim_signer_wants_tenant(sg, msg, len, NULL);
}

int dkim_signer_wants_tenant(const struct dkim_signer *sg, const char *msg, size_t len, const char *tenant)
{
	if (!sg || sg->nkeys == 0)
		return 0;
	int *use = xcalloc(sg->nkeys, sizeof(int));
	size_t n = select_keys(sg, msg, len, tenant, use);
	free(use);
	return n > 0;
}

int dkim_signer_sign(const struct dkim_signer *sg, const char *msg, size_t len, const char *jobid,
		     struct buf *sigs, char *info, size_t infolen, char *err, size_t errlen)
{
	(void)jobid;
	return dkim_signer_sign_tenant(sg, msg, len, NULL, sigs, info, infolen, err, errlen);
}

int dkim_signer_sign_tenant(const struct dkim_signer *sg, const char *msg, size_t len, const char *tenant,
			    struct buf *sigs, char *info, size_t infolen, char *err, size_t errlen)
{
	struct buf sel = BUF_INIT;
	const char *domain = NULL;
	time_t now = time(NULL);     /* one t= for all the message's signatures */
	int *use, rc = 1;

	if (!sg || sg->nkeys == 0)
		return 0;
	if (!crlf_clean(msg, len)) {
		set_error(err, errlen, "bare CR or LF in the message");
		return -1;
	}
	use = xcalloc(sg->nkeys, sizeof(int));
	if (select_keys(sg, msg, len, tenant, use) == 0) {
		free(use);
		return 0;
	}
	for (size_t i = 0; i < sg->nkeys && rc == 1; i++) {
		if (!use[i])
			continue;
		const struct signer_key *k = &sg->keys[i];
		if (dkim_sign_message(k->sk, k->domain, k->selector, msg, len, now, sigs, err,
				      errlen) < 0) {
			rc = -1;
			break;
		}
		if (!domain || !sg->keys[i].all)
			domain = sg->keys[i].domain;
		buf_printf(&sel, "%s%s", sel.len ? "," : "", sg->keys[i].selector);
	}
	if (rc == 1)
		set_error(info, infolen, "domain=%s selectors=%s", domain, sel.data);
	buf_free(&sel);
	free(use);
	return rc;
}

/* --- verification --- */

struct key_table {
	const struct dkim_keyrec *keys;
	size_t nkeys;
};

/* libopendkim's key lookup, answered from the records we fetched. */
static DKIM_CBSTAT lookup_key(DKIM *d, DKIM_SIGINFO *sig, u_char *buf, size_t buflen)
{
	const struct key_table *kt = dkim_get_user_context(d);
	char name[512];
	const char *s = (const char *)dkim_sig_getselector(sig);
	const char *dom = (const char *)dkim_sig_getdomain(sig);

	if (!kt || !s || !dom || dkim_key_dns_name(s, dom, name, sizeof(name)) < 0)
		return DKIM_CBSTAT_NOTFOUND;
	for (size_t i = 0; i < kt->nkeys; i++) {
		const struct dkim_keyrec *k = &kt->keys[i];
		if (strcasecmp(k->name, name) != 0)
			continue;
		if (k->rcode != DNS_RCODE_NOERROR && k->rcode != DNS_RCODE_NXDOMAIN)
			return DKIM_CBSTAT_TRYAGAIN;
		if (k->ntxt == 0)
			return DKIM_CBSTAT_NOTFOUND;
		/* RFC 6376 3.6.2.2: several records make the result undefined; use the first. */
		if (k->txt[0].len >= buflen)
			return DKIM_CBSTAT_ERROR;
		memcpy(buf, k->txt[0].data, k->txt[0].len);
		buf[k->txt[0].len] = '\0';
		return DKIM_CBSTAT_CONTINUE;
	}
	return DKIM_CBSTAT_NOTFOUND;
}

static const char *alg_name(DKIM_SIGINFO *sig)
{
	dkim_alg_t alg;
	if (dkim_sig_getsignalg(sig, &alg) != DKIM_STAT_OK)
		return "unknown";
	switch (alg) {
	case DKIM_SIGN_RSASHA1: return "rsa-sha1";
	case DKIM_SIGN_RSASHA256: return "rsa-sha256";
	case DKIM_SIGN_ED25519SHA256: return "ed25519-sha256";
	default: return "unknown";
	}
}

static void copy_str(char *out, size_t outlen, const char *s)
{
	int n = snprintf(out, outlen, "%s", s ? s : "");
	if (n < 0 || (size_t)n >= outlen)
		out[outlen - 1] = '\0';   /* a long d= is cut: only shown, never compared */
}

static void sig_result(DKIM_SIGINFO *sig, struct dkim_sig_result *r)
{
	int flags = (int)dkim_sig_getflags(sig);
	int bh = dkim_sig_getbh(sig);
	int e = dkim_sig_geterror(sig);

	copy_str(r->domain, sizeof(r->domain), (const char *)dkim_sig_getdomain(sig));
	copy_str(r->selector, sizeof(r->selector), (const char *)dkim_sig_getselector(sig));
	copy_str(r->alg, sizeof(r->alg), alg_name(sig));
	r->pass = (flags & DKIM_SIGFLAG_PASSED) && bh == DKIM_SIGBH_MATCH;
	if (r->pass)
		r->reason[0] = '\0';
	else if (bh == DKIM_SIGBH_MISMATCH)
		copy_str(r->reason, sizeof(r->reason), "body hash mismatch");
	else if (e != DKIM_SIGERROR_OK && e != DKIM_SIGERROR_UNKNOWN)
		copy_str(r->reason, sizeof(r->reason), dkim_sig_geterrorstr(e));
	else if (flags & DKIM_SIGFLAG_PROCESSED)
		copy_str(r->reason, sizeof(r->reason), "signature did not verify");
	else
		copy_str(r->reason, sizeof(r->reason), "not checked");
}

/* Runs libopendkim over msg; with keys NULL it stops after the header
 * (enough to list the signatures).  Returns the handle or NULL. */
static DKIM *run_verify(DKIM_LIB *lib, const char *msg, size_t len, int full, DKIM_STAT *stp)
{
	DKIM_STAT st;
	DKIM *d;
	if (!crlf_clean(msg, len)) {
		*stp = DKIM_STAT_SYNTAX;
		return NULL;
	}
	d = dkim_verify(lib, (const unsigned char *)"verify", NULL, &st);
	if (!d) {
		*stp = st;
		return NULL;
	}
	st = dkim_chunk(d, (unsigned char *)(uintptr_t)msg, len);
	if (st == DKIM_STAT_OK)
		st = dkim_chunk(d, NULL, 0);
	if (st == DKIM_STAT_OK && full)
		st = dkim_eom(d, NULL);
	*stp = st;
	return d;
}

size_t dkim_key_names(const char *msg, size_t len, char **names, size_t max)
{
	DKIM_LIB *lib = lib_new();
	DKIM_SIGINFO **sigs;
	DKIM_STAT st;
	int nsigs = 0;
	size_t n = 0;
	DKIM *d = run_verify(lib, msg, len, 0, &st);

	if (d && dkim_getsiglist(d, &sigs, &nsigs) == DKIM_STAT_OK) {
		for (int i = 0; i < nsigs && n < max; i++) {
			const char *s = (const char *)dkim_sig_getselector(sigs[i]);
			const char *dom = (const char *)dkim_sig_getdomain(sigs[i]);
			char name[512];
			if (!s || !dom || dkim_key_dns_name(s, dom, name, sizeof(name)) < 0)
				continue;
			size_t j;
			for (j = 0; j < n && strcasecmp(names[j], name) != 0; j++)
				;
			if (j == n)
				names[n++] = xstrdup(name);
		}
	}
	if (d)
		dkim_free(d);
	dkim_close(lib);
	return n;
}

int dkim_verify_keys(const char *msg, size_t len, const struct dkim_keyrec *keys, size_t nkeys,
		     struct dkim_verify_result *res)
{
	struct key_table kt = { keys, nkeys };
	DKIM_LIB *lib = lib_new();
	DKIM_SIGINFO **sigs;
	DKIM_STAT st, vst;
	int nsigs = 0;
	DKIM *d;

	memset(res, 0, sizeof(*res));
	dkim_set_key_lookup(lib, lookup_key);
	if (!crlf_clean(msg, len)) {
		copy_str(res->error, sizeof(res->error), "bare CR or LF in the message");
		dkim_close(lib);
		return -1;
	}
	d = dkim_verify(lib, (const unsigned char *)"verify", NULL, &st);
	if (d) {
		dkim_set_user_context(d, &kt);
		vst = dkim_chunk(d, (unsigned char *)(uintptr_t)msg, len);
		if (vst == DKIM_STAT_OK)
			vst = dkim_chunk(d, NULL, 0);
		if (vst == DKIM_STAT_OK)
			vst = dkim_eom(d, NULL);
		if (dkim_getsiglist(d, &sigs, &nsigs) == DKIM_STAT_OK && nsigs > 0) {
			res->sig = xcalloc((size_t)nsigs, sizeof(*res->sig));
			for (int i = 0; i < nsigs; i++) {
				sig_result(sigs[i], &res->sig[res->n]);
				res->npass += (size_t)res->sig[res->n].pass;
				res->n++;
			}
		}
		if (res->n == 0)
			copy_str(res->error, sizeof(res->error),
				 vst == DKIM_STAT_NOSIG || vst == DKIM_STAT_OK ? "no DKIM signature"
									      : dkim_getresultstr(vst));
		dkim_free(d);
	} else {
		copy_str(res->error, sizeof(res->error), dkim_getresultstr(st));
	}
	dkim_close(lib);
	return res->npass > 0 ? 0 : -1;
}

void dkim_verify_result_clear(struct dkim_verify_result *res)
{
	free(res->sig);
	memset(res, 0, sizeof(*res));
}

/* --- verification on the loop: fetch the keys, then check --- */

#define VERIFY_MAX_KEYS 8

struct dkim_verify;

struct key_slot {                /* one lookup; knows its owner */
	struct dkim_verify *v;
	size_t i;
};

struct dkim_verify {
	struct resolver *r;
	char *msg;
	size_t len;
	dkim_verify_cb *cb;
	void *arg;
	struct dkim_keyrec keys[VERIFY_MAX_KEYS];
	struct resolver_query *q[VERIFY_MAX_KEYS];
	struct key_slot slot[VERIFY_MAX_KEYS];
	size_t nkeys, pending;
	struct event *ev;            /* finishes on the loop when no lookup is needed */
};

static void verify_finish(struct dkim_verify *v)
{
	struct dkim_verify_result res;
	dkim_verify_keys(v->msg, v->len, v->keys, v->nkeys, &res);
	v->cb(v->arg, &res);
	dkim_verify_result_clear(&res);
	dkim_verify_cancel(v);
}

static void verify_key_done(const struct dns_result *dr, void *arg)
{
	struct key_slot *sl = arg;
	struct dkim_verify *v = sl->v;
	struct dkim_keyrec *k = &v->keys[sl->i];

	v->q[sl->i] = NULL;
	k->rcode = dr->rcode;
	if (dr->rcode == DNS_RCODE_NOERROR && dr->n && dr->txt) {
		k->txt = xcalloc(dr->n, sizeof(*k->txt));
		for (size_t j = 0; j < dr->n; j++)
			buf_append(&k->txt[k->ntxt++], dr->txt[j].data, dr->txt[j].len);
	}
	if (--v->pending == 0)
		verify_finish(v);
}

static void verify_now(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	verify_finish(arg);
}

struct dkim_verify *dkim_verify_start(struct resolver *r, const char *msg, size_t len,
				      dkim_verify_cb *cb, void *arg)
{
	struct dkim_verify *v = xcalloc(1, sizeof(*v));
	char *names[VERIFY_MAX_KEYS];

	v->r = r;
	v->msg = xmalloc(len + 1);
	memcpy(v->msg, msg, len);
	v->msg[len] = '\0';
	v->len = len;
	v->cb = cb;
	v->arg = arg;
	v->nkeys = dkim_key_names(msg, len, names, VERIFY_MAX_KEYS);
	for (size_t i = 0; i < v->nkeys; i++) {
		copy_str(v->keys[i].name, sizeof(v->keys[i].name), names[i]);
		free(names[i]);
	}
	v->pending = v->nkeys;
	for (size_t i = 0; i < v->nkeys; i++) {
		v->slot[i].v = v;
		v->slot[i].i = i;
		v->q[i] = resolver_query(r, v->keys[i].name, DNS_TYPE_TXT, verify_key_done, &v->slot[i]);
	}
	if (v->nkeys == 0) {         /* the callback must come after we return */
		v->ev = event_new(resolver_base(r), -1, 0, verify_now, v);
		event_active(v->ev, EV_TIMEOUT, 1);
	}
	return v;
}

void dkim_verify_cancel(struct dkim_verify *v)
{
	if (!v)
		return;
	for (size_t i = 0; i < v->nkeys; i++) {
		if (v->q[i])
			resolver_cancel(v->q[i]);
		for (size_t j = 0; j < v->keys[i].ntxt; j++)
			buf_free(&v->keys[i].txt[j]);
		free(v->keys[i].txt);
	}
	if (v->ev)
		event_free(v->ev);
	free(v->msg);
	free(v);
}
