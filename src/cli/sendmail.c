/*
 * sendmail: the sendmail(8) command line, for programs that hand mail to
 * /usr/sbin/sendmail (PHP mail(), cron, Drupal, osTicket...).
 *
 *     sendmail [-t] [-i] [-f ADDR] [-F NAME] [-o...] [-B...] [RCPT...]
 *
 * Reads the message from stdin (LF or CRLF lines), and hands it over SMTP
 * on the daemon's local socket.  Exits 0 only when the daemon answered
 * "250 queued"; otherwise prints the reason and exits with the sysexits
 * code sendmail uses (75 try again later, 69 refused, 65 bad data, 64 bad
 * usage), so the caller knows nothing was queued.
 *
 * Nothing from the command line can start a new header line or a new SMTP
 * command: a sender, recipient or full name with a control character (CR,
 * LF, NUL...) is refused (65); the full name is written as a quoted string,
 * or as an RFC 2047 encoded word when it is not ASCII.  A bare CR inside a
 * line of the message is refused too (65): the daemon would refuse it, and
 * deleting it would change the message behind the caller's back.
 */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli/commands.h"
#include "core/base64.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/header.h"
#include "core/xmalloc.h"

#define EX_USAGE 64
#define EX_DATAERR 65
#define EX_UNAVAILABLE 69
#define EX_SOFTWARE 70
#define EX_TEMPFAIL 75

struct sm_opts {
	int extract;           /* -t */
	int ignore_dots;       /* -i, -oi */
	const char *from;      /* -f */
	const char *fullname;  /* -F */
	char **rcpts;
	size_t nrcpts;
};

static int sm_fail(int code, const char *fmt, const char *arg)
{
	fprintf(stderr, "outpost: sendmail: ");
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	return code;
}

static void add_rcpt(struct sm_opts *o, const char *a)
{
	o->rcpts = xreallocarray(o->rcpts, o->nrcpts + 1, sizeof(char *));
	o->rcpts[o->nrcpts++] = xstrdup(a);
}

/* Option letters with a value take it attached (-fADDR) or as the next word. */
static int parse_args(int argc, char **argv, struct sm_opts *o)
{
	int i;
	for (i = 1; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--") == 0) {
			i++;
			break;
		}
		char c = a[1];
		if (c == 'f' || c == 'F' || c == 'B' || c == 'o' || c == 'N' || c == 'R' || c == 'V' ||
		    c == 'r' || c == 'L' || c == 'q') {
			const char *val = a[2] ? a + 2 : (i + 1 < argc ? argv[++i] : NULL);
			if (val == NULL)
				return sm_fail(-1, "option %s needs a value", a);
			if (c == 'f' || c == 'r')
				o->from = val;
			else if (c == 'F')
				o->fullname = val;
			else if (c == 'o' && strcmp(val, "i") == 0)
				o->ignore_dots = 1;
			continue;  /* -B, -N, -R, -V, other -o: accepted, no effect here */
		}
		if (strcmp(a, "-t") == 0)
			o->extract = 1;
		else if (strcmp(a, "-i") == 0)
			o->ignore_dots = 1;
		else if (strcmp(a, "-bm") == 0 || strncmp(a, "-od", 3) == 0 || strncmp(a, "-oe", 3) == 0 ||
			 strcmp(a, "-v") == 0 || strcmp(a, "-U") == 0 || strcmp(a, "-n") == 0 || strcmp(a, "-m") == 0)
			;  /* the defaults of sendmail(8), or no meaning here */
		else
			return sm_fail(-1, "unsupported option %s", a);
	}
	for (; i < argc; i++)
		add_rcpt(o, argv[i]);
	return 0;
}

enum { READ_OK = 0, READ_TOO_BIG = -1, READ_BARE_CR = -2 };

/* stdin -> CRLF text; a lone "." line ends input unless -i.  *lineno is
 * the line that failed (a bare CR, not followed by LF, inside it). */
static int read_message(struct buf *msg, int ignore_dots, uint64_t max, size_t *lineno)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int rc = READ_OK;
	for (*lineno = 1; (n = getline(&line, &cap, stdin)) > 0; ++*lineno) {
		size_t len = (size_t)n;
		if (line[len - 1] == '\n')
			len--;
		if (len && line[len - 1] == '\r')
			len--;
		if (!ignore_dots && len == 1 && line[0] == '.')
			break;
		if (memchr(line, '\r', len)) {
			rc = READ_BARE_CR;
			break;
		}
		buf_append(msg, line, len);
		buf_append(msg, "\r\n", 2);
		if (msg->len > max) {
			rc = READ_TOO_BIG;
			break;
		}
	}
	free(line);
	return rc;
}

/* 1 when s has a character that could end a header line or an SMTP
 * command (CR, LF), or any other control character. */
static int has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	return 0;
}

/* Refuses (-1, said on stderr) a sender or recipient that could break out of its SMTP
 * command or header: controls, and the brackets that end "<addr>". */
