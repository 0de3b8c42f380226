/*
 * tagval: the tag=value lists of mail-authentication TXT records (DMARC,
 * RFC 7489 6.4; MTA-STS, RFC 8461 3.1; TLS-RPT, RFC 8460 3), split one
 * tag at a time.
 * Contract: takes untrusted text with its length (any byte, NULs
 * included) and never reads past it.  A tag name is a letter or digit
 * followed by letters, digits, '_', '-' or '.'; a value is any printable
 * ASCII but ';', with inner spaces kept and outer ones trimmed.  Empty
 * elements (";;", a trailing ';') are skipped.  Anything else is an error
 * with the reason in err.  Nothing is allocated.
 */
#ifndef OUTPOST_TAGVAL_H
#define OUTPOST_TAGVAL_H
#include <stddef.h>

struct tagval {
	const char *tag;
	size_t taglen;
	const char *val;
	size_t vallen;
};

/* The tag at or after *pos: 1 (tv filled, *pos advanced), 0 at the end,
 * -1 on a syntax error. */
int tagval_next(const char *txt, size_t len, size_t *pos, struct tagval *tv,
		char *err, size_t errlen);
/* Calls fn(item, n, arg) for each sep-separated item of a value, with the
 * spaces and tabs around it trimmed (an empty value is one empty item);
 * returns the first negative result of fn, else 0. */
int tagval_each_item(const struct tagval *tv, char sep, int (*fn)(const char *item, size_t n, void *arg),
		     void *arg);
/* 1 when s[0..n) equals word, ignoring ASCII case. */
int tagval_is(const char *s, size_t n, const char *word);

#endif
