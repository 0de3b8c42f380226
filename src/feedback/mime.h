/*
 * mime: a MIME walker for reports that come back to outpost (bounces,
 * delivery status notifications, feedback reports, auto-replies).
 *
 * Contract: mime_walk() takes any bytes (untrusted, possibly malformed,
 * CRLF or LF or CR lines, a leading mbox "From " line) and never reads
 * past them.  It flattens the entity tree into a list of parts in document
 * order: every entity gets one entry with its own header block (LF lines,
 * unfolded when read through mime_header()) and, for non-multipart
 * entities, its body decoded from base64 or quoted-printable.  A
 * message/rfc822 or text/rfc822-headers entity is listed and then walked
 * itself, its parts flagged in_message (the returned original, which is
 * never the report).  A multipart without a boundary or without any
 * delimiter line is treated as text/plain.  Nesting stops at
 * MIME_MAX_DEPTH and the list at MIME_MAX_PARTS (the rest of the input is
 * then ignored, never an error).  All memory is owned by the tree.
 */
#ifndef OUTPOST_FEEDBACK_MIME_H
#define OUTPOST_FEEDBACK_MIME_H
#include <stddef.h>

#define MIME_MAX_DEPTH 12
#define MIME_MAX_PARTS 256

struct mime_part {
	char type[96];      /* "type/subtype", lower case; "text/plain" by default */
	char *headers;      /* header block of the entity, LF lines, NUL-terminated */
	size_t hlen;
	char *body;         /* decoded body (NULL for a multipart), NUL-terminated */
	size_t blen;
	int depth;          /* 0 for the message itself */
	int in_message;     /* inside a returned message (message/rfc822, text/rfc822-headers) */
};

struct mime_tree {
	struct mime_part *part;
	size_t n, cap;
};

void mime_walk(const char *msg, size_t len, struct mime_tree *t);
void mime_tree_free(struct mime_tree *t);

/* The first field called name in a header block, unfolded (folding
 * whitespace turned into one space) and trimmed, into out (truncated to
 * outlen - 1).  Returns 1 when found, 0 otherwise (out then ""). */
int mime_header(const char *hdr, size_t hlen, const char *name, char *out, size_t outlen);
/* The parameter of a Content-Type-like value ("boundary", "report-type"),
 * quotes removed; 1 when found. */
int mime_param(const char *value, const char *name, char *out, size_t outlen);
/* Decoders: each appends its output to out (len bytes of in) and returns
 * the number of bytes written; out needs room for len + 1 bytes. */
size_t mime_decode_qp(const char *in, size_t len, char *out);
size_t mime_decode_base64(const char *in, size_t len, char *out);
/* RFC 2047 encoded words of a header value decoded to their raw bytes
 * (the charset is not converted), into out (truncated to outlen - 1). */
void mime_decode_words(const char *in, char *out, size_t outlen);

#endif