static int check_address_arg(const char *what, const char *a)
{
	if (has_control(a))
		return sm_fail(-1, "%s contains a control character (CR, LF...): refused", what);
	if (strpbrk(a, "<>"))
		return sm_fail(-1, "%s contains '<' or '>': refused", what);
	return 0;
}

static void collect_rcpt(const char *addr, void *arg)
{
	add_rcpt(arg, addr);
}

/* -t: recipients from To, Cc, Bcc; Bcc fields are removed from the message. */
static int extract_recipients(struct buf *msg, struct sm_opts *o)
{
	size_t pos = 0, hend = header_block_end(msg->data, msg->len);
	struct header_field f;
	while (pos < hend && header_next(msg->data, hend, &pos, &f)) {
		int bcc = f.namelen == 3 && strncasecmp(f.name, "Bcc", 3) == 0;
		if (bcc || (f.namelen == 2 && strncasecmp(f.name, "To", 2) == 0) ||
		    (f.namelen == 2 && strncasecmp(f.name, "Cc", 2) == 0)) {
			if (header_addresses(f.value, f.valuelen, collect_rcpt, o) < 0)
				return -1;
		}
		if (bcc) {
			memmove(msg->data + f.start, msg->data + f.end, msg->len - f.end);
			msg->len -= f.end - f.start;
			hend -= f.end - f.start;
			pos = f.start;
		}
	}
	return 0;
}

/* ---- a minimal SMTP client over the local socket ---- */

struct conn {
	int fd;
	char in[4096];
	size_t inlen;
};

/* Reads one whole (possibly multi-line) reply; returns its code, copies the last line. */
static int smtp_reply(struct conn *c, char *text, size_t textlen)
{
	for (;;) {
		char *lf = memchr(c->in, '\n', c->inlen);
		if (lf == NULL) {
			if (c->inlen == sizeof(c->in))
				return -1;
			ssize_t n = read(c->fd, c->in + c->inlen, sizeof(c->in) - c->inlen);
			if (n <= 0)
				return -1;
			c->inlen += (size_t)n;
			continue;
		}
		size_t ll = (size_t)(lf - c->in) + 1;
		size_t tl = ll > 2 && lf[-1] == '\r' ? ll - 2 : ll - 1;
		int more = ll > 4 && c->in[3] == '-';
		int code = ll > 3 ? atoi(c->in) : -1;
		snprintf(text, textlen, "%.*s", (int)tl, c->in);
		memmove(c->in, c->in + ll, c->inlen - ll);
		c->inlen -= ll;
		if (!more)
			return code;
	}
}

