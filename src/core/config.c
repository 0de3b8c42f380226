/*
 * config: libconfig file -> struct config, with file:line errors.
 * Every group is checked against its list of known keys first, so a typo
 * is an error rather than a silently ignored setting.  This file reads the
 * file, the top-level scalars (hostname, spool, socket, resolver, users,
 * spool_max_size) and holds the getters of config_parse.h; each module's
 * settings are parsed beside that module, by the sections listed below.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <libconfig.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config_ints.h"
#include "config_parse.h"
#include "name_code.h"
#include "xmalloc.h"

static int cf_verror(struct cfctx *cx, const config_setting_t *s, const char *fmt, va_list ap)
{
	char msg[512];
	vsnprintf(msg, sizeof(msg), fmt, ap);   /* a longer reason is cut, not lost */
	size_t used = cx->failed ? strnlen(cx->err, cx->errlen) : 0;
	if (used + 1 < cx->errlen)   /* one line per error: check-config lists them all */
		snprintf(cx->err + used, cx->errlen - used, "%s%s:%d: %s", cx->failed ? "\n" : "", cx->file,
			 s ? config_setting_source_line(s) : 0, msg);
	cx->failed = 1;
	return -1;
}

int cf_error(struct cfctx *cx, const config_setting_t *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	cf_verror(cx, s, fmt, ap);
	va_end(ap);
	return -1;
}

char *cf_read_private_line(struct cfctx *cx, const config_setting_t *s, const char *what, const char *file,
			   const char *noun, size_t minlen)
{
	struct stat st;
	char buf[1024], *line = NULL;
	int fd = open(file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		cf_error(cx, s, "%s %s: %s", what, file, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (st.st_mode & 077) != 0) {
		cf_error(cx, s, "%s %s must be a regular file of mode 600 (readable by its owner only); chmod 600 it",
			 what, file);
		close(fd);
		return NULL;
	}
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	if (strlen(buf) < minlen || (size_t)n == sizeof(buf) - 1)
		cf_error(cx, s, "%s %s must hold one %s of %zu to 1000 characters on its first line", what, file, noun,
			 minlen);
	else
		line = xstrdup(buf);
	explicit_bzero(buf, sizeof(buf));
	return line;
}

int cf_expect_group(struct cfctx *cx, const config_setting_t *g, const char *const *known,
		    const char *fmt, ...)
{
	if (config_setting_is_group(g) && cf_check_keys(cx, g, known) == 0)
		return 0;
	va_list ap;
	va_start(ap, fmt);
	cf_verror(cx, g, fmt, ap);
	va_end(ap);
	return -1;
}

void cf_load_members(struct cfctx *cx, struct config *cf, const config_setting_t *root,
		     const struct cf_member_loader *loaders)
{
	for (const struct cf_member_loader *l = loaders; l->key; l++) {
		const config_setting_t *s = config_setting_get_member(root, l->key);
		if (s != NULL)
			l->load(cx, cf, s);
	}
}

static long long parse_unit_number(const char *s, const char *const *units,
				   const long long *mult, size_t nunits)
{
	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end - s > 18)
		return -1;
	for (size_t i = 0; i < nunits; i++) {
		if (strcmp(end, units[i]) == 0) {
			if (v > (unsigned long long)(LLONG_MAX / mult[i]))
				return -1;
			return (long long)v * mult[i];
		}
	}
	return -1;
}

long long config_parse_duration(const char *s)
{
	static const char *const units[] = { "s", "m", "h", "d" };
	static const long long mult[] = { 1, 60, 3600, 86400 };
	return parse_unit_number(s, units, mult, 4);
}

long long config_parse_size(const char *s)
{
	static const char *const units[] = { "", "K", "M", "G" };
	static const long long mult[] = { 1, 1024, 1024 * 1024, 1024LL * 1024 * 1024 };
	return parse_unit_number(s, units, mult, 4);
}

/* Fails on the first member of group g whose name is not in known. */
int cf_check_keys(struct cfctx *cx, const config_setting_t *g, const char *const *known)
{
	int n = config_setting_length(g), bad = 0;
	for (int i = 0; i < n; i++) {
		const config_setting_t *m = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(m);
		size_t k;
		for (k = 0; known[k]; k++)
			if (name && strcmp(name, known[k]) == 0)
				break;
		if (known[k] == NULL)
			bad = cf_error(cx, m, "unknown setting \"%s\"", name ? name : "?");
	}
	return bad;
}

