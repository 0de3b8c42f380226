/*
 * mime: the MIME walker of reports (contract in mime.h).  The input is
 * first copied with every line ending made LF, so the walker itself deals
 * with one line ending only; every later step works on NUL-terminated
 * copies whose lengths it carries.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/xmalloc.h"
#include "feedback/mime.h"

/* The input with CRLF and lone CR made LF, and a leading mbox "From "
 * line dropped. */
static char *normalise(const char *msg, size_t len, size_t *outlen)
{
	char *out = xmalloc(len + 1);
	size_t o = 0, i = 0;
	if (len >= 5 && memcmp(msg, "From ", 5) == 0)
		while (i < len && msg[i] != '\n' && msg[i] != '\r')
			i++;
	if (i < len && msg[i] == '\r')
		i++;
	if (i < len && msg[i] == '\n' && i > 0)
		i++;
	for (; i < len; i++) {
		if (msg[i] == '\r') {
			out[o++] = '\n';
			if (i + 1 < len && msg[i + 1] == '\n')
				i++;
		} else {
			out[o++] = msg[i];
		}
	}
	out[o] = '\0';
	*outlen = o;
	return out;
}

/* Length of the header block (up to and including the empty line). A line
 * that is neither a field nor a continuation ends the block too (then the
 * header length excludes it and the body starts there). */
static size_t header_end(const char *s, size_t len, size_t *body)
{
	size_t pos = 0;
	while (pos < len) {
		const char *nl = memchr(s + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - s) + 1 : len;
		if (s[pos] == '\n') {
			*body = end;
			return pos;
		}
		if (s[pos] != ' ' && s[pos] != '\t') {
			size_t k = pos;
			while (k < end && s[k] != ':' && s[k] != ' ' && s[k] != '\t' && s[k] != '\n')
				k++;
			if (k == pos || k >= end || s[k] != ':') {
				*body = pos;
				return pos;
			}
		}
		pos = end;
	}
	*body = len;
	return len;
}

int mime_header(const char *hdr, size_t hlen, const char *name, char *out, size_t outlen)
{
	size_t nlen = strlen(name), pos = 0;
	out[0] = '\0';
	while (pos < hlen) {
		const char *nl = memchr(hdr + pos, '\n', hlen - pos);
		size_t end = nl ? (size_t)(nl - hdr) + 1 : hlen;
		if (end - pos > nlen && strncasecmp(hdr + pos, name, nlen) == 0 && hdr[pos + nlen] == ':') {
			size_t o = 0, k = pos + nlen + 1;
			int space = 1;
			for (;;) {
				for (; k < hlen && hdr[k] != '\n'; k++) {
					int ws = hdr[k] == ' ' || hdr[k] == '\t';
					if (ws && space)
						continue;
					space = ws;
					if (o + 1 < outlen)
						out[o++] = ws ? ' ' : hdr[k];
				}
				if (k + 1 < hlen && (hdr[k + 1] == ' ' || hdr[k + 1] == '\t')) {
					k++;
					if (!space && o + 1 < outlen)
						out[o++] = ' ';
					space = 1;
					continue;
				}
				break;
			}
			while (o > 0 && out[o - 1] == ' ')
				o--;
			out[o] = '\0';
			return 1;
		}
		pos = end;
	}
	return 0;
}

int mime_param(const char *value, const char *name, char *out, size_t outlen)
{
	size_t nlen = strlen(name);
	const char *p = value;
	out[0] = '\0';
	while ((p = strchr(p, ';')) != NULL) {
		p++;
		while (*p == ' ' || *p == '\t')
			p++;
		if (strncasecmp(p, name, nlen) != 0 || p[nlen] != '=')
			continue;
		p += nlen + 1;
		size_t o = 0;
		if (*p == '"') {
			for (p++; *p && *p != '"'; p++) {
				if (*p == '\\' && p[1])
					p++;
				if (o + 1 < outlen)
					out[o++] = *p;
			}
		} else {
			for (; *p && *p != ';' && *p != ' ' && *p != '\t'; p++)
				if (o + 1 < outlen)
					out[o++] = *p;
		}
		out[o] = '\0';
		return o > 0;
	}
	return 0;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

size_t mime_decode_qp(const char *in, size_t len, char *out)
{
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		if (in[i] != '=') {
			out[o++] = in[i];
			continue;
		}
		size_t k = i + 1;
		while (k < len && (in[k] == ' ' || in[k] == '\t'))
			k++;
		if (k < len && in[k] == '\n') {       /* soft line break */
			i = k;
			continue;
		}
		if (i + 2 < len && hexval((unsigned char)in[i + 1]) >= 0 && hexval((unsigned char)in[i + 2]) >= 0) {
			out[o++] = (char)(hexval((unsigned char)in[i + 1]) * 16 + hexval((unsigned char)in[i + 2]));
			i += 2;
			continue;
		}
		out[o++] = '=';
	}
	return o;
}

