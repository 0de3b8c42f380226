/*
 * maildrop: the drop directory where `outpost sendmail` leaves a message
 * when outpostd cannot be reached, and the file format of one message.
 * The daemon's pickup (inbound/pickup.h) queues what it finds there.
 *
 * A drop file is:
 *     "OUTPOST-MAILDROP 1\n"
 *     "sender <ADDR>\n"            (ADDR empty for the null sender)
 *     "rcpt <ADDR>\n"              (1 to MAILDROP_MAX_RCPTS lines)
 *     "\n"
 *     the message: CRLF text, not dot-stuffed
 * Contract: maildrop_parse() accepts exactly that (an address has no
 * control characters, no '<', '>' or space, at most 998 octets; a
 * recipient has an '@'), fills env and the offset of the message in data,
 * or returns -1 with the reason; it never reads past len.
 * maildrop_store() writes data under a hidden temporary name, syncs it and
 * renames it to a unique visible name, so the pickup never sees a partial
 * file; the file is mode 0640 (the daemon reads it through the directory's
 * group when another user wrote it).
 */
#ifndef OUTPOST_MAILDROP_H
#define OUTPOST_MAILDROP_H
#include <stddef.h>

#include "core/buf.h"

#define MAILDROP_MAX_RCPTS 10000

struct maildrop_env {
	char *sender;       /* "" for the null sender */
	char **rcpts;
	size_t nrcpts;
};

void maildrop_format(struct buf *out, const char *sender, char *const *rcpts, size_t nrcpts,
		     const struct buf *msg);
int maildrop_parse(const char *data, size_t len, struct maildrop_env *env, size_t *body_off, char *err,
		   size_t errlen);
void maildrop_env_free(struct maildrop_env *env);
int maildrop_store(const char *dir, const char *data, size_t len, char *err, size_t errlen);

#endif
