/*
 * suppress_bench: the cost of the RCPT-time suppression check, and of
 * parsing bounces.
 *
 *     suppress_bench [-n ROWS] [-q LOOKUPS] [-c CORPUS_DIR] [-r ROUNDS] [-m 1]
 *
 * Makes a spool in a temporary directory (spool_open: the real schema),
 * fills the suppression list with ROWS addresses (default 1,000,000; a
 * tenth of them under a sender-domain scope, a tenth with an expiry),
 * then times LOOKUPS (default 200,000) suppress_check() calls through the
 * RCPT-time connection, half for listed addresses, half for unlisted
 * ones, each timed alone: p50, p99, p99.9 and max in microseconds.  Then
 * loads the list into the daemon's in-memory set (suppress_set.h): its
 * bytes per entry (as allocated, and the process's RSS growth), and the
 * same lookups through it, each answer compared with suppress_check()'s
 * (a mismatch exits 1), timed the same way.  -m 1: memory and answers
 * only, nothing timed (for a busy machine; run it under
 * `valgrind --tool=callgrind --toggle-collect=suppress_set_check` for
 * instructions per lookup).  With
 * -c, also parses every *.eml of the directory ROUNDS times (default 20)
 * with bounce_parse() on one thread: messages per second.  Prints one
 * key=value line per case.  Not a test: it asserts nothing about time.
 */
