/*
 * classify: reasons, hard/soft and scope of a failed recipient (contract
 * in classify.h).  The text patterns are compiled in from
 * reason_patterns.def; the status-code table below follows RFC 3463 and
 * the registry of enhanced status codes as sisimai names them.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "feedback/classify.h"

struct pattern {
	const char *reason, *text;
};

static const struct pattern patterns[] = {
#define REASON_PATTERN(r, t) { #r, t },
#include "feedback/reason_patterns.def"
#undef REASON_PATTERN
};

/* Exact enhanced codes first, then "class.subject" prefixes ("5.1"). */
static const struct {
	const char *code, *reason;
} status_names[] = {
	{ "x.1.0", "rejected" }, { "x.1.1", "userunknown" }, { "x.1.2", "hostunknown" },
	{ "x.1.3", "userunknown" }, { "x.1.4", "userunknown" }, { "x.1.5", "userunknown" },
	{ "x.1.6", "hasmoved" }, { "x.1.7", "rejected" }, { "x.1.8", "rejected" },
	{ "x.1.9", "systemerror" }, { "x.1.10", "notaccept" },
	{ "4.2.1", "suspend" }, { "5.2.1", "filtered" }, { "x.2.0", "filtered" },
	{ "x.2.2", "mailboxfull" }, { "x.2.3", "exceedlimit" }, { "x.2.4", "systemerror" },
	{ "x.3.0", "systemerror" }, { "x.3.1", "systemfull" }, { "x.3.2", "notaccept" },
	{ "x.3.3", "systemerror" }, { "x.3.4", "mesgtoobig" }, { "x.3.5", "systemerror" },
	{ "x.4.0", "networkerror" }, { "x.4.1", "networkerror" }, { "x.4.2", "networkerror" },
	{ "x.4.3", "systemerror" }, { "x.4.4", "hostunknown" }, { "x.4.5", "networkerror" },
	{ "x.4.6", "networkerror" }, { "x.4.7", "expired" },
	{ "x.5.0", "syntaxerror" }, { "x.5.1", "syntaxerror" }, { "x.5.2", "syntaxerror" },
	{ "x.5.3", "toomanyconn" }, { "x.5.4", "syntaxerror" }, { "x.5.5", "syntaxerror" },
	{ "x.6.0", "contenterror" }, { "x.6.1", "contenterror" }, { "x.6.2", "contenterror" },
	{ "x.6.3", "contenterror" }, { "x.6.4", "contenterror" }, { "x.6.5", "contenterror" },
	{ "x.7.0", "securityerror" }, { "x.7.1", "securityerror" }, { "x.7.2", "securityerror" },
	{ "x.7.3", "securityerror" }, { "x.7.4", "securityerror" }, { "x.7.5", "securityerror" },
	{ "x.7.6", "securityerror" }, { "x.7.7", "securityerror" }, { "x.7.8", "securityerror" },
	{ "x.7.9", "policyviolation" }, { "x.7.13", "suspend" }, { "x.7.14", "securityerror" },
	{ "x.7.15", "securityerror" }, { "x.7.16", "securityerror" }, { "x.7.17", "suspend" },
	{ "x.7.18", "suspend" }, { "x.7.19", "securityerror" }, { "x.7.20", "authfailure" },
	{ "x.7.21", "authfailure" }, { "x.7.22", "authfailure" }, { "x.7.23", "authfailure" },
	{ "x.7.24", "authfailure" }, { "x.7.25", "requireptr" }, { "x.7.26", "authfailure" },
	{ "x.7.27", "notaccept" }, { "x.7.28", "speeding" }, { "x.7.509", "authfailure" },
	{ "x.7.606", "blocked" }, { "x.7.650", "badreputation" }, { "x.7.708", "badreputation" },
	{ "x.7.750", "blocked" }, { "x.7.511", "blocked" },
};

