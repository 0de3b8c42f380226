/*
 * smtpd_int: what the listener side (smtpd.c) and the session state
 * machine (smtp_session.c) share.  Not for other modules.
 */
#ifndef OUTPOST_SMTPD_INT_H
#define OUTPOST_SMTPD_INT_H
#include <event2/util.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include "inbound/smtp_server.h"

struct config;
struct listen_conf;
struct smtp_session;

struct smtpd {
	struct event_base *base;
	const struct config *cf;          /* a reference (config_ref): the current config */
	struct spool *spool;
	struct users *users;              /* a reference (users_ref); NULL: no AUTH.  A session
					   * that authenticated, and an AUTH job, hold their own
					   * reference to the table they use, so a reload frees
					   * the old table once the last of them is gone */
	struct worker_pool *workers;
	const struct dkim_signer *signer; /* NULL: no DKIM signing */
	struct local_dispatch *local;     /* mailboxes outpost consumes itself */
	struct auth_throttle *auth_throttle; /* failed AUTH per client address, kept over reloads */
	smtpd_rcpt_check_fn *rcpt_check;  /* NULL: every relayed recipient is accepted */
	void *rcpt_check_arg;
	SSL_CTX *ssl_ctx;                 /* NULL: no TLS */
	struct evconnlistener **listeners;
	size_t nlisteners;
	struct smtp_session *sessions;    /* doubly linked */
	unsigned nsessions;
	unsigned nlocal;                  /* of them, on the local socket (their own budget) */
	int shutting_down;
	void (*on_queued)(void *);
	void *on_queued_arg;
	void (*shutdown_done)(void *);
	void *shutdown_arg;
};

/* Starts a session on an accepted socket; takes ownership of fd. */
void smtp_session_start(struct smtpd *sd, const struct listen_conf *lc, evutil_socket_t fd,
			const struct sockaddr *sa, int local);
/* Asks every session to end: at once when idle, after its transaction otherwise. */
void smtp_session_shutdown_all(struct smtpd *sd);
/* Frees every session now (final teardown). */
void smtp_session_free_all(struct smtpd *sd);
/* Called by a session once it has left sd->sessions. */
void smtpd_session_gone(struct smtpd *sd, int local);
/* Number of sessions from the same client address as sa. */
unsigned smtpd_sessions_from(const struct smtpd *sd, const struct sockaddr *sa);

#endif
