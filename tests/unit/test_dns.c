/* Unit tests: DNS record-data decoding (TXT, A/AAAA, MX, PTR), name
 * decoding with compression (loops, forward pointers, truncation), name
 * text helpers, address matching, and resolver_decode() of libunbound's
 * rdata arrays. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "dns/dns.h"
#include "dns/resolver.h"

#define U(s) ((const unsigned char *)(s))

static void test_name_plain_and_root(void **st)
{
	char out[DNS_NAME_TEXT_MAX];
	size_t end;
	(void)st;
	const unsigned char n[] = "\4mail\7example\3com";   /* + the final NUL */
	assert_int_equal(dns_name_decode(n, sizeof(n), 0, out, sizeof(out), &end), 0);
	assert_string_equal(out, "mail.example.com");
	assert_int_equal(end, sizeof(n));
	assert_int_equal(dns_name_decode(U(""), 1, 0, out, sizeof(out), &end), 0);
	assert_string_equal(out, ".");
	assert_int_equal(end, 1);
}

static void test_name_escapes_odd_bytes(void **st)
{
	char out[DNS_NAME_TEXT_MAX];
	(void)st;
	const unsigned char n[] = "\5a.b\\ \2\xc3\xa9\3com";
	assert_int_equal(dns_name_decode(n, sizeof(n), 0, out, sizeof(out), NULL), 0);
	assert_string_equal(out, "a\\046b\\092\\032.\\195\\169.com");
	/* and back to the same wire form */
	unsigned char wire[DNS_WIRE_NAME_MAX];
	size_t wlen;
	assert_int_equal(dns_name_to_wire(out, wire, &wlen), 0);
	assert_int_equal(wlen, sizeof(n));
	assert_memory_equal(wire, n, sizeof(n));
}

static void test_name_compression(void **st)
{
	char out[DNS_NAME_TEXT_MAX];
	size_t end;
	(void)st;
	/* offset 0: example.com; offset 13: mail + pointer to 0 */
	const unsigned char pkt[] = "\7example\3com\0\4mail\xc0\x00";
	assert_int_equal(dns_name_decode(pkt, sizeof(pkt) - 1, 13, out, sizeof(out), &end), 0);
	assert_string_equal(out, "mail.example.com");
	assert_int_equal(end, 20);          /* just after the pointer */
}

static void test_name_pointer_loops_and_forward(void **st)
{
	char out[DNS_NAME_TEXT_MAX];
	(void)st;
	const unsigned char self[] = { 0xc0, 0x00 };
	assert_int_equal(dns_name_decode(self, sizeof(self), 0, out, sizeof(out), NULL), -1);
	/* label then a pointer back to that label: a loop through the label */
	const unsigned char loop[] = { 1, 'a', 0xc0, 0x00 };
	assert_int_equal(dns_name_decode(loop, sizeof(loop), 2, out, sizeof(out), NULL), -1);
	/* two pointers pointing at each other */
	const unsigned char mutual[] = { 0xc0, 0x02, 0xc0, 0x00 };
	assert_int_equal(dns_name_decode(mutual, sizeof(mutual), 0, out, sizeof(out), NULL), -1);
	assert_int_equal(dns_name_decode(mutual, sizeof(mutual), 2, out, sizeof(out), NULL), -1);
	/* a forward pointer */
	const unsigned char fwd[] = { 0xc0, 0x02, 0 };
	assert_int_equal(dns_name_decode(fwd, sizeof(fwd), 0, out, sizeof(out), NULL), -1);
}

static void test_name_truncated_and_bad_labels(void **st)
{
	char out[DNS_NAME_TEXT_MAX];
	(void)st;
	assert_int_equal(dns_name_decode(U("\4mai"), 4, 0, out, sizeof(out), NULL), -1);
	assert_int_equal(dns_name_decode(U("\4mail"), 5, 0, out, sizeof(out), NULL), -1);
	assert_int_equal(dns_name_decode(U("\xc0"), 1, 0, out, sizeof(out), NULL), -1);
	assert_int_equal(dns_name_decode(U("\x41xx"), 4, 0, out, sizeof(out), NULL), -1);
	assert_int_equal(dns_name_decode(U(""), 0, 0, out, sizeof(out), NULL), -1);
	/* a small output buffer is an error, not an overflow */
	assert_int_equal(dns_name_decode(U("\4mail\0"), 6, 0, out, 4, NULL), -1);
	/* 5 labels of 63 octets: over 255 octets */
	unsigned char big[5 * 64 + 1];
	memset(big, 'a', sizeof(big));
	for (int i = 0; i < 5; i++)
		big[i * 64] = 63;
	big[sizeof(big) - 1] = 0;
	assert_int_equal(dns_name_decode(big, sizeof(big), 0, out, sizeof(out), NULL), -1);
	/* 3 labels of 63 and one of 61: exactly 255 octets */
	big[3 * 64] = 61;
	big[3 * 64 + 62] = 0;
	assert_int_equal(dns_name_decode(big, 3 * 64 + 63, 0, out, sizeof(out), NULL), 0);
}

