/*
 * test_dsn: delivery status notifications, parsed back: the top-level
 * header fields, a multipart/report with three parts split on a boundary
 * that occurs nowhere else, the per-message and per-recipient fields, the
 * original headers without the body; no DSN for the null sender; a
 * header-injection attempt in a remote reply stays inside one field; long
 * diagnostics are folded within 998 octets; the delayed variant; a
 * non-ASCII recipient (RFC 6533) and 8-bit original headers stay 7-bit.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "delivery/dsn.h"
#include "header.h"
#include "log.h"
#include "xmalloc.h"

#define NOW 1795000000        /* Wed, 18 Nov 2026 11:06:40 UTC */

static const char original[] =
	"Received: from client.example.com\r\n"
	"From: Alice <alice@example.com>\r\n"
	"To: bob@example.net\r\n"
	"Subject: hello\r\n"
	"Message-ID: <1@example.com>\r\n"
	"\r\n"
	"SECRET-BODY line\r\n";

struct part {
	const char *start;     /* part headers */
	size_t len;
	size_t hdr_end;        /* offset of the content */
};

struct parsed {
	struct buf out;
	size_t body;           /* offset of the top-level body */
	char boundary[128];
	struct part parts[8];
	size_t nparts;
};

/* --- helpers ------------------------------------------------------------- */

static void check_lines(const struct buf *b, int seven_bit)
{
	size_t col = 0;
	for (size_t i = 0; i < b->len; i++) {
		unsigned char c = (unsigned char)b->data[i];
		if (c == '\r') {
			assert_true(i + 1 < b->len && b->data[i + 1] == '\n');
			i++;
			col = 0;
			continue;
		}
		assert_true(c != '\n');                  /* a bare LF */
		assert_true(c >= 0x20 || c == '\t');     /* no other control */
		if (seven_bit)
			assert_true(c < 0x80);
		col++;
		assert_true(col <= 998);
	}
	assert_int_equal(col, 0);
}

/* The value of field name in the header block at p (len), unfolded: the
 * caller frees it; NULL when absent. */
static char *field(const char *p, size_t len, const char *name)
{
	struct header_field f;
	if (!header_find(p, len, name, &f))
		return NULL;
	struct buf b = BUF_INIT;
	for (size_t i = 0; i < f.valuelen; i++)
		if (f.value[i] != '\r' && f.value[i] != '\n')
			buf_putc(&b, f.value[i]);
	char *s = buf_steal(&b, NULL);
	char *t = s;
	while (*t == ' ')
		t++;
	memmove(s, t, strlen(t) + 1);
	return s;
}

static void expect_field(const char *p, size_t len, const char *name, const char *want)
{
	char *v = field(p, len, name);
	if (v == NULL)
		fail_msg("no %s field", name);
	if (want && strcmp(v, want) != 0)
		fail_msg("%s: got \"%s\", want \"%s\"", name, v, want);
	free(v);
}

static void parse(struct parsed *ps)
{
	const char *m = ps->out.data;
	size_t len = ps->out.len;
	ps->body = header_block_end(m, len);
	char *ct = field(m, ps->body, "Content-Type");
	assert_non_null(ct);
	assert_non_null(strstr(ct, "multipart/report; report-type=delivery-status;"));
	char *b = strstr(ct, "boundary=\"");
	assert_non_null(b);
	b += strlen("boundary=\"");
	size_t bl = strcspn(b, "\"");
	assert_true(bl > 0 && bl < 71 && b[bl] == '"');
	int n = snprintf(ps->boundary, sizeof(ps->boundary), "\r\n--%.*s", (int)bl, b);
	assert_true(n > 0 && (size_t)n < sizeof(ps->boundary));
	free(ct);
	/* parts: between "\r\n--B" delimiters; the last is "--B--" */
	const char *p = strstr(m + ps->body - 2, ps->boundary);
	ps->nparts = 0;
	while (p) {
		p += n;
		if (p[0] == '-' && p[1] == '-')
			break;
		assert_true(p[0] == '\r' && p[1] == '\n');
		p += 2;
		const char *next = strstr(p, ps->boundary);
		assert_non_null(next);
		assert_true(ps->nparts < 8);
		struct part *pt = &ps->parts[ps->nparts++];
		pt->start = p;
		pt->len = (size_t)(next - p) + 2;   /* with its last CRLF */
		pt->hdr_end = header_block_end(p, pt->len);
		p = next;
	}
	assert_non_null(p);
	assert_string_equal(p + 2, "\r\n");   /* "--B--" ends the message */
	/* the boundary occurs only as delimiters */
	size_t count = 0;
	for (const char *q = m; (q = strstr(q, ps->boundary + 2)) != NULL; q++)
		count++;
	assert_int_equal(count, ps->nparts + 1);
}

