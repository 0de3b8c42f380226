/* libFuzzer target: the 7-bit conversion before signing (mime7bit) and its
 * codecs.  Invariants: a converted message needs nothing more (no line over
 * 998 octets, a header/body separator, and with MIME7BIT_8BIT no 8-bit
 * octet after the top-level header); converting it again changes nothing;
 * a refusal leaves out empty; quoted-printable and base64 decode back to
 * exactly what was encoded, in 7-bit lines of at most 76 octets. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "mailauth/mime7bit.h"
#include "mailauth/mime_codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_lines(const struct buf *b)
{
	size_t s = 0;
	for (size_t i = 0; i < b->len; i++) {
		if ((unsigned char)b->data[i] >= 0x80)
			__builtin_trap();
		if (b->data[i] == '\n') {
			if (i - s > 77)
				__builtin_trap();
			s = i + 1;
		}
	}
	if (b->len - s > 76)
		__builtin_trap();
}

static void round_trip(const char *d, size_t n)
{
	struct buf enc = BUF_INIT, dec = BUF_INIT;
	mime_qp_encode(d, n, &enc);
	check_lines(&enc);
	mime_qp_decode(enc.data ? enc.data : "", enc.len, &dec);
	if (dec.len != n || (n && memcmp(dec.data, d, n) != 0))
		__builtin_trap();
	buf_reset(&enc);
	buf_reset(&dec);
	mime_base64_lines(d, n, &enc);
	check_lines(&enc);
	mime_base64_decode(enc.data ? enc.data : "", enc.len, &dec);
	if (dec.len != n || (n && memcmp(dec.data, d, n) != 0))
		__builtin_trap();
	buf_free(&enc);
	buf_free(&dec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf out = BUF_INIT, again = BUF_INIT;
	struct mime7bit_report rep;
	char err[256];
	if (size == 0)
		return 0;
	int flags = data[0] & 1 ? MIME7BIT_8BIT : 0;
	const char *msg = (const char *)data + 1;
	size_t len = size - 1;

	int rc = mime7bit_convert(msg, len, flags, &out, &rep, err, sizeof(err));
	if (rc != 1 && out.len != 0)
		__builtin_trap();
	if (rc == 1) {
		if (mime7bit_needed(out.data, out.len, flags))
			__builtin_trap();
		if (mime7bit_convert(out.data, out.len, flags, &again, &rep, err, sizeof(err)) != 0)
			__builtin_trap();
	}
	round_trip(msg, len);
	buf_free(&out);
	buf_free(&again);
	return 0;
}