static void test_txt_strings(void **st)
{
	struct buf b = BUF_INIT;
	(void)st;
	assert_int_equal(dns_rdata_txt(U("\6v=spf1\5 -all"), 13, &b), 0);
	assert_int_equal(b.len, 11);
	assert_string_equal(b.data, "v=spf1 -all");
	buf_free(&b);
	/* no strings at all (malformed but seen): the empty text */
	assert_int_equal(dns_rdata_txt(U(""), 0, &b), 0);
	assert_non_null(b.data);
	assert_int_equal(b.len, 0);
	buf_free(&b);
	/* empty strings glue to nothing */
	assert_int_equal(dns_rdata_txt(U("\0\3abc\0"), 6, &b), 0);
	assert_string_equal(b.data, "abc");
	buf_free(&b);
	/* a NUL inside a string is kept, with its length */
	assert_int_equal(dns_rdata_txt(U("\3a\0b"), 4, &b), 0);
	assert_int_equal(b.len, 3);
	assert_memory_equal(b.data, "a\0b", 3);
	buf_free(&b);
}

static void test_txt_bad_lengths(void **st)
{
	struct buf b = BUF_INIT;
	(void)st;
	assert_int_equal(dns_rdata_txt(U("\5abc"), 4, &b), -1);
	buf_free(&b);
	assert_int_equal(dns_rdata_txt(U("\3abc\1"), 5, &b), -1);
	buf_free(&b);
	assert_int_equal(dns_rdata_txt(U("\xff"), 1, &b), -1);
	buf_free(&b);
}

static void test_addresses(void **st)
{
	struct dns_addr a;
	(void)st;
	assert_int_equal(dns_rdata_a(U("\xc0\0\2\1"), 4, &a), 0);
	assert_int_equal(a.family, AF_INET);
	assert_int_equal(a.a[0], 192);
	assert_int_equal(dns_rdata_a(U("\xc0\0\2"), 3, &a), -1);
	assert_int_equal(dns_rdata_a(U("\xc0\0\2\1\0"), 5, &a), -1);
	assert_int_equal(dns_rdata_aaaa(U("0123456789abcdef"), 16, &a), 0);
	assert_int_equal(a.family, AF_INET6);
	assert_int_equal(dns_rdata_aaaa(U("0123456789abcde"), 15, &a), -1);
}

static void test_mx(void **st)
{
	char host[DNS_NAME_TEXT_MAX];
	unsigned pref;
	(void)st;
	const unsigned char mx[] = "\0\12\2mx\7example\3com";
	assert_int_equal(dns_rdata_mx(mx, sizeof(mx), 0, sizeof(mx), &pref, host, sizeof(host)), 0);
	assert_int_equal(pref, 10);
	assert_string_equal(host, "mx.example.com");
	/* null MX (RFC 7505) */
	assert_int_equal(dns_rdata_mx(U("\0\0\0"), 3, 0, 3, &pref, host, sizeof(host)), 0);
	assert_string_equal(host, ".");
	/* too short, trailing garbage, name running past the rdata */
	assert_int_equal(dns_rdata_mx(U("\0\1"), 2, 0, 2, &pref, host, sizeof(host)), -1);
	assert_int_equal(dns_rdata_mx(U("\0\1\0x"), 4, 0, 4, &pref, host, sizeof(host)), -1);
	assert_int_equal(dns_rdata_mx(mx, sizeof(mx), 0, 8, &pref, host, sizeof(host)), -1);
	/* rdlen beyond the message */
	assert_int_equal(dns_rdata_mx(mx, 5, 0, sizeof(mx), &pref, host, sizeof(host)), -1);
	/* rdata alone cannot point outside itself */
	assert_int_equal(dns_rdata_mx(U("\0\1\xc0\x0c"), 4, 0, 4, &pref, host, sizeof(host)), -1);
}

