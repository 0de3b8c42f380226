/* dkim: signing and verification with libopendkim; see dkim.h. */
#include "mailauth/dkim.h"

#include <ctype.h>
#include <event2/event.h>
#include <opendkim/dkim.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "dns/resolver.h"
#include "header.h"
#include "log.h"
#include "mailauth/dkim_key.h"
#include "xmalloc.h"

/* Fields signed when present (RFC 6376 5.4.1 recommendations plus the
 * list headers receivers show).  Trace fields (Received) are not signed:
 * every hop adds them. */
static const char *const signed_fields[] = {
	"From", "Reply-To", "Subject", "Date", "To", "Cc", "Message-ID",
	"In-Reply-To", "References", "MIME-Version", "Content-Type",
	"Content-Transfer-Encoding", "Content-ID", "Content-Description",
	"Resent-Date", "Resent-From", "Resent-Sender", "Resent-To", "Resent-Cc",
	"Resent-Message-ID", "Sender", "List-Id", "List-Help", "List-Unsubscribe",
	"List-Unsubscribe-Post", "List-Subscribe", "List-Post", "List-Owner",
	"List-Archive", "Feedback-ID", NULL,
};

/* Signed once more than they occur, so that adding one breaks the
 * signature (a second From: shown to the reader is the classic attack). */
static const char *const oversigned_fields[] = {
	"From", "Reply-To", "Subject", "Date", "To", "Cc", "Message-ID", "MIME-Version",
	"Content-Type", "Content-Transfer-Encoding", "List-Unsubscribe",
	"List-Unsubscribe-Post", NULL,
};

struct signer_key {
	const char *domain, *selector;   /* point into the config, which outlives us */
	int all;
	struct dkim_key *key;
};

struct dkim_signer {
	DKIM_LIB *lib;
	struct signer_key *keys;
	size_t nkeys;
};

/*
 * libopendkim 2.11 (Debian 12) does not free all of an ed25519 signing
 * handle in dkim_free() (fixed upstream in OpenDKIM PR #321).  Every
 * allocation the library makes for a handle goes through these functions
 * with the handle's closure, so what it leaves behind after dkim_free()
 * is freed here, and the EVP_PKEY it forgets is found through the
 * library's (private, 2.11) struct dkim_crypto: the 64-octet block whose
 * crypto_out points at another tracked block (the signature).
 */
struct alloc_track;

struct alloc_hdr {
	struct alloc_hdr *prev, *next;
	struct alloc_track *t;
	size_t size;
	max_align_t align[];
};

struct alloc_track {
	struct alloc_hdr *head;
};

static void *track_malloc(void *closure, size_t n)
{
	struct alloc_track *t = closure;
	struct alloc_hdr *h = malloc(sizeof(*h) + n);
	if (!h)
		return NULL;
	h->size = n;
	h->t = t;
	h->prev = NULL;
	h->next = t ? t->head : NULL;
	if (t && t->head)
		t->head->prev = h;
	if (t)
		t->head = h;
	return h->align;
}

static void track_free(void *closure, void *p)
{
	(void)closure;
	if (!p)
		return;
	struct alloc_hdr *h = (struct alloc_hdr *)((char *)p - offsetof(struct alloc_hdr, align));
	if (h->t) {
		if (h->prev)
			h->prev->next = h->next;
		else
			h->t->head = h->next;
		if (h->next)
			h->next->prev = h->prev;
	}
	free(h);
}

struct dkim_crypto_2_11 {        /* libopendkim 2.11, OpenSSL build */
	unsigned char crypto_pad;
	int crypto_keysize;
	size_t crypto_inlen;
	size_t crypto_outlen;
	EVP_PKEY *crypto_pkey;
	void *crypto_key;
	BIO *crypto_keydata;
	unsigned char *crypto_in;
	unsigned char *crypto_out;
};

static int tracked(const struct alloc_track *t, const void *p)
{
	for (const struct alloc_hdr *h = t->head; h; h = h->next)
		if ((const void *)h->align == p)
			return 1;
	return 0;
}

