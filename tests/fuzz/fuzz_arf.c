/*
 * libFuzzer target: the message/feedback-report (RFC 5965) field parser,
 * directly and as the second part of a multipart/report whose third part
 * is the same bytes as the returned message; every complaint found names
 * an address and has reason "feedback".
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/buf.h"
#include "feedback/bounce.h"
#include "feedback/bounce_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct raw_list raw = { 0 };
	char type[32] = "", from[320] = "";
	arf_fields_parse((const char *)data, size, &raw, type, sizeof(type), from, sizeof(from));
	raw_free(&raw);
	struct buf b = BUF_INIT;
	buf_puts(&b, "Content-Type: multipart/report; report-type=feedback-report; boundary=f\n\n"
		 "--f\nContent-Type: message/feedback-report\n\n");
	buf_append(&b, data, size);
	buf_puts(&b, "\n--f\nContent-Type: message/rfc822\n\n");
	buf_append(&b, data, size);
	buf_puts(&b, "\n--f--\n");
	struct bounce_report r;
	bounce_parse(b.data, b.len, &r);
	if (r.kind != BOUNCE_ARF)
		__builtin_trap();
	for (size_t i = 0; i < r.nrcpt; i++)
		if (strcmp(r.rcpt[i].reason, "feedback") != 0 || strchr(r.rcpt[i].recipient, '@') == NULL)
			__builtin_trap();
	bounce_report_free(&r);
	buf_free(&b);
	return 0;
}
