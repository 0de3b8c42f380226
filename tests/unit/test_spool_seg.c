/*
 * test_spool_seg: large bodies in segment files (spool_seg.h) through the
 * real storage thread: a large body goes to DIR/bodies and comes back byte
 * for byte (before and after a reopen, which starts a new segment), a small
 * one stays inline; a sealed segment goes once its messages are delivered;
 * an unreferenced segment is removed at open; a corrupt or missing segment
 * keeps its message (not claimed, put off) and `spool check` reports it;
 * a version 8 spool with an inline large body upgrades and still delivers
 * it; spool_max_size counts the segments.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "tmpdir.h"

#include <event2/event.h>
#include <event2/thread.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "spool/spool.h"
#include "spool/spool_admin.h"
#include "spool/spool_queue.h"
#include "spool/spool_recover.h"
#include "spool/spool_seg.h"
#include "xmalloc.h"

#define SPOOL_FX_TAG "spoolseg"
#include "spool_fx.h"

/* A message of size octets whose every line names it (so a body found in
 * another's place shows). */
static struct spool_msg *make_big(size_t size, const char *tag)
{
	struct spool_msg *m = make_msg("sender@example.com", 1);
	free(m->body);
	m->body = xmalloc(size + 1);
	size_t n = 0;
	while (n < size) {
		char line[100];
		int k = snprintf(line, sizeof(line), "%s line %zu xxxxxxxxxxxxxxxxxxxxxxxx\r\n", tag, n);
		assert_true(k > 0 && (size_t)k < sizeof(line));
		size_t take = (size_t)k < size - n ? (size_t)k : size - n;
		memcpy(m->body + n, line, take);
		n += take;
	}
	m->body[size] = '\0';
	m->body_len = size;
	return m;
}

static char *seg_file(struct fx *fx, long long seg)
{
	return xasprintf("%s/bodies/%010lld", fx->dir, seg);
}

static int seg_exists(struct fx *fx, long long seg)
{
	char *p = seg_file(fx, seg);
	int ok = access(p, F_OK) == 0;
	free(p);
	return ok;
}

static void assert_claimed_body(struct fx *fx, const char *id, const struct spool_msg *want)
{
	const struct spool_due_msg *m = claimed_by_id(fx, id);
	assert_non_null(m);
	assert_int_equal(m->body_len, want->body_len);
	assert_memory_equal(m->body, want->body, want->body_len);
	assert_int_equal(m->body[m->body_len], '\0');
}

/* Flips one octet of seg at off. */
static void corrupt(struct fx *fx, long long seg, long long off)
{
	char *p = seg_file(fx, seg), c;
	int fd = open(p, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &c, 1, off), 1);
	c ^= 0x20;
	assert_int_equal(pwrite(fd, &c, 1, off), 1);
	close(fd);
	free(p);
}

/* --- tests --------------------------------------------------------------- */

static void test_large_body_goes_to_a_segment_and_comes_back_intact(void **state)
{
	struct fx *fx = *state;
	char big[SPOOL_ID_LEN + 1], small[SPOOL_ID_LEN + 1];
	open_spool(fx);
	struct spool_msg *b = make_big(100 * 1024, "big"), *s = make_big(4096, "small");
	struct spool_msg *bc = make_big(100 * 1024, "big"), *sc = make_big(4096, "small");
	commit_wait(fx, b, big);
	commit_wait(fx, s, small);
	assert_int_equal(db_int(fx, "SELECT body_seg FROM messages WHERE id = '%s'", big), 1);
	assert_int_equal(db_int(fx, "SELECT length(body) FROM messages WHERE id = '%s'", big), 0);
	assert_int_equal(db_int(fx, "SELECT body_seg IS NULL FROM messages WHERE id = '%s'", small), 1);
	assert_int_equal(db_int(fx, "SELECT length(body) FROM messages WHERE id = '%s'", small), 4096);
	assert_true(seg_exists(fx, 1));
	assert_int_equal(claim_wait(fx, time(NULL) + 10, 10), 2);
	assert_claimed_body(fx, big, bc);
	assert_claimed_body(fx, small, sc);
	/* after a reopen: read from the sealed segment; new bodies go to a new one */
	reopen_spool(fx);
	assert_int_equal(claim_wait(fx, time(NULL) + 10, 10), 2);
	assert_claimed_body(fx, big, bc);
	char next[SPOOL_ID_LEN + 1];
	commit_wait(fx, make_big(40 * 1024, "next"), next);
	assert_int_equal(db_int(fx, "SELECT body_seg FROM messages WHERE id = '%s'", next), 2);
	assert_true(seg_exists(fx, 1) && seg_exists(fx, 2));
	spool_msg_free(bc);
	spool_msg_free(sc);
}

