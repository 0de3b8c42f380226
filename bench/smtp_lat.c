/*
 * smtp_lat: SMTP injection load with per-message acceptance latency.
 *
 *     smtp_lat [-s SESSIONS] [-m MESSAGES] [-l LENGTH] [-f FROM] [-t TO]
 *              [-H HELO] [-o FILE] HOST:PORT
 *
 * Opens SESSIONS connections (one thread each, blocking sockets), sends
 * EHLO once per session, then takes messages from a shared counter until
 * MESSAGES have been sent in total: MAIL, RCPT, DATA, LENGTH bytes of text,
 * then the final "." line, one message at a time per session (no
 * pipelining).  For every message it records the time from writing the
 * final ".\r\n" (the text before it, ending in CRLF, is already written) to
 * reading the complete 2xx reply: the time the server takes to accept, which
 * for both outpost and Postfix includes the fsync of the message.  It also
 * records the whole transaction (MAIL to the reply after ".").
 *
 * Prints one line of key=value figures (milliseconds) on stdout:
 *     sent= failed= refused= size= seconds= rate= p50= p90= p99= max=
 *     txn_p50= txn_p99=
 * With -o FILE, writes every acceptance latency (ms, one per line) there.
 * failed= counts messages not accepted (refused, broken off, or never sent
 * because every session gave up after three failed connection attempts);
 * refused= the transactions that got a wrong reply or lost the connection.
 * Exit status 0 if every message was accepted, 1 if not, 2 on usage or
 * set-up errors.
 *
 * Only libc and pthreads; build with: cc -O2 -pthread -o smtp_lat smtp_lat.c
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define REPLY_MAX 4096

struct opts {
	int sessions;
	long messages;
	long length;
	const char *from, *to, *helo, *out;
	char host[256], port[32];
};

struct session {
	int id;
	int fd;
	char buf[REPLY_MAX];
	size_t have;                /* bytes in buf */
	char reply[REPLY_MAX];      /* the last complete reply, lines joined */
	pthread_t thread;
};

static struct opts opt = { 20, 20000, 4096, "from@example.com", "to@example.net",
			   "smtp-lat.example.com", NULL, "", "" };
static atomic_long next_msg;        /* messages handed out */
static atomic_long refused;         /* transactions refused or broken off */
static atomic_int errors_printed;
static double *lat_dot;             /* per message index: "." -> reply, ms */
static double *lat_txn;             /* per message index: MAIL -> reply, ms */
static char *text;                  /* the message text, dot-stuffing not needed */
static size_t text_len;

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void complain(struct session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void complain(struct session *s, const char *fmt, ...)
{
	if (atomic_fetch_add(&errors_printed, 1) >= 10)
		return;   /* the first few tell the story */
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "smtp_lat: session %d: ", s->id);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Reads one complete (possibly multi-line) reply into s->reply; returns its
 * code, or -1 if the connection broke or the reply is malformed. */
static int read_reply(struct session *s)
{
	size_t rlen = 0;
	s->reply[0] = '\0';
	for (;;) {
		char *nl = memchr(s->buf, '\n', s->have);
		if (nl == NULL) {
			if (s->have == sizeof(s->buf))
				return -1;   /* line too long */
			ssize_t r = read(s->fd, s->buf + s->have, sizeof(s->buf) - s->have);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				return -1;
			s->have += (size_t)r;
			continue;
		}
		size_t len = (size_t)(nl - s->buf) + 1;
		if (len < 4) /* "NNN\n" at least */
			return -1;
		if (rlen + len < sizeof(s->reply)) {
			memcpy(s->reply + rlen, s->buf, len);
			rlen += len;
			s->reply[rlen] = '\0';
		}
		int last = s->buf[3] != '-';
		int code = atoi(s->buf);
		memmove(s->buf, s->buf + len, s->have - len);
		s->have -= len;
		if (last) {
			while (rlen > 0 && (s->reply[rlen - 1] == '\n' || s->reply[rlen - 1] == '\r'))
				s->reply[--rlen] = '\0';
			return code >= 100 && code <= 599 ? code : -1;
		}
	}
}

/* Sends a command line and reads the reply; returns the reply code or -1. */
static int command(struct session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int command(struct session *s, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line) - 2)
		return -1;
	memcpy(line + n, "\r\n", 2);
	if (write_all(s->fd, line, (size_t)n + 2) != 0)
		return -1;
	return read_reply(s);
}

