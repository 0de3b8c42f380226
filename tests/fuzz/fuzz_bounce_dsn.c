/*
 * libFuzzer target: the message/delivery-status field parser, fed the
 * input as the body of that part of a multipart/report (so folded fields,
 * groups without empty lines, fields before Final-Recipient, and garbage
 * lines all reach it), then the whole report classified.
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
	char qid[64] = "";
	dsn_fields_parse((const char *)data, size, &raw, qid, sizeof(qid));
	for (size_t i = 0; i < raw.n; i++)
		if (strchr(raw.r[i].addr, '@') == NULL || qid[sizeof(qid) - 1] != '\0')
			__builtin_trap();
	raw_free(&raw);
	struct buf b = BUF_INIT;
	buf_puts(&b, "From: MAILER-DAEMON@example.net\r\nContent-Type: multipart/report; boundary=b\r\n\r\n"
		 "--b\r\nContent-Type: message/delivery-status\r\n\r\n");
	buf_append(&b, data, size);
	buf_puts(&b, "\r\n--b--\r\n");
	struct bounce_report r;
	bounce_parse(b.data, b.len, &r);
	bounce_report_free(&r);
	buf_free(&b);
	return 0;
}
