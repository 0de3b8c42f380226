/* Unit tests: the 7-bit conversion before signing (mime7bit), its codecs
 * (mime_codec) and header encoding (mime_header). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "buf.h"
#include "mailauth/mime7bit.h"
#include "mailauth/mime_codec.h"
#include "mailauth/mime_header.h"

static int convert(const char *m, size_t n, int flags, struct buf *out, struct mime7bit_report *rep,
		   char *err)
{
	buf_reset(out);
	return mime7bit_convert(m, n, flags, out, rep, err, 256);
}

/* Every line of the result is 7-bit and at most max octets. */
static void assert_7bit_lines(const struct buf *b, size_t max)
{
	size_t s = 0;
	for (size_t i = 0; i < b->len; i++) {
		assert_true((unsigned char)b->data[i] < 0x80);
		if (b->data[i] == '\n') {
			assert_true(i - s - 1 <= max);
			s = i + 1;
		}
	}
}

static void eightbit_leaf_becomes_quoted_printable(void **state)
{
	(void)state;
	struct buf out = BUF_INIT;
	struct mime7bit_report rep;
	char err[256];
	const char *m = "Subject: x\r\nContent-Transfer-Encoding: 8bit\r\n\r\ncaf\xc3\xa9 = ok \r\n";
	assert_int_equal(convert(m, strlen(m), MIME7BIT_8BIT, &out, &rep, err), 1);
	assert_string_equal(out.data, "Subject: x\r\nMIME-Version: 1.0\r\n"
			    "Content-Type: text/plain; charset=utf-8\r\n"
			    "Content-Transfer-Encoding: quoted-printable\r\n\r\ncaf=C3=A9 =3D ok=20\r\n");
	assert_int_equal(rep.qp, 1);
	/* without MIME7BIT_8BIT, 8-bit is left alone; 7-bit is never touched */
	assert_int_equal(convert(m, strlen(m), 0, &out, &rep, err), 0);
	const char *seven = "Subject: x\r\n\r\nplain\r\n";
	assert_int_equal(convert(seven, strlen(seven), MIME7BIT_8BIT, &out, &rep, err), 0);
	assert_int_equal(out.len, 0);
	buf_free(&out);
}

static void qp_round_trips_and_keeps_to_76(void **state)
{
	(void)state;
	char data[3000];
	struct buf enc = BUF_INIT, dec = BUF_INIT;
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (char)(i * 7 % 251);
	memcpy(data + 100, "\r\n--b\r\n-- \r\n", 12);
	mime_qp_encode(data, sizeof(data), &enc);
	assert_7bit_lines(&enc, 76);
	assert_null(strstr(enc.data, "\r\n-"));   /* no line can pass for a delimiter */
	mime_qp_decode(enc.data, enc.len, &dec);
	assert_int_equal(dec.len, sizeof(data));
	assert_memory_equal(dec.data, data, sizeof(data));
	buf_reset(&enc);
	buf_reset(&dec);
	mime_base64_lines(data, sizeof(data), &enc);
	assert_7bit_lines(&enc, 76);
	mime_base64_decode(enc.data, enc.len, &dec);
	assert_int_equal(dec.len, sizeof(data));
	assert_memory_equal(dec.data, data, sizeof(data));
	buf_free(&enc);
	buf_free(&dec);
}

static void long_text_line_without_mime_version_gets_qp(void **state)
{
	(void)state;
	struct buf m = BUF_INIT, out = BUF_INIT, dec = BUF_INIT;
	struct mime7bit_report rep;
	char err[256];
	buf_puts(&m, "From: a@example.com\r\nSubject: long\r\n\r\n");
	for (int i = 0; i < 300; i++)
		buf_puts(&m, "word ");
	buf_puts(&m, "\r\nshort\r\n");
	assert_int_equal(convert(m.data, m.len, 0, &out, &rep, err), 1);
	assert_7bit_lines(&out, 76);
	assert_non_null(strstr(out.data, "Subject: long\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; "
				    "charset=us-ascii\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"));
	const char *body = strstr(out.data, "\r\n\r\n") + 4, *orig = strstr(m.data, "\r\n\r\n") + 4;
	mime_qp_decode(body, out.len - (size_t)(body - out.data), &dec);
	assert_string_equal(dec.data, orig);
	buf_free(&m);
	buf_free(&out);
	buf_free(&dec);
}

