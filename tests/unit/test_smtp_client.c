/*
 * test_smtp_client: the outbound state machine against scripted servers
 * (the fake network layer): a thread owns a real loopback listener and
 * plays the server from a script, while the client runs on a real event
 * loop in the test's thread.  Script lines:
 *   "S: text"   the server sends text CRLF
 *   "C: text"   the next line from the client must start with text
 *   "D: bytes"  the next bytes from the client must be exactly these
 *   "N:"        nothing more arrives from the client within 200 ms (but
 *               it may close the connection)
 *   "T:"        the server starts TLS (after its 220 to STARTTLS, or at once)
 *   "U:"        as T:, but the client may give up during the handshake
 *   "X:"        the server closes the connection
 *   "A:"        the server closes the connection and accepts the next one
 *   "W: ms"     the server sleeps
 *   "E: ms"     the server sends "250-endless" lines every ms milliseconds,
 *               for ever (until the client closes, or 10 s)
 * After the last line the server waits for the client to close.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "core/log.h"
#include "delivery/smtp_client.h"

/* --- the scripted server */

struct srv {
	int lfd, fd;
	int port;
	const char *const *script;
	SSL_CTX *sctx;
	SSL *ssl;
	char in[65536];
	size_t inlen;
	char err[512];
	pthread_t th;
};

static int srv_read_more(struct srv *s)
{
	if (s->inlen == sizeof(s->in))
		return -1;
	ssize_t r = s->ssl ? SSL_read(s->ssl, s->in + s->inlen, (int)(sizeof(s->in) - s->inlen))
			   : read(s->fd, s->in + s->inlen, sizeof(s->in) - s->inlen);
	if (r <= 0)
		return -1;
	s->inlen += (size_t)r;
	return 0;
}

static void srv_consume(struct srv *s, size_t n)
{
	memmove(s->in, s->in + n, s->inlen - n);
	s->inlen -= n;
}

static int srv_line(struct srv *s, char *line, size_t linelen)
{
	char *lf;
	while ((lf = memmem(s->in, s->inlen, "\r\n", 2)) == NULL)
		if (srv_read_more(s) < 0)
			return -1;
	size_t n = (size_t)(lf - s->in);
	snprintf(line, linelen, "%.*s", (int)n, s->in);
	srv_consume(s, n + 2);
	return 0;
}

static void srv_send(struct srv *s, const char *text)
{
	char b[1024];
	int n = snprintf(b, sizeof(b), "%s\r\n", text);
	if (s->ssl)
		SSL_write(s->ssl, b, n);
	else if (write(s->fd, b, (size_t)n) != n)
		snprintf(s->err, sizeof(s->err), "short write");
}

static int srv_accept(struct srv *s)
{
	struct timeval tv = { 3, 0 };
	struct pollfd p = { s->lfd, POLLIN, 0 };
	if (poll(&p, 1, 5000) != 1)
		return -1;
	s->fd = accept(s->lfd, NULL, NULL);
	if (s->fd < 0)
		return -1;
	setsockopt(s->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	s->inlen = 0;
	return 0;
}

static void srv_close(struct srv *s)
{
	if (s->ssl) {
		SSL_free(s->ssl);
		s->ssl = NULL;
	}
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}

static int srv_nothing_more(struct srv *s)
{
	if (s->inlen)
		return -1;
	struct pollfd p = { s->fd, POLLIN, 0 };
	char c;
	if (poll(&p, 1, 200) == 0)
		return 0;
	return recv(s->fd, &c, 1, MSG_PEEK) == 0 ? 0 : -1;   /* EOF is fine */
}

/* An EHLO reply that never ends; returns when the client has gone. */
static int srv_endless(struct srv *s, int ms)
{
	struct timeval start, now;
	gettimeofday(&start, NULL);
	do {
		static const char line[] = "250-endless continuation of a hostile reply\r\n";
		if (send(s->fd, line, sizeof(line) - 1, MSG_NOSIGNAL) < 0)
			return 0;
		if (ms)
			usleep((useconds_t)ms * 1000);
		gettimeofday(&now, NULL);
	} while (now.tv_sec - start.tv_sec < 10);
	snprintf(s->err, sizeof(s->err), "the client was still reading the endless reply after 10 s");
	return -1;
}

/* One script line; returns -1 (with err set) when the client did otherwise. */
static int srv_step(struct srv *s, const char *l)
{
	char line[2048];
	const char *arg = l + 3;
	switch (l[0]) {
	case 'S':
		srv_send(s, arg);
		return 0;
	case 'C':
		if (srv_line(s, line, sizeof(line)) < 0) {
			snprintf(s->err, sizeof(s->err), "expected \"%s\", got nothing", arg);
			return -1;
		}
		if (strncmp(line, arg, strlen(arg)) != 0) {
			snprintf(s->err, sizeof(s->err), "expected \"%.200s\", got \"%.200s\"", arg, line);
			return -1;
		}
		return 0;
	case 'D':
		while (s->inlen < strlen(arg))
			if (srv_read_more(s) < 0)
				break;
		if (s->inlen < strlen(arg) || memcmp(s->in, arg, strlen(arg)) != 0) {
			snprintf(s->err, sizeof(s->err), "body: expected \"%s\", got \"%.*s\"", arg, (int)s->inlen,
				 s->in);
			return -1;
		}
		srv_consume(s, strlen(arg));
		return 0;
	case 'N':
		if (srv_nothing_more(s) < 0) {
			snprintf(s->err, sizeof(s->err), "client sent before the reply (not pipelining)");
			return -1;
		}
		return 0;
	case 'T':
	case 'U':
		s->ssl = SSL_new(s->sctx);
		SSL_set_fd(s->ssl, s->fd);
		if (SSL_accept(s->ssl) != 1 && l[0] == 'T') {
			snprintf(s->err, sizeof(s->err), "TLS accept failed");
			return -1;
		}
		return 0;
	case 'X':
		srv_close(s);
		return 0;
	case 'A':
		srv_close(s);
		if (srv_accept(s) < 0) {
			snprintf(s->err, sizeof(s->err), "no second connection");
			return -1;
		}
		return 0;
	case 'W':
		usleep((useconds_t)atoi(arg) * 1000);
		return 0;
	case 'E':
		return srv_endless(s, atoi(arg));
	}
	snprintf(s->err, sizeof(s->err), "bad script line %s", l);
	return -1;
}

static void *srv_main(void *arg)
{
	struct srv *s = arg;
	if (srv_accept(s) < 0) {
		snprintf(s->err, sizeof(s->err), "no connection");
		return NULL;
	}
	for (const char *const *l = s->script; *l; l++)
		if (srv_step(s, *l) < 0)
			break;
	/* Wait for the client to close (or 3 s), so that it never sees an
	 * early EOF the script did not ask for. */
	while (s->fd >= 0 && srv_read_more(s) == 0)
		s->inlen = 0;
	srv_close(s);
	return NULL;
}

static struct srv *srv_start(const char *const *script, SSL_CTX *sctx)
{
	struct srv *s = calloc(1, sizeof(*s));
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sin);
	s->script = script;
	s->sctx = sctx;
	s->fd = -1;
	s->lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(s->lfd >= 0);
	assert_int_equal(bind(s->lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(s->lfd, 4), 0);
	assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&sin, &sl), 0);
	s->port = ntohs(sin.sin_port);
	assert_int_equal(pthread_create(&s->th, NULL, srv_main, s), 0);
	return s;
}