static const char *content(const struct parsed *ps, size_t i, size_t *len)
{
	const struct part *pt = &ps->parts[i];
	*len = pt->len - pt->hdr_end;
	return pt->start + pt->hdr_end;
}

static int contains(const char *p, size_t len, const char *s)
{
	return memmem(p, len, s, strlen(s)) != NULL;
}

static struct dsn_rcpt rcpt_failed(void)
{
	struct dsn_rcpt r = { "bob@example.net", DSN_FAILED, "5.1.1", "mx.example.net",
			      "550 5.1.1 <bob@example.net>: No such user", NOW - 10 };
	return r;
}

static struct dsn_info info_for(const struct dsn_rcpt *r, size_t n)
{
	struct dsn_info info = { "mail.example.com", "1K0Y3KWVJFD003ZA", "alice@example.com",
				 NOW - 3600, original, sizeof(original) - 1, r, n, NOW };
	return info;
}

static void build(struct parsed *ps, const struct dsn_info *info)
{
	memset(ps, 0, sizeof(*ps));
	assert_int_equal(dsn_build(info, &ps->out), 0);
	if (getenv("DSN_TEST_PRINT"))
		fwrite(ps->out.data, 1, ps->out.len, stdout);
	check_lines(&ps->out, 1);
	parse(ps);
}

/* --- tests --------------------------------------------------------------- */

static void test_failed_dsn_has_headers_three_parts_and_fields(void **state)
{
	(void)state;
	struct dsn_rcpt r = rcpt_failed();
	struct dsn_info info = info_for(&r, 1);
	struct parsed ps;
	build(&ps, &info);
	const char *m = ps.out.data;
	expect_field(m, ps.body, "From", "Mail Delivery System <MAILER-DAEMON@mail.example.com>");
	expect_field(m, ps.body, "To", "<alice@example.com>");
	expect_field(m, ps.body, "Subject", "Undelivered Mail Returned to Sender");
	expect_field(m, ps.body, "Date", "Wed, 18 Nov 2026 11:06:40 +0000");
	expect_field(m, ps.body, "Message-ID", "<1K0Y3KWVJFD003ZA.dsn.1795000000@mail.example.com>");
	expect_field(m, ps.body, "Auto-Submitted", "auto-replied");
	expect_field(m, ps.body, "MIME-Version", "1.0");
	assert_int_equal(ps.nparts, 3);

	size_t len;
	const char *c;
	expect_field(ps.parts[0].start, ps.parts[0].hdr_end, "Content-Type",
		     "text/plain; charset=us-ascii");
	c = content(&ps, 0, &len);
	assert_true(contains(c, len, "could not be delivered to the following recipients"));
	assert_true(contains(c, len, "<bob@example.net>: host mx.example.net said: 550 5.1.1"));

	expect_field(ps.parts[1].start, ps.parts[1].hdr_end, "Content-Type", "message/delivery-status");
	c = content(&ps, 1, &len);
	/* per-message fields, an empty line, per-recipient fields */
	size_t msg_end = header_block_end(c, len);
	expect_field(c, msg_end, "Reporting-MTA", "dns; mail.example.com");
	expect_field(c, msg_end, "X-Outpost-Queue-ID", "1K0Y3KWVJFD003ZA");
	expect_field(c, msg_end, "Arrival-Date", "Wed, 18 Nov 2026 10:06:40 +0000");
	const char *rc = c + msg_end;
	size_t rlen = len - msg_end;
	expect_field(rc, rlen, "Final-Recipient", "rfc822; bob@example.net");
	expect_field(rc, rlen, "Action", "failed");
	expect_field(rc, rlen, "Status", "5.1.1");
	expect_field(rc, rlen, "Remote-MTA", "dns; mx.example.net");
	expect_field(rc, rlen, "Diagnostic-Code", "smtp; 550 5.1.1 <bob@example.net>: No such user");
	expect_field(rc, rlen, "Last-Attempt-Date", "Wed, 18 Nov 2026 11:06:30 +0000");

	expect_field(ps.parts[2].start, ps.parts[2].hdr_end, "Content-Type", "text/rfc822-headers");
	c = content(&ps, 2, &len);
	expect_field(c, len, "Subject", "hello");
	expect_field(c, len, "Message-ID", "<1@example.com>");
	assert_false(contains(ps.out.data, ps.out.len, "SECRET-BODY"));
	buf_free(&ps.out);
}

