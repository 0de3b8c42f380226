/*
 * rhost: provider-specific readings of a failed recipient (contract in
 * rhost.h).  Host suffixes, phrases and error codes come from
 * rhost_patterns.def; NTT docomo's and Orange/La Poste's rules that need
 * more than a phrase are below.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "feedback/classify.h"
#include "feedback/rhost.h"

static const struct {
	const char *provider, *suffix;
} hosts[] = {
#define RHOST_HOST(p, s) { #p, s },
#include "feedback/rhost_patterns.def"
};

static const struct {
	const char *provider, *reason, *text;
} phrases[] = {
#define RHOST_PHRASE(p, r, t) { #p, #r, t },
#include "feedback/rhost_patterns.def"
};

static const struct {
	const char *provider, *code, *reason;
} codes[] = {
#define RHOST_CODE(p, c, r) { #p, c, #r },
#include "feedback/rhost_patterns.def"
};

static const struct {
	const char *provider, *label;
	int first, last;
	const char *reason;
} ranges[] = {
#define RHOST_RANGE(p, l, a, b, r) { #p, l, a, b, #r },
#include "feedback/rhost_patterns.def"
};

/* Does host end with suffix (".example.net"), or is it the suffix's own
 * domain ("example.net")? */
static int host_under(const char *host, const char *suffix)
{
	size_t h = strlen(host), s = strlen(suffix);
	if (h == 0)
		return 0;
	if (h >= s && strcasecmp(host + h - s, suffix) == 0)
		return 1;
	return suffix[0] == '.' && strcasecmp(host, suffix + 1) == 0;
}

/* The provider whose hosts the recipient's domain, the Remote-MTA or the
 * Reporting-MTA belong to, in that order (as sisimai looks). */
static const char *provider_of(const struct rhost_in *in)
{
	const char *at = in->recipient ? strrchr(in->recipient, '@') : NULL;
	const char *where[3] = { at ? at + 1 : "", in->rhost ? in->rhost : "", in->lhost ? in->lhost : "" };
	for (int w = 0; w < 3; w++)
		for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++)
			if (host_under(where[w], hosts[i].suffix))
				return hosts[i].provider;
	return NULL;
}

/* Orange / La Poste end their replies with a label and a code ("OFR_506",
 * "LPN007_416", "OUK_513"): the last three digits of the word after the
 * last label name the reason. */
static const char *code_reason(const char *provider, const char *lower)
{
	static const char *const labels[] = { "lpn", "ofr", "ouk", NULL };
	for (int l = 0; labels[l]; l++) {
		const char *hit = NULL;
		for (const char *p = strstr(lower, labels[l]); p; p = strstr(p + 1, labels[l]))
			hit = p;
		if (hit == NULL)
			continue;
		const char *w = hit + strlen(labels[l]);
		size_t n = 0;
		while (isalnum((unsigned char)w[n]) || w[n] == '_' || w[n] == '-')
			n++;
		if (n < 3 || !isdigit((unsigned char)w[n - 1]) || !isdigit((unsigned char)w[n - 2]) ||
		    !isdigit((unsigned char)w[n - 3]))
			continue;
		for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
			if (strcmp(codes[i].provider, provider) == 0 && strncmp(w + n - 3, codes[i].code, 3) == 0)
				return codes[i].reason;
	}
	return NULL;
}

/* A four-digit code after the provider's label ("AUP#In-1310"): the
 * first four digits that follow it in a row. */
static const char *range_reason(const char *provider, const char *lower)
{
	for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
		if (strcmp(ranges[i].provider, provider) != 0)
			continue;
		const char *p = strstr(lower, ranges[i].label);
		if (p == NULL)
			continue;
		p += strlen(ranges[i].label);
		while (*p && !(isdigit((unsigned char)p[0]) && isdigit((unsigned char)p[1]) &&
			       isdigit((unsigned char)p[2]) && isdigit((unsigned char)p[3])) && !isspace((unsigned char)*p))
			p++;
		if (!isdigit((unsigned char)*p) || isdigit((unsigned char)p[4]))
			continue;
		int code = (p[0] - '0') * 1000 + (p[1] - '0') * 100 + (p[2] - '0') * 10 + (p[3] - '0');
		if (code >= ranges[i].first && code <= ranges[i].last)
			return ranges[i].reason;
	}
	return NULL;
}

/* NTT docomo answers "550 Unknown user" both at RCPT (the user is unknown)
 * and at end of DATA (its filter refused the sender): the status and the
 * command tell them apart. */
static const char *docomo_reason(const struct rhost_in *in, const char *lower)
{
	const char *st = in->status ? in->status : "", *cmd = in->command ? in->command : "";
	if (strcmp(st, "5.1.1") == 0 || strcmp(st, "5.0.911") == 0)
		return "userunknown";
	if (strcmp(st, "5.2.0") == 0)
		return "filtered";
	if (strcmp(st, "5.0.0") != 0)
		return strstr(lower, "550 unknown user") ? "userunknown" : NULL;
	if (strcmp(cmd, "RCPT") == 0)
		return "userunknown";
	return strcmp(cmd, "DATA") == 0 ? "rejected" : NULL;
}

/* Gmail's own reports end the remote reply with "(state N)", the step
 * of its SMTP client that failed (as sisimai's Gmail module reads them);
 * a specific status code in the reply still wins over the state. */
static const char *gmail_state_reason(const char *text)
{
	static const struct {
		int state;
		const char *reason;
	} states[] = {
		{ 6, "systemerror" }, { 8, "systemerror" }, { 9, "systemerror" }, { 12, "norelaying" },
		{ 13, "blocked" }, { 14, "userunknown" }, { 15, "filtered" }, { 17, "filtered" }, { 18, "filtered" },
	};
	if (strstr(text, "Technical details of") == NULL)
		return NULL;
	const char *p = NULL;
	for (const char *q = strstr(text, "(state "); q; q = strstr(q + 1, "(state "))
		p = q;
	if (p == NULL || !isdigit((unsigned char)p[7]))
		return NULL;
	int n = 0;
	for (p += 7; isdigit((unsigned char)*p) && n < 1000; p++)
		n = n * 10 + (*p - '0');
	if (*p != ')')
		return NULL;
	for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++)
		if (states[i].state == n)
			return states[i].reason;
	return NULL;
}

const char *rhost_reason(const struct rhost_in *in)
{
	const char *state = in->text ? gmail_state_reason(in->text) : NULL;
	if (state) {
		const char *st = in->status ? in->status : "";
		const char *named = classify_status_reason(st);
		return named[0] && strstr(st, ".0") == NULL ? named : state;
	}
	const char *provider = provider_of(in);
	if (provider == NULL || in->text == NULL || in->text[0] == '\0')
		return NULL;
	char lower[4096];
	size_t o = 0;
	for (const char *p = in->text; *p && o + 1 < sizeof(lower); p++)
		lower[o++] = (char)tolower((unsigned char)*p);
	lower[o] = '\0';
	for (size_t i = 0; i < sizeof(phrases) / sizeof(phrases[0]); i++)
		if (strcmp(phrases[i].provider, provider) == 0 && strstr(lower, phrases[i].text))
			return phrases[i].reason;
	if (strcmp(provider, "nttdocomo") == 0)
		return docomo_reason(in, lower);
	const char *r = range_reason(provider, lower);
	return r ? r : code_reason(provider, lower);
}
