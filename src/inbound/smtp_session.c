/*
 * smtp_session: one inbound SMTP session, as a state machine.
 *
 * States (one enum, one smtp_enter_state() that logs each transition):
 *   CONNECTED  greeting sent, waiting for EHLO/HELO
 *   READY      after EHLO/HELO, no transaction
 *   MAIL       sender accepted
 *   RCPT       at least one recipient accepted
 *   DATA       reading the message text
 *   COMMIT     message handed to the spool; reading paused until it is durable
 *   AUTH       SASL exchange in progress
 *   AUTHCHECK  password being verified on a worker thread; reading paused
 *   TLS        TLS handshake in progress
 *   CLOSING    last reply being flushed
 *
 * Input is read line by line from the bufferevent; pipelined commands are
 * answered in order because reading pauses in COMMIT and AUTHCHECK.
 * Message text ends at CRLF "." CRLF only: a bare LF or CR anywhere makes
 * the whole message refused (SMTP smuggling), never a different end.
 */
#include <ctype.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

#include "core/base64.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/header.h"
#include "core/log.h"
#include "core/netaddr.h"
#include "core/worker.h"
#include "core/xmalloc.h"
#include "inbound/auth.h"
#include "inbound/smtp_parse.h"
#include "inbound/smtpd_int.h"
#include "delivery/canary.h"
#include "mailauth/dkim.h"
#include "mailauth/mime7bit.h"
#include "spool/spool.h"

enum smtp_state {
	SMTP_S_CONNECTED, SMTP_S_READY, SMTP_S_MAIL, SMTP_S_RCPT, SMTP_S_DATA, SMTP_S_COMMIT,
	SMTP_S_AUTH, SMTP_S_AUTHCHECK, SMTP_S_TLS, SMTP_S_CLOSING,
};

static const char *const state_names[] = {
	"connected", "ready", "mail", "rcpt", "data", "commit", "auth", "authcheck", "tls", "closing",
};

enum data_error { DATA_OK, DATA_BARE_LF_CR, DATA_LINE_TOO_LONG, DATA_TOO_BIG };

struct auth_job {
	const struct users *users;
	char user[256];
	char pass[256];
	int ok;
	struct smtp_session *s;
};

struct smtp_session {
	struct smtpd *sd;
	const struct listen_conf *lc;
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
	unsigned errors, messages;
	struct event *lifetime_ev;
	struct event *close_ev;      /* waits for TLS output to reach the socket */
	int close_polls;
	/* discarding the rest of an over-long command line */
	int skip_line;
	/* AUTH exchange */
	int auth_login, auth_step;
	char auth_name[256];
	struct worker_job *auth_job;
	/* the transaction */
	char qid[SPOOL_ID_LEN + 1];
	char *sender;
	struct smtp_mail_args mail;
	char **rcpts;
	size_t nrcpts;
	struct buf data;
	enum data_error data_err;
	int data_line_start, data_prev_crlf, data_pending_cr;
	size_t data_line_len;
	struct spool_req *req;
	struct worker_job *sign_job;     /* DKIM signing before the commit */
	struct timeval commit_start;
	struct smtp_session *prev, *next;
};

static void session_read(struct smtp_session *s);
static void session_free(struct smtp_session *s);
static void session_watch(struct smtp_session *s);

static void smtp_enter_state(struct smtp_session *s, enum smtp_state st)
{
	if (s->state != st)
		msg_debug("event=smtp_state session=%lu from=%s to=%s", s->id, state_names[s->state],
			  state_names[st]);
	s->state = st;
}

