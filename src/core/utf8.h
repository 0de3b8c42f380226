/*
 * utf8: validation of UTF-8 from outside (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF).
 * Contract: utf8_next() looks at the sequence starting at p (left octets
 * available, left >= 1) and returns its length (1 for ASCII), or 0 when it
 * is not valid UTF-8; the code point goes to *cp unless cp is NULL.
 */
#ifndef OUTPOST_UTF8_H
#define OUTPOST_UTF8_H
#include <stddef.h>
#include <stdint.h>

size_t utf8_next(const unsigned char *p, size_t left, uint32_t *cp);

#endif
