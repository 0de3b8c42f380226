/*
 * libFuzzer target: scan_verdict_parse() on arbitrary bytes as rspamd's
 * /checkv2 reply.  Whatever they hold, it returns 0 or -1 without reading
 * out of bounds, and on success the action is a known one whose name is
 * action_name, and symbols and message are NUL-terminated printable ASCII.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "inbound/scan_verdict.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_printable(const char *s, size_t size)
{
	size_t n = strnlen(s, size);
	if (n == size)
		__builtin_trap();
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] >= 0x7f)
			__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct scan_verdict v;
	char err[128];
	if (scan_verdict_parse((const char *)data, size, &v, err, sizeof(err)) < 0) {
		check_printable(err, sizeof(err));
		return 0;
	}
	if ((unsigned)v.action > SCAN_REJECT || strcmp(v.action_name, scan_action_name(v.action)) != 0)
		__builtin_trap();
	check_printable(v.symbols, sizeof(v.symbols));
	check_printable(v.message, sizeof(v.message));
	return 0;
}