static int session_connect(struct session *s)
{
	struct addrinfo hints = { 0 }, *res = NULL;
	hints.ai_socktype = SOCK_STREAM;
	int rc = getaddrinfo(opt.host, opt.port, &hints, &res);
	if (rc != 0) {
		complain(s, "%s:%s: %s", opt.host, opt.port, gai_strerror(rc));
		return -1;
	}
	s->fd = -1;
	for (struct addrinfo *ai = res; ai && s->fd < 0; ai = ai->ai_next) {
		s->fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (s->fd < 0)
			continue;
		if (connect(s->fd, ai->ai_addr, ai->ai_addrlen) != 0) {
			close(s->fd);
			s->fd = -1;
		}
	}
	freeaddrinfo(res);
	if (s->fd < 0) {
		complain(s, "connect %s:%s: %s", opt.host, opt.port, strerror(errno));
		return -1;
	}
	int one = 1;   /* small command writes must not wait for Nagle */
	setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	s->have = 0;
	int code = read_reply(s);
	if (code != 220) {
		complain(s, "banner: %d %s", code, s->reply);
		goto fail;
	}
	code = command(s, "EHLO %s", opt.helo);
	if (code != 250) {
		complain(s, "EHLO: %d %s", code, s->reply);
		goto fail;
	}
	return 0;
fail:
	close(s->fd);
	s->fd = -1;
	return -1;
}

/* One transaction; returns 0 if accepted, -1 if refused (session still
 * usable after RSET), -2 if the connection is broken. */
static int send_message(struct session *s, long idx)
{
	double t_start = now_ms();
	int code = command(s, "MAIL FROM:<%s> SIZE=%zu", opt.from, text_len);
	if (code != 250) {
		complain(s, "MAIL: %d %s", code, s->reply);
		return code < 0 ? -2 : -1;
	}
	code = command(s, "RCPT TO:<%s>", opt.to);
	if (code != 250 && code != 251) {
		complain(s, "RCPT: %d %s", code, s->reply);
		return code < 0 ? -2 : -1;
	}
	code = command(s, "DATA");
	if (code != 354) {
		complain(s, "DATA: %d %s", code, s->reply);
		return code < 0 ? -2 : -1;
	}
	if (write_all(s->fd, text, text_len) != 0)
		return -2;
	double t_dot = now_ms();
	if (write_all(s->fd, ".\r\n", 3) != 0)
		return -2;
	code = read_reply(s);
	double t_end = now_ms();
	if (code < 200 || code > 299) {
		complain(s, "end of data: %d %s", code, s->reply);
		return code < 0 ? -2 : -1;
	}
	lat_dot[idx] = t_end - t_dot;
	lat_txn[idx] = t_end - t_start;
	return 0;
}

static void *session_main(void *p)
{
	struct session *s = p;
	int connect_failures = 0;
	s->fd = -1;
	for (;;) {
		if (s->fd < 0) {
			if (session_connect(s) != 0) {
				if (++connect_failures >= 3)
					break;   /* this session gives up; its share stays unsent */
				usleep(100000);
				continue;
			}
			connect_failures = 0;
		}
		long idx = atomic_fetch_add(&next_msg, 1);
		if (idx >= opt.messages)
			break;
		int rc = send_message(s, idx);
		if (rc == 0)
			continue;
		atomic_fetch_add(&refused, 1);
		if (rc == -1 && command(s, "RSET") == 250)
			continue;
		close(s->fd);
		s->fd = -1;
	}
	if (s->fd >= 0) {
		(void)command(s, "QUIT");
		close(s->fd);
	}
	return NULL;
}

/* The message: a few headers, then lines of up to 78 characters until the
 * whole text (headers included, CRLFs counted) is LENGTH bytes. */
