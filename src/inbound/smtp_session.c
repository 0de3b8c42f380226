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
 * answered in order because commands wait in the input buffer while the
 * session is in COMMIT or AUTHCHECK.  Read interest stays on (no epoll
 * change per message): the input buffer's high watermark pauses reading of
 * a client that sends on meanwhile.  Replies collect in the output buffer
 * and are written once per burst of input (session_flush, run after the
 * read callback), straight to a plain socket: one write, no EPOLLOUT round
 * trip; only a reply the socket does not take at once waits for EV_WRITE.
 * Message text goes through data_decoder (the end of data, smuggling and
 * size checks); a message for a local mailbox (local_dispatch) goes to its
 * handler, any other to cleanup, which adds the trace fields, signs it
 * and commits it to the spool.
 */
#include <ctype.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <time.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/header.h"
#include "core/log.h"
#include "core/loop_post.h"
#include "core/netaddr.h"
#include "core/worker.h"
#include "core/xmalloc.h"
#include "inbound/auth.h"
#include "inbound/cleanup.h"
#include "inbound/data_decoder.h"
#include "inbound/local_dispatch.h"
#include "inbound/scan.h"
#include "inbound/smtp_parse.h"
#include "inbound/smtp_session_int.h"
#include "inbound/smtpd_int.h"
#include "inbound/tenant.h"
#include "inbound/tls_error.h"
#include "obs/obs.h"
#include "spool/spool.h"

static const char *const state_names[] = {
	"connected", "ready", "mail", "rcpt", "data", "commit", "auth", "authcheck", "tls", "closing", "scan",
};


static void session_read(struct smtp_session *s);
static void session_free(struct smtp_session *s);
static void session_watch(struct smtp_session *s);
static size_t session_flush_now(struct smtp_session *s);

void smtp_enter_state(struct smtp_session *s, enum smtp_state st)
{
	if (s->state != st)
		msg_debug("event=smtp_state session=%lu from=%s to=%s", s->id, state_names[s->state],
			  state_names[st]);
	s->state = st;
}

