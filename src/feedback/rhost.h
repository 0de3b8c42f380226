/*
 * rhost: the reason some large receivers give by their own words or
 * codes (sisimai's "rhost" idea).  The provider is known by the
 * recipient's domain, the Remote-MTA that answered, or the Reporting-MTA
 * that wrote the report; its table (rhost_patterns.def) is consulted only
 * then.  Gmail's own reports ("Technical details of ... (state N)") are
 * read whatever the recipient.  Returns a static reason name, or NULL
 * when the provider is not known or its table does not decide.
 */
#ifndef OUTPOST_FEEDBACK_RHOST_H
#define OUTPOST_FEEDBACK_RHOST_H

struct rhost_in {
	const char *recipient;   /* "bob@example.net" */
	const char *rhost;       /* Remote-MTA host, or "" */
	const char *lhost;       /* Reporting-MTA host, or "" */
	const char *text;        /* the diagnostic */
	const char *status;      /* "5.0.0", or "" */
	const char *command;     /* "RCPT", "DATA", ... or "" */
};

const char *rhost_reason(const struct rhost_in *in);

#endif
