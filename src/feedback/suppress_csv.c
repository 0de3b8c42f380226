/*
 * suppress_csv: the suppression list as CSV (RFC 4180: fields quoted when
 * they hold a comma, quote or line break; "" inside quotes), for moving
 * from or to an ESP.  Contract in suppress.h.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "feedback/suppress.h"

enum col { C_ADDRESS, C_SCOPE, C_REASON, C_SOURCE, C_STATUS, C_FIRST, C_LAST, C_COUNT, C_EXPIRES, C_N };

static const struct {
	const char *name;
	enum col col;
} col_names[] = {
	{ "address", C_ADDRESS }, { "email", C_ADDRESS }, { "email_address", C_ADDRESS },
	{ "scope", C_SCOPE }, { "reason", C_REASON }, { "source", C_SOURCE }, { "status", C_STATUS },
	{ "first_event", C_FIRST }, { "created", C_FIRST }, { "created_at", C_FIRST },
	{ "last_event", C_LAST }, { "count", C_COUNT }, { "expires", C_EXPIRES },
};

/* Splits one CSV record (a line; quoted fields may not span lines here)
 * into at most max fields, in place; returns the count or -1. */
static int split(char *line, char **f, int max)
{
	int n = 0;
	char *p = line;
	for (;;) {
		if (n == max)
			return -1;
		char *out = p;
		f[n++] = out;
		if (*p == '"') {
			p++;
			for (;;) {
				if (*p == '\0')
					return -1;
				if (*p == '"' && p[1] == '"') {
					*out++ = '"';
					p += 2;
				} else if (*p == '"') {
					p++;
					break;
				} else {
					*out++ = *p++;
				}
			}
			if (*p != ',' && *p != '\0')
				return -1;
		} else {
			while (*p && *p != ',')
				*out++ = *p++;
		}
		int more = *p == ',';
		*out = '\0';
		if (!more)
			return n;
		p++;
	}
}

/* "2026-11-28", "2026-11-28T10:00:00Z" or seconds; -1 when neither. */
static long long parse_time(const char *s)
{
	if (*s == '\0')
		return 0;
	char *end;
	long long v = strtoll(s, &end, 10);
	if (*end == '\0' && v >= 0)
		return v;
	struct tm tm = { 0 };
	const char *rest = strptime(s, "%Y-%m-%d", &tm);
	if (rest && (*rest == 'T' || *rest == ' '))
		rest = strptime(rest + 1, "%H:%M:%S", &tm);
	if (rest == NULL || (*rest != '\0' && strcmp(rest, "Z") != 0 && strcmp(rest, "+00:00") != 0))
		return -1;
	return (long long)timegm(&tm);
}

static int header_map(char **f, int n, int *map)
{
	int have_address = 0;
	for (int i = 0; i < n; i++) {
		map[i] = -1;
		for (size_t k = 0; k < sizeof(col_names) / sizeof(col_names[0]); k++)
			if (strcasecmp(f[i], col_names[k].name) == 0)
				map[i] = (int)col_names[k].col;
		have_address |= map[i] == C_ADDRESS;
	}
	return have_address;
}

static int fail(char *err, size_t errlen, unsigned line, const char *why)
{
	snprintf(err, errlen, "line %u: %s", line, why);
	return -1;
}

