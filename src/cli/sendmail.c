/*
 * sendmail: the sendmail(8) command line, for programs that hand mail to
 * /usr/sbin/sendmail (PHP mail(), cron, Drupal, osTicket...).
 *
 *     sendmail [-t] [-i] [-f ADDR] [-F NAME] [-o...] [-B...] [RCPT...]
 *     sendmail -bs          SMTP on stdin/stdout, relayed to the daemon (or, when
 *                           it is down, answered here and kept in the maildrop)
 *     sendmail -bp          the queue (as mailq)
 *
 * Reads only what it needs of the config (config_load_submit(): no relay
 * secrets, so any local user can run it).  Reads the message from stdin
 * (LF or CRLF lines), and hands it over SMTP on the daemon's local socket
 * (inbound/local_submit.h).  When the socket cannot be reached (outpostd
 * down, or the socket is where the caller may not go) the message goes to
 * the maildrop instead (spool/maildrop.h): written directly when the
 * caller may, else through the setgid outpost-postdrop helper; outpostd
 * queues it when it runs.  Exits 0 when the daemon answered "250 queued"
 * or the message is in the maildrop; otherwise prints the reason and exits
 * with the sysexits code sendmail uses (75 try again later, 69 refused, 65
 * bad data, 64 bad usage), so the caller knows nothing was kept.
 * A bare recipient name (root, as cron sends to) goes to admin_address,
 * or to NAME@hostname when there is none.
 *
 * Nothing from the command line can start a new header line or a new SMTP
 * command: a sender, recipient or full name with a control character (CR,
 * LF, NUL...) is refused (65); the full name is written as a quoted string,
 * or as an RFC 2047 encoded word when it is not ASCII.  A bare CR inside a
 * line of the message is refused too (65): the daemon would refuse it, and
 * deleting it would change the message behind the caller's back.
 */
#include <errno.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/sendmail_int.h"
#include "core/base64.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/header.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "inbound/local_submit.h"
#include "spool/maildrop.h"

#ifndef OUTPOST_POSTDROP
#define OUTPOST_POSTDROP "/usr/libexec/outpost-postdrop"
#endif

#define EX_USAGE 64
#define EX_DATAERR 65
#define EX_UNAVAILABLE 69
#define EX_SOFTWARE 70
#define EX_TEMPFAIL 75

