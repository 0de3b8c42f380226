/* mime_header: a header field folded and encoded for 7-bit transport; see
 * mime_header.h. */
#include "mailauth/mime_header.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "mailauth/mime_codec.h"
#include "utf8.h"

#define FOLD_AT 78               /* RFC 5322 2.1.1 "SHOULD" for the lines we write */

static int is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

static int has8(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] >= 0x80)
			return 1;
	return 0;
}

static int is_utf8(const char *p, size_t n)
{
	for (size_t i = 0, l; i < n; i += l)
		if ((l = utf8_next((const unsigned char *)p + i, n - i, NULL)) == 0)
			return 0;
	return 1;
}

/* Where to fold a line piece starting at s: before a whitespace run that
 * follows text, at most max octets in (or, failing that, the first one up
 * to MIME_LINE_MAX); 0 when there is none. */
static size_t fold_point(const char *l, size_t n, size_t s, size_t max)
{
	for (size_t i = s + max; i > s; i--)
		if (is_wsp(l[i]) && !is_wsp(l[i - 1]))
			return i;
	for (size_t i = s + max + 1; i < n && i <= s + MIME_LINE_MAX; i++)
		if (is_wsp(l[i]) && !is_wsp(l[i - 1]))
			return i;
	return 0;
}

/* Appends one line (no CRLF) folded so pieces keep to max where whitespace
 * allows, then CRLF when crlf.  1 when it folded, -1 when a piece stays
 * over 998. */
static int fold_line(const char *l, size_t n, size_t max, int crlf, struct buf *out)
{
	size_t s = 0;
	int folded = 0;
	while (n - s > max) {
		size_t cut = fold_point(l, n, s, max), k = cut;
		while (k < n && is_wsp(l[k]))
			k++;
		if (cut == 0 || k == n)  /* no place, or only trailing blanks would move */
			break;
		buf_append(out, l + s, cut - s);
		buf_puts(out, "\r\n");
		s = cut;
		folded = 1;
	}
	if (n - s > MIME_LINE_MAX)
		return -1;
	buf_append(out, l + s, n - s);
	if (crlf)
		buf_puts(out, "\r\n");
	return folded;
}

/* Appends p as RFC 2047 B encoded-words separated by spaces, each at most
 * 75 octets and, in UTF-8, each holding whole characters (RFC 2047 5). */
static void encoded_words(const char *p, size_t n, struct buf *out)
{
	int utf8 = is_utf8(p, n);
	const char *cs = utf8 ? "utf-8" : "unknown-8bit";
	size_t room = utf8 ? 45 : 42;      /* 12 or 17 octets of "=?cs?B?" "?=" */
	for (size_t i = 0; i < n;) {
		size_t take = 0;
		while (i + take < n) {
			size_t l = utf8 ? utf8_next((const unsigned char *)p + i + take, n - i - take, NULL) : 1;
			if (take + l > room)
				break;
			take += l;
		}
		if (i)
			buf_putc(out, ' ');
		buf_printf(out, "=?%s?B?", cs);
		mime_base64((const unsigned char *)p + i, take, out);
		buf_puts(out, "?=");
		i += take;
	}
}

/* End of the quoted string or comment that starts at v[s]. */
static size_t delimited_end(const char *v, size_t n, size_t s)
{
	int depth = 0;
	for (size_t i = s; i < n; i++) {
		if (v[i] == '\\' && i + 1 < n) {
			i++;
			continue;
		}
		if (v[s] == '"' && v[i] == '"' && i > s)
			return i + 1;
		if (v[s] == '(' && v[i] == '(')
			depth++;
		if (v[s] == '(' && v[i] == ')' && --depth == 0)
			return i + 1;
	}
	return n;
}

/* End of the word at v[s]: up to whitespace (and in an address field up
 * to the next "<", quote or comment). */
static size_t word_end(const char *v, size_t n, size_t s, int addr)
{
	if (addr && (v[s] == '"' || v[s] == '('))
		return delimited_end(v, n, s);
	size_t e = s;
	while (e < n && !is_wsp(v[e]) && !(addr && e > s && strchr("<\"(", v[e])))
		e++;
	return e;
}