/* Before dkim_free() of an ed25519 signing handle of the buggy version. */
static void track_free_ed25519_key(struct alloc_track *t)
{
	if (dkim_libversion() != 0x020B0000)
		return;
	for (struct alloc_hdr *h = t->head; h; h = h->next) {
		if (h->size != sizeof(struct dkim_crypto_2_11))
			continue;
		struct dkim_crypto_2_11 *c = (void *)h->align;
		if (c->crypto_outlen == 64 && c->crypto_out && c->crypto_pkey &&
		    tracked(t, c->crypto_out) && EVP_PKEY_get_base_id(c->crypto_pkey) == EVP_PKEY_ED25519) {
			EVP_PKEY_free(c->crypto_pkey);
			c->crypto_pkey = NULL;
			return;
		}
	}
}

/* After dkim_free(): frees what the library left behind for the handle. */
static void track_release(struct alloc_track *t)
{
	while (t->head)
		track_free(t, t->head->align);
}

static DKIM_LIB *lib_new(void)
{
	DKIM_LIB *lib = dkim_init(track_malloc, track_free);
	if (!lib)
		msg_fatal("event=dkim_init_failed reason=\"dkim_init returned NULL\"");
	return lib;
}

/* 1 when every CR is followed by LF and every LF preceded by CR: libopendkim
 * 2.11 asserts (aborts) on some bare-LF input, so it never gets any. */
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
		k->domain = conf[i].domain;
		k->selector = conf[i].selector;
		k->all = conf[i].all;
		sg->nkeys++;
	}
	sg->lib = lib_new();
	/* the library takes the list itself, with the size of a pointer to it */
	if (dkim_options(sg->lib, DKIM_OP_SETOPT, DKIM_OPTS_SIGNHDRS, (void *)signed_fields,
			 sizeof(char **)) != DKIM_STAT_OK ||
	    dkim_options(sg->lib, DKIM_OP_SETOPT, DKIM_OPTS_OVERSIGNHDRS, (void *)oversigned_fields,
			 sizeof(char **)) != DKIM_STAT_OK)
		msg_panic("event=dkim_init_failed reason=\"header lists refused\"");
	return sg;
}

void dkim_signer_free(struct dkim_signer *sg)
{
	if (!sg)
		return;
	for (size_t i = 0; i < sg->nkeys; i++)
		dkim_key_free(sg->keys[i].key);
	free(sg->keys);
	if (sg->lib)
		dkim_close(sg->lib);
	free(sg);
}

size_t dkim_signer_nkeys(const struct dkim_signer *sg)
{
	return sg ? sg->nkeys : 0;
}

struct first_addr {
	char domain[256];
	int found;
};

static void take_first(const char *addr, void *arg)
{
	struct first_addr *fa = arg;
	const char *at = strrchr(addr, '@');
	if (fa->found || !at || !at[1])
		return;
	int n = snprintf(fa->domain, sizeof(fa->domain), "%s", at + 1);
	if (n < 0 || (size_t)n >= sizeof(fa->domain))
		return;
	fa->found = 1;
}