static void test_sealed_segment_is_removed_when_its_messages_are_gone(void **state)
{
	struct fx *fx = *state;
	char a[SPOOL_ID_LEN + 1], b[SPOOL_ID_LEN + 1];
	open_spool(fx);
	commit_wait(fx, make_big(64 * 1024, "a"), a);
	commit_wait(fx, make_big(64 * 1024, "b"), b);
	reopen_spool(fx);   /* segment 1 is sealed now */
	assert_int_equal(claim_wait(fx, time(NULL) + 10, 10), 2);
	struct spool_outcome o = outcome(0, SPOOL_RCPT_DELIVERED, 0);
	assert_true(record_wait(fx, a, &o, 1, NULL));
	assert_true(seg_exists(fx, 1));   /* b still needs it */
	assert_true(record_wait(fx, b, &o, 1, NULL));
	assert_false(seg_exists(fx, 1));
	assert_int_equal(db_int(fx, "SELECT count(*) FROM messages"), 0);
}

static void test_unreferenced_segment_is_removed_at_open(void **state)
{
	struct fx *fx = *state;
	char a[SPOOL_ID_LEN + 1];
	open_spool(fx);
	commit_wait(fx, make_big(64 * 1024, "a"), a);
	spool_close(fx->sp);
	fx->sp = NULL;
	/* what a crash between a new segment's append and its commit leaves */
	char *orphan = seg_file(fx, 7);
	FILE *f = fopen(orphan, "w");
	assert_non_null(f);
	fputs("an appended body no row references", f);
	assert_int_equal(fclose(f), 0);
	open_spool(fx);
	assert_false(seg_exists(fx, 7));
	assert_true(seg_exists(fx, 1));   /* referenced: kept */
	char b[SPOOL_ID_LEN + 1];
	commit_wait(fx, make_big(64 * 1024, "b"), b);
	assert_int_equal(db_int(fx, "SELECT body_seg FROM messages WHERE id = '%s'", b), 8);   /* never reused */
	free(orphan);
}

static void test_corrupt_or_missing_segment_keeps_the_message_and_check_reports_it(void **state)
{
	struct fx *fx = *state;
	char a[SPOOL_ID_LEN + 1], err[256];
	struct spool_check_report r;
	open_spool(fx);
	commit_wait(fx, make_big(64 * 1024, "a"), a);
	spool_close(fx->sp);
	fx->sp = NULL;
	assert_int_equal(spool_check_run(fx->dir, &r, err, sizeof(err)), 0);
	assert_int_equal(r.bad_bodies, 0);
	corrupt(fx, 1, 5000);
	assert_int_equal(spool_check_run(fx->dir, &r, err, sizeof(err)), 1);
	assert_int_equal(r.bad_bodies, 1);
	assert_string_equal(r.why, "");   /* not a damaged database: no mark */
	assert_non_null(strstr(r.body_why, a));
	assert_non_null(strstr(r.body_why, "checksum"));
	open_spool(fx);
	time_t now = time(NULL);
	assert_int_equal(claim_wait(fx, now + 10, 10), 0);   /* not handed out with wrong bytes */
	assert_int_equal(db_int(fx, "SELECT count(*) FROM messages WHERE id = '%s'", a), 1);
	assert_true(db_int(fx, "SELECT next_attempt FROM messages WHERE id = '%s'", a) >= now + 3600);
	assert_int_equal(db_int(fx, "SELECT claimed FROM messages WHERE id = '%s'", a), 0);
	corrupt(fx, 1, 5000);   /* the operator repairs the file: the next try reads it afresh */
	assert_int_equal(claim_wait(fx, now + 7200, 10), 1);
	assert_int_equal(fx->claimed[0]->body_len, 64 * 1024);
	spool_close(fx->sp);
	fx->sp = NULL;
	char *p = seg_file(fx, 1);
	assert_int_equal(truncate(p, 1000), 0);
	assert_int_equal(spool_check_run(fx->dir, &r, err, sizeof(err)), 1);
	assert_non_null(strstr(r.body_why, "cut short"));
	assert_int_equal(unlink(p), 0);
	assert_int_equal(spool_check_run(fx->dir, &r, err, sizeof(err)), 1);
	assert_non_null(strstr(r.body_why, "cannot open"));
	open_spool(fx);   /* opens; the message stays */
	assert_int_equal(claim_wait(fx, now + 7200, 10), 0);
	assert_int_equal(db_int(fx, "SELECT count(*) FROM messages WHERE id = '%s'", a), 1);
	free(p);
}

