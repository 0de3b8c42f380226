/*
 * spf_record: the parser of one SPF record (RFC 7208 sections 4.5, 4.6,
 * 5, 6, 7.1) into mechanisms and the redirect= / exp= modifiers.
 * Contract: takes untrusted text with its length (it may hold NULs or any
 * byte), never reads past it, and either fills a complete record or
 * returns -1 with the reason in err; any syntax error anywhere in the
 * record is an error (the caller's permerror), so evaluation never starts
 * on a half-valid record.  Unknown modifiers are checked and dropped.
 * Domain-specs are kept unexpanded (macro syntax already checked).
 */
#ifndef OUTPOST_SPF_RECORD_H
#define OUTPOST_SPF_RECORD_H
#include <stddef.h>

#include "dns/dns.h"

enum spf_qualifier { SPF_QUAL_PASS, SPF_QUAL_FAIL, SPF_QUAL_SOFTFAIL, SPF_QUAL_NEUTRAL };

enum spf_mech_type {
	SPF_MECH_ALL, SPF_MECH_INCLUDE, SPF_MECH_A, SPF_MECH_MX,
	SPF_MECH_PTR, SPF_MECH_IP4, SPF_MECH_IP6, SPF_MECH_EXISTS,
};

struct spf_mech {
	enum spf_mech_type type;
	enum spf_qualifier qual;
	char *domain;            /* domain-spec; NULL when absent (a, mx, ptr) */
	int cidr4, cidr6;        /* prefix lengths; 32 and 128 when absent */
	struct dns_addr net;     /* ip4, ip6 */
	char *text;              /* the term as written, for reasons and logs */
};

struct spf_record {
	struct spf_mech *mech;
	size_t nmech;
	char *redirect;          /* domain-spec, or NULL */
	char *exp;               /* domain-spec, or NULL */
};

/* 1 when txt starts with "v=spf1" (any case) followed by a space or its
 * end: the record selection rule of section 4.5. */
int spf_record_is_spf(const char *txt, size_t len);
int spf_record_parse(const char *txt, size_t len, struct spf_record **out,
		     char *err, size_t errlen);
void spf_record_free(struct spf_record *rec);
/* Section 7.1 domain-spec: a valid macro-string ending in a macro or in
 * "." toplabel (an optional final dot allowed). */
int spf_domain_spec_check(const char *spec, size_t len, char *err, size_t errlen);
/* Strict dotted quad (no leading zeros), as ip4-network requires. */
int spf_ip4_parse(const char *s, size_t len, struct dns_addr *out);

#endif
