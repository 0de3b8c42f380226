/*
 * suppress: the suppression list in the spool (feedback/suppress.h).
 *     outpost suppress list [--json]
 *     outpost suppress show ADDR [--scope S] [--json]
 *     outpost suppress add ADDR [--reason R] [--scope S] [--expires DURATION]
 *     outpost suppress remove ADDR [--scope S]
 *     outpost suppress import FILE|-        CSV (from an ESP, or an export)
 *     outpost suppress export [FILE]        CSV (standard output by default)
 * Scopes: "" (global, the default), domain:SENDERDOMAIN, user:TENANT.
 * Exit status: 0 done, 1 not on the list (show, remove), 2 usage or error.
 * add, remove and import tell a running outpostd before they return (its
 * checks read a copy in memory), so its next check sees the change.
 * The spool must have been opened once by outpostd (which creates and
 * upgrades it).
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/daemon_client.h"
#include "core/buf.h"
#include "core/config.h"
#include "feedback/suppress.h"
#include "feedback/suppress_api.h"
#include "obs/obs_api.h"
#include "spool/spool.h"

struct opts {
	const char *addr, *scope, *reason, *expires, *file;
	int json;
};

static int usage(void)
{
	fprintf(stderr, "usage: outpost suppress list [--json] | show ADDR [--scope S] [--json] |\n"
			"       add ADDR [--reason R] [--scope S] [--expires DURATION] | remove ADDR [--scope S] |\n"
			"       import FILE | export [FILE]\n");
	return 2;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	memset(o, 0, sizeof(*o));
	o->scope = "";
	for (int i = 2; i < argc; i++) {
		const char **slot = strcmp(argv[i], "--scope") == 0 ? &o->scope :
				    strcmp(argv[i], "--reason") == 0 ? &o->reason :
				    strcmp(argv[i], "--expires") == 0 ? &o->expires : NULL;
		if (slot) {
			if (++i >= argc)
				return -1;
			*slot = argv[i];
		} else if (strcmp(argv[i], "--json") == 0) {
			o->json = 1;
		} else if (o->addr == NULL) {
			o->addr = o->file = argv[i];
		} else {
			return -1;
		}
	}
	return 0;
}

sqlite3 *cli_spool_db(const char *config_file, struct config **cfp)
{
	char err[4096], path[4096];
	struct config *cf = config_load(config_file, err, sizeof(err));
	if (cf == NULL) {
		fprintf(stderr, "outpost: %s\n", err);
		return NULL;
	}
	int n = snprintf(path, sizeof(path), "%s/queue.db", cf->spool);
	if (cfp)
		*cfp = cf;
	else
		config_free(cf);
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int v = -1;
	if (n > 0 && (size_t)n < sizeof(path) && sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (v < 5) {
		fprintf(stderr, "outpost: %s: %s\n", path,
			v < 0 ? (db ? sqlite3_errmsg(db) : "cannot open") :
			"no suppression list in this spool yet (start outpostd once: it creates and upgrades the spool)");
		sqlite3_close(db);
		if (cfp) {
			config_free(*cfp);
			*cfp = NULL;
		}
		return NULL;
	}
	sqlite3_busy_timeout(db, 5000);
	return db;
}

static void day(time_t t, char *out, size_t outlen)
{
	struct tm tm;
	snprintf(out, outlen, "%s", "never");
	if (t && gmtime_r(&t, &tm))
		strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static json_t *entry_json(const struct suppression *s)
{
	char first[32], last[32], exp[32];
	day(s->first, first, sizeof(first));
	day(s->last, last, sizeof(last));
	day(s->expires, exp, sizeof(exp));
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:s?}", "address", s->address,
			 "scope", s->scope[0] ? s->scope : "global", "reason", s->reason, "source", s->source,
			 "status", s->status, "qid", s->qid, "diagnostic", s->diagnostic, "first_event", first,
			 "last_event", last, "count", (json_int_t)s->count, "expires", s->expires ? exp : NULL);
}

static void print_entry(void *arg, const struct suppression *s)
{
	char first[32], exp[32];
	day(s->first, first, sizeof(first));
	day(s->expires, exp, sizeof(exp));
	if (arg) {
		json_array_append_new(arg, entry_json(s));
		return;
	}
	printf("%s\t%s\t%s\t%s\t%s\tsince %s\tcount %u\texpires %s\n", s->address, s->scope[0] ? s->scope : "global",
	       s->reason, s->source, s->status[0] ? s->status : "-", first, s->count, exp);
}

static int do_list(sqlite3 *db, const struct opts *o)
{
	char err[512];
	json_t *arr = o->json ? json_array() : NULL;
	int rc = suppress_each(db, print_entry, arr, err, sizeof(err));
	if (arr) {
		char *s = json_dumps(arr, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		puts(s);
		free(s);
		json_decref(arr);
	}
	if (rc < 0)
		fprintf(stderr, "outpost: suppress: %s\n", err);
	return rc < 0 ? 2 : 0;
}

static int do_show(sqlite3 *db, const struct opts *o)
{
	char err[512];
	struct suppression s;
	int rc = suppress_get(db, o->addr, o->scope, time(NULL), &s, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "outpost: suppress: %s\n", err);
		return 2;
	}
	if (rc == 0) {
		if (o->json)
			puts("null");
		else
			printf("%s is not suppressed%s%s\n", o->addr, o->scope[0] ? " in scope " : "", o->scope);
		return 1;
	}
	if (o->json) {
		json_t *j = entry_json(&s);
		char *t = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		puts(t);
		free(t);
		json_decref(j);
	} else {
		char reply[1024];
		suppress_reply(&s, s.address, reply, sizeof(reply));
		print_entry(NULL, &s);
		printf("qid: %s\ndiagnostic: %s\nRCPT reply: %s\n", s.qid[0] ? s.qid : "-", s.diagnostic, reply);
	}
	return 0;
}

/* Percent-encodes all but unreserved characters (RFC 3986) for a query. */
static void url_encode(struct buf *b, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		    strchr("-._~", *p))
			buf_putc(b, (char)*p);
		else
			buf_printf(b, "%%%02X", *p);
	}
}