/* Copies a string member (NULL when absent); errors when of another type. */
char *cf_get_string(struct cfctx *cx, const config_setting_t *g, const char *key, const char *def)
{
	const config_setting_t *s = config_setting_get_member(g, key);
	if (s == NULL)
		return def ? xstrdup(def) : NULL;
	const char *v = config_setting_get_string(s);
	if (v == NULL) {
		cf_error(cx, s, "%s: expected a string", key);
		return NULL;
	}
	if (*v == '\0') {
		cf_error(cx, s, "%s: must not be empty", key);
		return NULL;
	}
	return xstrdup(v);
}

/* dir (absolute) + "/" + rel with "." and ".." components resolved by
 * name, as the operator reads them ("/srv/x/spool", not "/srv/x/etc/../spool");
 * the files need not exist yet, so realpath() cannot do it. */
static char *join_lexical(const char *dir, const char *rel)
{
	char *all = xasprintf("%s/%s", dir, rel), *out = xcalloc(1, strlen(all) + 2);
	size_t len = 0;
	for (char *save = NULL, *part = strtok_r(all, "/", &save); part; part = strtok_r(NULL, "/", &save)) {
		if (strcmp(part, ".") == 0)
			continue;
		if (strcmp(part, "..") == 0) {
			while (len > 0 && out[--len] != '/')
				;   /* drop the last component ("/.." stays "/") */
			out[len] = '\0';
			continue;
		}
		size_t n = strlen(part);   /* out holds all of the input at most: no overflow */
		out[len++] = '/';
		memcpy(out + len, part, n + 1);
		len += n;
	}
	if (len == 0)
		strcpy(out, "/");
	free(all);
	return out;
}

char *cf_get_path(struct cfctx *cx, const config_setting_t *g, const char *key, const char *def)
{
	char *v = cf_get_string(cx, g, key, def);
	if (v == NULL || v[0] == '/' || cx->dir == NULL)
		return v;
	char *abs = join_lexical(cx->dir, v);
	free(v);
	return abs;
}

void cf_get_uint(struct cfctx *cx, const config_setting_t *g, const char *key,
		     unsigned *out, unsigned min, unsigned max)
{
	const config_setting_t *s = config_setting_get_member(g, key);
	if (s == NULL)
		return;
	if (config_setting_type(s) != CONFIG_TYPE_INT && config_setting_type(s) != CONFIG_TYPE_INT64) {
		cf_error(cx, s, "%s: expected an integer", key);
		return;
	}
	/* An int literal that would not fit was refused before parsing
	 * (config_ints.c), so the int64 value is the one written. */
	long long v = config_setting_get_int64(s);
	if (v < (long long)min || v > (long long)max) {
		cf_error(cx, s, "%s: %lld is out of range %u..%u", key, v, min, max);
		return;
	}
	*out = (unsigned)v;
}

/* A string with a unit, parsed by parse(); bounds in the parsed unit. */
void cf_get_unit(struct cfctx *cx, const config_setting_t *g, const char *key,
		     long long (*parse)(const char *), long long min, long long max, uint64_t *out)
{
	const config_setting_t *s = config_setting_get_member(g, key);
	if (s == NULL)
		return;
	const char *v = config_setting_get_string(s);
	long long n = v ? parse(v) : -1;
	if (n < 0) {
		cf_error(cx, s, "%s: expected a string such as %s", key,
			 parse == config_parse_duration ? "\"30s\", \"5m\", \"1h\"" : "\"512K\", \"25M\"");
		return;
	}
	if (n < min || n > max) {
		cf_error(cx, s, "%s: \"%s\" is out of range", key, v);
		return;
	}
	*out = (uint64_t)n;
}

void cf_get_duration(struct cfctx *cx, const config_setting_t *g, const char *key, unsigned *out)
{
	uint64_t v = *out;
	cf_get_unit(cx, g, key, config_parse_duration, 1, 7 * 86400, &v);
	*out = (unsigned)v;
}

int cf_get_enum(struct cfctx *cx, const config_setting_t *g, const char *key,
		const struct name_code *names, int def)
{
	const config_setting_t *s = config_setting_get_member(g, key);
	if (s == NULL)
		return def;
	const char *v = config_setting_get_string(s);
	for (int i = 0; v && names[i].name; i++)
		if (strcmp(v, names[i].name) == 0)
			return names[i].code;
	char allowed[256] = "";
	for (int i = 0; names[i].name; i++) {
		strncat(allowed, i ? ", \"" : "\"", sizeof(allowed) - strlen(allowed) - 1);
		strncat(allowed, names[i].name, sizeof(allowed) - strlen(allowed) - 1);
		strncat(allowed, "\"", sizeof(allowed) - strlen(allowed) - 1);
	}
	cf_error(cx, s, "%s: expected one of %s", key, allowed);
	return def;
}