void smtp_reply(struct smtp_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void smtp_reply(struct smtp_session *s, const char *fmt, ...)
{
	struct evbuffer *out = bufferevent_get_output(s->bev);
	va_list ap;
	va_start(ap, fmt);
	evbuffer_add_vprintf(out, fmt, ap);
	va_end(ap);
	evbuffer_add(out, "\r\n", 2);
	if (s->direct)
		event_active(s->flush_ev, EV_WRITE, 0);   /* no syscall: runs after this callback */
}

/* Sends the last reply and frees the session once it has been written. */
void smtp_session_close(struct smtp_session *s, const char *text)
{
	struct timeval idle = { (time_t)s->sd->cf->inbound.idle_timeout, 0 };
	if (text)
		smtp_reply(s, "%s", text);
	if (!s->direct)   /* a plain socket's session_flush frees it once the reply is out */
		bufferevent_disable(s->bev, EV_READ);
	/* a client that does not read its last reply is dropped after idle_timeout */
	bufferevent_set_timeouts(s->bev, NULL, &idle);
	smtp_enter_state(s, SMTP_S_CLOSING);
}

static int answer_in_flight(const struct smtp_session *s)
{
	return s->state == SMTP_S_COMMIT || s->state == SMTP_S_SCAN || s->state == SMTP_S_AUTHCHECK;
}

/* After an answer that was in flight: reads on; a client that closed its
 * side meanwhile gets the answers to all it sent, then the session ends. */
void smtp_session_resume(struct smtp_session *s)
{
	if (s->shutdown)
		return smtp_session_close(s, "421 4.3.2 Service shutting down");
	session_read(s);
	if (s->peer_eof && s->state != SMTP_S_CLOSING && !answer_in_flight(s)) {
		smtp_session_close(s, NULL);
		event_active(s->flush_ev, EV_WRITE, 0);   /* frees it once the replies are out */
	}
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
	s->mailbox = NULL;
	data_decoder_free(&s->dec);
	s->qid[0] = '\0';
	s->tenant[0] = '\0';
	s->tenant_rcpts = 0;
	if (s->state != SMTP_S_CONNECTED)
		smtp_enter_state(s, SMTP_S_READY);
}

/* A refused command: counts towards max_errors, which ends the session. */
void smtp_reply_error(struct smtp_session *s, const char *text)
{
	smtp_reply(s, "%s", text);
	if (++s->errors >= s->sd->cf->inbound.max_errors) {
		msg_info("event=smtp_too_many_errors session=%lu client=%s errors=%u", s->id, s->addr,
			 s->errors);
		smtp_session_close(s, "421 4.7.0 Too many errors, closing connection");
	}
}

int smtp_auth_available(const struct smtp_session *s)
{
	return s->sd->users != NULL && s->lc->auth != LISTEN_AUTH_NONE &&
	       (s->tls || s->loopback || s->local);
}

static void do_helo(struct smtp_session *s, const struct smtp_cmd *c)
{
	const char *err = smtp_parse_helo(c->arg, c->arglen);
	if (err) {
		smtp_reply_error(s, err);
		return;
	}
	memcpy(s->helo, c->arg, c->arglen);
	s->helo[c->arglen] = '\0';
	s->esmtp = c->verb == SMTP_EHLO;
	smtp_enter_state(s, SMTP_S_READY);
	transaction_reset(s);
	const struct config *cf = s->sd->cf;
	if (!s->esmtp) {
		smtp_reply(s, "250 %s", cf->hostname);
		return;
	}
	smtp_reply(s, "250-%s", cf->hostname);
	smtp_reply(s, "250-PIPELINING");
	smtp_reply(s, "250-SIZE %llu", (unsigned long long)cf->inbound.max_message_size);
	if (s->lc->tls == LISTEN_TLS_STARTTLS && !s->tls && s->sd->ssl_ctx)
		smtp_reply(s, "250-STARTTLS");
	if (smtp_auth_available(s))
		smtp_reply(s, "250-AUTH PLAIN LOGIN");
	smtp_reply(s, "250-ENHANCEDSTATUSCODES");
	smtp_reply(s, "250-8BITMIME");
	smtp_reply(s, "250 SMTPUTF8");
}

/* A refusal of a message or recipient, for /metrics (obs_rejected). */
static void rejected(const struct smtp_session *s, const char *reason)
{
	obs_rejected(s->lc->address, reason);
}

/* The tenant of the transaction (tenant.h): NULL, or why MAIL is refused
 * (its domains do not hold the sender's, or it has sent its share). */
static const char *mail_tenant(struct smtp_session *s, const char *addr)
{
	static _Thread_local char why[256];   /* per inbound loop: returned to the caller */
	const char *how;
	struct tenant_who who = { s->user ? user_name(s->user) : NULL,
				  s->local ? NULL : (const struct sockaddr *)&s->ss,
				  s->mail.null_sender ? NULL : s->mail.addr.domain };
	const struct tenant_conf *t = tenant_identify(s->sd->cf, &who, &how);
	if (t == NULL)
		return NULL;
	if (!s->mail.null_sender && !tenant_domain_ok(t, s->mail.addr.domain)) {
		msg_info("event=sender_refused session=%lu client=%s tenant=%s from=<%s> reason=domain", s->id,
			 s->addr, t->name, addr);
		rejected(s, "sender_not_allowed");
		int n = snprintf(why, sizeof(why), "550 5.7.1 Sender domain not allowed for tenant %s", t->name);
		return n < 0 || (size_t)n >= sizeof(why) ? "550 5.7.1 Sender domain not allowed" : why;
	}
	if (tenant_rate_check(t, time(NULL), why, sizeof(why)) < 0) {
		rejected(s, strstr(why, " held") ? "tenant_held" : "tenant_limit");
		msg_info("event=tenant_limited session=%lu client=%s tenant=%s from=<%s> reason=\"%s\"", s->id,
			 s->addr, t->name, addr, why + 10);
		return why;
	}
	snprintf(s->tenant, sizeof(s->tenant), "%s", t->name);   /* names fit (tenant_config.h) */
	s->tenant_rcpts = t->limits.rcpts_per_msg;
	msg_debug("event=tenant session=%lu tenant=%s by=%s", s->id, t->name, how);
	return NULL;
}

static void do_mail(struct smtp_session *s, const struct smtp_cmd *c)
{
	const char *err;
	char addr[ADDR_LOCAL_MAX + ADDR_DOMAIN_MAX + 2];
	if (s->state == SMTP_S_CONNECTED)
		return smtp_reply_error(s, "503 5.5.1 Error: send HELO/EHLO first");
	if (s->state != SMTP_S_READY)
		return smtp_reply_error(s, "503 5.5.1 Error: nested MAIL command");
	if (s->shutdown)
		return smtp_session_close(s, "421 4.3.2 Service shutting down, try again later");
	if (s->lc->auth == LISTEN_AUTH_REQUIRED && s->user == NULL) {
		rejected(s, "auth_required");
		return smtp_reply_error(s, "530 5.7.0 Authentication required");
	}
	if ((err = smtp_parse_mail(c->arg, c->arglen, s->sd->cf->inbound.max_message_size, &s->mail))) {
		if (strncmp(err, "552", 3) == 0)   /* SIZE= over the limit */
			rejected(s, "size");
		return smtp_reply_error(s, err);
	}
	if (!s->esmtp && (s->mail.size || s->mail.body_8bit || s->mail.smtputf8))
		return smtp_reply_error(s, "555 5.5.4 MAIL parameters need EHLO");
	if (s->mail.null_sender)
		addr[0] = '\0';
	else if (address_format(&s->mail.addr, addr, sizeof(addr)) < 0)
		return smtp_reply_error(s, "553 5.1.7 Sender address too long");
	if (s->user && !s->mail.null_sender && !user_owns_domain(s->user, s->mail.addr.domain)) {
		msg_info("event=sender_refused session=%lu client=%s user=%s from=<%s>", s->id, s->addr,
			 user_name(s->user), addr);
		rejected(s, "sender_not_allowed");
		return smtp_reply_error(s, "550 5.7.1 Sender address not owned by the authenticated user");
	}
	if ((err = mail_tenant(s, addr)))
		return smtp_reply_error(s, err);
	s->sender = xstrdup(addr);
	spool_id_new(s->qid);
	smtp_enter_state(s, SMTP_S_MAIL);
	smtp_reply(s, "250 2.1.0 Ok");
}

/* The recipient of a RCPT command into addr; NULL or the refusal.  <postmaster>
 * without a domain (RFC 5321 4.5.1) is the admin address, accepted from anyone. */
static const char *rcpt_address(struct smtp_session *s, const struct smtp_cmd *c, char *addr, size_t size,
				int *postmaster)
{
	struct address a;
	const char *err;
	*postmaster = smtp_rcpt_is_postmaster(c->arg, c->arglen);
	if (*postmaster) {
		const struct config *cf = s->sd->cf;
		int n = cf->admin_address ? snprintf(addr, size, "%s", cf->admin_address)
					  : snprintf(addr, size, "postmaster@%s", cf->hostname);
		if (n < 0 || (size_t)n >= size)
			return "553 5.1.3 admin_address too long";
		msg_info("event=postmaster session=%lu qid=%s client=%s to=<%s>", s->id, s->qid, s->addr, addr);
		return NULL;
	}
	if ((err = smtp_parse_rcpt(c->arg, c->arglen, s->mail.smtputf8, &a)))
		return err;
	if (address_format(&a, addr, size) < 0)
		return "553 5.1.3 Recipient address too long";
	return NULL;
}

static void do_rcpt(struct smtp_session *s, const struct smtp_cmd *c)
{
	char addr[ADDR_LOCAL_MAX + ADDR_DOMAIN_MAX + 2];
	const char *err;
	int postmaster;
	if (s->state != SMTP_S_MAIL && s->state != SMTP_S_RCPT)
		return smtp_reply_error(s, "503 5.5.1 Error: need MAIL command");
	if (s->nrcpts >= s->sd->cf->inbound.max_recipients) {
		rejected(s, "too_many_recipients");
		return smtp_reply(s, "452 4.5.3 Too many recipients");
	}
	if (s->tenant_rcpts && s->nrcpts >= s->tenant_rcpts) {
		rejected(s, "too_many_recipients");
		return smtp_reply(s, "452 4.5.3 tenant %s: at most %u recipients per message", s->tenant, s->tenant_rcpts);
	}
	if ((err = rcpt_address(s, c, addr, sizeof(addr), &postmaster)))
		return smtp_reply_error(s, err);
	const struct local_mailbox *mb = postmaster ? NULL : local_dispatch_match(s->sd->local, addr);
	if ((mb && s->nrcpts > 0) || (!mb && s->mailbox))
		return smtp_reply(s, "452 4.5.3 A local mailbox takes a message of its own: send this recipient separately");
	if (mb == NULL && !postmaster && s->user == NULL && !s->trusted) {
		msg_info("event=relay_denied session=%lu qid=%s client=%s from=<%s> to=<%s>", s->id,
			 s->qid, s->addr, s->sender, addr);
		rejected(s, "relay_denied");
		return smtp_reply_error(s, "554 5.7.1 Relay denied");
	}
	char refusal[512];
	/* the suppression scope "user:NAME" is the tenant's when the message has one */
	const char *scope_user = s->tenant[0] ? s->tenant : s->user ? user_name(s->user) : NULL;
	if (mb == NULL && s->sd->rcpt_check &&
	    s->sd->rcpt_check(s->sd->rcpt_check_arg, addr, s->sender, scope_user, s->qid, refusal, sizeof(refusal))) {
		rejected(s, "suppressed");
		return smtp_reply(s, "%s", refusal);
	}
	s->rcpts = xreallocarray(s->rcpts, s->nrcpts + 1, sizeof(char *));
	s->rcpts[s->nrcpts++] = xstrdup(addr);
	s->mailbox = mb;
	smtp_enter_state(s, SMTP_S_RCPT);
	smtp_reply(s, "250 2.1.5 Ok");
}

static void do_data(struct smtp_session *s, const struct smtp_cmd *c)
{
	if (s->state == SMTP_S_MAIL)
		return smtp_reply_error(s, "554 5.5.1 Error: no valid recipients");
	if (s->state != SMTP_S_RCPT)
		return smtp_reply_error(s, "503 5.5.1 Error: need RCPT command");
	if (c->arglen)
		return smtp_reply_error(s, "501 5.5.4 Syntax: DATA");
	data_decoder_start(&s->dec, s->sd->cf->inbound.max_message_size,
			   s->mail.size ? (size_t)s->mail.size + 1024 : 8192);
	smtp_enter_state(s, SMTP_S_DATA);
	smtp_reply(s, "354 End data with <CR><LF>.<CR><LF>");
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
		return smtp_reply_error(s, "454 4.7.0 TLS not available");
	if (c->arglen)
		return smtp_reply_error(s, "501 5.5.4 Syntax: STARTTLS");
	if (s->state != SMTP_S_READY && s->state != SMTP_S_CONNECTED)
		return smtp_reply_error(s, "503 5.5.1 Error: STARTTLS inside a transaction");
	smtp_reply(s, "220 2.0.0 Ready to start TLS");
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
		return smtp_session_close(s, NULL);
	}
	/* the TLS filter keeps replies in its own output (watched by session_read)
	 * while the socket's is this full */
	bufferevent_setwatermark(s->bev, EV_WRITE, 0, SMTP_REPLY_WATERMARK);
	/* the socket's bufferevent now writes the filter's output (this 220 first) itself */
	s->direct = 0;
	bufferevent_enable(s->bev, EV_WRITE);
	s->bev = tb;
	session_watch(s);
	s->helo[0] = '\0';
	s->esmtp = 0;
	smtp_enter_state(s, SMTP_S_TLS);
}

