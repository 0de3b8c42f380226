/* spf_record: the SPF record parser; see spf_record.h for the contract. */
#include "mailauth/spf_record.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "mailauth/spf_macro.h"
#include "log.h"
#include "xmalloc.h"


/* Case-insensitive comparison of t[0..n) with the NUL-terminated word. */
static int word_is(const char *t, size_t n, const char *word)
{
	if (strlen(word) != n)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (tolower((unsigned char)t[i]) != word[i])
			return 0;
	return 1;
}

int spf_record_is_spf(const char *txt, size_t len)
{
	return len >= 6 && word_is(txt, 6, "v=spf1") && (len == 6 || txt[6] == ' ');
}

static int toplabel_ok(const char *s, size_t n)
{
	int alpha = 0, hyphen = 0;
	if (n == 0 || s[0] == '-' || s[n - 1] == '-')
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (isalpha((unsigned char)s[i]))
			alpha = 1;
		else if (s[i] == '-')
			hyphen = 1;
		else if (!isdigit((unsigned char)s[i]))
			return 0;
	}
	return alpha || hyphen;
}

int spf_domain_spec_check(const char *spec, size_t len, char *err, size_t errlen)
{
	size_t i = 0;
	int last_macro = 0, prev_macro = 0;

	if (len == 0)
		return set_error(err, errlen, "empty domain-spec");
	if (spf_macro_check(spec, len, SPF_MACRO_DOMAIN, err, errlen) < 0)
		return -1;
	while (i < len) {               /* tokens: macros and literal bytes */
		prev_macro = last_macro;
		last_macro = spec[i] == '%';
		if (last_macro && i + 1 < len && spec[i + 1] == '{') {
			const char *close = memchr(spec + i, '}', len - i);
			i = (size_t)(close - spec) + 1;  /* checked above: it exists */
		} else {
			i += last_macro ? 2 : 1;
		}
	}
	if (last_macro)
		return 0;
	size_t end = len;
	if (spec[len - 1] == '.') {
		end--;
		if (prev_macro)
			return 0;       /* "%{d}." */
	}
	size_t k = end;
	while (k > 0 && (isalnum((unsigned char)spec[k - 1]) || spec[k - 1] == '-'))
		k--;
	if (k == end || k == 0 || spec[k - 1] != '.' || !toplabel_ok(spec + k, end - k))
		return set_error(err, errlen, "domain-spec \"%.*s\" does not end in a macro or a "
			       "valid top-level label", (int)(len > 200 ? 200 : len), spec);
	return 0;
}

int spf_ip4_parse(const char *s, size_t len, struct dns_addr *out)
{
	size_t i = 0;
	memset(out, 0, sizeof(*out));
	out->family = AF_INET;
	for (int part = 0; part < 4; part++) {
		size_t start = i;
		unsigned v = 0;
		if (part > 0) {
			if (i >= len || s[i] != '.')
				return -1;
			start = ++i;
		}
		while (i < len && isdigit((unsigned char)s[i]) && i - start < 3)
			v = v * 10 + (unsigned)(s[i++] - '0');
		if (i == start || v > 255 || (i - start > 1 && s[start] == '0'))
			return -1;
		out->a[part] = (unsigned char)v;
	}
	return i == len ? 0 : -1;
}

/* 1*DIGIT at s[*i]; returns the digit count (0: none) and the value. */
static size_t take_digits(const char *s, size_t n, size_t *i, unsigned *value)
{
	size_t start = *i;
	*value = 0;
	while (*i < n && isdigit((unsigned char)s[*i])) {
		if (*value < 1000)
			*value = *value * 10 + (unsigned)(s[*i] - '0');
		(*i)++;
	}
	return *i - start;
}

/* Checks a CIDR length written with nd digits starting at s. */
static int cidr_ok(const char *s, size_t nd, unsigned value, unsigned max)
{
	return nd >= 1 && nd <= 3 && !(nd > 1 && s[0] == '0') && value <= max;
}

struct dual_cidr {
	int has4, has6;
	size_t at4, nd4, at6, nd6;
	unsigned v4, v6;
};

/* Exact syntax of dual-cidr-length ("/N", "//N", "/N//N"); 1 on a match. */
static int dual_cidr_match(const char *s, size_t n, struct dual_cidr *dc)
{
	size_t i = 0;
	memset(dc, 0, sizeof(*dc));
	if (i < n && s[i] == '/' && !(i + 1 < n && s[i + 1] == '/')) {
		i++;
		dc->at4 = i;
		dc->nd4 = take_digits(s, n, &i, &dc->v4);
		if (dc->nd4 == 0)
			return 0;
		dc->has4 = 1;
	}
	if (i + 1 < n && s[i] == '/' && s[i + 1] == '/') {
		i += 2;
		dc->at6 = i;
		dc->nd6 = take_digits(s, n, &i, &dc->v6);
		if (dc->nd6 == 0)
			return 0;
		dc->has6 = 1;
	}
	return i > 0 && i == n;
}

