/*
 * check_relay: every relay route as the scheduler will use it.  For each
 * route of type relay: resolve its host (an address literal is used as
 * is), connect to its port, then STARTTLS and the certificate as the
 * route's tls setting requires, and AUTH with the configured credentials;
 * then QUIT.  Nothing is sent: the probe is an smtp_client transaction
 * without recipients (smtp_client.h), so the steps, their timeouts and
 * their failure texts are exactly those of real delivery.  One finding
 * per route: pass with what was checked, or fail with the step that
 * failed and what to change.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include "config.h"
#include "delivery/smtp_client.h"
#include "dns/dns.h"
#include "doctor/doctor.h"
#include "xmalloc.h"

#define CHECK "transport"

struct relay_probe {
	struct doctor *d;
	const struct route_conf *rc;
	struct smtp_client *client;
	const char *subject;
};

static void relay_probe_free(struct relay_probe *p)
{
	struct doctor *d = p->d;
	if (p->client)
		smtp_client_free(p->client);     /* sends QUIT */
	free(p);
	doctor_release(d);
}

/* What the route's tls setting asked for, for the evidence. */
static const char *tls_wanted(enum route_tls t)
{
	switch (t) {
	case ROUTE_TLS_NONE: return "no TLS (tls = \"none\")";
	case ROUTE_TLS_OPPORTUNISTIC: return "STARTTLS when offered";
	case ROUTE_TLS_REQUIRED: return "STARTTLS required";
	case ROUTE_TLS_VERIFY: return "STARTTLS with a verified certificate";
	case ROUTE_TLS_IMPLICIT: return "TLS on connect with a verified certificate";
	}
	return "?";
}

static const char *failure_fix(const struct route_conf *rc, const struct reply_info *ri)
{
	if (strstr(ri->text, "certificate"))
		return "the relay's certificate does not verify for the route's host: use the name "
		       "the certificate is for as host, or install the CA that issued it";
	if (strstr(ri->text, "TLS"))
		return "the relay does not offer the TLS the route requires: check host and port "
		       "(587 STARTTLS, 465 tls = \"implicit\") with the provider";
	if (strstr(ri->text, "AUTH") || ri->code == 535 || ri->code == 530)
		return rc->auth_user ? "the relay refused the credentials: check the route's auth "
				       "file (user:password) against the provider's SMTP credentials"
				     : "the relay wants AUTH: set auth_file on the route";
	return "check the route's host and port, and that this host may connect to them";
}

static void on_probe_done(void *arg, const struct smtp_txn_result *res)
{
	struct relay_probe *p = arg;
	struct doctor *d = p->d;
	const struct route_conf *rc = p->rc;
	const char *ev;
	if (res->probe_failed) {
		ev = doctor_str(d, "%s:%s [%s], %s: %s%s%s", rc->host, rc->port, res->remote_ip,
				tls_wanted(rc->tls), res->probe.code ? doctor_str(d, "%d ", res->probe.code)
				: "", res->probe.text, res->tls[0] ? doctor_str(d, " (after %s)", res->tls)
				: "");
		doctor_add(d, CHECK, DOCTOR_FAIL, p->subject, ev, failure_fix(rc, &res->probe));
	} else {
		ev = doctor_str(d, "%s:%s [%s]: connected, %s%s%s, %s; QUIT, nothing sent", rc->host,
				rc->port, res->remote_ip, res->tls[0] ? res->tls : "no TLS",
				res->tls[0] ? (res->tls_verified ? ", certificate verified"
					       : ", certificate not verified") : "",
				rc->tls == ROUTE_TLS_VERIFY || rc->tls == ROUTE_TLS_IMPLICIT ||
				!res->tls[0] ? "" : " (not required by the route)",
				rc->auth_user ? doctor_str(d, "AUTH as %s accepted", rc->auth_user)
				: "no AUTH configured");
		doctor_add(d, CHECK, DOCTOR_PASS, p->subject, ev, NULL);
	}
	relay_probe_free(p);
}

static void probe_address(struct relay_probe *p, const struct dns_addr *a)
{
	struct doctor *d = p->d;
	const struct route_conf *rc = p->rc;
	struct smtp_client_params sp;
	memset(&sp, 0, sizeof(sp));
	unsigned short port = (unsigned short)atoi(rc->port);
	if (a->family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&sp.addr;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		memcpy(&s4->sin_addr, a->a, 4);
		sp.addrlen = sizeof(*s4);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&sp.addr;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		memcpy(&s6->sin6_addr, a->a, 16);
		sp.addrlen = sizeof(*s6);
	}
	sp.host_name = rc->host;
	sp.helo = rc->helo ? rc->helo : d->cf->hostname;
	sp.tls = (enum smtp_tls_mode)rc->tls;
	sp.ssl_ctx = d->ssl;
	sp.auth_user = rc->auth_user;
	sp.auth_pass = rc->auth_pass;
	sp.connect_timeout = sp.command_timeout = (d->timeout_ms + 999) / 1000;
	static const struct smtp_txn none = { .qid = "doctor", .sender = "" };
	p->client = smtp_client_new(d->base, &sp);
	smtp_client_deliver(p->client, &none, on_probe_done, p);
}

static void on_relay_addr(struct doctor *d, const struct dns_result *res, void *arg)
{
	struct relay_probe *p = arg;
	if (res->n == 0 || res->addr == NULL) {
		const char *ev = doctor_str(d, "A %s: %s", p->rc->host, doctor_dns_outcome(d, res));
		doctor_add(d, CHECK, doctor_dns_absent(res) == 1 ? DOCTOR_FAIL : DOCTOR_WARN,
			   p->subject, ev, doctor_dns_absent(res) == 1
			   ? "the relay host has no address: check the route's host"
			   : "could not test: the lookup failed, run again later");
		relay_probe_free(p);
		return;
	}
	probe_address(p, &res->addr[0]);
}

void check_relay_start(struct doctor *d)
{
	for (size_t i = 0; i < d->cf->nroutes; i++) {
		const struct route_conf *rc = &d->cf->routes[i];
		if (rc->type != ROUTE_RELAY)
			continue;
		struct relay_probe *p = xcalloc(1, sizeof(*p));
		p->d = d;
		p->rc = rc;
		p->subject = doctor_str(d, "relay route %s", rc->name);
		doctor_hold(d);          /* released by relay_probe_free() */
		struct dns_addr a;
		if (dns_addr_parse(rc->host, &a) == 0)
			probe_address(p, &a);
		else
			doctor_lookup(d, rc->host, DNS_TYPE_A, on_relay_addr, p);
	}
}
