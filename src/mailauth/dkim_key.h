/*
 * dkim_key: DKIM keys on both sides of DNS.
 * Contract:
 *  - A private key (RSA or Ed25519, PEM as `openssl genpkey` writes it) is
 *    loaded once into struct dkim_key, which keeps the PEM text for the
 *    signer and the public key in DKIM form (p= value).  Nothing here logs
 *    key material; errors name the file, never its content.
 *  - dkim_key_record_parse() is pure: untrusted TXT text with its length
 *    in (any byte, NULs included, never read past len), a complete record
 *    or -1 with a reason out (RFC 6376 3.6.1 tags v, h, k, n, p, s, t;
 *    unknown tags ignored, a duplicated tag or malformed value is an error).
 *  - dkim_key_published() tells whether a set of TXT records published at
 *    SELECTOR._domainkey.DOMAIN holds the public half of a private key;
 *    it is what `outpost dkim show` and `outpost doctor` report.
 */
#ifndef OUTPOST_DKIM_KEY_H
#define OUTPOST_DKIM_KEY_H
#include <stddef.h>

#include "buf.h"

enum dkim_key_type { DKIM_KEY_RSA, DKIM_KEY_ED25519, DKIM_KEY_UNKNOWN };

struct dkim_key {
	enum dkim_key_type type;     /* RSA or ED25519 */
	unsigned bits;               /* RSA modulus size; 256 for Ed25519 */
	char *pem;                   /* private key, PEM, NUL-terminated (for the signer) */
	size_t pemlen;
	char *pub_b64;               /* p= value: base64 of SubjectPublicKeyInfo DER (RSA)
	                                or of the raw 32-octet key (Ed25519, RFC 8463) */
};

/* Reads a PEM private key file.  -1 with "FILE: reason" in err when it
 * cannot be read, is not a private key or is of another type (DSA, EC),
 * or is an RSA key under 1024 bits. */
int dkim_key_load(const char *file, struct dkim_key **out, char *err, size_t errlen);
/* The same from PEM text in memory (name used in err). */
int dkim_key_from_pem(const char *pem, size_t len, const char *name,
		      struct dkim_key **out, char *err, size_t errlen);
/* A fresh key: RSA with bits (0: 2048; 1024..8192) or Ed25519 (bits ignored). */
int dkim_key_generate(enum dkim_key_type type, unsigned bits, struct dkim_key **out,
		      char *err, size_t errlen);
/* Writes k->pem to file, created with mode 0600, refusing to overwrite. */
int dkim_key_write(const struct dkim_key *k, const char *file, char *err, size_t errlen);
void dkim_key_free(struct dkim_key *k);

/* "rsa", "ed25519", "unknown". */
const char *dkim_key_type_name(enum dkim_key_type t);
/* "rsa" / "ed25519" (any case) -> type; DKIM_KEY_UNKNOWN otherwise. */
enum dkim_key_type dkim_key_type_parse(const char *s);
/* The exact TXT record text to publish: "v=DKIM1; k=rsa; p=MIIB...".
 * The caller frees it.  (One string; DNS tools split it into 255-octet
 * character-strings, which the receiver concatenates.) */
char *dkim_key_txt_record(const struct dkim_key *k);
/* txt as a zone file's TXT rdata: quoted character-strings of at most 255
 * octets each, separated by a space ("v=DKIM1; ... p=MII" "BCgKC..."), so
 * zone files and DNS servers that refuse longer strings accept it (RFC
 * 1035 3.3.14).  '"' and '\\' are escaped.  The caller frees it. */
char *dkim_txt_zone_strings(const char *txt);
/* "SELECTOR._domainkey.DOMAIN" into out; -1 when it does not fit. */
int dkim_key_dns_name(const char *selector, const char *domain, char *out, size_t outlen);

/* A published key record (RFC 6376 3.6.1, RFC 8463). */
struct dkim_key_record {
	int has_v;                   /* v=DKIM1 was present (it must then be first) */
	enum dkim_key_type type;     /* k=, default rsa; UNKNOWN for other values */
	char *k;                     /* k= as written, or NULL */
	char *h;                     /* h= as written (colon list), or NULL: any hash */
	char *s;                     /* s= as written, or NULL: "*" */
	char *t;                     /* t= as written, or NULL */
	char *n;                     /* n= notes, or NULL */
	int testing;                 /* t= has y */
	int strict;                  /* t= has s (no subdomains in i=) */
	int revoked;                 /* p= is empty */
	char *p;                     /* p= with whitespace removed (base64) */
	unsigned char *pub;          /* p= decoded; NULL when revoked */
	size_t publen;
};

int dkim_key_record_parse(const char *txt, size_t len, struct dkim_key_record **out,
			  char *err, size_t errlen);
void dkim_key_record_free(struct dkim_key_record *rec);
/* 1 when the record allows sha256 (h=) and email (s=). */
int dkim_key_record_usable(const struct dkim_key_record *rec);
/* 0 when rec publishes the public half of key, else -1 and why in err
 * (revoked, other key type, other key, h= or s= excludes us). */
int dkim_key_record_match(const struct dkim_key_record *rec, const struct dkim_key *key,
			  char *err, size_t errlen);

enum dkim_pub_status {
	DKIM_PUB_MATCH,              /* a record holds exactly this key */
	DKIM_PUB_MISSING,            /* no TXT record at the name (or none looks like DKIM) */
	DKIM_PUB_MISMATCH,           /* a DKIM record is there but holds another key */
	DKIM_PUB_INVALID,            /* the only DKIM record(s) do not parse */
};
/* Judges the n TXT records (as the resolver returns them: one buf per
 * record, character-strings concatenated) found at the key's DNS name.
 * Reason (for MISMATCH / INVALID / MISSING) in why. */
enum dkim_pub_status dkim_key_published(const struct dkim_key *key, const struct buf *txt,
					size_t n, char *why, size_t whylen);
const char *dkim_pub_status_name(enum dkim_pub_status st);  /* "match", "missing", ... */

#endif