struct sm_opts {
	enum { SM_SUBMIT, SM_SMTP, SM_LIST } mode;   /* -bm (default), -bs, -bp */
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
		else if (strcmp(a, "-bs") == 0)
			o->mode = SM_SMTP;
		else if (strcmp(a, "-bp") == 0)
			o->mode = SM_LIST;
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

/* ---- handing the message over: the socket, else the maildrop ---- */

/* Runs the setgid helper with the drop file on its stdin. */
static int postdrop(const char *dir, const struct buf *drop, char *err, size_t errlen)
{
	const char *helper = getenv("OUTPOST_POSTDROP");   /* tests; this program is not privileged */
	int pfd[2], status;
	if (helper == NULL || *helper == '\0')
		helper = OUTPOST_POSTDROP;
	if (pipe(pfd) < 0)
		return set_error(err, errlen, "pipe: %s", strerror(errno));
	pid_t pid = fork();
	if (pid < 0)
		return set_error(err, errlen, "fork: %s", strerror(errno));
	if (pid == 0) {
		dup2(pfd[0], 0);
		close(pfd[0]);
		close(pfd[1]);
		execl(helper, "outpost-postdrop", dir, (char *)NULL);
		fprintf(stderr, "outpost: sendmail: cannot run %s: %s\n", helper, strerror(errno));
		_exit(75);
	}
	close(pfd[0]);
	signal(SIGPIPE, SIG_IGN);
	ssize_t w = 0;
	for (size_t off = 0; off < drop->len && w >= 0; off += (size_t)w)
		if ((w = write(pfd[1], drop->data + off, drop->len - off)) < 0 && errno == EINTR)
			w = 0;
	close(pfd[1]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return set_error(err, errlen, "%s could not store it (status %d)", helper,
				 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	return 0;
}

/* outpostd is not reachable: keep the message in the maildrop for it. */
int sendmail_drop(const struct config *cf, const char *sender, char *const *rcpts, size_t n,
		  const struct buf *msg, const char *why)
{
	struct buf drop = BUF_INIT;
	char err[1024];
	int rc;
	maildrop_format(&drop, sender, rcpts, n, msg);
	if (access(cf->maildrop, W_OK | X_OK) == 0)
		rc = maildrop_store(cf->maildrop, drop.data, drop.len, err, sizeof(err));
	else
		rc = postdrop(cf->maildrop, &drop, err, sizeof(err));
	buf_free(&drop);
	if (rc < 0) {
		fprintf(stderr, "outpost: sendmail: not queued: %s, and the maildrop %s: %s\n", why, cf->maildrop,
			err);
		return EX_TEMPFAIL;
	}
	return 0;
}

/* A bare user name (cron's "root") -> admin_address, else NAME@hostname. */
static char **full_recipients(const struct config *cf, const struct sm_opts *o)
{
	char **r = xcalloc(o->nrcpts + 1, sizeof(char *));
	for (size_t i = 0; i < o->nrcpts; i++)
		r[i] = strchr(o->rcpts[i], '@') ? xstrdup(o->rcpts[i])
		       : cf->admin_address ? xstrdup(cf->admin_address)
		       : xasprintf("%s@%s", o->rcpts[i], cf->hostname);
	return r;
}

static int submit(const struct config *cf, const char *sender, const struct sm_opts *o, const struct buf *msg)
{
	char reply[1024];
	char **rcpts = full_recipients(cf, o);
	int rc = 0;
	switch (local_submit(cf->socket, sender, rcpts, o->nrcpts, msg, reply, sizeof(reply))) {
	case SUBMIT_QUEUED:
		break;
	case SUBMIT_UNREACHABLE:
		rc = sendmail_drop(cf, sender, rcpts, o->nrcpts, msg, reply);
		break;
	case SUBMIT_TEMPFAIL:
		rc = sm_fail(EX_TEMPFAIL, "not queued: %s", reply);
		break;
	case SUBMIT_REFUSED:
		rc = sm_fail(EX_UNAVAILABLE, "not queued: %s", reply);
		break;
	}
	for (size_t i = 0; i < o->nrcpts; i++)
		free(rcpts[i]);
	free(rcpts);
	return rc;
}

/* -bs: the caller speaks SMTP on stdin/stdout; it is relayed byte for
 * byte to the daemon's local session (which does all the parsing), or,
 * when the daemon is down, answered by sendmail_offline.c. */
static int smtp_on_stdio(const struct config *cf)
{
	int fd = local_submit_connect(cf->socket);
	char b[16384];
	if (fd < 0) {   /* the daemon is down: answer here and keep what is accepted */
		char why[600];
		snprintf(why, sizeof(why), "cannot reach outpostd on %s: %s", cf->socket, strerror(errno));
		return sendmail_offline_smtp(cf, why);
	}
	struct pollfd pf[2] = { { .fd = 0, .events = POLLIN }, { .fd = fd, .events = POLLIN } };
	signal(SIGPIPE, SIG_IGN);
	for (;;) {
		if (poll(pf, 2, -1) < 0 && errno != EINTR)
			break;
		ssize_t n;
		if (pf[1].revents && ((n = read(fd, b, sizeof(b))) <= 0 || write(1, b, (size_t)n) != n))
			break;   /* the daemon closed (after QUIT), or stdout is gone */
		if (pf[0].revents && ((n = read(0, b, sizeof(b))) <= 0 || send(fd, b, (size_t)n, 0) != n)) {
			shutdown(fd, SHUT_WR);   /* the caller is done: let the daemon's replies drain */
			pf[0].fd = -1;
		}
	}
	close(fd);
	return 0;
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
	if (o.mode == SM_LIST) {
		char *list[] = { "queue", "list", NULL };
		rc = cmd_queue(2, list, file);
		goto out;
	}
	rc = EX_SOFTWARE;
	if ((cf = config_load_submit(file, err, sizeof(err))) == NULL) {
		sm_fail(rc, "%s", err);
		goto out;
	}
	if (o.mode == SM_SMTP) {
		rc = smtp_on_stdio(cf);
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
