/*
 * mime_header: one header field made fit for 7-bit transport, for the
 * conversion before DKIM signing (mime7bit.c).
 * Contract: takes the whole field as untrusted text (name, colon, value,
 * folds, final CRLF; no bare CR or LF) and appends the field to out:
 * - with encode8 and octets >= 0x80 in the value, the value is rewritten in
 *   ASCII: RFC 2231 parameter values (name*=charset''%XX) in Content-Type
 *   and Content-Disposition, RFC 2047 encoded-words (B encoding) elsewhere
 *   (display names, comments and quoted strings of address fields, words
 *   of other fields), charset utf-8 when the octets are UTF-8 and
 *   unknown-8bit (RFC 1428) when not; the field is then folded at 78;
 * - any line over 998 octets is folded at whitespace (DKIM relaxed
 *   canonicalization unfolds, so folding never changes a signature).
 * Returns what it did (MIME_HDR_* bits, 0 when the field is copied as it
 * is), or -1 with a reason when a line over 998 octets has no whitespace
 * to fold at.
 */
#ifndef OUTPOST_MIME_HEADER_H
#define OUTPOST_MIME_HEADER_H
#include <stddef.h>

#include "buf.h"

#define MIME_HDR_FOLDED  1
#define MIME_HDR_ENCODED 2
#define MIME_LINE_MAX    998     /* RFC 5322 2.1.1, without the CRLF */

int mime_header_fix(const char *field, size_t n, int encode8, struct buf *out, char *err, size_t errlen);

#endif