static void do_command(struct smtp_session *s, const char *line, size_t len)
{
	struct smtp_cmd c;
	const char *err;
	if (s->state == SMTP_S_AUTH)
		return smtp_auth_response(s, line, len);
	if ((err = smtp_cmd_parse(line, len, &c)))
		return smtp_reply_error(s, err);
	switch (c.verb) {
	case SMTP_HELO:
	case SMTP_EHLO: return do_helo(s, &c);
	case SMTP_MAIL: return do_mail(s, &c);
	case SMTP_RCPT: return do_rcpt(s, &c);
	case SMTP_DATA: return do_data(s, &c);
	case SMTP_STARTTLS: return do_starttls(s, &c);
	case SMTP_AUTH: return smtp_do_auth(s, &c);
	case SMTP_RSET:
		transaction_reset(s);
		return smtp_reply(s, "250 2.0.0 Ok");
	case SMTP_NOOP: return smtp_reply(s, "250 2.0.0 Ok");
	case SMTP_VRFY: return smtp_reply(s, "252 2.5.0 Cannot VRFY user, but will accept message");
	case SMTP_EXPN: return smtp_reply_error(s, "502 5.5.1 EXPN not available");
	case SMTP_HELP: return smtp_reply(s, "214 2.0.0 See RFC 5321; outpost accepts mail for relaying");
	case SMTP_QUIT: return smtp_session_close(s, "221 2.0.0 Bye");
	case SMTP_BDAT: return smtp_reply_error(s, "502 5.5.1 BDAT not implemented");
	case SMTP_UNKNOWN: break;
	}
	smtp_reply_error(s, "500 5.5.1 Command unrecognized");
}

