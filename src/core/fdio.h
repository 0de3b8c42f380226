/*
 * fdio: writing a whole buffer to a file descriptor.
 * Contract: fd_write_all() returns 0 once all n bytes are written, -1 (errno
 * set, or 0 for a write that took nothing) otherwise; an interrupted write
 * is retried.  For a socket (sock != 0) it uses send() with MSG_NOSIGNAL, so
 * a peer that went away is an error (EPIPE), never a SIGPIPE.
 */
#ifndef OUTPOST_FDIO_H
#define OUTPOST_FDIO_H
#include <stddef.h>

int fd_write_all(int fd, const void *p, size_t n, int sock);

#endif
