/* libFuzzer target: one SMTP command line through every command parser. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "inbound/smtp_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp_cmd c;
	struct smtp_mail_args m;
	struct address a;
	const char *line = (const char *)data;
	if (smtp_cmd_parse(line, size, &c) != NULL)
		return 0;
	switch (c.verb) {
	case SMTP_MAIL:
		smtp_parse_mail(c.arg, c.arglen, 1 << 20, &m);
		break;
	case SMTP_RCPT:
		smtp_parse_rcpt(c.arg, c.arglen, size & 1, &a);
		break;
	case SMTP_HELO:
	case SMTP_EHLO:
		smtp_parse_helo(c.arg, c.arglen);
		break;
	default:
		break;
	}
	return 0;
}
