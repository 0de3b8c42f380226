/*
 * dkim: DKIM signing (RFC 6376, RFC 8463; our own signer, dkim_sign.h) and
 * verification (libopendkim).
 * Contract:
 *  - dkim_signer_new() loads and decodes every configured key once (a key
 *    that cannot be read is an error naming the file); keys are never
 *    logged.
 *  - dkim_signer_sign() is thread-safe (it runs on the worker pool): it
 *    chooses the keys whose domain is the From: domain or its closest
 *    parent (plus every key marked `all`), signs the complete message
 *    (CRLF text, every header outpost adds already in it) with each of
 *    them, relaxed/relaxed, rsa-sha256 or ed25519-sha256, and returns the
 *    DKIM-Signature fields to put on top of the message.  From and the
 *    other oversigned fields (dkim_sign.c) are signed once more than they
 *    occur, so no such field can be added later without breaking the
 *    signature.  A message with a bare CR or LF is refused.
 *  - dkim_verify_start() verifies a message on the event loop: it reads the
 *    signatures' d= and s=, looks the keys up through our own resolver
 *    (never libopendkim's), then verifies and calls back once, after it
 *    has returned, unless cancelled.  dkim_verify_keys() is the same check
 *    with the key records given (tests, fuzzing).
 */
#ifndef OUTPOST_DKIM_H
#define OUTPOST_DKIM_H
#include <stddef.h>

#include "buf.h"

struct config;
struct dkim_conf;
struct dkim_signer;
struct resolver;

struct dkim_signer *dkim_signer_new(const struct dkim_conf *conf, size_t n, char *err, size_t errlen);
void dkim_signer_free(struct dkim_signer *sg);
size_t dkim_signer_nkeys(const struct dkim_signer *sg);
/* 1 when some key would sign msg (its From: domain has a key). */
int dkim_signer_wants(const struct dkim_signer *sg, const char *msg, size_t len);
/* 1: signed, the fields (CRLF-terminated) appended to sigs and
 * "domain=D selectors=S1,S2" in info; 0: no key for this message;
 * -1: error with reason in err.  jobid is unused (it labelled libopendkim's
 * signing state). */
int dkim_signer_sign(const struct dkim_signer *sg, const char *msg, size_t len, const char *jobid,
		     struct buf *sigs, char *info, size_t infolen, char *err, size_t errlen);
/* The same for a message of tenant (NULL: none).  A key configured with
 * tenant = "NAME" signs only NAME's mail: for the From: domain it wins over
 * a key of the same domain without a tenant, and with all = true it adds
 * the tenant's relay-domain signature to each of its messages.  The calls
 * above are these with tenant NULL, where no tenant's key ever signs. */
int dkim_signer_wants_tenant(const struct dkim_signer *sg, const char *msg, size_t len, const char *tenant);
int dkim_signer_sign_tenant(const struct dkim_signer *sg, const char *msg, size_t len, const char *tenant,
			    struct buf *sigs, char *info, size_t infolen, char *err, size_t errlen);

/* The configured key that signs mail From: domain (the domain itself or
 * its closest parent, as for any From: domain; an `all` key counts only
 * through its own domain, as only that one aligns): its index in conf, or
 * -1 when there is none.  check-config and doctor use it
 * to say whether outpost's own mail (DSNs From: MAILER-DAEMON@hostname)
 * is signed. */
long dkim_conf_key_for(const struct dkim_conf *conf, size_t n, const char *domain);

/* --- verification --- */
struct dkim_sig_result {
	char domain[256];
	char selector[128];
	char alg[32];            /* "rsa-sha256", "ed25519-sha256", ... */
	int pass;
	char reason[160];        /* "" when pass; else e.g. "body hash mismatch" */
};

struct dkim_verify_result {
	size_t n;                /* signatures found */
	struct dkim_sig_result *sig;
	size_t npass;
	char error[160];         /* a message-level problem (no signature, bad message), or "" */
};

/* A published key record for SELECTOR._domainkey.DOMAIN, as the resolver
 * gives it; rcode is a DNS_RCODE_* value (NOERROR with ntxt 0: NODATA). */
struct dkim_keyrec {
	char name[512];
	int rcode;
	struct buf *txt;
	size_t ntxt;
};

typedef void dkim_verify_cb(void *arg, const struct dkim_verify_result *res);
struct dkim_verify;

/* The DNS names of the keys the message's signatures need (at most max),
 * into names[i] (caller frees each).  Returns how many. */
size_t dkim_key_names(const char *msg, size_t len, char **names, size_t max);
/* Verifies with the given key records; fills res (free with
 * dkim_verify_result_clear).  Returns res->npass > 0 ? 0 : -1. */
int dkim_verify_keys(const char *msg, size_t len, const struct dkim_keyrec *keys, size_t nkeys,
		     struct dkim_verify_result *res);
void dkim_verify_result_clear(struct dkim_verify_result *res);

struct dkim_verify *dkim_verify_start(struct resolver *r, const char *msg, size_t len,
				      dkim_verify_cb *cb, void *arg);
void dkim_verify_cancel(struct dkim_verify *v);

#endif
