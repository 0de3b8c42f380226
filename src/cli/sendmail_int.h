/*
 * sendmail_int: what sendmail.c shares with sendmail_offline.c.
 * sendmail_drop() keeps one message in the maildrop (directly or through
 * outpost-postdrop) and returns 0, or prints why not (after "why", the
 * reason the daemon could not take it) and returns 75.
 * sendmail_offline_smtp() serves `sendmail -bs` when outpostd cannot be
 * reached: SMTP on stdin/stdout, each accepted message kept with
 * sendmail_drop(); the commands and the message text go through the SMTP
 * server's own parsers (inbound/smtp_parse.h, inbound/data_decoder.h).
 */
#ifndef OUTPOST_SENDMAIL_INT_H
#define OUTPOST_SENDMAIL_INT_H
#include <stddef.h>

#include "core/buf.h"

struct config;

int sendmail_drop(const struct config *cf, const char *sender, char *const *rcpts, size_t n,
		  const struct buf *msg, const char *why);
int sendmail_offline_smtp(const struct config *cf, const char *why);

#endif
