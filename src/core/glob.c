/* glob: compiled shell patterns; see glob.h. */
#include "glob.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "xmalloc.h"

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

long glob_lower(const char *s, char *out, size_t outlen)
{
	size_t i;
	for (i = 0; s[i]; i++) {
		if (i + 1 >= outlen)
			return -1;
		out[i] = lower(s[i]);
	}
	out[i] = '\0';
	return (long)i;
}

int glob_pieces_in(const char *pat, const char *lower_text)
{
	while (*pat) {
		size_t n = strcspn(pat, "*");
		if (n > 0) {
			char piece[GLOB_PIECE_MAX + 1];
			if (n > GLOB_PIECE_MAX)
				return -1;
			for (size_t i = 0; i < n; i++)
				piece[i] = lower(pat[i]);
			piece[n] = '\0';
			const char *at = strstr(lower_text, piece);
			if (at == NULL)
				return 0;
			lower_text = at + n;
		}
		pat += n;
		if (*pat == '*')
			pat++;
	}
	return 1;
}

/* Offset just past the ']' closing the bracket expression at p[0] == '[',
 * or 0 when there is none (fnmatch would then take '[' literally, which is
 * never what a config author meant). */
static size_t bracket_end(const char *p)
{
	size_t i = 1;
	if (p[i] == '!' || p[i] == '^')
		i++;
	if (p[i] == ']')
		i++;                            /* a leading ']' is a member */
	for (; p[i]; i++) {
		if (p[i] == '[' && p[i + 1] == ':') {
			const char *end = strstr(p + i + 2, ":]");
			if (end == NULL)
				return 0;
			i = (size_t)(end - p) + 1;
		} else if (p[i] == ']') {
			return i + 1;
		}
	}
	return 0;
}

/* Counts the wildcards of p: -1 when malformed; *plain tells whether p
 * has neither escapes nor brackets nor '?' (only '*' at most). */
static int scan(const char *p, int *plain, char *err, size_t errlen)
{
	int stars = 0;
	*plain = 1;
	for (size_t i = 0; p[i]; i++) {
		if (p[i] == '\\') {
			if (p[i + 1] == '\0') {
				set_error(err, errlen, "\"%s\" ends in a lone backslash", p);
				return -1;
			}
			*plain = 0;
			i++;
		} else if (p[i] == '[') {
			size_t n = bracket_end(p + i);
			if (n == 0) {
				set_error(err, errlen, "\"%s\" has a '[' without its ']'", p);
				return -1;
			}
			*plain = 0;
			i += n - 1;
		} else if (p[i] == '?') {
			*plain = 0;
		} else if (p[i] == '*') {
			stars++;
		}
	}
	return stars;
}

int glob_compile(const char *pattern, int casefold, struct glob *g, char *err, size_t errlen)
{
	int plain;
	memset(g, 0, sizeof(*g));
	int stars = scan(pattern, &plain, err, errlen);
	if (stars < 0)
		return -1;
	size_t n = strlen(pattern);
	g->text = xstrdup(pattern);
	g->pat = xstrdup(pattern);
	if (casefold)
		for (size_t i = 0; i < n; i++)
			g->pat[i] = lower(g->pat[i]);
	g->len = n;
	g->kind = GLOB_FNMATCH;
	if (plain && stars == 0) {
		g->kind = GLOB_LITERAL;
	} else if (plain && stars == 1 && n == 1) {
		g->kind = GLOB_ANY;
	} else if (plain && stars == 1 && pattern[0] == '*') {
		g->kind = GLOB_SUFFIX;
		memmove(g->pat, g->pat + 1, n);  /* with its NUL */
		g->len = n - 1;
	} else if (plain && stars == 1 && pattern[n - 1] == '*') {
		g->kind = GLOB_PREFIX;
		g->pat[n - 1] = '\0';
		g->len = n - 1;
	}
	return 0;
}

void glob_free(struct glob *g)
{
	free(g->text);
	free(g->pat);
	g->text = g->pat = NULL;
}

int glob_match(const struct glob *g, const char *s, size_t len)
{
	switch (g->kind) {
	case GLOB_LITERAL:
		return len == g->len && memcmp(s, g->pat, len) == 0;
	case GLOB_ANY:
		return 1;
	case GLOB_SUFFIX:
		return len >= g->len && memcmp(s + len - g->len, g->pat, g->len) == 0;
	case GLOB_PREFIX:
		return len >= g->len && memcmp(s, g->pat, g->len) == 0;
	case GLOB_FNMATCH:
		break;
	}
	return fnmatch(g->pat, s, 0) == 0;
}
