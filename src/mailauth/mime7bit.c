/* mime7bit: a message made fit for 7-bit SMTP before signing; see mime7bit.h. */
#include "mailauth/mime7bit.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "header.h"
#include "log.h"
#include "mailauth/mime_codec.h"
#include "mailauth/mime_header.h"
#include "utf8.h"
#include "xmalloc.h"

#define BOUNDARY_MAX 70   /* RFC 2046 5.1.1 */

enum level { TOP, PART, ATTACHED };          /* what kind of entity is walked */
enum cte { CTE_NONE, CTE_7BIT, CTE_8BIT, CTE_BINARY, CTE_QP, CTE_BASE64, CTE_OTHER };

struct walk {
	int flags;
	struct buf *out;
	struct mime7bit_report *rep;
	char *err;
	size_t errlen;
};

static int has_8bit(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] >= 0x80)
			return 1;
	return 0;
}

/* 1 when a line of p (CRLF excluded) is longer than 998 octets. */
static int has_long_line(const char *p, size_t n)
{
	for (size_t s = 0; s < n;) {
		const char *lf = memchr(p + s, '\n', n - s);
		size_t e = lf ? (size_t)(lf - p) : n, text = e - s;
		if (text && lf && p[e - 1] == '\r')
			text--;
		if (text > MIME_LINE_MAX)
			return 1;
		s = e + 1;
	}
	return 0;
}

static int needs_encoding(const struct walk *w, const char *p, size_t n)
{
	return has_long_line(p, n) || ((w->flags & MIME7BIT_8BIT) && has_8bit(p, n));
}

/* Where the header block of e ends (past its fields) and the body starts;
 * *missing when no empty line separates them. */
static size_t split_header(const char *e, size_t n, size_t *fields_end, int *missing)
{
	struct header_field f;
	size_t pos = 0;
	*fields_end = 0;
	while (header_next(e, n, &pos, &f))
		*fields_end = f.end;
	pos = *fields_end;
	*missing = 0;
	if (pos + 1 < n && e[pos] == '\r' && e[pos + 1] == '\n')
		return pos + 2;
	*missing = 1;
	return pos;
}

int mime7bit_needed(const char *msg, size_t len, int flags)
{
	size_t fields_end;
	int missing;
	size_t body = split_header(msg, len, &fields_end, &missing);
	return missing || has_long_line(msg, len) ||
	       ((flags & MIME7BIT_8BIT) && has_8bit(msg + body, len - body));
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

/* 1 when the field value starts with word (e.g. "multipart/"), blanks skipped. */
static int value_is(const struct header_field *f, const char *word)
{
	size_t i = 0, wl = strlen(word);
	while (i < f->valuelen && isspace((unsigned char)f->value[i]))
		i++;
	return f->valuelen - i >= wl && strncasecmp(f->value + i, word, wl) == 0 &&
	       (f->valuelen - i == wl || word[wl - 1] == '/' || !isalnum((unsigned char)f->value[i + wl]));
}

static enum cte cte_of(const char *e, size_t fields_end)
{
	static const struct { const char *name; enum cte cte; } names[] = {
		{ "7bit", CTE_7BIT }, { "8bit", CTE_8BIT }, { "binary", CTE_BINARY },
		{ "quoted-printable", CTE_QP }, { "base64", CTE_BASE64 },
	};
	struct header_field f;
	if (!header_find(e, fields_end, "Content-Transfer-Encoding", &f))
		return CTE_NONE;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (value_is(&f, names[i].name))
			return names[i].cte;
	return CTE_OTHER;
}

static int convert_entity(struct walk *w, const char *e, size_t n, enum level lv, int depth);

/* Is the line at l (length ll, without CRLF) a delimiter for bnd? 1: a
 * delimiter, 2: the closing delimiter, 0: neither. */
static int delimiter(const char *l, size_t ll, const char *bnd, size_t bl)
{
	if (bl == 0 || ll < bl + 2 || l[0] != '-' || l[1] != '-' || memcmp(l + 2, bnd, bl) != 0)
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

/* A preamble or epilogue: copied, or dropped when it would need encoding
 * (readers ignore it, and encoding it could forge a delimiter). */
static void copy_ignored(struct walk *w, const char *p, size_t n)
{
	if (needs_encoding(w, p, n))
		w->rep->dropped++;
	else
		buf_append(w->out, p, n);
}

/* A multipart body: parts converted, delimiters as they are. */
static int convert_multipart(struct walk *w, const char *b, size_t n, const char *bnd, int depth)
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
			/* the CRLF before a delimiter belongs to the delimiter */
			size_t pe = pos >= part_start + 2 ? pos - 2 : part_start;
			if (in_part && convert_entity(w, b + part_start, pe - part_start, PART, depth + 1) < 0)
				return -1;
			if (!in_part)
				copy_ignored(w, b, pe);
			buf_append(w->out, b + pe, le - pe);
			if (d == 2) {
				copy_ignored(w, b + le, n - le);
				return 0;
			}
			in_part = 1;
			part_start = le;
		}
		pos = le;
	}
	if (!in_part) {              /* no delimiter: all of it is preamble (RFC 2046 5.1.1) */
		copy_ignored(w, b, n);
		return 0;
	}
	/* no closing delimiter: the last part runs to the end */
	return convert_entity(w, b + part_start, n - part_start, PART, depth + 1);
}