static void test_mx_compressed_in_packet(void **st)
{
	char host[DNS_NAME_TEXT_MAX];
	unsigned pref;
	(void)st;
	/* offset 0: example.com; offset 13: MX rdata "5 mx.<ptr 0>" */
	const unsigned char pkt[] = "\7example\3com\0\0\5\2mx\xc0\x00";
	assert_int_equal(dns_rdata_mx(pkt, 20, 13, 7, &pref, host, sizeof(host)), 0);
	assert_int_equal(pref, 5);
	assert_string_equal(host, "mx.example.com");
	/* the same rdata claiming one more octet than its name uses */
	assert_int_equal(dns_rdata_mx(pkt, 21, 13, 8, &pref, host, sizeof(host)), -1);
}

static void test_ptr(void **st)
{
	char out[DNS_NAME_TEXT_MAX];
	(void)st;
	const unsigned char p[] = "\4mail\7Example\3com";
	assert_int_equal(dns_rdata_name(p, sizeof(p), 0, sizeof(p), out, sizeof(out)), 0);
	assert_string_equal(out, "mail.Example.com");
	assert_int_equal(dns_rdata_name(p, sizeof(p), 0, 0, out, sizeof(out)), -1);
	assert_int_equal(dns_rdata_name(p, sizeof(p), 0, sizeof(p) - 1, out, sizeof(out)), -1);
}