static int b64val(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '-')
		return 62;
	if (c == '/' || c == '_')
		return 63;
	return -1;
}

/* Lenient: whitespace and any other stray byte is skipped, padding is
 * optional, decoding stops at the first '='. */
size_t mime_decode_base64(const char *in, size_t len, char *out)
{
	size_t o = 0;
	unsigned acc = 0;
	int bits = 0;
	for (size_t i = 0; i < len && in[i] != '='; i++) {
		int v = b64val((unsigned char)in[i]);
		if (v < 0)
			continue;
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (char)((acc >> bits) & 0xff);
		}
	}
	return o;
}

/* One encoded word "=?cs?E?text?=" at in; returns its length (0 when in
 * does not start one) after appending its bytes to out. */
static size_t decode_word(const char *in, char *out, size_t *o, size_t outlen)
{
	const char *q1 = strchr(in + 2, '?');
	if (q1 == NULL || (q1[1] != 'B' && q1[1] != 'b' && q1[1] != 'Q' && q1[1] != 'q') || q1[2] != '?')
		return 0;
	const char *text = q1 + 3, *end = strstr(text, "?=");
	if (end == NULL)
		return 0;
	size_t n = (size_t)(end - text);
	char *tmp = xmalloc(n + 1);
	size_t got;
	if (q1[1] == 'B' || q1[1] == 'b') {
		got = mime_decode_base64(text, n, tmp);
	} else {
		char *u = xstrndup(text, n);
		for (char *p = u; *p; p++)
			if (*p == '_')
				*p = ' ';
		got = mime_decode_qp(u, n, tmp);
		free(u);
	}
	for (size_t i = 0; i < got && *o + 1 < outlen; i++)
		out[(*o)++] = tmp[i];
	free(tmp);
	return (size_t)(end + 2 - in);
}

void mime_decode_words(const char *in, char *out, size_t outlen)
{
	size_t o = 0;
	int after_word = 0;
	while (*in) {
		if (in[0] == '=' && in[1] == '?') {
			size_t n = decode_word(in, out, &o, outlen);
			if (n > 0) {
				in += n;
				after_word = 1;
				continue;
			}
		}
		if (after_word && (*in == ' ' || *in == '\t')) {
			/* whitespace between two encoded words is dropped */
			size_t k = strspn(in, " \t");
			if (in[k] == '=' && in[k + 1] == '?') {
				in += k;
				continue;
			}
		}
		after_word = 0;
		if (o + 1 < outlen)
			out[o++] = *in;
		in++;
	}
	out[o] = '\0';
}

/* n bytes (NULs included) and a terminating NUL, unlike xstrndup(). */
static char *copy_bytes(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

static struct mime_part *add_part(struct mime_tree *t)
{
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 16;
		t->part = xreallocarray(t->part, t->cap, sizeof(*t->part));
	}
	struct mime_part *p = &t->part[t->n++];
	memset(p, 0, sizeof(*p));
	return p;
}

/* The body decoded by the entity's Content-Transfer-Encoding. */
static char *decode_body(const char *hdr, size_t hlen, const char *body, size_t blen, size_t *outlen)
{
	char cte[64];
	char *out = xmalloc(blen + 1);
	mime_header(hdr, hlen, "Content-Transfer-Encoding", cte, sizeof(cte));
	if (strncasecmp(cte, "base64", 6) == 0)
		*outlen = mime_decode_base64(body, blen, out);
	else if (strncasecmp(cte, "quoted-printable", 16) == 0)
		*outlen = mime_decode_qp(body, blen, out);
	else {
		memcpy(out, body, blen);
		*outlen = blen;
	}
	out[*outlen] = '\0';
	return out;
}