static void test_null_sender_gets_no_dsn(void **state)
{
	(void)state;
	struct dsn_rcpt r = rcpt_failed();
	struct dsn_info info = info_for(&r, 1);
	struct buf out = BUF_INIT;
	info.sender = "";
	assert_int_equal(dsn_build(&info, &out), -1);
	info.sender = NULL;
	assert_int_equal(dsn_build(&info, &out), -1);
	info = info_for(&r, 0);
	assert_int_equal(dsn_build(&info, &out), -1);
	assert_int_equal(out.len, 0);
}

static void test_header_injection_in_diagnostic_is_neutralised(void **state)
{
	(void)state;
	struct dsn_rcpt r = rcpt_failed();
	r.diagnostic = "550 bad\r\nBcc: victim@example.com";
	r.remote_mta = "mx.example.net\r\nX-Evil: 1";
	struct dsn_rcpt r2 = rcpt_failed();
	r2.address = "carol@example.net>\r\nBcc: victim2@example.com";
	r2.diagnostic = "550 x\nContent-Type: text/html\r\n\r\n<html>";
	struct dsn_rcpt rs[2] = { r, r2 };
	struct dsn_info info = info_for(rs, 2);
	info.sender = "alice@example.com>\r\nBcc: victim3@example.com";
	struct parsed ps;
	build(&ps, &info);
	const char *m = ps.out.data;
	assert_null(strstr(m, "\r\nBcc:"));
	assert_null(strstr(m, "\r\nX-Evil:"));
	assert_null(strstr(m, "\r\nContent-Type: text/html"));
	assert_int_equal(ps.nparts, 3);
	size_t len;
	const char *c = content(&ps, 1, &len);
	size_t msg_end = header_block_end(c, len);
	expect_field(c + msg_end, len - msg_end, "Diagnostic-Code",
		     "smtp; 550 bad Bcc: victim@example.com");
	expect_field(c + msg_end, len - msg_end, "Remote-MTA", "dns; mx.example.net??X-Evil:?1");
	expect_field(m, ps.body, "To", "<alice@example.com???Bcc:?victim3@example.com>");
	buf_free(&ps.out);
}

static void test_long_diagnostic_is_folded_within_998(void **state)
{
	(void)state;
	struct buf d = BUF_INIT;
	buf_puts(&d, "550 5.7.1 ");
	for (int i = 0; i < 300; i++)
		buf_puts(&d, "blocked ");
	for (int i = 0; i < 1500; i++)
		buf_putc(&d, 'x');    /* one word longer than a line */
	struct dsn_rcpt r = rcpt_failed();
	r.diagnostic = d.data;
	struct dsn_info info = info_for(&r, 1);
	struct parsed ps;
	build(&ps, &info);
	size_t len;
	const char *c = content(&ps, 1, &len);
	size_t msg_end = header_block_end(c, len);
	char *v = field(c + msg_end, len - msg_end, "Diagnostic-Code");
	assert_non_null(v);
	assert_int_equal(strncmp(v, "smtp; 550 5.7.1 blocked blocked", 31), 0);
	assert_true(strlen(v) > 2000);                     /* folded, not lost */
	assert_string_equal(v + strlen(v) - 3, "...");     /* cut at the cap */
	free(v);
	/* the field spans several lines, each a continuation */
	const char *f = strstr(c, "Diagnostic-Code:");
	assert_non_null(f);
	assert_non_null(strstr(f, "\r\n blocked"));
	buf_free(&ps.out);
	buf_free(&d);
}

static void test_delayed_dsn(void **state)
{
	(void)state;
	struct dsn_rcpt r = { "bob@example.net", DSN_DELAYED, "4.4.1", NULL,
			      "connection timed out", NOW - 60 };
	struct dsn_info info = info_for(&r, 1);
	struct parsed ps;
	build(&ps, &info);
	expect_field(ps.out.data, ps.body, "Subject", "Delayed Mail (still being retried)");
	size_t len;
	const char *c = content(&ps, 0, &len);
	assert_true(contains(c, len, "has not yet been delivered; outpost will keep trying"));
	assert_false(contains(c, len, "could not be delivered"));
	c = content(&ps, 1, &len);
	size_t msg_end = header_block_end(c, len);
	expect_field(c + msg_end, len - msg_end, "Action", "delayed");
	expect_field(c + msg_end, len - msg_end, "Status", "4.4.1");
	expect_field(c + msg_end, len - msg_end, "Diagnostic-Code", "X-Outpost; connection timed out");
	assert_null(field(c + msg_end, len - msg_end, "Remote-MTA"));
	buf_free(&ps.out);
}

