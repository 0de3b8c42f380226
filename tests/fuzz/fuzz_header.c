/* libFuzzer target: header iteration, lookup and address-list extraction. */
#include <stddef.h>
#include <stdint.h>

#include "core/header.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void sink(const char *addr, void *arg)
{
	(*(size_t *)arg) += addr[0] != '\0';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *m = (const char *)data;
	struct header_field f;
	size_t pos = 0, n = 0;
	while (header_next(m, size, &pos, &f)) {
		if (f.end > size || f.value + f.valuelen > m + size)
			__builtin_trap();
		header_addresses(f.value, f.valuelen, sink, &n);
	}
	header_find(m, size, "Message-ID", &f);
	if (header_block_end(m, size) > size)
		__builtin_trap();
	return 0;
}