#include <dirent.h>
#include <event2/event.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "feedback/bounce.h"
#include "feedback/suppress.h"
#include "feedback/suppress_set.h"
#include "spool/spool.h"
#include "../tests/unit/tmpdir.h"

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void fill(const char *dir, long rows)
{
	char path[256];
	sqlite3 *db;
	sqlite3_stmt *st;
	snprintf(path, sizeof(path), "%s/queue.db", dir);
	if (sqlite3_open(path, &db) != SQLITE_OK)
		exit(1);
	sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
	sqlite3_prepare_v2(db, "INSERT INTO suppression (address, scope, reason, source, status, qid, first_event,"
			   " last_event, expires) VALUES (?1, ?2, 'userunknown', 'bounce', '5.1.1', ?4, 1795000000,"
			   " 1795000000, ?3)", -1, &st, NULL);
	for (long i = 0; i < rows; i++) {
		char addr[64], scope[64], qid[32];
		snprintf(qid, sizeof(qid), "Q%015ld", i);   /* a queue id's length */
		sqlite3_bind_text(st, 4, qid, -1, SQLITE_TRANSIENT);
		snprintf(addr, sizeof(addr), "user%ld@domain%ld.example", i, i % 5000);
		snprintf(scope, sizeof(scope), "%s", i % 10 == 1 ? "domain:shop.example.com" : "");
		sqlite3_bind_text(st, 1, addr, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 2, scope, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 3, i % 10 == 2 ? 2000000000 : 0);
		sqlite3_step(st);
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	sqlite3_close(db);
}

static void lookup_addr(char *addr, size_t len, long i, long rows)
{
	long k = ((long)rand() * RAND_MAX + rand()) % rows;
	snprintf(addr, len, i % 2 ? "user%ld@domain%ld.example" : "nobody%ld@domain%ld.example", k, k % 5000);
}

static long rss_bytes(void)
{
	long pages = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (f == NULL || fscanf(f, "%ld %ld", &pages, &resident) != 2)
		resident = 0;
	if (f)
		fclose(f);
	return resident * 4096;
}

/* The in-memory set: its size, and the same lookups (answers checked
 * against the spool's; timed unless count_only). */
static void set_case(const char *dir, long rows, long q, int count_only)
{
	char err[256], path[256];
	sqlite3 *db;
	snprintf(path, sizeof(path), "%s/queue.db", dir);
	struct suppress_check *c = suppress_check_open(dir, err, sizeof(err));
	if (c == NULL || sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		exit(1);
	long rss0 = rss_bytes();
	struct suppress_set *set = suppress_set_new();
	long n = suppress_set_load(set, db, 1795000000, err, sizeof(err));
	sqlite3_close(db);   /* its page cache goes: RSS growth is the set's */
	long rss1 = rss_bytes();
	struct suppress_set_stats st;
	suppress_set_stats(set, &st);
	printf("case=set_load rows=%ld entries=%ld bytes=%zu bytes_per_entry=%.1f rss_growth_per_entry=%.1f\n", rows, n,
	       st.bytes, (double)st.bytes / (double)n, (double)(rss1 - rss0) / (double)n);
	double *t = malloc(sizeof(double) * (size_t)q);
	long hits = 0;
	srand(42);
	for (long i = 0; i < q; i++) {
		char addr[64];
		struct suppression a, b;
		lookup_addr(addr, sizeof(addr), i, rows);
		double at = count_only ? 0 : now_us();
		int got = suppress_set_check(set, addr, "app.example.com", NULL, 1795000000, &b);
		t[i] = count_only ? 0 : now_us() - at;
		if (got != suppress_check(c, addr, "app.example.com", NULL, 1795000000, &a) ||
		    (got && strcmp(a.scope, b.scope) != 0)) {
			fprintf(stderr, "set and spool disagree on %s\n", addr);
			exit(1);
		}
		hits += got;
	}
	qsort(t, (size_t)q, sizeof(double), cmp_double);
	if (count_only)
		printf("case=set_check lookups=%ld hits=%ld answers=same_as_spool\n", q, hits);
	else
		printf("case=set_check lookups=%ld hits=%ld answers=same_as_spool p50_ns=%.0f p99_ns=%.0f max_ns=%.0f\n", q,
		       hits, t[q / 2] * 1e3, t[q * 99 / 100] * 1e3, t[q - 1] * 1e3);
	free(t);
	suppress_set_free(set);
	suppress_check_close(c);
}

static void lookups(const char *dir, long rows, long q)
{
	char err[256];
	struct suppress_check *c = suppress_check_open(dir, err, sizeof(err));
	if (c == NULL) {
		fprintf(stderr, "%s\n", err);
		exit(1);
	}
	double *t = malloc(sizeof(double) * (size_t)q);
	long hits = 0;
	srand(42);
	for (long i = 0; i < q; i++) {
		char addr[64];
		lookup_addr(addr, sizeof(addr), i, rows);
		struct suppression hit;
		double a = now_us();
		hits += suppress_check(c, addr, "app.example.com", NULL, 1795000000, &hit) == 1;
		t[i] = now_us() - a;
	}
	qsort(t, (size_t)q, sizeof(double), cmp_double);
	printf("case=rcpt_check rows=%ld lookups=%ld hits=%ld p50_us=%.2f p99_us=%.2f p999_us=%.2f max_us=%.2f\n", rows,
	       q, hits, t[q / 2], t[q * 99 / 100], t[q * 999 / 1000], t[q - 1]);
	free(t);
	suppress_check_close(c);
}

static void parse_corpus(const char *dir, int rounds)
{
	DIR *d = opendir(dir);
	struct buf *msgs = NULL;
	size_t n = 0;
	struct dirent *e;
	while (d && (e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name);
		char path[1024];
		if (l < 5 || strcmp(e->d_name + l - 4, ".eml") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		FILE *f = fopen(path, "rb");
		if (f == NULL)
			continue;
		msgs = realloc(msgs, (n + 1) * sizeof(*msgs));
		buf_init(&msgs[n]);
		char chunk[65536];
		size_t got;
		while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0)
			buf_append(&msgs[n], chunk, got);
		fclose(f);
		n++;
	}
	if (d)
		closedir(d);
	size_t recipients = 0;
	double a = now_us();
	for (int r = 0; r < rounds; r++)
		for (size_t i = 0; i < n; i++) {
			struct bounce_report rep;
			bounce_parse(msgs[i].data, msgs[i].len, &rep);
			recipients += rep.nrcpt;
			bounce_report_free(&rep);
		}
	double secs = (now_us() - a) / 1e6;
	printf("case=parse messages=%zu rounds=%d recipients=%zu seconds=%.2f messages_per_second=%.0f\n", n, rounds,
	       recipients, secs, secs > 0 ? n * rounds / secs : 0);
	for (size_t i = 0; i < n; i++)
		buf_free(&msgs[i]);
	free(msgs);
}

int main(int argc, char **argv)
{
	long rows = 1000000, q = 200000;
	int rounds = 20, count_only = 0;
	const char *corpus = NULL;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "-n") == 0)
			rows = atol(argv[i + 1]);
		else if (strcmp(argv[i], "-q") == 0)
			q = atol(argv[i + 1]);
		else if (strcmp(argv[i], "-c") == 0)
			corpus = argv[i + 1];
		else if (strcmp(argv[i], "-r") == 0)
			rounds = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "-m") == 0)
			count_only = atoi(argv[i + 1]);
	}
	if (rows < 1 || q < 1 || rounds < 1) {
		fprintf(stderr, "usage: suppress_bench [-n ROWS] [-q LOOKUPS] [-c CORPUS_DIR] [-r ROUNDS] [-m 1]\n");
		return 2;
	}
	char dir[64], err[256];
	if (tmpdir_make(dir, sizeof(dir), "suppress-bench") < 0)
		return 1;
	struct event_base *base = event_base_new();
	struct spool *sp = spool_open(dir, 0, base, err, sizeof(err));
	if (sp == NULL) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	spool_close(sp);
	event_base_free(base);
	double a = now_us();
	fill(dir, rows);
	if (!count_only) {
		printf("case=fill rows=%ld seconds=%.1f\n", rows, (now_us() - a) / 1e6);
		lookups(dir, rows, q);
	}
	set_case(dir, rows, q, count_only);
	if (corpus && !count_only)
		parse_corpus(corpus, rounds);
	tmpdir_remove(dir);
	return 0;
}