static int resolver_valid(const char *r)
{
	if (strcmp(r, "system") == 0)
		return 1;
	const char *at = strchr(r, '@');
	struct netmask m;
	char ip[64];
	if (at == NULL || (size_t)(at - r) >= sizeof(ip))
		return 0;
	memcpy(ip, r, (size_t)(at - r));
	ip[at - r] = '\0';
	size_t digits = strlen(at + 1);   /* at most 5: atoi() of more may wrap into range */
	int port = digits >= 1 && digits <= 5 ? atoi(at + 1) : 0;
	return netmask_parse(ip, &m) == 0 && strchr(ip, '/') == NULL && port > 0 && port < 65536 &&
	       strspn(at + 1, "0123456789") == digits;
}

char **cf_get_string_list(struct cfctx *cx, const config_setting_t *g, const char *key, size_t *n)
{
	const config_setting_t *l = config_setting_get_member(g, key);
	*n = 0;
	if (l == NULL)
		return NULL;
	if (!config_setting_is_array(l) && !config_setting_is_list(l)) {
		cf_error(cx, l, "%s: expected a list of strings [ \"...\" ]", key);
		return NULL;
	}
	int len = config_setting_length(l);
	char **v = xcalloc((size_t)len + 1, sizeof(char *));
	for (int i = 0; i < len; i++) {
		const char *e = config_setting_get_string_elem(l, i);
		if (e == NULL || *e == '\0') {
			cf_error(cx, l, "%s: expected non-empty strings", key);
			break;
		}
		v[(*n)++] = xstrdup(e);
	}
	return v;
}

/* A list of strings, or one string as a list of one; NULL (and *n 0) when
 * absent, and an error when empty. */
const config_setting_t *cf_get_list(struct cfctx *cx, const config_setting_t *g, const char *key,
					size_t *n)
{
	const config_setting_t *l = config_setting_get_member(g, key);
	*n = 0;
	if (l == NULL)
		return NULL;
	if (config_setting_type(l) == CONFIG_TYPE_STRING)
		*n = 1;
	else if (config_setting_is_array(l) || config_setting_is_list(l))
		*n = (size_t)config_setting_length(l);
	else
		cf_error(cx, l, "%s: expected a string or a list of strings [ \"...\" ]", key);
	if (!cx->failed && *n == 0)
		cf_error(cx, l, "%s: an empty list matches nothing; leave the key out to match anything", key);
	return l;
}

const char *cf_list_elem(const config_setting_t *l, size_t i)
{
	if (config_setting_type(l) == CONFIG_TYPE_STRING)
		return config_setting_get_string(l);
	return config_setting_get_string_elem(l, (int)i);
}

/* Each module's part of the file, in the order they are loaded (the first
 * error is the one reported, so the order is part of the behaviour). */
static const struct config_section *const sections[] = {
	&listener_config_section,     /* listen, client_networks, tls, inbound */
	&route_config_section,        /* routes, rules */
	&delivery_config_section,     /* retry, delivery, health */
	&dkim_config_section,         /* dkim, canary */
	&limits_config_section,       /* limits */
	&http_config_section,         /* http */
	&webhook_config_section,      /* webhooks */
	&feedback_config_section,     /* bounces, suppression */
	&tenant_config_section,       /* tenants */
	&scan_config_section,         /* scanner */
	&monitor_config_section,      /* monitor */
	&dmarc_config_section,        /* dmarc */
	&placement_config_section,    /* placement */
};
#define NSECTIONS (sizeof(sections) / sizeof(sections[0]))

static const char *const known_root_keys[] = { "hostname", "spool", "socket", "resolver", "spool_max_size",
	"users", "user", "allow_root", "maildrop", "admin_address", NULL };

static int str_differs(const char *a, const char *b)
{
	return (a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0);
}

