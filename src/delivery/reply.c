/*
 * reply: parsing of SMTP reply lines and EHLO keywords, and the
 * classification of replies and local failures into one outcome each.
 *
 * Contract (see reply.h): every classification carries an enhanced status
 * code (RFC 3463).  A reply's own code is used only when its class agrees
 * with the basic code's ("550 4.1.1" is contradictory: the basic code is
 * authoritative per RFC 3463 section 2, so it becomes 5.0.0).  A reply
 * code outside 2xx/4xx/5xx where the caller expected a final answer is a
 * protocol error: temporary, 4.5.0.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "delivery/reply.h"

/* 1..3 digits (RFC 3463: subject and detail are 0..999); returns how many. */
static size_t digits(const char *p, size_t max)
{
	size_t n = 0;
	while (n < max && isdigit((unsigned char)p[n]))
		n++;
	return n;
}

/* No leading spaces are skipped: RFC 2034 puts the code right after the
 * reply code's separator, and reply_classify() is given exactly that text. */
size_t reply_parse_enhanced(const char *text, char *enh, size_t enhlen)
{
	if (enhlen)
		enh[0] = '\0';
	if (text == NULL || (text[0] != '2' && text[0] != '4' && text[0] != '5') || text[1] != '.')
		return 0;
	size_t i = 2, n = digits(text + i, 4);
	if (n == 0 || n > 3 || text[i + n] != '.')
		return 0;
	i += n + 1;
	n = digits(text + i, 4);
	if (n == 0 || n > 3)
		return 0;
	i += n;
	if (text[i] != ' ' && text[i] != '\0')
		return 0;               /* "5.1.1x", "5.1.1.2": not a code */
	if (i + 1 > enhlen)
		return 0;
	memcpy(enh, text, i);
	enh[i] = '\0';
	return text[i] == ' ' ? i + 1 : i;
}

/* Copies s into dst (size n), truncated, always terminated. */
static void copy_text(char *dst, size_t n, const char *s)
{
	snprintf(dst, n, "%s", s ? s : "");
}

/* Case-insensitive substring search (strcasestr is a GNU extension, and
 * this keeps the rule visible). */
static int has_word(const char *text, const char *word)
{
	size_t wl = strlen(word);
	for (const char *p = text; *p; p++)
		if (strncasecmp(p, word, wl) == 0)
			return 1;
	return 0;
}

/*
 * Greylisting (RFC 6647) is a temporary refusal that will succeed on a
 * retry after a few minutes, so the scheduler retries sooner.  There is no
 * code for it: servers use 450/451 with 4.2.0 or 4.7.1, but the same codes
 * mean rate limiting and policy blocks too ("451 4.7.1 Please try again
 * later" is used for both), so the code alone never decides.  The rule:
 * a 4xx reply whose text names greylisting - "greylist", "graylist",
 * "grey-list", "gray-list", "grey list", "gray list" (any case, which also
 * covers "Greylisted", "greylisting") or Postgrey by name.
 */
static int looks_greylisted(const char *text)
{
	static const char *const words[] = {
		"greylist", "graylist", "grey-list", "gray-list", "grey list", "gray list", "postgrey",
	};
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (has_word(text, words[i]))
			return 1;
	return 0;
}

void reply_classify(int code, const char *text, struct reply_info *out)
{
	char enh[16];
	memset(out, 0, sizeof(*out));
	out->code = code;
	copy_text(out->text, sizeof(out->text), text);
	int cls = code >= 100 && code <= 999 ? code / 100 : 0;
	if (cls != 2 && cls != 4 && cls != 5) {
		/* 1xx, an unexpected 3xx, or garbage: the dialogue is broken. */
		out->outcome = REPLY_TEMP;
		strcpy(out->enh, "4.5.0");
		return;
	}
	out->outcome = cls == 2 ? REPLY_OK : cls == 4 ? REPLY_TEMP : REPLY_PERM;
	if (reply_parse_enhanced(out->text, enh, sizeof(enh)) && enh[0] - '0' == cls)
		strcpy(out->enh, enh);
	else
		snprintf(out->enh, sizeof(out->enh), "%d.0.0", cls);
	out->greylisted = cls == 4 && looks_greylisted(out->text);
}