static void reply(struct smtp_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void reply(struct smtp_session *s, const char *fmt, ...)
{
	struct evbuffer *out = bufferevent_get_output(s->bev);
	va_list ap;
	va_start(ap, fmt);
	evbuffer_add_vprintf(out, fmt, ap);
	va_end(ap);
	evbuffer_add(out, "\r\n", 2);
}

/* Sends the last reply and frees the session once it has been written. */
static void session_close(struct smtp_session *s, const char *text)
{
	if (text)
		reply(s, "%s", text);
	bufferevent_disable(s->bev, EV_READ);
	smtp_enter_state(s, SMTP_S_CLOSING);
}

static void transaction_reset(struct smtp_session *s)
{
	free(s->sender);
	s->sender = NULL;
	for (size_t i = 0; i < s->nrcpts; i++)
		free(s->rcpts[i]);
	free(s->rcpts);
	s->rcpts = NULL;
	s->nrcpts = 0;
	buf_free(&s->data);
	s->qid[0] = '\0';
	if (s->state != SMTP_S_CONNECTED)
		smtp_enter_state(s, SMTP_S_READY);
}

/* A refused command: counts towards max_errors, which ends the session. */
static void reply_error(struct smtp_session *s, const char *text)
{
	reply(s, "%s", text);
	if (++s->errors >= s->sd->cf->inbound.max_errors) {
		msg_info("event=smtp_too_many_errors session=%lu client=%s errors=%u", s->id, s->addr,
			 s->errors);
		session_close(s, "421 4.7.0 Too many errors, closing connection");
	}
}

static int auth_available(const struct smtp_session *s)
{
	return s->sd->users != NULL && s->lc->auth != LISTEN_AUTH_NONE &&
	       (s->tls || s->loopback || s->local);
}

static void do_helo(struct smtp_session *s, const struct smtp_cmd *c)
{
	const char *err = smtp_parse_helo(c->arg, c->arglen);
	if (err) {
		reply_error(s, err);
		return;
	}
	memcpy(s->helo, c->arg, c->arglen);
	s->helo[c->arglen] = '\0';
	s->esmtp = c->verb == SMTP_EHLO;
	smtp_enter_state(s, SMTP_S_READY);
	transaction_reset(s);
	const struct config *cf = s->sd->cf;
	if (!s->esmtp) {
		reply(s, "250 %s", cf->hostname);
		return;
	}
	reply(s, "250-%s", cf->hostname);
	reply(s, "250-PIPELINING");
	reply(s, "250-SIZE %llu", (unsigned long long)cf->inbound.max_message_size);
	if (s->lc->tls == LISTEN_TLS_STARTTLS && !s->tls && s->sd->ssl_ctx)
		reply(s, "250-STARTTLS");
	if (auth_available(s))
		reply(s, "250-AUTH PLAIN LOGIN");
	reply(s, "250-ENHANCEDSTATUSCODES");
	reply(s, "250-8BITMIME");
	reply(s, "250 SMTPUTF8");
}

static void do_mail(struct smtp_session *s, const struct smtp_cmd *c)
{
	const char *err;
	char addr[ADDR_LOCAL_MAX + ADDR_DOMAIN_MAX + 2];
	if (s->state == SMTP_S_CONNECTED)
		return reply_error(s, "503 5.5.1 Error: send HELO/EHLO first");
	if (s->state != SMTP_S_READY)
		return reply_error(s, "503 5.5.1 Error: nested MAIL command");
	if (s->shutdown)
		return session_close(s, "421 4.3.2 Service shutting down, try again later");
	if (s->lc->auth == LISTEN_AUTH_REQUIRED && s->user == NULL)
		return reply_error(s, "530 5.7.0 Authentication required");
	if ((err = smtp_parse_mail(c->arg, c->arglen, s->sd->cf->inbound.max_message_size, &s->mail)))
		return reply_error(s, err);
	if (!s->esmtp && (s->mail.size || s->mail.body_8bit || s->mail.smtputf8))
		return reply_error(s, "555 5.5.4 MAIL parameters need EHLO");
	if (s->mail.null_sender)
		addr[0] = '\0';
	else if (address_format(&s->mail.addr, addr, sizeof(addr)) < 0)
		return reply_error(s, "553 5.1.7 Sender address too long");
	if (s->user && !s->mail.null_sender && !user_owns_domain(s->user, s->mail.addr.domain)) {
		msg_info("event=sender_refused session=%lu client=%s user=%s from=<%s>", s->id, s->addr,
			 user_name(s->user), addr);
		return reply_error(s, "550 5.7.1 Sender address not owned by the authenticated user");
	}
	s->sender = xstrdup(addr);
	spool_id_new(s->qid);
	smtp_enter_state(s, SMTP_S_MAIL);
	reply(s, "250 2.1.0 Ok");
}

static void do_rcpt(struct smtp_session *s, const struct smtp_cmd *c)
{
	struct address a;
	char addr[ADDR_LOCAL_MAX + ADDR_DOMAIN_MAX + 2];
	const char *err;
	if (s->state != SMTP_S_MAIL && s->state != SMTP_S_RCPT)
		return reply_error(s, "503 5.5.1 Error: need MAIL command");
	if (s->nrcpts >= s->sd->cf->inbound.max_recipients)
		return reply(s, "452 4.5.3 Too many recipients");
	if ((err = smtp_parse_rcpt(c->arg, c->arglen, s->mail.smtputf8, &a)))
		return reply_error(s, err);
	if (address_format(&a, addr, sizeof(addr)) < 0)
		return reply_error(s, "553 5.1.3 Recipient address too long");
	if (s->user == NULL && !s->trusted) {
		msg_info("event=relay_denied session=%lu qid=%s client=%s from=<%s> to=<%s>", s->id,
			 s->qid, s->addr, s->sender, addr);
		return reply_error(s, "554 5.7.1 Relay denied");
	}
	s->rcpts = xreallocarray(s->rcpts, s->nrcpts + 1, sizeof(char *));
	s->rcpts[s->nrcpts++] = xstrdup(addr);
	smtp_enter_state(s, SMTP_S_RCPT);
	reply(s, "250 2.1.5 Ok");
}

static void do_data(struct smtp_session *s, const struct smtp_cmd *c)
{
	if (s->state == SMTP_S_MAIL)
		return reply_error(s, "554 5.5.1 Error: no valid recipients");
	if (s->state != SMTP_S_RCPT)
		return reply_error(s, "503 5.5.1 Error: need RCPT command");
	if (c->arglen)
		return reply_error(s, "501 5.5.4 Syntax: DATA");
	buf_init(&s->data);
	buf_reserve(&s->data, s->mail.size ? (size_t)s->mail.size + 1024 : 8192);
	s->data_err = DATA_OK;
	s->data_line_start = s->data_prev_crlf = 1;
	s->data_pending_cr = 0;
	s->data_line_len = 0;
	smtp_enter_state(s, SMTP_S_DATA);
	reply(s, "354 End data with <CR><LF>.<CR><LF>");
}

static void ssl_info(struct smtp_session *s)
{
	SSL *ssl = bufferevent_openssl_get_ssl(s->bev);
	if (ssl == NULL)
		return;
	int n = snprintf(s->tls_info, sizeof(s->tls_info), "%s with cipher %s", SSL_get_version(ssl),
			 SSL_get_cipher_name(ssl));
	if (n < 0 || (size_t)n >= sizeof(s->tls_info))
		strcpy(s->tls_info, "TLS");
}

static void do_starttls(struct smtp_session *s, const struct smtp_cmd *c)
{
	if (s->lc->tls != LISTEN_TLS_STARTTLS || s->sd->ssl_ctx == NULL || s->tls)
		return reply_error(s, "454 4.7.0 TLS not available");
	if (c->arglen)
		return reply_error(s, "501 5.5.4 Syntax: STARTTLS");
	if (s->state != SMTP_S_READY && s->state != SMTP_S_CONNECTED)
		return reply_error(s, "503 5.5.1 Error: STARTTLS inside a transaction");
	reply(s, "220 2.0.0 Ready to start TLS");
	/* Anything pipelined after STARTTLS was sent in clear: drop it (CVE-2011-0411). */
	struct evbuffer *in = bufferevent_get_input(s->bev);
	evbuffer_drain(in, evbuffer_get_length(in));
	SSL *ssl = SSL_new(s->sd->ssl_ctx);
	struct bufferevent *tb = ssl ? bufferevent_openssl_filter_new(s->sd->base, s->bev, ssl,
				      BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE) : NULL;
	if (tb == NULL) {
		msg_warn("event=tls_error session=%lu client=%s reason=\"cannot start TLS\"", s->id, s->addr);
		if (ssl)
			SSL_free(ssl);
		return session_close(s, NULL);
	}
	s->bev = tb;
	session_watch(s);
	s->helo[0] = '\0';
	s->esmtp = 0;
	smtp_enter_state(s, SMTP_S_TLS);
}

/* AUTH: collects user and password, then checks them on a worker thread. */
static void auth_run(void *arg)
{
	struct auth_job *j = arg;
	j->ok = users_verify(j->users, j->user, j->pass);
	explicit_bzero(j->pass, sizeof(j->pass));
}

static void auth_job_free(void *arg)
{
	struct auth_job *j = arg;
	explicit_bzero(j, sizeof(*j));
	free(j);
}

static void auth_done(void *arg)
{
	struct auth_job *j = arg;
	struct smtp_session *s = j->s;
	s->auth_job = NULL;
	smtp_enter_state(s, SMTP_S_READY);
	if (j->ok) {
		s->user = users_find(s->sd->users, j->user);
		msg_info("event=auth session=%lu client=%s user=%s result=ok", s->id, s->addr, j->user);
		reply(s, "235 2.7.0 Authentication successful");
	} else {
		char q[300];
		msg_info("event=auth session=%lu client=%s user=%s result=failed", s->id, s->addr,
			 log_quote(q, sizeof(q), j->user));
		reply_error(s, "535 5.7.8 Authentication credentials invalid");
	}
	auth_job_free(j);
	if (s->state != SMTP_S_CLOSING) {
		bufferevent_enable(s->bev, EV_READ);
		session_read(s);
	}
}

static void auth_check(struct smtp_session *s, const char *user, const char *pass)
{
	size_t ul = strlen(user), pl = strlen(pass);
	struct auth_job *j;
	if (ul >= sizeof(j->user) || pl >= sizeof(j->pass))
		return reply_error(s, "501 5.5.2 User name or password too long");
	j = xcalloc(1, sizeof(*j));
	j->users = s->sd->users;
	j->s = s;
	memcpy(j->user, user, ul + 1);
	memcpy(j->pass, pass, pl + 1);
	smtp_enter_state(s, SMTP_S_AUTHCHECK);
	bufferevent_disable(s->bev, EV_READ);
	s->auth_job = worker_submit(s->sd->workers, auth_run, auth_done, auth_job_free, j);
}

/* One base64 SASL response (initial or after 334). */
static void auth_response(struct smtp_session *s, const char *line, size_t len)
{
	char dec[512], user[256], pass[256];
	long n;
	if (len == 1 && line[0] == '*') {
		smtp_enter_state(s, SMTP_S_READY);
		return reply_error(s, "501 5.7.0 Authentication cancelled");
	}
	n = (len == 1 && line[0] == '=') ? 0 : base64_decode(line, len, dec, sizeof(dec));
	if (n < 0) {
		smtp_enter_state(s, SMTP_S_READY);
		return reply_error(s, "501 5.5.2 Bad base64 in AUTH response");
	}
	if (!s->auth_login) {
		smtp_enter_state(s, SMTP_S_READY);
		if (sasl_plain_split(dec, (size_t)n, user, sizeof(user), pass, sizeof(pass)) < 0)
			return reply_error(s, "501 5.5.2 Bad PLAIN authentication message");
		auth_check(s, user, pass);
	} else if (s->auth_step == 0) {
		if (n == 0 || (size_t)n >= sizeof(s->auth_name) || memchr(dec, '\0', (size_t)n)) {
			smtp_enter_state(s, SMTP_S_READY);
			return reply_error(s, "501 5.5.2 Bad user name");
		}
		memcpy(s->auth_name, dec, (size_t)n + 1);
		s->auth_step = 1;
		smtp_enter_state(s, SMTP_S_AUTH);
		reply(s, "334 UGFzc3dvcmQ6");
	} else {
		smtp_enter_state(s, SMTP_S_READY);
		if (memchr(dec, '\0', (size_t)n))
			return reply_error(s, "501 5.5.2 Bad password");
		auth_check(s, s->auth_name, dec);
	}
	explicit_bzero(dec, sizeof(dec));
	explicit_bzero(pass, sizeof(pass));
}

static void do_auth(struct smtp_session *s, const struct smtp_cmd *c)
{
	if (!auth_available(s))
		return reply_error(s, s->sd->users && s->lc->auth != LISTEN_AUTH_NONE
			? "538 5.7.11 Encryption required for requested authentication mechanism"
			: "502 5.5.1 AUTH not available");
	if (s->state != SMTP_S_READY)
		return reply_error(s, s->state == SMTP_S_CONNECTED ? "503 5.5.1 Error: send EHLO first"
								 : "503 5.5.1 Error: AUTH inside a transaction");
	if (s->user)
		return reply_error(s, "503 5.5.1 Error: already authenticated");
	const char *sp = memchr(c->arg, ' ', c->arglen);
	size_t mlen = sp ? (size_t)(sp - c->arg) : c->arglen;
	const char *init = sp ? sp + 1 : NULL;
	size_t initlen = sp ? c->arglen - mlen - 1 : 0;
	if (mlen == 5 && strncasecmp(c->arg, "PLAIN", 5) == 0)
		s->auth_login = 0;
	else if (mlen == 5 && strncasecmp(c->arg, "LOGIN", 5) == 0)
		s->auth_login = 1;
	else
		return reply_error(s, "504 5.5.4 Unrecognized authentication type");
	s->auth_step = 0;
	if (init)
		return auth_response(s, init, initlen);
	smtp_enter_state(s, SMTP_S_AUTH);
	reply(s, s->auth_login ? "334 VXNlcm5hbWU6" : "334 ");
}

static void do_command(struct smtp_session *s, const char *line, size_t len)
{
	struct smtp_cmd c;
	const char *err;
	if (s->state == SMTP_S_AUTH)
		return auth_response(s, line, len);
	if ((err = smtp_cmd_parse(line, len, &c)))
		return reply_error(s, err);
	switch (c.verb) {
	case SMTP_HELO:
	case SMTP_EHLO: return do_helo(s, &c);
	case SMTP_MAIL: return do_mail(s, &c);
	case SMTP_RCPT: return do_rcpt(s, &c);
	case SMTP_DATA: return do_data(s, &c);
	case SMTP_STARTTLS: return do_starttls(s, &c);
	case SMTP_AUTH: return do_auth(s, &c);
	case SMTP_RSET:
		transaction_reset(s);
		return reply(s, "250 2.0.0 Ok");
	case SMTP_NOOP: return reply(s, "250 2.0.0 Ok");
	case SMTP_VRFY: return reply(s, "252 2.5.0 Cannot VRFY user, but will accept message");
	case SMTP_EXPN: return reply_error(s, "502 5.5.1 EXPN not available");
	case SMTP_HELP: return reply(s, "214 2.0.0 See RFC 5321; outpost accepts mail for relaying");
	case SMTP_QUIT: return session_close(s, "221 2.0.0 Bye");
	case SMTP_BDAT: return reply_error(s, "502 5.5.1 BDAT not implemented");
	case SMTP_UNKNOWN: break;
	}
	reply_error(s, "500 5.5.1 Command unrecognized");
}

/* ---- message text ---- */

static void rfc5322_date(char *out, size_t outlen, time_t t)
{
	struct tm tm;
	gmtime_r(&t, &tm);
	if (strftime(out, outlen, "%a, %d %b %Y %H:%M:%S +0000", &tm) == 0)
		out[0] = '\0';
}

/* Received: trace field, then Date:/Message-ID: when the client left them out. */
static void add_headers(struct smtp_session *s, struct buf *msg, time_t now)
{
	char date[64];
	struct header_field f;
	const struct config *cf = s->sd->cf;
	const char *proto = s->mail.smtputf8 ? "UTF8SMTP" : "ESMTP";
	rfc5322_date(date, sizeof(date), now);
	/* RFC 3848 and 6531 protocol names: ESMTP, ESMTPS, ESMTPSA, UTF8SMTPS... */
	buf_printf(msg, "Received: from %s (%s)\r\n\tby %s (outpost) with %s%s%s id %s",
		   s->helo[0] ? s->helo : "unknown", s->local ? "local" : s->addr, cf->hostname,
		   s->esmtp ? proto : "SMTP", (s->esmtp && s->tls) ? "S" : "", (s->esmtp && s->user) ? "A" : "",
		   s->qid);
	if (s->tls)
		buf_printf(msg, "\r\n\t(using %s)", s->tls_info);
	if (s->nrcpts == 1)
		buf_printf(msg, "\r\n\tfor <%s>", s->rcpts[0]);
	buf_printf(msg, "; %s\r\n", date);
	int has_date = 0, has_msgid = 0;
	size_t pos = 0;
	while (header_next(s->data.data, s->data.len, &pos, &f)) {  /* one pass for both */
		has_date |= f.namelen == 4 && strncasecmp(f.name, "Date", 4) == 0;
		has_msgid |= f.namelen == 10 && strncasecmp(f.name, "Message-ID", 10) == 0;
	}
	if (!has_date)
		buf_printf(msg, "Date: %s\r\n", date);
	if (!has_msgid)
		buf_printf(msg, "Message-ID: <%s.%lld@%s>\r\n", s->qid, (long long)now, cf->hostname);
}

static void commit_done(void *arg, int ok, const char *reason)
{
	struct smtp_session *s = arg;
	struct timeval now, d;
	gettimeofday(&now, NULL);
	timersub(&now, &s->commit_start, &d);
	s->req = NULL;
	if (ok) {
		reply(s, "250 2.0.0 Ok: queued as %s", s->qid);
		s->messages++;
		if (s->sd->on_queued)
			s->sd->on_queued(s->sd->on_queued_arg);
	} else {
		msg_warn("event=queue_failed session=%lu qid=%s client=%s reason=\"%s\"", s->id, s->qid,
			 s->addr, reason ? reason : "spool error");
		reply(s, "452 4.3.1 Insufficient system storage, message not queued: try again later");
	}
	msg_debug("event=commit_latency qid=%s ms=%ld.%03ld", s->qid, (long)(d.tv_sec * 1000 + d.tv_usec / 1000),
		  (long)(d.tv_usec % 1000));
	transaction_reset(s);
	if (s->shutdown)
		return session_close(s, "421 4.3.2 Service shutting down");
	bufferevent_enable(s->bev, EV_READ);
	session_read(s);
}

/* "  Bulk \r\n" -> "bulk"; NULL unless 1-32 of [a-z0-9._-] (a class is a
 * word the rules match on, not free text). */
static char *class_value(const char *v, size_t n)
{
	while (n && (*v == ' ' || *v == '\t' || *v == '\r' || *v == '\n'))
		v++, n--;
	while (n && (v[n - 1] == ' ' || v[n - 1] == '\t' || v[n - 1] == '\r' || v[n - 1] == '\n'))
		n--;
	if (n == 0 || n > 32)
		return NULL;
	char *c = xstrndup(v, n);
	for (char *p = c; *p; p++) {
		*p = (char)tolower((unsigned char)*p);
		if (!isalnum((unsigned char)*p) && *p != '.' && *p != '_' && *p != '-') {
			free(c);
			return NULL;
		}
	}
	return c;
}

/* Appends the client's message to out without its X-Outpost-Class fields
 * (an instruction to outpost, not for the recipient); the first valid
 * value becomes the message's class. */
static void append_without_class(struct smtp_session *s, struct buf *out, char **cls)
{
	static const char name[] = "X-Outpost-Class";
	struct header_field f;
	size_t pos = 0, copied = 0;
	while (header_next(s->data.data, s->data.len, &pos, &f)) {
		if (f.namelen != sizeof(name) - 1 || strncasecmp(f.name, name, f.namelen) != 0)
			continue;
		buf_append(out, s->data.data + copied, f.start - copied);
		copied = f.end;
		char *c = class_value(f.value, f.valuelen);
		if (c == NULL || *cls)
			msg_info("event=class_ignored session=%lu qid=%s reason=\"%s\"", s->id, s->qid,
				 c ? "repeated" : "not a word of 1-32 [a-z0-9._-]");
		if (*cls == NULL)
			*cls = c;
		else
			free(c);
	}
	buf_append(out, s->data.data + copied, s->data.len - copied);
}

static struct spool_msg *make_spool_msg(struct smtp_session *s)
{
	struct spool_msg *m = xcalloc(1, sizeof(*m));
	struct buf msg = BUF_INIT;
	m->created = time(NULL);
	buf_reserve(&msg, s->data.len + 1024);
	add_headers(s, &msg, m->created);
	append_without_class(s, &msg, &m->msg_class);
	memcpy(m->id, s->qid, sizeof(m->id));
	m->sender = s->sender;
	s->sender = NULL;
	m->rcpts = s->rcpts;
	m->nrcpts = s->nrcpts;
	s->rcpts = NULL;
	s->nrcpts = 0;
	m->client_addr = xstrdup(s->local ? "local" : s->addr);
	m->client_helo = xstrdup(s->helo[0] ? s->helo : "unknown");
	m->auth_user = s->user ? xstrdup(user_name(s->user)) : NULL;
	m->smtputf8 = s->mail.smtputf8;
	m->body_8bit = s->mail.body_8bit;
	m->body = buf_steal(&msg, &m->body_len);
	return m;
}

/* DKIM: signs on a worker thread (8bit bodies converted to quoted-printable
 * first), then commits.  A failure commits the message unsigned: mail is
 * never lost or refused because of its signature. */
struct sign_job {
	const struct dkim_signer *signer;
	struct spool_msg *m;
	int rc;                      /* 1 signed, 0 no key, -1 failed */
	int converted;
	char info[300];
	char err[256];
	struct smtp_session *s;
};

static void sign_run(void *arg)
{
	struct sign_job *j = arg;
	struct spool_msg *m = j->m;
	struct buf conv = BUF_INIT, out = BUF_INIT;
	const char *text = m->body;
	size_t len = m->body_len;

	if (!dkim_signer_wants(j->signer, text, len))
		return;
	if (m->body_8bit && mime7bit_needed(text, len)) {
		if (mime7bit_convert(text, len, &conv, j->err, sizeof(j->err)) < 0) {
			j->rc = -1;
			buf_free(&conv);
			return;
		}
		text = conv.data;
		len = conv.len;
		j->converted = 1;
	}
	j->rc = dkim_signer_sign(j->signer, text, len, m->id, &out, j->info, sizeof(j->info),
				 j->err, sizeof(j->err));
	if (j->rc == 1) {            /* the signatures go on top */
		buf_append(&out, text, len);
		free(m->body);
		m->body = buf_steal(&out, &m->body_len);
		if (j->converted)
			m->body_8bit = 0;
	}
	buf_free(&out);
	buf_free(&conv);
}

static void sign_job_free(void *arg)
{
	struct sign_job *j = arg;
	spool_msg_free(j->m);
	free(j);
}

static void sign_done(void *arg)
{
	struct sign_job *j = arg;
	struct smtp_session *s = j->s;
	char q[300];
	s->sign_job = NULL;
	if (j->rc == 1)
		msg_info("event=dkim_signed qid=%s %s converted=%s", j->m->id, j->info,
			 j->converted ? "8bit-to-qp" : "no");
	else if (j->rc < 0)
		msg_warn("event=dkim_failed qid=%s reason=%s action=queued_unsigned", j->m->id,
			 log_quote(q, sizeof(q), j->err));
	s->req = spool_commit(s->sd->spool, j->m, commit_done, s);
	free(j);
}

static void sign_and_commit(struct smtp_session *s, struct spool_msg *m)
{
	if (dkim_signer_nkeys(s->sd->signer) == 0) {
		s->req = spool_commit(s->sd->spool, m, commit_done, s);
		return;
	}
	struct sign_job *j = xcalloc(1, sizeof(*j));
	j->signer = s->sd->signer;
	j->m = m;
	j->s = s;
	s->sign_job = worker_submit(s->sd->workers, sign_run, sign_done, sign_job_free, j);
}

/* Mail for the canary mailbox is a probe coming back: verified, answered,
 * never queued. */
static int canary_take(struct smtp_session *s)
{
	if (!s->sd->canary || s->nrcpts != 1 || !canary_is_mailbox(s->sd->canary, s->rcpts[0]))
		return 0;
	canary_receive(s->sd->canary, s->data.data, s->data.len, s->qid);
	reply(s, "250 2.0.0 Ok: canary probe received as %s", s->qid);
	transaction_reset(s);
	if (s->shutdown)
		session_close(s, "421 4.3.2 Service shutting down");
	return 1;
}

static void data_end(struct smtp_session *s)
{
	static const char *const refusal[] = {
		[DATA_BARE_LF_CR] = "550 5.6.0 Message refused: bare LF or bare CR; lines must end with CRLF",
		[DATA_LINE_TOO_LONG] = "500 5.5.2 Message refused: line longer than 1000 octets",
		[DATA_TOO_BIG] = "552 5.3.4 Message size exceeds fixed maximum message size",
	};
	if (s->data_err != DATA_OK) {
		msg_info("event=message_refused session=%lu qid=%s client=%s reason=\"%s\"", s->id, s->qid,
			 s->addr, refusal[s->data_err] + 10);
		reply_error(s, refusal[s->data_err]);
		if (s->state != SMTP_S_CLOSING)
			transaction_reset(s);
		return;
	}
	if (canary_take(s))
		return;
	smtp_enter_state(s, SMTP_S_COMMIT);
	bufferevent_disable(s->bev, EV_READ);
	gettimeofday(&s->commit_start, NULL);
	sign_and_commit(s, make_spool_msg(s));
}

static void data_flag(struct smtp_session *s, enum data_error e)
{
	if (s->data_err == DATA_OK || e == DATA_BARE_LF_CR)
		s->data_err = e;
}

/* One line of message text (complete: ends with LF).  Returns 1 at the end of data. */
static int data_line(struct smtp_session *s, const char *l, size_t n, int complete)
{
	int crlf = 0;
	if (complete) {
		crlf = (n >= 2 && l[n - 2] == '\r') || (n == 1 && s->data_pending_cr);
		if (s->data_line_start && s->data_prev_crlf && n == 3 && l[0] == '.' && l[1] == '\r')
			return 1;
		if (!crlf)
			data_flag(s, DATA_BARE_LF_CR);
	}
	if (s->data_line_start && n > 0 && l[0] == '.')
		l++, n--;  /* dot-unstuffing */
	size_t text = complete ? n - (crlf && n >= 2 ? 2 : 1) : n;
	if (memchr(l, '\r', complete ? text : (n && l[n - 1] == '\r' ? n - 1 : n)) != NULL)
		data_flag(s, DATA_BARE_LF_CR);
	s->data_line_len += n;
	if (s->data_line_len > SMTP_TEXT_LINE_MAX)
		data_flag(s, DATA_LINE_TOO_LONG);
	if (s->data.len + n > s->sd->cf->inbound.max_message_size)
		data_flag(s, DATA_TOO_BIG);
	if (s->data_err == DATA_OK)
		buf_append(&s->data, l, n);
	s->data_pending_cr = n > 0 && l[n - 1] == '\r';
	s->data_line_start = complete;
	if (complete) {
		s->data_prev_crlf = crlf;
		s->data_line_len = 0;
	}
	return 0;
}

/* Consumes message text; returns 1 if the session should keep reading commands. */
static int data_read(struct smtp_session *s, struct evbuffer *in)
{
	for (;;) {
		size_t avail = evbuffer_get_length(in);
		if (avail == 0)
			return 0;
		struct evbuffer_ptr p = evbuffer_search(in, "\n", 1, NULL);
		int complete = p.pos >= 0;
		size_t take = complete ? (size_t)p.pos + 1 : avail;
		if (!complete && avail <= SMTP_TEXT_LINE_MAX + 2)
			return 0;  /* wait for the rest of the line */
		if (take > 65536) {
			take = 65536;
			complete = 0;
		}
		const char *l = (const char *)evbuffer_pullup(in, (ev_ssize_t)take);
		int end = data_line(s, l, take, complete);
		evbuffer_drain(in, take);
		if (end) {
			data_end(s);
			return s->state != SMTP_S_COMMIT && s->state != SMTP_S_CLOSING;
		}
	}
}

/* Reads commands (and message text) until input runs out or reading must pause. */
static void session_read(struct smtp_session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	char line[SMTP_CMD_LINE_MAX + 2];
	for (;;) {
		if (s->state == SMTP_S_DATA) {
			if (!data_read(s, in))
				return;
			continue;
		}
		if (s->state == SMTP_S_COMMIT || s->state == SMTP_S_AUTHCHECK || s->state == SMTP_S_TLS ||
		    s->state == SMTP_S_CLOSING)
			return;
		size_t eol_len = 0;
		struct evbuffer_ptr p = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_LF);
		if (p.pos < 0) {
			size_t avail = evbuffer_get_length(in);
			if (avail > SMTP_CMD_LINE_MAX) {
				evbuffer_drain(in, avail);
				if (!s->skip_line)
					reply_error(s, "500 5.5.2 Line too long");
				s->skip_line = 1;
			}
			return;
		}
		size_t n = (size_t)p.pos;
		if (s->skip_line || n >= sizeof(line)) {
			evbuffer_drain(in, n + eol_len);
			if (!s->skip_line)
				reply_error(s, "500 5.5.2 Line too long");
			s->skip_line = 0;
			continue;
		}
		evbuffer_remove(in, line, n + eol_len);
		if (n > 0 && line[n - 1] == '\r')
			n--;
		line[n] = '\0';
		do_command(s, line, n);
	}
}

