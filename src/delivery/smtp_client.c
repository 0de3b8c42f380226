/*
 * smtp_client: one outbound SMTP connection, as a state machine on the
 * libevent loop.  Contract in smtp_client.h; the decisions made here:
 *
 * States (one enum, one smtp_client_enter_state() that logs transitions):
 *   IDLE      no connection
 *   CONNECT   TCP connect in progress (connect_timeout, own timer)
 *   TLS       TLS handshake (implicit, or after STARTTLS's 220)
 *   GREETING  waiting for 220
 *   EHLO      EHLO sent (5xx: HELO follows)
 *   HELO      HELO sent
 *   STARTTLS  STARTTLS sent
 *   AUTH      AUTH PLAIN, or the AUTH LOGIN exchange, in progress
 *   READY     connected, no transaction: reusable
 *   RSET      RSET sent before a transaction on a reused connection
 *   MAIL      waiting for MAIL's reply (with PIPELINING, RCPTs and DATA
 *             were sent with it and their replies follow in order)
 *   RCPT      waiting for RCPT replies
 *   DATA      waiting for DATA's 354
 *   BODY      body sent (or being sent), waiting for the final reply
 *   DOT       a lone "." sent after a pipelined DATA got 354 although no
 *             recipient was accepted (RFC 2920 3.1); its reply is ignored
 *
 * Replies are bounded: a line by MAX_REPLY_LINE, a whole multi-line reply
 * by MAX_REPLY_BYTES and MAX_REPLY_LINES, and by time: from its first
 * byte, a reply must be complete within command_timeout (c->timer, which
 * is free outside CONNECT and TLS), so a server dripping an endless "250-"
 * continuation can neither hold the connection nor spin the loop.
 *
 * Results: a recipient's result becomes final where it is decided (its
 * RCPT reply when rejected, MAIL's reply for all, the final reply after
 * the body for the accepted ones).  A failure of the connection (timeout,
 * loss, 421, TLS, protocol error) gives every recipient not yet final the
 * same result and closes the connection.  A refused MAIL, a transaction
 * with no accepted recipient, or a refused body keep the connection.
 * Every failure text says at which stage it happened.
 *
 * Reuse: deliver() on a READY connection sends RSET first; if RSET fails
 * (the server closed an idle connection under us, or refused RSET), the
 * connection is dropped and one fresh connection is made for the same
 * transaction - the transaction had not started, so nothing is lost.
 * With PIPELINING, MAIL, the RCPTs and DATA go out in the same write as
 * RSET (RFC 2920 3.1: RSET may be anywhere in a group): one round trip
 * less per message.  Their replies are judged only after RSET's 2xx; when
 * RSET fails, the connection and whatever it answered are dropped before
 * any body was sent, and the fresh connection sends the whole
 * transaction again.
 *
 * AUTH failures (any non-235, 535 5.7.8 included) are made TEMPORARY with
 * the class of the enhanced code turned to 4: wrong credentials are our
 * configuration problem, not the message's.  Reply code and text are kept.
 *
 * 8BITMIME: BODY=8BITMIME is sent when the body is 8-bit and the server
 * offers it; when it does not, the body is sent unchanged (conversion to
 * 7-bit is not done yet).
 *
 * Writes: commands and the body collect in c->pend during one callback
 * and go out together when it returns (flush_out): a pipelined group in
 * one write.  On a plain socket with nothing queued in the bufferevent they
 * are sent straight away (sendmsg); only what the socket does not take is
 * handed to the bufferevent, whose write event libevent adds and removes
 * around every write it does (two epoll_ctl per command).
 *
 * The done callback always runs from its own event (done_ev), never from
 * inside smtp_client_deliver() or a bufferevent callback, so it may free
 * the client.  smtp_client_free() during a transaction cancels it: done is
 * not called.  QUIT is handed to a small self-owning "closer".
 */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/base64.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/netaddr.h"
#include "core/xmalloc.h"
#include "delivery/smtp_client.h"

#define MAX_REPLY_LINE 8192     /* RFC 5321 says 512; be generous, but bounded */
#define MAX_REPLY_BYTES 65536   /* one whole (multi-line) reply: an EHLO is < 1 KB */
#define MAX_REPLY_LINES 1000
#define QUIT_WAIT_SECS 2

enum smtp_client_state {
	C_IDLE, C_CONNECT, C_TLS, C_GREETING, C_EHLO, C_HELO, C_STARTTLS, C_AUTH,
	C_READY, C_RSET, C_MAIL, C_RCPT, C_DATA, C_BODY, C_DOT,
};

/* Per state: its name for logs, and where we were for failure texts. */
static const struct {
	const char *name;
	const char *where;
} state_tab[] = {
	[C_IDLE] = { "idle", "while idle" },
	[C_CONNECT] = { "connect", "while connecting" },
	[C_TLS] = { "tls", "during TLS handshake" },
	[C_GREETING] = { "greeting", "waiting for greeting" },
	[C_EHLO] = { "ehlo", "after EHLO" },
	[C_HELO] = { "helo", "after HELO" },
	[C_STARTTLS] = { "starttls", "after STARTTLS" },
	[C_AUTH] = { "auth", "after AUTH" },
	[C_READY] = { "ready", "while idle" },
	[C_RSET] = { "rset", "after RSET" },
	[C_MAIL] = { "mail", "after MAIL" },
	[C_RCPT] = { "rcpt", "after RCPT" },
	[C_DATA] = { "data", "after DATA" },
	[C_BODY] = { "body", "after end of data" },
	[C_DOT] = { "dot", "after end of data" },
};

