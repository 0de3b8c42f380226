/*
 * mime_codec: the two MIME content transfer encodings (RFC 2045 6.7
 * quoted-printable, 6.8 base64) both ways, for the 7-bit conversion
 * (mime7bit.c) and RFC 2047 encoded-words (mime_header.c).
 * Contract: every function takes untrusted octets with their length, never
 * reads past them and appends to out.  Encoders produce 7-bit lines of at
 * most 76 octets; decoders are lenient as RFC 2045 asks (base64 skips octets
 * outside its alphabet, a quoted-printable "=" that starts no escape is kept
 * as it is), so decode(encode(x)) == x for every x.
 */
#ifndef OUTPOST_MIME_CODEC_H
#define OUTPOST_MIME_CODEC_H
#include <stddef.h>

#include "buf.h"

/* CRLF in data is a hard line break (kept); other octets are literal or
 * "=XX"; soft breaks keep lines at 76; a "-" that would start a line is
 * written =2D, so no output line can look like a MIME boundary delimiter. */
void mime_qp_encode(const char *data, size_t len, struct buf *out);
void mime_qp_decode(const char *data, size_t len, struct buf *out);
/* Lines of 76 separated by CRLF, no CRLF after the last one. */
void mime_base64_lines(const char *data, size_t len, struct buf *out);
/* One unbroken base64 string (for encoded-words). */
void mime_base64(const unsigned char *data, size_t len, struct buf *out);
void mime_base64_decode(const char *data, size_t len, struct buf *out);

#endif
