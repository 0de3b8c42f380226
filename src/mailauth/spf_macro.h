/*
 * spf_macro: RFC 7208 section 7 macro strings, checked and expanded.
 * Contract: takes untrusted text with its length (it may hold NULs), never
 * reads past it, and returns 0 or -1 with the reason in err.  In DOMAIN
 * mode (domain-specs, modifier values) the letters c, r, t and spaces are
 * errors; in EXPLAIN mode (the TXT text named by exp=) they are allowed.
 * Expansion applies transformers and delimiters, URL-escapes uppercase
 * letters, and refuses results over SPF_MACRO_MAX_OUT bytes.
 */
#ifndef OUTPOST_SPF_MACRO_H
#define OUTPOST_SPF_MACRO_H
#include <stddef.h>

#include "buf.h"
#include "dns/dns.h"

#define SPF_MACRO_MAX_OUT 8192

enum spf_macro_mode { SPF_MACRO_DOMAIN, SPF_MACRO_EXPLAIN };

/* The values of the macro letters (section 7.3); all must be set except p,
 * which may be NULL when the string does not use it. */
struct spf_macro_vars {
	const char *s;   /* <sender> */
	const char *l;   /* local-part of <sender> */
	const char *o;   /* domain of <sender> */
	const char *d;   /* <domain> */
	const char *i;   /* <ip>: dotted quad, or 32 dot-separated nibbles */
	const char *p;   /* validated domain name of <ip>, or "unknown" */
	const char *v;   /* "in-addr" or "ip6" */
	const char *h;   /* HELO/EHLO domain */
	const char *c;   /* SMTP client IP, readable form (explain only) */
	const char *r;   /* receiving host name (explain only) */
	const char *t;   /* current timestamp (explain only) */
};

/* Syntax only. */
int spf_macro_check(const char *str, size_t len, enum spf_macro_mode mode,
		    char *err, size_t errlen);
/* Appends the expansion of str to out. */
int spf_macro_expand(const char *str, size_t len, enum spf_macro_mode mode,
		     const struct spf_macro_vars *vars, struct buf *out,
		     char *err, size_t errlen);
/* The values of i (dotted quad, or 32 dot-separated lowercase nibbles as
 * section 7.4 shows) and c (dotted quad, or RFC 5952 text) for ip; -1 when
 * a buffer is short (80 and 46 bytes always do). */
int spf_macro_ip_strings(const struct dns_addr *ip, char *i, size_t ilen, char *c, size_t clen);
/* 1 when str (assumed valid) uses macro letter (either case), else 0. */
int spf_macro_uses(const char *str, size_t len, char letter);

#endif
