/*
 * mta_sts: the MTA-STS TXT record at _mta-sts.DOMAIN (RFC 8461 3.1):
 * "v=STSv1; id=20160831085700Z;".  (The policy file it announces is
 * fetched over HTTPS, which outpost does not do yet.)
 * Contract: pure; untrusted text with its length in, never read past len;
 * 0 with the record in *out, or -1 with the reason in err.  v=STSv1 must
 * be first, id= (1 to 32 letters and digits) is required, other fields
 * are ignored as the RFC says.
 */
#ifndef OUTPOST_MTA_STS_H
#define OUTPOST_MTA_STS_H
#include <stddef.h>

struct mta_sts_record {
	char id[33];
};

/* 1 when txt starts with "v=STSv1" (record selection, RFC 8461 3.1). */
int mta_sts_record_is_sts(const char *txt, size_t len);
int mta_sts_record_parse(const char *txt, size_t len, struct mta_sts_record *out,
			 char *err, size_t errlen);

#endif