int dkim_from_domain(const char *msg, size_t len, char *out, size_t outlen)
{
	struct header_field f;
	struct first_addr fa = { "", 0 };

	if (!header_find(msg, len, "From", &f))
		return -1;
	if (header_addresses(f.value, f.valuelen, take_first, &fa) < 0 || !fa.found)
		return -1;
	size_t n = strlen(fa.domain);
	if (n && fa.domain[n - 1] == '.')
		fa.domain[--n] = '\0';
	if (n == 0 || n >= outlen)
		return -1;
	for (size_t i = 0; i <= n; i++)
		out[i] = (char)tolower((unsigned char)fa.domain[i]);
	return 0;
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

/* Marks in use[] the keys that sign msg; returns how many. */
static size_t select_keys(const struct dkim_signer *sg, const char *msg, size_t len, int *use)
{
	char from[256];
	size_t best = 0, n = 0;
	int have_from = dkim_from_domain(msg, len, from, sizeof(from)) == 0;

	for (size_t i = 0; have_from && i < sg->nkeys; i++) {
		size_t m = domain_match(from, sg->keys[i].domain);
		if (m > best)
			best = m;
	}
	for (size_t i = 0; i < sg->nkeys; i++) {
		use[i] = sg->keys[i].all ||
			 (best && have_from && domain_match(from, sg->keys[i].domain) == best);
		n += (size_t)use[i];
	}
	return n;
}

int dkim_signer_wants(const struct dkim_signer *sg, const char *msg, size_t len)
{
	if (!sg || sg->nkeys == 0)
		return 0;
	int *use = xcalloc(sg->nkeys, sizeof(int));
	size_t n = select_keys(sg, msg, len, use);
	free(use);
	return n > 0;
}

/* Appends "DKIM-Signature: value" with CRLF line ends (the library folds
 * with bare LF or CRLF depending on its flags: normalise). */
static void append_field(struct buf *out, const unsigned char *v, size_t n)
{
	buf_puts(out, "DKIM-Signature: ");
	for (size_t i = 0; i < n; i++) {
		if (v[i] == '\r')
			continue;
		if (v[i] == '\n')
			buf_putc(out, '\r');
		buf_putc(out, (char)v[i]);
	}
	buf_puts(out, "\r\n");
}

/* One signature with one key; -1 with the library's reason. */
static int sign_one(const struct dkim_signer *sg, const struct signer_key *k, const char *msg,
		    size_t len, const char *jobid, struct buf *sigs, char *err, size_t errlen)
{
	DKIM_STAT st;
	unsigned char *hdr;
	size_t hdrlen;
	struct alloc_track track = { NULL };
	int alg = k->key->type == DKIM_KEY_ED25519 ? DKIM_SIGN_ED25519SHA256 : DKIM_SIGN_RSASHA256;
	DKIM *d = dkim_sign(sg->lib, (const unsigned char *)jobid, &track,
			    (dkim_sigkey_t)k->key->pem, (const unsigned char *)k->selector,
			    (const unsigned char *)k->domain, DKIM_CANON_RELAXED, DKIM_CANON_RELAXED,
			    alg, -1, &st);
	if (!d) {
		set_error(err, errlen, "dkim_sign: %s", dkim_getresultstr(st));
		return -1;
	}
	/* dkim_chunk takes a non-const buffer but does not write to it. */
	st = dkim_chunk(d, (unsigned char *)(uintptr_t)msg, len);
	if (st == DKIM_STAT_OK)
		st = dkim_chunk(d, NULL, 0);
	if (st == DKIM_STAT_OK)
		st = dkim_eom(d, NULL);
	if (st == DKIM_STAT_OK)
		st = dkim_getsighdr_d(d, strlen("DKIM-Signature: "), &hdr, &hdrlen);
	if (st != DKIM_STAT_OK) {
		const char *why = dkim_geterror(d);
		set_error(err, errlen, "%s: %s", dkim_getresultstr(st), why && *why ? why : "signing failed");
		dkim_free(d);
		track_release(&track);
		return -1;
	}
	append_field(sigs, hdr, hdrlen);
	if (alg == DKIM_SIGN_ED25519SHA256)
		track_free_ed25519_key(&track);
	dkim_free(d);
	track_release(&track);
	return 0;
}

int dkim_signer_sign(const struct dkim_signer *sg, const char *msg, size_t len, const char *jobid,
		     struct buf *sigs, char *info, size_t infolen, char *err, size_t errlen)
{
	struct buf sel = BUF_INIT;
	const char *domain = NULL;
	int *use, rc = 1;

	if (!sg || sg->nkeys == 0)
		return 0;
	if (!crlf_clean(msg, len)) {
		set_error(err, errlen, "bare CR or LF in the message");
		return -1;
	}
	use = xcalloc(sg->nkeys, sizeof(int));
	if (select_keys(sg, msg, len, use) == 0) {
		free(use);
		return 0;
	}
	for (size_t i = 0; i < sg->nkeys && rc == 1; i++) {
		if (!use[i])
			continue;
		if (sign_one(sg, &sg->keys[i], msg, len, jobid, sigs, err, errlen) < 0) {
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