static void on_read(struct bufferevent *bev, void *arg)
{
	(void)bev;
	session_read(arg);
}

static void on_close_poll(evutil_socket_t fd, short what, void *arg);

/* A TLS filter hands its output to the socket's bufferevent; freeing before
 * that drains would lose the last reply, so wait for it (at most 2 s). */
static int tls_output_pending(struct smtp_session *s)
{
	struct bufferevent *under = bufferevent_get_underlying(s->bev);
	if (under == NULL || evbuffer_get_length(bufferevent_get_output(under)) == 0 || s->close_polls++ >= 200)
		return 0;
	struct timeval tick = { 0, 10000 };
	if (s->close_ev == NULL)
		s->close_ev = evtimer_new(s->sd->base, on_close_poll, s);
	evtimer_add(s->close_ev, &tick);
	return 1;
}

static void on_write(struct bufferevent *bev, void *arg)
{
	struct smtp_session *s = arg;
	(void)bev;
	if (s->state == SMTP_S_CLOSING && !tls_output_pending(s))
		session_free(s);
}

static void on_close_poll(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_session *s = arg;
	(void)fd;
	(void)what;
	on_write(s->bev, s);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct smtp_session *s = arg;
	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		if (s->state == SMTP_S_TLS) {
			s->tls = 1;
			ssl_info(s);
			msg_info("event=tls session=%lu client=%s tls=\"%s\"", s->id, s->addr, s->tls_info);
			smtp_enter_state(s, SMTP_S_CONNECTED);
			session_read(s);
		}
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		msg_info("event=smtp_timeout session=%lu client=%s state=%s", s->id, s->addr,
			 state_names[s->state]);
		return session_close(s, "421 4.4.2 Idle timeout, closing connection");
	}
	if (what & BEV_EVENT_ERROR) {
		unsigned long e = bufferevent_get_openssl_error(s->bev);
		if (e) {
			char buf[256];
			ERR_error_string_n(e, buf, sizeof(buf));
			msg_info("event=tls_error session=%lu client=%s reason=\"%s\"", s->id, s->addr, buf);
		}
	}
	session_free(s);
}

