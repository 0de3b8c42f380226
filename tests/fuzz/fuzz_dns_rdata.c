/* libFuzzer target: DNS record-data decoders and name decoding with
 * compression on fuzzed bytes (as one rdata and as a whole packet), the
 * name text helpers, and resolver_decode() of length-prefixed items. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "dns/dns.h"
#include "dns/resolver.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ITEMS 16

static void names_in_packet(const uint8_t *data, size_t size)
{
	char name[DNS_NAME_TEXT_MAX];
	unsigned char wire[DNS_WIRE_NAME_MAX];
	size_t end, wlen;
	unsigned pref;
	for (size_t off = 0; off < size && off < 64; off++) {
		if (dns_name_decode(data, size, off, name, sizeof(name), &end) == 0) {
			if (end <= off || end > size)
				__builtin_trap();
			/* presentation format maps back to a valid wire name */
			if (dns_name_to_wire(name, wire, &wlen) < 0 || wlen > DNS_WIRE_NAME_MAX)
				__builtin_trap();
		}
		dns_rdata_mx(data, size, off, size - off, &pref, name, sizeof(name));
		dns_rdata_name(data, size, off, size - off, name, sizeof(name));
	}
}

static void items(const uint8_t *data, size_t size)
{
	static const int types[] = { DNS_TYPE_TXT, DNS_TYPE_A, DNS_TYPE_AAAA, DNS_TYPE_MX,
				     DNS_TYPE_PTR, DNS_TYPE_SPF };
	char *item[MAX_ITEMS + 1];
	int len[MAX_ITEMS];
	size_t n = 0, pos = 1;
	if (size == 0)
		return;
	while (n < MAX_ITEMS && pos < size) {
		size_t l = data[pos++];
		if (l > size - pos)
			l = size - pos;
		item[n] = malloc(l ? l : 1);
		if (item[n] == NULL)
			break;
		memcpy(item[n], data + pos, l);
		len[n++] = (int)l;
		pos += l;
	}
	item[n] = NULL;
	struct dns_result res;
	memset(&res, 0, sizeof(res));
	resolver_decode(types[data[0] % 6], item, len, &res);
	resolver_result_clear(&res);
	for (size_t i = 0; i < n; i++)
		free(item[i]);
}

static void text_helpers(const uint8_t *data, size_t size)
{
	unsigned char wire[DNS_WIRE_NAME_MAX];
	size_t wlen;
	struct buf b = BUF_INIT;
	char *s = malloc(size + 1);
	if (s == NULL)
		return;
	memcpy(s, data, size);
	s[size] = '\0';
	dns_name_to_wire(s, wire, &wlen);
	dns_name_equal(s, "example.com");
	dns_name_is_subdomain(s, "example.com");
	dns_name_is_subdomain("a.b.example.com", s);
	dns_name_escape(s, strlen(s), &b);
	buf_free(&b);
	struct dns_addr a;
	if (dns_addr_parse(s, &a) == 0) {
		char rev[80];
		dns_addr_unmap(&a);
		if (dns_reverse_name(&a, rev, sizeof(rev)) < 0)
			__builtin_trap();
	}
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf b = BUF_INIT;
	struct dns_addr a;
	char name[DNS_NAME_TEXT_MAX];
	unsigned pref;

	dns_rdata_txt(data, size, &b);
	if (b.len > size)
		__builtin_trap();
	buf_free(&b);
	dns_rdata_a(data, size, &a);
	dns_rdata_aaaa(data, size, &a);
	dns_rdata_mx(data, size, 0, size, &pref, name, sizeof(name));
	dns_rdata_name(data, size, 0, size, name, sizeof(name));
	names_in_packet(data, size);
	items(data, size);
	text_helpers(data, size);
	return 0;
}
