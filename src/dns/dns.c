/* dns: record-data decoding and name helpers; see dns.h for the contract. */
#include "dns.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "xmalloc.h"

/* Appends one label byte to out in presentation format; -1 when full. */
static int name_put_byte(char *out, size_t outlen, size_t *o, unsigned char b)
{
	if (b == '.' || b == '\\' || b < 0x21 || b > 0x7e) {
		if (*o + 4 >= outlen)
			return -1;
		out[(*o)++] = '\\';
		out[(*o)++] = (char)('0' + b / 100);
		out[(*o)++] = (char)('0' + b / 10 % 10);
		out[(*o)++] = (char)('0' + b % 10);
		return 0;
	}
	if (*o + 1 >= outlen)
		return -1;
	out[(*o)++] = (char)b;
	return 0;
}

static int name_put_label(char *out, size_t outlen, size_t *o,
			  const unsigned char *label, size_t n)
{
	if (*o > 0) {
		if (*o + 1 >= outlen)
			return -1;
		out[(*o)++] = '.';
	}
	for (size_t i = 0; i < n; i++)
		if (name_put_byte(out, outlen, o, label[i]) < 0)
			return -1;
	return 0;
}

int dns_name_decode(const unsigned char *msg, size_t msglen, size_t off,
		    char *out, size_t outlen, size_t *endp)
{
	size_t pos = off, seg_start = off, o = 0, wire = 1, end = 0;
	int jumped = 0;

	if (outlen < 2)
		return -1;
	for (;;) {
		if (pos >= msglen)
			return -1;
		unsigned c = msg[pos];
		if (c == 0) {
			if (!jumped)
				end = pos + 1;
			break;
		}
		if ((c & 0xC0) == 0xC0) {
			if (pos + 1 >= msglen)
				return -1;
			size_t target = ((size_t)(c & 0x3F) << 8) | msg[pos + 1];
			/* strictly before the current segment: no loops */
			if (target >= seg_start)
				return -1;
			if (!jumped)
				end = pos + 2;
			jumped = 1;
			pos = seg_start = target;
			continue;
		}
		if (c & 0xC0)
			return -1;              /* extended label types */
		if (c > msglen - pos - 1)
			return -1;
		wire += 1 + c;
		if (wire > DNS_WIRE_NAME_MAX)
			return -1;
		if (name_put_label(out, outlen, &o, msg + pos + 1, c) < 0)
			return -1;
		pos += 1 + c;
	}
	if (o == 0)
		out[o++] = '.';
	out[o] = '\0';
	if (endp)
		*endp = end;
	return 0;
}

int dns_rdata_txt(const unsigned char *rd, size_t rdlen, struct buf *out)
{
	size_t pos = 0;
	buf_append(out, "", 0);         /* data is never NULL afterwards */
	while (pos < rdlen) {
		size_t n = rd[pos];
		if (n > rdlen - pos - 1)
			return -1;
		buf_append(out, rd + pos + 1, n);
		pos += 1 + n;
	}
	return 0;
}

int dns_rdata_a(const unsigned char *rd, size_t rdlen, struct dns_addr *out)
{
	if (rdlen != 4)
		return -1;
	memset(out, 0, sizeof(*out));
	out->family = AF_INET;
	memcpy(out->a, rd, 4);
	return 0;
}

int dns_rdata_aaaa(const unsigned char *rd, size_t rdlen, struct dns_addr *out)
{
	if (rdlen != 16)
		return -1;
	out->family = AF_INET6;
	memcpy(out->a, rd, 16);
	return 0;
}

/* Checks that [off, off + rdlen) lies inside msg. */
static int rdata_in_msg(size_t msglen, size_t off, size_t rdlen)
{
	return off <= msglen && rdlen <= msglen - off;
}

int dns_rdata_mx(const unsigned char *msg, size_t msglen, size_t off, size_t rdlen,
		 unsigned *pref, char *host, size_t hostlen)
{
	size_t end;
	if (!rdata_in_msg(msglen, off, rdlen) || rdlen < 3)
		return -1;
	*pref = (unsigned)msg[off] << 8 | msg[off + 1];
	/* the name may point backwards into msg, but not past its rdata */
	if (dns_name_decode(msg, off + rdlen, off + 2, host, hostlen, &end) < 0)
		return -1;
	return end == off + rdlen ? 0 : -1;
}

