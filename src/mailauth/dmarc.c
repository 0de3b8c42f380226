/* dmarc: DMARC record parser, organisational domain and alignment; see
 * dmarc.h for the contract. */
#include "mailauth/dmarc.h"

#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libpsl.h>

#include "log.h"
#include "mailauth/tagval.h"
#include "xmalloc.h"


int dmarc_record_is_dmarc(const char *txt, size_t len)
{
	size_t i = 0;
	if (len < 1 || (txt[0] != 'v' && txt[0] != 'V'))
		return 0;
	for (i = 1; i < len && (txt[i] == ' ' || txt[i] == '\t'); i++)
		;
	if (i >= len || txt[i] != '=')
		return 0;
	for (i++; i < len && (txt[i] == ' ' || txt[i] == '\t'); i++)
		;
	if (len - i < 6 || memcmp(txt + i, "DMARC1", 6) != 0)
		return 0;
	i += 6;
	return i == len || txt[i] == ';' || txt[i] == ' ' || txt[i] == '\t';
}

const char *dmarc_policy_name(enum dmarc_policy p)
{
	switch (p) {
	case DMARC_POLICY_NONE: return "none";
	case DMARC_POLICY_QUARANTINE: return "quarantine";
	case DMARC_POLICY_REJECT: return "reject";
	}
	return "?";
}

static int parse_policy(const struct tagval *tv, enum dmarc_policy *out, char *err, size_t errlen)
{
	static const enum dmarc_policy pols[] = { DMARC_POLICY_NONE, DMARC_POLICY_QUARANTINE,
						  DMARC_POLICY_REJECT };
	for (size_t i = 0; i < 3; i++)
		if (tagval_is(tv->val, tv->vallen, dmarc_policy_name(pols[i]))) {
			*out = pols[i];
			return 0;
		}
	return set_error(err, errlen, "%.*s=%.*s: want none, quarantine or reject", (int)tv->taglen,
		       tv->tag, (int)tv->vallen, tv->val);
}

static int parse_align(const struct tagval *tv, int *strict, char *err, size_t errlen)
{
	if (tagval_is(tv->val, tv->vallen, "r") || tagval_is(tv->val, tv->vallen, "s")) {
		*strict = tolower((unsigned char)tv->val[0]) == 's';
		return 0;
	}
	return set_error(err, errlen, "%.*s=%.*s: want r or s", (int)tv->taglen, tv->tag,
		       (int)tv->vallen, tv->val);
}

/* 1*DIGIT no greater than max. */
static int parse_number(const struct tagval *tv, unsigned long max, unsigned long *out,
			char *err, size_t errlen)
{
	unsigned long v = 0;
	if (tv->vallen == 0 || tv->vallen > 10)
		goto bad;
	for (size_t i = 0; i < tv->vallen; i++) {
		if (!isdigit((unsigned char)tv->val[i]))
			goto bad;
		v = v * 10 + (unsigned long)(tv->val[i] - '0');
	}
	if (v > max)
		goto bad;
	*out = v;
	return 0;
bad:
	return set_error(err, errlen, "%.*s=%.*s: want a number 0..%lu", (int)tv->taglen, tv->tag,
		       (int)tv->vallen, tv->val, max);
}

struct allowed_arg {
	const struct tagval *tv;
	const char *const *allowed;
	char *err;
	size_t errlen;
};

static int item_allowed(const char *item, size_t n, void *arg)
{
	struct allowed_arg *a = arg;
	for (size_t k = 0; a->allowed[k]; k++)
		if (tagval_is(item, n, a->allowed[k]))
			return 0;
	return set_error(a->err, a->errlen, "%.*s=: unknown value \"%.*s\"", (int)a->tv->taglen, a->tv->tag,
			 (int)n, item);
}

/* A colon-separated list whose items are all among allowed (a
 * NULL-ended list, case-insensitive). */
static int check_colon_list(const struct tagval *tv, const char *const *allowed,
			    char *err, size_t errlen)
{
	struct allowed_arg a = { tv, allowed, err, errlen };
	return tagval_each_item(tv, ':', item_allowed, &a);
}

/* One DMARC URI (section 6.4): scheme ":" rest, optional "!" size [kmgt];
 * the URI alone (no size) is appended to uris. */