static void srv_finish(struct srv *s)
{
	pthread_join(s->th, NULL);
	close(s->lfd);
	char err[512];
	snprintf(err, sizeof(err), "%s", s->err);
	free(s);
	if (err[0])
		fail_msg("server: %s", err);
}

/* --- the client side */

struct run {
	struct event_base *base;
	struct smtp_client *c;
	struct event *guard;
	int done, in_deliver, done_inside_deliver, free_in_done;
	struct reply_info r[8];
	size_t n;
	char tls[96];
	int verified;
};

static void on_done(void *arg, const struct smtp_txn_result *res)
{
	struct run *r = arg;
	r->done++;
	if (r->in_deliver)
		r->done_inside_deliver = 1;
	r->n = res->nrcpts;
	for (size_t i = 0; i < res->nrcpts && i < 8; i++)
		r->r[i] = res->rcpt[i];
	snprintf(r->tls, sizeof(r->tls), "%s", res->tls);
	r->verified = res->tls_verified;
	if (r->free_in_done) {
		smtp_client_free(r->c);
		r->c = NULL;
	}
	event_base_loopbreak(r->base);
}

static void on_guard(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	event_base_loopbreak(arg);
}

static struct smtp_client_params params(int port)
{
	struct smtp_client_params p;
	memset(&p, 0, sizeof(p));
	/* built apart and copied: stores through a sockaddr_in pointer into
	 * p.addr break strict aliasing, and -O2 dropped them */
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	memcpy(&p.addr, &sin, sizeof(sin));
	p.addrlen = sizeof(sin);
	p.host_name = "localhost";
	p.helo = "relay.test";
	p.tls = SMTP_TLS_NONE;
	p.connect_timeout = 5;
	p.command_timeout = 5;
	return p;
}

static const char *const two_rcpts[] = { "alice@example.com", "bob@example.com" };

static struct smtp_txn txn_default(void)
{
	struct smtp_txn t = { .qid = "Q1", .sender = "app@example.org", .rcpts = two_rcpts, .nrcpts = 2,
			      .body = "Subject: hi\r\n\r\nhello\r\n", .body_len = 22 };
	return t;
}

static struct run *run_new(const struct smtp_client_params *p)
{
	struct run *r = calloc(1, sizeof(*r));
	r->base = event_base_new();
	r->c = smtp_client_new(r->base, p);
	r->guard = evtimer_new(r->base, on_guard, r->base);
	return r;
}

/* One transaction: runs the loop until done (or 10 s). */
static void run_txn(struct run *r, const struct smtp_txn *t)
{
	struct timeval tv = { 10, 0 };
	int before = r->done;
	r->in_deliver = 1;
	smtp_client_deliver(r->c, t, on_done, r);
	r->in_deliver = 0;
	evtimer_add(r->guard, &tv);
	event_base_dispatch(r->base);
	evtimer_del(r->guard);
	assert_int_equal(r->done, before + 1);
	assert_false(r->done_inside_deliver);
}

/* Frees the client and lets its QUIT closer finish. */
static void run_free(struct run *r)
{
	smtp_client_free(r->c);
	event_free(r->guard);
	event_base_dispatch(r->base);
	event_base_free(r->base);
	free(r);
}

static void expect(const struct reply_info *ri, enum reply_outcome o, int code, const char *enh, const char *text)
{
	if (ri->outcome != o || ri->code != code || strcmp(ri->enh, enh) != 0 || strstr(ri->text, text) == NULL)
		fail_msg("got outcome %d code %d enh %s text \"%s\"; want %d %d %s \"%s\"", ri->outcome, ri->code,
			 ri->enh, ri->text, o, code, enh, text);
}

/* Runs one transaction against script with params p; returns the run
 * (not freed) for more checks. */
static struct run *scripted(const char *const *script, struct smtp_client_params *p, const struct smtp_txn *t,
			    struct srv **sp)
{
	struct srv *s = srv_start(script, NULL);
	struct smtp_client_params pp = *p;
	struct smtp_client_params q = params(s->port);
	memcpy(&pp.addr, &q.addr, sizeof(q.addr));
	pp.addrlen = q.addrlen;
	struct run *r = run_new(&pp);
	run_txn(r, t);
	*sp = s;
	return r;
}

#define EHLO_PLAIN "S: 250-mx.test", "S: 250 8BITMIME"

static void delivers_with_one_recipient_rejected(void **st)
{
	(void)st;
	static const char *const script[] = {
		"S: 220 mx.test ESMTP", "C: EHLO relay.test", EHLO_PLAIN,
		"C: MAIL FROM:<app@example.org>", "N:", "S: 250 2.1.0 Ok",
		"C: RCPT TO:<alice@example.com>", "N:", "S: 250 2.1.5 Ok",
		"C: RCPT TO:<bob@example.com>", "S: 550 5.1.1 <bob@example.com>: User unknown",
		"C: DATA", "S: 354 go ahead",
		"D: Subject: hi\r\n\r\nhello\r\n.\r\n", "S: 250 2.0.0 Ok: queued as ABC",
		"C: QUIT", "S: 221 2.0.0 Bye", NULL,
	};
	struct smtp_client_params p = params(0);
	struct smtp_txn t = txn_default();
	struct srv *s;
	struct run *r = scripted(script, &p, &t, &s);
	assert_int_equal(r->n, 2);
	expect(&r->r[0], REPLY_OK, 250, "2.0.0", "queued as ABC");
	expect(&r->r[1], REPLY_PERM, 550, "5.1.1", "User unknown");
	assert_true(smtp_client_reusable(r->c));
	assert_string_equal(r->tls, "");
	run_free(r);
	srv_finish(s);
}

