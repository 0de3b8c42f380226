/*
 * buf: a byte string that carries its length (after Postfix's vstring).
 * Contract: data is always NUL-terminated after len bytes (so it may be
 * printed), may contain NULs itself, and grows only through buf_* calls,
 * which check every size computation for overflow in one place (buf_reserve)
 * and abort rather than return an error on allocation failure.
 */
#ifndef OUTPOST_BUF_H
#define OUTPOST_BUF_H
#include <stdarg.h>
#include <stddef.h>

struct buf {
	char *data;
	size_t len;
	size_t cap;
};

#define BUF_INIT { NULL, 0, 0 }

void buf_init(struct buf *b);
void buf_free(struct buf *b);
void buf_reset(struct buf *b);
void buf_reserve(struct buf *b, size_t extra);
void buf_append(struct buf *b, const void *p, size_t n);
void buf_puts(struct buf *b, const char *s);
void buf_putc(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(struct buf *b, const char *fmt, va_list ap);
/* Hands the bytes to the caller (who frees them) and empties b. */
char *buf_steal(struct buf *b, size_t *lenp);

#endif
