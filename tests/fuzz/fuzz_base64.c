/* libFuzzer target: core/base64.  Invariants: decoding never reads past
 * the input or writes past its buffer; whatever decodes re-encodes to
 * text that decodes to the same octets; any octets encode to text that
 * decodes back to them exactly, and nothing else is accepted by the
 * strict decoder (only the alphabet and final padding). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/base64.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_round_trip(const uint8_t *p, size_t n)
{
	char *enc = base64_encode_alloc(p, n);
	size_t el = strlen(enc), room = base64_decoded_max(el) + 1;
	unsigned char *dec = malloc(room);
	if (el != base64_encoded_len(n) || base64_decode(enc, el, dec, room) != (long)n ||
	    memcmp(dec, p, n) != 0)
		abort();
	free(dec);
	free(enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* decode into a buffer of exactly the size the contract says is enough */
	size_t room = base64_decoded_max(size) + 1;
	unsigned char *dec = malloc(room);
	long n = base64_decode((const char *)data, size, dec, room);
	if (n >= 0) {
		if (size % 4 != 0 || (size_t)n > base64_decoded_max(size))
			abort();
		for (size_t i = 0; i < size; i++)
			if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=", data[i]) ||
			    data[i] == '\0')
				abort();
		check_round_trip(dec, (size_t)n);
	}
	free(dec);
	check_round_trip(data, size);
	return 0;
}
