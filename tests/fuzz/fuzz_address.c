/* libFuzzer target: the RFC 5321 mailbox parser, with and without SMTPUTF8. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/address.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct address a;
	char out[ADDR_LOCAL_MAX + ADDR_DOMAIN_MAX + 2];
	for (unsigned flags = 0; flags <= ADDR_UTF8; flags++) {
		if (address_parse((const char *)data, size, flags, &a) == NULL) {
			if (strlen(a.local) > ADDR_LOCAL_MAX || strlen(a.domain) > ADDR_DOMAIN_MAX)
				__builtin_trap();
			address_format(&a, out, sizeof(out));
		}
	}
	return 0;
}
