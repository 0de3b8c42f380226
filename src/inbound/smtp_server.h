/*
 * smtp_server: the inbound ESMTP server (RFC 5321 with PIPELINING, SIZE,
 * 8BITMIME, SMTPUTF8, ENHANCEDSTATUSCODES, STARTTLS, AUTH PLAIN/LOGIN).
 *
 * Contract: smtpd_new() opens every configured listener plus the local
 * submission socket and serves them on base until smtpd_shutdown().
 * A message is answered "250 2.0.0 queued as ID" only after the spool
 * has committed it; every other outcome gets a reply with an enhanced
 * status code.  Relaying is allowed only to authenticated users and to
 * client_networks (and the local socket); everyone else gets 554 5.7.1,
 * except for the local mailboxes (local_dispatch.h), open to anyone.
 * smtpd_shutdown() stops listening, lets transactions in flight finish,
 * closes idle sessions with 421 and calls done() once none is left on any
 * inbound loop.
 */
#ifndef OUTPOST_SMTP_SERVER_H
#define OUTPOST_SMTP_SERVER_H
#include <stddef.h>

struct event_base;
struct config;
struct spool;
struct smtpd;
struct dkim_signer;
struct local_dispatch;

struct smtpd *smtpd_new(struct event_base *base, const struct config *cf, struct spool *spool,
			char *err, size_t errlen);
/* The spool sessions queue into; smtpd_new() may be given NULL (to bind
 * the listeners before the spool is opened as another user) as long as
 * this is called before the loop runs. */
void smtpd_set_spool(struct smtpd *sd, struct spool *spool);
/* fn(arg) is called on the loop after each message is queued. */
void smtpd_on_queued(struct smtpd *sd, void (*fn)(void *arg), void *arg);
/* Takes a reloaded config: new sessions and new commands use its caps,
 * client networks and users file (re-read now; on error nothing changes
 * and -1 is returned with the reason).  cf must differ from the old one
 * only in what a reload may change, and outlive the smtpd. */
int smtpd_reload(struct smtpd *sd, const struct config *cf, char *err, size_t errlen);
/* Signs accepted mail with sg (owned by the caller; it outlives sd). */
void smtpd_set_dkim(struct smtpd *sd, const struct dkim_signer *sg);
/* The table of local mailboxes (inbound/local_dispatch.h), owned by sd:
 * mail for them goes to their handlers instead of the queue. */
struct local_dispatch *smtpd_local_dispatch(struct smtpd *sd);
/* A check of each recipient to be relayed, at RCPT time (the suppression
 * list, feedback/feedback.h): fn returns 1 with the reply to send in
 * reply to refuse the recipient, 0 to accept it.  It runs on the loop
 * and must be quick (one index lookup).  sender is "" for <>, user NULL
 * when not authenticated. */
typedef int smtpd_rcpt_check_fn(void *arg, const char *rcpt, const char *sender, const char *user,
				const char *qid, char *reply, size_t replylen);
void smtpd_set_rcpt_check(struct smtpd *sd, smtpd_rcpt_check_fn *fn, void *arg);
/* Starts the other inbound loops (inbound.threads; smtpd_loops.c), once
 * the setters above have run and after privileges are dropped; until then
 * (and without it) every session runs on base.  Sessions on another loop
 * reach the rcpt check, the local mailboxes' handlers (on base, by a
 * closure) and the signer from their own thread: the rcpt check and the
 * signer must be thread-safe. */
void smtpd_start(struct smtpd *sd);
void smtpd_shutdown(struct smtpd *sd, void (*done)(void *arg), void *arg);
void smtpd_free(struct smtpd *sd);

#endif