const char *config_reload_blocker(const struct config *old, const struct config *new)
{
	if (str_differs(old->spool, new->spool) || old->spool_max_size != new->spool_max_size)
		return "spool";
	if (str_differs(old->socket, new->socket))
		return "socket";
	if (str_differs(old->maildrop, new->maildrop))
		return "maildrop";
	if (str_differs(old->resolver, new->resolver))
		return "resolver";
	if (str_differs(old->tls_cert, new->tls_cert) || str_differs(old->tls_key, new->tls_key))
		return "tls";
	if (str_differs(old->hostname, new->hostname))
		return "hostname";
	if (str_differs(old->user, new->user) || old->allow_root != new->allow_root)
		return "user";
	if ((old->nroutes == 0) != (new->nroutes == 0))
		return "routes (turning delivery on or off)";
	for (size_t i = 0; i < NSECTIONS; i++) {
		const char *what = sections[i]->reload_blocker ? sections[i]->reload_blocker(old, new) : NULL;
		if (what)
			return what;
	}
	return NULL;
}

static int key_in(const char *name, const char *const *keys)
{
	for (size_t k = 0; keys[k]; k++)
		if (strcmp(name, keys[k]) == 0)
			return 1;
	return 0;
}

/* Fails (naming each) on top-level settings no section reads. */
static int check_root_keys(struct cfctx *cx, const config_setting_t *root)
{
	int n = config_setting_length(root), bad = 0;
	for (int i = 0; i < n; i++) {
		const config_setting_t *m = config_setting_get_elem(root, (unsigned)i);
		const char *name = config_setting_name(m);
		int known = name && key_in(name, known_root_keys);
		for (size_t k = 0; name && !known && k < NSECTIONS; k++)
			known = key_in(name, sections[k]->keys);
		if (!known)
			bad = cf_error(cx, m, "unknown setting \"%s\"", name ? name : "?");
	}
	return bad;
}

/* What local submission (`outpost sendmail`) needs, and nothing that
 * names a secret: it is all sendmail reads (config_load_submit()). */
static void load_submit_settings(struct cfctx *cx, struct config *cf, const config_setting_t *root)
{
	char host[256] = "localhost";
	if (gethostname(host, sizeof(host) - 1) < 0)
		strcpy(host, "localhost");
	cf->hostname = cf_get_string(cx, root, "hostname", host);
	cf->spool = cf_get_path(cx, root, "spool", "./spool");
	cf->socket = cf_get_path(cx, root, "socket", NULL);
	if (cf->socket == NULL && cf->spool)
		cf->socket = xasprintf("%s/outpost.sock", cf->spool);
	cf->maildrop = cf_get_path(cx, root, "maildrop", NULL);
	if (cf->maildrop == NULL && cf->spool)
		cf->maildrop = xasprintf("%s/maildrop", cf->spool);
	cf->admin_address = cf_get_string(cx, root, "admin_address", NULL);
	if (cf->admin_address && (strchr(cf->admin_address, '@') == NULL ||
				  strpbrk(cf->admin_address, " <>\r\n") != NULL))
		cf_error(cx, config_setting_get_member(root, "admin_address"),
			 "admin_address: expected an address such as \"ops@example.com\", got \"%s\"",
			 cf->admin_address);
}

/* sendmail's part of the file: the settings above and the size cap. */
static void load_submit_only(struct cfctx *cx, struct config *cf, const config_setting_t *root)
{
	load_submit_settings(cx, cf, root);
	const config_setting_t *in = config_setting_get_member(root, "inbound");
	if (in && config_setting_is_group(in))
		cf_get_unit(cx, in, "max_message_size", config_parse_size, 1024, 1LL << 30,
			    &cf->inbound.max_message_size);
}

static void load_root(struct cfctx *cx, struct config *cf, const config_setting_t *root)
{
	check_root_keys(cx, root);   /* and go on: check-config reports every error */
	load_submit_settings(cx, cf, root);
	cf->resolver = cf_get_string(cx, root, "resolver", "system");
	cf->users = cf_get_path(cx, root, "users", NULL);
	cf->user = cf_get_string(cx, root, "user", "outpost");
	const config_setting_t *ar = config_setting_get_member(root, "allow_root");
	if (ar && config_setting_type(ar) != CONFIG_TYPE_BOOL)
		cf_error(cx, ar, "allow_root: expected true or false");
	cf->allow_root = ar && config_setting_get_bool(ar);
	cf_get_unit(cx, root, "spool_max_size", config_parse_size, 1024 * 1024, 1LL << 50, &cf->spool_max_size);
	if (cf->resolver && !resolver_valid(cf->resolver))
		cf_error(cx, config_setting_get_member(root, "resolver"),
			 "resolver: expected \"system\" or \"IP@PORT\", got \"%s\"", cf->resolver);
	for (size_t i = 0; i < NSECTIONS; i++)
		if (sections[i]->load)
			sections[i]->load(cx, cf, root);
	for (size_t i = 0; i < NSECTIONS; i++)
		if (sections[i]->check)
			sections[i]->check(cx, cf, root);
}