struct smtp_client {
	struct event_base *base;
	struct smtp_client_params p;        /* strings below are our copies */
	char *host_name, *helo, *auth_user, *auth_pass;
	enum smtp_client_state state;
	struct bufferevent *bev;
	int raw;                            /* bev is the socket's own, not TLS */
	struct evbuffer *pend;              /* written by this callback, not yet sent */
	struct event *timer;                /* connect and TLS handshake */
	struct event *done_ev;              /* runs done outside of any caller */
	struct timeval cmd_tv;
	int tls_on, implicit_pending, esmtp, rset_retried, auth_login_step;
	struct reply_ehlo ehlo;
	/* the reply being read */
	int rcode, rlines;
	char rtext[512];
	size_t rtextlen, rbytes;
	/* the transaction */
	int busy;
	struct smtp_txn txn;
	smtp_client_done_cb *done;
	void *arg;
	struct smtp_txn_result res;
	unsigned char *final;               /* per recipient: result decided */
	size_t rcpt_sent, rcpt_replied, accepted;
	int mail_failed, pipelined;
	int rset_pipelined;                 /* the transaction went out with RSET */
};

static void on_read(struct bufferevent *bev, void *arg);
static void on_write(struct bufferevent *bev, void *arg);
static void on_event(struct bufferevent *bev, short what, void *arg);
static void start_connect(struct smtp_client *c);
static void begin_txn(struct smtp_client *c);

static const char *qid_of(const struct smtp_client *c)
{
	return c->busy && c->txn.qid ? c->txn.qid : "-";
}

static void smtp_client_enter_state(struct smtp_client *c, enum smtp_client_state st)
{
	if (c->state != st)
		msg_debug("event=smtp_client_state qid=%s host=%s from=%s to=%s", qid_of(c), c->host_name,
			  state_tab[c->state].name, state_tab[st].name);
	c->state = st;
}

/* One line of the SMTP dialogue ("C: ..." or "S: ..."), when debugging. */
static void dialogue(const struct smtp_client *c, const char *line)
{
	char q[700];
	if (log_debug_enabled())
		msg_debug("event=smtp_dialogue qid=%s host=%s line=%s", qid_of(c), c->host_name,
			  log_quote(q, sizeof(q), line));
}

static void send_line(struct smtp_client *c, const char *logged, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Writes one command; logged replaces it in the debug log (credentials). */
static void send_line(struct smtp_client *c, const char *logged, const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	if (log_debug_enabled()) {
		char *l = xasprintf("C: %s", logged ? logged : b.data);
		dialogue(c, l);
		free(l);
	}
	buf_puts(&b, "\r\n");
	evbuffer_add(c->pend, b.data, b.len);
	buf_free(&b);
}

/* Read timeout while a reply is awaited; none while idle. */
static void set_read_timeout(struct smtp_client *c, int on)
{
	bufferevent_set_timeouts(c->bev, on ? &c->cmd_tv : NULL, &c->cmd_tv);
}

/* Sends what c->pend holds straight to a plain socket: as much as it
 * takes now, without waiting for a write event. */
static void send_direct(struct smtp_client *c)
{
	struct evbuffer_iovec v[64];
	struct iovec iov[64];
	int n = evbuffer_peek(c->pend, -1, NULL, v, 64);
	if (n > 64)
		n = 64;
	for (int i = 0; i < n; i++) {
		iov[i].iov_base = v[i].iov_base;
		iov[i].iov_len = v[i].iov_len;
	}
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)n };
	ssize_t sent = sendmsg(bufferevent_getfd(c->bev), &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (sent > 0)
		evbuffer_drain(c->pend, (size_t)sent);
	/* an error is left for the bufferevent to meet and report (on_event) */
}

/* Sends c->pend (see the module comment); in BODY, the reply's time bound
 * starts once the body has gone out (here or in on_write). */
static void flush_out(struct smtp_client *c)
{
	if (evbuffer_get_length(c->pend) == 0)
		return;
	if (c->bev == NULL) {
		evbuffer_drain(c->pend, evbuffer_get_length(c->pend));
		return;
	}
	struct evbuffer *out = bufferevent_get_output(c->bev);
	if (c->raw && evbuffer_get_length(out) == 0)
		send_direct(c);
	if (evbuffer_get_length(c->pend))
		bufferevent_write_buffer(c->bev, c->pend);
	else if (c->state == C_BODY)
		set_read_timeout(c, 1);
}

static void close_conn(struct smtp_client *c)
{
	if (c->bev)
		bufferevent_free(c->bev);
	c->bev = NULL;
	c->raw = 0;
	evbuffer_drain(c->pend, evbuffer_get_length(c->pend));
	evtimer_del(c->timer);
	c->tls_on = 0;
	c->esmtp = 0;
	memset(&c->ehlo, 0, sizeof(c->ehlo));
	smtp_client_enter_state(c, C_IDLE);
}

/* Ends the transaction: the connection stays READY when keep, and done
 * runs from done_ev. */