/* No answer on the control socket: 1 when no daemon listens there (no
 * socket, or a stale one: ECONNREFUSED), 0 when one does but did not
 * answer (or the socket is not ours to use: EACCES), errno kept in *why. */
static int daemon_absent(const struct config *cf, int *why)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int n = snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/%s", cf->spool, OBS_CONTROL_SOCKET);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	*why = 0;
	if (n < 0 || (size_t)n >= sizeof(sun.sun_path) || fd < 0) {
		*why = fd < 0 ? errno : ENAMETOOLONG;
		if (fd >= 0)
			close(fd);
		return 0;
	}
	int rc = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
	*why = rc < 0 ? errno : 0;
	close(fd);
	return rc < 0 && (*why == ENOENT || *why == ECONNREFUSED);
}

int cli_suppress_tell_daemon(const struct config *cf, const char *address, const char *scope)
{
	struct buf path = BUF_INIT, body = BUF_INIT;
	int status = 0;
	buf_puts(&path, SUPPRESS_API_PATH);
	if (address) {
		buf_puts(&path, "refresh?address=");
		url_encode(&path, address);
		buf_puts(&path, "&scope=");
		url_encode(&path, scope ? scope : "");
	} else {
		buf_puts(&path, "reload");
	}
	buf_putc(&path, '\0');
	int rc = daemon_get(cf, path.data, &body, &status), why = 0;
	buf_putc(&body, '\0');
	if (rc == 0 && status != 200)
		fprintf(stderr, "outpost: suppress: written to the spool, but the running outpostd did not take it "
				"(HTTP %d: %s); it will at its next start or SIGHUP\n", status, body.data);
	else if (rc < 0 && daemon_absent(cf, &why)) {
		rc = 0;   /* nobody runs: the next start loads the list */
		status = 200;
	} else if (rc < 0) {
		fprintf(stderr, "outpost: suppress: written to the spool, but outpostd did not answer on %s/%s (%s); "
				"it takes the change at its next start or SIGHUP\n", cf->spool, OBS_CONTROL_SOCKET,
			why ? strerror(why) : "no answer");
	}
	buf_free(&path);
	buf_free(&body);
	return rc == 0 && status == 200 ? 0 : -1;
}

