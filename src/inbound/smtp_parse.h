/*
 * smtp_parse: the SMTP server's parsers of client input.
 * Contract: every function takes one command line without its CRLF, never
 * reads past len, and returns NULL on success or the complete reply to
 * send ("501 5.5.4 ..."), a static string, decided here where the fault is
 * found.  Nothing here keeps state between calls.
 */
#ifndef OUTPOST_SMTP_PARSE_H
#define OUTPOST_SMTP_PARSE_H
#include <stddef.h>
#include <stdint.h>

#include "core/address.h"

#define SMTP_CMD_LINE_MAX 512     /* RFC 5321 4.5.3.1.4, including CRLF */
#define SMTP_TEXT_LINE_MAX 1000   /* RFC 5321 4.5.3.1.6, including CRLF */

enum smtp_verb {
	SMTP_UNKNOWN, SMTP_HELO, SMTP_EHLO, SMTP_MAIL, SMTP_RCPT, SMTP_DATA, SMTP_RSET,
	SMTP_NOOP, SMTP_VRFY, SMTP_EXPN, SMTP_HELP, SMTP_QUIT, SMTP_STARTTLS, SMTP_AUTH,
	SMTP_BDAT,
};

struct smtp_cmd {
	enum smtp_verb verb;
	const char *arg;      /* points into the line: after the verb and spaces; "" if none */
	size_t arglen;
};

struct smtp_mail_args {
	struct address addr;
	int null_sender;      /* MAIL FROM:<> */
	uint64_t size;        /* SIZE= value, 0 when not given */
	int body_8bit;        /* BODY=8BITMIME */
	int smtputf8;
};

/* Splits a command line into verb and argument. */
const char *smtp_cmd_parse(const char *line, size_t len, struct smtp_cmd *out);
/* MAIL argument "FROM:<path> [params]".  max_size 0: no SIZE limit. */
const char *smtp_parse_mail(const char *arg, size_t len, uint64_t max_size, struct smtp_mail_args *out);
/* RCPT argument "TO:<path> [params]"; smtputf8 from the MAIL command. */
const char *smtp_parse_rcpt(const char *arg, size_t len, int smtputf8, struct address *out);
/* 1 when the RCPT argument is "TO:<postmaster>" (no domain, any case, no
 * parameters): RFC 5321 4.5.1 requires accepting it. */
int smtp_rcpt_is_postmaster(const char *arg, size_t len);
/* HELO/EHLO argument: a domain or address literal. */
const char *smtp_parse_helo(const char *arg, size_t len);

#endif