/* ---- message text ---- */

static void commit_done(void *arg, int ok, const char *reason)
{
	struct smtp_session *s = arg;
	struct timeval now, d;
	gettimeofday(&now, NULL);
	timersub(&now, &s->commit_start, &d);
	s->commit = NULL;
	if (ok > 0) {
		smtp_reply(s, "250 2.0.0 Ok: queued as %s", s->qid);
		s->messages++;
		obs_received(s->lc->address, s->user ? user_name(s->user) : NULL, s->tenant);
		if (s->tenant[0])
			tenant_rate_count(s->tenant, time(NULL));
		if (s->sd->on_queued)
			s->sd->on_queued(s->sd->on_queued_arg);
	} else if (ok < 0) {         /* cleanup refused it: reason is the reply */
		rejected(s, "malformed");
		smtp_reply(s, "%s", reason);
	} else {
		rejected(s, "spool");
		msg_warn("event=queue_failed session=%lu qid=%s client=%s reason=\"%s\"", s->id, s->qid,
			 s->addr, reason ? reason : "spool error");
		smtp_reply(s, "452 4.3.1 Insufficient system storage, message not queued: try again later");
	}
	msg_debug("event=commit_latency qid=%s ms=%ld.%03ld", s->qid, (long)(d.tv_sec * 1000 + d.tv_usec / 1000),
		  (long)(d.tv_usec % 1000));
	transaction_reset(s);
	smtp_session_resume(s);
}

/* Hands the decoded message to cleanup (trace fields, class, DKIM) and the
 * spool, with the scanner's verdict (NULL: no scanner; !ok: unscanned). */
static void queue_message(struct smtp_session *s, const struct scan_result *scan)
{
	struct cleanup_envelope env = {
		.session = s->id, .qid = s->qid, .client = s->local ? "local" : s->addr, .helo = s->helo,
		.esmtp = s->esmtp, .tls = s->tls, .smtputf8 = s->mail.smtputf8,
		.body_8bit = s->mail.body_8bit, .tls_info = s->tls_info,
		.auth_user = s->user ? user_name(s->user) : NULL, .tenant = s->tenant[0] ? s->tenant : NULL,
		.sender = s->sender, .rcpts = s->rcpts, .nrcpts = s->nrcpts,
	};
	s->sender = NULL;
	s->rcpts = NULL;
	s->nrcpts = 0;
	struct spool_msg *m = cleanup_message(s->sd->cf, &env, s->dec.out.data, s->dec.out.len);
	if (scan) {
		m->scan_action = xstrdup(scan->ok ? scan->v.action_name : "unscanned");
		m->scan_score = scan->ok ? scan->v.score : 0;
		m->scan_symbols = scan->ok && scan->v.symbols[0] ? xstrdup(scan->v.symbols) : NULL;
	}
	data_decoder_free(&s->dec);
	smtp_enter_state(s, SMTP_S_COMMIT);   /* commands wait in the input buffer */
	gettimeofday(&s->commit_start, NULL);
	s->commit = cleanup_commit(s->sd->workers, s->sd->signer, s->sd->spool, smtpd_reply_to(s->sd), m,
				   commit_done, s);
}