/* The absolute directory of the config file (relative paths in it start there). */
static char *config_dir(const char *file)
{
	char *copy = xstrdup(file), *slash = strrchr(copy, '/');
	char *dir, *abs;
	if (slash == NULL)
		dir = xstrdup(".");
	else if (slash == copy)
		dir = xstrdup("/");
	else {
		*slash = '\0';
		dir = xstrdup(copy);
	}
	free(copy);
	if ((abs = realpath(dir, NULL)) == NULL)
		return dir;
	free(dir);
	return abs;
}

/* Builds the config from a parsed libconfig tree, or reports its syntax
 * error; is_file: name is the file read, whose directory relative paths
 * start from. */
static struct config *config_from(config_t *lc, int read_ok, int is_file, int submit_only, const char *name,
				  char *err, size_t errlen)
{
	struct cfctx cx = { name, err, errlen, 0, NULL };
	if (!read_ok) {
		if (config_error_type(lc) == CONFIG_ERR_FILE_IO)
			snprintf(err, errlen, "%s: cannot read: %s", name, strerror(errno));
		else
			snprintf(err, errlen, "%s:%d: %s", name, config_error_line(lc), config_error_text(lc));
		config_destroy(lc);
		return NULL;
	}
	struct config *cf = xcalloc(1, sizeof(*cf));
	atomic_init(&cf->refs, 1);
	cf->file = xstrdup(name);
	for (size_t i = 0; i < NSECTIONS; i++)
		if (sections[i]->defaults)
			sections[i]->defaults(cf);
	cx.dir = is_file ? config_dir(name) : NULL;
	if (submit_only)
		load_submit_only(&cx, cf, config_root_setting(lc));
	else
		load_root(&cx, cf, config_root_setting(lc));
	free(cx.dir);
	config_destroy(lc);
	if (cx.failed) {
		config_free(cf);
		return NULL;
	}
	return cf;
}

/* Refuses an integer literal libconfig would wrap, in file and what it
 * includes; an unreadable file is left for libconfig to report. */
static int file_ints_ok(const char *file, char *err, size_t errlen)
{
	FILE *f = fopen(file, "r");
	if (f == NULL)
		return 1;
	char *text = NULL;
	size_t cap = 0;
	ssize_t len = getdelim(&text, &cap, '\0', f);
	fclose(f);
	int ok = len < 0 || config_check_int_literals(text, file, 1, err, errlen) == 0;
	free(text);
	return ok;
}

struct config *config_load(const char *file, char *err, size_t errlen)
{
	config_t lc;
	if (!file_ints_ok(file, err, errlen))
		return NULL;
	config_init(&lc);
	return config_from(&lc, config_read_file(&lc, file) == CONFIG_TRUE, 1, 0, file, err, errlen);
}

struct config *config_load_submit(const char *file, char *err, size_t errlen)
{
	config_t lc;
	config_init(&lc);
	return config_from(&lc, config_read_file(&lc, file) == CONFIG_TRUE, 1, 1, file, err, errlen);
}

struct config *config_parse(const char *text, const char *name, char *err, size_t errlen)
{
	config_t lc;
	if (strstr(text, "@include") != NULL) {
		/* it would read files the text names */
		snprintf(err, errlen, "%s: @include is not allowed here", name);
		return NULL;
	}
	if (config_check_int_literals(text, name, 0, err, errlen) < 0)
		return NULL;
	config_init(&lc);
	return config_from(&lc, config_read_string(&lc, text) == CONFIG_TRUE, 0, 0, name, err, errlen);
}

const struct config *config_ref(const struct config *cf)
{
	/* the count is the one field that changes after load; configs are
	 * always made by config_from(), never const objects */
	atomic_fetch_add(&((struct config *)cf)->refs, 1);
	return cf;
}

void config_free(const struct config *ccf)
{
	struct config *cf = (struct config *)ccf;
	if (cf == NULL || atomic_fetch_sub(&cf->refs, 1) > 1)
		return;
	for (size_t i = 0; i < NSECTIONS; i++)
		if (sections[i]->release)
			sections[i]->release(cf);
	free(cf->file);
	free(cf->hostname);
	free(cf->spool);
	free(cf->socket);
	free(cf->resolver);
	free(cf->users);
	free(cf->user);
	free(cf->maildrop);
	free(cf->admin_address);
	free(cf);
}