/* The body of a leaf, decoded from its transfer encoding and encoded
 * again; returns the encoding written. */
static enum cte encode_leaf(struct walk *w, const char *b, size_t n, enum cte cte, int text, enum level lv)
{
	struct buf dec = BUF_INIT;
	const char *data = b;
	size_t len = n;
	enum cte to = cte == CTE_BASE64 || cte == CTE_QP ? cte : text ? CTE_QP : CTE_BASE64;

	if (cte == CTE_BASE64)
		mime_base64_decode(b, n, &dec);
	else if (cte == CTE_QP)
		mime_qp_decode(b, n, &dec);
	if (cte == CTE_BASE64 || cte == CTE_QP) {
		data = dec.data ? dec.data : "";
		len = dec.len;
	}
	if (to == CTE_QP)
		mime_qp_encode(data, len, w->out);
	else
		mime_base64_lines(data, len, w->out);
	/* a message ends with CRLF; a part's last CRLF is its delimiter's */
	if (lv == TOP && (w->out->len < 2 || memcmp(w->out->data + w->out->len - 2, "\r\n", 2) != 0))
		buf_puts(w->out, "\r\n");
	if (to == CTE_QP)
		w->rep->qp++;
	else
		w->rep->base64++;
	buf_free(&dec);
	return to;
}

static const char *charset_of(const char *p, size_t n)
{
	if (!has_8bit(p, n))
		return "us-ascii";
	for (size_t i = 0, l; i < n; i += l)
		if ((l = utf8_next((const unsigned char *)p + i, n - i, NULL)) == 0)
			return "unknown-8bit";
	return "utf-8";
}

enum action { COPY, WALK_MULTIPART, WALK_ATTACHED, ENCODE };

/* What to do with the body of an entity (and its boundary, for a multipart). */
static void choose(const struct walk *w, const char *e, size_t fields_end, const char *body, size_t blen,
		   char *bnd, size_t bndlen, enum action *act)
{
	struct header_field ct;
	int have_ct = header_find(e, fields_end, "Content-Type", &ct);
	enum cte cte = cte_of(e, fields_end);
	int container = cte == CTE_NONE || cte == CTE_7BIT || cte == CTE_8BIT || cte == CTE_BINARY;

	*act = COPY;
	if (have_ct && container && value_is(&ct, "multipart/")) {
		if (ct_param(ct.value, ct.valuelen, "boundary", bnd, bndlen) < 0 || has_8bit(bnd, strlen(bnd)))
			bnd[0] = '\0';   /* no usable boundary: no delimiter, all preamble */
		*act = WALK_MULTIPART;
		return;
	}
	if (have_ct && container && (value_is(&ct, "message/rfc822") || value_is(&ct, "message/global")))
		*act = WALK_ATTACHED;
	else if (needs_encoding(w, body, blen))
		*act = ENCODE;
}

