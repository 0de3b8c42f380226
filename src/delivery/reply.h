/*
 * reply: classification of what a receiving SMTP server (or the network)
 * said, decided where it happens, and the parsing of reply lines.
 * Contract: reply_parse_enhanced() finds an RFC 3463 code "c.s.d" at the
 * start of a reply's text; reply_classify() turns a reply (or a local
 * failure) into one outcome with an enhanced code that is never empty:
 * the reply's own, or one derived from the basic code (2.0.0, 4.0.0, 5.0.0).
 * reply_parse_line() and reply_parse_ehlo_line() take untrusted bytes (not
 * NUL-terminated) and never read past len.
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

/* Length of the enhanced code at the start of text ("5.1.1 "), or 0.
 * The length counts the one space after the code when there is one, so
 * text + length is the human-readable rest.  enh gets the code ("5.1.1");
 * it is left empty when there is none or it does not fit. */
size_t reply_parse_enhanced(const char *text, char *enh, size_t enhlen);
/* A reply from the server: code and its text (without the code). */
void reply_classify(int code, const char *text, struct reply_info *out);
/* A failure without a reply (connect refused, timeout, TLS, a local
 * refusal): temporary with a 4.x.x code such as "4.4.1"; a 5.x.x code
 * (e.g. "5.3.4" message too big for the remote host) makes it permanent.
 * A missing or malformed code becomes "4.0.0". */
void reply_local(const char *enh, const char *reason, struct reply_info *out);

/* One reply line without its CRLF: "250-text", "250 text" or "250".
 * Returns 0 with *code, *last (0 for "-", the continuation mark) and the
 * text after the separator, or -1 when it is not a reply line. */
int reply_parse_line(const char *line, size_t len, int *code, int *last,
		     const char **text, size_t *textlen);

/* What an EHLO reply offers (RFC 5321 4.1.1.1, one keyword per line). */
struct reply_ehlo {
	int starttls, pipelining, eightbitmime, smtputf8;
	int size_set;               /* SIZE given; size 0 means no fixed limit */
	unsigned long long size;
	int auth_plain, auth_login;
};

/* Adds what one EHLO line's text (after "250-"/"250 ") offers to e. */
void reply_parse_ehlo_line(const char *text, size_t len, struct reply_ehlo *e);

#endif