static void on_lifetime(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_session *s = arg;
	(void)fd;
	(void)what;
	msg_info("event=smtp_session_limit session=%lu client=%s", s->id, s->addr);
	if (s->state == SMTP_S_COMMIT || s->state == SMTP_S_AUTHCHECK)
		s->shutdown = 1;  /* answer what is in flight first */
	else if (s->state != SMTP_S_CLOSING)
		session_close(s, "421 4.4.2 Session time limit exceeded, closing connection");
}

static void session_free(struct smtp_session *s)
{
	msg_info("event=disconnect session=%lu client=%s messages=%u errors=%u state=%s", s->id, s->addr,
		 s->messages, s->errors, state_names[s->state]);
	if (s->req)
		spool_req_detach(s->req);
	if (s->auth_job)
		worker_detach(s->auth_job);
	if (s->sign_job)
		worker_detach(s->sign_job);
	transaction_reset(s);
	if (s->lifetime_ev)
		event_free(s->lifetime_ev);
	if (s->close_ev)
		event_free(s->close_ev);
	bufferevent_free(s->bev);
	if (s->prev)
		s->prev->next = s->next;
	else
		s->sd->sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	struct smtpd *sd = s->sd;
	explicit_bzero(s->auth_name, sizeof(s->auth_name));
	free(s);
	smtpd_session_gone(sd);
}

