/*
 * dsn: delivery status notifications; see dsn.h.
 *
 * Contract: dsn_build() refuses (-1, out untouched) a null or empty
 * sender, a missing reporting MTA and an empty recipient list; otherwise
 * it appends one RFC 5322 message to out and returns 0.  Every line of it
 * ends in CRLF and is at most DSN_LINE_MAX (998) octets; no bare CR or LF
 * and no control character other than tab is ever emitted, whatever the
 * remote diagnostic text, addresses or original message hold:
 * - text from outside (diagnostics, host names, queue id) is cleaned: a
 *   run of control characters becomes one space (so "550 x\r\nBcc: y"
 *   cannot start a header field), 8-bit bytes become '?', over-long text
 *   is cut with "...", and fields are folded at spaces (hard-split with a
 *   fold when one word is too long);
 * - addresses: ASCII ones appear as they are (controls as '?');
 *   Final-Recipient for a non-ASCII one is "utf-8; " + utf-8-addr-xtext
 *   (RFC 6533, \x{HEX} escapes: 7-bit in message/delivery-status).  A
 *   non-ASCII sender appears as UTF-8 in To: (RFC 6532; invalid bytes as
 *   '?'): such a DSN can only travel with SMTPUTF8 anyway;
 * - the readable part and the original headers are sent as they are when
 *   they are 7-bit text with CRLF lines within the limit, else
 *   quoted-printable (so 8-bit, bare CR/LF and long lines survive intact);
 * - the multipart boundary is checked against every part's content.
 * The action of the whole report (subject, wording) is "failed" when any
 * recipient failed, else "delayed".
 */
#include "delivery/dsn.h"
#include "core/utf8.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "header.h"
#include "log.h"
#include "mailauth/dkim.h"
#include "mailauth/mime7bit.h"
#include "xmalloc.h"

#define DSN_LINE_MAX 998           /* RFC 5322 2.1.1 */
#define DSN_FOLD_AT 78             /* preferred line length */
#define DSN_HARD_AT 900            /* a word is split here (below DSN_LINE_MAX) */
#define DSN_TEXT_MAX 2000          /* diagnostic text kept */
#define DSN_TOKEN_MAX 255          /* host names, queue ids, status */
#define DSN_ADDR_MAX 512
#define DSN_HEADERS_MAX (256 * 1024)   /* original header octets returned */
#define DSN_QP_LINE 76

/* --- cleaning text from outside ------------------------------------------ */

static int dsn_is_ctl(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

/* Text for a field or the readable part: runs of controls become one
 * space, 8-bit bytes '?', leading and trailing spaces dropped, cut at max
 * octets with "...". */
static void dsn_clean_text(struct buf *b, const char *s, size_t max)
{
	size_t kept = 0;
	int space = 0;
	for (const unsigned char *p = (const unsigned char *)s; p && *p; p++) {
		if (dsn_is_ctl(*p) || *p == ' ') {
			space = kept > 0;
			continue;
		}
		if (kept + space + 1 > max) {
			buf_puts(b, "...");
			return;
		}
		if (space)
			buf_putc(b, ' ');
		buf_putc(b, *p >= 0x80 ? '?' : (char)*p);
		kept += (size_t)space + 1;
		space = 0;
	}
}

/* A host name or queue id: letters, digits and ".-_:[]", others '?'. */
static void dsn_clean_token(struct buf *b, const char *s, const char *dflt)
{
	size_t n = 0;
	if (s == NULL || *s == '\0')
		s = dflt;
	for (; *s && n < DSN_TOKEN_MAX; s++, n++) {
		unsigned char c = (unsigned char)*s;
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			 strchr(".-_:[]", c) != NULL;
		buf_putc(b, ok && c ? (char)c : '?');
	}
}

static int dsn_is_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return 0;
	return 1;
}

/* An address as it appears in To: and the readable part: printable ASCII
 * and valid UTF-8 kept, controls, spaces, '<', '>' and invalid bytes as '?'. */
static void dsn_clean_addr(struct buf *b, const char *s)
{
	size_t len = strlen(s), n;
	if (len > DSN_ADDR_MAX)
		len = DSN_ADDR_MAX;
	for (size_t i = 0; i < len; i += n) {
		uint32_t cp;
		const unsigned char *p = (const unsigned char *)s + i;
		n = utf8_next(p, len - i, &cp);
		if (n == 0 || (n == 1 && (dsn_is_ctl(*p) || *p == ' ' || *p == '<' || *p == '>'))) {
			buf_putc(b, '?');
			n = n ? n : 1;
		} else {
			buf_append(b, p, n);
		}
	}
}

