/*
 * classify: reasons, hard/soft and scope of a failed recipient (contract
 * in classify.h).  The text patterns are compiled in from
 * reason_patterns.def; the status-code table below follows RFC 3463 and
 * the registry of enhanced status codes as sisimai names them.
 */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/glob.h"
#include "feedback/classify.h"

struct pattern {
	const char *reason, *text;
};

static const struct pattern patterns[] = {
#define REASON_PATTERN(r, t) { #r, t },
#include "feedback/reason_patterns.def"
#undef REASON_PATTERN
};

/* The reason an enhanced status code names by itself (RFC 3463, RFC 7372,
 * RFC 7505), as sisimai reads them; codes not listed name none. */
static const struct {
	const char *code, *reason;
} status_names[] = {
	{ "4.1.6", "hasmoved" }, { "4.1.7", "rejected" }, { "4.1.8", "rejected" }, { "4.1.9", "systemerror" },
	{ "4.2.1", "blocked" }, { "4.2.2", "mailboxfull" }, { "4.2.3", "exceedlimit" }, { "4.2.4", "filtered" },
	{ "4.3.1", "systemfull" }, { "4.3.2", "notaccept" }, { "4.3.3", "systemerror" }, { "4.3.5", "systemerror" },
	{ "4.4.1", "expired" }, { "4.4.2", "networkerror" }, { "4.4.3", "systemerror" }, { "4.4.4", "networkerror" },
	{ "4.4.5", "systemfull" }, { "4.4.6", "networkerror" }, { "4.4.7", "expired" }, { "4.4.8", "networkerror" },
	{ "4.5.3", "systemerror" }, { "4.5.5", "systemerror" }, { "4.6.0", "contenterror" },
	{ "4.6.2", "contenterror" }, { "4.6.5", "contenterror" }, { "4.7.1", "blocked" }, { "4.7.2", "blocked" },
	{ "4.7.5", "securityerror" }, { "4.7.6", "securityerror" }, { "4.7.7", "securityerror" },
	{ "4.7.12", "securityerror" }, { "4.7.15", "securityerror" }, { "4.7.16", "mesgtoobig" },
	{ "4.7.24", "authfailure" }, { "4.7.25", "requireptr" }, { "4.7.26", "authfailure" },
	{ "5.1.0", "userunknown" }, { "5.1.1", "userunknown" }, { "5.1.2", "hostunknown" },
	{ "5.1.3", "userunknown" }, { "5.1.4", "filtered" }, { "5.1.6", "hasmoved" }, { "5.1.7", "rejected" },
	{ "5.1.8", "rejected" }, { "5.1.9", "systemerror" }, { "5.1.10", "notaccept" }, { "5.2.0", "filtered" },
	{ "5.2.1", "filtered" }, { "5.2.2", "mailboxfull" }, { "5.2.3", "exceedlimit" }, { "5.2.4", "filtered" },
	{ "5.3.0", "systemerror" }, { "5.3.1", "systemfull" }, { "5.3.2", "notaccept" }, { "5.3.3", "systemerror" },
	{ "5.3.4", "mesgtoobig" }, { "5.3.5", "systemerror" }, { "5.4.0", "networkerror" },
	{ "5.4.3", "systemerror" }, { "5.4.4", "hostunknown" }, { "5.5.2", "syntaxerror" },
	{ "5.5.3", "toomanyconn" }, { "5.5.4", "systemerror" }, { "5.5.5", "systemerror" },
	{ "5.5.6", "syntaxerror" }, { "5.6.0", "contenterror" }, { "5.6.1", "contenterror" },
	{ "5.6.2", "contenterror" }, { "5.6.3", "contenterror" }, { "5.6.5", "contenterror" },
	{ "5.6.6", "contenterror" }, { "5.6.7", "contenterror" }, { "5.6.8", "contenterror" },
	{ "5.6.9", "contenterror" }, { "5.7.0", "securityerror" }, { "5.7.1", "securityerror" },
	{ "5.7.2", "securityerror" }, { "5.7.3", "securityerror" }, { "5.7.4", "securityerror" },
	{ "5.7.5", "securityerror" }, { "5.7.6", "securityerror" }, { "5.7.7", "securityerror" },
	{ "5.7.8", "securityerror" }, { "5.7.9", "securityerror" }, { "5.7.10", "securityerror" },
	{ "5.7.11", "securityerror" }, { "5.7.13", "suspend" }, { "5.7.14", "securityerror" },
	{ "5.7.15", "securityerror" }, { "5.7.16", "mesgtoobig" }, { "5.7.17", "hasmoved" },
	{ "5.7.18", "hasmoved" }, { "5.7.19", "securityerror" }, { "5.7.20", "authfailure" },
	{ "5.7.21", "authfailure" }, { "5.7.22", "authfailure" }, { "5.7.23", "authfailure" },
	{ "5.7.24", "authfailure" }, { "5.7.25", "requireptr" }, { "5.7.26", "authfailure" },
	{ "5.7.27", "notaccept" }, { "5.7.28", "spamdetected" }, { "5.7.29", "authfailure" },
};