/* A quoted string's or comment's content, backslashes undone. */
static void unquote(const char *p, size_t n, struct buf *out)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\\' && i + 1 < n)
			i++;
		buf_putc(out, p[i]);
	}
}

/* One 8-bit word (with the plain 8-bit words that follow it, so the space
 * between them survives decoding) as encoded-words; returns where it ended. */
static size_t encode_word(const char *v, size_t n, size_t s, size_t e, int addr, struct buf *out)
{
	struct buf raw = BUF_INIT;
	int delimited = addr && (v[s] == '"' || v[s] == '(');
	if (delimited) {
		size_t close = e > s + 1 && v[e - 1] == (v[s] == '"' ? '"' : ')') ? 1 : 0;
		unquote(v + s + 1, e - s - 1 - close, &raw);
	} else {
		for (;;) {               /* join the 8-bit words that follow */
			size_t t = e;
			while (t < n && is_wsp(v[t]))
				t++;
			if (t == n || (addr && strchr("<\"(", v[t])))
				break;
			size_t u = word_end(v, n, t, addr);
			if (!has8(v + t, u - t))
				break;
			e = u;
		}
		buf_append(&raw, v + s, e - s);
	}
	if (s > 0 && !is_wsp(v[s - 1]))
		buf_putc(out, ' ');
	if (delimited && v[s] == '(')
		buf_putc(out, '(');
	encoded_words(raw.data, raw.len, out);
	if (delimited && v[s] == '(')
		buf_putc(out, ')');
	if (e < n && !is_wsp(v[e]))
		buf_putc(out, ' ');
	buf_free(&raw);
	return e;
}

/* An unstructured or address value, its 8-bit words encoded. */
static void encode_words(const char *v, size_t n, int addr, struct buf *out)
{
	for (size_t i = 0; i < n;) {
		if (is_wsp(v[i])) {
			buf_putc(out, v[i++]);
			continue;
		}
		size_t e = word_end(v, n, i, addr);
		if (!has8(v + i, e - i)) {
			buf_append(out, v + i, e - i);
			i = e;
			continue;
		}
		i = encode_word(v, n, i, e, addr, out);
	}
}