static void txn_end(struct smtp_client *c, int keep)
{
	if (keep && c->bev) {
		set_read_timeout(c, 0);
		smtp_client_enter_state(c, C_READY);
	} else {
		close_conn(c);
	}
	c->busy = 0;
	event_active(c->done_ev, EV_TIMEOUT, 1);
}

/* Gives every recipient not yet decided the result ri. */
static void settle_rest(struct smtp_client *c, const struct reply_info *ri)
{
	if (c->txn.nrcpts == 0 && !c->res.probe_failed) {
		c->res.probe_failed = 1;
		c->res.probe = *ri;
	}
	for (size_t i = 0; i < c->txn.nrcpts; i++)
		if (!c->final[i]) {
			c->res.rcpt[i] = *ri;
			c->final[i] = 1;
		}
}

static void fail_local(struct smtp_client *c, int keep, const char *enh, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* A failure without a reply; keep says whether the connection survives. */
static void fail_local(struct smtp_client *c, int keep, const char *enh, const char *fmt, ...)
{
	char text[400];
	struct reply_info ri;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (n < 0)
		text[0] = '\0';      /* truncation is harmless: a log/DSN text */
	reply_local(enh, text, &ri);
	settle_rest(c, &ri);
	txn_end(c, keep);
}

/* The current reply, for all undecided recipients; the connection closes. */
static void fail_reply(struct smtp_client *c)
{
	struct reply_info ri;
	reply_classify(c->rcode, c->rtext, &ri);
	settle_rest(c, &ri);
	txn_end(c, 0);
}

/* A reply that makes no sense here (a 2xx/3xx where another was due). */
static void fail_protocol(struct smtp_client *c)
{
	int code = c->rcode;
	fail_local(c, 0, "4.5.0", "protocol error: unexpected reply %s: %d %s", state_tab[c->state].where,
		   code, c->rtext);
}

/* A 4xx/5xx reply ends the dialogue; anything else is a protocol error. */
static void fail_by_reply(struct smtp_client *c)
{
	if (c->rcode >= 400 && c->rcode < 600)
		fail_reply(c);
	else
		fail_protocol(c);
}

/* --- connection set-up */

static void send_ehlo(struct smtp_client *c)
{
	memset(&c->ehlo, 0, sizeof(c->ehlo));
	send_line(c, NULL, "EHLO %s", c->helo);
	smtp_client_enter_state(c, C_EHLO);
}

static int host_is_ip(const char *h)
{
	unsigned char a[16];
	return inet_pton(AF_INET, h, a) == 1 || inet_pton(AF_INET6, h, a) == 1;
}

static void start_tls(struct smtp_client *c)
{
	if (c->p.ssl_ctx == NULL)
		return fail_local(c, 0, "4.7.5", "TLS needed but no TLS client context configured");
	/* Anything the server sent after its 220 came in clear: drop it. */
	struct evbuffer *in = bufferevent_get_input(c->bev);
	evbuffer_drain(in, evbuffer_get_length(in));
	SSL *ssl = SSL_new(c->p.ssl_ctx);
	if (ssl == NULL)
		return fail_local(c, 0, "4.7.5", "cannot start TLS: SSL_new failed");
	/* Verification is judged after the handshake (VERIFY_NONE keeps the
	 * result instead of aborting), so every mode can record it. */
	SSL_set_verify(ssl, SSL_VERIFY_NONE, NULL);
	if (c->host_name[0] && !host_is_ip(c->host_name))
		SSL_set_tlsext_host_name(ssl, c->host_name);
	if (c->host_name[0])
		SSL_set1_host(ssl, c->host_name);
	struct bufferevent *tb = bufferevent_openssl_filter_new(c->base, c->bev, ssl, BUFFEREVENT_SSL_CONNECTING,
								BEV_OPT_CLOSE_ON_FREE);
	if (tb == NULL) {
		SSL_free(ssl);
		return fail_local(c, 0, "4.7.5", "cannot start TLS");
	}
	bufferevent_openssl_set_allow_dirty_shutdown(tb, 1);
	c->bev = tb;
	c->raw = 0;
	bufferevent_setcb(tb, on_read, on_write, on_event, c);
	set_read_timeout(c, 1);
	bufferevent_enable(tb, EV_READ | EV_WRITE);
	evtimer_add(c->timer, &c->cmd_tv);
	smtp_client_enter_state(c, C_TLS);
}

static int tls_must_verify(const struct smtp_client *c)
{
	return c->p.tls == SMTP_TLS_VERIFY || c->p.tls == SMTP_TLS_IMPLICIT;
}

/* Handshake done: record what was negotiated, then check the certificate. */
static void tls_done(struct smtp_client *c)
{
	evtimer_del(c->timer);
	SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
	long vr = SSL_get_verify_result(ssl);
	int have_cert = SSL_get0_peer_certificate(ssl) != NULL;
	int n = snprintf(c->res.tls, sizeof(c->res.tls), "%s %s", SSL_get_version(ssl), SSL_get_cipher_name(ssl));
	if (n < 0 || (size_t)n >= sizeof(c->res.tls))
		snprintf(c->res.tls, sizeof(c->res.tls), "%s", SSL_get_version(ssl));
	c->res.tls_verified = have_cert && vr == X509_V_OK;
	c->tls_on = 1;
	if (tls_must_verify(c) && !c->res.tls_verified)
		return fail_local(c, 0, "4.7.5", "certificate verification failed: %s",
				  have_cert ? X509_verify_cert_error_string(vr) : "no certificate");
	if (c->implicit_pending) {
		c->implicit_pending = 0;
		smtp_client_enter_state(c, C_GREETING);
		/* A greeting that came with the handshake's last bytes was not
		 * read in TLS state: read it now rather than wait for more. */
		if (evbuffer_get_length(bufferevent_get_input(c->bev)))
			on_read(c->bev, c);
		return;
	}
	send_ehlo(c);
}

static void tls_failed(struct smtp_client *c)
{
	char why[256] = "handshake failed";
	unsigned long e = bufferevent_get_openssl_error(c->bev);
	if (e)
		ERR_error_string_n(e, why, sizeof(why));
	fail_local(c, 0, "4.7.5", "TLS handshake failed: %s", why);
}

static void begin_auth(struct smtp_client *c)
{
	if (!c->tls_on && c->p.tls != SMTP_TLS_NONE)
		return fail_local(c, 0, "4.7.0", "refusing to send credentials without TLS");
	if (!c->ehlo.auth_plain && !c->ehlo.auth_login)
		return fail_local(c, 0, "4.7.0", "AUTH PLAIN or LOGIN required but not offered by host");
	smtp_client_enter_state(c, C_AUTH);
	if (c->ehlo.auth_plain) {
		size_t ul = strlen(c->auth_user), pl = strlen(c->auth_pass);
		struct buf m = BUF_INIT;
		buf_putc(&m, '\0');
		buf_append(&m, c->auth_user, ul);
		buf_putc(&m, '\0');
		buf_append(&m, c->auth_pass, pl);
		size_t blen = base64_encoded_len(m.len) + 1;
		char *b64 = xmalloc(blen);
		base64_encode((unsigned char *)m.data, m.len, b64, blen);
		send_line(c, "AUTH PLAIN <hidden>", "AUTH PLAIN %s", b64);
		explicit_bzero(m.data, m.len);
		explicit_bzero(b64, blen);
		buf_free(&m);
		free(b64);
		c->auth_login_step = -1;
	} else {
		send_line(c, NULL, "AUTH LOGIN");
		c->auth_login_step = 0;
	}
}

/* After EHLO/HELO: STARTTLS, AUTH or the transaction, per the tls mode. */
static void after_ehlo(struct smtp_client *c)
{
	if (!c->tls_on && c->p.tls != SMTP_TLS_NONE) {
		if (c->ehlo.starttls && c->p.ssl_ctx) {
			send_line(c, NULL, "STARTTLS");
			return smtp_client_enter_state(c, C_STARTTLS);
		}
		if (c->p.tls != SMTP_TLS_OPPORTUNISTIC)
			return fail_local(c, 0, "4.7.5", "TLS required but not offered by host");
	}
	if (c->auth_user)
		return begin_auth(c);
	begin_txn(c);
}

/* --- the transaction */

static void append_mail_from(struct smtp_client *c, struct buf *b)
{
	buf_printf(b, "MAIL FROM:<%s>", c->txn.sender);
	if (c->ehlo.size_set)
		buf_printf(b, " SIZE=%zu", c->txn.body_len);
	if (c->txn.body_8bit && c->ehlo.eightbitmime)
		buf_puts(b, " BODY=8BITMIME");
	if (c->txn.smtputf8)
		buf_puts(b, " SMTPUTF8");
}

/* Sends cmd (no CRLF), logging it. */
static void send_buf(struct smtp_client *c, struct buf *b)
{
	send_line(c, NULL, "%s", b->data);
	buf_reset(b);
}

static void send_rcpt(struct smtp_client *c)
{
	send_line(c, NULL, "RCPT TO:<%s>", c->txn.rcpts[c->rcpt_sent++]);
}

/* Whether the transaction ends here without a command (begin_txn). */
static int txn_ends_locally(const struct smtp_client *c)
{
	const struct reply_ehlo *e = &c->ehlo;
	return (e->size_set && e->size && c->txn.body_len > e->size) || (c->txn.smtputf8 && !e->smtputf8) ||
	       c->txn.nrcpts == 0;
}

/* MAIL; with PIPELINING, every RCPT and DATA in the same write (RFC 2920). */
static void send_txn(struct smtp_client *c)
{
	struct buf b = BUF_INIT;
	append_mail_from(c, &b);
	send_buf(c, &b);
	buf_free(&b);
	c->pipelined = c->ehlo.pipelining;
	if (c->pipelined) {
		while (c->rcpt_sent < c->txn.nrcpts)
			send_rcpt(c);
		send_line(c, NULL, "DATA");
	}
}

static void begin_txn(struct smtp_client *c)
{
	const struct reply_ehlo *e = &c->ehlo;
	if (e->size_set && e->size && c->txn.body_len > e->size)
		return fail_local(c, 1, "5.3.4", "message too big for remote host (%zu bytes, limit %llu)",
				  c->txn.body_len, e->size);
	if (c->txn.smtputf8 && !e->smtputf8)
		return fail_local(c, 1, "5.6.7", "SMTPUTF8 not supported by remote host");
	if (c->txn.nrcpts == 0)
		return txn_end(c, 1);
	send_txn(c);
	set_read_timeout(c, 1);
	smtp_client_enter_state(c, C_MAIL);
}

/* The first "\n." in [p, end) whose "." is past p, or NULL: memchr for
 * the "." (vectorised), then a look at the octet before it.  glibc's
 * memmem steps through a 2-octet needle one octet at a time: it was a
 * third of all the instructions a relayed 1 MB message cost
 * (bench/diskcost.sh with CALLGRIND=1). */
static const char *next_dot_line(const char *p, const char *end)
{
	for (const char *d = p; (d = memchr(d, '.', (size_t)(end - d))) != NULL; d++)
		if (d > p && d[-1] == '\n')
			return d - 1;
	return NULL;
}

/* The body, dot-stuffed, ending CRLF.CRLF (a missing last CRLF is added). */
static void send_body(struct smtp_client *c)
{
	struct evbuffer *out = c->pend;
	const char *p = c->txn.body, *end = p + c->txn.body_len;
	if (p < end && *p == '.')
		evbuffer_add(out, ".", 1);
	/* one copy per run of lines up to the next line that starts with ".",
	 * not one per line: evbuffer_add's cost is per call */
	evbuffer_expand(out, c->txn.body_len + c->txn.body_len / 64 + 8);
	while (p < end) {
		const char *lf = next_dot_line(p, end);
		if (lf == NULL) {
			evbuffer_add(out, p, (size_t)(end - p));
			break;
		}
		evbuffer_add(out, p, (size_t)(lf + 1 - p));
		evbuffer_add(out, ".", 1);
		p = lf + 1;
	}
	size_t n = c->txn.body_len;
	if (n < 2 || c->txn.body[n - 2] != '\r' || c->txn.body[n - 1] != '\n')
		evbuffer_add(out, "\r\n", 2);
	evbuffer_add(out, ".\r\n", 3);
	dialogue(c, "C: <body> .");
	/* A big body may take longer than one command timeout to write: the
	 * read timeout starts when the output has drained (flush_out, on_write). */
	bufferevent_set_timeouts(c->bev, NULL, &c->cmd_tv);
	smtp_client_enter_state(c, C_BODY);
}

static void on_mail_reply(struct smtp_client *c)
{
	if (c->rcode < 200 || c->rcode >= 300) {
		struct reply_info ri;
		if (c->rcode < 400 || c->rcode >= 600)
			return fail_protocol(c);
		reply_classify(c->rcode, c->rtext, &ri);
		settle_rest(c, &ri);
		c->mail_failed = 1;
		if (!c->pipelined)
			return txn_end(c, 1);
	} else if (!c->pipelined) {
		send_rcpt(c);
	}
	smtp_client_enter_state(c, C_RCPT);
}

/* All RCPT replies read: on to DATA, or end with nobody accepted. */
static void rcpts_done(struct smtp_client *c)
{
	if (c->pipelined)
		return smtp_client_enter_state(c, C_DATA);
	if (c->accepted == 0)
		return txn_end(c, 1);   /* the open transaction is RSET before the next */
	send_line(c, NULL, "DATA");
	smtp_client_enter_state(c, C_DATA);
}

static void on_rcpt_reply(struct smtp_client *c)
{
	size_t i = c->rcpt_replied++;
	if (!c->mail_failed) {
		if (c->rcode >= 200 && c->rcode < 300)
			c->accepted++;
		else if (c->rcode >= 400 && c->rcode < 600) {
			reply_classify(c->rcode, c->rtext, &c->res.rcpt[i]);
			c->final[i] = 1;
		} else
			return fail_protocol(c);
	}
	if (c->rcpt_replied < c->txn.nrcpts) {
		if (!c->pipelined)
			send_rcpt(c);
		return;
	}
	rcpts_done(c);
}

static void on_data_reply(struct smtp_client *c)
{
	int useful = c->accepted > 0 && !c->mail_failed;
	if (c->rcode == 354) {
		if (useful)
			return send_body(c);
		/* Pipelined DATA accepted with no valid recipient: end it empty. */
		send_line(c, NULL, ".");
		return smtp_client_enter_state(c, C_DOT);
	}
	if (!useful)
		return txn_end(c, 1);   /* the expected 503/554: results are already final */
	if (c->rcode >= 400 && c->rcode < 600) {
		struct reply_info ri;
		reply_classify(c->rcode, c->rtext, &ri);
		settle_rest(c, &ri);
		return txn_end(c, 1);
	}
	fail_protocol(c);
}

static void on_body_reply(struct smtp_client *c)
{
	if (c->rcode < 200 || (c->rcode >= 300 && c->rcode < 400) || c->rcode >= 600)
		return fail_protocol(c);
	struct reply_info ri;
	reply_classify(c->rcode, c->rtext, &ri);
	settle_rest(c, &ri);
	txn_end(c, 1);
}

/* --- replies before the transaction */

static void on_greeting(struct smtp_client *c)
{
	if (c->rcode != 220)
		return fail_by_reply(c);
	send_ehlo(c);
}

static void on_ehlo_reply(struct smtp_client *c)
{
	if (c->rcode >= 200 && c->rcode < 300) {
		c->esmtp = 1;
		return after_ehlo(c);
	}
	if (c->rcode >= 500 && c->rcode < 600 && !c->tls_on) {
		memset(&c->ehlo, 0, sizeof(c->ehlo));
		send_line(c, NULL, "HELO %s", c->helo);
		return smtp_client_enter_state(c, C_HELO);
	}
	fail_by_reply(c);
}

static void on_helo_reply(struct smtp_client *c)
{
	if (c->rcode < 200 || c->rcode >= 300)
		return fail_by_reply(c);
	after_ehlo(c);
}

static void on_starttls_reply(struct smtp_client *c)
{
	if (c->rcode == 220)
		return start_tls(c);
	if (c->p.tls == SMTP_TLS_OPPORTUNISTIC && c->rcode >= 400 && c->rcode < 600) {
		/* Refused before any handshake: plaintext is what "opportunistic" means. */
		if (c->auth_user)
			return begin_auth(c);
		return begin_txn(c);
	}
	if (c->rcode >= 400 && c->rcode < 600)
		return fail_local(c, 0, "4.7.5", "TLS required but STARTTLS refused: %d %s", c->rcode, c->rtext);
	fail_protocol(c);
}

static void auth_failed(struct smtp_client *c)
{
	struct reply_info ri;
	if (c->rcode < 400 || c->rcode >= 600)
		return fail_protocol(c);
	reply_classify(c->rcode, c->rtext, &ri);
	ri.outcome = REPLY_TEMP;
	ri.enh[0] = '4';
	settle_rest(c, &ri);
	txn_end(c, 0);
}

static void send_b64(struct smtp_client *c, const char *s, const char *logged)
{
	size_t len = strlen(s), blen = base64_encoded_len(len) + 1;
	char *b64 = xmalloc(blen);
	base64_encode((const unsigned char *)s, len, b64, blen);
	send_line(c, logged, "%s", b64);
	explicit_bzero(b64, blen);
	free(b64);
}

static void on_auth_reply(struct smtp_client *c)
{
	if (c->rcode == 235)
		return begin_txn(c);
	if (c->rcode == 334 && c->auth_login_step == 0) {
		c->auth_login_step = 1;
		return send_b64(c, c->auth_user, "<user>");
	}
	if (c->rcode == 334 && c->auth_login_step == 1) {
		c->auth_login_step = 2;
		return send_b64(c, c->auth_pass, "<hidden>");
	}
	auth_failed(c);
}

static void on_rset_reply(struct smtp_client *c)
{
	if (c->rcode >= 200 && c->rcode < 300 && c->rset_pipelined)
		return smtp_client_enter_state(c, C_MAIL);   /* its replies follow */
	if (c->rcode >= 200 && c->rcode < 300)
		return begin_txn(c);
	close_conn(c);
	if (c->rset_retried++)
		return fail_local(c, 0, "4.4.2", "RSET refused: %d %s", c->rcode, c->rtext);
	start_connect(c);
}

/* Dispatches one complete reply by state. */
static void on_reply(struct smtp_client *c)
{
	/* The server is closing: nothing more here (a reused connection's RSET
	 * reconnects instead, as the transaction has not started). */
	if (c->rcode == 421 && c->state != C_READY && c->state != C_RSET)
		return fail_reply(c);
	switch (c->state) {
	case C_GREETING: return on_greeting(c);
	case C_EHLO: return on_ehlo_reply(c);
	case C_HELO: return on_helo_reply(c);
	case C_STARTTLS: return on_starttls_reply(c);
	case C_AUTH: return on_auth_reply(c);
	case C_RSET: return on_rset_reply(c);
	case C_MAIL: return on_mail_reply(c);
	case C_RCPT: return on_rcpt_reply(c);
	case C_DATA: return on_data_reply(c);
	case C_BODY: return on_body_reply(c);
	case C_DOT: return txn_end(c, 1);
	case C_READY:   /* unsolicited (a 421 idle timeout): the connection is done */
	default:
		close_conn(c);
	}
}

/* Adds one line to the reply being read; 1 when the reply is complete. */
static int reply_add_line(struct smtp_client *c, const char *line, size_t len)
{
	int code, last;
	const char *text;
	size_t tlen;
	if (reply_parse_line(line, len, &code, &last, &text, &tlen) < 0)
		return -1;
	c->rbytes += len + 2;
	if (c->rlines++ == 0) {
		c->rcode = code;
	} else {
		if (c->state == C_EHLO)
			reply_parse_ehlo_line(text, tlen, &c->ehlo);
		if (c->rtextlen + 3 < sizeof(c->rtext)) {
			memcpy(c->rtext + c->rtextlen, " / ", 3);
			c->rtextlen += 3;
		}
	}
	size_t room = sizeof(c->rtext) - 1 - c->rtextlen;
	size_t n = tlen < room ? tlen : room;
	memcpy(c->rtext + c->rtextlen, text, n);
	c->rtextlen += n;
	c->rtext[c->rtextlen] = '\0';
	return last;
}

static int reading(const struct smtp_client *c)
{
	return c->bev && c->state != C_IDLE && c->state != C_CONNECT && c->state != C_TLS;
}

/* Ends a reply that broke a bound: idle (READY), the connection is just
 * dropped, as nobody waits for it; otherwise the transaction fails. */
static void reply_overrun(struct smtp_client *c, const char *why)
{
	if (c->state == C_READY)
		return close_conn(c);
	fail_local(c, 0, "4.5.0", "protocol error: %s %s", why, state_tab[c->state].where);
}

static void read_replies(struct smtp_client *c)
{
	while (reading(c)) {
		struct evbuffer *in = bufferevent_get_input(c->bev);
		if (evbuffer_get_length(in) && !evtimer_pending(c->timer, NULL))
			evtimer_add(c->timer, &c->cmd_tv);   /* the whole reply's time bound */
		size_t len;
		char *line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF);
		if (line == NULL) {
			if (evbuffer_get_length(in) > MAX_REPLY_LINE)
				reply_overrun(c, "reply line too long");
			return;
		}
		if (log_debug_enabled()) {
			char *l = xasprintf("S: %s", line);
			dialogue(c, l);
			free(l);
		}
		int r = reply_add_line(c, line, len);
		free(line);
		if (r < 0)
			return reply_overrun(c, "malformed reply");
		if (r == 0 && (c->rbytes > MAX_REPLY_BYTES || c->rlines > MAX_REPLY_LINES))
			return reply_overrun(c, "reply longer than 64 KB or 1000 lines");
		if (r == 1) {
			evtimer_del(c->timer);
			on_reply(c);
			c->rlines = 0;
			c->rbytes = 0;
			c->rtextlen = 0;
			c->rtext[0] = '\0';
		}
	}
}