/* sisimai's pseudo status codes for reports that carry none. */
static const struct {
	const char *reason, *code;
} pseudo[] = {
	{ "undefined", "0.900" }, { "onhold", "0.901" }, { "syntaxerror", "0.902" },
	{ "filtered", "0.910" }, { "userunknown", "0.911" }, { "hostunknown", "0.912" },
	{ "hasmoved", "0.916" }, { "rejected", "0.918" }, { "norelaying", "0.950" },
	{ "suspend", "0.921" }, { "mailboxfull", "0.922" }, { "exceedlimit", "0.923" },
	{ "systemerror", "0.930" }, { "systemfull", "0.931" }, { "notaccept", "0.932" },
	{ "mesgtoobig", "0.934" }, { "mailererror", "0.939" }, { "networkerror", "0.944" },
	{ "expired", "0.947" }, { "contenterror", "0.960" }, { "securityerror", "0.970" },
	{ "blocked", "0.971" }, { "policyviolation", "0.972" }, { "requireptr", "0.973" },
	{ "authfailure", "0.974" }, { "badreputation", "0.975" }, { "speeding", "0.976" },
	{ "spamdetected", "0.980" }, { "virusdetected", "0.981" }, { "toomanyconn", "0.985" },
	{ "notcompliantrfc", "0.990" },
};

/* Do the '*'-separated pieces of pat occur in lower-cased text in order? */
static int text_matches(const char *pat, const char *lower)
{
	const char *at = lower;
	while (*pat) {
		size_t n = strcspn(pat, "*");
		char piece[128];
		if (n >= sizeof(piece))
			return 0;
		memcpy(piece, pat, n);
		piece[n] = '\0';
		const char *hit = strstr(at, piece);
		if (hit == NULL)
			return 0;
		at = hit + n;
		pat += n;
		if (*pat == '*')
			pat++;
	}
	return 1;
}

static const char *reason_by_text(const char *text)
{
	if (text == NULL || *text == '\0')
		return NULL;
	char lower[4096];
	size_t o = 0;
	for (const char *p = text; *p && o + 1 < sizeof(lower); p++)
		lower[o++] = (char)tolower((unsigned char)*p);
	lower[o] = '\0';
	for (size_t i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++)
		if (text_matches(patterns[i].text, lower))
			return patterns[i].reason;
	return NULL;
}

/* "x.1.1" against "5.1.1": x matches the class only. */
static int status_is(const char *pat, const char *status)
{
	if (pat[0] != 'x' && pat[0] != status[0])
		return 0;
	return strcmp(pat + 1, status + 1) == 0;
}

static const char *reason_by_status(const char *status)
{
	if (status == NULL || strlen(status) < 5 || (status[0] != '4' && status[0] != '5'))
		return NULL;
	for (size_t i = 0; i < sizeof(status_names) / sizeof(status_names[0]); i++)
		if (status_is(status_names[i].code, status))
			return status_names[i].reason;
	return NULL;
}

static int is_empty(const char *s)
{
	return s == NULL || *s == '\0';
}

const char *classify_reason(const struct classify_in *in)
{
	if (!is_empty(in->status) && in->status[0] == '2')
		return "delivered";
	if (is_empty(in->status) && in->reply_code >= 200 && in->reply_code < 300)
		return "delivered";
	const char *r = reason_by_text(in->text);
	if (r == NULL)
		r = reason_by_status(in->status);
	if (r == NULL && !is_empty(in->action) && strncmp(in->action, "delayed", 7) == 0)
		r = "expired";
	if (r == NULL && !is_empty(in->command) &&
	    (strcmp(in->command, "EHLO") == 0 || strcmp(in->command, "HELO") == 0 ||
	     strcmp(in->command, "CONN") == 0))
		r = "blocked";
	if (r == NULL && !is_empty(in->command) && strcmp(in->command, "MAIL") == 0)
		r = "rejected";
	if (r == NULL)
		r = is_empty(in->text) && in->reply_code == 0 ? "undefined" : "onhold";
	return r;
}

int classify_is_hard(const char *reason, const char *status, int reply_code)
{
	if (reason == NULL)
		return 0;
	if (strcmp(reason, "userunknown") == 0 || strcmp(reason, "hostunknown") == 0 ||
	    strcmp(reason, "hasmoved") == 0)
		return 1;
	if (strcmp(reason, "notaccept") == 0)
		return (!is_empty(status) && status[0] == '5') || (reply_code >= 500 && reply_code < 600);
	return 0;
}

