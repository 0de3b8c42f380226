/*
 * smtp_client: one outbound SMTP connection, as a state machine on the
 * libevent loop (RFC 5321 client, with STARTTLS, AUTH PLAIN/LOGIN,
 * PIPELINING, SIZE, 8BITMIME, SMTPUTF8).
 *
 * Contract:
 * - smtp_client_new() makes a client for one remote address; nothing
 *   happens until smtp_client_deliver().
 * - smtp_client_deliver() connects if needed (connect, greeting, EHLO,
 *   STARTTLS per the tls mode, EHLO again, AUTH), then runs one
 *   transaction: MAIL, RCPT for each recipient (pipelined when offered),
 *   DATA and the dot-stuffed body.  It calls done exactly once, on the
 *   loop, never from inside smtp_client_deliver(), with a result for every
 *   recipient.  Every failure is classified where it happens (reply.h):
 *   a connection-level failure gives all recipients the same result.
 * - A transaction without recipients only connects (TLS and AUTH as
 *   configured) and ends there: a probe; res->probe_failed says whether
 *   that went wrong.
 * - After done, smtp_client_reusable() says whether another transaction
 *   may follow on the same connection (RSET is sent before it).
 * - smtp_client_free() sends QUIT when connected and frees the client
 *   (the socket is closed after QUIT's reply or a short timeout); it may be
 *   called from inside done.
 * - The body is the message as spooled: CRLF lines, not dot-stuffed.
 *   Lines never end other than with CRLF (the spool refused bare CR/LF).
 */
#ifndef OUTPOST_SMTP_CLIENT_H
#define OUTPOST_SMTP_CLIENT_H
#include <stddef.h>
#include <sys/socket.h>
#include <openssl/ssl.h>

#include "delivery/reply.h"

struct event_base;
struct smtp_client;

enum smtp_tls_mode {
	SMTP_TLS_NONE,           /* never STARTTLS */
	SMTP_TLS_OPPORTUNISTIC,  /* STARTTLS when offered, certificate not required to verify */
	SMTP_TLS_REQUIRED,       /* STARTTLS must succeed, certificate not required to verify */
	SMTP_TLS_VERIFY,         /* STARTTLS must succeed and the certificate verify for host_name */
	SMTP_TLS_IMPLICIT,       /* TLS from the first byte (port 465), certificate verified as VERIFY */
};

struct smtp_client_params {
	const char *host_name;             /* the MX or relay name: SNI, verification, logs */
	struct sockaddr_storage addr;      /* where to connect (port included) */
	socklen_t addrlen;
	struct sockaddr_storage source;    /* address to bind; ss_family 0: any */
	socklen_t sourcelen;
	const char *helo;                  /* our EHLO name */
	enum smtp_tls_mode tls;
	SSL_CTX *ssl_ctx;                  /* client context (verify paths loaded) */
	const char *auth_user;             /* NULL: no AUTH; else AUTH is required */
	const char *auth_pass;
	unsigned connect_timeout;          /* seconds; 0 = 30 */
	unsigned command_timeout;          /* seconds; 0 = 300 */
};

struct smtp_txn {
	const char *qid;                   /* for logs */
	const char *sender;                /* "" for <> */
	const char *const *rcpts;
	size_t nrcpts;
	const char *body;
	size_t body_len;
	int body_8bit;
	int smtputf8;
};

struct smtp_txn_result {
	struct reply_info *rcpt;           /* nrcpts results, final for each recipient */
	size_t nrcpts;
	char remote_ip[64];
	char tls[96];                      /* "TLSv1.3 TLS_AES_256_GCM_SHA384" or "" */
	int tls_verified;                  /* the certificate verified for host_name */
	/* A transaction without recipients is a probe (connect, TLS, AUTH,
	 * nothing sent): its failure is here, as there is no recipient to
	 * carry it. */
	int probe_failed;
	struct reply_info probe;
};

typedef void smtp_client_done_cb(void *arg, const struct smtp_txn_result *res);

struct smtp_client *smtp_client_new(struct event_base *base, const struct smtp_client_params *p);
void smtp_client_deliver(struct smtp_client *c, const struct smtp_txn *txn, smtp_client_done_cb *done, void *arg);
int smtp_client_reusable(const struct smtp_client *c);
void smtp_client_free(struct smtp_client *c);

#endif
