/*
 * dns: decoding of the DNS record data outpost uses (TXT, A, AAAA, MX,
 * PTR/CNAME/NS) and domain-name helpers.
 * Contract: every parser here takes untrusted bytes, never reads outside
 * [msg, msg + msglen), follows compression pointers only strictly
 * backwards (so a pointer loop cannot hang it), and returns 0 on success
 * or -1 on malformed input.  Names in text form are in presentation
 * format: labels joined by '.', no trailing dot (the root is "."), and
 * inside a label the bytes '.', '\\' and anything outside 0x21..0x7e are
 * written as \DDD (three decimal digits), so every text name maps back to
 * exactly one wire name.  No function here allocates except into the
 * caller's struct buf.
 */
#ifndef OUTPOST_DNS_H
#define OUTPOST_DNS_H
#include <stddef.h>

#include "buf.h"

#define DNS_TYPE_A     1
#define DNS_TYPE_NS    2
#define DNS_TYPE_SOA   6
#define DNS_TYPE_CNAME 5
#define DNS_TYPE_PTR   12
#define DNS_TYPE_MX    15
#define DNS_TYPE_TXT   16
#define DNS_TYPE_AAAA  28
#define DNS_TYPE_SPF   99

#define DNS_RCODE_NOERROR  0
#define DNS_RCODE_FORMERR  1
#define DNS_RCODE_SERVFAIL 2
#define DNS_RCODE_NXDOMAIN 3
#define DNS_RCODE_REFUSED  5

#define DNS_WIRE_NAME_MAX 255   /* octets, RFC 1035 */
#define DNS_LABEL_MAX     63
/* Longest presentation-format name: 255 octets, each possibly \DDD. */
#define DNS_NAME_TEXT_MAX (DNS_WIRE_NAME_MAX * 4 + 1)

struct dns_addr {
	int family;              /* AF_INET or AF_INET6 */
	unsigned char a[16];     /* network order; 4 bytes used for AF_INET */
};

struct dns_mx {
	unsigned pref;
	char *host;              /* presentation format; "." for a null MX */
};

/* The host names of n MX records in preference order (equal preferences
 * keep their order), without the null MX "." and without a final dot:
 * a new NULL-terminated array of copies (*count of them); free it with
 * dns_hosts_free(). */
char **dns_mx_hosts(const struct dns_mx *mx, size_t n, size_t *count);
void dns_hosts_free(char **hosts);

/* Decodes the name at msg[off]; msg is a whole packet or one rdata alone.
 * Writes presentation format to out (outlen >= DNS_NAME_TEXT_MAX is always
 * enough) and, when endp is not NULL, the offset just after the name where
 * it starts (after its first compression pointer, if any). */
int dns_name_decode(const unsigned char *msg, size_t msglen, size_t off,
		    char *out, size_t outlen, size_t *endp);

/* TXT rdata: the character-strings of one record concatenated with no
 * separator (RFC 7208 3.3), appended to out.  May contain NUL bytes; an
 * rdata of length 0 gives the empty string. */
int dns_rdata_txt(const unsigned char *rd, size_t rdlen, struct buf *out);
/* A (rdlen 4) and AAAA (rdlen 16). */
int dns_rdata_a(const unsigned char *rd, size_t rdlen, struct dns_addr *out);
int dns_rdata_aaaa(const unsigned char *rd, size_t rdlen, struct dns_addr *out);
/* MX at msg[off], rdlen octets: preference and host (into host, hostlen).
 * The name must end exactly at off + rdlen. */
int dns_rdata_mx(const unsigned char *msg, size_t msglen, size_t off, size_t rdlen,
		 unsigned *pref, char *host, size_t hostlen);
/* PTR, CNAME or NS at msg[off]: one name filling exactly rdlen octets. */
int dns_rdata_name(const unsigned char *msg, size_t msglen, size_t off, size_t rdlen,
		   char *out, size_t outlen);

/* Presentation format (escapes \DDD and \X allowed, trailing dot allowed)
 * to wire format; -1 for empty or over-long labels, names over 255 octets
 * or bad escapes.  out must hold DNS_WIRE_NAME_MAX octets. */
int dns_name_to_wire(const char *text, unsigned char *out, size_t *wlen);
/* 1 when name is a valid presentation-format name of at least one label. */
int dns_name_valid(const char *text);
/* 1 when a and b name the same node (ASCII case-insensitive), else 0. */
int dns_name_equal(const char *a, const char *b);
/* 1 when name equals parent or lies below it, else 0. */
int dns_name_is_subdomain(const char *name, const char *parent);
/* Raw text (labels split on '.', every other byte literal, as SPF builds
 * names) to presentation format, appended to out. */
void dns_name_escape(const char *raw, size_t len, struct buf *out);

/* Text address ("192.0.2.1", "2001:db8::1") to struct dns_addr; an
 * IPv4-mapped IPv6 address stays AF_INET6 (see dns_addr_unmap). */
int dns_addr_parse(const char *text, struct dns_addr *out);
/* Turns ::ffff:a.b.c.d into the IPv4 address a.b.c.d; else unchanged. */
void dns_addr_unmap(struct dns_addr *a);
/* 1 when a lies in net/prefix (same family only), else 0. */
int dns_addr_match(const struct dns_addr *a, const struct dns_addr *net, int prefix);
/* "4.3.2.1.in-addr.arpa" / 32 nibbles + ".ip6.arpa"; -1 if outlen is short. */
int dns_reverse_name(const struct dns_addr *a, char *out, size_t outlen);
/* Text of a record type for logs ("TXT", "A", ...; "TYPE<n>" otherwise). */
const char *dns_type_name(int type, char *tmp, size_t tmplen);

#endif