static int parse_uri(const char *s, size_t n, char **uris, size_t *nuris,
		     char *err, size_t errlen)
{
	size_t bang = n, i = 0;
	for (size_t k = 0; k < n; k++)
		if (s[k] == '!') {
			bang = k;
			break;
		}
	if (bang < n) {
		size_t d = bang + 1;
		while (d < n && isdigit((unsigned char)s[d]))
			d++;
		if (d == bang + 1 || (d < n && (d + 1 != n || !strchr("kmgtKMGT", s[d]))))
			return set_error(err, errlen, "URI \"%.*s\": bad size limit", (int)n, s);
	}
	if (bang == 0 || !isalpha((unsigned char)s[0]))
		return set_error(err, errlen, "URI \"%.*s\": no scheme", (int)n, s);
	while (i < bang && (isalnum((unsigned char)s[i]) || strchr("+-.", s[i])))
		i++;
	if (i >= bang || s[i] != ':' || i + 1 == bang)
		return set_error(err, errlen, "URI \"%.*s\": want scheme:address", (int)n, s);
	for (size_t k = 0; k < bang; k++)
		if ((unsigned char)s[k] <= 0x20 || (unsigned char)s[k] >= 0x7f)
			return set_error(err, errlen, "URI \"%.*s\": space or control byte", (int)n, s);
	if (*nuris >= DMARC_MAX_URIS)
		return set_error(err, errlen, "more than %d URIs", DMARC_MAX_URIS);
	uris[(*nuris)++] = xstrndup(s, bang);
	return 0;
}

struct uri_arg {
	char **uris;
	size_t *nuris;
	char *err;
	size_t errlen;
};

static int item_uri(const char *item, size_t n, void *arg)
{
	struct uri_arg *a = arg;
	return parse_uri(item, n, a->uris, a->nuris, a->err, a->errlen);
}

static int parse_uri_list(const struct tagval *tv, char **uris, size_t *nuris,
			  char *err, size_t errlen)
{
	struct uri_arg a = { uris, nuris, err, errlen };
	return tagval_each_item(tv, ',', item_uri, &a);
}