/* sisimai's pseudo status codes for reports that carry none ("5.0.9xx";
 * "4.0.9xx" when temporary). */
static const struct {
	const char *reason, *code;
} pseudo[] = {
	{ "undefined", "900" }, { "onhold", "901" }, { "syntaxerror", "902" }, { "suppressed", "903" },
	{ "norelaying", "909" }, { "filtered", "910" }, { "userunknown", "911" }, { "hostunknown", "912" },
	{ "hasmoved", "916" }, { "rejected", "918" }, { "suspend", "921" }, { "mailboxfull", "922" },
	{ "exceedlimit", "923" }, { "authfailure", "926" }, { "systemerror", "930" }, { "systemfull", "931" },
	{ "notaccept", "932" }, { "mesgtoobig", "934" }, { "mailererror", "939" }, { "networkerror", "944" },
	{ "toomanyconn", "945" }, { "speeding", "946" }, { "expired", "947" }, { "contenterror", "960" },
	{ "securityerror", "970" }, { "blocked", "971" }, { "policyviolation", "972" }, { "requireptr", "973" },
	{ "notcompliantrfc", "974" }, { "badreputation", "975" }, { "spamdetected", "980" },
	{ "virusdetected", "981" },
};

/* Do the '*'-separated pieces of pat occur in lower-cased text in order?
 * (A piece too long for glob_pieces_in matches nothing.) */
static int text_matches(const char *pat, const char *lower)
{
	return glob_pieces_in(pat, lower) > 0;
}

#define NPATTERNS (sizeof(patterns) / sizeof(patterns[0]))

/* The patterns grouped by reason, made once: a classification asks some
 * thirty reasons, and finding each one's patterns among all 500 by strcmp
 * was most of the scheduler's work for a deferred message. */
static struct {
	size_t order[NPATTERNS];      /* pattern indexes, by reason, each reason's in file order */
	struct {
		const char *reason;
		size_t first, n;      /* its run in order[] */
	} group[64];
	size_t ngroups;
} idx;
static pthread_once_t idx_once = PTHREAD_ONCE_INIT;

static void index_patterns(void)
{
	size_t o = 0;
	for (size_t i = 0; i < NPATTERNS; i++) {
		size_t g = 0;
		while (g < idx.ngroups && strcmp(idx.group[g].reason, patterns[i].reason) != 0)
			g++;
		if (g < idx.ngroups)
			continue;   /* its reason is indexed with its first pattern */
		if (idx.ngroups == sizeof(idx.group) / sizeof(idx.group[0]))
			abort();    /* more reasons in reason_patterns.def than sisimai has */
		idx.group[idx.ngroups].reason = patterns[i].reason;
		idx.group[idx.ngroups].first = o;
		for (size_t j = i; j < NPATTERNS; j++)
			if (strcmp(patterns[j].reason, patterns[i].reason) == 0)
				idx.order[o++] = j;
		idx.group[idx.ngroups].n = o - idx.group[idx.ngroups].first;
		idx.ngroups++;
	}
}