static int dual_cidr_apply(const char *s, const struct dual_cidr *dc, struct spf_mech *m,
			   char *err, size_t errlen)
{
	if (dc->has4 && !cidr_ok(s + dc->at4, dc->nd4, dc->v4, 32))
		return set_error(err, errlen, "bad IPv4 CIDR length in \"%s\"", m->text);
	if (dc->has6 && !cidr_ok(s + dc->at6, dc->nd6, dc->v6, 128))
		return set_error(err, errlen, "bad IPv6 CIDR length in \"%s\"", m->text);
	if (dc->has4)
		m->cidr4 = (int)dc->v4;
	if (dc->has6)
		m->cidr6 = (int)dc->v6;
	return 0;
}

/* [ ":" domain-spec ] [ dual-cidr-length ] of a and mx. */
static int parse_a_mx(const char *args, size_t alen, struct spf_mech *m, char *err, size_t errlen)
{
	struct dual_cidr dc;
	if (alen == 0)
		return 0;
	if (args[0] == '/') {
		if (!dual_cidr_match(args, alen, &dc))
			return set_error(err, errlen, "bad CIDR length in \"%s\"", m->text);
		return dual_cidr_apply(args, &dc, m, err, errlen);
	}
	const char *spec = args + 1;
	size_t slen = alen - 1;
	for (size_t k = 1; k < slen; k++)
		if (spec[k] == '/' && dual_cidr_match(spec + k, slen - k, &dc)) {
			if (dual_cidr_apply(spec + k, &dc, m, err, errlen) < 0)
				return -1;
			slen = k;
			break;
		}
	if (spf_domain_spec_check(spec, slen, err, errlen) < 0)
		return -1;
	m->domain = xstrndup(spec, slen);
	return 0;
}

/* ":" domain-spec, required (include, exists) or optional (ptr). */
static int parse_domain_arg(const char *args, size_t alen, int required, struct spf_mech *m,
			    char *err, size_t errlen)
{
	if (alen == 0 && !required)
		return 0;
	if (alen == 0 || args[0] != ':')
		return set_error(err, errlen, "\"%s\" needs \":domain\"", m->text);
	if (spf_domain_spec_check(args + 1, alen - 1, err, errlen) < 0)
		return -1;
	m->domain = xstrndup(args + 1, alen - 1);
	return 0;
}

/* ":" ip4-network [ "/" N ] or ":" ip6-network [ "/" N ]. */
static int parse_ip(const char *args, size_t alen, int family, struct spf_mech *m,
		    char *err, size_t errlen)
{
	char tmp[INET6_ADDRSTRLEN + 1];
	if (alen < 2 || args[0] != ':')
		return set_error(err, errlen, "\"%s\" needs \":address\"", m->text);
	const char *a = args + 1, *slash = memchr(a, '/', alen - 1);
	size_t netlen = slash ? (size_t)(slash - a) : alen - 1;
	int bad;
	if (family == AF_INET) {
		bad = spf_ip4_parse(a, netlen, &m->net) < 0;
	} else {
		bad = netlen == 0 || netlen >= sizeof(tmp);
		if (!bad) {
			memcpy(tmp, a, netlen);
			tmp[netlen] = '\0';
			m->net.family = AF_INET6;
			bad = inet_pton(AF_INET6, tmp, m->net.a) != 1;
		}
	}
	if (bad)
		return set_error(err, errlen, "bad address in \"%s\"", m->text);
	if (!slash)
		return 0;
	size_t i = (size_t)(slash - args) + 1;
	unsigned v;
	size_t nd = take_digits(args, alen, &i, &v);
	if (i != alen || !cidr_ok(slash + 1, nd, v, family == AF_INET ? 32 : 128))
		return set_error(err, errlen, "bad CIDR length in \"%s\"", m->text);
	if (family == AF_INET)
		m->cidr4 = (int)v;
	else
		m->cidr6 = (int)v;
	return 0;
}

static const struct {
	const char *name;
	enum spf_mech_type type;
} mech_names[] = {
	{ "all", SPF_MECH_ALL }, { "include", SPF_MECH_INCLUDE }, { "a", SPF_MECH_A },
	{ "mx", SPF_MECH_MX }, { "ptr", SPF_MECH_PTR }, { "ip4", SPF_MECH_IP4 },
	{ "ip6", SPF_MECH_IP6 }, { "exists", SPF_MECH_EXISTS },
};