static void pipelines_mail_rcpt_and_data_in_one_go(void **st)
{
	(void)st;
	static const char *const script[] = {
		"S: 220 mx.test ESMTP", "C: EHLO relay.test",
		"S: 250-mx.test", "S: 250-PIPELINING", "S: 250-SIZE 100000", "S: 250 8BITMIME",
		/* all four read before any reply: the client did not wait */
		"C: MAIL FROM:<app@example.org> SIZE=22 BODY=8BITMIME", "C: RCPT TO:<alice@example.com>",
		"C: RCPT TO:<bob@example.com>", "C: DATA", "N:",
		"S: 250 2.1.0 Ok", "S: 250 2.1.5 Ok", "S: 250 2.1.5 Ok", "S: 354 go",
		"D: Subject: hi\r\n\r\nhello\r\n.\r\n", "S: 250 2.0.0 queued",
		"C: QUIT", "S: 221 Bye", NULL,
	};
	struct smtp_client_params p = params(0);
	struct smtp_txn t = txn_default();
	t.body_8bit = 1;
	struct srv *s;
	struct run *r = scripted(script, &p, &t, &s);
	expect(&r->r[0], REPLY_OK, 250, "2.0.0", "queued");
	expect(&r->r[1], REPLY_OK, 250, "2.0.0", "queued");
	run_free(r);
	srv_finish(s);
}

static void pipelined_mail_rejection_applies_to_all(void **st)
{
	(void)st;
	static const char *const script[] = {
		"S: 220 mx.test", "C: EHLO", "S: 250-mx.test", "S: 250 PIPELINING",
		"C: MAIL FROM:<app@example.org>", "C: RCPT TO:<alice", "C: RCPT TO:<bob", "C: DATA",
		"S: 553 5.7.1 Sender address rejected", "S: 503 5.5.1 need MAIL", "S: 503 5.5.1 need MAIL",
		"S: 503 5.5.1 need RCPT", "C: QUIT", "S: 221 Bye", NULL,
	};
	struct smtp_client_params p = params(0);
	struct smtp_txn t = txn_default();
	struct srv *s;
	struct run *r = scripted(script, &p, &t, &s);
	expect(&r->r[0], REPLY_PERM, 553, "5.7.1", "Sender address rejected");
	expect(&r->r[1], REPLY_PERM, 553, "5.7.1", "Sender address rejected");
	assert_true(smtp_client_reusable(r->c));
	run_free(r);
	srv_finish(s);
}

static void pipelined_data_354_without_recipients_ends_with_lone_dot(void **st)
{
	(void)st;
	static const char *const script[] = {
		"S: 220 mx.test", "C: EHLO", "S: 250-mx.test", "S: 250 PIPELINING",
		"C: MAIL", "C: RCPT", "C: RCPT", "C: DATA",
		"S: 250 ok", "S: 550 5.1.1 no alice", "S: 450 4.2.0 bob: Greylisted, see postgrey",
		"S: 354 go", "D: .\r\n", "S: 554 5.5.1 no valid recipients",
		"C: QUIT", "S: 221 Bye", NULL,
	};
	struct smtp_client_params p = params(0);
	struct smtp_txn t = txn_default();
	struct srv *s;
	struct run *r = scripted(script, &p, &t, &s);
	expect(&r->r[0], REPLY_PERM, 550, "5.1.1", "no alice");
	expect(&r->r[1], REPLY_TEMP, 450, "4.2.0", "Greylisted");
	assert_true(r->r[1].greylisted);
	run_free(r);
	srv_finish(s);
}

static void greeting_421_fails_everyone_temporarily(void **st)
{
	(void)st;
	static const char *const script[] = { "S: 421 4.3.2 mx.test busy, try later", NULL };
	struct smtp_client_params p = params(0);
	struct smtp_txn t = txn_default();
	struct srv *s;
	struct run *r = scripted(script, &p, &t, &s);
	expect(&r->r[0], REPLY_TEMP, 421, "4.3.2", "busy");
	expect(&r->r[1], REPLY_TEMP, 421, "4.3.2", "busy");
	assert_false(smtp_client_reusable(r->c));
	run_free(r);
	srv_finish(s);
}

static void greeting_554_fails_everyone_permanently(void **st)
{
	(void)st;
	static const char *const script[] = { "S: 554 5.7.1 go away", NULL };
	struct smtp_client_params p = params(0);
	struct smtp_txn t = txn_default();
	struct srv *s;
	struct run *r = scripted(script, &p, &t, &s);
	expect(&r->r[0], REPLY_PERM, 554, "5.7.1", "go away");
	assert_false(smtp_client_reusable(r->c));
	run_free(r);
	srv_finish(s);
}

static void ehlo_refused_falls_back_to_helo(void **st)
{
	(void)st;
	static const char *const script[] = {
		"S: 220 old.test", "C: EHLO relay.test", "S: 502 5.5.2 what?", "C: HELO relay.test",
		"S: 250 old.test", "C: MAIL FROM:<app@example.org>", "S: 250 ok", "C: RCPT", "S: 250 ok",
		"C: RCPT", "S: 452 4.5.3 Too many recipients", "C: DATA", "S: 354 go",
		"D: Subject: hi\r\n\r\nhello\r\n.\r\n", "S: 250 ok", "C: QUIT", "S: 221 Bye", NULL,
	};
	struct smtp_client_params p = params(0);
	struct smtp_txn t = txn_default();
	t.body_8bit = 1;   /* no 8BITMIME offered: sent as is, without BODY= */
	struct srv *s;
	struct run *r = scripted(script, &p, &t, &s);
	expect(&r->r[0], REPLY_OK, 250, "2.0.0", "ok");
	expect(&r->r[1], REPLY_TEMP, 452, "4.5.3", "Too many");
	run_free(r);
	srv_finish(s);
}

static void data_rejection_applies_to_accepted_recipients(void **st)
{
	(void)st;
	static const char *const script[] = {
		"S: 220 mx.test", "C: EHLO", EHLO_PLAIN, "C: MAIL", "S: 250 ok", "C: RCPT", "S: 250 ok",
		"C: RCPT", "S: 250 ok", "C: DATA", "S: 554 5.7.1 policy says no", "C: QUIT", "S: 221 Bye", NULL,
	};
	struct smtp_client_params p = params(0);
	struct smtp_txn t = txn_default();
	struct srv *s;
	struct run *r = scripted(script, &p, &t, &s);
	expect(&r->r[0], REPLY_PERM, 554, "5.7.1", "policy");
	expect(&r->r[1], REPLY_PERM, 554, "5.7.1", "policy");
	run_free(r);
	srv_finish(s);
}

