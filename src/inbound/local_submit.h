/*
 * local_submit: hands one message to outpostd over its local socket, as
 * a blocking SMTP client.  Used by `outpost sendmail` and by the daemon's
 * maildrop pickup (which runs on its own thread, so the loop serving the
 * socket is free to answer).
 * Contract: local_submit() returns SUBMIT_QUEUED only after the daemon
 * answered the message's final "250"; SUBMIT_UNREACHABLE when the socket
 * could not be connected (daemon down, or the caller may not reach it);
 * SUBMIT_TEMPFAIL on a 4xx or a lost connection; SUBMIT_REFUSED on a 5xx.
 * reply gets the daemon's last reply line or the reason.  Recipients must
 * be whole addresses (no bare names) without control characters; the
 * message is CRLF text, not dot-stuffed (done here).
 */
#ifndef OUTPOST_LOCAL_SUBMIT_H
#define OUTPOST_LOCAL_SUBMIT_H
#include <stddef.h>

#include "core/buf.h"

enum submit_result { SUBMIT_QUEUED, SUBMIT_UNREACHABLE, SUBMIT_TEMPFAIL, SUBMIT_REFUSED };

enum submit_result local_submit(const char *socket_path, const char *sender, char *const *rcpts, size_t nrcpts,
				const struct buf *msg, char *reply, size_t replylen);
/* The connected socket, or -1 (errno set): for `sendmail -bs`. */
int local_submit_connect(const char *socket_path);

#endif
