/*
 * classify: why a recipient failed, in sisimai's vocabulary (userunknown,
 * mailboxfull, filtered, blocked, expired, hostunknown, spamdetected,
 * policyviolation, requireptr, norelaying, authfailure, badreputation,
 * toomanyconn, suspend, hasmoved, vacation, feedback, ...), whether that
 * is a hard bounce, and what the outcome acts on.
 *
 * Contract: pure functions of their arguments (no state, no allocation);
 * every string argument may be NULL or "" and any bytes are safe.  The
 * reason comes from, in order: a 2.x.x status (delivered); the diagnostic
 * text against reason_patterns.def (first match wins); the enhanced status
 * code; the SMTP reply code together with the command it answered; the
 * DSN action (delayed: expired); "onhold" when there is a diagnostic that
 * says nothing known, "undefined" when there is nothing at all.  Returned
 * strings are static.
 */
#ifndef OUTPOST_FEEDBACK_CLASSIFY_H
#define OUTPOST_FEEDBACK_CLASSIFY_H
#include <stddef.h>

struct classify_in {
	const char *status;    /* "5.1.1", or "" */
	int reply_code;        /* 550, or 0 */
	const char *text;      /* the diagnostic (a reply, or the report's words) */
	const char *action;    /* DSN Action: "failed", "delayed", ... or "" */
	const char *command;   /* the SMTP command answered ("RCPT", "DATA", "EHLO"...) or "" */
};

const char *classify_reason(const struct classify_in *in);
/* sisimai's rule: hard only for userunknown, hostunknown, hasmoved, and
 * notaccept with a 5.x.x status (or 5xx reply). */
int classify_is_hard(const char *reason, const char *status, int reply_code);
/* "recipient", "route", "message" or "none". */
const char *classify_scope(const char *reason);
/* sisimai's pseudo status for a reason when a report gives none
 * ("5.0.911" for userunknown...), temporary (4.0.9xx) when soft is set. */
const char *classify_pseudo_status(const char *reason, int temporary, char *out, size_t outlen);

/* The first enhanced status code ("5.1.1", class 2, 4 or 5) in text, with
 * word boundaries, into out; 1 when found. */
int classify_find_status(const char *text, char *out, size_t outlen);
/* Which status to believe when the Status: field and the text of the
 * reply disagree: the one whose class agrees with the reply code, else
 * the more specific one (a field of "X.0.0", "X.Y.0", or a wrapper such as
 * 4.4.7 "delivery time expired" yields to the reply's own code).  Returns
 * one of its arguments. */
const char *classify_prefer_status(const char *field, const char *inmsg, int reply_code);
/* The first SMTP reply code (2xx, 4xx or 5xx) that starts a reply in text:
 * at the start, after a space, '#', ':', '(' or '<<<', followed by a space,
 * '-' or the end.  0 when none. */
int classify_find_reply_code(const char *text);

/* The SMTP command a report says was refused ("RCPT", "MAIL", "DATA",
 * "EHLO", "HELO", "CONN" for the greeting), the first one named; 1 when
 * found, else 0 and out "". */
int classify_find_command(const char *text, char *out, size_t outlen);

/* The reason an enhanced status code names by itself ("5.1.1" ->
 * "userunknown"), or "" when it names none. */
const char *classify_status_reason(const char *status);

#endif