static void final_reply_rejection_after_body(void **st)
{
	(void)st;
	static const char *const script[] = {
		"S: 220 mx.test", "C: EHLO", EHLO_PLAIN, "C: MAIL", "S: 250 ok", "C: RCPT", "S: 250 ok",
		"C: RCPT", "S: 550 5.1.1 nope", "C: DATA", "S: 354 go", "D: Subject: hi\r\n\r\nhello\r\n.\r\n",
		"S: 554-5.7.1 spam detected", "S: 554 5.7.1 see https://example.net", "C: QUIT", "S: 221 Bye",
		NULL,
	};
	struct smtp_client_params p = params(0);
	struct smtp_txn t = txn_default();
	struct srv *s;
	struct run *r = scripted(script, &p, &t, &s);
	expect(&r->r[0], REPLY_PERM, 554, "5.7.1", "5.7.1 spam detected / 5.7.1 see https://example.net");
	expect(&r->r[1], REPLY_PERM, 550, "5.1.1", "nope");
	run_free(r);
	srv_finish(s);
}

static void connection_lost_after_data_is_temporary(void **st)
{
	(void)st;
	static const char *const script[] = {
		"S: 220 mx.test", "C: EHLO", EHLO_PLAIN, "C: MAIL", "S: 250 ok", "C: RCPT", "S: 250 ok",
		"C: RCPT", "S: 550 5.1.1 nope", "C: DATA", "S: 354 go", "D: Subject: hi\r\n\r\nhello\r\n.\r\n", "X:",
		NULL,
	};
	struct smtp_client_params p = params(0);
	struct smtp_txn t = txn_default();
	struct srv *s;
	struct run *r = scripted(script, &p, &t, &s);
	expect(&r->r[0], REPLY_TEMP, 0, "4.4.2", "connection lost after end of data");
	expect(&r->r[1], REPLY_PERM, 550, "5.1.1", "nope");
	assert_false(smtp_client_reusable(r->c));
	run_free(r);
	srv_finish(s);
}

static void timeout_names_the_stage(void **st)
{
	(void)st;
	static const char *const script[] = {
		"S: 220 mx.test", "C: EHLO", EHLO_PLAIN, "C: MAIL", NULL,
	};
	struct smtp_client_params p = params(0);
	p.command_timeout = 1;
	struct smtp_txn t = txn_default();
	struct srv *s;
	struct run *r = scripted(script, &p, &t, &s);
	expect(&r->r[0], REPLY_TEMP, 0, "4.4.2", "timeout after MAIL");
	expect(&r->r[1], REPLY_TEMP, 0, "4.4.2", "timeout after MAIL");
	assert_false(smtp_client_reusable(r->c));
	run_free(r);
	srv_finish(s);
}

/* A relay streaming an endless "250-" EHLO reply at full speed: the reply
 * size bound ends it long before the command timeout. */
static void endless_reply_is_bounded_by_size(void **st)
{
	(void)st;
	static const char *const script[] = { "S: 220 mx.test", "C: EHLO", "E: 0", NULL };
	struct smtp_client_params p = params(0);
	p.command_timeout = 60;
	struct smtp_txn t = txn_default();
	struct srv *s;
	struct run *r = scripted(script, &p, &t, &s);
	expect(&r->r[0], REPLY_TEMP, 0, "4.5.0", "reply longer than 64 KB or 1000 lines after EHLO");
	expect(&r->r[1], REPLY_TEMP, 0, "4.5.0", "reply longer than 64 KB or 1000 lines after EHLO");
	assert_false(smtp_client_reusable(r->c));
	run_free(r);
	srv_finish(s);
}

/* The same, dripped slowly (every 200 ms, well inside the idle timeout of
 * 1 s, and under the size bound): the whole reply's time bound ends it. */
static void endless_slow_reply_is_bounded_by_time(void **st)
{
	(void)st;
	static const char *const script[] = { "S: 220 mx.test", "C: EHLO", "E: 200", NULL };
	struct smtp_client_params p = params(0);
	p.command_timeout = 1;
	struct smtp_txn t = txn_default();
	struct srv *s;
	struct run *r = scripted(script, &p, &t, &s);
	expect(&r->r[0], REPLY_TEMP, 0, "4.4.2", "timeout after EHLO: the reply did not end");
	assert_false(smtp_client_reusable(r->c));
	run_free(r);
	srv_finish(s);
}

static void dot_stuffing_and_missing_final_crlf(void **st)
{
	(void)st;
	static const char *const script[] = {
		"S: 220 mx.test", "C: EHLO", EHLO_PLAIN, "C: MAIL", "S: 250 ok", "C: RCPT", "S: 250 ok",
		"C: DATA", "S: 354 go", "D: ..hidden\r\nline\r\n...two\r\n.. x\r\n.\r\n", "S: 250 first",
		"C: RSET", "S: 250 ok", "C: MAIL", "S: 250 ok", "C: RCPT", "S: 250 ok", "C: DATA", "S: 354 go",
		"D: abc\r\n..x\r\n.\r\n", "S: 250 second", "C: RSET", "S: 250 ok", "C: MAIL", "S: 250 ok",
		"C: RCPT", "S: 250 ok", "C: DATA", "S: 354 go", "D: a.\r\n..\r\n..\r\n...b.\r\n.\r\n",
		"S: 250 third", "C: QUIT", "S: 221 Bye", NULL,
	};
	static const char *const one[] = { "alice@example.com" };
	struct smtp_client_params p = params(0);
	struct smtp_txn t = txn_default();
	t.rcpts = one;
	t.nrcpts = 1;
	t.body = ".hidden\r\nline\r\n..two\r\n. x\r\n";
	t.body_len = strlen(t.body);
	struct srv *s;
	struct run *r = scripted(script, &p, &t, &s);
	expect(&r->r[0], REPLY_OK, 250, "2.0.0", "first");
	assert_true(smtp_client_reusable(r->c));
	t.body = "abc\r\n.x";
	t.body_len = strlen(t.body);
	run_txn(r, &t);
	expect(&r->r[0], REPLY_OK, 250, "2.0.0", "second");
	t.body = "a.\r\n.\r\n.\r\n..b.\r\n";   /* dots inside lines, lines of one dot in a row */
	t.body_len = strlen(t.body);
	run_txn(r, &t);
	expect(&r->r[0], REPLY_OK, 250, "2.0.0", "third");
	run_free(r);
	srv_finish(s);
}

