/* config_ints: see config_ints.h. */
#include "config_ints.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xmalloc.h"

#define MAX_INCLUDE_DEPTH 10

struct scan {
	const char *p;
	const char *name;
	int line, depth, follow;
	char setting[64];        /* the last name seen: the setting a value belongs to */
	char *err;
	size_t errlen;
};

static int check_text(const char *text, const char *name, int depth, int follow, char *err, size_t errlen);

/* Skips a comment or a string at s->p (counting lines); 1 when it did. */
static int skip_comment_or_string(struct scan *s)
{
	const char *p = s->p;
	if (*p == '#' || (p[0] == '/' && p[1] == '/')) {
		while (*p && *p != '\n')
			p++;
	} else if (p[0] == '/' && p[1] == '*') {
		for (p += 2; *p && !(p[0] == '*' && p[1] == '/'); p++)
			s->line += *p == '\n';
		p += *p ? 2 : 0;
	} else if (*p == '"') {
		for (p++; *p && *p != '"'; p++) {
			if (*p == '\\' && p[1])
				p++;
			s->line += *p == '\n';
		}
		p += *p ? 1 : 0;
	} else {
		return 0;
	}
	s->p = p;
	return 1;
}

static int is_name_char(char c)
{
	return isalnum((unsigned char)c) || c == '-' || c == '_' || c == '*';
}

/* A name token: remembered as the setting the next value belongs to. */
static void scan_name(struct scan *s)
{
	const char *start = s->p;
	while (is_name_char(*s->p))
		s->p++;
	size_t n = (size_t)(s->p - start);
	if (n >= sizeof(s->setting))
		n = sizeof(s->setting) - 1;
	memcpy(s->setting, start, n);
	s->setting[n] = '\0';
}

static int out_of_range(struct scan *s, const char *tok, size_t n)
{
	snprintf(s->err, s->errlen, "%s:%d: %s: %.*s is out of range (integers go from %d to %d)",
		 s->name, s->line, s->setting[0] ? s->setting : "value", (int)n, tok, INT_MIN, INT_MAX);
	return -1;
}

/* A number token: [-+] then decimal or 0x hex digits, a fraction or an
 * exponent (a float), an L or LL suffix (an int64); -1 when it is a plain
 * integer that would wrap. */
static int scan_number(struct scan *s)
{
	const char *start = s->p, *p = s->p;
	int is_float = 0;
	if (*p == '-' || *p == '+')
		p++;
	int hex = p[0] == '0' && (p[1] == 'x' || p[1] == 'X');
	if (hex) {
		for (p += 2; isxdigit((unsigned char)*p); p++)
			;
	} else {
		while (isdigit((unsigned char)*p))
			p++;
		if (*p == '.') {
			is_float = 1;
			for (p++; isdigit((unsigned char)*p); p++)
				;
		}
		if ((*p == 'e' || *p == 'E') && (isdigit((unsigned char)p[1]) ||
		    ((p[1] == '-' || p[1] == '+') && isdigit((unsigned char)p[2])))) {
			is_float = 1;
			for (p += 2; isdigit((unsigned char)*p); p++)
				;
		}
	}
	size_t n = (size_t)(p - start);
	s->p = p;
	if (*p == 'L') {
		s->p += p[1] == 'L' ? 2 : 1;
		return 0;   /* an int64: its getter checks its range */
	}
	char tok[64];
	if (is_float || n >= sizeof(tok))
		return is_float ? 0 : out_of_range(s, start, sizeof(tok) - 1);
	memcpy(tok, start, n);
	tok[n] = '\0';
	errno = 0;
	long long v = strtoll(tok, NULL, hex ? 16 : 10);
	if (errno == 0 && v >= (hex ? 0 : INT_MIN) && v <= INT_MAX)
		return 0;
	return out_of_range(s, start, n);
}

/* @include "path": the named file is checked too. */
static int scan_include(struct scan *s)
{
	const char *p = s->p + strlen("@include");
	while (*p == ' ' || *p == '\t')
		p++;
	const char *q = *p == '"' ? strchr(p + 1, '"') : NULL;
	if (q == NULL || !s->follow) {
		s->p = p;
		return 0;
	}
	char *path = xstrndup(p + 1, (size_t)(q - p - 1));
	s->p = q + 1;
	FILE *f = fopen(path, "r");
	int rc = 0;
	if (f) {
		char *text = NULL;
		size_t cap = 0;
		ssize_t len = getdelim(&text, &cap, '\0', f);
		fclose(f);
		if (len >= 0)
			rc = check_text(text, path, s->depth + 1, 1, s->err, s->errlen);
		free(text);
	}   /* unreadable: libconfig reports it */
	free(path);
	return rc;
}

static int check_text(const char *text, const char *name, int depth, int follow, char *err, size_t errlen)
{
	struct scan s = { .p = text, .name = name, .line = 1, .depth = depth, .follow = follow,
			  .err = err, .errlen = errlen };
	if (depth > MAX_INCLUDE_DEPTH)
		return 0;   /* libconfig refuses the nesting itself */
	while (*s.p) {
		char c = *s.p;
		if (skip_comment_or_string(&s))
			continue;
		if (c == '\n')
			s.line++;
		if (c == '@' && strncmp(s.p, "@include", 8) == 0) {
			if (scan_include(&s) < 0)
				return -1;
		} else if (isalpha((unsigned char)c) || c == '*') {
			scan_name(&s);
		} else if (isdigit((unsigned char)c) || ((c == '-' || c == '+') && isdigit((unsigned char)s.p[1]))) {
			if (scan_number(&s) < 0)
				return -1;
		} else {
			s.p++;
		}
	}
	return 0;
}

int config_check_int_literals(const char *text, const char *name, int follow_includes, char *err,
			      size_t errlen)
{
	return check_text(text, name, 0, follow_includes, err, errlen);
}