/* The header fields of e, each made to conform; the transfer encoding
 * left out when the body gets a new one, and 8bit/binary of a container
 * made 7bit when its content is converted. */
static int emit_fields(struct walk *w, const char *e, size_t fields_end, enum level lv, enum action act)
{
	struct header_field f;
	size_t pos = 0;
	int encode8 = lv != TOP && (w->flags & MIME7BIT_8BIT);
	while (header_next(e, fields_end, &pos, &f)) {
		int is_cte = f.namelen == 25 && strncasecmp(f.name, "Content-Transfer-Encoding", 25) == 0;
		if (is_cte && act == ENCODE)
			continue;
		if (is_cte && act != COPY && (w->flags & MIME7BIT_8BIT) &&
		    (value_is(&f, "8bit") || value_is(&f, "binary"))) {
			buf_puts(w->out, "Content-Transfer-Encoding: 7bit\r\n");
			w->rep->headers_encoded++;
			continue;
		}
		int rc = mime_header_fix(e + f.start, f.end - f.start, encode8, w->out, w->err, w->errlen);
		if (rc < 0)
			return -1;
		w->rep->headers_encoded += (rc & MIME_HDR_ENCODED) != 0;
		w->rep->headers_folded += (rc & MIME_HDR_FOLDED) != 0;
	}
	return 0;
}

/* The fields a top-level body needs for its new encoding to count. */
static void top_mime_fields(struct walk *w, const char *e, size_t fields_end, const char *body, size_t blen)
{
	struct header_field f;
	if (!header_find(e, fields_end, "MIME-Version", &f)) {
		buf_puts(w->out, "MIME-Version: 1.0\r\n");
		w->rep->mime_version++;
	}
	if (!header_find(e, fields_end, "Content-Type", &f))
		buf_printf(w->out, "Content-Type: text/plain; charset=%s\r\n", charset_of(body, blen));
}

static int convert_entity(struct walk *w, const char *e, size_t n, enum level lv, int depth)
{
	size_t fields_end;
	int missing;
	size_t body = split_header(e, n, &fields_end, &missing);
	char bnd[BOUNDARY_MAX + 1];
	enum action act;
	struct header_field ct;

	if (depth > MIME7BIT_MAX_DEPTH)
		return set_error(w->err, w->errlen, "MIME parts nested deeper than %d levels", MIME7BIT_MAX_DEPTH);
	choose(w, e, fields_end, e + body, n - body, bnd, sizeof(bnd), &act);
	if (emit_fields(w, e, fields_end, lv, act) < 0)
		return -1;
	if (act == ENCODE) {
		int text = !header_find(e, fields_end, "Content-Type", &ct) || value_is(&ct, "text/");
		enum cte cte = cte_of(e, fields_end);
		if (lv == TOP)
			top_mime_fields(w, e, fields_end, e + body, n - body);
		buf_printf(w->out, "Content-Transfer-Encoding: %s\r\n",
			   (cte == CTE_BASE64 || (cte != CTE_QP && !text)) ? "base64" : "quoted-printable");
	}
	if (missing && (lv == TOP || body < n)) {
		if (fields_end > 0 && e[fields_end - 1] != '\n')
			buf_puts(w->out, "\r\n");   /* the last field ended the input */
		buf_puts(w->out, "\r\n");
		w->rep->separator++;
	} else {
		buf_append(w->out, e + fields_end, body - fields_end);
	}
	switch (act) {
	case WALK_MULTIPART:
		return convert_multipart(w, e + body, n - body, bnd, depth);
	case WALK_ATTACHED:
		return convert_entity(w, e + body, n - body, ATTACHED, depth + 1);
	case ENCODE: {
		int text = !header_find(e, fields_end, "Content-Type", &ct) || value_is(&ct, "text/");
		encode_leaf(w, e + body, n - body, cte_of(e, fields_end), text, lv);
		return 0;
	}
	default:
		buf_append(w->out, e + body, n - body);
		return 0;
	}
}

