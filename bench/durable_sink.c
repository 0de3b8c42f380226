/*
 * durable_sink: the least a server must do to accept mail durably, as a
 * second reference beside smtp-sink in bench/inject.sh.
 *
 *     durable_sink [-r RING_MB] ADDR:PORT FILE
 *
 * An SMTP server on one event loop (as smtp-sink) that answers every command
 * at once, except the end of DATA: the message is written to FILE and its 250
 * waits until an fdatasync() that began after that write has returned.  A
 * second thread runs the syncs, one at a time, each covering every message
 * written while the one before it ran (group commit), so the loop never
 * waits for the disk and the disk never waits for the loop.  FILE is a ring
 * of RING_MB megabytes (default 64), written with zeros and synced before
 * the port opens, so a sync writes data blocks only: no block allocation and
 * no size change to commit.
 *
 * What it costs above smtp-sink is the copy to the page cache, the sync and
 * the wait for it: what any server pays that says 250 only for mail on disk.
 * It keeps no queue ids, no index, no log and reads nothing back, so its
 * rate bounds what a durable server reaches with this load on this machine.
 *
 * It takes EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP and QUIT and answers
 * 250/354/221 (502 to anything else); commands may be pipelined.  On SIGTERM
 * or SIGINT it prints "messages=N syncs=M" on stdout and exits 0.
 *
 * Only libc and pthreads; build with: cc -O2 -pthread -o durable_sink durable_sink.c
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define IN_MAX 65536
#define OUT_MAX 4096

struct conn {
	int fd;
	int data;               /* in DATA: lines go to msg */
	int waiting;            /* its "." is written, its 250 waits for a sync */
	int quit;               /* close once out is written */
	char in[IN_MAX];
	size_t in_len;
	char out[OUT_MAX];
	size_t out_len;
	char *msg;
	size_t msg_len, msg_cap;
	struct conn *next;      /* in a wait list */
};

static int ep, file_fd, sync_ev;
static off_t ring_size, ring_pos;
static long messages, syncs;
static volatile sig_atomic_t stop;

/* The sync thread: takes one request at a time, syncs, and says so. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int sync_asked;
static struct conn *pending, *syncing;   /* written, not yet synced / in the running sync */

static void die(const char *what)
{
	perror(what);
	exit(2);
}

static void *sync_main(void *arg)
{
	uint64_t one = 1;
	(void)arg;
	for (;;) {
		pthread_mutex_lock(&mu);
		while (!sync_asked)
			pthread_cond_wait(&cv, &mu);
		sync_asked = 0;
		pthread_mutex_unlock(&mu);
		if (fdatasync(file_fd) < 0)
			die("fdatasync");
		if (write(sync_ev, &one, sizeof one) != sizeof one)
			die("eventfd write");
	}
	return NULL;
}

static void sync_start(void)
{
	if (syncing || !pending)
		return;
	syncing = pending;
	pending = NULL;
	syncs++;
	pthread_mutex_lock(&mu);
	sync_asked = 1;
	pthread_cond_signal(&cv);
	pthread_mutex_unlock(&mu);
}

static void put(struct conn *c, const char *s)
{
	size_t n = strlen(s);
	if (c->out_len + n > OUT_MAX) {   /* a client that never reads its replies */
		c->quit = 1;
		return;
	}
	memcpy(c->out + c->out_len, s, n);
	c->out_len += n;
}

static void store(struct conn *c)
{
	const char *p = c->msg;
	size_t left = c->msg_len;
	while (left > 0) {
		size_t n = left;
		if (ring_pos + (off_t)n > ring_size)
			n = (size_t)(ring_size - ring_pos);
		ssize_t w = pwrite(file_fd, p, n, ring_pos);
		if (w <= 0)
			die("pwrite");
		p += w;
		left -= (size_t)w;
		ring_pos = (ring_pos + w) % ring_size;
	}
	c->msg_len = 0;
	c->waiting = 1;
	c->next = pending;
	pending = c;
	messages++;
}

