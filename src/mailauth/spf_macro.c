/* spf_macro: RFC 7208 macro strings; see spf_macro.h for the contract. */
#include "mailauth/spf_macro.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "log.h"
#include "xmalloc.h"

#define SPF_MACRO_MAX_PARTS 1024  /* digits above this take every part anyway */

struct macro {
	char letter;     /* lowercase */
	int upper;       /* URL-escape the result */
	unsigned keep;   /* rightmost parts to keep; 0: all */
	int reverse;
	char delims[8];  /* NUL-terminated set; "." by default */
};

static int macro_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int macro_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vset_error(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

static int letter_allowed(char lc, enum spf_macro_mode mode)
{
	if (strchr("slodipvh", lc))
		return 1;
	return mode == SPF_MACRO_EXPLAIN && strchr("crt", lc) != NULL;
}

/* Parses "%{...}" at str[*pos] (pointing at '%'); advances *pos past '}'. */
static int macro_parse(const char *str, size_t len, size_t *pos, enum spf_macro_mode mode,
		       struct macro *m, char *err, size_t errlen)
{
	size_t j = *pos + 2;
	unsigned long num = 0;
	int digits = 0;
	size_t nd = 0;

	memset(m, 0, sizeof(*m));
	if (j >= len)
		return macro_err(err, errlen, "unterminated macro");
	char letter = str[j++];
	if (!isalpha((unsigned char)letter) ||
	    !letter_allowed((char)tolower((unsigned char)letter), mode))
		return macro_err(err, errlen, "macro letter '%c' not allowed here",
				 isprint((unsigned char)letter) ? letter : '?');
	m->letter = (char)tolower((unsigned char)letter);
	m->upper = isupper((unsigned char)letter) != 0;
	while (j < len && isdigit((unsigned char)str[j])) {
		if (num < SPF_MACRO_MAX_PARTS)
			num = num * 10 + (unsigned long)(str[j] - '0');
		digits = 1;
		j++;
	}
	if (digits && num == 0)
		return macro_err(err, errlen, "macro digit transformer is zero");
	m->keep = (unsigned)(num > SPF_MACRO_MAX_PARTS ? SPF_MACRO_MAX_PARTS : num);
	if (j < len && (str[j] == 'r' || str[j] == 'R')) {
		m->reverse = 1;
		j++;
	}
	while (j < len && str[j] != '\0' && strchr(".-+,/_=", str[j])) {
		if (!memchr(m->delims, str[j], nd) && nd < sizeof(m->delims) - 1)
			m->delims[nd++] = str[j];
		j++;
	}
	if (nd == 0)
		m->delims[0] = '.';
	if (j >= len || str[j] != '}')
		return macro_err(err, errlen, "bad macro transformer or missing '}'");
	*pos = j + 1;
	return 0;
}

static const char *macro_value(const struct spf_macro_vars *v, char letter)
{
	switch (letter) {
	case 's': return v->s;
	case 'l': return v->l;
	case 'o': return v->o;
	case 'd': return v->d;
	case 'i': return v->i;
	case 'p': return v->p;
	case 'v': return v->v;
	case 'h': return v->h;
	case 'c': return v->c;
	case 'r': return v->r;
	case 't': return v->t;
	}
	return NULL;
}

struct part {
	const char *p;
	size_t n;
};

/* Splits value on the delimiters, reverses, keeps the rightmost parts and
 * joins them with '.' (section 7.3), into out. */
static void macro_transform(const struct macro *m, const char *value, struct buf *out)
{
	size_t vlen = strlen(value), nparts = 1, k = 0, start = 0;
	for (size_t i = 0; i < vlen; i++)
		if (strchr(m->delims, value[i]))
			nparts++;
	struct part parts_small[64];
	struct part *parts = parts_small;
	if (nparts > 64)
		parts = xreallocarray(NULL, nparts, sizeof(*parts));
	for (size_t i = 0; i <= vlen; i++)
		if (i == vlen || strchr(m->delims, value[i])) {
			parts[k].p = value + start;
			parts[k++].n = i - start;
			start = i + 1;
		}
	size_t first = m->keep && m->keep < nparts ? nparts - m->keep : 0;
	for (size_t i = first; i < nparts; i++) {
		size_t idx = m->reverse ? nparts - 1 - i : i;
		if (i > first)
			buf_putc(out, '.');
		buf_append(out, parts[idx].p, parts[idx].n);
	}
	if (parts != parts_small)
		free(parts);
}

/* RFC 3986 unreserved characters stay, everything else becomes %XX. */
static void url_escape(const char *s, size_t n, struct buf *out)
{
	static const char hex[] = "0123456789ABCDEF";
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (isalnum(ch) || ch == '-' || ch == '.' || ch == '_' || ch == '~') {
			buf_putc(out, (char)ch);
		} else {
			char e[3] = { '%', hex[ch >> 4], hex[ch & 15] };
			buf_append(out, e, 3);
		}
	}
}

