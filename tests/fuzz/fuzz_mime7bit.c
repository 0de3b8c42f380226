/* libFuzzer target: 8bit -> quoted-printable conversion of a fuzzed
 * message.  What it produces must hold no 8-bit octet in its body. */
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "mailauth/mime7bit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf out = BUF_INIT;
	char err[256];
	int rc = mime7bit_convert((const char *)data, size, &out, err, sizeof(err));
	if (rc == 1 && mime7bit_needed(out.data, out.len))
		__builtin_trap();
	if (rc != 1 && out.len != 0)
		__builtin_trap();
	buf_free(&out);
	return 0;
}
