/*
 * smtp_parse: verbs, MAIL/RCPT paths and parameters, HELO names.
 * Strict where strictness protects (paths must be in <>, unknown
 * parameters are refused), lenient only where clients commonly differ
 * (a space after "FROM:", case of verbs and parameter names).
 */
#include "smtp_parse.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct {
	const char *name;
	enum smtp_verb verb;
} verbs[] = {
	{ "HELO", SMTP_HELO }, { "EHLO", SMTP_EHLO }, { "MAIL", SMTP_MAIL },
	{ "RCPT", SMTP_RCPT }, { "DATA", SMTP_DATA }, { "RSET", SMTP_RSET },
	{ "NOOP", SMTP_NOOP }, { "VRFY", SMTP_VRFY }, { "EXPN", SMTP_EXPN },
	{ "HELP", SMTP_HELP }, { "QUIT", SMTP_QUIT }, { "STARTTLS", SMTP_STARTTLS },
	{ "AUTH", SMTP_AUTH }, { "BDAT", SMTP_BDAT },
};

const char *smtp_cmd_parse(const char *line, size_t len, struct smtp_cmd *out)
{
	size_t v = 0;
	out->verb = SMTP_UNKNOWN;
	out->arg = "";
	out->arglen = 0;
	if (len + 2 > SMTP_CMD_LINE_MAX)
		return "500 5.5.2 Line too long";
	if (memchr(line, '\0', len) != NULL)
		return "500 5.5.2 NUL character in command";
	while (v < len && line[v] != ' ')
		v++;
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		if (strlen(verbs[i].name) == v && strncasecmp(line, verbs[i].name, v) == 0) {
			out->verb = verbs[i].verb;
			break;
		}
	}
	if (out->verb == SMTP_UNKNOWN)
		return "500 5.5.1 Command unrecognized";
	while (v < len && line[v] == ' ')
		v++;
	out->arg = line + v;
	out->arglen = len - v;
	while (out->arglen > 0 && out->arg[out->arglen - 1] == ' ')
		out->arglen--;  /* trailing spaces are common and harmless */
	return NULL;
}

/* Skips "FROM:" / "TO:" and optional spaces; returns the offset of '<'. */
static const char *skip_keyword(const char *arg, size_t len, const char *kw, size_t *pos)
{
	size_t k = strlen(kw);
	if (len < k || strncasecmp(arg, kw, k) != 0)
		return NULL;
	while (k < len && arg[k] == ' ')
		k++;
	*pos = k;
	return arg + k;
}

/* "<path>" at arg[*pos]; sets the inside [start, end) and moves *pos past '>'. */
static int find_path(const char *arg, size_t len, size_t *pos, size_t *start, size_t *end)
{
	size_t i = *pos;
	int quoted = 0;
	if (i >= len || arg[i] != '<')
		return -1;
	*start = ++i;
	for (; i < len; i++) {
		if (arg[i] == '\\' && quoted && i + 1 < len)
			i++;
		else if (arg[i] == '"')
			quoted = !quoted;
		else if (arg[i] == '>' && !quoted)
			break;
	}
	if (i >= len)
		return -1;
	*end = i;
	*pos = i + 1;
	return 0;
}

/* Next "KEY[=VALUE]" parameter; returns 0 when none are left, -1 on bad syntax. */
static int next_param(const char *arg, size_t len, size_t *pos, char *key, size_t keylen,
		      char *val, size_t vallen)
{
	size_t i = *pos, k = 0, v = 0;
	if (i < len && arg[i] != ' ')
		return -1;
	while (i < len && arg[i] == ' ')
		i++;
	if (i >= len)
		return 0;
	while (i < len && arg[i] != ' ' && arg[i] != '=') {
		if (k + 1 >= keylen)
			return -1;
		key[k++] = arg[i++];
	}
	key[k] = '\0';
	val[0] = '\0';
	if (i < len && arg[i] == '=') {
		for (i++; i < len && arg[i] != ' '; i++) {
			if (v + 1 >= vallen || (unsigned char)arg[i] < 33 || (unsigned char)arg[i] > 126)
				return -1;
			val[v++] = arg[i];
		}
		val[v] = '\0';
		if (v == 0)
			return -1;
	}
	*pos = i;
	return k ? 1 : -1;
}

