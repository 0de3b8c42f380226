/*
 * mime7bit: a message made fit for 7-bit SMTP before it is DKIM-signed
 * (RFC 6376 5.3, RFC 5322 2.1.1, RFC 2045), so that no later hop has to
 * re-encode it and break the signature.
 * Contract: takes a complete message (CRLF lines) as untrusted text with
 * its length and never reads past it.  The MIME tree is walked (multipart
 * by boundary, message/rfc822 recursively, at most MIME7BIT_MAX_DEPTH
 * levels) and:
 * - every leaf whose body has a line over 998 octets, or (MIME7BIT_8BIT)
 *   an octet >= 0x80, is re-encoded: text as quoted-printable, anything
 *   else as base64; a body already in quoted-printable or base64 is decoded
 *   first and encoded again in the same encoding; its
 *   Content-Transfer-Encoding field is replaced (a top-level body also gets
 *   MIME-Version and, without Content-Type, text/plain with its charset);
 * - header lines over 998 octets are folded at whitespace; with
 *   MIME7BIT_8BIT, 8-bit header fields of MIME parts and attached messages
 *   are encoded (RFC 2047/2231, see mime_header.h) and a container's
 *   8bit/binary encoding becomes 7bit (the top-level header, which SMTPUTF8
 *   may carry, is never re-encoded);
 * - a missing empty line between header and body is added;
 * - a preamble or epilogue (which readers ignore) that would need
 *   re-encoding is dropped; so is the body of a multipart without a usable
 *   boundary or without any delimiter, which is all preamble.
 * Everything else is copied byte for byte.  Returns 1 with the new message
 * appended to out and what was done counted in rep; 0 when nothing needs
 * changing (out untouched); -1 with a reason (NUL octet, bare CR or LF,
 * nesting deeper than the cap, a header line that cannot be folded).
 */
#ifndef OUTPOST_MIME7BIT_H
#define OUTPOST_MIME7BIT_H
#include <stddef.h>

#include "buf.h"

#define MIME7BIT_MAX_DEPTH 50
#define MIME7BIT_8BIT 1          /* also convert 8-bit octets (else only long lines) */

struct mime7bit_report {
	unsigned qp, base64;         /* leaves re-encoded */
	unsigned headers_encoded, headers_folded;
	unsigned separator, dropped; /* empty line added; preambles/epilogues dropped */
	unsigned mime_version;       /* MIME-Version added */
};

/* 1 when the message may need converting: a line over 998 octets, no
 * empty line after the header, or (MIME7BIT_8BIT) an 8-bit octet in the
 * body.  Cheap; mime7bit_convert() decides exactly. */
int mime7bit_needed(const char *msg, size_t len, int flags);
int mime7bit_convert(const char *msg, size_t len, int flags, struct buf *out,
		     struct mime7bit_report *rep, char *err, size_t errlen);
/* "qp:1,base64:2,..." or "no" (what the log line says). */
void mime7bit_describe(const struct mime7bit_report *rep, char *out, size_t outlen);

#endif
