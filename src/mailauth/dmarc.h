/*
 * dmarc: DMARC policy records (RFC 7489 section 6.3 and 6.4), the
 * organisational domain (section 3.2, by the Public Suffix List through
 * libpsl) and identifier alignment (section 3.1).
 * Contract: dmarc_record_parse() is pure: untrusted TXT text with its
 * length in (any byte, never read past len), a complete record or -1 with
 * the reason in err and *out NULL.  v=DMARC1 must come first and p= must
 * be present; a duplicated tag or a malformed value of a known tag is an
 * error.  Unknown tags and tags DMARCbis drops (pct, rf, ri) are accepted
 * and listed in notes[] for the operator.  Record selection (section
 * 6.6.3: only records starting with v=DMARC1 count; more than one is no
 * record) is dmarc_record_is_dmarc() plus the caller's count.
 */
#ifndef OUTPOST_DMARC_H
#define OUTPOST_DMARC_H
#include <stddef.h>

enum dmarc_policy { DMARC_POLICY_NONE, DMARC_POLICY_QUARANTINE, DMARC_POLICY_REJECT };

#define DMARC_MAX_URIS  16
#define DMARC_MAX_NOTES 16

struct dmarc_record {
	enum dmarc_policy p;
	enum dmarc_policy sp;        /* p when sp= is absent */
	int has_sp;
	int adkim_strict, aspf_strict;
	unsigned pct;                /* 0..100, default 100 */
	char *rua[DMARC_MAX_URIS];   /* URIs without their "!size" suffix */
	size_t nrua;
	char *ruf[DMARC_MAX_URIS];
	size_t nruf;
	char *fo;                    /* as written, default "0" */
	char *rf;                    /* as written, or NULL */
	unsigned long ri;            /* seconds, default 86400 */
	char *notes[DMARC_MAX_NOTES];/* deprecated and unknown tags, one line each */
	size_t nnotes;
};

/* 1 when txt starts with the version tag "v=DMARC1" (spaces allowed
 * around '=', then ';', a space or the end). */
int dmarc_record_is_dmarc(const char *txt, size_t len);
int dmarc_record_parse(const char *txt, size_t len, struct dmarc_record **out,
		       char *err, size_t errlen);
void dmarc_record_free(struct dmarc_record *rec);
const char *dmarc_policy_name(enum dmarc_policy p);

/* The organisational domain of domain (lowercased) into out: the
 * registrable domain by the Public Suffix List; domain itself when it is
 * a public suffix or not under one.  -1 when out is too short. */
int dmarc_org_domain(const char *domain, char *out, size_t outlen);
/* 1 when the two domains are aligned: equal (strict), or with the same
 * organisational domain (relaxed); ASCII case and a final dot ignored. */
int dmarc_aligned(const char *a, const char *b, int strict);
/* The domain of a mailto: URI ("mailto:r@example.com" -> example.com)
 * into out; -1 for another scheme or no domain. */
int dmarc_uri_mailto_domain(const char *uri, char *out, size_t outlen);

#endif
