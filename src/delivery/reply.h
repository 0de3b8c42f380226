/*
 * reply: classification of what a receiving SMTP server (or the network)
 * said, decided where it happens.
 * Contract: reply_parse_enhanced() finds an RFC 3463 code "c.s.d" at the
 * start of a reply's text; reply_classify() turns a reply (or a local
 * failure) into one outcome with an enhanced code that is never empty:
 * the reply's own, or one derived from the basic code (2.0.0, 4.0.0, 5.0.0).
 */
#ifndef OUTPOST_REPLY_H
#define OUTPOST_REPLY_H
#include <stddef.h>

enum reply_outcome { REPLY_OK, REPLY_TEMP, REPLY_PERM };

struct reply_info {
	enum reply_outcome outcome;
	int code;              /* 250, 451, 550...; 0 for a local/network failure */
	char enh[16];          /* "5.1.1" */
	int greylisted;        /* a 4xx that looks like greylisting: retry after 5 minutes */
	char text[512];        /* the reply text (all lines joined with " / "), or the local reason */
};

/* Length of the enhanced code at the start of text ("5.1.1 "), or 0. */
size_t reply_parse_enhanced(const char *text, char *enh, size_t enhlen);
/* A reply from the server: code and its text (without the code). */
void reply_classify(int code, const char *text, struct reply_info *out);
/* A failure without a reply (connect refused, timeout, TLS): temporary,
 * with the given enhanced code such as "4.4.1". */
void reply_local(const char *enh, const char *reason, struct reply_info *out);

#endif