int dns_rdata_name(const unsigned char *msg, size_t msglen, size_t off, size_t rdlen,
		   char *out, size_t outlen)
{
	size_t end;
	if (!rdata_in_msg(msglen, off, rdlen) || rdlen < 1)
		return -1;
	if (dns_name_decode(msg, off + rdlen, off, out, outlen, &end) < 0)
		return -1;
	return end == off + rdlen ? 0 : -1;
}

/* Reads one label byte of presentation format at *pp; -1 on a bad escape. */
static int text_label_byte(const char **pp, unsigned char *b)
{
	const unsigned char *p = (const unsigned char *)*pp;
	if (p[0] != '\\') {
		*b = p[0];
		*pp += 1;
		return 0;
	}
	if (isdigit(p[1]) && isdigit(p[2]) && isdigit(p[3])) {
		unsigned v = (unsigned)(p[1] - '0') * 100 + (unsigned)(p[2] - '0') * 10 +
			     (unsigned)(p[3] - '0');
		if (v > 255)
			return -1;
		*b = (unsigned char)v;
		*pp += 4;
		return 0;
	}
	if (p[1] == '\0' || isdigit(p[1]))
		return -1;
	*b = p[1];
	*pp += 2;
	return 0;
}

int dns_name_to_wire(const char *text, unsigned char *out, size_t *wlen)
{
	size_t w = 0;
	const char *p = text;

	if (strcmp(text, ".") == 0) {
		out[0] = 0;
		*wlen = 1;
		return 0;
	}
	while (*p) {
		size_t lenpos = w++;
		unsigned llen = 0;
		while (*p && *p != '.') {
			unsigned char b;
			if (text_label_byte(&p, &b) < 0)
				return -1;
			if (llen == DNS_LABEL_MAX || w >= DNS_WIRE_NAME_MAX - 1)
				return -1;
			out[w++] = b;
			llen++;
		}
		if (llen == 0)
			return -1;
		out[lenpos] = (unsigned char)llen;
		if (*p == '.')
			p++;
	}
	if (w == 0)
		return -1;
	out[w++] = 0;
	*wlen = w;
	return 0;
}

int dns_name_valid(const char *text)
{
	unsigned char wire[DNS_WIRE_NAME_MAX];
	size_t n;
	return dns_name_to_wire(text, wire, &n) == 0;
}

static int wire_equal(const unsigned char *a, const unsigned char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (tolower(a[i]) != tolower(b[i]))
			return 0;
	return 1;
}

static size_t wire_labels(const unsigned char *w)
{
	size_t n = 0;
	for (size_t i = 0; w[i]; i += 1 + w[i])
		n++;
	return n;
}

int dns_name_equal(const char *a, const char *b)
{
	unsigned char wa[DNS_WIRE_NAME_MAX], wb[DNS_WIRE_NAME_MAX];
	size_t na, nb;
	if (dns_name_to_wire(a, wa, &na) < 0 || dns_name_to_wire(b, wb, &nb) < 0)
		return 0;
	return na == nb && wire_equal(wa, wb, na);
}

int dns_name_is_subdomain(const char *name, const char *parent)
{
	unsigned char wn[DNS_WIRE_NAME_MAX], wp[DNS_WIRE_NAME_MAX];
	size_t nn, np, skip, i = 0;
	if (dns_name_to_wire(name, wn, &nn) < 0 || dns_name_to_wire(parent, wp, &np) < 0)
		return 0;
	size_t ln = wire_labels(wn), lp = wire_labels(wp);
	if (ln < lp)
		return 0;
	for (skip = ln - lp; skip > 0; skip--)
		i += 1 + wn[i];
	return nn - i == np && wire_equal(wn + i, wp, np);
}

