/*
 * cleanup: what happens to an accepted message between the SMTP session
 * and the spool (Postfix's cleanup(8)).
 *
 * Contract:
 * - cleanup_count_hops() counts the Received: fields (the hop count the
 *   session checks at the end of DATA, before anything is queued).
 * - cleanup_message() builds the spool message from the envelope and the
 *   decoded message text: a Received: trace field on top (queue id, TLS
 *   version and cipher, RFC 3848 protocol name), Date: and Message-ID:
 *   when the client left them out, and every X-Outpost-Class field taken
 *   out (the first valid value becomes the message's class).  It takes the
 *   envelope's sender and recipients (they are NULL/0 afterwards).
 * - cleanup_commit() makes the message fit for 7-bit SMTP on a worker
 *   thread (mailauth/mime7bit.h: lines over 998 octets always, 8-bit
 *   octets when it is signed), signs it with DKIM when the signer has a
 *   key for it, then commits it to the spool and calls done(arg, ok,
 *   reason) on the loop once it is durable (ok 1) or not (ok 0).  A
 *   message that cannot be made fit is not queued: ok -1 and reason is the
 *   complete SMTP reply (554 5.6.0 with why).  A signing failure commits
 *   the message unsigned: mail is never lost or refused because of its
 *   signature.  cleanup_detach() cancels the callback; the message is
 *   still committed (or dropped if it had not reached the spool yet, as
 *   with a client that went away before the reply).
 */
#ifndef OUTPOST_CLEANUP_H
#define OUTPOST_CLEANUP_H
#include <stddef.h>

#include "spool/spool.h"

struct config;
struct dkim_signer;
struct worker_pool;

struct cleanup_envelope {
	unsigned long session;     /* for the log */
	const char *qid;
	const char *client;        /* "local" or the client's address */
	const char *helo;          /* "" when none was given */
	int esmtp, tls, smtputf8, body_8bit;
	const char *tls_info;      /* "TLSv1.3 with cipher ..." when tls */
	const char *auth_user;     /* NULL: not authenticated */
	const char *tenant;        /* NULL: none (inbound/tenant.h) */
	char *sender;              /* taken by cleanup_message */
	char **rcpts;              /* taken by cleanup_message */
	size_t nrcpts;
};

/* More Received: fields than this in a message means a mail loop
 * (Postfix's hopcount_limit): refused with CLEANUP_HOPS_REPLY. */
#define CLEANUP_MAX_HOPS 50
#define CLEANUP_HOPS_REPLY "554 5.4.6 Too many hops: more than 50 Received: headers, mail loop?"

/* The number of Received: fields in the header of text. */
unsigned cleanup_count_hops(const char *text, size_t len);

struct spool_msg *cleanup_message(const struct config *cf, struct cleanup_envelope *env,
				  const char *text, size_t len);

struct cleanup_job;

struct loop_post;
/* done runs on the loop of reply_to (NULL: the spool's); workers must
 * answer on that same loop, and cleanup_detach() is called there. */
struct cleanup_job *cleanup_commit(struct worker_pool *workers, const struct dkim_signer *signer,
				   struct spool *sp, struct loop_post *reply_to, struct spool_msg *m,
				   spool_commit_cb *done, void *arg);
void cleanup_detach(struct cleanup_job *j);

#endif
