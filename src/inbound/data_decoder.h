/*
 * data_decoder: the SMTP DATA text decoder, the code that stops SMTP
 * smuggling (RFC 5321 4.1.1.4 and 4.5.2).
 *
 * Contract:
 * - The message ends at CRLF "." CRLF only (or "." CRLF as the very first
 *   line): data_decoder_feed() consumes input up to and including that
 *   end and not one octet past it, however the input is split into
 *   calls, so what follows is read as commands.  No other sequence ends
 *   the message, so no input yields two messages.
 * - A leading "." of every line is removed (dot-unstuffing); the output
 *   keeps each line's CRLF and leaves out the final "." CRLF.
 * - Every check is made here, in data_check_octets() and data_decoder_feed():
 *   a bare LF or a bare CR anywhere (DATA_BARE_LF_CR, the smuggling case,
 *   reported over any other error), more than max_size octets of output
 *   (DATA_TOO_BIG), a NUL octet (DATA_NUL).  A line over 1000 octets is
 *   not an error: the cleanup stage re-encodes it (mailauth/mime7bit.h),
 *   and the size cap bounds it.
 *   After the first error the rest of the message is only scanned for its
 *   end (output stops growing): the message is refused as a whole, with
 *   data_error_reply(), never cut into a different message.
 */
#ifndef OUTPOST_DATA_DECODER_H
#define OUTPOST_DATA_DECODER_H
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

enum data_error { DATA_OK, DATA_BARE_LF_CR, DATA_TOO_BIG, DATA_NUL };

struct data_decoder {
	struct buf out;          /* the decoded message (while err == DATA_OK) */
	uint64_t max_size;
	enum data_error err;
	int done;                /* the end of data has been consumed */
	int line_start;          /* the next octet starts a line */
	int prev_crlf;           /* the last line ended with CRLF (or none yet) */
	int dot_only;            /* the line so far is its removed leading "." */
	int pending_cr;          /* a CR was read; the next octet decides what it is */
};

/* Starts a message; reserve is a size hint for the output buffer. */
void data_decoder_start(struct data_decoder *d, uint64_t max_size, size_t reserve);
/* Decodes up to len octets of p; returns how many were consumed: len, or
 * fewer once the end of data was reached (d->done). */
size_t data_decoder_feed(struct data_decoder *d, const char *p, size_t len);
void data_decoder_free(struct data_decoder *d);
/* The complete SMTP reply refusing a message with error e (not DATA_OK). */
const char *data_error_reply(enum data_error e);

#endif
