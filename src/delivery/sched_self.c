/*
 * sched_self: is a delivery target this very daemon?  (Part of the
 * scheduler: scheduler_int.h.)  A domain whose MX is localhost, or one of
 * our own addresses, would send its mail back into outpost, which would
 * queue and send it again, for ever (issue 11 item 7).
 *
 * Contract: sched_self_load() takes the SMTP listeners of the config: a
 * listener on a given address is that address and port; a listener on a
 * wildcard address (0.0.0.0, ::) is every address of this host's
 * interfaces (getifaddrs) and loopback (127.0.0.1, ::1) on its port.
 * sched_is_self() says whether a target (address and port) is one of
 * them; conn_try_target then refuses it, as Postfix does: when the best
 * MX host is ourselves the mail bounces (5.4.6 "mail for D loops back to
 * myself"); when a less preferred one is, the hosts before it were tried
 * and the mail waits for them.
 */
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "core/xmalloc.h"
#include "delivery/scheduler_int.h"

static void self_add(struct scheduler *s, const struct sockaddr *sa, unsigned short port)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	if (sa->sa_family == AF_INET) {
		memcpy(&ss, sa, sizeof(struct sockaddr_in));
		((struct sockaddr_in *)&ss)->sin_port = htons(port);
	} else if (sa->sa_family == AF_INET6) {
		memcpy(&ss, sa, sizeof(struct sockaddr_in6));
		((struct sockaddr_in6 *)&ss)->sin6_port = htons(port);
	} else {
		return;
	}
	s->self = xreallocarray(s->self, s->nself + 1, sizeof(*s->self));
	s->self[s->nself++] = ss;
}

static void self_add_text(struct scheduler *s, const char *ip, unsigned short port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };
	if (inet_pton(AF_INET, ip, &sin.sin_addr) == 1)
		self_add(s, (struct sockaddr *)&sin, port);
	else if (inet_pton(AF_INET6, ip, &sin6.sin6_addr) == 1)
		self_add(s, (struct sockaddr *)&sin6, port);
}

/* A wildcard listener: every interface address, and loopback, on port. */
static void self_add_all(struct scheduler *s, unsigned short port)
{
	struct ifaddrs *ifa = NULL;
	self_add_text(s, "127.0.0.1", port);
	self_add_text(s, "::1", port);
	if (getifaddrs(&ifa) != 0)
		return;
	for (struct ifaddrs *i = ifa; i; i = i->ifa_next)
		if (i->ifa_addr)
			self_add(s, i->ifa_addr, port);
	freeifaddrs(ifa);
}

void sched_self_load(struct scheduler *s, const struct config *cf)
{
	free(s->self);
	s->self = NULL;
	s->nself = 0;
	for (size_t i = 0; i < cf->nlisten; i++) {
		const struct listen_conf *l = &cf->listen[i];
		unsigned short port = (unsigned short)atoi(l->port);
		if (l->host[0] == '\0' || strcmp(l->host, "0.0.0.0") == 0 || strcmp(l->host, "::") == 0 ||
		    strcmp(l->host, "*") == 0)
			self_add_all(s, port);
		else
			self_add_text(s, l->host, port);
	}
}

static int same_target(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return 0;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
	return x->sin6_port == y->sin6_port && memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0;
}

int sched_is_self(const struct scheduler *s, const struct sockaddr_storage *target)
{
	for (size_t i = 0; i < s->nself; i++)
		if (same_target(&s->self[i], target))
			return 1;
	return 0;
}
