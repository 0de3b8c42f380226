/* tlsrpt: the TLS-RPT TXT record parser; see tlsrpt.h for the contract. */
#include "mailauth/tlsrpt.h"

#include <string.h>
#include <strings.h>

#include "log.h"
#include "mailauth/tagval.h"

int tlsrpt_record_is_tlsrpt(const char *txt, size_t len)
{
	return len >= 10 && memcmp(txt, "v=TLSRPTv1", 10) == 0 &&
	       (len == 10 || txt[10] == ';' || txt[10] == ' ' || txt[10] == '\t');
}

/* One rua URI s[0..n): "mailto:" or "https:" and something after it, no
 * spaces or control bytes. */
static int uri_ok(const char *s, size_t n, struct tlsrpt_record *out)
{
	size_t skip;
	if (n > 7 && strncasecmp(s, "mailto:", 7) == 0 && memchr(s, '@', n))
		skip = 7;
	else if (n > 8 && strncasecmp(s, "https://", 8) == 0)
		skip = 8;
	else
		return 0;
	for (size_t i = skip; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return 0;
	if (skip == 7)
		out->mailto++;
	else
		out->https++;
	out->nrua++;
	return 1;
}

struct rua_arg {
	struct tlsrpt_record *out;
	char *err;
	size_t errlen;
};

static int item_rua(const char *item, size_t n, void *arg)
{
	struct rua_arg *a = arg;
	if (a->out->nrua < TLSRPT_MAX_RUA && uri_ok(item, n, a->out))
		return 0;
	return set_error(a->err, a->errlen, "rua: \"%.*s\" is not a mailto: or https:// URI", (int)(n > 80 ? 80 : n),
			 item);
}

static int parse_rua(const struct tagval *tv, struct tlsrpt_record *out, char *err, size_t errlen)
{
	struct rua_arg a = { out, err, errlen };
	return tagval_each_item(tv, ',', item_rua, &a);
}

int tlsrpt_record_parse(const char *txt, size_t len, struct tlsrpt_record *out,
			char *err, size_t errlen)
{
	struct tagval tv;
	size_t pos = 0;
	int rc, have_rua = 0;
	memset(out, 0, sizeof(*out));
	if (!tlsrpt_record_is_tlsrpt(txt, len)) {
		set_error(err, errlen, "the record must start with v=TLSRPTv1");
		return -1;
	}
	while ((rc = tagval_next(txt, len, &pos, &tv, err, errlen)) > 0) {
		if (!tagval_is(tv.tag, tv.taglen, "rua"))
			continue;
		if (have_rua++) {
			set_error(err, errlen, "rua= appears twice");
			return -1;
		}
		if (parse_rua(&tv, out, err, errlen) < 0)
			return -1;
	}
	if (rc < 0)
		return -1;
	if (!have_rua) {
		set_error(err, errlen, "no rua= field");
		return -1;
	}
	return 0;
}