static void too_big_for_remote_size_is_permanent_without_sending(void **st)
{
	(void)st;
	static const char *const script[] = {
		"S: 220 mx.test", "C: EHLO", "S: 250-mx.test", "S: 250 SIZE 10", "C: QUIT", "S: 221 Bye",
		NULL,
	};
	struct smtp_client_params p = params(0);
	struct smtp_txn t = txn_default();
	struct srv *s;
	struct run *r = scripted(script, &p, &t, &s);
	expect(&r->r[0], REPLY_PERM, 0, "5.3.4", "message too big for remote host");
	expect(&r->r[1], REPLY_PERM, 0, "5.3.4", "message too big for remote host");
	assert_true(smtp_client_reusable(r->c));
	run_free(r);
	srv_finish(s);
}

static void smtputf8_needed_but_not_offered_is_permanent(void **st)
{
	(void)st;
	static const char *const script[] = {
		"S: 220 mx.test", "C: EHLO", EHLO_PLAIN, "C: QUIT", "S: 221 Bye", NULL,
	};
	struct smtp_client_params p = params(0);
	struct smtp_txn t = txn_default();
	t.smtputf8 = 1;
	struct srv *s;
	struct run *r = scripted(script, &p, &t, &s);
	expect(&r->r[0], REPLY_PERM, 0, "5.6.7", "SMTPUTF8 not supported");
	run_free(r);
	srv_finish(s);
}

static void smtputf8_parameter_sent_when_offered(void **st)
{
	(void)st;
	static const char *const script[] = {
		"S: 220 mx.test", "C: EHLO", "S: 250-mx.test", "S: 250 SMTPUTF8",
		"C: MAIL FROM:<app@example.org> SMTPUTF8", "S: 250 ok", "C: RCPT TO:<alice@example.com>",
		"S: 250 ok", "C: DATA", "S: 354 go", "D: Subject: hi\r\n\r\nhello\r\n.\r\n", "S: 250 ok",
		"C: QUIT", "S: 221 Bye", NULL,
	};
	static const char *const one[] = { "alice@example.com" };
	struct smtp_client_params p = params(0);
	struct smtp_txn t = txn_default();
	t.rcpts = one;
	t.nrcpts = 1;
	t.smtputf8 = 1;
	struct srv *s;
	struct run *r = scripted(script, &p, &t, &s);
	expect(&r->r[0], REPLY_OK, 250, "2.0.0", "ok");
	run_free(r);
	srv_finish(s);
}

static void reused_connection_sends_rset_first(void **st)
{
	(void)st;
	static const char *const script[] = {
		"S: 220 mx.test", "C: EHLO", EHLO_PLAIN, "C: MAIL", "S: 250 ok", "C: RCPT", "S: 250 ok",
		"C: RCPT", "S: 250 ok", "C: DATA", "S: 354 go", "D: Subject: hi\r\n\r\nhello\r\n.\r\n",
		"S: 250 one", "C: RSET", "S: 250 2.0.0 ok", "C: MAIL FROM:<other@example.org>", "S: 250 ok",
		"C: RCPT", "S: 250 ok", "C: RCPT", "S: 250 ok", "C: DATA", "S: 354 go",
		"D: Subject: hi\r\n\r\nhello\r\n.\r\n", "S: 250 two", "C: QUIT", "S: 221 Bye", NULL,
	};
	struct smtp_client_params p = params(0);
	struct smtp_txn t = txn_default();
	struct srv *s;
	struct run *r = scripted(script, &p, &t, &s);
	expect(&r->r[1], REPLY_OK, 250, "2.0.0", "one");
	assert_true(smtp_client_reusable(r->c));
	t.sender = "other@example.org";
	run_txn(r, &t);
	expect(&r->r[0], REPLY_OK, 250, "2.0.0", "two");
	expect(&r->r[1], REPLY_OK, 250, "2.0.0", "two");
	run_free(r);
	srv_finish(s);
}

static void failed_rset_reconnects_once(void **st)
{
	(void)st;
	static const char *const script[] = {
		"S: 220 mx.test", "C: EHLO", EHLO_PLAIN, "C: MAIL", "S: 250 ok", "C: RCPT", "S: 250 ok",
		"C: RCPT", "S: 250 ok", "C: DATA", "S: 354 go", "D: Subject: hi\r\n\r\nhello\r\n.\r\n",
		"S: 250 one", "C: RSET", "A:", "S: 220 mx.test again", "C: EHLO", EHLO_PLAIN, "C: MAIL",
		"S: 250 ok", "C: RCPT", "S: 250 ok", "C: RCPT", "S: 250 ok", "C: DATA", "S: 354 go",
		"D: Subject: hi\r\n\r\nhello\r\n.\r\n", "S: 250 two", "C: QUIT", "S: 221 Bye", NULL,
	};
	struct smtp_client_params p = params(0);
	struct smtp_txn t = txn_default();
	struct srv *s;
	struct run *r = scripted(script, &p, &t, &s);
	expect(&r->r[0], REPLY_OK, 250, "2.0.0", "one");
	run_txn(r, &t);
	expect(&r->r[0], REPLY_OK, 250, "2.0.0", "two");
	run_free(r);
	srv_finish(s);
}

/* With PIPELINING, RSET and the next transaction go out together: the
 * server reads all five lines before it answers any. */
static void reused_pipelining_connection_sends_rset_with_the_transaction(void **st)
{
	(void)st;
	static const char *const script[] = {
		"S: 220 mx.test", "C: EHLO", "S: 250-mx.test", "S: 250 PIPELINING", "C: MAIL", "C: RCPT",
		"C: RCPT", "C: DATA", "S: 250 ok", "S: 250 ok", "S: 250 ok", "S: 354 go",
		"D: Subject: hi\r\n\r\nhello\r\n.\r\n", "S: 250 one",
		"C: RSET", "C: MAIL FROM:<other@example.org>", "C: RCPT TO:<alice", "C: RCPT TO:<bob", "C: DATA",
		"N:", "S: 250 2.0.0 ok", "S: 250 ok", "S: 250 ok", "S: 550 5.1.1 no bob", "S: 354 go",
		"D: Subject: hi\r\n\r\nhello\r\n.\r\n", "S: 250 two", "C: QUIT", "S: 221 Bye", NULL,
	};
	struct smtp_client_params p = params(0);
	struct smtp_txn t = txn_default();
	struct srv *s;
	struct run *r = scripted(script, &p, &t, &s);
	expect(&r->r[1], REPLY_OK, 250, "2.0.0", "one");
	t.sender = "other@example.org";
	run_txn(r, &t);
	expect(&r->r[0], REPLY_OK, 250, "2.0.0", "two");
	expect(&r->r[1], REPLY_PERM, 550, "5.1.1", "no bob");
	assert_true(smtp_client_reusable(r->c));
	run_free(r);
	srv_finish(s);
}

