/*
 * tlsrpt: the SMTP TLS Reporting TXT record at _smtp._tls.DOMAIN
 * (RFC 8460 3): "v=TLSRPTv1; rua=mailto:tlsrpt@example.com".
 * Contract: pure; untrusted text with its length in, never read past len;
 * 0 with the record in *out, or -1 with the reason in err.  v=TLSRPTv1
 * must be first; rua= is required and holds one or more comma-separated
 * mailto: or https: URIs; other fields are ignored.
 */
#ifndef OUTPOST_TLSRPT_H
#define OUTPOST_TLSRPT_H
#include <stddef.h>

#define TLSRPT_MAX_RUA 8

struct tlsrpt_record {
	size_t nrua;
	int mailto, https;           /* how many rua URIs of each scheme */
};

int tlsrpt_record_is_tlsrpt(const char *txt, size_t len);
int tlsrpt_record_parse(const char *txt, size_t len, struct tlsrpt_record *out,
			char *err, size_t errlen);

#endif
