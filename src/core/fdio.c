/* fdio: writing a whole buffer to a file descriptor; see fdio.h. */
#include "fdio.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

int fd_write_all(int fd, const void *p, size_t n, int sock)
{
	const char *c = p;
	while (n > 0) {
		ssize_t w = sock ? send(fd, c, n, MSG_NOSIGNAL) : write(fd, c, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

int fd_pwrite_all(int fd, const void *p, size_t n, off_t off)
{
	const char *c = p;
	while (n > 0) {
		ssize_t w = pwrite(fd, c, n, off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		c += w;
		n -= (size_t)w;
		off += w;
	}
	return 0;
}
