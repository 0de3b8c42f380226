/*
 * reply_blame: the patterns of reply_patterns.def, matched in order.
 * Contract in reply_blame.h.  The table is compiled in (an X-macro over
 * the data file), so there is nothing to load and nothing to get wrong at
 * run time; test_reply_blame.c checks every pattern is well formed.
 */
#include <ctype.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "delivery/reply.h"
#include "delivery/reply_blame.h"
#include "core/glob.h"
#include "core/log.h"
#include "core/xmalloc.h"

#define STR2(x) #x
#define STR(x) STR2(x)

struct pattern {
	enum blame blame;
	const char *code, *enh, *text;
	const char *where;
};

static const struct pattern patterns[] = {
#define BLAME_PATTERN(b, code, enh, text) \
	{ BLAME_##b, code, enh, text, "reply_patterns.def:" STR(__LINE__) },
#include "delivery/reply_patterns.def"
#undef BLAME_PATTERN
};

/* "" any, "local" code 0, else three characters of digits and 'x'. */
static int code_matches(const char *pat, int code)
{
	if (*pat == '\0')
		return 1;
	if (strcmp(pat, "local") == 0)
		return code == 0;
	if (code < 100 || code > 999)
		return 0;
	char digits[4] = { (char)('0' + code / 100), (char)('0' + code / 10 % 10), (char)('0' + code % 10), 0 };
	for (int i = 0; i < 3; i++)
		if (pat[i] != 'x' && pat[i] != digits[i])
			return 0;
	return 1;
}

/* Component by component ("x" matches any one); enh has exactly three. */
static int enh_matches(const char *pat, const char *enh)
{
	if (*pat == '\0')
		return 1;
	if (enh == NULL || *enh == '\0')
		return 0;
	while (*pat && *enh) {
		size_t pl = strcspn(pat, "."), el = strcspn(enh, ".");
		if (!(pl == 1 && *pat == 'x') && (pl != el || strncmp(pat, enh, pl) != 0))
			return 0;
		pat += pl;
		enh += el;
		if (*pat != *enh)
			return 0;       /* one ended before the other */
		if (*pat == '.') {
			pat++;
			enh++;
		}
	}
	return *pat == '\0' && *enh == '\0';
}

/* The '*'-separated pieces of pat occur, ignoring case, in this order in
 * lower (the text lower-cased once, so that each piece is one strstr). */
static int text_matches(const char *pat, const char *lower)
{
	int m = glob_pieces_in(pat, lower);
	if (m < 0)
		msg_panic("reply_patterns.def: a piece of \"%s\" is too long", pat);
	return m;
}

enum blame reply_blame(int code, const char *enh, const char *text, const char **where)
{
	if (where)
		*where = "";
	if (code >= 200 && code < 300)
		return BLAME_NONE;
	char *lower = xstrdup(text ? text : "");
	for (char *c = lower; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	enum blame b = BLAME_NONE;
	for (size_t i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++) {
		const struct pattern *p = &patterns[i];
		if (code_matches(p->code, code) && enh_matches(p->enh, enh) && text_matches(p->text, lower)) {
			if (where)
				*where = p->where;
			b = p->blame;
			break;
		}
	}
	free(lower);
	return b;
}

enum blame reply_blame_info(const struct reply_info *r, const char **where)
{
	return reply_blame(r->code, r->enh, r->text, where);
}

const char *blame_name(enum blame b)
{
	static const char *const names[] = {
		[BLAME_NONE] = "none", [BLAME_RECIPIENT] = "recipient",
		[BLAME_SENDER_REPUTATION] = "sender_reputation", [BLAME_THROTTLE] = "throttle",
		[BLAME_AUTH] = "auth", [BLAME_TLS] = "tls",
	};
	return (unsigned)b < sizeof(names) / sizeof(names[0]) ? names[b] : "?";
}
