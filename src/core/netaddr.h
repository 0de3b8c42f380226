/*
 * netaddr: IPv4/IPv6 networks for client_networks, and host:port splitting.
 * Contract: parsers take untrusted text, never read past the terminating NUL,
 * and return 0 on success or -1 with nothing promised about *out.
 */
#ifndef OUTPOST_NETADDR_H
#define OUTPOST_NETADDR_H
#include <stddef.h>
#include <sys/socket.h>

struct netmask {
	int family;              /* AF_INET or AF_INET6 */
	unsigned char addr[16];  /* network bytes, host bits cleared */
	int prefix;              /* 0..32 or 0..128 */
};

/* "10.0.0.0/8", "::1/128", "192.0.2.7" (a single host). */
int netmask_parse(const char *s, struct netmask *out);
/* 1 when sa (AF_INET, AF_INET6 or v4-mapped v6) lies in one of masks. */
int netmask_match_any(const struct netmask *masks, size_t n, const struct sockaddr *sa);
/* 1 for 127/8 and ::1 (and v4-mapped loopback). */
int sockaddr_is_loopback(const struct sockaddr *sa);
/* Text form of the address only, no port. */
const char *sockaddr_ntop(const struct sockaddr *sa, char *out, size_t outlen);

/* Splits "host:port", "[v6]:port" into host and port; -1 when malformed. */
int hostport_split(const char *s, char *host, size_t hostlen, char *port, size_t portlen);

#endif
