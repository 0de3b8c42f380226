/*
 * test_smtp_session: the inbound state machine replaying scripted
 * conversations over a socketpair (the fake network layer), with a real
 * event loop, spool and storage thread behind it.  Each script line is
 * either "C: text" (sent with CRLF), "R: bytes" (sent raw, \n and \r as
 * written in the C string) or "S: 250 2.1.0" (the next reply must start so).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tmpdir.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"
#include "core/log.h"
#include "inbound/smtp_server.h"
#include "inbound/smtpd_int.h"
#include "spool/spool.h"
#include "cli/queue_render.h"
#include "spool/spool_admin.h"

struct fx {
	char dir[64];
	struct config *cf;
	struct event_base *base;
	struct spool *sp;
	struct smtpd *sd;
	int fd;              /* the client's end */
	char in[8192];
	size_t inlen;
};

static struct fx *fx_new(const char *extra_conf, const char *client_ip)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	char conf[2048], err[512];
	assert_int_equal(tmpdir_make(fx->dir, sizeof(fx->dir), "session"), 0);
	snprintf(conf, sizeof(conf), "hostname = \"relay.test\"; spool = \"%s/spool\";\n"
		 "client_networks = [ \"127.0.0.0/8\" ];\n%s", fx->dir, extra_conf);
	fx->cf = config_parse(conf, "test.conf", err, sizeof(err));
	if (fx->cf == NULL)
		fail_msg("%s", err);
	fx->base = event_base_new();
	fx->sp = spool_open(fx->cf->spool, fx->cf->spool_max_size, fx->base, err, sizeof(err));
	assert_non_null(fx->sp);
	fx->sd = smtpd_new(fx->base, fx->cf, fx->sp, err, sizeof(err));
	assert_non_null(fx->sd);
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	struct sockaddr_in sin = { .sin_family = AF_INET };
	inet_pton(AF_INET, client_ip, &sin.sin_addr);
	static const struct listen_conf lc = { .address = "test", .tls = LISTEN_TLS_NONE,
					       .auth = LISTEN_AUTH_OPTIONAL };
	evutil_make_socket_nonblocking(sv[1]);
	smtp_session_start(fx->sd, &lc, sv[1], (struct sockaddr *)&sin, 0);
	fx->fd = sv[0];
	return fx;
}

static void fx_free(struct fx *fx)
{
	close(fx->fd);
	event_base_loop(fx->base, EVLOOP_NONBLOCK);
	smtpd_free(fx->sd);
	spool_close(fx->sp);
	event_base_free(fx->base);
	config_free(fx->cf);
	tmpdir_remove(fx->dir);
	free(fx);
}

/* Runs the loop until one whole reply (last line "NNN ") is read, or 5 s. */
static int next_reply(struct fx *fx, char *line, size_t linelen)
{
	time_t deadline = time(NULL) + 5;
	while (time(NULL) <= deadline) {
		char *lf;
		while ((lf = memchr(fx->in, '\n', fx->inlen)) != NULL) {
			size_t n = (size_t)(lf - fx->in) + 1;
			int last = n > 4 && fx->in[3] == ' ';
			snprintf(line, linelen, "%.*s", (int)(n - 2), fx->in);
			memmove(fx->in, fx->in + n, fx->inlen - n);
			fx->inlen -= n;
			if (last || n <= 4)
				return 0;
		}
		event_base_loop(fx->base, EVLOOP_NONBLOCK);
		struct pollfd p = { fx->fd, POLLIN, 0 };
		if (poll(&p, 1, 10) == 1) {
			ssize_t r = read(fx->fd, fx->in + fx->inlen, sizeof(fx->in) - fx->inlen);
			if (r <= 0)
				return -1;
			fx->inlen += (size_t)r;
		}
	}
	return -1;
}

static void send_all(struct fx *fx, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fx->fd, p, n);
		if (w < 0) {
			event_base_loop(fx->base, EVLOOP_NONBLOCK);
			continue;
		}
		p += w, n -= (size_t)w;
		event_base_loop(fx->base, EVLOOP_NONBLOCK);
	}
}

static void run_script(struct fx *fx, const char *const *script)
{
	char reply[1024];
	for (size_t i = 0; script[i]; i++) {
		const char *s = script[i];
		if (strncmp(s, "C: ", 3) == 0) {
			send_all(fx, s + 3, strlen(s + 3));
			send_all(fx, "\r\n", 2);
		} else if (strncmp(s, "R: ", 3) == 0) {
			send_all(fx, s + 3, strlen(s + 3));
		} else if (strncmp(s, "S: ", 3) == 0) {
			if (next_reply(fx, reply, sizeof(reply)) < 0)
				fail_msg("step %zu: no reply, wanted \"%s\"", i, s + 3);
			if (strncmp(reply, s + 3, strlen(s + 3)) != 0)
				fail_msg("step %zu: got \"%s\", wanted \"%s\"", i, reply, s + 3);
		} else if (strcmp(s, "CLOSED") == 0) {
			if (next_reply(fx, reply, sizeof(reply)) == 0)
				fail_msg("step %zu: got \"%s\", wanted the connection closed", i, reply);
		}
	}
}

