/*
 * libFuzzer target: dsn_build() with a fuzzed remote diagnostic, remote
 * host, recipient address and original message.  Whatever they hold, the
 * DSN is made of CRLF lines of at most 998 octets with no bare CR or LF,
 * no control character but tab and (the sender being ASCII) no 8-bit byte.
 * Input: diagnostic NUL host NUL address NUL message (missing pieces empty).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "delivery/dsn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The next NUL-terminated piece of data (a copy), advancing *pos. */
static char *piece(const uint8_t *data, size_t size, size_t *pos)
{
	size_t start = *pos, end = start;
	while (end < size && data[end] != 0)
		end++;
	char *s = malloc(end - start + 1);
	if (s == NULL)
		__builtin_trap();
	memcpy(s, data + start, end - start);
	s[end - start] = '\0';
	*pos = end < size ? end + 1 : end;
	return s;
}

static void check(const struct buf *b)
{
	size_t col = 0;
	for (size_t i = 0; i < b->len; i++) {
		unsigned char c = (unsigned char)b->data[i];
		if (c == '\r') {
			if (i + 1 >= b->len || b->data[i + 1] != '\n')
				__builtin_trap();   /* bare CR */
			i++;
			col = 0;
			continue;
		}
		if (c == '\n' || (c < 0x20 && c != '\t') || c >= 0x7f)
			__builtin_trap();           /* bare LF, control, 8-bit */
		if (++col > 998)
			__builtin_trap();
	}
	if (col != 0)
		__builtin_trap();                   /* the last line ends in CRLF */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t pos = 0;
	char *diag = piece(data, size, &pos);
	char *host = piece(data, size, &pos);
	char *addr = piece(data, size, &pos);
	struct dsn_rcpt r[2] = {
		{ addr, DSN_FAILED, diag, host[0] ? host : NULL, diag, 1795000000 },
		{ "bob@example.net", DSN_DELAYED, "4.4.1", NULL, diag, 0 },
	};
	struct dsn_info info = { "mail.example.com", diag, "alice@example.com", 1795000000,
				 (const char *)data + pos, size - pos, r, 2, 1795000000 };
	struct buf out = BUF_INIT;
	if (dsn_build(&info, &out) != 0)
		__builtin_trap();
	check(&out);
	buf_free(&out);
	free(diag);
	free(host);
	free(addr);
	return 0;
}
