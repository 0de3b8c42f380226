/* header: field iteration and address-list extraction; see header.h. */
#include "header.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "address.h"
#include "buf.h"

/* Length of the line at p (through LF, or to the end). */
static size_t line_len(const char *p, size_t left)
{
	const char *lf = memchr(p, '\n', left);
	return lf ? (size_t)(lf - p) + 1 : left;
}

static int is_ftext(unsigned char c)
{
	return c >= 33 && c <= 126 && c != ':';
}

int header_next(const char *msg, size_t len, size_t *pos, struct header_field *f)
{
	size_t p = *pos, n = 0;
	if (p >= len)
		return 0;
	while (p + n < len && is_ftext((unsigned char)msg[p + n]))
		n++;
	if (n == 0 || p + n >= len || msg[p + n] != ':')
		return 0;  /* empty line, continuation without field, or garbage: end of header */
	f->name = msg + p;
	f->namelen = n;
	f->start = p;
	f->value = msg + p + n + 1;
	size_t q = p + line_len(msg + p, len - p);
	while (q < len && (msg[q] == ' ' || msg[q] == '\t'))
		q += line_len(msg + q, len - q);
	f->end = q;
	size_t vend = q;
	if (vend > 0 && msg[vend - 1] == '\n')
		vend--;
	if (vend > 0 && msg[vend - 1] == '\r')
		vend--;
	f->valuelen = vend > p + n + 1 ? vend - (p + n + 1) : 0;
	*pos = q;
	return 1;
}

int header_find(const char *msg, size_t len, const char *name, struct header_field *f)
{
	size_t pos = 0, nl = strlen(name);
	while (header_next(msg, len, &pos, f))
		if (f->namelen == nl && strncasecmp(f->name, name, nl) == 0)
			return 1;
	return 0;
}

size_t header_block_end(const char *msg, size_t len)
{
	size_t pos = 0;
	struct header_field f;
	while (header_next(msg, len, &pos, &f))
		;
	if (pos < len && msg[pos] == '\n')
		return pos + 1;
	if (pos + 1 < len && msg[pos] == '\r' && msg[pos + 1] == '\n')
		return pos + 2;
	return pos;
}

/* Emits the addr-spec of one mailbox text "Name <a@b>" or "a@b (c)". */
static int emit_mailbox(struct buf *plain, struct buf *angle, int had_angle,
			void (*fn)(const char *, void *), void *arg)
{
	struct buf *b = had_angle ? angle : plain;
	size_t s = 0, e = b->len;
	while (s < e && (b->data[s] == ' ' || b->data[s] == '\t'))
		s++;
	while (e > s && (b->data[e - 1] == ' ' || b->data[e - 1] == '\t'))
		e--;
	if (s == e)
		return had_angle ? -1 : 0;  /* "<>" is malformed here; empty elements are allowed */
	b->data[e] = '\0';
	if (memchr(b->data + s, '@', e - s) == NULL || memchr(b->data + s, ' ', e - s) != NULL)
		return -1;
	fn(b->data + s, arg);
	return 1;
}

struct alist_state {
	struct buf plain, angle;
	int quoted, comment, in_angle, had_angle;
};

static void alist_reset(struct alist_state *st)
{
	buf_reset(&st->plain);
	buf_reset(&st->angle);
	st->in_angle = st->had_angle = 0;
}

/* Feeds one character outside quotes/comments; returns -1 on bad structure. */
static int alist_char(struct alist_state *st, char c, int *count,
		      void (*fn)(const char *, void *), void *arg)
{
	if (c == '<') {
		if (st->in_angle || st->had_angle)
			return -1;
		st->in_angle = st->had_angle = 1;
	} else if (c == '>') {
		if (!st->in_angle)
			return -1;
		st->in_angle = 0;
	} else if (c == ':' && !st->in_angle) {
		alist_reset(st);  /* group name */
	} else if ((c == ',' || c == ';') && !st->in_angle) {
		int r = emit_mailbox(&st->plain, &st->angle, st->had_angle, fn, arg);
		if (r < 0)
			return -1;
		*count += r;
		alist_reset(st);
	} else if (c != '\r' && c != '\n') {
		buf_putc(st->in_angle ? &st->angle : &st->plain, c);
	}
	return 0;
}

int header_addresses(const char *v, size_t len, void (*fn)(const char *, void *), void *arg)
{
	struct alist_state st = { BUF_INIT, BUF_INIT, 0, 0, 0, 0 };
	int count = 0, bad = 0;
	buf_reserve(&st.plain, 0);
	buf_reserve(&st.angle, 0);
	for (size_t i = 0; i < len && !bad; i++) {
		char c = v[i];
		if (st.comment) {
			if (c == '\\')
				i++;
			else if (c == '(')
				st.comment++;
			else if (c == ')')
				st.comment--;
		} else if (st.quoted) {
			if (c == '\\' && i + 1 < len)
				buf_putc(st.in_angle ? &st.angle : &st.plain, v[++i]);
			else if (c == '"')
				st.quoted = 0;
			if (st.quoted || c == '"')
				buf_putc(st.in_angle ? &st.angle : &st.plain, c);
		} else if (c == '(') {
			st.comment = 1;
		} else if (c == '"') {
			st.quoted = 1;
			buf_putc(st.in_angle ? &st.angle : &st.plain, c);
		} else {
			bad = alist_char(&st, c, &count, fn, arg) < 0;
		}
	}
	if (!bad && (st.quoted || st.comment || st.in_angle))
		bad = 1;
	if (!bad) {
		int r = emit_mailbox(&st.plain, &st.angle, st.had_angle, fn, arg);
		bad = r < 0;
		count += r > 0 ? r : 0;
	}
	buf_free(&st.plain);
	buf_free(&st.angle);
	return bad ? -1 : count;
}

struct first_addr {
	char addr[1024];
	int found, fits;
};

static void take_first(const char *addr, void *arg)
{
	struct first_addr *fa = arg;
	if (fa->found++)
		return;
	fa->fits = snprintf(fa->addr, sizeof(fa->addr), "%s", addr) < (int)sizeof(fa->addr);
}

int header_from_domain(const char *msg, size_t len, char *out, size_t outlen)
{
	struct header_field f;
	struct first_addr fa = { .found = 0, .fits = 0 };
	struct address a;
	char tmp[ADDR_DOMAIN_MAX + 3];
	if (outlen)
		out[0] = '\0';
	if (!header_find(msg, len, "From", &f) ||
	    header_addresses(f.value, f.valuelen, take_first, &fa) < 1 || !fa.fits)
		return 0;
	/* The domain alone goes through the one address parser: a header's
	 * local part may be longer than SMTP's 64 octets, its domain may not. */
	const char *at = strrchr(fa.addr, '@');  /* NULL when a NUL byte hid it */
	size_t dl = at ? strlen(at + 1) : 0;
	if (dl > 1 && at[dl] == '.')
		dl--;  /* "example.com." is example.com */
	int n = at ? snprintf(tmp, sizeof(tmp), "x@%.*s", (int)dl, at + 1) : -1;
	if (n < 0 || (size_t)n >= sizeof(tmp) || address_parse(tmp, (size_t)n, ADDR_UTF8, &a) != NULL ||
	    a.literal || strlen(a.domain) >= outlen)
		return 0;
	memcpy(out, a.domain, strlen(a.domain) + 1);
	return 1;
}
