/*
 * data_decoder: DATA text to message, one octet state machine with a fast
 * path for runs of ordinary octets.  See data_decoder.h for the contract.
 */
#include <string.h>

#include "inbound/data_decoder.h"

void data_decoder_start(struct data_decoder *d, uint64_t max_size, size_t reserve)
{
	memset(d, 0, sizeof(*d));
	buf_init(&d->out);
	buf_reserve(&d->out, reserve);
	d->max_size = max_size;
	d->line_start = d->prev_crlf = 1;
}

void data_decoder_free(struct data_decoder *d)
{
	buf_free(&d->out);
}

const char *data_error_reply(enum data_error e)
{
	switch (e) {
	case DATA_BARE_LF_CR:
		return "550 5.6.0 Message refused: bare LF or bare CR; lines must end with CRLF";
	case DATA_TOO_BIG:
		return "552 5.3.4 Message size exceeds fixed maximum message size";
	case DATA_NUL:
		return "554 5.6.0 Message refused: message contains NUL octets";
	case DATA_OK:
		break;
	}
	return "451 4.3.0 Internal error";
}

/* The first error stands, except that smuggling is always what is reported. */
static void flag(struct data_decoder *d, enum data_error e)
{
	if (d->err == DATA_OK || e == DATA_BARE_LF_CR)
		d->err = e;
}

/* Appends n octets of the current line to the output, with the checks. */
static void emit(struct data_decoder *d, const char *p, size_t n)
{
	if (d->out.len + n > d->max_size)
		flag(d, DATA_TOO_BIG);
	if (d->err == DATA_OK)
		buf_append(&d->out, p, n);
}

static void end_line(struct data_decoder *d, int crlf)
{
	d->prev_crlf = crlf;
	d->line_start = 1;
	d->dot_only = 0;
}

/* One octet that may be special (CR, LF, NUL, a line's first "."). */
static void octet(struct data_decoder *d, char c)
{
	if (d->line_start) {
		d->line_start = 0;
		if (c == '.') {
			d->dot_only = 1;     /* dot-unstuffing */
			return;
		}
	}
	if (d->pending_cr) {
		d->pending_cr = 0;
		if (c == '\n') {
			if (d->dot_only && d->prev_crlf) {
				d->done = 1;     /* CRLF "." CRLF */
				return;
			}
			emit(d, "\r\n", 2);
			end_line(d, 1);
			return;
		}
		flag(d, DATA_BARE_LF_CR);
		emit(d, "\r", 1);
		d->dot_only = 0;         /* ".\r\r\n" is text, never the end */
	}
	if (c == '\r') {
		d->pending_cr = 1;
		return;
	}
	d->dot_only = 0;
	if (c == '\n') {
		flag(d, DATA_BARE_LF_CR);
		emit(d, "\n", 1);
		end_line(d, 0);
		return;
	}
	if (c == '\0')
		flag(d, DATA_NUL);
	emit(d, &c, 1);
}

/* An octet that changes nothing but the output in the middle of a line. */
static int ordinary(char c)
{
	return c != '\r' && c != '\n' && c != '\0';
}

size_t data_decoder_feed(struct data_decoder *d, const char *p, size_t len)
{
	size_t i = 0;
	while (i < len && !d->done) {
		if (!d->line_start && !d->pending_cr && ordinary(p[i])) {
			size_t run = i + 1;        /* fast path: the middle of a line */
			while (run < len && ordinary(p[run]))
				run++;
			d->dot_only = 0;
			emit(d, p + i, run - i);
			i = run;
			continue;
		}
		octet(d, p[i++]);
	}
	return i;
}
