/*
 * scan_verdict: rspamd's answer to POST /checkv2 (its JSON protocol), as
 * outpost acts on it.
 *
 * Contract: scan_verdict_parse() takes untrusted bytes (any length, not
 * NUL-terminated, possibly not JSON) and fills v, or returns -1 with a short
 * reason in err.  A reply without a known "action" string is an error, as
 * is a non-numeric "score" when present.  What it copies out is made safe
 * for log lines and SMTP replies: printable ASCII only (anything else
 * becomes '?'), cut to the field's size: symbols are the names of the
 * "symbols" object joined with ',' (as many as fit), message is
 * messages.smtp_message (or "").  No allocation survives the call.
 */
#ifndef OUTPOST_SCAN_VERDICT_H
#define OUTPOST_SCAN_VERDICT_H
#include <stddef.h>

enum scan_action { SCAN_NO_ACTION, SCAN_GREYLIST, SCAN_ADD_HEADER, SCAN_REWRITE_SUBJECT, SCAN_SOFT_REJECT,
		   SCAN_REJECT };

struct scan_verdict {
	enum scan_action action;
	char action_name[24];        /* rspamd's name: "no action", "add header", ... */
	double score, required;
	char symbols[512];
	char message[256];
};

int scan_verdict_parse(const char *data, size_t len, struct scan_verdict *v, char *err, size_t errlen);
/* The action's rspamd name ("soft reject"). */
const char *scan_action_name(enum scan_action a);

#endif
