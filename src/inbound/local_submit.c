/* local_submit: a blocking SMTP client over the local socket; see local_submit.h. */
#include "inbound/local_submit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/fdio.h"

struct conn {
	int fd;
	char in[4096];
	size_t inlen;
	char *reply;
	size_t replylen;
};

/* Reads one whole (possibly multi-line) reply; returns its code, copies the last line. */
static int smtp_reply(struct conn *c)
{
	for (;;) {
		char *lf = memchr(c->in, '\n', c->inlen);
		if (lf == NULL) {
			if (c->inlen == sizeof(c->in))
				return -1;
			ssize_t n = read(c->fd, c->in + c->inlen, sizeof(c->in) - c->inlen);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return -1;
			c->inlen += (size_t)n;
			continue;
		}
		size_t ll = (size_t)(lf - c->in) + 1;
		size_t tl = ll > 2 && lf[-1] == '\r' ? ll - 2 : ll - 1;
		int more = ll > 4 && c->in[3] == '-';
		int code = ll > 3 ? atoi(c->in) : -1;
		snprintf(c->reply, c->replylen, "%.*s", (int)tl, c->in);
		memmove(c->in, c->in + ll, c->inlen - ll);
		c->inlen -= ll;
		if (!more)
			return code;
	}
}

/* Sends cmd (none: just read), expects a reply of class want (2 or 3). */
static enum submit_result smtp_step(struct conn *c, const char *cmd, int want)
{
	if (cmd && (fd_write_all(c->fd, cmd, strlen(cmd), 1) < 0 || fd_write_all(c->fd, "\r\n", 2, 1) < 0)) {
		snprintf(c->reply, c->replylen, "lost the connection to outpostd");
		return SUBMIT_TEMPFAIL;
	}
	int code = smtp_reply(c);
	if (code < 0) {
		snprintf(c->reply, c->replylen, "lost the connection to outpostd");
		return SUBMIT_TEMPFAIL;
	}
	if (code / 100 == want)
		return SUBMIT_QUEUED;
	return code / 100 == 4 ? SUBMIT_TEMPFAIL : SUBMIT_REFUSED;
}

/* Message text, dot-stuffed, then the terminating dot line. */
static int send_body(struct conn *c, const struct buf *msg)
{
	struct buf out = BUF_INIT;
	size_t pos = 0;
	buf_reserve(&out, msg->len + 64);
	while (pos < msg->len) {
		const char *lf = memchr(msg->data + pos, '\n', msg->len - pos);
		size_t end = lf ? (size_t)(lf - msg->data) + 1 : msg->len;
		if (msg->data[pos] == '.')
			buf_putc(&out, '.');
		buf_append(&out, msg->data + pos, end - pos);
		pos = end;
	}
	buf_append(&out, ".\r\n", 3);
	int rc = fd_write_all(c->fd, out.data, out.len, 1);
	buf_free(&out);
	return rc;
}

static int is_8bit(const struct buf *b)
{
	for (size_t i = 0; i < b->len; i++)
		if ((unsigned char)b->data[i] >= 0x80)
			return 1;
	return 0;
}

int local_submit_connect(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	size_t len = strlen(path);
	if (len >= sizeof(sun.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(sun.sun_path, path, len + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		fd = -1;
	}
	return fd;
}

static enum submit_result transaction(struct conn *c, const char *sender, char *const *rcpts, size_t nrcpts,
				      const struct buf *msg)
{
	char cmd[1100];
	enum submit_result rc;
	if ((rc = smtp_step(c, NULL, 2)) || (rc = smtp_step(c, "EHLO localhost", 2)))
		return rc;
	snprintf(cmd, sizeof(cmd), "MAIL FROM:<%s>%s", sender, is_8bit(msg) ? " BODY=8BITMIME" : "");
	if ((rc = smtp_step(c, cmd, 2)))
		return rc;
	for (size_t i = 0; i < nrcpts; i++) {
		if (snprintf(cmd, sizeof(cmd), "RCPT TO:<%s>", rcpts[i]) >= (int)sizeof(cmd)) {
			snprintf(c->reply, c->replylen, "recipient address too long");
			return SUBMIT_REFUSED;
		}
		if ((rc = smtp_step(c, cmd, 2)))
			return rc;
	}
	if ((rc = smtp_step(c, "DATA", 3)))
		return rc;
	if (send_body(c, msg) < 0) {
		snprintf(c->reply, c->replylen, "lost the connection to outpostd");
		return SUBMIT_TEMPFAIL;
	}
	return smtp_step(c, NULL, 2);
}

enum submit_result local_submit(const char *socket_path, const char *sender, char *const *rcpts, size_t nrcpts,
				const struct buf *msg, char *reply, size_t replylen)
{
	struct conn c = { .fd = local_submit_connect(socket_path), .reply = reply, .replylen = replylen };
	if (c.fd < 0) {
		snprintf(reply, replylen, "cannot reach outpostd on %s: %s", socket_path, strerror(errno));
		return SUBMIT_UNREACHABLE;
	}
	enum submit_result rc = transaction(&c, sender, rcpts, nrcpts, msg);
	if (rc == SUBMIT_QUEUED) {
		char last[1024];
		snprintf(last, sizeof(last), "%s", reply);   /* keep "250 ... queued as ID" */
		smtp_step(&c, "QUIT", 2);
		snprintf(reply, replylen, "%s", last);
	}
	close(c.fd);
	return rc;
}