/* A message for a local mailbox, from a session on another loop than main. */
struct local_job {
	struct smtp_session *s;      /* NULL once the session is gone (set on its loop) */
	struct smtpd *home;          /* the session's loop */
	const struct local_mailbox *mailbox;
	char qid[SPOOL_ID_LEN + 1], client[64], helo[256];
	char *auth_user, *sender, *rcpt;
	struct buf data;
	char reply[512];
};

static void local_job_free(struct local_job *j)
{
	free(j->auth_user);
	free(j->sender);
	free(j->rcpt);
	buf_free(&j->data);
	free(j);
}

/* Back on the session's loop: the handler's reply. */
static void local_job_done(void *arg, int run)
{
	struct local_job *j = arg;
	struct smtp_session *s = j->s;
	if (run && s) {
		s->local_job = NULL;
		smtp_reply(s, "%s", j->reply);
		transaction_reset(s);
		smtp_session_resume(s);
	}
	local_job_free(j);
}

/* On the main loop: the handler. */
static void local_job_run(void *arg, int run)
{
	struct local_job *j = arg;
	if (!run)
		return local_job_free(j);
	struct local_message m = {
		.qid = j->qid, .client = j->client, .helo = j->helo, .auth_user = j->auth_user,
		.sender = j->sender, .rcpt = j->rcpt, .data = j->data.data ? j->data.data : "", .len = j->data.len,
	};
	local_dispatch_deliver(j->mailbox, &m, j->reply, sizeof(j->reply));
	loop_post(j->home->post, local_job_done, j);
}

static void local_job_start(struct smtp_session *s)
{
	struct local_job *j = xcalloc(1, sizeof(*j));
	j->s = s;
	j->home = s->sd;
	j->mailbox = s->mailbox;
	memcpy(j->qid, s->qid, sizeof(j->qid));
	memcpy(j->client, s->local ? "local" : s->addr, s->local ? sizeof("local") : sizeof(j->client));
	memcpy(j->helo, s->helo, sizeof(j->helo));
	j->auth_user = s->user ? xstrdup(user_name(s->user)) : NULL;
	j->sender = xstrdup(s->sender);
	j->rcpt = xstrdup(s->rcpts[0]);
	j->data = s->dec.out;                 /* taken: the session frees its decoder */
	s->dec.out = (struct buf)BUF_INIT;
	s->local_job = j;
	smtp_enter_state(s, SMTP_S_COMMIT);   /* commands wait in the input buffer */
	loop_post(s->sd->main->post, local_job_run, j);
}

/* Mail for a local mailbox goes to its handler, never to the queue.  The
 * handlers keep their state on the main loop (the canary, the feedback
 * jobs): a session on another loop posts the message there and waits in
 * COMMIT for the reply (struct local_job). */
static void deliver_locally(struct smtp_session *s)
{
	char text[512];
	if (s->sd->main != s->sd)
		return local_job_start(s);
	struct local_message m = {
		.qid = s->qid, .client = s->local ? "local" : s->addr, .helo = s->helo,
		.auth_user = s->user ? user_name(s->user) : NULL, .sender = s->sender,
		.rcpt = s->rcpts[0], .data = s->dec.out.data ? s->dec.out.data : "",
		.len = s->dec.out.len,
	};
	local_dispatch_deliver(s->mailbox, &m, text, sizeof(text));
	smtp_reply(s, "%s", text);
	transaction_reset(s);
	if (s->shutdown)
		smtp_session_close(s, "421 4.3.2 Service shutting down");
}

/* After a verdict that refuses the message: the session goes on. */
static void scan_refused(struct smtp_session *s, const char *text)
{
	smtp_reply(s, "%s", text);
	transaction_reset(s);
	smtp_session_resume(s);   /* what the client pipelined meanwhile waited in the input */
}

