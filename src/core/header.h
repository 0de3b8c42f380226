/*
 * header: RFC 5322 header fields of a message held in memory (CRLF lines).
 * Contract: all functions take untrusted text with its length, never read
 * past it, and do not allocate except header_addresses' callback copies.
 * A header block ends at the first empty line; a message with no empty
 * line is all header.  A line that is neither a field ("name:") nor a
 * continuation (starting with space or tab) ends the header block too.
 */
#ifndef OUTPOST_HEADER_H
#define OUTPOST_HEADER_H
#include <stddef.h>

struct header_field {
	const char *name;     /* not NUL-terminated */
	size_t namelen;
	const char *value;    /* after the colon, folded lines included, final CRLF excluded */
	size_t valuelen;
	size_t start, end;    /* offsets of the whole field, end past its CRLF */
};

/* Next field at *pos; returns 1 and moves *pos past it, 0 at the end. */
int header_next(const char *msg, size_t len, size_t *pos, struct header_field *f);
/* First field with that name (case-insensitive); 1 when found. */
int header_find(const char *msg, size_t len, const char *name, struct header_field *f);
/* Offset where the body starts (past the empty line), or len. */
size_t header_block_end(const char *msg, size_t len);

/* Calls fn(addr, arg) for each addr-spec in an address-list value
 * (display names, comments, groups and quoted strings understood).
 * Returns the number found, or -1 when the value is malformed. */
int header_addresses(const char *value, size_t len, void (*fn)(const char *addr, void *arg), void *arg);

/* The domain of the first From: field's first address (header block
 * only), lower-cased and without a final dot: 1, or 0 and out "" when
 * there is none, it is not a valid domain (an address literal is not one)
 * or it is longer than outlen.  The routing rules and the DKIM signer
 * both decide by it. */
int header_from_domain(const char *msg, size_t len, char *out, size_t outlen);

#endif
