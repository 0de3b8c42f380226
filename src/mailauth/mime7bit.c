/* mime7bit: 8bit -> quoted-printable before signing; see mime7bit.h. */
#include "mailauth/mime7bit.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "header.h"
#include "log.h"
#include "xmalloc.h"

#define BOUNDARY_MAX 70   /* RFC 2046 5.1.1 */

static int has_8bit(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] >= 0x80)
			return 1;
	return 0;
}

int mime7bit_needed(const char *msg, size_t len)
{
	size_t b = header_block_end(msg, len);
	return has_8bit(msg + b, len - b);
}

void mime7bit_qp_encode(const char *data, size_t len, struct buf *out)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t col = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)data[i];
		if (c == '\r' && i + 1 < len && data[i + 1] == '\n') {
			buf_puts(out, "\r\n");
			col = 0;
			i++;
			continue;
		}
		int at_eol = i + 1 == len || (data[i + 1] == '\r' && i + 2 < len && data[i + 2] == '\n');
		/* Literal: printable ASCII but "=", and space/tab not ending a line.
		 * A leading "." or "From " is safe in 7bit SMTP (dot-stuffing) so is kept. */
		int literal = (c >= 33 && c <= 126 && c != '=') || ((c == ' ' || c == '\t') && !at_eol);
		size_t w = literal ? 1 : 3;
		if (col + w > 75) {          /* soft break keeps lines at 76 with the "=" */
			buf_puts(out, "=\r\n");
			col = 0;
		}
		if (literal) {
			buf_putc(out, (char)c);
		} else {
			buf_putc(out, '=');
			buf_putc(out, hex[c >> 4]);
			buf_putc(out, hex[c & 15]);
		}
		col += w;
	}
}

/* The value of parameter name in a Content-Type value, unquoted, into out. */
static int ct_param(const char *v, size_t n, const char *name, char *out, size_t outlen)
{
	size_t nl = strlen(name), i = 0;
	int inq = 0;

	while (i < n) {
		if (v[i] == '"')
			inq = !inq;
		if (v[i] != ';' || inq) {
			i++;
			continue;
		}
		i++;
		while (i < n && isspace((unsigned char)v[i]))
			i++;
		if (n - i <= nl || strncasecmp(v + i, name, nl) != 0)
			continue;
		size_t j = i + nl;
		while (j < n && isspace((unsigned char)v[j]))
			j++;
		if (j >= n || v[j] != '=')
			continue;
		j++;
		while (j < n && isspace((unsigned char)v[j]))
			j++;
		size_t o = 0;
		if (j < n && v[j] == '"') {
			for (j++; j < n && v[j] != '"'; j++) {
				if (v[j] == '\\' && j + 1 < n)
					j++;
				if (o + 1 >= outlen)
					return -1;
				out[o++] = v[j];
			}
		} else {
			for (; j < n && v[j] != ';' && !isspace((unsigned char)v[j]); j++) {
				if (o + 1 >= outlen)
					return -1;
				out[o++] = v[j];
			}
		}
		out[o] = '\0';
		return o ? 0 : -1;
	}
	return -1;
}

/* 1 when the Content-Type value starts with type (e.g. "multipart/"). */
static int ct_is(const struct header_field *ct, const char *type)
{
	size_t i = 0, tl = strlen(type);
	while (i < ct->valuelen && isspace((unsigned char)ct->value[i]))
		i++;
	return ct->valuelen - i >= tl && strncasecmp(ct->value + i, type, tl) == 0;
}

static int convert_entity(const char *e, size_t n, int top, int depth, struct buf *out,
			  char *err, size_t errlen);

/* Is the line at l (length ll, without CRLF) a delimiter for bnd? 1: a
 * delimiter, 2: the closing delimiter, 0: neither. */
static int delimiter(const char *l, size_t ll, const char *bnd, size_t bl)
{
	if (ll < bl + 2 || l[0] != '-' || l[1] != '-' || memcmp(l + 2, bnd, bl) != 0)
		return 0;
	size_t i = bl + 2;
	int close = ll >= i + 2 && l[i] == '-' && l[i + 1] == '-';
	if (close)
		i += 2;
	for (; i < ll; i++)          /* transport padding only */
		if (l[i] != ' ' && l[i] != '\t')
			return 0;
	return close ? 2 : 1;
}

