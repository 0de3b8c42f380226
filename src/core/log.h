/*
 * log: one line per event, key=value.
 * Contract: msg_info/msg_warn log and return; msg_fatal reports a broken
 * environment (bad config, unreadable file) and exits 1; msg_panic reports
 * a bug of ours and aborts.  Callers write the key=value text, starting
 * with event=NAME and carrying qid= for anything about a message; log adds
 * the time, program and level.  Safe to call from any thread.
 */
#ifndef OUTPOST_LOG_H
#define OUTPOST_LOG_H
#include <stdarg.h>
#include <stddef.h>

enum log_dest { LOG_DEST_STDERR, LOG_DEST_SYSLOG };

void log_init(const char *progname, enum log_dest dest);
void log_set_debug(int on);
int log_debug_enabled(void);

void msg_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void msg_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void msg_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void msg_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void msg_panic(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Writes a reason into a caller's error buffer (err may be NULL).  A
 * truncated reason is still a reason: it ends with "..." instead. */
/* Always -1, so a parser can `return set_error(err, errlen, "...")`. */
int set_error(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void vset_error(char *err, size_t errlen, const char *fmt, va_list ap);

/* Copies s into out (size outlen) so that it is safe as one key=value
 * value: quotes it when it holds spaces, escapes quotes, backslashes and
 * control bytes.  Returns out. */
const char *log_quote(char *out, unsigned long outlen, const char *s);

#endif