static void make_text(void)
{
	char hdr[1024];
	int n = snprintf(hdr, sizeof(hdr),
			 "From: <%s>\r\nTo: <%s>\r\nSubject: smtp_lat test message\r\n"
			 "Message-ID: <smtp-lat.%ld@example.com>\r\n\r\n",
			 opt.from, opt.to, (long)getpid());
	if (n < 0 || (size_t)n >= sizeof(hdr)) {
		fprintf(stderr, "smtp_lat: addresses too long\n");
		exit(2);
	}
	size_t want = (size_t)opt.length > (size_t)n + 3 ? (size_t)opt.length : (size_t)n + 3;
	text = malloc(want + 1);
	if (text == NULL) {
		perror("malloc");
		exit(2);
	}
	memcpy(text, hdr, (size_t)n);
	size_t pos = (size_t)n;
	while (pos < want) {
		size_t left = want - pos;           /* at least 3 */
		size_t line = left - 2 > 78 ? 78 : left - 2;
		if (left - (line + 2) > 0 && left - (line + 2) < 3)
			line -= 3;                   /* leave room for a last non-empty line */
		for (size_t i = 0; i < line; i++)
			text[pos + i] = (char)('a' + (pos + i) % 26);
		pos += line;
		text[pos++] = '\r';
		text[pos++] = '\n';
	}
	text_len = pos;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of a sorted array. */
static double pct(const double *v, size_t n, double p)
{
	if (n == 0)
		return 0;
	size_t rank = (size_t)(p / 100.0 * (double)n + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return v[rank - 1];
}

/* Moves the recorded (non-negative) values to the front; returns how many. */
static size_t compact(double *v, size_t n)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (v[i] >= 0)
			v[k++] = v[i];
	return k;
}

static void usage(void)
{
	fprintf(stderr, "usage: smtp_lat [-s sessions] [-m messages] [-l length] [-f from] [-t to]"
			" [-H helo] [-o file] host:port\n");
	exit(2);
}

int main(int argc, char **argv)
{
	int ch;
	while ((ch = getopt(argc, argv, "s:m:l:f:t:H:o:")) != -1) {
		switch (ch) {
		case 's': opt.sessions = atoi(optarg); break;
		case 'm': opt.messages = atol(optarg); break;
		case 'l': opt.length = atol(optarg); break;
		case 'f': opt.from = optarg; break;
		case 't': opt.to = optarg; break;
		case 'H': opt.helo = optarg; break;
		case 'o': opt.out = optarg; break;
		default: usage();
		}
	}
	if (optind + 1 != argc || opt.sessions < 1 || opt.sessions > 10000 || opt.messages < 1 ||
	    opt.length < 0)
		usage();
	const char *target = argv[optind], *colon = strrchr(target, ':');
	if (colon == NULL || colon == target || (size_t)(colon - target) >= sizeof(opt.host) ||
	    strlen(colon + 1) >= sizeof(opt.port) || colon[1] == '\0')
		usage();
	memcpy(opt.host, target, (size_t)(colon - target));
	opt.host[colon - target] = '\0';
	strcpy(opt.port, colon + 1);

	make_text();
	lat_dot = malloc(sizeof(double) * (size_t)opt.messages);
	lat_txn = malloc(sizeof(double) * (size_t)opt.messages);
	struct session *ss = calloc((size_t)opt.sessions, sizeof(*ss));
	if (lat_dot == NULL || lat_txn == NULL || ss == NULL) {
		perror("malloc");
		return 2;
	}
	for (long i = 0; i < opt.messages; i++)
		lat_dot[i] = lat_txn[i] = -1;

	double t0 = now_ms();
	for (int i = 0; i < opt.sessions; i++) {
		ss[i].id = i;
		if (pthread_create(&ss[i].thread, NULL, session_main, &ss[i]) != 0) {
			perror("pthread_create");
			return 2;
		}
	}
	for (int i = 0; i < opt.sessions; i++)
		pthread_join(ss[i].thread, NULL);
	double secs = (now_ms() - t0) / 1e3;

	if (opt.out) {
		FILE *f = fopen(opt.out, "w");
		if (f == NULL) {
			perror(opt.out);
			return 2;
		}
		for (long i = 0; i < opt.messages; i++)
			if (lat_dot[i] >= 0)
				fprintf(f, "%.3f\n", lat_dot[i]);
		if (fclose(f) != 0) {
			perror(opt.out);
			return 2;
		}
	}
	size_t n = compact(lat_dot, (size_t)opt.messages);
	size_t nt = compact(lat_txn, (size_t)opt.messages);
	qsort(lat_dot, n, sizeof(double), cmp_double);
	qsort(lat_txn, nt, sizeof(double), cmp_double);
	long nfail = opt.messages - (long)n;   /* refused, broken off, or never sent */
	printf("sent=%zu failed=%ld refused=%ld size=%zu seconds=%.3f rate=%.1f p50=%.3f p90=%.3f "
	       "p99=%.3f max=%.3f txn_p50=%.3f txn_p99=%.3f\n",
	       n, nfail, atomic_load(&refused), text_len, secs, secs > 0 ? (double)n / secs : 0.0,
	       pct(lat_dot, n, 50), pct(lat_dot, n, 90), pct(lat_dot, n, 99), n ? lat_dot[n - 1] : 0.0,
	       pct(lat_txn, nt, 50), pct(lat_txn, nt, 99));
	return nfail == 0 && n == (size_t)opt.messages ? 0 : 1;
}