void smtp_session_shutdown_all(struct smtpd *sd)
{
	struct smtp_session *s, *next;
	for (s = sd->sessions; s; s = next) {
		next = s->next;
		s->shutdown = 1;
		if (s->state == SMTP_S_CONNECTED || s->state == SMTP_S_READY || s->state == SMTP_S_AUTH)
			session_close(s, "421 4.3.2 Service shutting down");
	}
}

void smtp_session_free_all(struct smtpd *sd)
{
	while (sd->sessions)
		session_free(sd->sessions);
}

unsigned smtpd_sessions_from(const struct smtpd *sd, const struct sockaddr *sa)
{
	char a[64];
	unsigned n = 0;
	sockaddr_ntop(sa, a, sizeof(a));
	for (const struct smtp_session *s = sd->sessions; s; s = s->next)
		if (strcmp(s->addr, a) == 0)
			n++;
	return n;
}

/* Callbacks and the idle timeout on the session's (possibly new TLS) bufferevent. */
static void session_watch(struct smtp_session *s)
{
	struct timeval idle = { (time_t)s->sd->cf->inbound.idle_timeout, 0 };
	bufferevent_setcb(s->bev, on_read, on_write, on_event, s);
	bufferevent_set_timeouts(s->bev, &idle, NULL);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
}