static int macro_emit(const struct macro *m, const struct spf_macro_vars *vars,
		      struct buf *out, char *err, size_t errlen)
{
	const char *value = macro_value(vars, m->letter);
	if (value == NULL)
		return macro_err(err, errlen, "no value for macro letter '%c'", m->letter);
	struct buf tmp = BUF_INIT;
	macro_transform(m, value, &tmp);
	if (m->upper)
		url_escape(tmp.data ? tmp.data : "", tmp.len, out);
	else
		buf_append(out, tmp.data ? tmp.data : "", tmp.len);
	buf_free(&tmp);
	return 0;
}

/* Handles one '%' escape at str[*pos]; vars NULL: check only. */
static int macro_escape(const char *str, size_t len, size_t *pos, enum spf_macro_mode mode,
			const struct spf_macro_vars *vars, struct buf *out,
			char *err, size_t errlen)
{
	struct macro m;
	if (*pos + 1 >= len)
		return macro_err(err, errlen, "'%%' at the end of a macro string");
	switch (str[*pos + 1]) {
	case '%':
	case '_':
	case '-':
		if (vars)
			buf_puts(out, str[*pos + 1] == '%' ? "%" : str[*pos + 1] == '_' ? " " : "%20");
		*pos += 2;
		return 0;
	case '{':
		if (macro_parse(str, len, pos, mode, &m, err, errlen) < 0)
			return -1;
		return vars ? macro_emit(&m, vars, out, err, errlen) : 0;
	}
	return macro_err(err, errlen, "'%%' not followed by '{', '%%', '_' or '-'");
}

static int macro_run(const char *str, size_t len, enum spf_macro_mode mode,
		     const struct spf_macro_vars *vars, struct buf *out,
		     char *err, size_t errlen)
{
	size_t pos = 0, base = out ? out->len : 0;
	while (pos < len) {
		unsigned char ch = (unsigned char)str[pos];
		if (ch == '%') {
			if (macro_escape(str, len, &pos, mode, vars, out, err, errlen) < 0)
				return -1;
		} else if ((ch > 0x20 && ch < 0x7f) || (ch == ' ' && mode == SPF_MACRO_EXPLAIN)) {
			if (vars)
				buf_putc(out, (char)ch);
			pos++;
		} else {
			return macro_err(err, errlen, "character 0x%02x not allowed in a macro string",
					 ch);
		}
		if (vars && out->len - base > SPF_MACRO_MAX_OUT)
			return macro_err(err, errlen, "macro expansion longer than %d bytes",
					 SPF_MACRO_MAX_OUT);
	}
	return 0;
}

int spf_macro_check(const char *str, size_t len, enum spf_macro_mode mode,
		    char *err, size_t errlen)
{
	return macro_run(str, len, mode, NULL, NULL, err, errlen);
}

int spf_macro_expand(const char *str, size_t len, enum spf_macro_mode mode,
		     const struct spf_macro_vars *vars, struct buf *out,
		     char *err, size_t errlen)
{
	buf_append(out, "", 0);
	return macro_run(str, len, mode, vars, out, err, errlen);
}

int spf_macro_uses(const char *str, size_t len, char letter)
{
	for (size_t i = 0; i + 2 < len; i++) {
		if (str[i] != '%')
			continue;
		if (str[i + 1] == '{' && tolower((unsigned char)str[i + 2]) == tolower((unsigned char)letter))
			return 1;
		i++;            /* skip the character after '%' ("%%{p}" is literal) */
	}
	return 0;
}

int spf_macro_ip_strings(const struct dns_addr *ip, char *i, size_t ilen, char *c, size_t clen)
{
	static const char hex[] = "0123456789abcdef";
	if (inet_ntop(ip->family, ip->a, c, (socklen_t)clen) == NULL)
		return -1;
	if (ip->family == AF_INET) {
		if (strlen(c) >= ilen)
			return -1;
		memcpy(i, c, strlen(c) + 1);
		return 0;
	}
	if (ilen < 64)
		return -1;
	size_t o = 0;
	for (size_t k = 0; k < 16; k++) {
		i[o++] = hex[ip->a[k] >> 4];
		i[o++] = '.';
		i[o++] = hex[ip->a[k] & 15];
		i[o++] = k == 15 ? '\0' : '.';
	}
	return 0;
}