/* A refused pipelined RSET: what the server answered to the commands sent
 * with it counts for nothing (no body goes out there); the transaction is
 * sent whole on one fresh connection. */
static void refused_pipelined_rset_sends_the_transaction_again(void **st)
{
	(void)st;
	static const char *const script[] = {
		"S: 220 mx.test", "C: EHLO", "S: 250-mx.test", "S: 250 PIPELINING", "C: MAIL", "C: RCPT",
		"C: RCPT", "C: DATA", "S: 250 ok", "S: 250 ok", "S: 250 ok", "S: 354 go",
		"D: Subject: hi\r\n\r\nhello\r\n.\r\n", "S: 250 one",
		"C: RSET", "C: MAIL", "C: RCPT", "C: RCPT", "C: DATA",
		/* one write, as a server answers a pipelined group: the client
		 * may close as soon as it reads the 500 */
		"S: 500 5.5.1 RSET? never heard of it\r\n250 ok\r\n250 ok\r\n250 ok\r\n354 go",
		"A:", "S: 220 mx.test again", "C: EHLO", "S: 250-mx.test", "S: 250 PIPELINING",
		"C: MAIL FROM:<app@example.org>", "C: RCPT TO:<alice", "C: RCPT TO:<bob", "C: DATA",
		"S: 250 ok", "S: 250 ok", "S: 250 ok", "S: 354 go",
		"D: Subject: hi\r\n\r\nhello\r\n.\r\n", "S: 250 two", "C: QUIT", "S: 221 Bye", NULL,
	};
	struct smtp_client_params p = params(0);
	struct smtp_txn t = txn_default();
	struct srv *s;
	struct run *r = scripted(script, &p, &t, &s);
	expect(&r->r[0], REPLY_OK, 250, "2.0.0", "one");
	run_txn(r, &t);
	expect(&r->r[0], REPLY_OK, 250, "2.0.0", "two");
	expect(&r->r[1], REPLY_OK, 250, "2.0.0", "two");
	run_free(r);
	srv_finish(s);
}

static void auth_plain_succeeds(void **st)
{
	(void)st;
	static const char *const script[] = {
		"S: 220 relay.test", "C: EHLO", "S: 250-relay.test", "S: 250 AUTH LOGIN PLAIN",
		"C: AUTH PLAIN AHVzZXIAcGFzcw==", "S: 235 2.7.0 Authentication successful",
		"C: MAIL", "S: 250 ok", "C: RCPT", "S: 250 ok", "C: RCPT", "S: 250 ok", "C: DATA", "S: 354 go",
		"D: Subject: hi\r\n\r\nhello\r\n.\r\n", "S: 250 ok", "C: QUIT", "S: 221 Bye", NULL,
	};
	struct smtp_client_params p = params(0);
	p.auth_user = "user";
	p.auth_pass = "pass";
	struct smtp_txn t = txn_default();
	struct srv *s;
	struct run *r = scripted(script, &p, &t, &s);
	expect(&r->r[0], REPLY_OK, 250, "2.0.0", "ok");
	run_free(r);
	srv_finish(s);
}

static void auth_login_succeeds(void **st)
{
	(void)st;
	static const char *const script[] = {
		"S: 220 relay.test", "C: EHLO", "S: 250-relay.test", "S: 250 AUTH=LOGIN",
		"C: AUTH LOGIN", "S: 334 VXNlcm5hbWU6", "C: dXNlcg==", "S: 334 UGFzc3dvcmQ6", "C: cGFzcw==",
		"S: 235 2.7.0 ok", "C: MAIL", "S: 250 ok", "C: RCPT", "S: 250 ok", "C: RCPT", "S: 250 ok",
		"C: DATA", "S: 354 go", "D: Subject: hi\r\n\r\nhello\r\n.\r\n", "S: 250 ok", "C: QUIT",
		"S: 221 Bye", NULL,
	};
	struct smtp_client_params p = params(0);
	p.auth_user = "user";
	p.auth_pass = "pass";
	struct smtp_txn t = txn_default();
	struct srv *s;
	struct run *r = scripted(script, &p, &t, &s);
	expect(&r->r[1], REPLY_OK, 250, "2.0.0", "ok");
	run_free(r);
	srv_finish(s);
}

static void auth_535_is_temporary_and_keeps_reply(void **st)
{
	(void)st;
	static const char *const script[] = {
		"S: 220 relay.test", "C: EHLO", "S: 250-relay.test", "S: 250 AUTH PLAIN",
		"C: AUTH PLAIN", "S: 535 5.7.8 Authentication credentials invalid", NULL,
	};
	struct smtp_client_params p = params(0);
	p.auth_user = "user";
	p.auth_pass = "wrong";
	struct smtp_txn t = txn_default();
	struct srv *s;
	struct run *r = scripted(script, &p, &t, &s);
	expect(&r->r[0], REPLY_TEMP, 535, "4.7.8", "credentials invalid");
	expect(&r->r[1], REPLY_TEMP, 535, "4.7.8", "credentials invalid");
	run_free(r);
	srv_finish(s);
}

static void credentials_never_sent_in_clear_unless_tls_none(void **st)
{
	(void)st;
	static const char *const script[] = {
		"S: 220 relay.test", "C: EHLO", "S: 250-relay.test", "S: 250 AUTH PLAIN", "N:", NULL,
	};
	struct smtp_client_params p = params(0);
	p.tls = SMTP_TLS_OPPORTUNISTIC;
	p.auth_user = "user";
	p.auth_pass = "pass";
	struct smtp_txn t = txn_default();
	struct srv *s;
	struct run *r = scripted(script, &p, &t, &s);
	expect(&r->r[0], REPLY_TEMP, 0, "4.7.0", "refusing to send credentials without TLS");
	run_free(r);
	srv_finish(s);
}

