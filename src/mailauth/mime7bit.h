/*
 * mime7bit: 8bit -> 7bit conversion of a message before it is DKIM-signed
 * (RFC 6376 5.3, RFC 6152 / RFC 2045), so that no later hop has to
 * re-encode it and break the signature.
 * Contract: takes a complete message (CRLF lines) as untrusted text with
 * its length and never reads past it.  Every leaf MIME entity whose body
 * holds 8-bit octets is re-encoded as quoted-printable (its
 * Content-Transfer-Encoding field replaced); each multipart is walked by its
 * boundary, message/rfc822 recursively; everything else is copied byte for
 * byte.  A message with no 8-bit octet in its body is left alone (returns
 * 0).  Header fields are never changed except Content-Transfer-Encoding
 * (and, for a top-level text body without MIME fields, MIME-Version and
 * Content-Type: text/plain; charset=utf-8 are added).  -1 with a reason
 * when the structure cannot be converted safely (8-bit octets in a
 * preamble or in the header of a part, nesting deeper than
 * MIME7BIT_MAX_DEPTH).
 */
#ifndef OUTPOST_MIME7BIT_H
#define OUTPOST_MIME7BIT_H
#include <stddef.h>

#include "buf.h"

#define MIME7BIT_MAX_DEPTH 16

/* 1 when the body (after the header block) holds an octet >= 0x80. */
int mime7bit_needed(const char *msg, size_t len);
/* 1: converted message appended to out; 0: nothing to convert (out
 * untouched); -1: reason in err. */
int mime7bit_convert(const char *msg, size_t len, struct buf *out, char *err, size_t errlen);
/* Appends data as quoted-printable (CRLF line breaks kept, lines <= 76). */
void mime7bit_qp_encode(const char *data, size_t len, struct buf *out);

#endif
