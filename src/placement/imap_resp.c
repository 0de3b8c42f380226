/*
 * imap_resp: LIST, SEARCH and CAPABILITY responses, and mailbox URLs (see
 * imap_resp.h).  A cursor walks the text; each parser consumes one line
 * (and the literal it announces) at a time.
 */
#include "placement/imap_resp.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "core/xmalloc.h"

#define NAME_MAX_LEN 1000

struct cur {
	const char *p, *end;
};

static int at_end(const struct cur *c)
{
	return c->p >= c->end;
}

/* Past the next LF (or to the end). */
static void skip_line(struct cur *c)
{
	const char *lf = memchr(c->p, '\n', (size_t)(c->end - c->p));
	c->p = lf ? lf + 1 : c->end;
}

static int at_eol(const struct cur *c)
{
	return at_end(c) || *c->p == '\r' || *c->p == '\n';
}

/* Consumes word (case-insensitive) when the text starts with it. */
static int take(struct cur *c, const char *word)
{
	size_t n = strlen(word);
	if ((size_t)(c->end - c->p) < n || strncasecmp(c->p, word, n) != 0)
		return 0;
	c->p += n;
	return 1;
}

/* A run of characters up to SP, a bracket or the end of the line. */
static size_t atom_len(const struct cur *c, const char *stops)
{
	size_t k = 0;
	while (c->p + k < c->end && c->p[k] != ' ' && c->p[k] != '\r' && c->p[k] != '\n' &&
	       strchr(stops, c->p[k]) == NULL && c->p[k] != '\0')
		k++;
	return k;
}

/* "..." with \" and \\ escapes into b; 0, or -1 when unterminated. */
static int take_quoted(struct cur *c, struct buf *b)
{
	c->p++;
	while (!at_eol(c) && *c->p != '"') {
		if (*c->p == '\\' && c->p + 1 < c->end && (c->p[1] == '"' || c->p[1] == '\\'))
			c->p++;
		buf_append(b, c->p, 1);
		c->p++;
	}
	if (at_end(c) || *c->p != '"')
		return -1;
	c->p++;
	return 0;
}

/* {n}CRLF followed by n octets into b; 0 or -1. */
static int take_literal(struct cur *c, struct buf *b)
{
	size_t n = 0, k = 0;
	c->p++;
	while (c->p + k < c->end && isdigit((unsigned char)c->p[k]) && k < 7)
		n = n * 10 + (size_t)(c->p[k++] - '0');
	if (k == 0 || n > NAME_MAX_LEN)
		return -1;
	c->p += k;
	if (!take(c, "}\r\n") && !take(c, "}\n"))
		return -1;
	if ((size_t)(c->end - c->p) < n)
		return -1;
	buf_append(b, c->p, n);
	c->p += n;
	return 0;
}

/* An astring (atom, quoted or literal) into b; 0 or -1. */
static int take_astring(struct cur *c, struct buf *b)
{
	if (at_end(c))
		return -1;
	if (*c->p == '"')
		return take_quoted(c, b);
	if (*c->p == '{')
		return take_literal(c, b);
	size_t k = atom_len(c, "(){");
	if (k == 0)
		return -1;
	buf_append(b, c->p, k);
	c->p += k;
	return 0;
}

/* (\Attr \Attr ...) into flags. */
static int take_attributes(struct cur *c, unsigned *flags)
{
	if (!take(c, "("))
		return -1;
	while (!at_eol(c) && *c->p != ')') {
		if (*c->p == ' ') {
			c->p++;
			continue;
		}
		size_t k = atom_len(c, "()");
		if (k == 0)
			return -1;
		if (k == 5 && strncasecmp(c->p, "\\Junk", 5) == 0)
			*flags |= IMAP_MB_JUNK;
		else if ((k == 9 && strncasecmp(c->p, "\\Noselect", 9) == 0) ||
			 (k == 12 && strncasecmp(c->p, "\\NonExistent", 12) == 0))
			*flags |= IMAP_MB_NOSELECT;
		c->p += k;
	}
	return take(c, ")") ? 0 : -1;
}

/* The delimiter: a quoted character or NIL. */
static int take_delim(struct cur *c, char *delim)
{
	struct buf b = BUF_INIT;
	if (take(c, "NIL")) {
		*delim = '\0';
		return 0;
	}
	if (at_end(c) || *c->p != '"' || take_quoted(c, &b) < 0 || b.len != 1) {
		buf_free(&b);
		return -1;
	}
	*delim = b.data[0];
	buf_free(&b);
	return 0;
}

/* After "* LIST ": one mailbox, or -1. */
static int parse_list_entry(struct cur *c, struct imap_mailbox *out)
{
	struct buf name = BUF_INIT;
	unsigned flags = 0;
	char delim;
	if (take_attributes(c, &flags) < 0 || !take(c, " ") || take_delim(c, &delim) < 0 || !take(c, " ") ||
	    take_astring(c, &name) < 0 || name.len == 0 || name.len > NAME_MAX_LEN ||
	    memchr(name.data, '\0', name.len) != NULL) {
		buf_free(&name);
		return -1;
	}
	out->name = xstrndup(name.data, name.len);
	out->delim = delim;
	out->flags = flags;
	buf_free(&name);
	return 0;
}