static int do_add(sqlite3 *db, const struct opts *o)
{
	char err[512];
	struct suppression s = { 0 };
	time_t now = time(NULL);
	long long exp = o->expires ? config_parse_duration(o->expires) : 0;
	if (strchr(o->addr, '@') == NULL || exp < 0 || strlen(o->addr) >= sizeof(s.address) ||
	    (o->scope[0] && strncmp(o->scope, "domain:", 7) != 0 && strncmp(o->scope, "user:", 5) != 0)) {
		fprintf(stderr, "outpost: suppress: add needs local@domain, a scope of domain:D or user:U, "
				"and an --expires like 30d\n");
		return 2;
	}
	snprintf(s.address, sizeof(s.address), "%s", o->addr);
	snprintf(s.scope, sizeof(s.scope), "%s", o->scope);
	snprintf(s.reason, sizeof(s.reason), "%s", o->reason ? o->reason : "manual");
	snprintf(s.source, sizeof(s.source), "%s", "manual");
	s.first = s.last = now;
	s.expires = exp ? now + (time_t)exp : 0;
	if (suppress_put(db, &s, err, sizeof(err)) < 0) {
		fprintf(stderr, "outpost: suppress: %s\n", err);
		return 2;
	}
	return 0;
}

static int do_remove(sqlite3 *db, const struct opts *o)
{
	char err[512];
	int rc = suppress_remove(db, o->addr, o->scope, err, sizeof(err));
	if (rc >= 0 && suppress_soft_clear(db, o->addr, err, sizeof(err)) < 0)
		rc = -1;
	if (rc < 0)
		fprintf(stderr, "outpost: suppress: %s\n", err);
	else if (rc == 0)
		fprintf(stderr, "outpost: suppress: %s is not on the list\n", o->addr);
	return rc < 0 ? 2 : rc == 0 ? 1 : 0;
}

static int do_import(sqlite3 *db, const struct opts *o)
{
	char err[512];
	size_t n = 0;
	FILE *in = strcmp(o->file, "-") == 0 ? stdin : fopen(o->file, "r");
	if (in == NULL) {
		perror(o->file);
		return 2;
	}
	int rc = suppress_import_csv(db, in, time(NULL), &n, err, sizeof(err));
	if (in != stdin)
		fclose(in);
	if (rc < 0) {
		fprintf(stderr, "outpost: suppress: %s: %s (nothing imported)\n", o->file, err);
		return 2;
	}
	printf("imported %zu\n", n);
	return 0;
}

static int do_export(sqlite3 *db, const struct opts *o)
{
	char err[512];
	FILE *out = o->file ? fopen(o->file, "w") : stdout;
	if (out == NULL) {
		perror(o->file);
		return 2;
	}
	int rc = suppress_export_csv(db, out, err, sizeof(err));
	if ((out != stdout && fclose(out) != 0) || (out == stdout && fflush(out) != 0))
		rc = -1;
	if (rc < 0)
		fprintf(stderr, "outpost: suppress: export: %s\n", err);
	return rc < 0 ? 2 : 0;
}

int cmd_suppress(int argc, char **argv, const char *config_file)
{
	struct opts o;
	if (argc < 2 || parse_opts(argc, argv, &o) < 0)
		return usage();
	const char *sub = argv[1];
	int needs_addr = strcmp(sub, "show") == 0 || strcmp(sub, "add") == 0 || strcmp(sub, "remove") == 0 ||
			 strcmp(sub, "import") == 0;
	int known = needs_addr || strcmp(sub, "list") == 0 || strcmp(sub, "export") == 0;
	if (!known || (needs_addr && o.addr == NULL))
		return usage();
	struct config *cf = NULL;
	sqlite3 *db = cli_spool_db(config_file, &cf);
	if (db == NULL)
		return 2;
	int rc = strcmp(sub, "list") == 0 ? do_list(db, &o) : strcmp(sub, "show") == 0 ? do_show(db, &o) :
		 strcmp(sub, "add") == 0 ? do_add(db, &o) : strcmp(sub, "remove") == 0 ? do_remove(db, &o) :
		 strcmp(sub, "import") == 0 ? do_import(db, &o) : do_export(db, &o);
	sqlite3_close(db);
	/* written: a running daemon's copy follows before we return (a remove
	 * of what was not listed is told too: the copy may lag a stopped CLI) */
	int wrote = strcmp(sub, "add") == 0 || strcmp(sub, "remove") == 0 || strcmp(sub, "import") == 0;
	if (wrote && rc != 2 &&
	    cli_suppress_tell_daemon(cf, strcmp(sub, "import") == 0 ? NULL : o.addr, o.scope) < 0)
		rc = 2;
	config_free(cf);
	return rc;
}
