/*
 * smtp_session_int: what the parts of one inbound SMTP session share
 * (smtp_session.c: the state machine, reading, writing, the transaction;
 * smtp_auth.c: the AUTH exchange).  Private to src/inbound/.
 */
#ifndef OUTPOST_SMTP_SESSION_INT_H
#define OUTPOST_SMTP_SESSION_INT_H

#include <event2/event.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "inbound/data_decoder.h"
#include "inbound/smtp_parse.h"
#include "inbound/tenant.h"
#include "spool/spool.h"

struct smtpd;
struct listen_conf;
struct config;
struct user;
struct users;
struct worker_job;
struct local_mailbox;
struct cleanup_job;
struct scan_req;
struct local_job;

enum smtp_state {
	SMTP_S_CONNECTED, SMTP_S_READY, SMTP_S_MAIL, SMTP_S_RCPT, SMTP_S_DATA, SMTP_S_COMMIT,
	SMTP_S_AUTH, SMTP_S_AUTHCHECK, SMTP_S_TLS, SMTP_S_CLOSING, SMTP_S_SCAN,
};

struct smtp_session {
	struct smtpd *sd;
	const struct listen_conf *lc;
	const struct config *lc_cf;  /* a reference to the config lc is in (a reload replaces sd->cf) */
	struct bufferevent *bev;
	struct sockaddr_storage ss;
	char addr[64];
	int local, trusted, loopback;
	unsigned long id;
	enum smtp_state state;
	char helo[256];
	int esmtp, tls, shutdown;
	char tls_info[160];
	const struct user *user;
	struct users *users;         /* a reference to the table user is in */
	unsigned errors, messages;
	struct event *lifetime_ev;
	struct event *close_ev;      /* waits for TLS output to reach the socket */
	struct event *flush_ev;      /* activated by reply(): writes the burst's replies */
	int direct;                  /* a plain socket: session_flush writes to it itself */
	int close_polls;
	/* discarding the rest of an over-long command line */
	int skip_line;
	/* reading stopped until the client reads its replies (pipelining without reading) */
	int out_paused;
	int peer_eof;                /* the client closed its side while an answer was in flight */
	/* AUTH exchange */
	int auth_login, auth_step;
	char auth_name[256];
	struct worker_job *auth_job;
	struct event *auth_delay_ev;     /* the reply to a failed AUTH waits (auth_throttle) */
	/* the transaction */
	char qid[SPOOL_ID_LEN + 1];
	char *sender;
	char tenant[TENANT_NAME_MAX + 1];   /* "" when the message has none */
	unsigned tenant_rcpts;              /* its recipients_per_message, 0: none */
	struct smtp_mail_args mail;
	char **rcpts;
	size_t nrcpts;
	const struct local_mailbox *mailbox;  /* the recipient is a local mailbox */
	struct data_decoder dec;
	struct cleanup_job *commit;      /* DKIM signing and the spool commit */
	struct scan_req *scan;           /* the outbound scanner's verdict, awaited */
	struct local_job *local_job;     /* a local mailbox's reply, awaited from main */
	struct timeval commit_start;
	struct smtp_session *prev, *next;
};

/* Replies waiting for a client that does not read: beyond this, reading
 * stops (TCP pushes back on the client) until they have been written, so a
 * client pipelining without reading cannot grow the daemon's memory. */
#define SMTP_REPLY_WATERMARK (64 * 1024)
/* Input kept while a command waits (COMMIT, AUTHCHECK, or replies the client
 * does not read): beyond this libevent stops reading the socket until the
 * session has consumed it. */
#define SMTP_INPUT_WATERMARK (256 * 1024)

/* One transition, logged at debug level. */
void smtp_enter_state(struct smtp_session *s, enum smtp_state st);
/* Queues a reply (CRLF added); the burst's replies are written together. */
void smtp_reply(struct smtp_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A refused command: counts towards max_errors, which ends the session. */
void smtp_reply_error(struct smtp_session *s, const char *text);
/* Sends the last reply (none when text is NULL) and frees the session once
 * it has been written. */
void smtp_session_close(struct smtp_session *s, const char *text);
/* After an answer that was in flight: reads on (see smtp_session.c). */
void smtp_session_resume(struct smtp_session *s);
/* AUTH may be offered on this session (TLS or loopback, users, listener). */
int smtp_auth_available(const struct smtp_session *s);

/* smtp_auth.c: the AUTH command, and each SASL response line in AUTH. */
void smtp_do_auth(struct smtp_session *s, const struct smtp_cmd *c);
void smtp_auth_response(struct smtp_session *s, const char *line, size_t len);

#endif