static void msg_append(struct conn *c, const char *s, size_t n)
{
	if (c->msg_len + n > c->msg_cap) {
		c->msg_cap = (c->msg_len + n) * 2;
		c->msg = realloc(c->msg, c->msg_cap);
		if (!c->msg)
			die("realloc");
	}
	memcpy(c->msg + c->msg_len, s, n);
	c->msg_len += n;
}

static void command(struct conn *c, const char *line, size_t n)
{
	if (n >= 4 && strncasecmp(line, "EHLO", 4) == 0)
		put(c, "250-durable-sink\r\n250-PIPELINING\r\n250 8BITMIME\r\n");
	else if (n >= 4 && (strncasecmp(line, "HELO", 4) == 0 || strncasecmp(line, "MAIL", 4) == 0 ||
			    strncasecmp(line, "RCPT", 4) == 0 || strncasecmp(line, "RSET", 4) == 0 ||
			    strncasecmp(line, "NOOP", 4) == 0))
		put(c, "250 2.0.0 Ok\r\n");
	else if (n >= 4 && strncasecmp(line, "DATA", 4) == 0) {
		put(c, "354 End data with <CR><LF>.<CR><LF>\r\n");
		c->data = 1;
	} else if (n >= 4 && strncasecmp(line, "QUIT", 4) == 0) {
		put(c, "221 2.0.0 Bye\r\n");
		c->quit = 1;
	} else
		put(c, "502 5.5.2 Error: command not recognized\r\n");
}

/* Handles the complete lines in c->in until a message waits for its sync. */
static void parse(struct conn *c)
{
	size_t off = 0;
	while (!c->waiting && !c->quit && off < c->in_len) {
		char *nl = memchr(c->in + off, '\n', c->in_len - off);
		size_t n;
		if (nl)
			n = (size_t)(nl - (c->in + off)) + 1;
		else if (off == 0 && c->in_len == IN_MAX)
			n = IN_MAX;   /* a line longer than the buffer: taken in pieces */
		else
			break;
		const char *line = c->in + off;
		off += n;
		if (!c->data)
			command(c, line, n);
		else if ((n == 3 && memcmp(line, ".\r\n", 3) == 0) || (n == 2 && memcmp(line, ".\n", 2) == 0)) {
			c->data = 0;
			store(c);
		} else
			msg_append(c, line, n);
	}
	memmove(c->in, c->in + off, c->in_len - off);
	c->in_len -= off;
}

/* Closed now, freed after this loop turn: later events of the turn may name it. */
static struct conn *closed;

static void conn_close(struct conn *c)
{
	close(c->fd);
	c->fd = -1;
	c->next = closed;
	closed = c;
}

static void free_closed(void)
{
	while (closed) {
		struct conn *c = closed;
		closed = c->next;
		free(c->msg);
		free(c);
	}
}

/* Writes what c owes; returns 0 once c is closed. */
static int flush(struct conn *c)
{
	while (c->out_len > 0) {
		ssize_t w = write(c->fd, c->out, c->out_len);
		if (w < 0 && errno == EAGAIN) {
			struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT, .data.ptr = c };
			epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
			return 1;
		}
		if (w <= 0) {
			c->quit = 1;
			c->out_len = 0;
			break;
		}
		memmove(c->out, c->out + w, c->out_len - (size_t)w);
		c->out_len -= (size_t)w;
	}
	if (c->quit && !c->waiting) {
		conn_close(c);
		return 0;
	}
	return 1;
}

static void on_readable(struct conn *c)
{
	if (c->fd < 0 || c->quit || c->in_len == IN_MAX)
		return;   /* closed, closing, or a full buffer behind a message waiting for its sync */
	ssize_t r = read(c->fd, c->in + c->in_len, IN_MAX - c->in_len);
	if (r < 0 && errno == EAGAIN)
		return;
	if (r <= 0) {   /* gone: no more reads (level-triggered EOF would wake every turn) */
		epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
		c->quit = 1;
		c->out_len = 0;
	} else
		c->in_len += (size_t)r;
	parse(c);
	flush(c);
}

