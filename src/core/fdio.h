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
#include <sys/types.h>

int fd_write_all(int fd, const void *p, size_t n, int sock);
/* The same at offset off of a file (pwrite), as often as it takes. */
int fd_pwrite_all(int fd, const void *p, size_t n, off_t off);

#endif
