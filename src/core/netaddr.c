/* netaddr: networks, loopback test, host:port; see netaddr.h. */
#include "netaddr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

int netmask_parse(const char *s, struct netmask *out)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(s, '/');
	size_t hlen = slash ? (size_t)(slash - s) : strlen(s);
	if (hlen == 0 || hlen >= sizeof(host))
		return -1;
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	memset(out, 0, sizeof(*out));
	int max;
	if (inet_pton(AF_INET, host, out->addr) == 1) {
		out->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, host, out->addr) == 1) {
		out->family = AF_INET6;
		max = 128;
	} else {
		return -1;
	}
	out->prefix = max;
	if (slash) {
		const char *p = slash + 1;
		if (*p < '0' || *p > '9' || strlen(p) > 3)
			return -1;
		char *end;
		long v = strtol(p, &end, 10);
		if (*end != '\0' || v < 0 || v > max)
			return -1;
		out->prefix = (int)v;
	}
	for (int bit = out->prefix; bit < max; bit++)
		out->addr[bit / 8] &= (unsigned char)~(0x80 >> (bit % 8));
	return 0;
}

static int prefix_equal(const unsigned char *a, const unsigned char *b, int prefix)
{
	int bytes = prefix / 8, rest = prefix % 8;
	if (memcmp(a, b, (size_t)bytes) != 0)
		return 0;
	if (rest == 0)
		return 1;
	unsigned char m = (unsigned char)(0xff << (8 - rest));
	return (a[bytes] & m) == (b[bytes] & m);
}

/* Reduces sa to (family, bytes), unmapping v4-mapped v6. */
static int sockaddr_bytes(const struct sockaddr *sa, unsigned char out[16])
{
	if (sa->sa_family == AF_INET) {
		memcpy(out, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		return AF_INET;
	}
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a)) {
			memcpy(out, a->s6_addr + 12, 4);
			return AF_INET;
		}
		memcpy(out, a->s6_addr, 16);
		return AF_INET6;
	}
	return -1;
}

int netmask_match_any(const struct netmask *masks, size_t n, const struct sockaddr *sa)
{
	unsigned char b[16];
	int fam = sockaddr_bytes(sa, b);
	for (size_t i = 0; i < n; i++)
		if (masks[i].family == fam && prefix_equal(masks[i].addr, b, masks[i].prefix))
			return 1;
	return 0;
}

int sockaddr_is_loopback(const struct sockaddr *sa)
{
	unsigned char b[16];
	int fam = sockaddr_bytes(sa, b);
	if (fam == AF_INET)
		return b[0] == 127;
	if (fam == AF_INET6)
		return IN6_IS_ADDR_LOOPBACK((const struct in6_addr *)b);
	return 0;
}

const char *sockaddr_ntop(const struct sockaddr *sa, char *out, size_t outlen)
{
	const void *src = NULL;
	if (sa->sa_family == AF_INET)
		src = &((const struct sockaddr_in *)sa)->sin_addr;
	else if (sa->sa_family == AF_INET6)
		src = &((const struct sockaddr_in6 *)sa)->sin6_addr;
	if (src == NULL || inet_ntop(sa->sa_family, src, out, (socklen_t)outlen) == NULL) {
		if (outlen)
			strncpy(out, sa->sa_family == AF_UNIX ? "local" : "unknown", outlen - 1), out[outlen - 1] = '\0';
	}
	return out;
}

int hostport_split(const char *s, char *host, size_t hostlen, char *port, size_t portlen)
{
	const char *colon, *hstart = s, *hend;
	if (*s == '[') {
		hend = strchr(s, ']');
		if (hend == NULL || hend[1] != ':')
			return -1;
		hstart = s + 1;
		colon = hend + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL || memchr(s, ':', (size_t)(colon - s)) != NULL)
			return -1;
		hend = colon;
	}
	size_t hl = (size_t)(hend - hstart), pl = strlen(colon + 1);
	if (hl == 0 || hl >= hostlen || pl == 0 || pl >= portlen || pl > 5)
		return -1;
	for (const char *p = colon + 1; *p; p++)
		if (*p < '0' || *p > '9')
			return -1;
	if (atoi(colon + 1) < 1 || atoi(colon + 1) > 65535)
		return -1;
	memcpy(host, hstart, hl);
	host[hl] = '\0';
	memcpy(port, colon + 1, pl + 1);
	return 0;
}
