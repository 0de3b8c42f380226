/*
 * config_parse: the small API that each module's config parser is written
 * against (inbound/listener_config.c, delivery/route_config.c, ...), and
 * the table entry by which a module hands core/config.c its section.
 *
 * Contract:
 * - Errors go through cf_error(), which appends each error of a load as
 *   one "FILE:LINE: reason" line (the line of the setting s, 0 when NULL;
 *   lines that no longer fit in the buffer are dropped) and sets
 *   cx->failed, so `outpost check-config` can list every error; every
 *   getter reports its own errors that way and leaves *out unchanged on
 *   error or when the key is absent, so callers set the default first.  A
 *   loader may go on after an error but must not use a value it failed to
 *   get (and should skip checks that would only repeat the first error).
 * - cf_check_keys() fails when members of group g are not in known
 *   (NULL-terminated), naming each, so a typo is an error rather than ignored;
 *   cf_expect_group() adds the check that g is a group and, on failure, the
 *   group's usage.
 * - cf_get_path() is cf_get_string() for a file or directory: a relative
 *   path is made absolute against the config file's directory (cx->dir;
 *   NULL for config_parse(), which keeps it as written).
 * - Strings returned are the caller's (xstrdup), never empty.
 * - A section (struct config_section) names the top-level settings it
 *   reads; config.c accepts only settings some section (or config.c
 *   itself) names, fills defaults, loads the sections in table order, runs
 *   their cross-section checks after all of them, and releases them in
 *   config_free().
 */
#ifndef OUTPOST_CONFIG_PARSE_H
#define OUTPOST_CONFIG_PARSE_H
#include <libconfig.h>
#include <stddef.h>
#include <stdint.h>

struct config;
struct name_code;

struct cfctx {
	const char *file;
	char *err;
	size_t errlen;
	int failed;
	char *dir;       /* the config file's directory; NULL: paths stay as written */
};

int cf_error(struct cfctx *cx, const config_setting_t *s, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int cf_check_keys(struct cfctx *cx, const config_setting_t *g, const char *const *known);
/* 0 when g is a group whose members are all in known; else -1 after
 * cf_error(g, fmt, ...) (the usage), on top of cf_check_keys()'s errors. */
int cf_expect_group(struct cfctx *cx, const config_setting_t *g, const char *const *known,
		    const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* One top-level setting and what parses its value. */
struct cf_member_loader {
	const char *key;
	void (*load)(struct cfctx *cx, struct config *cf, const config_setting_t *s);
};
/* Calls the loader of each key present in root, in table order (to key NULL). */
void cf_load_members(struct cfctx *cx, struct config *cf, const config_setting_t *root,
		     const struct cf_member_loader *loaders);
/* A non-empty string member, copied; def (copied) or NULL when absent. */
char *cf_get_string(struct cfctx *cx, const config_setting_t *g, const char *key, const char *def);
/* A path member, relative ones made absolute against cx->dir. */
char *cf_get_path(struct cfctx *cx, const config_setting_t *g, const char *key, const char *def);
/* The first line of file, a secret: a regular file only its owner may read
 * or write (mode 600 or stricter; a symbolic link is refused), its line of
 * minlen to 1000 characters (a noun, e.g. "token").  NULL after an error at
 * s naming what (e.g. "http: token_file") and file. */
char *cf_read_private_line(struct cfctx *cx, const config_setting_t *s, const char *what, const char *file,
			   const char *noun, size_t minlen);
/* An integer member within min..max. */
void cf_get_uint(struct cfctx *cx, const config_setting_t *g, const char *key, unsigned *out,
		 unsigned min, unsigned max);
/* A string with a unit, parsed by parse (config_parse_duration or
 * config_parse_size), within min..max in the parsed unit. */
void cf_get_unit(struct cfctx *cx, const config_setting_t *g, const char *key,
		 long long (*parse)(const char *), long long min, long long max, uint64_t *out);
/* A duration from 1 s to 7 days, in seconds. */
void cf_get_duration(struct cfctx *cx, const config_setting_t *g, const char *key, unsigned *out);
/* The code of the member's value in names (name_code.h), def when absent;
 * an error listing the names when it is not one of them. */
int cf_get_enum(struct cfctx *cx, const config_setting_t *g, const char *key,
		const struct name_code *names, int def);
/* A list of non-empty strings, copied (NULL-terminated, count in *n); NULL when absent. */
char **cf_get_string_list(struct cfctx *cx, const config_setting_t *g, const char *key, size_t *n);
/* A list of strings, or one string as a list of one: the setting and its
 * length in *n; NULL (and *n 0) when absent; an error when empty. */
const config_setting_t *cf_get_list(struct cfctx *cx, const config_setting_t *g, const char *key,
				    size_t *n);
/* Element i of what cf_get_list() returned (NULL when not a string). */
const char *cf_list_elem(const config_setting_t *l, size_t i);

/* One module's part of the config file.  Every hook may be NULL. */
struct config_section {
	const char *const *keys;                                  /* top-level settings it reads */
	void (*defaults)(struct config *cf);                      /* before anything is loaded */
	void (*load)(struct cfctx *cx, struct config *cf, const config_setting_t *root);
	void (*check)(struct cfctx *cx, struct config *cf, const config_setting_t *root); /* after all loads */
	/* the name of a setting whose change needs a restart, or NULL */
	const char *(*reload_blocker)(const struct config *old, const struct config *cur);
	void (*release)(struct config *cf);                       /* free what load allocated */
};

#endif
