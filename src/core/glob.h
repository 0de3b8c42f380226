/*
 * glob: shell patterns (fnmatch(3): * ? [...] and \ escapes) compiled once
 * and matched many times, as routing rules are for every recipient.
 * Contract: glob_compile() refuses a malformed pattern (an unterminated
 * bracket expression, a trailing backslash) with the reason in err;
 * otherwise it keeps the pattern lowercased (ASCII) when casefold is set,
 * so the subject must be lowercased the same way (glob_lower) before
 * glob_match().  The shapes "literal", "*", "*suffix" and "prefix*" are
 * matched with memcmp, everything else with fnmatch(); "*" and "?" match
 * any byte, '.' and '/' included.  Nothing here allocates except compile.
 */
#ifndef OUTPOST_GLOB_H
#define OUTPOST_GLOB_H
#include <stddef.h>

enum glob_kind { GLOB_LITERAL, GLOB_ANY, GLOB_SUFFIX, GLOB_PREFIX, GLOB_FNMATCH };

struct glob {
	char *text;           /* as written, for messages */
	char *pat;            /* lowercased if casefold; the fixed part for SUFFIX/PREFIX */
	size_t len;           /* of pat */
	enum glob_kind kind;
};

/* 0, or -1 with the reason in err. */
int glob_compile(const char *pattern, int casefold, struct glob *g, char *err, size_t errlen);
void glob_free(struct glob *g);
/* 1 when s (len octets, NUL-terminated) matches g. */
int glob_match(const struct glob *g, const char *s, size_t len);
/* ASCII-lowercases s into out (outlen > 0); the length, or -1 when it does not fit. */
long glob_lower(const char *s, char *out, size_t outlen);
/* The reply and bounce classifiers' patterns, matched against a text
 * anywhere in it: 1 when the '*'-separated pieces of pat occur in lower
 * in this order, 0 when not.  Each piece is ASCII-lowercased as it is
 * compared; lower must be lowercased already (glob_lower), once for all
 * the patterns tried on it.  -1 when a piece is longer than
 * GLOB_PIECE_MAX (a pattern table's error). */
#define GLOB_PIECE_MAX 127
int glob_pieces_in(const char *pat, const char *lower);

#endif