size_t imap_parse_list(const char *text, size_t len, struct imap_mailbox **mb, size_t *n)
{
	struct cur c = { text, text + len };
	size_t added = 0;
	while (!at_end(&c)) {
		const char *line = c.p;
		struct imap_mailbox m;
		if (take(&c, "* LIST ") && parse_list_entry(&c, &m) == 0) {
			*mb = xreallocarray(*mb, *n + 1, sizeof(**mb));
			(*mb)[(*n)++] = m;
			added++;
		} else {
			c.p = line;
		}
		skip_line(&c);
	}
	return added;
}

void imap_mailboxes_free(struct imap_mailbox *mb, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(mb[i].name);
	free(mb);
}

/* name, or name under INBOX and the delimiter, is want. */
static int name_is(const struct imap_mailbox *m, const char *want)
{
	if (strcasecmp(m->name, want) == 0)
		return 1;
	return m->delim && strncasecmp(m->name, "INBOX", 5) == 0 && m->name[5] == m->delim &&
	       strcasecmp(m->name + 6, want) == 0;
}

const char *imap_junk_folder(const struct imap_mailbox *mb, size_t n)
{
	static const char *const names[] = { "Junk", "Spam", "Junk E-mail", "Junk Email", "[Gmail]/Spam",
					     "[Google Mail]/Spam", NULL };
	for (size_t i = 0; i < n; i++)
		if ((mb[i].flags & IMAP_MB_JUNK) && !(mb[i].flags & IMAP_MB_NOSELECT))
			return mb[i].name;
	for (size_t k = 0; names[k]; k++)
		for (size_t i = 0; i < n; i++)
			if (!(mb[i].flags & IMAP_MB_NOSELECT) && name_is(&mb[i], names[k]))
				return mb[i].name;
	return NULL;
}

/* A number 1..4294967295 of at most 10 digits; 0 or -1. */
static int take_number(struct cur *c, uint32_t *v)
{
	unsigned long long x = 0;
	size_t k = 0;
	while (c->p + k < c->end && isdigit((unsigned char)c->p[k]) && k < 11)
		x = x * 10 + (unsigned)(c->p[k++] - '0');
	if (k == 0 || k > 10 || x == 0 || x > 4294967295ULL)
		return -1;
	c->p += k;
	*v = (uint32_t)x;
	return 0;
}

/* The rest of one "* SEARCH" line. */
static int parse_search_line(struct cur *c, uint32_t *ids, size_t max, size_t *n)
{
	uint32_t v;
	while (take(c, " ")) {
		if (take(c, "(MODSEQ ")) {
			if (take_number(c, &v) < 0 || !take(c, ")"))
				return -1;
			break;
		}
		if (take_number(c, &v) < 0)
			return -1;
		if (*n < max)
			ids[(*n)++] = v;
	}
	take(c, "\r");
	return at_end(c) || *c->p == '\n' ? 0 : -1;
}

int imap_parse_search(const char *text, size_t len, uint32_t *ids, size_t max, size_t *n)
{
	struct cur c = { text, text + len };
	*n = 0;
	while (!at_end(&c)) {
		const char *line = c.p;
		if (take(&c, "* SEARCH") && (at_eol(&c) || *c.p == ' ')) {
			if (parse_search_line(&c, ids, max, n) < 0)
				return -1;
		} else {
			c.p = line;
		}
		skip_line(&c);
	}
	return 0;
}

/* The words of one capability list, up to the end of the line or ']'. */
static int words_name(struct cur *c, const char *cap)
{
	size_t want = strlen(cap);
	while (take(c, " ")) {
		size_t k = atom_len(c, "]");
		if (k == want && strncasecmp(c->p, cap, k) == 0)
			return 1;
		c->p += k;
	}
	return 0;
}

int imap_has_capability(const char *text, size_t len, const char *cap)
{
	struct cur c = { text, text + len };
	while (!at_end(&c)) {
		const char *lf = memchr(c.p, '\n', (size_t)(c.end - c.p));
		struct cur line = { c.p, lf ? lf : c.end };
		if (take(&line, "* CAPABILITY") && words_name(&line, cap))
			return 1;
		for (line.p = c.p; line.p < line.end; line.p++)
			if (*line.p == '[') {
				line.p++;
				if (take(&line, "CAPABILITY") && words_name(&line, cap))
					return 1;
				line.p--;
			}
		c.p = lf ? lf + 1 : c.end;
	}
	return 0;
}

char *imap_mailbox_url(const char *base, const char *mailbox)
{
	struct buf b = BUF_INIT;
	size_t bl = strlen(base);
	while (bl > 0 && base[bl - 1] == '/')
		bl--;
	buf_append(&b, base, bl);
	buf_puts(&b, "/");
	for (const unsigned char *p = (const unsigned char *)(mailbox ? mailbox : ""); *p; p++) {
		if (isalnum(*p) || strchr("-._~/", *p))
			buf_append(&b, (const char *)p, 1);
		else
			buf_printf(&b, "%%%02X", *p);
	}
	size_t len;
	return buf_steal(&b, &len);
}