/* A spool of schema 8 (bodies inline) with a large body upgrades in place
 * and delivers it from the row; new large bodies go to segments. */
static void test_v8_spool_with_inline_large_body_upgrades(void **state)
{
	struct fx *fx = *state;
	char a[SPOOL_ID_LEN + 1], b[SPOOL_ID_LEN + 1];
	open_spool(fx);
	commit_wait(fx, make_msg("sender@example.com", 1), a);
	spool_close(fx->sp);
	fx->sp = NULL;
	db_exec(fx, "DROP INDEX messages_body_seg;"
		    "ALTER TABLE messages DROP COLUMN body_crc;"
		    "ALTER TABLE messages DROP COLUMN body_off;"
		    "ALTER TABLE messages DROP COLUMN body_seg;"
		    "UPDATE messages SET body = randomblob(200000), size = 200000;"
		    "PRAGMA user_version=8;");
	assert_int_equal(db_int(fx, "PRAGMA user_version"), 8);
	open_spool(fx);
	assert_int_equal(db_int(fx, "PRAGMA user_version"), SPOOL_SCHEMA_VERSION);
	assert_int_equal(db_int(fx, "SELECT body_seg IS NULL FROM messages WHERE id = '%s'", a), 1);
	assert_int_equal(claim_wait(fx, time(NULL) + 10, 10), 1);
	const struct spool_due_msg *m = claimed_by_id(fx, a);
	assert_non_null(m);
	assert_int_equal(m->body_len, 200000);
	assert_int_equal(db_int(fx, "SELECT count(*) FROM messages WHERE id = '%s' AND substr(body, 1, 1) = x'%02x'"
			 " AND substr(body, 100000, 1) = x'%02x' AND substr(body, 200000, 1) = x'%02x'", a,
			 (unsigned char)m->body[0], (unsigned char)m->body[99999], (unsigned char)m->body[199999]), 1);
	commit_wait(fx, make_big(100 * 1024, "b"), b);
	assert_int_equal(db_int(fx, "SELECT body_seg FROM messages WHERE id = '%s'", b), 1);
}

/* A segment is sealed at 64 MiB and the next body starts a new one; once
 * every message of the sealed one is delivered, it goes. */
static void test_segment_rotates_at_its_size_and_goes_when_delivered(void **state)
{
	struct fx *fx = *state;
	char id[SPOOL_ID_LEN + 1], tag[16];
	open_spool(fx);
	for (int i = 0; i < 66; i++) {
		assert_true(snprintf(tag, sizeof(tag), "r%02d", i) > 0);
		commit_wait(fx, make_big(1024 * 1024, tag), id);
	}
	assert_int_equal(db_int(fx, "SELECT count(*) FROM messages WHERE body_seg = 1"), 64);
	assert_int_equal(db_int(fx, "SELECT count(*) FROM messages WHERE body_seg = 2"), 2);
	assert_true(seg_exists(fx, 1) && seg_exists(fx, 2));
	struct spool_outcome o = outcome(0, SPOOL_RCPT_DELIVERED, 0);
	for (int done = 0; done < 66;) {
		size_t n = claim_wait(fx, time(NULL) + 10, 8);
		assert_true(n > 0);
		char ids[8][SPOOL_ID_LEN + 1];
		for (size_t i = 0; i < n; i++) {
			const struct spool_due_msg *m = fx->claimed[i];
			assert_int_equal(m->body_len, 1024 * 1024);
			assert_int_equal(memcmp(m->body, "r", 1), 0);
			memcpy(ids[i], m->id, sizeof(ids[i]));
		}
		drop_claimed(fx);
		for (size_t i = 0; i < n; i++)
			assert_true(record_wait(fx, ids[i], &o, 1, NULL));
		done += (int)n;
	}
	assert_int_equal(db_int(fx, "SELECT count(*) FROM messages"), 0);
	assert_false(seg_exists(fx, 1));   /* sealed and empty: removed */
	assert_true(seg_exists(fx, 2));    /* the current one stays (until close) */
}