static void scan_done(void *arg, const struct scan_result *r)
{
	struct smtp_session *s = arg;
	const struct scanner_conf *sc = &s->sd->cf->scanner;
	char text[400], q[200];
	s->scan = NULL;
	obs_scan(r->ok ? r->v.action_name : "error", s->tenant, r->ms / 1e3);
	if (!r->ok) {
		int tempfail = sc->on_error == SCAN_ON_ERROR_TEMPFAIL;
		obs_scan_error(r->kind ? r->kind : "connect", tempfail ? "tempfail" : "accept");
		msg_warn("event=scan_error session=%lu qid=%s tenant=%s reason=%s kind=%s ms=%.1f action=%s", s->id,
			 s->qid, s->tenant[0] ? s->tenant : "-", log_quote(q, sizeof(q), r->error),
			 r->kind ? r->kind : "connect", r->ms, tempfail ? "tempfail" : "accept");
		if (tempfail) {
			rejected(s, "scanner_error");
			return scan_refused(s, "451 4.7.1 The message could not be scanned, try again later");
		}
		return queue_message(s, r);
	}
	msg_info("event=scan session=%lu qid=%s tenant=%s action=%s score=%.2f symbols=%s ms=%.1f", s->id, s->qid,
		 s->tenant[0] ? s->tenant : "-", log_quote(text, sizeof(text), r->v.action_name), r->v.score,
		 log_quote(q, sizeof(q), r->v.symbols), r->ms);
	if (r->v.action == SCAN_REJECT || r->v.action == SCAN_SOFT_REJECT) {
		int hard = r->v.action == SCAN_REJECT;
		int n = snprintf(text, sizeof(text), "%s %s", hard ? "550 5.7.1" : "451 4.7.1",
				 r->v.message[0] ? r->v.message : hard ? "Message rejected as spam"
								     : "Message deferred by the spam filter, try again later");
		if (n < 0 || (size_t)n >= sizeof(text))
			snprintf(text, sizeof(text), "%s", hard ? "550 5.7.1 Spam" : "451 4.7.1 Try again later");
		msg_info("event=message_refused session=%lu qid=%s client=%s reason=scan action=%s", s->id, s->qid,
			 s->addr, hard ? "reject" : "soft_reject");
		rejected(s, "scanner");
		return scan_refused(s, text);
	}
	queue_message(s, r);
}

/* Asks the scanner; the session waits for the verdict in SCAN, where
 * input stays in the buffer (as in COMMIT). */
static void scan_message(struct smtp_session *s)
{
	struct scan_env env = { s->qid, s->local ? NULL : s->addr, s->helo, s->sender, s->rcpts, s->nrcpts,
				s->user ? user_name(s->user) : NULL, s->tenant[0] ? s->tenant : NULL };
	smtp_enter_state(s, SMTP_S_SCAN);
	s->scan = scan_start(s->sd->base, &s->sd->cf->scanner, &env, s->dec.out.data ? s->dec.out.data : "",
			     s->dec.out.len, scan_done, s);
	if (s->scan == NULL) {
		struct scan_result r = { .ok = 0, .error = "cannot start the request", .kind = "connect" };
		scan_done(s, &r);
	}
}

static void data_end(struct smtp_session *s)
{
	enum data_error e = s->dec.err;
	if (e != DATA_OK) {
		const char *r = data_error_reply(e);
		msg_info("event=message_refused session=%lu qid=%s client=%s reason=\"%s\"", s->id, s->qid,
			 s->addr, r + 10);
		rejected(s, e == DATA_TOO_BIG ? "size" : "malformed");
		smtp_reply_error(s, r);
		if (s->state != SMTP_S_CLOSING)
			transaction_reset(s);
		return;
	}
	unsigned hops = cleanup_count_hops(s->dec.out.data, s->dec.out.len);
	if (hops > CLEANUP_MAX_HOPS) {
		msg_info("event=message_refused session=%lu qid=%s client=%s reason=\"too many hops\" hops=%u",
			 s->id, s->qid, s->addr, hops);
		rejected(s, "loop");
		smtp_reply_error(s, CLEANUP_HOPS_REPLY);
		if (s->state != SMTP_S_CLOSING)
			transaction_reset(s);
		return;
	}
	if (s->mailbox)
		deliver_locally(s);
	else if (s->sd->cf->scanner.set)
		scan_message(s);
	else
		queue_message(s, NULL);
}

/* Message text arriving faster than libevent reads it (at most 4 KiB per
 * read and a return to epoll between reads): reads up to 64 KiB more of it
 * from a plain socket at once.  0 when nothing came (EAGAIN, EOF or an
 * error: libevent's own read then reports it). */
static size_t data_read_more(struct smtp_session *s, struct evbuffer *in)
{
	struct evbuffer_iovec v[2];
	ssize_t n = 0;
	if (!s->direct)
		return 0;
	/* the socket bufferevent keeps its input's end frozen but while it reads */
	evbuffer_unfreeze(in, 0);
	int nv = evbuffer_reserve_space(in, 64 * 1024, v, 2);
	if (nv >= 1 && (n = readv(bufferevent_getfd(s->bev), (struct iovec *)v, nv)) > 0) {
		for (int i = 0; i < nv; i++) {
			size_t take = (size_t)n < v[i].iov_len ? (size_t)n : v[i].iov_len;
			v[i].iov_len = take;
			n -= (ssize_t)take;
		}
		evbuffer_commit_space(in, v, nv);
	}
	evbuffer_freeze(in, 0);
	return evbuffer_get_length(in);
}

