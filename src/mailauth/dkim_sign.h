/*
 * dkim_sign: DKIM signatures made by our own code (RFC 6376, RFC 8463),
 * rsa-sha256 and ed25519-sha256, relaxed/relaxed.
 * Contract:
 *  - dkim_sign_key_new() decodes the private key once; the result is
 *    read-only afterwards, so one key signs on several threads at once
 *    (every signature uses its own OpenSSL contexts).
 *  - dkim_sign_message() takes a complete message (CRLF text, refused
 *    when a header field has no colon) and appends one folded
 *    "DKIM-Signature: ...\r\n" field.  Signed fields: those of
 *    DKIM_SIGNED present in the message, in message order, then every
 *    name of DKIM_OVERSIGNED once more (a field added later would be
 *    picked by it and break the signature).  Tags, in this order:
 *    v a c d s t bh h b.
 *  - The canonicalizers are pure and take any bytes (never read past n):
 *    dkim_canon_header() is RFC 6376 3.4.2 relaxed for one field (name,
 *    colon, value, inner folding CRLFs, no final CRLF); dkim_canon_body()
 *    is 3.4.4 relaxed, where an empty body is empty and a last line
 *    without CRLF gets one (what a receiver sees after SMTP).
 */
#ifndef OUTPOST_DKIM_SIGN_H
#define OUTPOST_DKIM_SIGN_H
#include <stddef.h>
#include <time.h>

#include "buf.h"

struct dkim_key;
struct dkim_sign_key;

struct dkim_sign_key *dkim_sign_key_new(const struct dkim_key *k, char *err, size_t errlen);
void dkim_sign_key_free(struct dkim_sign_key *sk);

/* 0: the field appended to out; -1: reason in err. */
int dkim_sign_message(const struct dkim_sign_key *sk, const char *domain, const char *selector,
		      const char *msg, size_t len, time_t now, struct buf *out, char *err,
		      size_t errlen);

/* Canonical form of one header field, appended to out (no CRLF added). */
void dkim_canon_header(const char *f, size_t n, struct buf *out);

typedef void dkim_canon_out(void *arg, const char *p, size_t n);
/* Canonical form of a body (the text after the blank line), in pieces. */
void dkim_canon_body(const char *body, size_t n, dkim_canon_out *out, void *arg);
/* The same, appended to a buf. */
void dkim_canon_body_buf(const char *body, size_t n, struct buf *out);

#endif
