/*
 * libFuzzer target: the DATA decoder.  Invariants checked on every input:
 * - it stops exactly after the first CRLF "." CRLF (a leading "." CRLF
 *   counts), and nowhere else: no input yields two messages;
 * - the result does not depend on how the input is split into reads
 *   (the first octet chooses the read size);
 * - an accepted message has only CRLF line ends, and dot-stuffing it
 *   again (as outpost's SMTP client sends it) decodes to the same octets,
 *   ending exactly at the end of the re-encoding.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "inbound/data_decoder.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t decode(const char *p, size_t len, size_t step, struct data_decoder *d)
{
	size_t used = 0;
	data_decoder_start(d, 1 << 20, 64);
	while (used < len && !d->done) {
		size_t n = len - used < step ? len - used : step;
		size_t u = data_decoder_feed(d, p + used, n);
		if (u > n || (u < n && !d->done))
			abort();
		used += u;
	}
	return used;
}

/* Where the first CRLF "." CRLF ends, counting a CRLF before the input. */
static size_t reference_end(const char *p, size_t len, int *found)
{
	static const char end[] = "\r\n.\r\n";
	for (size_t i = 0; i + 3 <= len; i++) {
		int start_ok = i == 0 ? 1 : (i >= 2 && p[i - 2] == '\r' && p[i - 1] == '\n');
		if (start_ok && memcmp(p + i, end + 2, 3) == 0) {
			*found = 1;
			return i + 3;
		}
	}
	*found = 0;
	return len;
}

/* Dot-stuffs CRLF lines and appends the end of data. */
static void encode(const char *p, size_t len, struct buf *out)
{
	int line_start = 1;
	for (size_t i = 0; i < len; i++) {
		if (line_start && p[i] == '.')
			buf_append(out, ".", 1);
		buf_append(out, p + i, 1);
		line_start = p[i] == '\n';
	}
	buf_append(out, ".\r\n", 3);
}

static void check_round_trip(const struct data_decoder *d)
{
	const char *o = d->out.data ? d->out.data : "";
	size_t n = d->out.len;
	for (size_t i = 0; i < n; i++)
		if ((o[i] == '\n' && (i == 0 || o[i - 1] != '\r')) || (o[i] == '\r' && (i + 1 == n || o[i + 1] != '\n')))
			abort();      /* a bare LF or CR in an accepted message */
	if (n && (n < 2 || o[n - 2] != '\r' || o[n - 1] != '\n'))
		abort();
	struct buf enc = BUF_INIT;
	struct data_decoder again;
	encode(o, n, &enc);
	size_t used = decode(enc.data, enc.len, enc.len, &again);
	if (!again.done || used != enc.len || again.err != DATA_OK || again.out.len != n ||
	    (n && memcmp(again.out.data, o, n) != 0))
		abort();
	data_decoder_free(&again);
	buf_free(&enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	size_t step = (size_t)data[0] % 16 + 1;
	const char *p = (const char *)data + 1;
	size_t len = size - 1;
	struct data_decoder whole, split;
	int found;
	size_t end = reference_end(p, len, &found);
	size_t u1 = decode(p, len, len ? len : 1, &whole);
	size_t u2 = decode(p, len, step, &split);
	if (u1 != end || u2 != end || whole.done != found || split.done != found || whole.err != split.err)
		abort();
	if (whole.err == DATA_OK && (whole.out.len != split.out.len ||
				     (whole.out.len && memcmp(whole.out.data, split.out.data, whole.out.len))))
		abort();
	if (found && whole.err == DATA_OK)
		check_round_trip(&whole);
	data_decoder_free(&whole);
	data_decoder_free(&split);
	return 0;
}