static int attr_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$&+-.^_`|~", c));
}

/* One parameter with an 8-bit value as RFC 2231 extended value(s):
 * name*=cs''%XX..., or name*0*=... name*1*=... when it is long. */
static void param_2231(const char *name, size_t nl, const char *val, size_t vl, struct buf *out)
{
	static const char hex[] = "0123456789ABCDEF";
	struct buf pct = BUF_INIT;
	int ext = nl && name[nl - 1] == '*';   /* already extended: keep its charset'' */
	if (ext)
		nl--;
	if (!ext)
		buf_puts(&pct, is_utf8(val, vl) ? "utf-8''" : "unknown-8bit''");
	for (size_t i = 0; i < vl; i++) {
		unsigned char c = (unsigned char)val[i];
		if (attr_char(c) || (ext && (c == '%' || c == '\'')))
			buf_putc(&pct, (char)c);
		else
			buf_printf(&pct, "%%%c%c", hex[c >> 4], hex[c & 15]);
	}
	if (pct.len <= 60) {
		buf_printf(out, "; %.*s*=%s", (int)nl, name, pct.data);
	} else {
		size_t part = 0;
		for (size_t i = 0; i < pct.len; part++) {
			size_t take = pct.len - i < 60 ? pct.len - i : 60;
			if (i + take < pct.len && take > 2 && pct.data[i + take - 1] == '%')
				take -= 1;       /* never split a %XX */
			else if (i + take < pct.len && take > 2 && pct.data[i + take - 2] == '%')
				take -= 2;
			buf_printf(out, "; %.*s*%zu*=%.*s", (int)nl, name, part, (int)take, pct.data + i);
			i += take;
		}
	}
	buf_free(&pct);
}

/* A Content-Type or Content-Disposition value: parameters whose value is
 * 8-bit become RFC 2231 extended values; the rest is kept. */
static void encode_params(const char *v, size_t n, struct buf *out)
{
	size_t s = 0, first = 1;
	while (s < n) {
		size_t e = s;
		int inq = 0;
		for (; e < n && (inq || v[e] != ';'); e++) {
			if (v[e] == '\\' && e + 1 < n)
				e++;
			else if (v[e] == '"')
				inq = !inq;
		}
		const char *p = v + s, *eq = memchr(p, '=', e - s);
		size_t pl = e - s;
		if (first || !has8(p, pl) || !eq || has8(p, (size_t)(eq - p))) {
			if (!first)
				buf_putc(out, ';');
			if (has8(p, pl))
				encode_words(p, pl, 0, out);
			else
				buf_append(out, p, pl);
		} else {
			size_t ns = 0, ne = (size_t)(eq - p), vs = ne + 1, ve = pl;
			while (ns < ne && is_wsp(p[ns]))
				ns++;
			while (ne > ns && is_wsp(p[ne - 1]))
				ne--;
			while (vs < ve && is_wsp(p[vs]))
				vs++;
			while (ve > vs && is_wsp(p[ve - 1]))
				ve--;
			struct buf val = BUF_INIT;
			if (ve - vs >= 2 && p[vs] == '"' && p[ve - 1] == '"')
				unquote(p + vs + 1, ve - vs - 2, &val);
			else
				buf_append(&val, p + vs, ve - vs);
			param_2231(p + ns, ne - ns, val.data ? val.data : "", val.len, out);
			buf_free(&val);
		}
		first = 0;
		s = e + 1;
	}
}

static int name_is(const char *f, size_t nl, const char *const *names)
{
	for (; *names; names++)
		if (strlen(*names) == nl && strncasecmp(f, *names, nl) == 0)
			return 1;
	return 0;
}

/* The field re-written in ASCII, then folded at 78. */
static int encode_field(const char *field, size_t n, size_t nl, struct buf *out)
{
	static const char *const params[] = { "Content-Type", "Content-Disposition", NULL };
	static const char *const addrs[] = { "From", "To", "Cc", "Bcc", "Reply-To", "Sender",
		"Resent-From", "Resent-To", "Resent-Cc", "Resent-Bcc", "Resent-Sender",
		"Disposition-Notification-To", NULL };
	struct buf line = BUF_INIT, val = BUF_INIT;
	size_t end = n >= 2 && field[n - 2] == '\r' ? n - 2 : n;
	for (size_t i = nl + 1; i < end; i++)        /* unfold */
		if (!(field[i] == '\r' && i + 1 < end && field[i + 1] == '\n' && i++))
			buf_putc(&val, field[i]);
	buf_append(&line, field, nl + 1);
	if (name_is(field, nl, params))
		encode_params(val.data ? val.data : "", val.len, &line);
	else
		encode_words(val.data ? val.data : "", val.len, name_is(field, nl, addrs), &line);
	int rc = fold_line(line.data, line.len, FOLD_AT, end != n, out);
	buf_free(&line);
	buf_free(&val);
	return rc < 0 ? -1 : MIME_HDR_ENCODED | (rc ? MIME_HDR_FOLDED : 0);
}

int mime_header_fix(const char *field, size_t n, int encode8, struct buf *out, char *err, size_t errlen)
{
	const char *colon = memchr(field, ':', n);
	size_t nl = colon ? (size_t)(colon - field) : 0, start = out->len;
	int rc = 0;

	if (colon && encode8 && has8(colon, n - nl)) {
		rc = encode_field(field, n, nl, out);
	} else {
		for (size_t s = 0; s < n && rc >= 0;) {       /* each physical line */
			const char *lf = memchr(field + s, '\n', n - s);
			size_t e = lf ? (size_t)(lf - field) + 1 : n, ll = e - s;
			size_t text = ll - (lf ? 1 : 0) - (lf && ll >= 2 && field[e - 2] == '\r' ? 1 : 0);
			if (text <= MIME_LINE_MAX)
				buf_append(out, field + s, ll);
			else if (fold_line(field + s, text, MIME_LINE_MAX, lf != NULL, out) < 0)
				rc = -1;
			else
				rc |= MIME_HDR_FOLDED;
			s = e;
		}
	}
	if (rc < 0) {
		out->len = start;
		out->data[start] = '\0';
		return set_error(err, errlen, "a header line (%.*s) is longer than %d octets with no whitespace to fold at",
				 (int)(nl < 40 ? nl : 40), field, MIME_LINE_MAX);
	}
	return rc;
}
