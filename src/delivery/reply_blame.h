/*
 * reply_blame: whom a received SMTP reply (or a local delivery failure)
 * blames, so that route health and back-off can tell a blocked or
 * throttled path from an ordinary answer about one recipient.
 *
 * Contract: reply_blame() looks at the reply code (0 for a local failure,
 * as smtp_client reports them), the enhanced code ("5.1.1", or "" / NULL)
 * and the text, and returns the blame of the first pattern of
 * reply_patterns.def that matches, BLAME_NONE when none does.  Enhanced
 * codes that blame the recipient or the message win over any text.  A 2xx
 * blames nobody.  Pure: no state, no allocation, any input is safe (the
 * text is read up to its NUL only).
 */
#ifndef OUTPOST_REPLY_BLAME_H
#define OUTPOST_REPLY_BLAME_H

struct reply_info;

enum blame {
	BLAME_NONE,              /* an ordinary answer: count it as the path working */
	BLAME_RECIPIENT,         /* the recipient or the message: never a reason to fail over */
	BLAME_SENDER_REPUTATION, /* our IP or domain is blocked or distrusted by the receiver */
	BLAME_THROTTLE,          /* the receiver wants us to slow down */
	BLAME_AUTH,              /* the path refuses us: AUTH failed or relaying denied */
	BLAME_TLS,               /* TLS could not be set up as the route requires */
};

/* The blame; *where (when where is not NULL) gets "reply_patterns.def:LINE"
 * of the pattern that decided, or "" for BLAME_NONE without a pattern. */
enum blame reply_blame(int code, const char *enh, const char *text, const char **where);
/* The same for a classified reply (reply.h). */
enum blame reply_blame_info(const struct reply_info *r, const char **where);
/* "none", "recipient", "sender_reputation", "throttle", "auth", "tls". */
const char *blame_name(enum blame b);

#endif
