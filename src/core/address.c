/*
 * address: RFC 5321 Mailbox grammar, strictly.  Everything a relay trick
 * relies on is decided here: source routes, "%" and "!" stay inside the
 * local part (they never select a next hop), trailing dots, empty labels
 * and malformed literals are refused.
 */
#include "address.h"
#include "utf8.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

static int is_alpha(unsigned char c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; }
static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

/* atext of RFC 5322: ALPHA / DIGIT / "!#$%&'*+-/=?^_`{|}~" */
static int is_atext(unsigned char c)
{
	return is_alpha(c) || is_digit(c) || (c && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* Dot-string: atoms separated by single dots.  Returns bytes used or 0. */
static size_t parse_dot_string(const unsigned char *s, size_t n, unsigned flags)
{
	size_t i = 0, atom = 0;
	while (i < n && s[i] != '@') {
		if (s[i] == '.') {
			if (atom == 0)
				return 0;  /* leading or double dot */
			atom = 0;
			i++;
			continue;
		}
		if (is_atext(s[i])) {
			i++;
		} else if (s[i] >= 0x80 && (flags & ADDR_UTF8)) {
			size_t k = utf8_next(s + i, n - i, NULL);
			if (k == 0)
				return 0;
			i += k;
		} else {
			return 0;
		}
		atom++;
	}
	return atom ? i : 0;  /* no trailing dot, not empty */
}

/* Quoted-string: DQUOTE *(qtextSMTP / quoted-pairSMTP) DQUOTE. */
static size_t parse_quoted(const unsigned char *s, size_t n, unsigned flags)
{
	size_t i = 1;
	while (i < n && s[i] != '"') {
		if (s[i] == '\\') {
			if (i + 1 >= n || s[i + 1] < 32 || s[i + 1] > 126)
				return 0;
			i += 2;
		} else if (s[i] >= 32 && s[i] <= 126) {
			i++;
		} else if (s[i] >= 0x80 && (flags & ADDR_UTF8)) {
			size_t k = utf8_next(s + i, n - i, NULL);
			if (k == 0)
				return 0;
			i += k;
		} else {
			return 0;
		}
	}
	return i < n ? i + 1 : 0;
}

static const char *parse_literal(const char *s, size_t n, struct address *out)
{
	char tmp[ADDR_DOMAIN_MAX + 1];
	unsigned char bin[16];
	if (n < 3 || s[n - 1] != ']' || n - 2 >= sizeof(tmp))
		return "5.1.2 Bad address literal";
	memcpy(tmp, s + 1, n - 2);
	tmp[n - 2] = '\0';
	if (strncasecmp(tmp, "IPv6:", 5) == 0) {
		if (inet_pton(AF_INET6, tmp + 5, bin) != 1)
			return "5.1.2 Bad IPv6 address literal";
	} else if (inet_pton(AF_INET, tmp, bin) != 1) {
		return "5.1.2 Bad address literal";
	}
	memcpy(out->domain, s, n);
	out->domain[n] = '\0';
	out->literal = 1;
	return NULL;
}

/* Domain = sub-domain *("." sub-domain), Let-dig [Ldh-str], 63 per label. */
static const char *parse_domain(const char *str, size_t n, unsigned flags, struct address *out)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t label = 0;
	if (n == 0)
		return "5.1.2 Missing domain";
	if (n > ADDR_DOMAIN_MAX)
		return "5.1.2 Domain name too long";
	if (s[0] == '[')
		return parse_literal(str, n, out);
	if (s[n - 1] == '.')
		return "5.1.2 Domain must not end with a dot";
	for (size_t i = 0; i < n;) {
		if (s[i] == '.') {
			if (label == 0 || s[i - 1] == '-')
				return "5.1.2 Bad domain name syntax";
			label = 0;
			i++;
			continue;
		}
		if (is_alpha(s[i]) || is_digit(s[i]) || (s[i] == '-' && label > 0)) {
			i++;
		} else if (s[i] >= 0x80 && (flags & ADDR_UTF8)) {
			size_t k = utf8_next(s + i, n - i, NULL);
			if (k == 0)
				return "5.1.2 Bad UTF-8 in domain";
			i += k;
		} else if (s[i] >= 0x80) {
			return "5.6.7 Non-ASCII domain needs SMTPUTF8";
		} else {
			return "5.1.2 Bad domain name syntax";
		}
		if (++label > 63)
			return "5.1.2 Domain label too long";
	}
	if (s[n - 1] == '-')
		return "5.1.2 Bad domain name syntax";
	for (size_t i = 0; i < n; i++)
		out->domain[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] | 0x20) : (char)s[i];
	out->domain[n] = '\0';
	out->literal = 0;
	return NULL;
}

const char *address_parse(const char *str, size_t n, unsigned flags, struct address *out)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t lp;
	memset(out, 0, sizeof(*out));
	if (n == 0)
		return "5.1.3 Empty address";
	if (s[0] == '@')
		return "5.1.0 Source routes are not accepted";
	if (s[0] == '"')
		lp = parse_quoted(s, n, flags);
	else
		lp = parse_dot_string(s, n, flags);
	if (lp == 0) {
		for (size_t i = 0; i < n; i++)
			if (s[i] >= 0x80 && !(flags & ADDR_UTF8))
				return "5.6.7 Non-ASCII address needs SMTPUTF8";
		return "5.1.3 Bad address syntax";
	}
	if (lp > ADDR_LOCAL_MAX)
		return "5.1.3 Local part too long";
	if (lp >= n || s[lp] != '@')
		return "5.1.3 Address must be local-part@domain";
	memcpy(out->local, s, lp);
	out->local[lp] = '\0';
	return parse_domain(str + lp + 1, n - lp - 1, flags, out);
}

int address_format(const struct address *a, char *out, size_t outlen)
{
	int n = snprintf(out, outlen, "%s@%s", a->local, a->domain);
	return (n < 0 || (size_t)n >= outlen) ? -1 : 0;
}