static void long_lines_in_parts_are_reencoded_by_type(void **state)
{
	(void)state;
	struct buf m = BUF_INIT, out = BUF_INIT, dec = BUF_INIT;
	struct mime7bit_report rep;
	char err[256], json[1500], b64[1400];
	memset(json, 'j', sizeof(json) - 1);
	json[sizeof(json) - 1] = '\0';
	memset(b64, 'Q', sizeof(b64) - 1);      /* base64 on one line of 1399 */
	b64[sizeof(b64) - 1] = '\0';
	buf_printf(&m, "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
		   "--b\r\nContent-Type: application/json\r\n\r\n%s\r\n"
		   "--b\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\n%s\r\n"
		   "--b\r\nContent-Type: text/plain\r\n\r\nshort\r\n--b--\r\n", json, b64);
	assert_int_equal(convert(m.data, m.len, MIME7BIT_8BIT, &out, &rep, err), 1);
	assert_7bit_lines(&out, 76);
	assert_int_equal(rep.base64, 2);
	assert_int_equal(rep.qp, 0);
	assert_non_null(strstr(out.data, "Content-Type: application/json\r\nContent-Transfer-Encoding: base64\r\n\r\n"));
	assert_non_null(strstr(out.data, "Content-Type: text/plain\r\n\r\nshort\r\n--b--\r\n"));
	const char *p = strstr(strstr(out.data, "application/json\r\n"), "\r\n\r\n") + 4, *e = strstr(p, "\r\n--b");
	mime_base64_decode(p, (size_t)(e - p), &dec);
	assert_int_equal(dec.len, strlen(json));
	assert_memory_equal(dec.data, json, dec.len);
	buf_free(&m);
	buf_free(&out);
	buf_free(&dec);
}

static void eightbit_headers_of_an_attached_message_are_encoded(void **state)
{
	(void)state;
	struct buf out = BUF_INIT;
	struct mime7bit_report rep;
	char err[256];
	const char *m = "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
			"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
			"From: \"J\xc3\xb6rg M\xc3\xbcller\" <j@example.org>\r\nSubject: Gr\xc3\xbc\xc3\x9f"
			"e aus K\xc3\xb6ln\r\n\r\nHallo\r\n"
			"--b\r\nContent-Type: application/pdf; name=\"r\xc3\xa9sum\xc3\xa9.pdf\"\r\n"
			"Content-Transfer-Encoding: base64\r\n\r\nAAAA\r\n--b--\r\n";
	assert_int_equal(convert(m, strlen(m), MIME7BIT_8BIT, &out, &rep, err), 1);
	assert_7bit_lines(&out, 998);
	assert_non_null(strstr(out.data, "Content-Transfer-Encoding: 7bit\r\n"));
	/* "Jörg Müller" and "Grüße" "aus" "Köln": adjacent 8-bit words share encoded-words */
	assert_non_null(strstr(out.data, "From: =?utf-8?B?SsO2cmcgTcO8bGxlcg==?= <j@example.org>\r\n"));
	assert_non_null(strstr(out.data, "Subject: =?utf-8?B?R3LDvMOfZQ==?= aus =?utf-8?B?S8O2bG4=?=\r\n"));
	assert_non_null(strstr(out.data, "application/pdf; name*=utf-8''r%C3%A9sum%C3%A9.pdf\r\n"));
	/* the top-level header is left alone (SMTPUTF8 may carry it) */
	const char *top = "Subject: \xc3\xa9t\xc3\xa9\r\n\r\nplain\r\n";
	assert_int_equal(convert(top, strlen(top), MIME7BIT_8BIT, &out, &rep, err), 0);
	buf_free(&out);
}

static void long_header_lines_are_folded_or_refused(void **state)
{
	(void)state;
	struct buf m = BUF_INIT, out = BUF_INIT;
	struct mime7bit_report rep;
	char err[256];
	buf_puts(&m, "To: ");
	for (int i = 0; i < 150; i++)
		buf_printf(&m, "user%03d@example.com, ", i);
	buf_puts(&m, "last@example.com\r\nSubject: x\r\n\r\nbody\r\n");
	assert_int_equal(convert(m.data, m.len, MIME7BIT_8BIT, &out, &rep, err), 1);
	assert_int_equal(rep.headers_folded, 1);
	assert_7bit_lines(&out, 998);
	assert_non_null(strstr(out.data, "user149@example.com, last@example.com\r\nSubject: x\r\n\r\nbody\r\n"));
	buf_reset(&m);
	buf_puts(&m, "X-Token: ");
	for (int i = 0; i < 1100; i++)
		buf_putc(&m, 'a');
	buf_puts(&m, "\r\n\r\nbody\r\n");
	assert_int_equal(convert(m.data, m.len, MIME7BIT_8BIT, &out, &rep, err), -1);
	assert_non_null(strstr(err, "X-Token"));
	assert_non_null(strstr(err, "no whitespace to fold at"));
	buf_free(&m);
	buf_free(&out);
}

