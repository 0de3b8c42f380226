/*
 * libFuzzer target: mime_walk() on any bytes (multipart nesting, missing
 * or bogus boundaries, base64 and quoted-printable bodies, encoded
 * words).  Whatever they hold, the walk ends within its caps, every part
 * has a type with a '/', NUL-terminated header and body copies of the
 * lengths it says, and nothing is read out of bounds (ASan).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "feedback/mime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mime_tree t;
	mime_walk((const char *)data, size, &t);
	if (t.n == 0 || t.n > MIME_MAX_PARTS)
		__builtin_trap();
	for (size_t i = 0; i < t.n; i++) {
		const struct mime_part *p = &t.part[i];
		if (strchr(p->type, '/') == NULL || p->headers[p->hlen] != '\0' || p->depth > MIME_MAX_DEPTH + 1)
			__builtin_trap();
		if (p->body && p->body[p->blen] != '\0')
			__builtin_trap();
	}
	char out[256];
	mime_header(t.part[0].headers, t.part[0].hlen, "Subject", out, sizeof(out));
	mime_decode_words(out, out + 128, 128);
	mime_tree_free(&t);
	return 0;
}