/* 1 when the file system of the spool can punch holes. */
static int fs_punches(struct fx *fx)
{
	char *p = xasprintf("%s/probe", fx->dir), block[8192];
	int fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	memset(block, 'x', sizeof(block));
	assert_int_equal(pwrite(fd, block, sizeof(block), 0), (ssize_t)sizeof(block));
	int ok = fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, sizeof(block)) == 0;
	close(fd);
	unlink(p);
	free(p);
	return ok;
}

/* `outpost queue show` reads the header block from the segment, and
 * `outpost queue delete` punches the range (the file stays: the daemon's). */
static void test_admin_show_and_delete_of_a_segment_body(void **state)
{
	struct fx *fx = *state;
	char a[SPOOL_ID_LEN + 1], err[256];
	struct spool_admin_msg am;
	open_spool(fx);
	struct spool_msg *m = make_big(100 * 1024, "show");
	memcpy(m->body, "Subject: big\r\n\r\n", 16);
	commit_wait(fx, m, a);
	assert_int_equal(spool_admin_show(fx->dir, a, &am, err, sizeof(err)), 0);
	assert_non_null(am.headers.data);
	assert_string_equal(am.headers.data, "Subject: big\n");
	assert_int_equal(am.size, 100 * 1024);
	spool_admin_msg_free(&am);
	char *p = seg_file(fx, 1);
	struct stat st;
	assert_int_equal(stat(p, &st), 0);
	long long before = (long long)st.st_blocks * 512;
	assert_int_equal(spool_admin_delete(fx->dir, a, err, sizeof(err)), 0);
	assert_int_equal(stat(p, &st), 0);
	if (fs_punches(fx))
		assert_true((long long)st.st_blocks * 512 <= before - 96 * 1024);
	else
		assert_true((long long)st.st_blocks * 512 <= before);
	assert_int_equal(db_int(fx, "SELECT count(*) FROM messages"), 0);
	free(p);
}

/* CRC-32C: the standard check value, and the CPU's instruction agrees with
 * the table on every length (the tail loop) of a large buffer. */
static void test_crc32c_check_value_and_both_ways_agree(void **state)
{
	(void)state;
	assert_int_equal(spool_seg_crc32c("123456789", 9), 0xE3069283u);
	assert_int_equal(spool_seg_crc32c_portable("123456789", 9), 0xE3069283u);
	assert_int_equal(spool_seg_crc32c("", 0), 0);
	unsigned char *buf = xmalloc(100003);
	for (size_t i = 0; i < 100003; i++)
		buf[i] = (unsigned char)(i * 2654435761u >> 13);
	for (size_t n = 0; n < 20; n++)
		assert_int_equal(spool_seg_crc32c(buf + n, 100003 - 2 * n), spool_seg_crc32c_portable(buf + n, 100003 - 2 * n));
	free(buf);
}

static long long disk_use(struct fx *fx)
{
	struct stat st;
	long long total = db_int(fx, "PRAGMA page_count") * db_int(fx, "PRAGMA page_size");
	for (long long seg = 1; seg < 100; seg++) {
		char *p = seg_file(fx, seg);
		if (stat(p, &st) == 0)
			total += (long long)st.st_blocks * 512;
		free(p);
	}
	return total;
}

static long long seg_blocks(struct fx *fx, long long seg)
{
	struct stat st;
	char *p = seg_file(fx, seg);
	assert_int_equal(stat(p, &st), 0);
	free(p);
	return (long long)st.st_blocks * 512;
}

/* Bodies delivered in about the order they came free their blocks a run
 * of about 1 MiB at a time (one fallocate for ten 100 KB bodies), and what
 * is left of the runs when the spool closes; a body still queued keeps
 * its own. */
