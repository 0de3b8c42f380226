/*
 * bounce_text: the human-readable words of an NDR.  The MTAs that do not
 * send RFC 3464 reports (qmail, Exim, Exchange 2003, Domino, Gmail's old
 * format, Japanese carriers, ...) still all say the same things the same
 * way: some introductory sentences, then each failed address followed by
 * what the receiver said about it, then a copy of the original.  So the
 * readable text is cut where the copy starts, the addresses in it are
 * the recipients (minus the report's own and the original sender's), and
 * the words from one address to the next are its diagnostic.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "core/xmalloc.h"
#include "feedback/bounce_int.h"

/* Phrases of a line that introduces the copy of the original message. */
static const char *const copy_markers[] = {
	"original message", "copy of the message", "copy of your message", "below this line",
	"returned message", "message headers follow", "header of the original", "headers of the original",
	"unsent message below", "undelivered message", "original mail", "following is a copy",
	"message header follows", "this is a copy", "included below", "original text follows",
	"rfc822", "returned mail", "message text follows", "mail header", "original header",
	"headers are attached", "original-message", "your message reads", "unsent message", NULL
};

/* Does the line at s (len bytes) start the copy of the original? */
static int copy_starts(const char *s, size_t len)
{
	static const char *const fields[] = { "Received: ", "Return-Path: ", "Return-path: ",
		"DKIM-Signature: ", "Message-ID: ", "Message-Id: ", NULL };
	for (int i = 0; fields[i]; i++)
		if (len >= strlen(fields[i]) && strncmp(s, fields[i], strlen(fields[i])) == 0)
			return 1;
	static const char *const sentences[] = { "message headers follow", "below is a copy", "this is a copy",
		"original message follows", "original message headers", "headers of the original message",
		"original message header", "copy of the original message", "original message --", NULL };
	size_t k = 0;
	while (k < len && (s[k] == ' ' || s[k] == '\t'))
		k++;
	char line[256];
	size_t n = len - k < sizeof(line) - 1 ? len - k : sizeof(line) - 1;
	memcpy(line, s + k, n);
	line[n] = '\0';
	str_lower(line);
	if (k >= len || isalnum((unsigned char)s[k])) {
		/* a sentence: only those that announce the copy (not "The original
		 * message was received at ...", which opens Sendmail's reports) */
		for (int i = 0; sentences[i]; i++)
			if (strncmp(line, sentences[i], strlen(sentences[i])) == 0)
				return 1;
		return 0;
	}
	for (int i = 0; copy_markers[i]; i++)
		if (strstr(line, copy_markers[i]))
			return 1;
	return 0;
}

/* Appends text up to the line where a copy of the original starts;
 * returns 1 when it stopped there. */
static int append_until_copy(struct buf *b, const char *s, size_t len)
{
	size_t pos = 0;
	while (pos < len) {
		const char *nl = memchr(s + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - s) + 1 : len;
		if (copy_starts(s + pos, end - pos) && b->len > 0)
			return 1;
		buf_append(b, s + pos, end - pos);
		pos = end;
	}
	return 0;
}

/* HTML made plain enough to read: tags dropped, a few entities. */
static char *html_text(const char *s, size_t len, size_t *outlen)
{
	char *out = xmalloc(len + 1);
	size_t o = 0;
	int tag = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '<' && i + 1 < len && (isalpha((unsigned char)s[i + 1]) || s[i + 1] == '/' || s[i + 1] == '!')) {
			tag = 1;
			continue;
		}
		if (tag) {
			if (s[i] == '>') {
				tag = 0;
				out[o++] = ' ';
			}
			continue;
		}
		if (s[i] == '&' && i + 3 < len && strncmp(s + i, "&lt;", 4) == 0) {
			out[o++] = '<';
			i += 3;
		} else if (s[i] == '&' && i + 3 < len && strncmp(s + i, "&gt;", 4) == 0) {
			out[o++] = '>';
			i += 3;
		} else if (s[i] == '&' && i + 5 < len && strncmp(s + i, "&nbsp;", 6) == 0) {
			out[o++] = ' ';
			i += 5;
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = '\0';
	*outlen = o;
	return out;
}

char *ndr_readable_text(const struct mime_tree *t)
{
	struct buf b = BUF_INIT;
	int plain = 0;
	for (size_t i = 0; i < t->n; i++)
		if (!t->part[i].in_message && t->part[i].body && strcmp(t->part[i].type, "text/plain") == 0)
			plain = 1;
	for (size_t i = 0; i < t->n; i++) {
		const struct mime_part *p = &t->part[i];
		if (p->in_message || p->body == NULL)
			continue;
		if (strcmp(p->type, "text/plain") == 0) {
			if (append_until_copy(&b, p->body, p->blen))
				break;
		} else if (!plain && strcmp(p->type, "text/html") == 0) {
			size_t n;
			char *h = html_text(p->body, p->blen, &n);
			int stop = append_until_copy(&b, h, n);
			free(h);
			if (stop)
				break;
		} else {
			continue;
		}
		buf_putc(&b, '\n');
	}
	if (b.data == NULL)
		buf_puts(&b, "");
	return buf_steal(&b, NULL);
}