/* Consumes message text; returns 1 if the session should keep reading commands. */
static int data_read(struct smtp_session *s, struct evbuffer *in)
{
	/* more is read directly only while text is flowing, not right after DATA */
	int flowing = evbuffer_get_length(in) > 0;
	while (evbuffer_get_length(in) > 0 || (flowing && data_read_more(s, in) > 0)) {
		struct evbuffer_iovec v;
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			return 0;
		size_t used = data_decoder_feed(&s->dec, v.iov_base, v.iov_len);
		evbuffer_drain(in, used);
		if (s->dec.done) {
			data_end(s);
			return s->state != SMTP_S_COMMIT && s->state != SMTP_S_SCAN && s->state != SMTP_S_CLOSING;
		}
	}
	return 0;
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
		if (s->state == SMTP_S_COMMIT || s->state == SMTP_S_SCAN || s->state == SMTP_S_AUTHCHECK ||
		    s->state == SMTP_S_TLS || s->state == SMTP_S_CLOSING)
			return;
		if (evbuffer_get_length(bufferevent_get_output(s->bev)) > SMTP_REPLY_WATERMARK &&
		    session_flush_now(s) > SMTP_REPLY_WATERMARK) {
			s->out_paused = 1;   /* on_write resumes once the replies are out */
			bufferevent_disable(s->bev, EV_READ);
			bufferevent_enable(s->bev, EV_WRITE);
			return;
		}
		size_t eol_len = 0;
		struct evbuffer_ptr p = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_LF);
		if (p.pos < 0) {
			size_t avail = evbuffer_get_length(in);
			if (avail > SMTP_CMD_LINE_MAX) {
				evbuffer_drain(in, avail);
				if (!s->skip_line)
					smtp_reply_error(s, "500 5.5.2 Line too long");
				s->skip_line = 1;
			}
			return;
		}
		size_t n = (size_t)p.pos;
		if (s->skip_line || n >= sizeof(line)) {
			evbuffer_drain(in, n + eol_len);
			if (!s->skip_line)
				smtp_reply_error(s, "500 5.5.2 Line too long");
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

/* Writes what the output holds to a plain socket now; returns what is left.
 * What the socket does not take waits for EV_WRITE (libevent writes it and
 * calls on_write); an error there reaches on_event. */
static size_t session_flush_now(struct smtp_session *s)
{
	struct evbuffer *out = bufferevent_get_output(s->bev);
	if (!s->direct || evbuffer_get_length(out) == 0)
		return evbuffer_get_length(out);
	/* the socket bufferevent keeps its output's start frozen but while it writes */
	evbuffer_unfreeze(out, 1);
	int n = evbuffer_write(out, bufferevent_getfd(s->bev));
	evbuffer_freeze(out, 1);
	if (n < 0 || evbuffer_get_length(out) > 0)
		bufferevent_enable(s->bev, EV_WRITE);
	return evbuffer_get_length(out);
}

/* The burst's replies, once the callback that made them has returned. */
static void on_flush(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_session *s = arg;
	(void)fd;
	(void)what;
	if (session_flush_now(s) > 0) {
		if (s->state == SMTP_S_CLOSING)   /* wait for the last reply, not for EOF */
			bufferevent_disable(s->bev, EV_READ);
		return;
	}
	if (s->state == SMTP_S_CLOSING)
		session_free(s);
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
	if (s->direct)   /* all written: back to writing from session_flush */
		bufferevent_disable(s->bev, EV_WRITE);
	if (s->state == SMTP_S_CLOSING) {
		if (!tls_output_pending(s))
			session_free(s);
		return;
	}
	if (s->out_paused) {
		s->out_paused = 0;
		bufferevent_enable(s->bev, EV_READ);
		session_read(s);
	}
}

static void on_close_poll(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_session *s = arg;
	(void)fd;
	(void)what;
	on_write(s->bev, s);
}

/* Logs what went wrong on a TLS connection, in words (tls_error.h). */
static void log_tls_error(struct smtp_session *s, short what)
{
	unsigned long errs[TLS_ERRORS_MAX];
	size_t n = 0;
	unsigned long e;
	int sys_errno = (what & BEV_EVENT_ERROR) ? EVUTIL_SOCKET_ERROR() : 0;
	while ((e = bufferevent_get_openssl_error(s->bev)) != 0)
		if (n < TLS_ERRORS_MAX)
			errs[n++] = e;
	if (n == 0 && s->state != SMTP_S_TLS)
		return;           /* a plain network error or EOF: the disconnect line says it */
	struct tls_error te;
	char q[200];
	tls_error_describe(errs, n, sys_errno, s->state == SMTP_S_TLS, &te);
	msg_info("event=tls_error session=%lu client=%s stage=%s reason=\"%s\" detail=%s", s->id, s->addr,
		 s->state == SMTP_S_TLS ? "handshake" : "session", te.reason, log_quote(q, sizeof(q), te.detail));
}

static void on_timeout(struct smtp_session *s, short what)
{
	if (s->state == SMTP_S_TLS) {
		/* no reply can reach a client whose handshake has not finished */
		msg_info("event=tls_error session=%lu client=%s stage=handshake reason=\"handshake timeout\" detail=\"\"",
			 s->id, s->addr);
		return session_free(s);
	}
	msg_info("event=smtp_timeout session=%lu client=%s state=%s waiting_for=%s", s->id, s->addr,
		 state_names[s->state], (what & BEV_EVENT_WRITING) ? "client_to_read" : "command");
	if (s->state == SMTP_S_CLOSING || (what & BEV_EVENT_WRITING))
		return session_free(s);   /* the client does not read: no reply would reach it */
	smtp_session_close(s, "421 4.4.2 Idle timeout, closing connection");
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
	if (what & BEV_EVENT_TIMEOUT)
		return on_timeout(s, what);
	if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR) && answer_in_flight(s)) {
		s->peer_eof = 1;   /* sendmail -bs, or a client that shuts down after QUIT */
		bufferevent_disable(s->bev, EV_READ);
		return;
	}
	if (what & (BEV_EVENT_ERROR | BEV_EVENT_EOF))
		log_tls_error(s, what);
	session_free(s);
}

