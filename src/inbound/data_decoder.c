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

#define OCTETS_01 0x0101010101010101ULL

/* Whether one of the eight octets of w is zero (exact, no false positive). */
static int has_zero_octet(uint64_t w)
{
	return ((w - OCTETS_01) & ~w & (OCTETS_01 * 0x80)) != 0;
}

/* The end of the ordinary octets from p[j]: eight at a time while none of
 * them is CR, LF or NUL, then one at a time. */
static size_t ordinary_end(const char *p, size_t j, size_t len)
{
	while (len - j >= 8) {
		uint64_t w;
		memcpy(&w, p + j, 8);
		if (has_zero_octet(w) || has_zero_octet(w ^ (OCTETS_01 * '\r')) ||
		    has_zero_octet(w ^ (OCTETS_01 * '\n')))
			break;
		j += 8;
	}
	while (j < len && ordinary(p[j]))
		j++;
	return j;
}

/* The end of the run of text from p[i] (the middle of a line) that needs no
 * octet-by-octet work: ordinary octets and CRLFs, each CRLF followed by an
 * ordinary octet other than "." (no dot-unstuffing, no end of data), or
 * ending the run.  *lines says whether the run holds a CRLF; *at_line_start
 * whether it ends just after one.  One pass over the text, one append per
 * run instead of two per line. */
static size_t clean_run(const char *p, size_t i, size_t len, int *lines, int *at_line_start)
{
	size_t j = i;
	*lines = *at_line_start = 0;
	for (;;) {
		j = ordinary_end(p, j, len);
		if (j + 1 >= len || p[j] != '\r' || p[j + 1] != '\n')
			return j;                  /* end of input, NUL, bare CR/LF: octet() */
		j += 2;
		*lines = 1;
		if (j == len || p[j] == '.' || !ordinary(p[j])) {
			*at_line_start = 1;
			return j;
		}
	}
}

size_t data_decoder_feed(struct data_decoder *d, const char *p, size_t len)
{
	size_t i = 0;
	while (i < len && !d->done) {
		if (!d->line_start && !d->pending_cr && ordinary(p[i])) {
			int lines, at_line_start;
			size_t run = clean_run(p, i, len, &lines, &at_line_start);
			emit(d, p + i, run - i);
			d->dot_only = 0;
			if (lines)
				d->prev_crlf = 1;
			d->line_start = at_line_start;
			i = run;
			continue;
		}
		octet(d, p[i++]);
	}
	return i;
}