static int mech_args(const char *args, size_t alen, struct spf_mech *m, char *err, size_t errlen)
{
	switch (m->type) {
	case SPF_MECH_ALL:
		return alen == 0 ? 0 : set_error(err, errlen, "\"%s\": all takes no argument", m->text);
	case SPF_MECH_INCLUDE:
	case SPF_MECH_EXISTS:
		return parse_domain_arg(args, alen, 1, m, err, errlen);
	case SPF_MECH_PTR:
		return parse_domain_arg(args, alen, 0, m, err, errlen);
	case SPF_MECH_A:
	case SPF_MECH_MX:
		return parse_a_mx(args, alen, m, err, errlen);
	case SPF_MECH_IP4:
		return parse_ip(args, alen, AF_INET, m, err, errlen);
	case SPF_MECH_IP6:
		return parse_ip(args, alen, AF_INET6, m, err, errlen);
	}
	return -1;
}

static int parse_mechanism(struct spf_record *rec, const char *t, size_t n,
			   char *err, size_t errlen)
{
	struct spf_mech m;
	size_t i = 0, k;
	memset(&m, 0, sizeof(m));
	m.qual = SPF_QUAL_PASS;
	m.cidr4 = 32;
	m.cidr6 = 128;
	switch (t[0]) {
	case '+': m.qual = SPF_QUAL_PASS; i = 1; break;
	case '-': m.qual = SPF_QUAL_FAIL; i = 1; break;
	case '~': m.qual = SPF_QUAL_SOFTFAIL; i = 1; break;
	case '?': m.qual = SPF_QUAL_NEUTRAL; i = 1; break;
	}
	size_t start = i;
	while (i < n && t[i] != ':' && t[i] != '/')
		i++;
	for (k = 0; k < sizeof(mech_names) / sizeof(mech_names[0]); k++)
		if (word_is(t + start, i - start, mech_names[k].name))
			break;
	if (k == sizeof(mech_names) / sizeof(mech_names[0]))
		return set_error(err, errlen, "unknown mechanism \"%.*s\"",
			       (int)(n > 200 ? 200 : n), t);
	m.type = mech_names[k].type;
	m.text = xstrndup(t, n);
	if (mech_args(t + i, n - i, &m, err, errlen) < 0) {
		free(m.text);
		free(m.domain);
		return -1;
	}
	rec->mech = xreallocarray(rec->mech, rec->nmech + 1, sizeof(*rec->mech));
	rec->mech[rec->nmech++] = m;
	return 0;
}

static int parse_modifier(struct spf_record *rec, const char *name, size_t nlen,
			  const char *value, size_t vlen, char *err, size_t errlen)
{
	char **slot = word_is(name, nlen, "redirect") ? &rec->redirect :
		      word_is(name, nlen, "exp") ? &rec->exp : NULL;
	if (slot == NULL) {
		/* unknown modifiers are ignored, but must be well-formed */
		return spf_macro_check(value, vlen, SPF_MACRO_DOMAIN, err, errlen);
	}
	if (*slot)
		return set_error(err, errlen, "%.*s= given twice", (int)nlen, name);
	if (spf_domain_spec_check(value, vlen, err, errlen) < 0)
		return -1;
	*slot = xstrndup(value, vlen);
	return 0;
}

static int parse_term(struct spf_record *rec, const char *t, size_t n, char *err, size_t errlen)
{
	if (isalpha((unsigned char)t[0])) {
		size_t k = 1;
		while (k < n && (isalnum((unsigned char)t[k]) || t[k] == '-' || t[k] == '_' ||
				 t[k] == '.'))
			k++;
		if (k < n && t[k] == '=')
			return parse_modifier(rec, t, k, t + k + 1, n - k - 1, err, errlen);
	}
	return parse_mechanism(rec, t, n, err, errlen);
}

int spf_record_parse(const char *txt, size_t len, struct spf_record **out,
		     char *err, size_t errlen)
{
	*out = NULL;
	if (!spf_record_is_spf(txt, len))
		return set_error(err, errlen, "not an SPF record (no \"v=spf1\")");
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)txt[i];
		if (ch < 0x20 || ch > 0x7e)
			return set_error(err, errlen, "byte 0x%02x at offset %zu: only printable "
				       "ASCII and spaces are allowed", ch, i);
	}
	struct spf_record *rec = xcalloc(1, sizeof(*rec));
	size_t pos = 6;
	while (pos < len) {
		if (txt[pos] == ' ') {
			pos++;
			continue;
		}
		size_t end = pos;
		while (end < len && txt[end] != ' ')
			end++;
		if (parse_term(rec, txt + pos, end - pos, err, errlen) < 0) {
			spf_record_free(rec);
			return -1;
		}
		pos = end;
	}
	*out = rec;
	return 0;
}

void spf_record_free(struct spf_record *rec)
{
	if (rec == NULL)
		return;
	for (size_t i = 0; i < rec->nmech; i++) {
		free(rec->mech[i].domain);
		free(rec->mech[i].text);
	}
	free(rec->mech);
	free(rec->redirect);
	free(rec->exp);
	free(rec);
}