/* A part converted without a top-level MIME-Version would not be read as
 * MIME at all (RFC 2045 4): add one. */
static void ensure_mime_version(struct walk *w, const char *msg, size_t len, size_t start)
{
	static const char mv[] = "MIME-Version: 1.0\r\n";
	struct header_field f;
	size_t fields_end;
	int missing;
	split_header(msg, len, &fields_end, &missing);
	if (w->rep->qp + w->rep->base64 == 0 || w->rep->mime_version || header_find(msg, fields_end, "MIME-Version", &f))
		return;
	buf_reserve(w->out, sizeof(mv) - 1);
	memmove(w->out->data + start + sizeof(mv) - 1, w->out->data + start, w->out->len - start + 1);
	memcpy(w->out->data + start, mv, sizeof(mv) - 1);
	w->out->len += sizeof(mv) - 1;
	w->rep->mime_version++;
}

static int input_error(const char *msg, size_t len, char *err, size_t errlen)
{
	if (memchr(msg, '\0', len))
		return set_error(err, errlen, "NUL octet in the message");
	for (size_t i = 0; i < len; i++) {
		if (msg[i] == '\r' && (i + 1 == len || msg[i + 1] != '\n'))
			return set_error(err, errlen, "bare CR in the message");
		if (msg[i] == '\n' && (i == 0 || msg[i - 1] != '\r'))
			return set_error(err, errlen, "bare LF in the message");
	}
	return 0;
}

int mime7bit_convert(const char *msg, size_t len, int flags, struct buf *out,
		     struct mime7bit_report *rep, char *err, size_t errlen)
{
	struct walk w = { flags, out, rep, err, errlen };
	size_t start = out->len;

	memset(rep, 0, sizeof(*rep));
	if (input_error(msg, len, err, errlen) < 0)
		return -1;
	buf_reserve(out, len + 64);
	if (convert_entity(&w, msg, len, TOP, 0) < 0) {
		out->len = start;
		out->data[start] = '\0';
		return -1;
	}
	ensure_mime_version(&w, msg, len, start);
	if (rep->qp + rep->base64 + rep->headers_encoded + rep->headers_folded + rep->separator +
	    rep->dropped == 0) {
		out->len = start;    /* byte for byte the same: say so */
		out->data[start] = '\0';
		return 0;
	}
	return 1;
}

void mime7bit_describe(const struct mime7bit_report *rep, char *out, size_t outlen)
{
	const struct { const char *name; unsigned n; } items[] = {
		{ "qp", rep->qp }, { "base64", rep->base64 },
		{ "header-encoded", rep->headers_encoded }, { "header-folded", rep->headers_folded },
		{ "separator-added", rep->separator }, { "preamble-epilogue-dropped", rep->dropped },
		{ "mime-version-added", rep->mime_version },
	};
	size_t o = 0;
	out[0] = '\0';
	for (size_t i = 0; i < sizeof(items) / sizeof(items[0]); i++) {
		if (!items[i].n)
			continue;
		int k = snprintf(out + o, outlen - o, "%s%s:%u", o ? "," : "", items[i].name, items[i].n);
		if (k < 0 || (size_t)k >= outlen - o)
			break;           /* cut short: the log line stays one line */
		o += (size_t)k;
	}
	if (o == 0 && snprintf(out, outlen, "no") < 0)
		out[0] = '\0';
}