static void test_delivered_bodies_free_their_blocks_in_runs(void **state)
{
	struct fx *fx = *state;
	char id[SPOOL_ID_LEN + 1], keep[SPOOL_ID_LEN + 1], tag[16];
	open_spool(fx);
	if (!fs_punches(fx))
		skip();
	for (int i = 0; i < 30; i++) {
		assert_true(snprintf(tag, sizeof(tag), "h%02d", i) > 0);
		commit_wait(fx, make_big(100 * 1024, tag), i ? id : keep);
	}
	long long full = seg_blocks(fx, 1);
	assert_true(full >= 30 * 100 * 1024);
	struct spool_outcome done = outcome(0, SPOOL_RCPT_DELIVERED, 0);
	struct spool_outcome later = outcome(0, SPOOL_RCPT_DEFERRED, time(NULL) + 3600);
	for (int left = 30; left > 0;) {
		size_t n = claim_wait(fx, time(NULL) + 10, 8);
		assert_true(n > 0);
		char ids[8][SPOOL_ID_LEN + 1];
		for (size_t i = 0; i < n; i++)
			memcpy(ids[i], fx->claimed[i]->id, sizeof(ids[i]));
		drop_claimed(fx);
		for (size_t i = n; i-- > 0;)   /* each batch backwards: runs join at both ends */
			assert_true(record_wait(fx, ids[i], strcmp(ids[i], keep) ? &done : &later, 1, NULL));
		left -= (int)n;
	}
	long long freed = 29 * 100 * 1024;
	assert_true(seg_blocks(fx, 1) <= full - (freed - 1024 * 1024));   /* all but the last run */
	spool_close(fx->sp);
	fx->sp = NULL;
	assert_true(seg_blocks(fx, 1) <= full - freed + 8192);            /* and that one at close (a block or
	                                                                     two of slack: the file system's) */
	assert_true(seg_blocks(fx, 1) >= 100 * 1024);                     /* the deferred body's stay */
}

/* spool_max_size bounds the database and the segments together. */
static void test_size_cap_counts_the_segments(void **state)
{
	struct fx *fx = *state;
	char err[256];
	int ok = 0, refused = 0;
	fx->sp = spool_open(fx->dir, 2 * 1024 * 1024, fx->base, err, sizeof(err));
	assert_non_null(fx->sp);
	for (int i = 0; i < 60 && refused == 0; i++) {
		int want = fx->calls + 1, before = fx->ok;
		spool_commit(fx->sp, make_big(100 * 1024, "cap"), on_commit, fx);
		run_until(fx, want);
		ok += fx->ok - before;
		refused = fx->failed;
	}
	assert_int_equal(refused, 1);
	assert_string_equal(fx->reason, "spool full");
	assert_true(ok >= 10 && ok < 20);
	assert_int_equal(db_int(fx, "SELECT count(*) FROM messages"), ok);
	assert_true(disk_use(fx) <= 2 * 1024 * 1024 + 64 * 1024);   /* a last page or block of slack */
	/* delivering frees room again */
	assert_int_equal(claim_wait(fx, time(NULL) + 10, 1), 1);
	struct spool_outcome o = outcome(0, SPOOL_RCPT_DELIVERED, 0);
	assert_true(record_wait(fx, fx->claimed[0]->id, &o, 1, NULL));
	int before = fx->ok;
	spool_commit(fx->sp, make_big(90 * 1024, "again"), on_commit, fx);
	run_until(fx, fx->calls + 1);
	assert_int_equal(fx->ok, before + 1);
}

int main(void)
{
	log_init("test_spool_seg", LOG_DEST_STDERR);
	if (getenv("SPOOL_TEST_DEBUG"))
		log_set_debug(1);
	evthread_use_pthreads();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_large_body_goes_to_a_segment_and_comes_back_intact, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sealed_segment_is_removed_when_its_messages_are_gone, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_unreferenced_segment_is_removed_at_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_or_missing_segment_keeps_the_message_and_check_reports_it,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_v8_spool_with_inline_large_body_upgrades, setup, teardown),
		cmocka_unit_test_setup_teardown(test_size_cap_counts_the_segments, setup, teardown),
		cmocka_unit_test_setup_teardown(test_admin_show_and_delete_of_a_segment_body, setup, teardown),
		cmocka_unit_test(test_crc32c_check_value_and_both_ways_agree),
		cmocka_unit_test_setup_teardown(test_segment_rotates_at_its_size_and_goes_when_delivered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delivered_bodies_free_their_blocks_in_runs, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