/* Does any pattern of reason match the lower-cased text? */
static int matches(const char *reason, const char *lower)
{
	if (lower == NULL || *lower == '\0')
		return 0;
	pthread_once(&idx_once, index_patterns);
	for (size_t g = 0; g < idx.ngroups; g++) {
		if (strcmp(idx.group[g].reason, reason) != 0)
			continue;
		for (size_t k = 0; k < idx.group[g].n; k++)
			if (text_matches(patterns[idx.order[idx.group[g].first + k]].text, lower))
				return 1;
		return 0;
	}
	return 0;
}

static const char *reason_by_status(const char *status)
{
	if (status == NULL || strlen(status) < 5 || (status[0] != '4' && status[0] != '5'))
		return "";
	for (size_t i = 0; i < sizeof(status_names) / sizeof(status_names[0]); i++)
		if (strcmp(status_names[i].code, status) == 0)
			return status_names[i].reason;
	return "";
}

const char *classify_status_reason(const char *status)
{
	return reason_by_status(status);
}

static int is_empty(const char *s)
{
	return s == NULL || *s == '\0';
}

struct facts {
	const char *byst;      /* the reason the status code names, or "" */
	const char *lower;     /* the diagnostic, lower case */
	const char *cmd;       /* the SMTP command, or "" */
	int temporary;         /* a 4.x.x status or 4xx reply */
	int reply_code;
};

static int is(const char *a, const char *b)
{
	return strcmp(a, b) == 0;
}

static int listed(const char *r, const char *const *list)
{
	for (int i = 0; list[i]; i++)
		if (strcmp(r, list[i]) == 0)
			return 1;
	return 0;
}

/* A user-unknown text is the recipient's only when the status says so
 * (and nothing more specific is said) or the RCPT command was refused;
 * after DATA it is the receiver's filter speaking. */
static int userunknown_true(const struct facts *f)
{
	if (is(f->cmd, "MAIL"))
		return 0;   /* refused at MAIL FROM: about the sender, whatever the code says */
	static const char *const other[] = { "norelaying", "blocked", "mailboxfull", "hasmoved", "rejected",
		"notaccept", NULL };
	/* Microsoft's "5.1.10 RESOLVER.ADR.RecipientNotFound": its own use of
	 * the null-MX code for a recipient it does not know */
	if (is(f->byst, "notaccept") && matches("userunknown", f->lower) && !matches("notaccept", f->lower))
		return 1;
	if (is(f->byst, "userunknown")) {
		for (int i = 0; other[i]; i++)
			if (matches(other[i], f->lower))
				return 0;
		return 1;
	}
	return is(f->cmd, "RCPT") && matches("userunknown", f->lower);
}

static int filtered_true(const struct facts *f)
{
	if (is(f->byst, "filtered"))
		return matches("userunknown", f->lower) || matches("filtered", f->lower);
	if (is(f->cmd, "RCPT") || is(f->cmd, "MAIL"))
		return 0;
	return matches("filtered", f->lower) || matches("userunknown", f->lower);
}

static int rejected_true(const struct facts *f)
{
	if (is(f->cmd, "CONN") || is(f->cmd, "EHLO") || is(f->cmd, "HELO"))
		return 0;   /* refused before any address was given: the client is blocked */
	if (is(f->byst, "rejected"))
		return 1;
	if (is(f->cmd, "MAIL"))
		return matches("rejected", f->lower);
	if (is(f->cmd, "DATA"))
		return !is(f->byst, "userunknown") && matches("rejected", f->lower);
	return is(f->byst, "") && matches("rejected", f->lower);
}

/* A status that says "no such domain" yields to words that say the lookup
 * itself failed, or that the domain takes no mail; and a temporary one
 * is never a hard "no such host". */
