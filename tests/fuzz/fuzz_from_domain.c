/* libFuzzer target: the From: domain of a message (header_from_domain). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/header.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char out[256], small[8];
	int r = header_from_domain((const char *)data, size, out, sizeof(out));
	if ((r == 1) != (out[0] != '\0') || strlen(out) >= sizeof(out) || strchr(out, '@'))
		__builtin_trap();
	for (const char *p = out; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			__builtin_trap();  /* domains come out lowercased */
	r = header_from_domain((const char *)data, size, small, sizeof(small));
	if (r == 1 ? strlen(small) >= sizeof(small) : small[0] != '\0')
		__builtin_trap();
	return 0;
}