void dns_name_escape(const char *raw, size_t len, struct buf *out)
{
	buf_append(out, "", 0);
	for (size_t i = 0; i < len; i++) {
		unsigned char b = (unsigned char)raw[i];
		if (b == '.' || (b != '\\' && b >= 0x21 && b <= 0x7e))
			buf_putc(out, (char)b);
		else
			buf_printf(out, "\\%03u", b);
	}
}

int dns_addr_parse(const char *text, struct dns_addr *out)
{
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, text, out->a) == 1) {
		out->family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, text, out->a) == 1) {
		out->family = AF_INET6;
		return 0;
	}
	return -1;
}

void dns_addr_unmap(struct dns_addr *a)
{
	static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	if (a->family != AF_INET6 || memcmp(a->a, mapped, sizeof(mapped)) != 0)
		return;
	memmove(a->a, a->a + 12, 4);
	memset(a->a + 4, 0, 12);
	a->family = AF_INET;
}

int dns_addr_match(const struct dns_addr *a, const struct dns_addr *net, int prefix)
{
	int bits = a->family == AF_INET ? 32 : 128;
	if (a->family != net->family || prefix < 0 || prefix > bits)
		return 0;
	int full = prefix / 8, rest = prefix % 8;
	if (memcmp(a->a, net->a, (size_t)full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	unsigned char mask = (unsigned char)(0xff << (8 - rest));
	return (a->a[full] & mask) == (net->a[full] & mask);
}

int dns_reverse_name(const struct dns_addr *a, char *out, size_t outlen)
{
	static const char hex[] = "0123456789abcdef";
	int n;
	if (a->family == AF_INET) {
		n = snprintf(out, outlen, "%u.%u.%u.%u.in-addr.arpa",
			     a->a[3], a->a[2], a->a[1], a->a[0]);
		return n < 0 || (size_t)n >= outlen ? -1 : 0;
	}
	if (outlen < 32 * 2 + sizeof("ip6.arpa"))
		return -1;
	size_t o = 0;
	for (int i = 15; i >= 0; i--) {
		out[o++] = hex[a->a[i] & 0xf];
		out[o++] = '.';
		out[o++] = hex[a->a[i] >> 4];
		out[o++] = '.';
	}
	memcpy(out + o, "ip6.arpa", sizeof("ip6.arpa"));
	return 0;
}

const char *dns_type_name(int type, char *tmp, size_t tmplen)
{
	switch (type) {
	case DNS_TYPE_A: return "A";
	case DNS_TYPE_NS: return "NS";
	case DNS_TYPE_SOA: return "SOA";
	case DNS_TYPE_CNAME: return "CNAME";
	case DNS_TYPE_PTR: return "PTR";
	case DNS_TYPE_MX: return "MX";
	case DNS_TYPE_TXT: return "TXT";
	case DNS_TYPE_AAAA: return "AAAA";
	case DNS_TYPE_SPF: return "SPF";
	}
	int n = snprintf(tmp, tmplen, "TYPE%d", type);
	return n < 0 || (size_t)n >= tmplen ? "TYPE?" : tmp;
}

char **dns_mx_hosts(const struct dns_mx *mx, size_t n, size_t *count)
{
	const struct dns_mx **by = xcalloc(n + 1, sizeof(*by));
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {  /* insertion sort: stable, and n is a handful */
		if (strcmp(mx[i].host, ".") == 0)
			continue;
		size_t k = m++;
		for (; k > 0 && by[k - 1]->pref > mx[i].pref; k--)
			by[k] = by[k - 1];
		by[k] = &mx[i];
	}
	char **hosts = xcalloc(m + 1, sizeof(char *));
	for (size_t i = 0; i < m; i++) {
		size_t len = strlen(by[i]->host);
		hosts[i] = xstrndup(by[i]->host, len > 1 && by[i]->host[len - 1] == '.' ? len - 1 : len);
	}
	free(by);
	*count = m;
	return hosts;
}

void dns_hosts_free(char **hosts)
{
	for (size_t i = 0; hosts && hosts[i]; i++)
		free(hosts[i]);
	free(hosts);
}