/* A multipart body: parts converted, delimiters, preamble and epilogue as is. */
static int convert_multipart(const char *b, size_t n, const char *bnd, int depth, struct buf *out,
			     char *err, size_t errlen)
{
	size_t bl = strlen(bnd), pos = 0, part_start = 0;
	int in_part = 0;

	while (pos < n) {
		const char *nl = memchr(b + pos, '\n', n - pos);
		size_t le = nl ? (size_t)(nl - b) + 1 : n;   /* past the LF */
		size_t ll = le - pos - (nl ? 1 : 0);
		if (ll && b[pos + ll - 1] == '\r')
			ll--;
		int d = delimiter(b + pos, ll, bnd, bl);
		if (d) {
			if (in_part) {
				/* the CRLF before a delimiter belongs to the delimiter */
				size_t pe = pos >= part_start + 2 ? pos - 2 : part_start;
				if (convert_entity(b + part_start, pe - part_start, 0, depth + 1, out,
						   err, errlen) < 0)
					return -1;
				buf_append(out, b + pe, pos - pe);
			} else if (has_8bit(b, pos)) {
				set_error(err, errlen, "8-bit octets in a multipart preamble");
				return -1;
			} else {
				buf_append(out, b, pos);
			}
			buf_append(out, b + pos, le - pos);
			if (d == 2) {
				if (has_8bit(b + le, n - le)) {
					set_error(err, errlen, "8-bit octets in a multipart epilogue");
					return -1;
				}
				buf_append(out, b + le, n - le);
				return 0;
			}
			in_part = 1;
			part_start = le;
		}
		pos = le;
	}
	/* no closing delimiter: convert what is there, the last part runs to the end */
	if (!in_part) {
		set_error(err, errlen, "multipart without its boundary");
		return -1;
	}
	return convert_entity(b + part_start, n - part_start, 0, depth + 1, out, err, errlen);
}

static void copy_fields_except_cte(const char *e, size_t hend, struct buf *out)
{
	struct header_field f;
	size_t pos = 0, copied = 0;
	while (header_next(e, hend, &pos, &f)) {
		if (f.namelen == 25 && strncasecmp(f.name, "Content-Transfer-Encoding", 25) == 0) {
			buf_append(out, e + copied, f.start - copied);
			copied = f.end;
		}
	}
	buf_append(out, e + copied, pos - copied);
}

static int convert_entity(const char *e, size_t n, int top, int depth, struct buf *out,
			  char *err, size_t errlen)
{
	struct header_field ct, f;
	size_t fields_end = 0, pos = 0, body = header_block_end(e, n);
	int have_ct;
	char bnd[BOUNDARY_MAX + 1];

	if (depth > MIME7BIT_MAX_DEPTH) {
		set_error(err, errlen, "MIME nesting deeper than %d", MIME7BIT_MAX_DEPTH);
		return -1;
	}
	while (header_next(e, n, &pos, &f))
		fields_end = f.end;
	if (!top && has_8bit(e, body)) {  /* a part's header is body to its parent */
		set_error(err, errlen, "8-bit octets in the header of a MIME part");
		return -1;
	}
	if (!has_8bit(e + body, n - body)) {
		buf_append(out, e, n);
		return 0;
	}
	have_ct = header_find(e, fields_end, "Content-Type", &ct);
	if (have_ct && ct_is(&ct, "multipart/")) {
		if (ct_param(ct.value, ct.valuelen, "boundary", bnd, sizeof(bnd)) < 0 ||
		    has_8bit(bnd, strlen(bnd))) {        /* bchars are 7bit (RFC 2046) */
			set_error(err, errlen, "multipart without a usable boundary");
			return -1;
		}
		buf_append(out, e, body);
		return convert_multipart(e + body, n - body, bnd, depth, out, err, errlen);
	}
	if (have_ct && ct_is(&ct, "message/rfc822")) {
		buf_append(out, e, body);
		return convert_entity(e + body, n - body, 0, depth + 1, out, err, errlen);
	}
	/* a leaf with 8-bit octets: same fields, new encoding */
	copy_fields_except_cte(e, fields_end, out);
	if (top && !have_ct) {
		struct header_field mv;
		if (!header_find(e, fields_end, "MIME-Version", &mv))
			buf_puts(out, "MIME-Version: 1.0\r\n");
		buf_puts(out, "Content-Type: text/plain; charset=utf-8\r\n");
	}
	buf_puts(out, "Content-Transfer-Encoding: quoted-printable\r\n");
	buf_append(out, e + fields_end, body - fields_end);   /* the empty line */
	if (body == fields_end)
		buf_puts(out, "\r\n");
	mime7bit_qp_encode(e + body, n - body, out);
	return 0;
}

int mime7bit_convert(const char *msg, size_t len, struct buf *out, char *err, size_t errlen)
{
	size_t start = out->len;
	if (!mime7bit_needed(msg, len))
		return 0;
	if (convert_entity(msg, len, 1, 0, out, err, errlen) < 0) {
		out->len = start;
		if (out->data)
			out->data[start] = '\0';
		return -1;
	}
	return 1;
}