static void test_name_to_wire(void **st)
{
	unsigned char w[DNS_WIRE_NAME_MAX];
	size_t n;
	char label64[80];
	(void)st;
	assert_int_equal(dns_name_to_wire("example.com", w, &n), 0);
	assert_int_equal(n, 13);
	assert_int_equal(dns_name_to_wire("example.com.", w, &n), 0);
	assert_int_equal(n, 13);
	assert_int_equal(dns_name_to_wire(".", w, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(dns_name_to_wire("a\\.b.c", w, &n), 0);
	assert_int_equal(w[0], 3);
	assert_int_equal(dns_name_to_wire("a\\032b.c", w, &n), 0);
	assert_int_equal(w[2], ' ');
	assert_int_equal(dns_name_to_wire("", w, &n), -1);
	assert_int_equal(dns_name_to_wire("a..b", w, &n), -1);
	assert_int_equal(dns_name_to_wire(".a", w, &n), -1);
	assert_int_equal(dns_name_to_wire("a\\256.b", w, &n), -1);
	assert_int_equal(dns_name_to_wire("a\\1.b", w, &n), -1);
	assert_int_equal(dns_name_to_wire("a\\", w, &n), -1);
	memset(label64, 'x', 64);
	memcpy(label64 + 64, ".com", 5);
	assert_int_equal(dns_name_to_wire(label64, w, &n), -1);
	assert_int_equal(dns_name_to_wire(label64 + 1, w, &n), 0);
	char big[300];
	for (int i = 0; i < 128; i++)
		memcpy(big + 2 * i, "a.", 2);
	memcpy(big + 256, "b", 2);          /* 129 labels: 259 octets */
	assert_int_equal(dns_name_to_wire(big, w, &n), -1);
	assert_int_equal(dns_name_to_wire(big + 8, w, &n), 0);   /* 125: 251 */
}

static void test_name_compare(void **st)
{
	(void)st;
	assert_true(dns_name_equal("Mail.Example.COM", "mail.example.com."));
	assert_false(dns_name_equal("mail.example.com", "mail.example.org"));
	assert_true(dns_name_is_subdomain("a.b.Example.com", "example.COM"));
	assert_true(dns_name_is_subdomain("example.com", "example.com"));
	assert_false(dns_name_is_subdomain("xexample.com", "example.com"));
	assert_false(dns_name_is_subdomain("com", "example.com"));
	/* an escaped dot is not a label boundary */
	assert_true(dns_name_is_subdomain("a\\.example.com", "com"));
	assert_false(dns_name_is_subdomain("a\\.example.com", "example.com"));
	assert_false(dns_name_equal("a..b", "a..b"));     /* invalid names */
}

static void test_name_escape(void **st)
{
	struct buf b = BUF_INIT;
	(void)st;
	const char *raw = "macro%percent  space%20url-space.example.com";
	dns_name_escape(raw, strlen(raw), &b);
	assert_string_equal(b.data, "macro%percent\\032\\032space%20url-space.example.com");
	buf_reset(&b);
	dns_name_escape("a\\b:c/d.x", 9, &b);
	assert_string_equal(b.data, "a\\092b:c/d.x");
	buf_free(&b);
}

static void test_addr_match_and_reverse(void **st)
{
	struct dns_addr ip, net;
	char rev[80];
	(void)st;
	assert_int_equal(dns_addr_parse("192.0.2.200", &ip), 0);
	assert_int_equal(dns_addr_parse("192.0.2.0", &net), 0);
	assert_true(dns_addr_match(&ip, &net, 24));
	assert_true(dns_addr_match(&ip, &net, 0));
	assert_true(dns_addr_match(&ip, &net, 25) == 0);
	assert_false(dns_addr_match(&ip, &net, 32));
	assert_false(dns_addr_match(&ip, &net, 33));
	assert_int_equal(dns_addr_parse("2001:db8::1", &net), 0);
	assert_false(dns_addr_match(&ip, &net, 0));            /* families differ */
	assert_int_equal(dns_addr_parse("2001:db8:ffff::", &ip), 0);
	assert_true(dns_addr_match(&ip, &net, 32));
	assert_false(dns_addr_match(&ip, &net, 33));
	assert_int_equal(dns_addr_parse("::ffff:1.2.3.4", &ip), 0);
	assert_int_equal(ip.family, AF_INET6);
	dns_addr_unmap(&ip);
	assert_int_equal(ip.family, AF_INET);
	assert_int_equal(dns_reverse_name(&ip, rev, sizeof(rev)), 0);
	assert_string_equal(rev, "4.3.2.1.in-addr.arpa");
	assert_int_equal(dns_addr_parse("2001:db8::cb01", &ip), 0);
	assert_int_equal(dns_reverse_name(&ip, rev, sizeof(rev)), 0);
	assert_string_equal(rev, "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa");
	assert_int_equal(dns_reverse_name(&ip, rev, 20), -1);
	assert_int_equal(dns_addr_parse("1.2.3", &ip), -1);
	assert_int_equal(dns_addr_parse("example.com", &ip), -1);
}

static void test_resolver_decode(void **st)
{
	struct dns_result res;
	(void)st;
	char txt1[] = "\6v=spf1\5 -all", txt2[] = "";
	char *data[] = { txt1, txt2, NULL };
	int len[] = { 13, 0 };
	memset(&res, 0, sizeof(res));
	assert_int_equal(resolver_decode(DNS_TYPE_TXT, data, len, &res), 0);
	assert_int_equal(res.n, 2);
	assert_string_equal(res.txt[0].data, "v=spf1 -all");
	assert_int_equal(res.txt[1].len, 0);
	resolver_result_clear(&res);
	assert_null(res.txt);

	char mx1[] = "\0\1\2mx\0", bad[] = "\0\1\2mx";
	char *mxs[] = { mx1, bad, NULL };
	int mxlen[] = { 6, 5 };
	assert_int_equal(resolver_decode(DNS_TYPE_MX, mxs, mxlen, &res), -1);
	resolver_result_clear(&res);         /* frees the decoded first one */

	char *none[] = { NULL };
	assert_int_equal(resolver_decode(DNS_TYPE_A, none, NULL, &res), 0);
	assert_int_equal(res.n, 0);
	int neg[] = { -1 };
	char *one[] = { txt1, NULL };
	assert_int_equal(resolver_decode(DNS_TYPE_A, one, neg, &res), -1);
	resolver_result_clear(&res);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_plain_and_root),
		cmocka_unit_test(test_name_escapes_odd_bytes),
		cmocka_unit_test(test_name_compression),
		cmocka_unit_test(test_name_pointer_loops_and_forward),
		cmocka_unit_test(test_name_truncated_and_bad_labels),
		cmocka_unit_test(test_txt_strings),
		cmocka_unit_test(test_txt_bad_lengths),
		cmocka_unit_test(test_addresses),
		cmocka_unit_test(test_mx),
		cmocka_unit_test(test_mx_compressed_in_packet),
		cmocka_unit_test(test_ptr),
		cmocka_unit_test(test_name_to_wire),
		cmocka_unit_test(test_name_compare),
		cmocka_unit_test(test_name_escape),
		cmocka_unit_test(test_addr_match_and_reverse),
		cmocka_unit_test(test_resolver_decode),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