static int send_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Sends cmd, expects a reply of class want (2 or 3); returns the exit code. */
static int smtp_step(struct conn *c, const char *cmd, int want)
{
	char text[1024];
	if (cmd && (send_all(c->fd, cmd, strlen(cmd)) < 0 || send_all(c->fd, "\r\n", 2) < 0))
		return sm_fail(EX_TEMPFAIL, "lost the connection to outpostd%s", "");
	int code = smtp_reply(c, text, sizeof(text));
	if (code < 0)
		return sm_fail(EX_TEMPFAIL, "lost the connection to outpostd%s", "");
	if (code / 100 == want)
		return 0;
	return sm_fail(code / 100 == 4 ? EX_TEMPFAIL : EX_UNAVAILABLE, "not queued: %s", text);
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
	int rc = send_all(c->fd, out.data, out.len);
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

static int connect_daemon(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sun.sun_path))
		return -1;
	strcpy(sun.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

static int submit(const struct config *cf, const char *sender, const struct sm_opts *o, const struct buf *msg)
{
	char cmd[1100], text[1024];
	struct conn c = { .fd = connect_daemon(cf->socket) };
	int rc, utf8 = is_8bit(msg);
	if (c.fd < 0)
		return sm_fail(EX_TEMPFAIL, "cannot reach outpostd on %s: is it running?", cf->socket);
	if ((rc = smtp_step(&c, NULL, 2)) || (rc = smtp_step(&c, "EHLO localhost", 2)))
		goto out;
	snprintf(cmd, sizeof(cmd), "MAIL FROM:<%s>%s", sender, utf8 ? " BODY=8BITMIME" : "");
	for (size_t i = 0; i < o->nrcpts && rc == 0; i++) {
		if (i == 0 && (rc = smtp_step(&c, cmd, 2)))
			break;
		if (strchr(o->rcpts[i], '@'))
			snprintf(cmd, sizeof(cmd), "RCPT TO:<%s>", o->rcpts[i]);
		else  /* a bare user name, as cron uses: that user at our host name */
			snprintf(cmd, sizeof(cmd), "RCPT TO:<%s@%s>", o->rcpts[i], cf->hostname);
		rc = smtp_step(&c, cmd, 2);
	}
	if (rc || (rc = smtp_step(&c, "DATA", 3)))
		goto out;
	if (send_body(&c, msg) < 0) {
		rc = sm_fail(EX_TEMPFAIL, "lost the connection to outpostd%s", "");
		goto out;
	}
	if ((rc = smtp_step(&c, NULL, 2)) == 0)
		smtp_step(&c, "QUIT", 2);
out:
	(void)text;
	close(c.fd);
	return rc;
}

static void default_sender(const struct config *cf, const struct sm_opts *o, char *out, size_t outlen)
{
	struct passwd *pw = getpwuid(getuid());
	const char *user = pw ? pw->pw_name : "nobody";
	if (o->from && (strcmp(o->from, "<>") == 0 || *o->from == '\0'))
		out[0] = '\0';
	else if (o->from && strchr(o->from, '@'))
		snprintf(out, outlen, "%s", o->from);
	else
		snprintf(out, outlen, "%s@%s", o->from ? o->from : user, cf->hostname);
}

/* The command-line values that become the envelope or a header. */
static int check_args(const struct sm_opts *o)
{
	if (o->from && strcmp(o->from, "<>") != 0 && check_address_arg("the sender (-f)", o->from) < 0)
		return -1;
	if (o->fullname && has_control(o->fullname))
		return sm_fail(-1, "the full name (-F) contains a control character (CR, LF...): %s",
			       "refused, it could start a new header");
	return 0;
}

/* The full name as a display name: an RFC 5322 quoted string when ASCII,
 * otherwise RFC 2047 "B" encoded words of whole UTF-8 characters (at most
 * 45 octets each, so each word stays under 75 characters), folded; either
 * way nothing in it can be read as the end of the field. */
static void display_name(struct buf *out, const char *name)
{
	int ascii = 1;
	for (const char *p = name; *p; p++)
		ascii &= (unsigned char)*p < 0x80;
	if (ascii) {
		buf_putc(out, '"');
		for (const char *p = name; *p; p++) {
			if (*p == '"' || *p == '\\')
				buf_putc(out, '\\');
			buf_putc(out, *p);
		}
		buf_putc(out, '"');
		return;
	}
	size_t n = strlen(name);
	for (size_t i = 0, chunk; i < n; i += chunk) {
		char b64[64];
		chunk = n - i < 45 ? n - i : 45;
		while (chunk > 1 && i + chunk < n && ((unsigned char)name[i + chunk] & 0xC0) == 0x80)
			chunk--;   /* do not split a UTF-8 character between two words */
		base64_encode((const unsigned char *)name + i, chunk, b64, sizeof(b64));
		buf_printf(out, "%s=?UTF-8?B?%s?=", i ? "\r\n " : "", b64);
	}
}

/* Prepends From: when the message has none (as sendmail's own submission does). */
static void add_from(struct buf *msg, const char *sender, const char *fullname)
{
	struct header_field f;
	if (header_find(msg->data, msg->len, "From", &f) || *sender == '\0')
		return;
	struct buf nb = BUF_INIT;
	if (fullname) {
		buf_append(&nb, "From: ", 6);
		display_name(&nb, fullname);
		buf_printf(&nb, " <%s>\r\n", sender);
	} else {
		buf_printf(&nb, "From: %s\r\n", sender);
	}
	buf_append(&nb, msg->data, msg->len);
	buf_free(msg);
	*msg = nb;
}

int cmd_sendmail(int argc, char **argv, const char *file)
{
	struct sm_opts o = { 0 };
	struct buf msg = BUF_INIT;
	char err[1024], sender[600];
	int rc = EX_USAGE;
	struct config *cf = NULL;
	if (parse_args(argc, argv, &o) < 0)
		goto out;
	rc = EX_SOFTWARE;
	if ((cf = config_load(file, err, sizeof(err))) == NULL) {
		sm_fail(rc, "%s", err);
		goto out;
	}
	rc = EX_DATAERR;
	if (check_args(&o) < 0)
		goto out;
	buf_reserve(&msg, 8192);
	size_t lineno;
	int r = read_message(&msg, o.ignore_dots, cf->inbound.max_message_size, &lineno);
	if (r == READ_TOO_BIG) {
		sm_fail(rc, "message larger than the %s limit", "max_message_size");
		goto out;
	}
	if (r == READ_BARE_CR) {
		char where[32];
		snprintf(where, sizeof(where), "%zu", lineno);
		sm_fail(rc, "line %s of the message has a bare CR (a carriage return not followed by a "
			"line feed): refused, as outpostd refuses it", where);
		goto out;
	}
	if (o.extract && extract_recipients(&msg, &o) < 0) {
		sm_fail(rc, "cannot parse the To/Cc/Bcc addresses%s", "");
		goto out;
	}
	if (o.nrcpts == 0) {
		sm_fail(rc = EX_USAGE, "no recipients given%s", "");
		goto out;
	}
	for (size_t i = 0; i < o.nrcpts; i++)
		if (check_address_arg("a recipient", o.rcpts[i]) < 0)
			goto out;
	default_sender(cf, &o, sender, sizeof(sender));
	add_from(&msg, sender, o.fullname);
	rc = submit(cf, sender, &o, &msg);
out:
	for (size_t i = 0; i < o.nrcpts; i++)
		free(o.rcpts[i]);
	free(o.rcpts);
	buf_free(&msg);
	config_free(cf);
	return rc;
}
