/* log: key=value event lines to stderr or syslog; see log.h. */
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <sys/time.h>

static const char *log_prog = "outpost";
static enum log_dest log_dest = LOG_DEST_STDERR;
static int log_debug;

void log_init(const char *progname, enum log_dest dest)
{
	log_prog = progname;
	log_dest = dest;
	if (dest == LOG_DEST_SYSLOG)
		openlog(progname, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

void log_set_debug(int on)
{
	log_debug = on;
}

int log_debug_enabled(void)
{
	return log_debug;
}

/* The stamp "YYYY-MM-DDTHH:MM:SS" of the second t, formatted once per
 * second and thread (a log line is written for every message). */
static const char *log_stamp(time_t t)
{
	static _Thread_local time_t stamp_sec = (time_t)-1;
	static _Thread_local char stamp[32];
	if (t != stamp_sec) {
		struct tm tm;
		gmtime_r(&t, &tm);
		if (strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
			strcpy(stamp, "-");
		stamp_sec = t;
	}
	return stamp;
}

/* Formats the text after prefix into line (at most LOG_TEXT_MAX octets of
 * it, " ..." marking a cut); returns the length of line. */
#define LOG_TEXT_MAX 4096
static size_t log_format(char *line, size_t prefix, const char *fmt, va_list ap)
{
	int n = vsnprintf(line + prefix, LOG_TEXT_MAX, fmt, ap);
	if (n < 0) {
		strcpy(line + prefix, "event=log_format_error");
		return prefix + strlen(line + prefix);
	}
	if ((size_t)n >= LOG_TEXT_MAX) {
		memcpy(line + prefix + LOG_TEXT_MAX - 5, " ...", 5); /* marks truncation */
		return prefix + LOG_TEXT_MAX - 1;
	}
	return prefix + (size_t)n;
}

static void log_emit(int prio, const char *level, const char *fmt, va_list ap)
{
	char line[LOG_TEXT_MAX + 128];
	if (log_dest == LOG_DEST_SYSLOG) {
		log_format(line, 0, fmt, ap);
		syslog(prio, "level=%s %s", level, line);
		return;
	}
	/* the whole line formatted once, in place, and written in one fwrite */
	struct timeval tv;
	gettimeofday(&tv, NULL);
	int p = snprintf(line, 128, "%s.%03ldZ %s level=%s ", log_stamp(tv.tv_sec), (long)tv.tv_usec / 1000,
			 log_prog, level);
	if (p < 0 || p >= 128)
		p = 0;
	size_t len = log_format(line, (size_t)p, fmt, ap);
	line[len++] = '\n';
	fwrite(line, 1, len, stderr);
}

#define LOG_BODY(prio, level)              \
	do {                               \
		va_list ap;                \
		va_start(ap, fmt);         \
		log_emit(prio, level, fmt, ap); \
		va_end(ap);                \
	} while (0)

void msg_debug(const char *fmt, ...)
{
	if (log_debug)
		LOG_BODY(LOG_DEBUG, "debug");
}

void msg_info(const char *fmt, ...)
{
	LOG_BODY(LOG_INFO, "info");
}

void msg_warn(const char *fmt, ...)
{
	LOG_BODY(LOG_WARNING, "warn");
}

void msg_fatal(const char *fmt, ...)
{
	LOG_BODY(LOG_CRIT, "fatal");
	exit(1);
}

void msg_panic(const char *fmt, ...)
{
	LOG_BODY(LOG_CRIT, "panic");
	abort();
}

const char *log_quote(char *out, unsigned long outlen, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	int need_quotes = (*s == '\0') || strpbrk(s, " \t\"=") != NULL;
	unsigned long o = 0;
	if (outlen < 8) {
		if (outlen)
			out[0] = '\0';
		return out;
	}
	if (need_quotes)
		out[o++] = '"';
	for (; *s && o + 6 < outlen; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c < 0x20 || c == 0x7f) {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		} else {
			out[o++] = (char)c;
		}
	}
	if (need_quotes)
		out[o++] = '"';
	out[o] = '\0';
	return out;
}

void vset_error(char *err, size_t errlen, const char *fmt, va_list ap)
{
	if (err == NULL || errlen == 0)
		return;
	int n = vsnprintf(err, errlen, fmt, ap);
	if (n < 0)
		err[0] = '\0';
	else if ((size_t)n >= errlen && errlen > 4)
		memcpy(err + errlen - 4, "...", 4);
}

int set_error(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vset_error(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}