static void tls_required_but_not_offered(void **st)
{
	(void)st;
	static const char *const script[] = { "S: 220 mx.test", "C: EHLO", EHLO_PLAIN, "N:", NULL };
	struct smtp_client_params p = params(0);
	p.tls = SMTP_TLS_REQUIRED;
	struct smtp_txn t = txn_default();
	struct srv *s;
	struct run *r = scripted(script, &p, &t, &s);
	expect(&r->r[0], REPLY_TEMP, 0, "4.7.5", "TLS required but not offered by host");
	assert_false(smtp_client_reusable(r->c));
	run_free(r);
	srv_finish(s);
}

static void connect_refused_is_temporary(void **st)
{
	(void)st;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sin);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &sl), 0);
	close(fd);   /* nobody listens on that port now */
	struct smtp_client_params p = params(ntohs(sin.sin_port));
	struct run *r = run_new(&p);
	struct smtp_txn t = txn_default();
	run_txn(r, &t);
	expect(&r->r[0], REPLY_TEMP, 0, "4.4.1", "Connection refused");
	expect(&r->r[1], REPLY_TEMP, 0, "4.4.1", "Connection refused");
	run_free(r);
}

static void immediate_local_failure_is_reported_later(void **st)
{
	(void)st;
	struct smtp_client_params p = params(25);
	struct sockaddr_in *src = (struct sockaddr_in *)&p.source;
	src->sin_family = AF_INET;
	inet_pton(AF_INET, "192.0.2.1", &src->sin_addr);   /* not ours: bind fails */
	p.sourcelen = sizeof(*src);
	struct run *r = run_new(&p);
	struct smtp_txn t = txn_default();
	run_txn(r, &t);   /* asserts done did not run inside deliver */
	expect(&r->r[0], REPLY_TEMP, 0, "4.3.0", "cannot bind to source 192.0.2.1");
	run_free(r);
}

static void free_inside_done_sends_quit(void **st)
{
	(void)st;
	static const char *const script[] = {
		"S: 220 mx.test", "C: EHLO", EHLO_PLAIN, "C: MAIL", "S: 250 ok", "C: RCPT", "S: 250 ok",
		"C: RCPT", "S: 250 ok", "C: DATA", "S: 354 go", "D: Subject: hi\r\n\r\nhello\r\n.\r\n",
		"S: 250 ok", "C: QUIT", "S: 221 Bye", NULL,
	};
	struct srv *s = srv_start(script, NULL);
	struct smtp_client_params p = params(s->port);
	struct run *r = run_new(&p);
	r->free_in_done = 1;
	struct smtp_txn t = txn_default();
	run_txn(r, &t);
	assert_null(r->c);
	event_free(r->guard);
	event_base_dispatch(r->base);   /* the closer finishes QUIT */
	event_base_free(r->base);
	free(r);
	srv_finish(s);
}

/* --- TLS: a self-signed certificate for "localhost", made at test time */

static X509 *test_cert;
static EVP_PKEY *test_key;

static void make_cert(void)
{
	test_key = EVP_EC_gen("P-256");
	assert_non_null(test_key);
	test_cert = X509_new();
	X509_set_version(test_cert, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(test_cert), 1);
	X509_gmtime_adj(X509_getm_notBefore(test_cert), -60);
	X509_gmtime_adj(X509_getm_notAfter(test_cert), 3600);
	X509_set_pubkey(test_cert, test_key);
	X509_NAME *n = X509_get_subject_name(test_cert);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1, -1, 0);
	X509_set_issuer_name(test_cert, n);
	X509V3_CTX v3;
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, test_cert, test_cert, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, "DNS:localhost");
	X509_add_ext(test_cert, ext, -1);
	X509_EXTENSION_free(ext);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints, "critical,CA:TRUE");
	X509_add_ext(test_cert, ext, -1);
	X509_EXTENSION_free(ext);
	assert_true(X509_sign(test_cert, test_key, EVP_sha256()) > 0);
}

static SSL_CTX *server_ctx(void)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	assert_int_equal(SSL_CTX_use_certificate(ctx, test_cert), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey(ctx, test_key), 1);
	return ctx;
}

static SSL_CTX *client_ctx(int trust)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (trust)
		X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), test_cert);
	return ctx;
}

static struct run *tls_scripted(const char *const *script, struct smtp_client_params *p, struct srv **sp,
				SSL_CTX *sctx)
{
	struct srv *s = srv_start(script, sctx);
	struct smtp_client_params q = params(s->port);
	memcpy(&p->addr, &q.addr, sizeof(q.addr));
	p->addrlen = q.addrlen;
	struct run *r = run_new(p);
	struct smtp_txn t = txn_default();
	run_txn(r, &t);
	*sp = s;
	return r;
}

#define STARTTLS_OPENING \
	"S: 220 mx.test", "C: EHLO", "S: 250-mx.test", "S: 250-STARTTLS", "S: 250 PIPELINING", \
	"C: STARTTLS", "S: 220 2.0.0 Ready to start TLS", "T:", "C: EHLO relay.test", \
	"S: 250-mx.test", "S: 250 PIPELINING"

static void starttls_verified_delivery(void **st)
{
	(void)st;
	static const char *const script[] = {
		STARTTLS_OPENING, "C: MAIL", "C: RCPT", "C: RCPT", "C: DATA", "S: 250 ok", "S: 250 ok",
		"S: 250 ok", "S: 354 go", "D: Subject: hi\r\n\r\nhello\r\n.\r\n", "S: 250 ok over TLS",
		"C: QUIT", "S: 221 Bye", NULL,
	};
	SSL_CTX *sctx = server_ctx(), *cctx = client_ctx(1);
	struct smtp_client_params p = params(0);
	p.tls = SMTP_TLS_VERIFY;
	p.ssl_ctx = cctx;
	struct srv *s;
	struct run *r = tls_scripted(script, &p, &s, sctx);
	expect(&r->r[0], REPLY_OK, 250, "2.0.0", "over TLS");
	assert_non_null(strstr(r->tls, "TLSv1.3"));
	assert_true(r->verified);
	run_free(r);
	srv_finish(s);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
}

static void starttls_opportunistic_records_unverified(void **st)
{
	(void)st;
	static const char *const script[] = {
		STARTTLS_OPENING, "C: MAIL", "C: RCPT", "C: RCPT", "C: DATA", "S: 250 ok", "S: 250 ok",
		"S: 250 ok", "S: 354 go", "D: Subject: hi\r\n\r\nhello\r\n.\r\n", "S: 250 ok",
		"C: QUIT", "S: 221 Bye", NULL,
	};
	SSL_CTX *sctx = server_ctx(), *cctx = client_ctx(0);
	struct smtp_client_params p = params(0);
	p.tls = SMTP_TLS_OPPORTUNISTIC;
	p.ssl_ctx = cctx;
	struct srv *s;
	struct run *r = tls_scripted(script, &p, &s, sctx);
	expect(&r->r[0], REPLY_OK, 250, "2.0.0", "ok");
	assert_true(r->tls[0] != '\0');
	assert_false(r->verified);
	run_free(r);
	srv_finish(s);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
}