const char *classify_scope(const char *reason)
{
	static const char *const recipient[] = { "userunknown", "hostunknown", "hasmoved", "notaccept",
		"mailboxfull", "suspend", "filtered", "feedback", NULL };
	static const char *const route[] = { "blocked", "badreputation", "spamdetected", "requireptr",
		"toomanyconn", "speeding", "authfailure", "norelaying", NULL };
	static const char *const message[] = { "contenterror", "mesgtoobig", "virusdetected",
		"policyviolation", "notcompliantrfc", "exceedlimit", NULL };
	if (reason == NULL)
		return "none";
	for (int i = 0; recipient[i]; i++)
		if (strcmp(reason, recipient[i]) == 0)
			return "recipient";
	for (int i = 0; route[i]; i++)
		if (strcmp(reason, route[i]) == 0)
			return "route";
	for (int i = 0; message[i]; i++)
		if (strcmp(reason, message[i]) == 0)
			return "message";
	return "none";
}

const char *classify_pseudo_status(const char *reason, int temporary, char *out, size_t outlen)
{
	const char *code = "0.900";
	for (size_t i = 0; reason && i < sizeof(pseudo) / sizeof(pseudo[0]); i++)
		if (strcmp(pseudo[i].reason, reason) == 0)
			code = pseudo[i].code;
	int n = snprintf(out, outlen, "%c.%s", temporary ? '4' : '5', code);
	if (n < 0 || (size_t)n >= outlen)
		out[0] = '\0';
	return out;
}

static int boundary_before(const char *text, const char *p)
{
	return p == text || !(isalnum((unsigned char)p[-1]) || p[-1] == '.' || p[-1] == '-' || p[-1] == '/');
}

/* Digits of one component at p (1 to maxd); returns how many, 0 if none. */
static size_t digits(const char *p, size_t maxd)
{
	size_t n = 0;
	while (isdigit((unsigned char)p[n]))
		n++;
	return n >= 1 && n <= maxd ? n : 0;
}

int classify_find_status(const char *text, char *out, size_t outlen)
{
	if (text == NULL)
		return 0;
	for (const char *p = text; *p; p++) {
		if ((*p != '2' && *p != '4' && *p != '5') || p[1] != '.' || !boundary_before(text, p))
			continue;
		size_t a = digits(p + 2, 3);
		if (a == 0 || p[2 + a] != '.')
			continue;
		size_t b = digits(p + 3 + a, 3);
		if (b == 0)
			continue;
		const char *end = p + 3 + a + b;
		if (*end == '.' && isdigit((unsigned char)end[1]))
			continue;   /* an IP address or a version number */
		if (isalnum((unsigned char)*end))
			continue;
		size_t n = (size_t)(end - p);
		if (n >= outlen)
			return 0;
		memcpy(out, p, n);
		out[n] = '\0';
		return 1;
	}
	return 0;
}

int classify_find_reply_code(const char *text)
{
	if (text == NULL)
		return 0;
	for (const char *p = text; *p; p++) {
		if ((*p != '2' && *p != '4' && *p != '5') || !isdigit((unsigned char)p[1]) ||
		    !isdigit((unsigned char)p[2]))
			continue;
		if (p != text && p[-1] != ' ' && p[-1] != '#' && p[-1] != ':' && p[-1] != '(' &&
		    p[-1] != '<' && p[-1] != '\t' && p[-1] != '\n' && p[-1] != '[' && p[-1] != '"')
			continue;
		if (p[3] != ' ' && p[3] != '-' && p[3] != '\0' && p[3] != '\n' && p[3] != ')')
			continue;
		if (p[3] == '-' && !isdigit((unsigned char)p[4]) && p[4] != ' ')
			continue;
		if ((p[1] - '0') > 5)
			continue;   /* "599" is not a reply code that exists */
		return (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
	}
	return 0;
}
