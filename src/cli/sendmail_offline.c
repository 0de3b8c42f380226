/*
 * sendmail_offline: `sendmail -bs` while outpostd is down (see
 * sendmail_int.h).  A small SMTP server on stdin/stdout: EHLO/HELO, MAIL,
 * RCPT, DATA, RSET, NOOP, QUIT; every command line and the message text go
 * through the daemon's own parsers, so what is kept here is what outpostd
 * would have accepted, and the caller (Symfony Mailer, for one) gets a
 * "250" only once the message is in the maildrop.  A bare recipient
 * "postmaster" goes to admin_address (or postmaster@hostname).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/sendmail_int.h"
#include "core/address.h"
#include "core/config.h"
#include "core/xmalloc.h"
#include "inbound/data_decoder.h"
#include "inbound/smtp_parse.h"

#define MAX_RCPTS 1000

struct offline {
	const struct config *cf;
	const char *why;
	int have_mail;
	char sender[ADDR_LOCAL_MAX + ADDR_DOMAIN_MAX + 2];
	char **rcpts;
	size_t nrcpts;
};

static void reply(const char *text)
{
	fputs(text, stdout);
	fflush(stdout);
}

/* A reply from the parsers: complete, but without its CRLF. */
static void reply_line(const char *text)
{
	printf("%s\r\n", text);
	fflush(stdout);
}

static void reset(struct offline *s)
{
	for (size_t i = 0; i < s->nrcpts; i++)
		free(s->rcpts[i]);
	free(s->rcpts);
	s->rcpts = NULL;
	s->nrcpts = 0;
	s->have_mail = 0;
}

static void on_mail(struct offline *s, const struct smtp_cmd *c)
{
	struct smtp_mail_args m;
	const char *err;
	if (s->have_mail)
		return reply("503 5.5.1 Nested MAIL command\r\n");
	if ((err = smtp_parse_mail(c->arg, c->arglen, s->cf->inbound.max_message_size, &m)) != NULL)
		return reply_line(err);
	s->sender[0] = '\0';
	if (!m.null_sender && address_format(&m.addr, s->sender, sizeof(s->sender)) < 0)
		return reply("553 5.1.7 Sender address too long\r\n");
	s->have_mail = 1;
	reply("250 2.1.0 Ok\r\n");
}

static void on_rcpt(struct offline *s, const struct smtp_cmd *c)
{
	struct address a;
	char addr[ADDR_LOCAL_MAX + ADDR_DOMAIN_MAX + 2];
	const char *err;
	if (!s->have_mail)
		return reply("503 5.5.1 MAIL first\r\n");
	if (s->nrcpts == MAX_RCPTS)
		return reply("452 4.5.3 Too many recipients\r\n");
	if (smtp_rcpt_is_postmaster(c->arg, c->arglen))
		snprintf(addr, sizeof(addr), "%s", s->cf->admin_address ? s->cf->admin_address : "postmaster");
	else if ((err = smtp_parse_rcpt(c->arg, c->arglen, 1, &a)) != NULL)
		return reply_line(err);
	else if (address_format(&a, addr, sizeof(addr)) < 0)
		return reply("553 5.1.3 Recipient address too long\r\n");
	s->rcpts = xreallocarray(s->rcpts, s->nrcpts + 1, sizeof(char *));
	s->rcpts[s->nrcpts++] = strchr(addr, '@') ? xstrdup(addr) : xasprintf("%s@%s", addr, s->cf->hostname);
	reply("250 2.1.5 Ok\r\n");
}

/* DATA: the text up to CRLF.CRLF through the decoder; 0 at end of input. */
static int on_data(struct offline *s)
{
	struct data_decoder d;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n = 0;
	if (s->nrcpts == 0) {
		reply("554 5.5.1 No valid recipients\r\n");
		return 1;
	}
	reply("354 End data with <CR><LF>.<CR><LF>\r\n");
	data_decoder_start(&d, s->cf->inbound.max_message_size, 8192);
	while (!d.done && (n = getline(&line, &cap, stdin)) > 0)
		data_decoder_feed(&d, line, (size_t)n);
	free(line);
	if (d.done && d.err != DATA_OK)
		reply_line(data_error_reply(d.err));
	else if (d.done && sendmail_drop(s->cf, s->sender, s->rcpts, s->nrcpts, &d.out, s->why) == 0)
		reply("250 2.0.0 Ok: kept in the maildrop, outpostd queues it when it runs\r\n");
	else if (d.done)
		reply("451 4.3.0 Cannot keep the message: outpostd is down and the maildrop is not writable\r\n");
	data_decoder_free(&d);
	reset(s);
	return d.done;
}

/* One command line (CRLF removed); 0 when the session ends. */
static int on_command(struct offline *s, const char *line, size_t len)
{
	struct smtp_cmd c;
	const char *err = smtp_cmd_parse(line, len, &c);
	if (err)
		return reply_line(err), 1;
	switch (c.verb) {
	case SMTP_EHLO:
		reset(s);
		printf("250-%s\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250-ENHANCEDSTATUSCODES\r\n"
		       "250 SIZE %llu\r\n", s->cf->hostname, (unsigned long long)s->cf->inbound.max_message_size);
		fflush(stdout);
		return 1;
	case SMTP_HELO: reset(s); printf("250 %s\r\n", s->cf->hostname); fflush(stdout); return 1;
	case SMTP_MAIL: on_mail(s, &c); return 1;
	case SMTP_RCPT: on_rcpt(s, &c); return 1;
	case SMTP_DATA: return on_data(s);
	case SMTP_RSET: reset(s); reply("250 2.0.0 Ok\r\n"); return 1;
	case SMTP_NOOP: reply("250 2.0.0 Ok\r\n"); return 1;
	case SMTP_VRFY: reply("252 2.1.5 Cannot VRFY user\r\n"); return 1;
	case SMTP_QUIT: reply("221 2.0.0 Bye\r\n"); return 0;
	default: reply("502 5.5.1 Command not implemented\r\n"); return 1;
	}
}

int sendmail_offline_smtp(const struct config *cf, const char *why)
{
	struct offline s = { .cf = cf, .why = why };
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	printf("220 %s ESMTP outpost (outpostd is not running: mail is kept for it)\r\n", cf->hostname);
	fflush(stdout);
	while ((n = getline(&line, &cap, stdin)) > 0) {
		size_t len = (size_t)n;
		if (len && line[len - 1] == '\n')
			len--;
		if (len && line[len - 1] == '\r')
			len--;
		if (len > SMTP_CMD_LINE_MAX - 2) {
			reply("500 5.5.2 Line too long\r\n");
			continue;
		}
		if (!on_command(&s, line, len))
			break;
	}
	free(line);
	reset(&s);
	return 0;
}