/* One data row into s; -1 with the reason. */
static int parse_row(char **f, int n, const int *map, time_t now, struct suppression *s, unsigned line,
		     char *err, size_t errlen)
{
	const char *v[C_N] = { 0 };
	for (int i = 0; i < n && i < 32; i++)
		if (map[i] >= 0 && map[i] < C_N)
			v[map[i]] = f[i];
	memset(s, 0, sizeof(*s));
	if (v[C_ADDRESS] == NULL || strchr(v[C_ADDRESS], '@') == NULL ||
	    strlen(v[C_ADDRESS]) >= sizeof(s->address))
		return fail(err, errlen, line, "no valid address");
	snprintf(s->address, sizeof(s->address), "%s", v[C_ADDRESS]);
	snprintf(s->scope, sizeof(s->scope), "%s", v[C_SCOPE] ? v[C_SCOPE] : "");
	if (s->scope[0] && strncmp(s->scope, "domain:", 7) != 0 && strncmp(s->scope, "user:", 5) != 0)
		return fail(err, errlen, line, "scope must be empty, domain:DOMAIN or user:NAME");
	snprintf(s->reason, sizeof(s->reason), "%s", v[C_REASON] && *v[C_REASON] ? v[C_REASON] : "imported");
	snprintf(s->source, sizeof(s->source), "%s",
		 v[C_SOURCE] && suppress_valid_source(v[C_SOURCE]) ? v[C_SOURCE] : "import");
	snprintf(s->status, sizeof(s->status), "%s", v[C_STATUS] ? v[C_STATUS] : "");
	long long first = v[C_FIRST] ? parse_time(v[C_FIRST]) : 0, last = v[C_LAST] ? parse_time(v[C_LAST]) : 0;
	long long expires = v[C_EXPIRES] ? parse_time(v[C_EXPIRES]) : 0;
	if (first < 0 || last < 0 || expires < 0)
		return fail(err, errlen, line, "a time is neither YYYY-MM-DD[THH:MM:SSZ] nor seconds");
	s->first = first ? (time_t)first : now;
	s->last = last ? (time_t)last : s->first;
	s->expires = (time_t)expires;
	s->count = v[C_COUNT] && atoi(v[C_COUNT]) > 0 ? (unsigned)atoi(v[C_COUNT]) : 1;
	return 0;
}

int suppress_import_csv(sqlite3 *db, FILE *in, time_t now, size_t *n, char *err, size_t errlen)
{
	char line[4096];
	char *f[32];
	int map[32], nf, have_header = 0;
	for (int i = 0; i < 32; i++)
		map[i] = -1;   /* fields past the header's are ignored */
	unsigned lineno = 0;
	*n = 0;
	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return fail(err, errlen, 0, sqlite3_errmsg(db));
	while (fgets(line, sizeof(line), in)) {
		lineno++;
		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '\0')
			continue;
		if ((nf = split(line, f, 32)) < 0) {
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
			return fail(err, errlen, lineno, "malformed CSV (quotes, or more than 32 fields)");
		}
		if (!have_header) {
			if (!header_map(f, nf, map)) {
				sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
				return fail(err, errlen, lineno, "the header line names no address (or email) column");
			}
			have_header = 1;
			continue;
		}
		struct suppression s;
		if (parse_row(f, nf, map, now, &s, lineno, err, errlen) < 0 || suppress_put(db, &s, err, errlen) < 0) {
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
			return -1;
		}
		(*n)++;
	}
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return fail(err, errlen, lineno, sqlite3_errmsg(db));
	}
	return 0;
}

static void csv_field(FILE *out, const char *v, int last)
{
	if (strpbrk(v, ",\"\r\n")) {
		fputc('"', out);
		for (; *v; v++) {
			if (*v == '"')
				fputc('"', out);
			fputc(*v == '\r' || *v == '\n' ? ' ' : *v, out);
		}
		fputc('"', out);
	} else {
		fputs(v, out);
	}
	fputc(last ? '\n' : ',', out);
}

static void iso(time_t t, char *out, size_t outlen)
{
	struct tm tm;
	out[0] = '\0';
	if (t && gmtime_r(&t, &tm))
		strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void export_row(void *arg, const struct suppression *s)
{
	FILE *out = arg;
	char first[32], last[32], expires[32], count[16];
	iso(s->first, first, sizeof(first));
	iso(s->last, last, sizeof(last));
	iso(s->expires, expires, sizeof(expires));
	snprintf(count, sizeof(count), "%u", s->count);
	const char *v[] = { s->address, s->scope, s->reason, s->source, s->status, first, last, count, expires };
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		csv_field(out, v[i], i + 1 == sizeof(v) / sizeof(v[0]));
}

int suppress_export_csv(sqlite3 *db, FILE *out, char *err, size_t errlen)
{
	fputs("address,scope,reason,source,status,first_event,last_event,count,expires\n", out);
	return suppress_each(db, export_row, out, err, errlen);
}