/* RFC 6533 utf-8-addr-xtext: QCHAR as is, anything else as \x{HEX}. */
static void dsn_xtext_addr(struct buf *b, const char *s)
{
	size_t len = strlen(s), n;
	if (len > DSN_ADDR_MAX)
		len = DSN_ADDR_MAX;
	for (size_t i = 0; i < len; i += n) {
		uint32_t cp = 0xfffd;
		const unsigned char *p = (const unsigned char *)s + i;
		n = utf8_next(p, len - i, &cp);
		if (n == 0) {
			n = 1;
			cp = 0xfffd;   /* not UTF-8: the replacement character */
		}
		if (cp >= 0x21 && cp <= 0x7e && cp != '\\' && cp != '+' && cp != '=')
			buf_putc(b, (char)cp);
		else
			buf_printf(b, "\\x{%X}", (unsigned)cp);
	}
}

/* --- formatting ---------------------------------------------------------- */

/* RFC 5322 date-time in UTC, independent of the locale. */
static void dsn_date(struct buf *b, time_t t)
{
	static const char days[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm tm;
	if (gmtime_r(&t, &tm) == NULL || tm.tm_wday < 0 || tm.tm_wday > 6 || tm.tm_mon < 0 ||
	    tm.tm_mon > 11) {
		t = 0;
		gmtime_r(&t, &tm);   /* the epoch always converts */
	}
	buf_printf(b, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday], tm.tm_mday,
		   months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* prefix + words of value (cleaned: no controls), folded before a word
 * that would pass DSN_FOLD_AT with cont ("\r\n " for a field), a word
 * longer than the hard limit split with cont too.  Ends with CRLF. */
static void dsn_fold(struct buf *out, const char *prefix, const char *value, const char *cont)
{
	size_t col = strlen(prefix), contw = strlen(cont) - 2;
	int first = 1;
	buf_puts(out, prefix);
	for (const char *p = value; *p;) {
		size_t w = strcspn(p, " ");
		if (w == 0) {
			p++;
			continue;
		}
		if (!first && col + 1 + w > DSN_FOLD_AT) {
			buf_puts(out, cont);
			col = contw;
		} else if (!first) {
			buf_putc(out, ' ');
			col++;
		}
		while (w > 0) {
			size_t k = DSN_HARD_AT > col ? DSN_HARD_AT - col : 1;
			k = w < k ? w : k;
			buf_append(out, p, k);
			col += k, p += k, w -= k;
			if (w) {
				buf_puts(out, cont);
				col = contw;
			}
		}
		first = 0;
	}
	buf_puts(out, "\r\n");
}

/* "name: " + value, folded as a header field. */
static void dsn_field(struct buf *out, const char *name, const char *value)
{
	char prefix[64];
	int n = snprintf(prefix, sizeof(prefix), "%s: ", name);
	if (n < 0 || (size_t)n >= sizeof(prefix))
		msg_panic("event=dsn_bug reason=\"field name too long\"");
	dsn_fold(out, prefix, value, "\r\n ");
}

/* A status code as given when it is "c.d.d" with c in 2, 4, 5; else the
 * generic one for the action. */
static const char *dsn_status(const struct dsn_rcpt *r)
{
	const char *s = r->status;
	size_t n = s ? strspn(s, "0123456789.") : 0;
	if (s && n == strlen(s) && n >= 5 && n <= 11 && (s[0] == '2' || s[0] == '4' ||
	    s[0] == '5') && s[1] == '.' && strchr(s + 2, '.') && s[n - 1] != '.')
		return s;
	return r->action == DSN_FAILED ? "5.0.0" : "4.0.0";
}

/* A diagnostic that starts with an SMTP reply code came from a server. */
static int dsn_is_smtp(const char *d)
{
	return d[0] >= '2' && d[0] <= '5' && d[1] >= '0' && d[1] <= '9' && d[2] >= '0' &&
	       d[2] <= '9' && (d[3] == '\0' || d[3] == ' ' || d[3] == '-');
}

/* --- the three parts ----------------------------------------------------- */

static int dsn_any_failed(const struct dsn_info *info)
{
	for (size_t i = 0; i < info->nrcpts; i++)
		if (info->rcpts[i].action == DSN_FAILED)
			return 1;
	return 0;
}

static void dsn_text_rcpt(struct buf *out, const struct dsn_rcpt *r)
{
	struct buf line = BUF_INIT;
	buf_puts(&line, "<");
	dsn_clean_addr(&line, r->address ? r->address : "");
	buf_puts(&line, ">:");
	if (r->remote_mta) {
		buf_puts(&line, " host ");
		dsn_clean_token(&line, r->remote_mta, "?");
		buf_puts(&line, " said:");
	}
	if (r->diagnostic && *r->diagnostic) {
		buf_putc(&line, ' ');
		dsn_clean_text(&line, r->diagnostic, DSN_TEXT_MAX);
	}
	dsn_fold(out, "  ", line.data, "\r\n    ");
	buf_puts(out, "\r\n");
	buf_free(&line);
}

static void dsn_text_group(struct buf *out, const struct dsn_info *info, enum dsn_action a,
			   const char *intro)
{
	int any = 0;
	for (size_t i = 0; i < info->nrcpts; i++) {
		if (info->rcpts[i].action != a)
			continue;
		if (!any)
			dsn_fold(out, "", intro, "\r\n");
		if (!any)
			buf_puts(out, "\r\n");
		any = 1;
		dsn_text_rcpt(out, &info->rcpts[i]);
	}
}

static void dsn_text_part(struct buf *out, const struct dsn_info *info, const char *host)
{
	buf_printf(out, "This is the mail system at host %s.\r\n\r\n", host);
	dsn_text_group(out, info, DSN_FAILED,
		       "Your message could not be delivered to the following recipients:");
	dsn_text_group(out, info, DSN_DELAYED,
		       "Your message has not yet been delivered; outpost will keep trying to "
		       "deliver it to the following recipients:");
	if (dsn_any_failed(info))
		buf_puts(out, "No further attempts will be made for the recipients above whose "
			 "delivery\r\nfailed.  ");
	buf_puts(out, "The delivery report and the headers of your message are\r\n"
		 "attached.\r\n");
}

static void dsn_status_rcpt(struct buf *out, const struct dsn_rcpt *r)
{
	struct buf v = BUF_INIT;
	const char *addr = r->address ? r->address : "";
	buf_puts(out, "\r\n");
	if (dsn_is_ascii(addr)) {
		buf_puts(&v, "rfc822; ");
		dsn_clean_addr(&v, addr);
	} else {
		buf_puts(&v, "utf-8; ");
		dsn_xtext_addr(&v, addr);
	}
	dsn_field(out, "Final-Recipient", v.data);
	buf_printf(out, "Action: %s\r\nStatus: %s\r\n",
		   r->action == DSN_FAILED ? "failed" : "delayed", dsn_status(r));
	if (r->remote_mta) {
		buf_reset(&v);
		buf_puts(&v, "dns; ");
		dsn_clean_token(&v, r->remote_mta, "?");
		dsn_field(out, "Remote-MTA", v.data);
	}
	if (r->diagnostic) {
		buf_reset(&v);
		dsn_clean_text(&v, r->diagnostic, DSN_TEXT_MAX);
		char *d = buf_steal(&v, NULL);
		buf_puts(&v, dsn_is_smtp(d) ? "smtp; " : "X-Outpost; ");
		buf_puts(&v, d);
		if (*d)
			dsn_field(out, "Diagnostic-Code", v.data);
		free(d);
	}
	if (r->last_attempt) {
		buf_puts(out, "Last-Attempt-Date: ");
		dsn_date(out, r->last_attempt);
		buf_puts(out, "\r\n");
	}
	buf_free(&v);
}

static void dsn_status_part(struct buf *out, const struct dsn_info *info, const char *host)
{
	struct buf v = BUF_INIT;
	buf_printf(out, "Reporting-MTA: dns; %s\r\n", host);
	dsn_clean_token(&v, info->qid, "?");
	dsn_field(out, "X-Outpost-Queue-ID", v.data);
	if (info->arrival) {
		buf_puts(out, "Arrival-Date: ");
		dsn_date(out, info->arrival);
		buf_puts(out, "\r\n");
	}
	for (size_t i = 0; i < info->nrcpts; i++)
		dsn_status_rcpt(out, &info->rcpts[i]);
	buf_free(&v);
}

/* The original header block without its empty line, cut at a line end
 * within DSN_HEADERS_MAX, ending with a line end. */
static void dsn_headers_part(struct buf *out, const struct dsn_info *info)
{
	const char *m = info->message;
	size_t len = m ? header_block_end(m, info->message_len) : 0;
	if (len >= 2 && m[len - 1] == '\n' && m[len - 2] == '\r' &&
	    (len == 2 || m[len - 3] == '\n'))
		len -= 2;   /* the empty line */
	else if (len >= 1 && m[len - 1] == '\n' && (len == 1 || m[len - 2] == '\n'))
		len -= 1;
	if (len > DSN_HEADERS_MAX) {
		len = DSN_HEADERS_MAX;
		while (len > 0 && m[len - 1] != '\n')
			len--;
	}
	if (len == 0)
		return;
	buf_append(out, m, len);
	if (m[len - 1] != '\n')
		buf_puts(out, "\r\n");
}

/* --- transfer encoding ---------------------------------------------------- */

/* 1 when text is 7-bit, has no control but tab, and is made of CRLF lines
 * of at most DSN_LINE_MAX octets. */
static int dsn_is_clean(const struct buf *t)
{
	size_t col = 0;
	for (size_t i = 0; i < t->len; i++) {
		unsigned char c = (unsigned char)t->data[i];
		if (c == '\r' && i + 1 < t->len && t->data[i + 1] == '\n') {
			i++;
			col = 0;
			continue;
		}
		if (c >= 0x80 || (dsn_is_ctl(c) && c != '\t') || ++col > DSN_LINE_MAX)
			return 0;
	}
	return col == 0;
}

static int dsn_has_8bit(const struct buf *t)
{
	for (size_t i = 0; i < t->len; i++)
		if ((unsigned char)t->data[i] >= 0x80)
			return 1;
	return 0;
}

/* Quoted-printable (RFC 2045 6.7): CRLF or LF is a line break, anything
 * else that is not plain printable ASCII an =XX, soft breaks at 76. */
static void dsn_qp(struct buf *out, const struct buf *t)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t col = 0;
	for (size_t i = 0; i < t->len; i++) {
		unsigned char c = (unsigned char)t->data[i];
		int crlf = c == '\r' && i + 1 < t->len && t->data[i + 1] == '\n';
		if (crlf || c == '\n') {
			i += (size_t)crlf;
			buf_puts(out, "\r\n");
			col = 0;
			continue;
		}
		int eol = i + 1 == t->len || t->data[i + 1] == '\n' ||
			  (t->data[i + 1] == '\r' && i + 2 < t->len && t->data[i + 2] == '\n');
		int lit = (c >= 33 && c <= 126 && c != '=') || ((c == ' ' || c == '\t') && !eol);
		size_t w = lit ? 1 : 3;
		if (col + w > DSN_QP_LINE - 1) {
			buf_puts(out, "=\r\n");
			col = 0;
		}
		if (lit)
			buf_putc(out, (char)c);
		else
			buf_printf(out, "=%c%c", hex[c >> 4], hex[c & 15]);
		col += w;
	}
	if (col)
		buf_puts(out, "=\r\n");   /* the content ends without a line break */
}

/* One body part: its header lines, then content as it is when clean, or
 * quoted-printable; always ends with CRLF (the delimiter's). */
static void dsn_part(struct buf *out, const char *boundary, const char *desc, const char *type,
		     const struct buf *content)
{
	int clean = dsn_is_clean(content);
	buf_printf(out, "--%s\r\nContent-Description: %s\r\nContent-Type: %s\r\n", boundary, desc,
		   type);
	if (!clean)
		buf_puts(out, "Content-Transfer-Encoding: quoted-printable\r\n");
	buf_puts(out, "\r\n");
	if (clean)
		buf_append(out, content->data, content->len);
	else
		dsn_qp(out, content);
	if (content->len == 0)
		buf_puts(out, "\r\n");
}

/* A boundary found in none of the parts ("=_" never occurs in
 * quoted-printable, and the rest is checked). */
static void dsn_boundary(char *b, size_t len, const struct dsn_info *info, struct buf *parts[3])
{
	char qid[24];
	size_t n = 0;
	for (const char *p = info->qid ? info->qid : ""; *p && n < sizeof(qid) - 1; p++)
		if ((*p >= '0' && *p <= '9') || (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z'))
			qid[n++] = *p;
	qid[n] = '\0';
	for (unsigned i = 0;; i++) {
		int w = snprintf(b, len, "=_outpost_%s_%lld_%u", qid, (long long)info->now, i);
		if (w < 0 || (size_t)w >= len)
			msg_panic("event=dsn_bug reason=\"boundary truncated\"");
		int found = 0;
		for (int k = 0; k < 3 && !found; k++)
			found = parts[k]->len && memmem(parts[k]->data, parts[k]->len, b,
							(size_t)w) != NULL;
		if (!found)
			return;
	}
}

/* --- the message --------------------------------------------------------- */

static void dsn_headers(struct buf *out, const struct dsn_info *info, const char *host,
			const char *boundary)
{
	int failed = dsn_any_failed(info);
	struct buf v = BUF_INIT;
	buf_printf(out, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n", host);
	dsn_clean_addr(&v, info->sender);
	buf_puts(out, "To: <");
	buf_append(out, v.data, v.len);
	buf_puts(out, ">\r\n");
	buf_printf(out, "Subject: %s\r\nDate: ", failed ? "Undelivered Mail Returned to Sender"
		   : "Delayed Mail (still being retried)");
	dsn_date(out, info->now);
	buf_reset(&v);
	dsn_clean_token(&v, info->qid, "0");
	buf_printf(out, "\r\nMessage-ID: <%s.dsn.%lld@%s>\r\n", v.data, (long long)info->now, host);
	buf_printf(out, "Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
		   "Content-Type: multipart/report; report-type=delivery-status;\r\n"
		   "\tboundary=\"%s\"\r\n\r\n", boundary);
	buf_free(&v);
}

int dsn_build(const struct dsn_info *info, struct buf *out)
{
	if (info == NULL || info->sender == NULL || info->sender[0] == '\0' ||
	    info->reporting_mta == NULL || info->rcpts == NULL || info->nrcpts == 0)
		return -1;
	struct buf host = BUF_INIT, text = BUF_INIT, status = BUF_INIT, hdrs = BUF_INIT;
	struct buf *parts[3] = { &text, &status, &hdrs };
	char boundary[80];
	dsn_clean_token(&host, info->reporting_mta, "localhost");
	dsn_text_part(&text, info, host.data);
	dsn_status_part(&status, info, host.data);
	dsn_headers_part(&hdrs, info);
	dsn_boundary(boundary, sizeof(boundary), info, parts);
	dsn_headers(out, info, host.data, boundary);
	buf_puts(out, "This is a MIME-encapsulated message.\r\n\r\n");
	dsn_part(out, boundary, "Notification", dsn_has_8bit(&text) ?
		 "text/plain; charset=utf-8" : "text/plain; charset=us-ascii", &text);
	dsn_part(out, boundary, "Delivery report", "message/delivery-status", &status);
	dsn_part(out, boundary, "Undelivered Message Headers", "text/rfc822-headers", &hdrs);
	buf_printf(out, "--%s--\r\n", boundary);
	for (int k = 0; k < 3; k++)
		buf_free(parts[k]);
	buf_free(&host);
	return 0;
}

int dsn_sign(const struct dkim_signer *sg, const char *qid, char **body, size_t *len, char *info,
	     size_t infolen, char *err, size_t errlen)
{
	struct buf conv = BUF_INIT, out = BUF_INIT;
	struct mime7bit_report rep;
	if (!sg || !dkim_signer_wants(sg, *body, *len))
		return 0;
	int rc = mime7bit_convert(*body, *len, MIME7BIT_8BIT, &conv, &rep, err, errlen);
	if (rc == 1) {
		free(*body);
		*body = buf_steal(&conv, len);
	}
	if (rc >= 0)
		rc = dkim_signer_sign(sg, *body, *len, qid, &out, info, infolen, err, errlen);
	if (rc == 1) {                /* the signatures go on top */
		buf_append(&out, *body, *len);
		free(*body);
		*body = buf_steal(&out, len);
	}
	buf_free(&conv);
	buf_free(&out);
	return rc;
}