static void on_lifetime(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_session *s = arg;
	(void)fd;
	(void)what;
	msg_info("event=smtp_session_limit session=%lu client=%s state=%s", s->id, s->addr,
		 state_names[s->state]);
	if (s->state == SMTP_S_COMMIT || s->state == SMTP_S_SCAN || s->state == SMTP_S_AUTHCHECK)
		s->shutdown = 1;  /* answer what is in flight first */
	else if (s->state == SMTP_S_TLS || s->state == SMTP_S_CLOSING)
		session_free(s);  /* no reply can be delivered */
	else
		smtp_session_close(s, "421 4.4.2 Session time limit exceeded, closing connection");
}

static void session_free(struct smtp_session *s)
{
	obs_session(s->lc->address, 0);
	msg_info("event=disconnect session=%lu client=%s messages=%u errors=%u state=%s", s->id, s->addr,
		 s->messages, s->errors, state_names[s->state]);
	cleanup_detach(s->commit);
	scan_cancel(s->scan);
	if (s->local_job)
		s->local_job->s = NULL;   /* its reply is dropped */
	if (s->auth_job)
		worker_detach(s->auth_job);
	transaction_reset(s);
	if (s->lifetime_ev)
		event_free(s->lifetime_ev);
	if (s->close_ev)
		event_free(s->close_ev);
	if (s->flush_ev)
		event_free(s->flush_ev);
	if (s->auth_delay_ev)
		event_free(s->auth_delay_ev);
	bufferevent_free(s->bev);
	if (s->prev)
		s->prev->next = s->next;
	else
		s->sd->sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	struct smtpd *sd = s->sd;
	int local = s->local;
	char addr[sizeof(s->addr)];
	memcpy(addr, s->addr, sizeof(addr));
	explicit_bzero(s->auth_name, sizeof(s->auth_name));
	users_free(s->users);
	config_free(s->lc_cf);
	free(s);
	smtpd_session_gone(sd, local, addr);
}

void smtp_session_shutdown_all(struct smtpd *sd)
{
	struct smtp_session *s, *next;
	for (s = sd->sessions; s; s = next) {
		next = s->next;
		s->shutdown = 1;
		if (s->state == SMTP_S_CONNECTED || s->state == SMTP_S_READY || s->state == SMTP_S_AUTH)
			smtp_session_close(s, "421 4.3.2 Service shutting down");
		else if (s->state == SMTP_S_TLS)
			session_free(s);  /* a handshake in progress holds nothing */
	}
}

void smtp_session_free_all(struct smtpd *sd)
{
	while (sd->sessions)
		session_free(sd->sessions);
}

/* Callbacks and the idle timeout on the session's (possibly new TLS) bufferevent. */
static void session_watch(struct smtp_session *s)
{
	struct timeval idle = { (time_t)s->sd->cf->inbound.idle_timeout, 0 };
	bufferevent_setcb(s->bev, on_read, on_write, on_event, s);
	/* the write timeout drops a client that stopped reading its replies */
	bufferevent_set_timeouts(s->bev, &idle, &idle);
	bufferevent_setwatermark(s->bev, EV_READ, 0, SMTP_INPUT_WATERMARK);
	if (s->direct)   /* on by default: session_flush writes, EV_WRITE only for a full socket */
		bufferevent_disable(s->bev, EV_WRITE);
	bufferevent_enable(s->bev, s->direct ? EV_READ : EV_READ | EV_WRITE);
}

static _Atomic unsigned long session_ids;   /* shared by every inbound loop */

void smtp_session_start(struct smtpd *sd, const struct listen_conf *lc, evutil_socket_t fd,
			const struct sockaddr *sa, int local)
{
	struct smtp_session *s = xcalloc(1, sizeof(*s));
	const struct config *cf = sd->cf;
	s->sd = sd;
	s->lc = lc;
	s->lc_cf = config_ref(cf);
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
		s->direct = 1;
	}
	if (s->bev == NULL)
		msg_fatal("event=smtp_error reason=\"bufferevent_socket_new failed\"");
	s->next = sd->sessions;
	if (sd->sessions)
		sd->sessions->prev = s;
	sd->sessions = s;
	sd->nsessions++;
	struct timeval life = { (time_t)cf->inbound.session_timeout, 0 };
	s->flush_ev = event_new(sd->base, -1, 0, on_flush, s);
	session_watch(s);
	s->lifetime_ev = evtimer_new(sd->base, on_lifetime, s);
	evtimer_add(s->lifetime_ev, &life);
	obs_session(lc->address, 1);
	msg_info("event=connect session=%lu client=%s listener=%s trusted=%s loop=%u", s->id, s->addr,
		 lc->address, s->trusted ? "yes" : "no", sd->index);
	smtp_reply(s, "220 %s ESMTP outpost", cf->hostname);
}