static void missing_separator_is_added(void **state)
{
	(void)state;
	struct buf out = BUF_INIT;
	struct mime7bit_report rep;
	char err[256];
	const char *m = "From: a@example.com\r\nSubject: x\r\nthis is the body\r\nmore\r\n";
	assert_int_equal(convert(m, strlen(m), 0, &out, &rep, err), 1);
	assert_string_equal(out.data, "From: a@example.com\r\nSubject: x\r\n\r\nthis is the body\r\nmore\r\n");
	const char *hdr_only = "From: a@example.com\r\nSubject: x\r\n";
	assert_int_equal(convert(hdr_only, strlen(hdr_only), 0, &out, &rep, err), 1);
	assert_string_equal(out.data, "From: a@example.com\r\nSubject: x\r\n\r\n");
	assert_true(mime7bit_needed(hdr_only, strlen(hdr_only), 0));
	buf_free(&out);
}

static void deep_nesting_nul_and_bare_cr_are_refused(void **state)
{
	(void)state;
	struct buf m = BUF_INIT, out = BUF_INIT;
	struct mime7bit_report rep;
	char err[256];
	for (int i = 0; i < 60; i++)
		buf_printf(&m, "Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n", i, i);
	buf_puts(&m, "Content-Type: text/plain\r\n\r\nleaf\r\n");
	for (int i = 59; i >= 0; i--)
		buf_printf(&m, "--b%d--\r\n", i);
	assert_int_equal(convert(m.data, m.len, MIME7BIT_8BIT, &out, &rep, err), -1);
	assert_string_equal(err, "MIME parts nested deeper than 50 levels");
	assert_int_equal(out.len, 0);
	const char nul[] = "Subject: x\r\n\r\na\0b\r\n";
	assert_int_equal(convert(nul, sizeof(nul) - 1, 0, &out, &rep, err), -1);
	assert_string_equal(err, "NUL octet in the message");
	const char *cr = "Subject: a\rb\r\n\r\nx\r\n";
	assert_int_equal(convert(cr, strlen(cr), 0, &out, &rep, err), -1);
	assert_string_equal(err, "bare CR in the message");
	buf_free(&m);
	buf_free(&out);
}

static void eightbit_preamble_is_dropped(void **state)
{
	(void)state;
	struct buf out = BUF_INIT;
	struct mime7bit_report rep;
	char err[256];
	const char *m = "Content-Type: multipart/mixed; boundary=b\r\n\r\n\xff\r\n--b\r\n\r\nx\r\n--b--\r\n";
	assert_int_equal(convert(m, strlen(m), MIME7BIT_8BIT, &out, &rep, err), 1);
	assert_string_equal(out.data, "Content-Type: multipart/mixed; boundary=b\r\n\r\n\r\n--b\r\n\r\nx\r\n--b--\r\n");
	assert_int_equal(rep.dropped, 1);
	char d[200];
	mime7bit_describe(&rep, d, sizeof(d));
	assert_string_equal(d, "preamble-epilogue-dropped:1");
	buf_free(&out);
}

static void header_fix_folds_encoded_fields_at_78(void **state)
{
	(void)state;
	struct buf out = BUF_INIT;
	char err[256];
	struct buf f = BUF_INIT;
	buf_puts(&f, "Subject:");
	for (int i = 0; i < 40; i++)
		buf_puts(&f, " \xc3\xa9t\xc3\xa9");
	buf_puts(&f, "\r\n");
	int rc = mime_header_fix(f.data, f.len, 1, &out, err, sizeof(err));
	assert_int_equal(rc, MIME_HDR_ENCODED | MIME_HDR_FOLDED);
	assert_7bit_lines(&out, 78);
	assert_int_equal(mime_header_fix("X: y\r\n", 6, 1, &out, err, sizeof(err)), 0);
	buf_free(&out);
	buf_free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(eightbit_leaf_becomes_quoted_printable),
		cmocka_unit_test(qp_round_trips_and_keeps_to_76),
		cmocka_unit_test(long_text_line_without_mime_version_gets_qp),
		cmocka_unit_test(long_lines_in_parts_are_reencoded_by_type),
		cmocka_unit_test(eightbit_headers_of_an_attached_message_are_encoded),
		cmocka_unit_test(long_header_lines_are_folded_or_refused),
		cmocka_unit_test(missing_separator_is_added),
		cmocka_unit_test(deep_nesting_nul_and_bare_cr_are_refused),
		cmocka_unit_test(eightbit_preamble_is_dropped),
		cmocka_unit_test(header_fix_folds_encoded_fields_at_78),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