static void test_non_ascii_recipient_and_8bit_headers_stay_7bit(void **state)
{
	(void)state;
	static const char orig8[] = "Subject: gr\xc3\xbc\xc3\x9f" "e\r\nX-Long: "
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n"
		"\r\nbody\r\n";
	struct dsn_rcpt r = rcpt_failed();
	r.address = "j\xc3\xb6rg+x@example.de";
	r.status = "bogus";
	struct dsn_info info = info_for(&r, 1);
	info.message = orig8;
	info.message_len = sizeof(orig8) - 1;
	struct parsed ps;
	build(&ps, &info);
	size_t len;
	const char *c = content(&ps, 1, &len);
	size_t msg_end = header_block_end(c, len);
	expect_field(c + msg_end, len - msg_end, "Final-Recipient", "utf-8; j\\x{F6}rg\\x{2B}x@example.de");
	expect_field(c + msg_end, len - msg_end, "Status", "5.0.0");
	expect_field(ps.parts[0].start, ps.parts[0].hdr_end, "Content-Type", "text/plain; charset=utf-8");
	expect_field(ps.parts[0].start, ps.parts[0].hdr_end, "Content-Transfer-Encoding",
		     "quoted-printable");
	expect_field(ps.parts[2].start, ps.parts[2].hdr_end, "Content-Transfer-Encoding",
		     "quoted-printable");
	c = content(&ps, 2, &len);
	assert_true(contains(c, len, "Subject: gr=C3=BC=C3=9Fe\r\n"));
	buf_free(&ps.out);
}

static void test_boundary_is_not_in_the_content(void **state)
{
	(void)state;
	static const char trap[] = "Subject: --=_outpost_1K0Y3KWVJFD003ZA_1795000000_0\r\n"
		"X-Trap: =_outpost_1K0Y3KWVJFD003ZA_1795000000_1\r\n\r\n";
	struct dsn_rcpt r = rcpt_failed();
	struct dsn_info info = info_for(&r, 1);
	info.message = trap;
	info.message_len = sizeof(trap) - 1;
	struct parsed ps;
	build(&ps, &info);    /* parse() checks the boundary occurs only as delimiters */
	assert_string_equal(ps.boundary + 4, "=_outpost_1K0Y3KWVJFD003ZA_1795000000_2");
	assert_int_equal(ps.nparts, 3);
	buf_free(&ps.out);
}

static void test_message_without_headers_and_mixed_actions(void **state)
{
	(void)state;
	struct dsn_rcpt rs[2] = { rcpt_failed(),
				  { "dave@example.org", DSN_DELAYED, "4.2.2", NULL, NULL, 0 } };
	struct dsn_info info = info_for(rs, 2);
	info.message = "\r\nonly a body\r\n";
	info.message_len = strlen(info.message);
	struct parsed ps;
	build(&ps, &info);
	assert_int_equal(ps.nparts, 3);
	expect_field(ps.out.data, ps.body, "Subject", "Undelivered Mail Returned to Sender");
	size_t len;
	const char *c = content(&ps, 0, &len);
	assert_true(contains(c, len, "could not be delivered"));
	assert_true(contains(c, len, "<dave@example.org>"));
	assert_false(contains(ps.out.data, ps.out.len, "only a body"));
	buf_free(&ps.out);
}

int main(void)
{
	log_init("test_dsn", LOG_DEST_STDERR);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_failed_dsn_has_headers_three_parts_and_fields),
		cmocka_unit_test(test_null_sender_gets_no_dsn),
		cmocka_unit_test(test_header_injection_in_diagnostic_is_neutralised),
		cmocka_unit_test(test_long_diagnostic_is_folded_within_998),
		cmocka_unit_test(test_delayed_dsn),
		cmocka_unit_test(test_non_ascii_recipient_and_8bit_headers_stay_7bit),
		cmocka_unit_test(test_boundary_is_not_in_the_content),
		cmocka_unit_test(test_message_without_headers_and_mixed_actions),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