static void walk(struct mime_tree *t, const char *s, size_t len, int depth, int in_message);

/* Does line (at s, up to the end of the line) start "--boundary"? 1 for a
 * delimiter, 2 for the close delimiter. */
static int delimiter(const char *s, size_t linelen, const char *b, size_t blen)
{
	if (linelen < blen + 2 || s[0] != '-' || s[1] != '-' || memcmp(s + 2, b, blen) != 0)
		return 0;
	return linelen >= blen + 4 && s[blen + 2] == '-' && s[blen + 3] == '-' ? 2 : 1;
}

/* Walks the parts between the delimiters; 0 when no delimiter was found
 * (the caller then treats the body as text). */
static int walk_multipart(struct mime_tree *t, const char *s, size_t len, const char *b, int depth, int in_message)
{
	size_t blen = strlen(b), pos = 0, start = 0;
	int open = 0, found = 0;
	while (pos < len && t->n < MIME_MAX_PARTS) {
		const char *nl = memchr(s + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - s) + 1 : len;
		int d = delimiter(s + pos, end - pos, b, blen);
		if (d) {
			found = 1;
			if (open)   /* the part ends before the line break that precedes the delimiter */
				walk(t, s + start, pos > start ? pos - start - 1 : 0, depth + 1, in_message);
			open = d == 1;
			start = end;
			if (d == 2)
				break;
		}
		pos = end;
	}
	if (open && t->n < MIME_MAX_PARTS)   /* missing close delimiter: the rest is the last part */
		walk(t, s + start, len > start ? len - start : 0, depth + 1, in_message);
	return found;
}

static void content_type(const char *hdr, size_t hlen, char *type, size_t tlen, char *value, size_t vlen)
{
	mime_header(hdr, hlen, "Content-Type", value, vlen);
	size_t o = 0;
	for (const char *p = value; *p && *p != ';' && *p != ' ' && o + 1 < tlen; p++)
		type[o++] = (char)tolower((unsigned char)*p);
	type[o] = '\0';
	if (o == 0 || strchr(type, '/') == NULL) {
		snprintf(type, tlen, "%s", "text/plain");
	}
}

static void walk(struct mime_tree *t, const char *s, size_t len, int depth, int in_message)
{
	if (t->n >= MIME_MAX_PARTS)
		return;
	size_t bodyoff, hlen = header_end(s, len, &bodyoff);
	struct mime_part *p = add_part(t);
	p->headers = copy_bytes(s, hlen);
	p->hlen = hlen;
	p->depth = depth;
	p->in_message = in_message;
	char ctv[1024], boundary[256];
	content_type(s, hlen, p->type, sizeof(p->type), ctv, sizeof(ctv));
	const char *body = s + bodyoff;
	size_t blen = len - bodyoff;
	size_t idx = t->n - 1;
	if (strncmp(p->type, "multipart/", 10) == 0 && depth < MIME_MAX_DEPTH &&
	    mime_param(ctv, "boundary", boundary, sizeof(boundary)) &&
	    walk_multipart(t, body, blen, boundary, depth, in_message))
		return;
	p = &t->part[idx];   /* walk_multipart may have moved the array */
	if (strncmp(p->type, "multipart/", 10) == 0)
		snprintf(p->type, sizeof(p->type), "%s", "text/plain");
	p->body = decode_body(s, hlen, body, blen, &p->blen);
	if ((strcmp(p->type, "message/rfc822") == 0 || strcmp(p->type, "text/rfc822-headers") == 0 ||
	     strcmp(p->type, "message/rfc822-headers") == 0) && depth < MIME_MAX_DEPTH) {
		char *copy = copy_bytes(p->body, p->blen);   /* the array may move under p */
		size_t clen = p->blen;
		walk(t, copy, clen, depth + 1, 1);
		free(copy);
	}
}

void mime_walk(const char *msg, size_t len, struct mime_tree *t)
{
	size_t nlen;
	char *norm = normalise(msg, len, &nlen);
	memset(t, 0, sizeof(*t));
	walk(t, norm, nlen, 0, 0);
	free(norm);
}

void mime_tree_free(struct mime_tree *t)
{
	for (size_t i = 0; i < t->n; i++) {
		free(t->part[i].headers);
		free(t->part[i].body);
	}
	free(t->part);
	memset(t, 0, sizeof(*t));
}