static void add_note(struct dmarc_record *rec, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void add_note(struct dmarc_record *rec, const char *fmt, ...)
{
	char line[256];
	va_list ap;
	if (rec->nnotes >= DMARC_MAX_NOTES)
		return;
	va_start(ap, fmt);
	vset_error(line, sizeof(line), fmt, ap);
	va_end(ap);
	rec->notes[rec->nnotes++] = xstrdup(line);
}

enum { T_V, T_P, T_SP, T_ADKIM, T_ASPF, T_PCT, T_RUA, T_RUF, T_FO, T_RF, T_RI, T_COUNT };
static const char *const tag_names[T_COUNT] = { "v", "p", "sp", "adkim", "aspf", "pct",
						"rua", "ruf", "fo", "rf", "ri" };

static int tag_index(const struct tagval *tv)
{
	for (int i = 0; i < T_COUNT; i++)
		if (tagval_is(tv->tag, tv->taglen, tag_names[i]))
			return i;
	return -1;
}

/* Applies one known tag (index t) to rec. */
static int apply_tag(struct dmarc_record *rec, int t, const struct tagval *tv,
		     char *err, size_t errlen)
{
	static const char *const fo_values[] = { "0", "1", "d", "s", NULL };
	static const char *const rf_values[] = { "afrf", NULL };
	unsigned long n = 0;
	switch (t) {         /* T_V: parse_tags() took it first; a second one is a duplicate */
	case T_P:
		return parse_policy(tv, &rec->p, err, errlen);
	case T_SP:
		rec->has_sp = 1;
		return parse_policy(tv, &rec->sp, err, errlen);
	case T_ADKIM:
		return parse_align(tv, &rec->adkim_strict, err, errlen);
	case T_ASPF:
		return parse_align(tv, &rec->aspf_strict, err, errlen);
	case T_PCT:
		if (parse_number(tv, 100, &n, err, errlen) < 0)
			return -1;
		rec->pct = (unsigned)n;
		add_note(rec, "pct=%lu: DMARCbis drops pct (use t=y for testing)", n);
		return 0;
	case T_RUA:
		return parse_uri_list(tv, rec->rua, &rec->nrua, err, errlen);
	case T_RUF:
		return parse_uri_list(tv, rec->ruf, &rec->nruf, err, errlen);
	case T_FO:
		if (check_colon_list(tv, fo_values, err, errlen) < 0)
			return -1;
		free(rec->fo);
		rec->fo = xstrndup(tv->val, tv->vallen);
		return 0;
	case T_RF:
		if (check_colon_list(tv, rf_values, err, errlen) < 0)
			return -1;
		rec->rf = xstrndup(tv->val, tv->vallen);
		add_note(rec, "rf=: DMARCbis drops rf (only afrf exists)");
		return 0;
	case T_RI:
		if (parse_number(tv, 4294967295UL, &n, err, errlen) < 0)
			return -1;
		rec->ri = n;
		add_note(rec, "ri=%lu: DMARCbis drops ri (receivers report daily)", n);
		return 0;
	}
	return 0;
}

static int parse_tags(struct dmarc_record *rec, const char *txt, size_t len,
		      char *err, size_t errlen)
{
	struct tagval tv;
	size_t pos = 0;
	int seen[T_COUNT] = { 0 }, rc;
	if ((rc = tagval_next(txt, len, &pos, &tv, err, errlen)) < 0)
		return -1;
	if (rc == 0 || !tagval_is(tv.tag, tv.taglen, "v") || tv.vallen != 6 ||
	    memcmp(tv.val, "DMARC1", 6) != 0)
		return set_error(err, errlen, "the record must start with v=DMARC1");
	seen[T_V] = 1;
	while ((rc = tagval_next(txt, len, &pos, &tv, err, errlen)) > 0) {
		int t = tag_index(&tv);
		if (t < 0) {
			add_note(rec, "unknown tag \"%.*s\" (ignored by receivers)",
				 (int)(tv.taglen > 32 ? 32 : tv.taglen), tv.tag);
			continue;
		}
		if (seen[t]++)
			return set_error(err, errlen, "tag %s= appears twice", tag_names[t]);
		if (apply_tag(rec, t, &tv, err, errlen) < 0)
			return -1;
	}
	if (rc < 0)
		return -1;
	if (!seen[T_P])
		return set_error(err, errlen, "no p= tag (the policy is required)");
	if (!rec->has_sp)
		rec->sp = rec->p;
	return 0;
}

int dmarc_record_parse(const char *txt, size_t len, struct dmarc_record **out,
		       char *err, size_t errlen)
{
	struct dmarc_record *rec = xcalloc(1, sizeof(*rec));
	rec->pct = 100;
	rec->ri = 86400;
	rec->fo = xstrdup("0");
	*out = NULL;
	if (parse_tags(rec, txt, len, err, errlen) < 0) {
		dmarc_record_free(rec);
		return -1;
	}
	*out = rec;
	return 0;
}

void dmarc_record_free(struct dmarc_record *rec)
{
	if (rec == NULL)
		return;
	for (size_t i = 0; i < rec->nrua; i++)
		free(rec->rua[i]);
	for (size_t i = 0; i < rec->nruf; i++)
		free(rec->ruf[i]);
	for (size_t i = 0; i < rec->nnotes; i++)
		free(rec->notes[i]);
	free(rec->fo);
	free(rec->rf);
	free(rec);
}

/* libpsl's newest list: the system's file when newer than the built-in
 * one.  Loaded once and kept for the life of the process. */
static const psl_ctx_t *psl;
static pthread_once_t psl_once = PTHREAD_ONCE_INIT;

static void psl_load(void)
{
	psl = psl_latest(NULL);
	if (psl == NULL)
		psl = psl_builtin();
}

/* Lowercased copy of domain without a final dot into out. */
static int lower_name(const char *domain, char *out, size_t outlen)
{
	size_t n = strlen(domain);
	if (n > 0 && domain[n - 1] == '.')
		n--;
	if (n >= outlen)
		return -1;
	for (size_t i = 0; i < n; i++)
		out[i] = (char)tolower((unsigned char)domain[i]);
	out[n] = '\0';
	return 0;
}

int dmarc_org_domain(const char *domain, char *out, size_t outlen)
{
	char low[256];
	if (lower_name(domain, low, sizeof(low)) < 0)
		return -1;
	pthread_once(&psl_once, psl_load);
	const char *reg = psl ? psl_registrable_domain(psl, low) : NULL;
	int n = snprintf(out, outlen, "%s", reg ? reg : low);
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

int dmarc_aligned(const char *a, const char *b, int strict)
{
	char la[256], lb[256];
	if (lower_name(a, la, sizeof(la)) < 0 || lower_name(b, lb, sizeof(lb)) < 0)
		return 0;
	if (strcmp(la, lb) == 0)
		return 1;
	if (strict)
		return 0;
	char oa[256], ob[256];
	if (dmarc_org_domain(la, oa, sizeof(oa)) < 0 || dmarc_org_domain(lb, ob, sizeof(ob)) < 0)
		return 0;
	return strcmp(oa, ob) == 0;
}

int dmarc_uri_mailto_domain(const char *uri, char *out, size_t outlen)
{
	if (strncasecmp(uri, "mailto:", 7) != 0)
		return -1;
	const char *at = strrchr(uri + 7, '@');
	if (at == NULL || at[1] == '\0')
		return -1;
	size_t n = strcspn(at + 1, "?");
	if (n == 0 || n >= outlen)
		return -1;
	memcpy(out, at + 1, n);
	out[n] = '\0';
	return 0;
}