static unsigned long session_ids;

void smtp_session_start(struct smtpd *sd, const struct listen_conf *lc, evutil_socket_t fd,
			const struct sockaddr *sa, int local)
{
	struct smtp_session *s = xcalloc(1, sizeof(*s));
	const struct config *cf = sd->cf;
	s->sd = sd;
	s->lc = lc;
	s->id = ++session_ids;
	s->local = local;
	if (local) {
		strcpy(s->addr, "local");
	} else {
		memcpy(&s->ss, sa, sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
		sockaddr_ntop(sa, s->addr, sizeof(s->addr));
		s->loopback = sockaddr_is_loopback(sa);
	}
	s->trusted = local || netmask_match_any(cf->client_networks, cf->nclient_networks, sa);
	if (lc->tls == LISTEN_TLS_IMPLICIT) {
		SSL *ssl = SSL_new(sd->ssl_ctx);
		s->bev = bufferevent_openssl_socket_new(sd->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
							BEV_OPT_CLOSE_ON_FREE);
		s->state = SMTP_S_TLS;
	} else {
		s->bev = bufferevent_socket_new(sd->base, fd, BEV_OPT_CLOSE_ON_FREE);
	}
	if (s->bev == NULL)
		msg_fatal("event=smtp_error reason=\"bufferevent_socket_new failed\"");
	s->next = sd->sessions;
	if (sd->sessions)
		sd->sessions->prev = s;
	sd->sessions = s;
	sd->nsessions++;
	struct timeval life = { (time_t)cf->inbound.session_timeout, 0 };
	session_watch(s);
	s->lifetime_ev = evtimer_new(sd->base, on_lifetime, s);
	evtimer_add(s->lifetime_ev, &life);
	msg_info("event=connect session=%lu client=%s listener=%s trusted=%s", s->id, s->addr, lc->address,
		 s->trusted ? "yes" : "no");
	reply(s, "220 %s ESMTP outpost", cf->hostname);
}