void reply_local(const char *enh, const char *reason, struct reply_info *out)
{
	char e[16];
	memset(out, 0, sizeof(*out));
	copy_text(out->text, sizeof(out->text), reason);
	if (enh && reply_parse_enhanced(enh, e, sizeof(e)) && enh[strlen(e)] == '\0' && e[0] != '2') {
		strcpy(out->enh, e);
		out->outcome = e[0] == '5' ? REPLY_PERM : REPLY_TEMP;
	} else {
		strcpy(out->enh, "4.0.0");
		out->outcome = REPLY_TEMP;
	}
}

int reply_parse_line(const char *line, size_t len, int *code, int *last, const char **text, size_t *textlen)
{
	if (len < 3 || !isdigit((unsigned char)line[0]) || !isdigit((unsigned char)line[1]) ||
	    !isdigit((unsigned char)line[2]))
		return -1;
	if (len > 3 && line[3] != ' ' && line[3] != '-')
		return -1;
	*code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	*last = len == 3 || line[3] == ' ';
	*text = len > 3 ? line + 4 : line + 3;
	*textlen = len > 3 ? len - 4 : 0;
	return 0;
}

/* The keyword (letters, digits, '-') at the start of p; returns its length. */
static size_t keyword_len(const char *p, size_t len)
{
	size_t n = 0;
	while (n < len && (isalnum((unsigned char)p[n]) || p[n] == '-'))
		n++;
	return n;
}

static int keyword_is(const char *p, size_t n, const char *kw)
{
	return n == strlen(kw) && strncasecmp(p, kw, n) == 0;
}

/* "SIZE 35882577": the limit, 0 when absent or not a number (no limit). */
static void parse_size(const char *p, size_t len, struct reply_ehlo *e)
{
	unsigned long long v = 0;
	size_t i = 0;
	while (i < len && p[i] == ' ')
		i++;
	for (; i < len && isdigit((unsigned char)p[i]); i++) {
		unsigned d = (unsigned)(p[i] - '0');
		if (v > (~0ULL - d) / 10) {
			v = 0;    /* absurdly large: treat as no limit */
			break;
		}
		v = v * 10 + d;
	}
	e->size_set = 1;
	e->size = v;
}

/* "AUTH PLAIN LOGIN" or the pre-standard "AUTH=PLAIN LOGIN". */
static void parse_auth(const char *p, size_t len, struct reply_ehlo *e)
{
	size_t i = 0;
	while (i < len) {
		while (i < len && (p[i] == ' ' || p[i] == '='))
			i++;
		size_t n = keyword_len(p + i, len - i);
		if (n == 0)
			return;
		if (keyword_is(p + i, n, "PLAIN"))
			e->auth_plain = 1;
		else if (keyword_is(p + i, n, "LOGIN"))
			e->auth_login = 1;
		i += n;
	}
}

void reply_parse_ehlo_line(const char *text, size_t len, struct reply_ehlo *e)
{
	size_t n = keyword_len(text, len);
	if (n == 0 || (n < len && text[n] != ' ' && text[n] != '='))
		return;
	const char *rest = text + n;
	size_t restlen = len - n;
	if (keyword_is(text, n, "STARTTLS"))
		e->starttls = 1;
	else if (keyword_is(text, n, "PIPELINING"))
		e->pipelining = 1;
	else if (keyword_is(text, n, "8BITMIME"))
		e->eightbitmime = 1;
	else if (keyword_is(text, n, "SMTPUTF8"))
		e->smtputf8 = 1;
	else if (keyword_is(text, n, "SIZE"))
		parse_size(rest, restlen, e);
	else if (keyword_is(text, n, "AUTH"))
		parse_auth(rest, restlen, e);
}