static void on_read(struct bufferevent *bev, void *arg)
{
	struct smtp_client *c = arg;
	(void)bev;
	read_replies(c);
	flush_out(c);
}

static void on_write(struct bufferevent *bev, void *arg)
{
	struct smtp_client *c = arg;
	(void)bev;
	if (c->state == C_BODY)
		set_read_timeout(c, 1);
}

static void on_connected(struct smtp_client *c)
{
	evtimer_del(c->timer);
	if (c->p.tls == SMTP_TLS_IMPLICIT) {
		c->implicit_pending = 1;
		return start_tls(c);
	}
	set_read_timeout(c, 1);
	smtp_client_enter_state(c, C_GREETING);
}

static void handle_event(struct smtp_client *c, short what)
{
	if (what & BEV_EVENT_CONNECTED) {
		if (c->state == C_CONNECT)
			return on_connected(c);
		if (c->state == C_TLS)
			return tls_done(c);
		return;
	}
	if (c->state == C_READY)
		return close_conn(c);   /* closed while idle: not reusable, nobody to tell */
	if (c->state == C_RSET && !c->rset_retried++) {
		close_conn(c);
		return start_connect(c);
	}
	if (c->state == C_CONNECT)
		return fail_local(c, 0, "4.4.1", "connect to %s[%s] failed: %s", c->host_name, c->res.remote_ip,
				  evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	if (c->state == C_TLS && !(what & BEV_EVENT_TIMEOUT))
		return tls_failed(c);
	if (what & BEV_EVENT_TIMEOUT)
		return fail_local(c, 0, "4.4.2", "timeout %s", state_tab[c->state].where);
	fail_local(c, 0, "4.4.2", "connection lost %s", state_tab[c->state].where);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct smtp_client *c = arg;
	(void)bev;
	handle_event(c, what);
	flush_out(c);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_client *c = arg;
	(void)fd;
	(void)what;
	if (c->state == C_CONNECT)
		return fail_local(c, 0, "4.4.1", "timeout connecting to %s[%s]", c->host_name, c->res.remote_ip);
	if (c->state == C_TLS)
		return fail_local(c, 0, "4.4.2", "timeout %s", state_tab[c->state].where);
	if (c->state == C_READY)
		return close_conn(c);
	fail_local(c, 0, "4.4.2", "timeout %s: the reply did not end within the command timeout",
		   state_tab[c->state].where);
}

/* A socket bound to the configured source address, or -1 with errno. */
static evutil_socket_t bound_socket(const struct smtp_client *c)
{
	int fd = socket(c->p.source.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (bind(fd, (const struct sockaddr *)&c->p.source, c->p.sourcelen) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static void start_connect(struct smtp_client *c)
{
	evutil_socket_t fd = -1;
	smtp_client_enter_state(c, C_CONNECT);
	c->rcpt_sent = 0;          /* a pipelined RSET's failure: the transaction again */
	c->rset_pipelined = 0;
	c->res.tls[0] = '\0';
	c->res.tls_verified = 0;
	if (c->p.source.ss_family && (fd = bound_socket(c)) < 0) {
		char a[64];
		sockaddr_ntop((const struct sockaddr *)&c->p.source, a, sizeof(a));
		return fail_local(c, 0, "4.3.0", "cannot bind to source %s: %s", a, strerror(errno));
	}
	c->bev = bufferevent_socket_new(c->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		if (fd >= 0)
			close(fd);
		return fail_local(c, 0, "4.3.0", "cannot create a connection");
	}
	c->raw = 1;
	bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
	/* a body goes out in as few writes as the socket takes (libevent's
	 * default is 16 KiB per write: seven writev for 100 KB) */
	bufferevent_set_max_single_write(c->bev, 1024 * 1024);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	struct timeval tv = { c->p.connect_timeout ? (time_t)c->p.connect_timeout : 30, 0 };
	evtimer_add(c->timer, &tv);
	if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&c->p.addr, (int)c->p.addrlen) < 0)
		fail_local(c, 0, "4.4.1", "connect to %s[%s] failed: %s", c->host_name, c->res.remote_ip,
			   strerror(errno));
}

/* --- public interface */

static void on_done(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_client *c = arg;
	(void)fd;
	(void)what;
	c->done(c->arg, &c->res);   /* may free c: nothing after this */
}

struct smtp_client *smtp_client_new(struct event_base *base, const struct smtp_client_params *p)
{
	struct smtp_client *c = xcalloc(1, sizeof(*c));
	c->base = base;
	c->p = *p;
	c->host_name = xstrdup(p->host_name ? p->host_name : "");
	c->helo = xstrdup(p->helo ? p->helo : "localhost");
	c->auth_user = p->auth_user ? xstrdup(p->auth_user) : NULL;
	c->auth_pass = xstrdup(p->auth_pass ? p->auth_pass : "");
	c->cmd_tv.tv_sec = p->command_timeout ? (time_t)p->command_timeout : 300;
	c->timer = evtimer_new(base, on_timer, c);
	c->done_ev = event_new(base, -1, 0, on_done, c);
	c->pend = evbuffer_new();
	if (c->timer == NULL || c->done_ev == NULL || c->pend == NULL)
		msg_fatal("event=smtp_client_error reason=\"event_new failed\"");
	sockaddr_ntop((const struct sockaddr *)&p->addr, c->res.remote_ip, sizeof(c->res.remote_ip));
	return c;
}

static void txn_reset(struct smtp_client *c, const struct smtp_txn *txn)
{
	free(c->res.rcpt);
	free(c->final);
	c->txn = *txn;
	c->res.nrcpts = txn->nrcpts;
	c->res.rcpt = xcalloc(txn->nrcpts ? txn->nrcpts : 1, sizeof(*c->res.rcpt));
	c->final = xcalloc(txn->nrcpts ? txn->nrcpts : 1, 1);
	c->rcpt_sent = c->rcpt_replied = c->accepted = 0;
	c->mail_failed = c->pipelined = c->rset_retried = c->rset_pipelined = 0;
	c->res.probe_failed = 0;
	c->busy = 1;
}

void smtp_client_deliver(struct smtp_client *c, const struct smtp_txn *txn, smtp_client_done_cb *done, void *arg)
{
	if (c->busy)
		msg_panic("smtp_client_deliver: a transaction is already running");
	c->done = done;
	c->arg = arg;
	txn_reset(c, txn);
	if (c->state == C_READY) {
		set_read_timeout(c, 1);
		send_line(c, NULL, "RSET");
		smtp_client_enter_state(c, C_RSET);
		if (c->ehlo.pipelining && !txn_ends_locally(c)) {
			send_txn(c);
			c->rset_pipelined = 1;
		}
		return flush_out(c);
	}
	start_connect(c);
}

int smtp_client_reusable(const struct smtp_client *c)
{
	return c->state == C_READY && c->bev != NULL && !c->busy;
}

/* --- closing: QUIT, then the socket closes at its reply, EOF or 2 s */

struct closer {
	struct bufferevent *bev;
	struct event *timer;
};

static void closer_free(struct closer *cl)
{
	bufferevent_free(cl->bev);
	event_free(cl->timer);
	free(cl);
}

static void closer_read(struct bufferevent *bev, void *arg)
{
	struct evbuffer *in = bufferevent_get_input(bev);
	if (evbuffer_search_eol(in, NULL, NULL, EVBUFFER_EOL_CRLF).pos >= 0)
		return closer_free(arg);
}

static void closer_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)what;
	closer_free(arg);
}