static const char *mail_param(struct smtp_mail_args *out, const char *key, const char *val,
			      uint64_t max_size)
{
	if (strcasecmp(key, "SIZE") == 0) {
		char *end;
		errno = 0;
		if (*val < '0' || *val > '9')
			return "501 5.5.4 Bad SIZE value";
		unsigned long long n = strtoull(val, &end, 10);
		if (*end || errno)
			return "501 5.5.4 Bad SIZE value";
		if (max_size && n > max_size)
			return "552 5.3.4 Message size exceeds fixed maximum message size";
		out->size = n;
	} else if (strcasecmp(key, "BODY") == 0) {
		if (strcasecmp(val, "8BITMIME") == 0)
			out->body_8bit = 1;
		else if (strcasecmp(val, "7BIT") == 0)
			out->body_8bit = 0;
		else
			return "501 5.5.4 Unsupported BODY type";
	} else if (strcasecmp(key, "SMTPUTF8") == 0 && *val == '\0') {
		out->smtputf8 = 1;
	} else if (strcasecmp(key, "AUTH") == 0) {
		/* RFC 4954 5: accepted and not trusted */
	} else {
		return "555 5.5.4 Unsupported MAIL parameter";
	}
	return NULL;
}

const char *smtp_parse_mail(const char *arg, size_t len, uint64_t max_size, struct smtp_mail_args *out)
{
	size_t pos, start, end;
	char key[32], val[256];
	const char *r;
	int more;
	memset(out, 0, sizeof(*out));
	if (skip_keyword(arg, len, "FROM:", &pos) == NULL || find_path(arg, len, &pos, &start, &end) < 0)
		return "501 5.5.4 Syntax: MAIL FROM:<address>";
	while ((more = next_param(arg, len, &pos, key, sizeof(key), val, sizeof(val))) > 0)
		if ((r = mail_param(out, key, val, max_size)) != NULL)
			return r;
	if (more < 0)
		return "501 5.5.4 Bad MAIL parameter syntax";
	if (end == start) {
		out->null_sender = 1;
		return NULL;
	}
	r = address_parse(arg + start, end - start, out->smtputf8 ? ADDR_UTF8 : 0, &out->addr);
	if (r == NULL)
		return NULL;
	if (strncmp(r, "5.1.3", 5) == 0)
		return "553 5.1.7 Bad sender address syntax";
	if (strncmp(r, "5.6.7", 5) == 0)
		return "553 5.6.7 Non-ASCII sender address needs SMTPUTF8";
	if (strncmp(r, "5.1.0", 5) == 0)
		return "553 5.1.7 Source routes are not accepted";
	return "553 5.1.7 Bad sender domain";
}

const char *smtp_parse_rcpt(const char *arg, size_t len, int smtputf8, struct address *out)
{
	size_t pos, start, end;
	char key[32], val[256];
	int more;
	if (skip_keyword(arg, len, "TO:", &pos) == NULL || find_path(arg, len, &pos, &start, &end) < 0)
		return "501 5.5.4 Syntax: RCPT TO:<address>";
	if ((more = next_param(arg, len, &pos, key, sizeof(key), val, sizeof(val))) != 0)
		return more < 0 ? "501 5.5.4 Bad RCPT parameter syntax" : "555 5.5.4 Unsupported RCPT parameter";
	const char *r = address_parse(arg + start, end - start, smtputf8 ? ADDR_UTF8 : 0, out);
	if (r == NULL) {
		if (out->literal)
			return "553 5.1.2 Address literals are not accepted as recipients";
		return NULL;
	}
	if (strncmp(r, "5.1.0", 5) == 0)
		return "553 5.1.0 Source routes are not accepted";
	if (strncmp(r, "5.6.7", 5) == 0)
		return "553 5.6.7 Non-ASCII recipient address needs SMTPUTF8";
	if (strncmp(r, "5.1.2", 5) == 0)
		return "553 5.1.2 Bad recipient domain";
	return "553 5.1.3 Bad recipient address syntax";
}

int smtp_rcpt_is_postmaster(const char *arg, size_t len)
{
	size_t pos, start, end;
	if (skip_keyword(arg, len, "TO:", &pos) == NULL || find_path(arg, len, &pos, &start, &end) < 0)
		return 0;
	return pos == len && end - start == 10 && strncasecmp(arg + start, "postmaster", 10) == 0;
}

const char *smtp_parse_helo(const char *arg, size_t len)
{
	if (len == 0)
		return "501 5.5.4 Syntax: EHLO hostname";
	if (len > 255)
		return "501 5.5.4 Hostname too long";
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)arg[i];
		if (c <= 32 || c >= 127)
			return "501 5.5.4 Bad hostname syntax";
	}
	return NULL;
}