static void on_synced(void)
{
	uint64_t n;
	if (read(sync_ev, &n, sizeof n) != sizeof n)
		die("eventfd read");
	struct conn *c = syncing;
	syncing = NULL;
	while (c) {
		struct conn *next = c->next;
		c->waiting = 0;
		if (!c->quit)
			put(c, "250 2.0.0 Ok: queued\r\n");
		parse(c);   /* what was pipelined behind the "." */
		flush(c);
		c = next;
	}
	sync_start();
}

static void on_accept(int lfd)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
		if (fd < 0)
			return;
		struct conn *c = calloc(1, sizeof *c);
		if (!c)
			die("calloc");
		c->fd = fd;
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
			die("epoll_ctl");
		put(c, "220 durable-sink ESMTP\r\n");
		flush(c);
	}
}

static void ring_open(const char *path, long mb)
{
	static char zero[1 << 20];
	file_fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (file_fd < 0)
		die(path);
	ring_size = (off_t)mb << 20;
	for (long i = 0; i < mb; i++)
		if (write(file_fd, zero, sizeof zero) != (ssize_t)sizeof zero)
			die("write");
	if (fsync(file_fd) < 0)
		die("fsync");
}

static int listen_on(const char *addr)
{
	char host[64];
	const char *colon = strrchr(addr, ':');
	struct sockaddr_in sin = { .sin_family = AF_INET };
	int one = 1;
	if (!colon || (size_t)(colon - addr) >= sizeof host)
		return -1;
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = '\0';
	sin.sin_port = htons((unsigned short)atoi(colon + 1));
	if (inet_pton(AF_INET, host, &sin.sin_addr) != 1)
		return -1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    bind(fd, (struct sockaddr *)&sin, sizeof sin) < 0 || listen(fd, 256) < 0)
		die("listen");
	return fd;
}

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

int main(int argc, char **argv)
{
	long mb = 64;
	int opt;
	int bad = 0;
	while ((opt = getopt(argc, argv, "r:")) != -1)
		bad |= opt != 'r' || (mb = atol(optarg)) < 1;
	if (bad || argc - optind != 2) {
		fprintf(stderr, "usage: durable_sink [-r RING_MB] ADDR:PORT FILE\n");
		return 2;
	}
	int lfd = listen_on(argv[optind]);
	if (lfd < 0) {
		fprintf(stderr, "durable_sink: bad address %s (want IPv4:PORT)\n", argv[optind]);
		return 2;
	}
	ring_open(argv[optind + 1], mb);
	signal(SIGPIPE, SIG_IGN);
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	if ((ep = epoll_create1(EPOLL_CLOEXEC)) < 0 || (sync_ev = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)
		die("epoll/eventfd");
	struct epoll_event lev = { .events = EPOLLIN, .data.ptr = &lfd };
	struct epoll_event sev = { .events = EPOLLIN, .data.ptr = &sync_ev };
	if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev) < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, sync_ev, &sev) < 0)
		die("epoll_ctl");
	pthread_t t;
	if (pthread_create(&t, NULL, sync_main, NULL) != 0)
		die("pthread_create");

	struct epoll_event evs[256];
	while (!stop) {
		int n = epoll_wait(ep, evs, 256, -1);
		for (int i = 0; i < n; i++) {
			void *p = evs[i].data.ptr;
			if (p == &lfd)
				on_accept(lfd);
			else if (p == &sync_ev)
				on_synced();
			else if (((struct conn *)p)->fd < 0)
				continue;
			else if (evs[i].events & EPOLLOUT) {
				struct conn *c = p;
				struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
				epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
				if (flush(c))
					on_readable(c);
			} else
				on_readable(p);
		}
		sync_start();   /* the messages this turn wrote, if no sync runs */
		free_closed();
	}
	printf("messages=%ld syncs=%ld\n", messages, syncs);
	return 0;
}
