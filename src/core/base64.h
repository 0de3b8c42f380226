/*
 * base64: the one base64 of outpost (RFC 4648 section 4, the standard
 * alphabet with '=' padding), for SASL (AUTH in both directions) and DKIM
 * (p=, bh=, b=).
 * Contract:
 *  - base64_encode() writes the padded encoding of in[0..inlen) and a NUL
 *    to out and returns its length, or -1 (out "" when outlen > 0) when
 *    out has fewer than base64_encoded_len(inlen) + 1 bytes: never a
 *    truncated encoding.  base64_encode_alloc() returns it in memory of
 *    its own (xmalloc: never NULL), which the caller frees.
 *  - base64_decode() takes untrusted text with its length (any byte, never
 *    read past inlen) and accepts only the strict form: a length that is a
 *    multiple of 4, alphabet characters, at most two '=' and only at the
 *    very end; no whitespace (callers that allow folding remove it first).
 *    It writes the octets and a NUL after them (so text can be used as a
 *    string) and returns their count, or -1 for bad input or when out has
 *    no room for the octets and the NUL (base64_decoded_max(inlen) + 1
 *    is always enough).  Bits left over after the last octet are ignored,
 *    as every decoder outpost replaced did.
 *  - Pure functions, no state: safe from any thread.
 */
#ifndef OUTPOST_BASE64_H
#define OUTPOST_BASE64_H
#include <stddef.h>

/* Length of the encoding of n octets, without the NUL. */
size_t base64_encoded_len(size_t n);
/* Most octets inlen characters can decode to. */
size_t base64_decoded_max(size_t inlen);

long base64_encode(const void *in, size_t inlen, char *out, size_t outlen);
char *base64_encode_alloc(const void *in, size_t inlen);
long base64_decode(const char *in, size_t inlen, void *out, size_t outlen);

#endif