static void closer_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	closer_free(arg);
}

static void closer_start(struct event_base *base, struct bufferevent *bev)
{
	struct closer *cl = xcalloc(1, sizeof(*cl));
	struct timeval tv = { QUIT_WAIT_SECS, 0 };
	cl->bev = bev;
	cl->timer = evtimer_new(base, closer_timer, cl);
	if (cl->timer == NULL)
		msg_fatal("event=smtp_client_error reason=\"event_new failed\"");
	struct evbuffer *in = bufferevent_get_input(bev);
	evbuffer_drain(in, evbuffer_get_length(in));
	bufferevent_setcb(bev, closer_read, NULL, closer_event, cl);
	bufferevent_set_timeouts(bev, NULL, NULL);
	bufferevent_write(bev, "QUIT\r\n", 6);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	evtimer_add(cl->timer, &tv);
}

void smtp_client_free(struct smtp_client *c)
{
	if (c == NULL)
		return;
	if (c->state == C_READY && c->bev) {
		dialogue(c, "C: QUIT");
		closer_start(c->base, c->bev);
		c->bev = NULL;
	} else if (c->bev) {
		bufferevent_free(c->bev);
	}
	event_free(c->timer);
	event_free(c->done_ev);
	evbuffer_free(c->pend);
	free(c->res.rcpt);
	free(c->final);
	free(c->host_name);
	free(c->helo);
	free(c->auth_user);
	if (c->auth_pass)
		explicit_bzero(c->auth_pass, strlen(c->auth_pass));
	free(c->auth_pass);
	free(c);
}