static void starttls_verify_fails_for_wrong_name(void **st)
{
	(void)st;
	static const char *const script[] = {
		"S: 220 mx.test", "C: EHLO", "S: 250-mx.test", "S: 250 STARTTLS", "C: STARTTLS",
		"S: 220 go", "U:", NULL,
	};
	SSL_CTX *sctx = server_ctx(), *cctx = client_ctx(1);
	struct smtp_client_params p = params(0);
	p.tls = SMTP_TLS_VERIFY;
	p.ssl_ctx = cctx;
	p.host_name = "mx.example.com";
	struct srv *s;
	struct run *r = tls_scripted(script, &p, &s, sctx);
	expect(&r->r[0], REPLY_TEMP, 0, "4.7.5", "certificate verification failed: ");
	assert_false(r->verified);
	run_free(r);
	srv_finish(s);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
}

static void implicit_tls_delivery(void **st)
{
	(void)st;
	static const char *const script[] = {
		"T:", "S: 220 mx.test", "C: EHLO", "S: 250-mx.test", "S: 250 AUTH PLAIN",
		"C: AUTH PLAIN AHVzZXIAcGFzcw==", "S: 235 ok", "C: MAIL", "S: 250 ok", "C: RCPT", "S: 250 ok",
		"C: RCPT", "S: 250 ok", "C: DATA", "S: 354 go", "D: Subject: hi\r\n\r\nhello\r\n.\r\n",
		"S: 250 ok", "C: QUIT", "S: 221 Bye", NULL,
	};
	SSL_CTX *sctx = server_ctx(), *cctx = client_ctx(1);
	struct smtp_client_params p = params(0);
	p.tls = SMTP_TLS_IMPLICIT;
	p.ssl_ctx = cctx;
	p.auth_user = "user";
	p.auth_pass = "pass";
	struct srv *s;
	struct run *r = tls_scripted(script, &p, &s, sctx);
	expect(&r->r[1], REPLY_OK, 250, "2.0.0", "ok");
	assert_true(r->verified);
	run_free(r);
	srv_finish(s);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
}

static void tls_handshake_failure_does_not_fall_back(void **st)
{
	(void)st;
	/* The server says 220 to STARTTLS and then speaks plaintext. */
	static const char *const script[] = {
		"S: 220 mx.test", "C: EHLO", "S: 250-mx.test", "S: 250 STARTTLS", "C: STARTTLS",
		"S: 220 go", "W: 300", "S: 250 not TLS at all", NULL,
	};
	SSL_CTX *cctx = client_ctx(0);
	struct smtp_client_params p = params(0);
	p.tls = SMTP_TLS_OPPORTUNISTIC;
	p.ssl_ctx = cctx;
	struct srv *s;
	struct run *r = tls_scripted(script, &p, &s, NULL);
	expect(&r->r[0], REPLY_TEMP, 0, "4.7.5", "TLS handshake failed");
	assert_false(smtp_client_reusable(r->c));
	run_free(r);
	srv_finish(s);
	SSL_CTX_free(cctx);
}

static int setup(void **st)
{
	(void)st;
	if (getenv("OUTPOST_TEST_DEBUG"))
		log_set_debug(1);
	make_cert();
	return 0;
}

static int teardown(void **st)
{
	(void)st;
	X509_free(test_cert);
	EVP_PKEY_free(test_key);
	return 0;
}

int main(void)
{
	log_init("test_smtp_client", LOG_DEST_STDERR);
	/* as outpostd does: a peer that hangs up mid-write is a failed write
	 * (EPIPE) for the client to report, not the end of the process */
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(delivers_with_one_recipient_rejected),
		cmocka_unit_test(pipelines_mail_rcpt_and_data_in_one_go),
		cmocka_unit_test(pipelined_mail_rejection_applies_to_all),
		cmocka_unit_test(pipelined_data_354_without_recipients_ends_with_lone_dot),
		cmocka_unit_test(greeting_421_fails_everyone_temporarily),
		cmocka_unit_test(greeting_554_fails_everyone_permanently),
		cmocka_unit_test(ehlo_refused_falls_back_to_helo),
		cmocka_unit_test(data_rejection_applies_to_accepted_recipients),
		cmocka_unit_test(final_reply_rejection_after_body),
		cmocka_unit_test(connection_lost_after_data_is_temporary),
		cmocka_unit_test(timeout_names_the_stage),
		cmocka_unit_test(endless_reply_is_bounded_by_size),
		cmocka_unit_test(endless_slow_reply_is_bounded_by_time),
		cmocka_unit_test(dot_stuffing_and_missing_final_crlf),
		cmocka_unit_test(too_big_for_remote_size_is_permanent_without_sending),
		cmocka_unit_test(smtputf8_needed_but_not_offered_is_permanent),
		cmocka_unit_test(smtputf8_parameter_sent_when_offered),
		cmocka_unit_test(reused_connection_sends_rset_first),
		cmocka_unit_test(failed_rset_reconnects_once),
		cmocka_unit_test(reused_pipelining_connection_sends_rset_with_the_transaction),
		cmocka_unit_test(refused_pipelined_rset_sends_the_transaction_again),
		cmocka_unit_test(auth_plain_succeeds),
		cmocka_unit_test(auth_login_succeeds),
		cmocka_unit_test(auth_535_is_temporary_and_keeps_reply),
		cmocka_unit_test(credentials_never_sent_in_clear_unless_tls_none),
		cmocka_unit_test(tls_required_but_not_offered),
		cmocka_unit_test(connect_refused_is_temporary),
		cmocka_unit_test(immediate_local_failure_is_reported_later),
		cmocka_unit_test(free_inside_done_sends_quit),
		cmocka_unit_test(starttls_verified_delivery),
		cmocka_unit_test(starttls_opportunistic_records_unverified),
		cmocka_unit_test(starttls_verify_fails_for_wrong_name),
		cmocka_unit_test(implicit_tls_delivery),
		cmocka_unit_test(tls_handshake_failure_does_not_fall_back),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