static int excluded(const char *addr, const char *exclude)
{
	if (exclude == NULL)
		return 0;
	const char *at = strchr(addr, '@');
	size_t llen = at ? (size_t)(at - addr) : strlen(addr);
	static const char *const locals[] = { "postmaster", "mailer-daemon", "mailer_daemon", "maildaemon", NULL };
	for (int i = 0; locals[i]; i++)
		if (llen == strlen(locals[i]) && strncasecmp(addr, locals[i], llen) == 0)
			return 1;
	for (const char *e = exclude; e && *e; e += strlen(e) + 1)
		if (strcasecmp(e, addr) == 0)
			return 1;
	return 0;
}

/* Lines that name other parties than the failed recipient. */
static int header_like_line(const char *line, size_t len, int with_to)
{
	static const char *const names[] = { "from:", "reply-to:", "subject:", "date:", "sent:", "message-id:",
		"return-path:", "received:", "sender:", "envelope-from", "x-", "original-sender", NULL };
	size_t k = 0;
	while (k < len && (line[k] == ' ' || line[k] == '\t' || line[k] == '>'))
		k++;
	for (int i = 0; names[i]; i++)
		if (len - k >= strlen(names[i]) && strncasecmp(line + k, names[i], strlen(names[i])) == 0)
			return 1;
	if (with_to && len - k >= 3 && strncasecmp(line + k, "to:", 3) == 0)
		return 1;
	return 0;
}

struct hit {
	char addr[BOUNCE_ADDR_MAX];
	size_t line_start;
};

/* The distinct addresses of text in order of first appearance. */
static size_t find_addresses(const char *text, const char *exclude, int with_to, struct hit *hits, size_t max)
{
	size_t len = strlen(text), n = 0, pos = 0;
	while (pos < len && n < max) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - text) + 1 : len;
		if (!header_like_line(text + pos, end - pos, with_to)) {
			for (size_t i = pos; i < end && n < max; i++) {
				char addr[BOUNCE_ADDR_MAX];
				size_t e;
				if (text[i] != '@' || !addr_at(text, end, i, addr, sizeof(addr), NULL, &e))
					continue;
				i = e;
				if (excluded(addr, exclude))
					continue;
				size_t k;
				for (k = 0; k < n && strcasecmp(hits[k].addr, addr) != 0; k++)
					;
				if (k < n)
					continue;
				snprintf(hits[n].addr, sizeof(hits[n].addr), "%s", addr);
				hits[n].line_start = pos;
				n++;
			}
		}
		pos = end;
	}
	return n;
}

/* text[from, to) with whitespace runs made one space, trimmed. */
static char *squeeze(const char *text, size_t from, size_t to)
{
	char *out = xmalloc(to - from + 1);
	size_t o = 0;
	int sp = 1;
	for (size_t i = from; i < to; i++) {
		int ws = isspace((unsigned char)text[i]);
		if (ws && sp)
			continue;
		sp = ws;
		out[o++] = ws ? ' ' : text[i];
	}
	while (o > 0 && out[o - 1] == ' ')
		o--;
	out[o] = '\0';
	return out;
}

#define MAX_HITS 64

/* The lines where some recipient is named, each with the one it names
 * (-1 when it names several). */
struct mark {
	size_t line;
	int who;
};

static size_t find_marks(const char *text, const struct hit *hits, size_t n, struct mark *marks, size_t max)
{
	size_t len = strlen(text), pos = 0, m = 0;
	while (pos < len && m < max) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - text) + 1 : len;
		int who = -2;
		for (size_t k = 0; k < n; k++) {
			const char *hit = strcasestr(text + pos, hits[k].addr);
			if (hit && (size_t)(hit - text) < end)
				who = who == -2 ? (int)k : -1;
		}
		if (who != -2) {
			marks[m].line = pos;
			marks[m].who = who;
			m++;
		}
		pos = end;
	}
	return m;
}

/* Each recipient's words: every stretch of text from a line that names
 * it alone to the next line that names anyone, joined; or, when no line
 * names it alone, from its first line to the next recipient's. */
void ndr_scan(const char *text, const char *exclude, struct raw_list *out)
{
	struct hit *hits = xcalloc(MAX_HITS, sizeof(*hits));
	struct mark *marks = xcalloc(1024, sizeof(*marks));
	size_t n = find_addresses(text, exclude, 1, hits, MAX_HITS);
	if (n == 0)
		n = find_addresses(text, exclude, 0, hits, MAX_HITS);
	size_t len = strlen(text), m = find_marks(text, hits, n, marks, 1024);
	for (size_t i = 0; i < n; i++) {
		struct buf b = BUF_INIT;
		for (size_t k = 0; k < m; k++) {
			if (marks[k].who != (int)i)
				continue;
			size_t to = k + 1 < m ? marks[k + 1].line : len;
			char *piece = squeeze(text, marks[k].line, to);
			if (b.len)
				buf_putc(&b, ' ');
			buf_puts(&b, piece);
			free(piece);
		}
		if (b.len == 0) {
			size_t to = len;
			for (size_t k = 0; k < n; k++)
				if (hits[k].line_start > hits[i].line_start && hits[k].line_start < to)
					to = hits[k].line_start;
			char *piece = squeeze(text, hits[i].line_start, to);
			buf_puts(&b, piece);
			free(piece);
		}
		struct raw_rcpt *r = raw_add(out, hits[i].addr);
		r->diag = buf_steal(&b, NULL);
	}
	free(marks);
	free(hits);
}
