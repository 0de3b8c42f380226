/*
 * daemon_client: asks the running outpostd over its control socket
 * (SPOOL/control.sock, obs/obs_api.h) for live state: one HTTP/1.0 GET,
 * the whole answer read until the daemon closes.
 */
#include "cli/daemon_client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/config.h"
#include "obs/obs_api.h"

#define ANSWER_MAX (256 * 1024 * 1024)

static int control_connect(const struct config *cf)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int n = snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/%s", cf->spool, OBS_CONTROL_SOCKET);
	if (n < 0 || (size_t)n >= sizeof(sun.sun_path))
		return -1;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct timeval tv = { 30, 0 };
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int read_all(int fd, struct buf *b)
{
	char chunk[65536];
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n == 0)
			return 0;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || b->len + (size_t)n > ANSWER_MAX)
			return -1;
		buf_append(b, chunk, (size_t)n);
	}
}

int daemon_get(const struct config *cf, const char *path, struct buf *body, int *status)
{
	struct buf ans = BUF_INIT, req = BUF_INIT;
	int fd = control_connect(cf);
	if (fd < 0)
		return -1;
	buf_printf(&req, "GET %s HTTP/1.0\r\nHost: outpostd\r\n\r\n", path);
	/* MSG_NOSIGNAL: a daemon that hangs up is "no answer", not SIGPIPE */
	int ok = send(fd, req.data, req.len, MSG_NOSIGNAL) == (ssize_t)req.len && read_all(fd, &ans) == 0;
	close(fd);
	buf_free(&req);
	buf_putc(&ans, '\0');
	char *sep = ok ? strstr(ans.data, "\r\n\r\n") : NULL;
	if (sep == NULL || strncmp(ans.data, "HTTP/1.", 7) != 0 || strlen(ans.data) < 12) {
		buf_free(&ans);
		return -1;
	}
	*status = atoi(ans.data + 9);
	buf_append(body, sep + 4, ans.len - 1 - (size_t)(sep + 4 - ans.data));
	buf_free(&ans);
	return 0;
}

void daemon_not_running(const struct config *cf, const char *what)
{
	fprintf(stderr, "outpost: outpostd is not running (no answer on %s/%s): %s\n", cf->spool,
		OBS_CONTROL_SOCKET, what);
}
