/* mta_sts: the MTA-STS TXT record parser; see mta_sts.h for the contract. */
#include "mailauth/mta_sts.h"

#include <ctype.h>
#include <string.h>

#include "log.h"
#include "mailauth/tagval.h"

int mta_sts_record_is_sts(const char *txt, size_t len)
{
	return len >= 7 && memcmp(txt, "v=STSv1", 7) == 0 &&
	       (len == 7 || txt[7] == ';' || txt[7] == ' ' || txt[7] == '\t');
}

static int id_ok(const char *s, size_t n)
{
	if (n < 1 || n > 32)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]))
			return 0;
	return 1;
}

int mta_sts_record_parse(const char *txt, size_t len, struct mta_sts_record *out,
			 char *err, size_t errlen)
{
	struct tagval tv;
	size_t pos = 0;
	int rc, have_id = 0;
	memset(out, 0, sizeof(*out));
	if (!mta_sts_record_is_sts(txt, len)) {
		set_error(err, errlen, "the record must start with v=STSv1");
		return -1;
	}
	while ((rc = tagval_next(txt, len, &pos, &tv, err, errlen)) > 0) {
		if (!tagval_is(tv.tag, tv.taglen, "id"))
			continue;
		if (have_id++) {
			set_error(err, errlen, "id= appears twice");
			return -1;
		}
		if (!id_ok(tv.val, tv.vallen)) {
			set_error(err, errlen, "id=%.*s: want 1 to 32 letters and digits",
				  (int)(tv.vallen > 40 ? 40 : tv.vallen), tv.val);
			return -1;
		}
		memcpy(out->id, tv.val, tv.vallen);
	}
	if (rc < 0)
		return -1;
	if (!have_id) {
		set_error(err, errlen, "no id= field");
		return -1;
	}
	return 0;
}
