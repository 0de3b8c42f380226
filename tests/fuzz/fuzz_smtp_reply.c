/* libFuzzer target: SMTP reply lines as the client reads them (reply code,
 * continuation, enhanced status code, classification, EHLO keywords). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "delivery/reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reply_ehlo e;
	struct reply_info ri;
	char enh[16];
	memset(&e, 0, sizeof(e));
	/* Line by line, as the client splits the input at LF. */
	const char *p = (const char *)data, *end = p + size;
	while (p < end) {
		const char *lf = memchr(p, '\n', (size_t)(end - p));
		size_t len = lf ? (size_t)(lf - p) : (size_t)(end - p);
		int code, last;
		const char *text;
		size_t tl;
		if (reply_parse_line(p, len, &code, &last, &text, &tl) == 0) {
			reply_parse_ehlo_line(text, tl, &e);
			char *s = malloc(tl + 1);   /* classify takes a C string */
			memcpy(s, text, tl);
			s[tl] = '\0';
			reply_parse_enhanced(s, enh, sizeof(enh));
			reply_classify(code, s, &ri);
			reply_local(s, s, &ri);
			free(s);
		}
		p += len + 1;
	}
	return 0;
}
