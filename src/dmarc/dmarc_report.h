/*
 * dmarc_report: RFC 7489 (and RFC 9990) DMARC aggregate reports, parsed
 * from what a reporter mails: gzip, zip or plain XML, told apart by their
 * first bytes (never by a file name).
 *
 * Contract: dmarc_report_parse() returns 0 and a report, or -1 and a
 * specific reason in err ("broken XML at line 3: ...", "record 2:
 * row/source_ip \"x\" is not an IP address", "zip: no entry holds a
 * report").  The XML is parsed by libxml2 without network access and
 * without expanding entities; a decompressed report is refused past
 * DMARC_REPORT_MAX octets (a zip or gzip bomb).  Required fields (per the
 * schema: report_metadata org_name, report_id, date_range begin and end;
 * policy_published domain and p; per record row source_ip, count,
 * policy_evaluated disposition, dkim and spf, identifiers header_from)
 * must be present and well-formed; the optional ones (email, adkim, aspf,
 * sp, pct, auth_results) are "" or 0 when absent.  Element names are
 * matched without their namespace (RFC 9990 adds one).  Result words are
 * lowercased ("Pass" as sent by some reporters is "pass").
 */
#ifndef OUTPOST_DMARC_REPORT_H
#define OUTPOST_DMARC_REPORT_H
#include <stddef.h>

#define DMARC_REPORT_MAX (64u << 20)

struct dmarc_record {
	char source_ip[64];
	unsigned long long count;
	char disposition[16];        /* none, quarantine, reject (policy applied) */
	char dkim[8], spf[8];        /* policy_evaluated: pass or fail (aligned results) */
	char header_from[256];
	char envelope_from[256];     /* "" when absent */
	char dkim_domain[256], dkim_result[16];   /* the first auth_results/dkim, "" */
	char spf_domain[256], spf_result[16];     /* the first auth_results/spf, "" */
};

struct dmarc_report {
	char org_name[256], email[256], report_id[256];
	long long begin, end;
	char domain[256], p[16], sp[16], adkim[4], aspf[4];
	unsigned pct;                /* 100 when absent */
	struct dmarc_record *rec;
	size_t nrec;
};

int dmarc_report_parse(const void *data, size_t len, struct dmarc_report **out, char *err, size_t errlen);
void dmarc_report_free(struct dmarc_report *r);

#endif