static int hostunknown_true(const struct facts *f)
{
	if (f->temporary || is(f->cmd, "MAIL"))
		return 0;   /* at MAIL FROM an unknown domain is the sender's: "rejected" */
	if (is(f->byst, "hostunknown"))
		return !matches("networkerror", f->lower) && !matches("notaccept", f->lower);
	return matches("hostunknown", f->lower);
}

/* Spam words count only for a reply to the message itself (DATA or an
 * unknown step), as sisimai's SpamDetected: before DATA nothing was read. */
static int spamdetected_true(const struct facts *f)
{
	static const char *const before_data[] = { "CONN", "EHLO", "HELO", "MAIL", "RCPT", NULL };
	if (is(f->byst, "spamdetected"))
		return 1;
	if (listed(f->cmd, before_data))
		return 0;
	return matches("spamdetected", f->lower);
}

static int reason_true(const char *reason, const struct facts *f)
{
	if (is(reason, "spamdetected"))
		return spamdetected_true(f);
	if (is(reason, "contenterror") && spamdetected_true(f))
		return 0;   /* "5.6.1 Message content rejected" by a spam filter */
	if (is(reason, "hostunknown"))
		return hostunknown_true(f);
	if (is(reason, "mesgtoobig") && is(f->byst, "exceedlimit"))
		return 0;
	if (is(reason, "userunknown"))
		return userunknown_true(f);
	if (is(reason, "filtered"))
		return filtered_true(f);
	if (is(reason, "rejected"))
		return rejected_true(f);
	return is(f->byst, reason) || matches(reason, f->lower);
}

/* sisimai's two passes: reasons whose words or status decide first; then,
 * when the status names nothing or something vague, words alone. */
static const char *const first_pass[] = { "mailboxfull", "mesgtoobig", "exceedlimit", "suspend", "hasmoved",
	"norelaying", "authfailure", "userunknown", "filtered", "requireptr", "notcompliantrfc", "badreputation",
	"contenterror", "rejected", "hostunknown", "spamdetected", "speeding", "toomanyconn", "blocked", NULL };
static const char *const words_pass[] = { "mailboxfull", "authfailure", "badreputation", "speeding",
	"spamdetected", "virusdetected", "policyviolation", "norelaying", "systemerror", "notaccept", "networkerror", "suspend",
	"contenterror", "systemfull", "expired", "securityerror", "mailererror", NULL };
/* Status names vague enough to let the words speak again. */
static const char *const vague[] = { "", "undefined", "onhold", "systemerror", "securityerror", "expired",
	"networkerror", "hostunknown", "userunknown", NULL };

static const char *in_list(const char *r, const char *const *list)
{
	for (int i = 0; list[i]; i++)
		if (is(r, list[i]))
			return list[i];
	return NULL;
}

static const char *second_look(const struct facts *f, const char *status)
{
	if (!in_list(f->byst, vague))
		return f->byst;
	for (int i = 0; words_pass[i]; i++)
		if (matches(words_pass[i], f->lower))
			return words_pass[i];
	if (!is(f->byst, ""))
		return f->byst;
	if (status && strlen(status) >= 3 && (strncmp(status + 1, ".6", 2) == 0))
		return "contenterror";
	if (status && strlen(status) >= 3 && (strncmp(status + 1, ".7", 2) == 0))
		return "securityerror";
	if (strstr(f->lower, "x-unix;"))
		return "mailererror";
	if (matches("syntaxerror", f->lower) || (f->reply_code >= 500 && f->reply_code <= 504))
		return "syntaxerror";
	return NULL;
}

