/* fdio: writing a whole buffer to a file descriptor; see fdio.h. */
#include "fdio.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

enum how { BY_WRITE, BY_SEND, BY_PWRITE };

/* The one loop: short writes continue, EINTR retries, anything else fails. */
static int write_loop(int fd, const char *c, size_t n, enum how how, off_t off)
{
	while (n > 0) {
		ssize_t w = how == BY_SEND ? send(fd, c, n, MSG_NOSIGNAL)
			  : how == BY_PWRITE ? pwrite(fd, c, n, off) : write(fd, c, n);
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

int fd_write_all(int fd, const void *p, size_t n, int sock)
{
	return write_loop(fd, p, n, sock ? BY_SEND : BY_WRITE, 0);
}

int fd_pwrite_all(int fd, const void *p, size_t n, off_t off)
{
	return write_loop(fd, p, n, BY_PWRITE, off);
}