static size_t queued(struct fx *fx)
{
	char path[128], err[256];
	snprintf(path, sizeof(path), "%s/spool", fx->dir);
	FILE *out = tmpfile();
	assert_int_equal(queue_print_list(path, 1, out, err, sizeof(err)), 0);
	long n = ftell(out);
	fclose(out);
	return n > 3 ? 1 : 0;  /* "[]\n" when empty */
}

static void test_transaction_and_sequence_errors(void **st)
{
	(void)st;
	struct fx *fx = fx_new("", "127.0.0.1");
	static const char *const script[] = {
		"S: 220 relay.test ESMTP",
		"C: MAIL FROM:<a@example.com>", "S: 503 5.5.1",
		"C: EHLO client.test", "S: 250 SMTPUTF8",
		"C: RCPT TO:<b@example.net>", "S: 503 5.5.1",
		"C: MAIL FROM:<a@example.com>", "S: 250 2.1.0",
		"C: MAIL FROM:<a@example.com>", "S: 503 5.5.1",
		"C: DATA", "S: 554 5.5.1",
		"C: RCPT TO:<b@example.net>", "S: 250 2.1.5",
		"C: DATA x", "S: 501 5.5.4",
		"C: DATA", "S: 354",
		"C: Subject: t", "C: ", "C: ..dot", "C: .", "S: 250 2.0.0 Ok: queued as ",
		"C: RSET", "S: 250 2.0.0",
		"C: QUIT", "S: 221 2.0.0", "CLOSED",
		NULL,
	};
	run_script(fx, script);
	assert_int_equal(queued(fx), 1);
	fx_free(fx);
}

static void test_stranger_cannot_relay(void **st)
{
	(void)st;
	struct fx *fx = fx_new("", "192.0.2.10");
	static const char *const script[] = {
		"S: 220", "C: EHLO stranger.test", "S: 250 ",
		"C: MAIL FROM:<a@example.com>", "S: 250 2.1.0",
		"C: RCPT TO:<b%c.example@relay.test>", "S: 554 5.7.1 Relay denied",
		"C: RCPT TO:<@relay.test:b@c.example>", "S: 553 5.1.0",
		"C: DATA", "S: 554 5.5.1",
		NULL,
	};
	run_script(fx, script);
	assert_int_equal(queued(fx), 0);
	fx_free(fx);
}

static void test_limits_recipients_and_errors(void **st)
{
	(void)st;
	struct fx *fx = fx_new("inbound = { max_recipients = 2; max_errors = 3; };", "127.0.0.1");
	static const char *const script[] = {
		"S: 220", "C: EHLO c.test", "S: 250 ",
		"C: MAIL FROM:<a@example.com>", "S: 250",
		"C: RCPT TO:<1@example.net>", "S: 250",
		"C: RCPT TO:<2@example.net>", "S: 250",
		"C: RCPT TO:<3@example.net>", "S: 452 4.5.3",
		"C: XYZZY", "S: 500 5.5.1",
		"C: XYZZY", "S: 500 5.5.1",
		"C: XYZZY", "S: 500 5.5.1", "S: 421 4.7.0", "CLOSED",
		NULL,
	};
	run_script(fx, script);
	fx_free(fx);
}

static void test_smuggling_and_long_lines(void **st)
{
	(void)st;
	struct fx *fx = fx_new("", "127.0.0.1");
	static char longline[1100];
	memset(longline, 'x', sizeof(longline) - 1);
	memcpy(longline, "C: ", 3);
	const char *script[] = {
		"S: 220", "C: EHLO c.test", "S: 250 ",
		"C: MAIL FROM:<a@example.com>", "S: 250", "C: RCPT TO:<b@example.net>", "S: 250",
		"C: DATA", "S: 354",
		"R: Subject: s\r\n\r\nx\n.\nMAIL FROM:<evil@example.com>\r\n", "C: .", "S: 550 5.6.0",
		"C: MAIL FROM:<a@example.com>", "S: 250", "C: RCPT TO:<b@example.net>", "S: 250",
		"C: DATA", "S: 354", longline, "C: .", "S: 250 2.0.0",   /* re-encoded, not refused */
		"C: NOOP", "S: 250",
		NULL,
	};
	run_script(fx, script);
	assert_int_equal(queued(fx), 1);
	fx_free(fx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_transaction_and_sequence_errors),
		cmocka_unit_test(test_stranger_cannot_relay),
		cmocka_unit_test(test_limits_recipients_and_errors),
		cmocka_unit_test(test_smuggling_and_long_lines),
	};
	log_init("test", LOG_DEST_STDERR);
	evthread_use_pthreads();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