const char *classify_reason(const struct classify_in *in)
{
	if (!is_empty(in->status) && in->status[0] == '2')
		return "delivered";
	if (is_empty(in->status) && in->reply_code >= 200 && in->reply_code < 300)
		return "delivered";
	char lower[4096];
	size_t o = 0;
	for (const char *p = in->text ? in->text : ""; *p && o + 1 < sizeof(lower); p++)
		lower[o++] = (char)tolower((unsigned char)*p);
	lower[o] = '\0';
	struct facts f = { reason_by_status(in->status), lower, in->command ? in->command : "",
			   (!is_empty(in->status) && in->status[0] == '4') || in->reply_code / 100 == 4,
			   in->reply_code };
	for (int i = 0; first_pass[i]; i++)
		if (reason_true(first_pass[i], &f))
			return first_pass[i];
	const char *r = second_look(&f, in->status);
	if (is(f.cmd, "MAIL") && (r == NULL || is(r, "userunknown") || is(r, "filtered") || is(r, "hostunknown")))
		return "rejected";
	if (r)
		return r;
	if (!is_empty(in->action) && (strncmp(in->action, "delayed", 7) == 0 || strncmp(in->action, "expired", 7) == 0))
		return "expired";
	if (is(f.cmd, "EHLO") || is(f.cmd, "HELO") || is(f.cmd, "CONN"))
		return "blocked";
	if (matches("vacation", lower))
		return "vacation";
	return o == 0 && in->reply_code == 0 ? "undefined" : "onhold";
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
	const char *code = "900";
	for (size_t i = 0; reason && i < sizeof(pseudo) / sizeof(pseudo[0]); i++)
		if (strcmp(pseudo[i].reason, reason) == 0)
			code = pseudo[i].code;
	if (temporary && reason && strcmp(reason, "filtered") == 0)
		code = "924";
	int n = snprintf(out, outlen, "%c.0.%s", temporary ? '4' : '5', code);
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

const char *classify_prefer_status(const char *field, const char *inmsg, int reply_code)
{
	if (is_empty(field))
		return inmsg ? inmsg : "";
	if (is_empty(inmsg) || strlen(inmsg) < 5 || strlen(field) < 5)
		return field;
	char rc = reply_code >= 200 && reply_code < 600 ? (char)('0' + reply_code / 100) : 0;
	if (rc && field[0] != inmsg[0]) {
		if (rc == field[0])
			return field;
		if (rc == inmsg[0])
			return inmsg;
	}
	if (strcmp(field, inmsg) == 0)
		return field;
	int field_zero = strstr(field, ".0.0") != NULL, msg_zero = strstr(inmsg, ".0.0") != NULL;
	if (field_zero)
		return msg_zero ? field : inmsg;
	if (strstr(field, ".0") && !strstr(inmsg, ".0"))
		return inmsg;     /* "X.Y.0" or "X.0.Z": the message is more specific */
	if (msg_zero)
		return field;
	if (strcmp(field, "4.4.7") == 0 || strcmp(field, "4.7.0") == 0 || strncmp(field, "5.3.", 4) == 0)
		return inmsg;     /* vague wrappers around the real reply */
	if (strncmp(field + 1, ".5.1", 4) == 0 || strncmp(field + 1, ".5.2", 4) == 0 ||
	    strncmp(field + 1, ".5.4", 4) == 0 || strncmp(field + 1, ".5.5", 4) == 0)
		return inmsg;
	if (strcmp(field, "5.1.1") == 0)
		return strstr(inmsg, ".0") || strncmp(inmsg, "5.5.", 4) == 0 ? field : inmsg;
	if (strcmp(field, "5.1.3") == 0 && strncmp(inmsg, "5.7.", 4) == 0)
		return inmsg;
	return field;
}

/* The enhanced code that starts at p, copied to out; its length or 0. */
static size_t status_at(const char *text, const char *p, char *out, size_t outlen)
{
	if ((*p != '2' && *p != '4' && *p != '5') || p[1] != '.' || !boundary_before(text, p))
		return 0;
	size_t a = digits(p + 2, 3);
	if (a == 0 || p[2 + a] != '.')
		return 0;
	size_t b = digits(p + 3 + a, 3);
	if (b == 0)
		return 0;
	const char *end = p + 3 + a + b;
	if ((*end == '.' && isdigit((unsigned char)end[1])) || isalnum((unsigned char)*end))
		return 0;   /* an IP address or a version number */
	size_t n = (size_t)(end - p);
	if (n >= outlen)
		return 0;
	memcpy(out, p, n);
	out[n] = '\0';
	return n;
}

/* The code of the reply itself ("550 5.7.1", "550-'5.7.1") wins over
 * codes elsewhere in the text (a DSN's "5.1.0 - Unknown address error"). */
int classify_find_status(const char *text, char *out, size_t outlen)
{
	if (text == NULL)
		return 0;
	for (const char *p = text; *p; p++) {
		if ((*p != '4' && *p != '5') || !isdigit((unsigned char)p[1]) || !isdigit((unsigned char)p[2]) ||
		    (p[3] != ' ' && p[3] != '-') || !boundary_before(text, p))
			continue;
		const char *q = p + 4;
		if (*q == '\'' || *q == '"')
			q++;
		if (*q == p[0] && status_at(text, q, out, outlen))
			return 1;
	}
	for (const char *p = text; *p; p++)
		if (status_at(text, p, out, outlen))
			return 1;
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
		if (p[3] != ' ' && p[3] != '-' && p[3] != '\0' && p[3] != '\n' && p[3] != ')' && p[3] != ':' &&
		    p[3] != ',')
			continue;
		if (p[3] == '-' && !isdigit((unsigned char)p[4]) && p[4] != ' ' && p[4] != '\'' && p[4] != '"')
			continue;
		if (p[0] == '2' && p != text)
			continue;   /* a 2xx in a failure report is a greeting or an earlier step, never the answer */
		if ((p[1] - '0') > 5)
			continue;   /* "599" is not a reply code that exists */
		return (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
	}
	return 0;
}

/* Where reports say which command was refused. */
static const struct {
	const char *words, *cmd;
} command_words[] = {
	{ "in reply to rcpt to", "RCPT" }, { "most progress was rcpt to", "RCPT" }, { "after rcpt command", "RCPT" }, { "after rcpt to", "RCPT" }, { ">>> rcpt to", "RCPT" }, { "smtp:rcpt host", "RCPT" },
	{ "did not like our rcpt to", "RCPT" }, { "does not like recipient", "RCPT" },
	{ "smtp command rcpt", "RCPT" }, { "rcpt to:<", "RCPT" }, { "rcpt to: <", "RCPT" },
	{ "in reply to mail from", "MAIL" }, { "after mail from", "MAIL" }, { ">>> mail from", "MAIL" },
	{ "did not like our mail from", "MAIL" }, { "smtp command mail", "MAIL" },
	{ "in reply to end of data", "DATA" }, { "after end of data", "DATA" }, { "in reply to data", "DATA" },
	{ ">>> data", "DATA" }, { "after data", "DATA" }, { "smtp command data", "DATA" },
	{ "did not like our data", "DATA" }, { "didn't like the message", "DATA" },
	{ "in reply to ehlo", "EHLO" }, { "in reply to helo", "HELO" }, { "after ehlo", "EHLO" },
	{ "after helo", "HELO" }, { "after initial connection", "CONN" }, { "refused to talk to me", "CONN" }, { "while connected to", "" },
};

int classify_find_command(const char *text, char *out, size_t outlen)
{
	char lower[4096];
	size_t o = 0;
	for (const char *p = text ? text : ""; *p && o + 1 < sizeof(lower); p++)
		lower[o++] = (char)tolower((unsigned char)*p);
	lower[o] = '\0';
	const char *best = NULL, *cmd = "";
	for (size_t i = 0; i < sizeof(command_words) / sizeof(command_words[0]); i++) {
		const char *hit = strstr(lower, command_words[i].words);
		if (hit && command_words[i].cmd[0] && (best == NULL || hit < best)) {
			best = hit;
			cmd = command_words[i].cmd;
		}
	}
	int n = snprintf(out, outlen, "%s", cmd);
	return best != NULL && n > 0 && (size_t)n < outlen;
}
