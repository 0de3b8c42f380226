/*
 * check_transport: whether this host can speak SMTP to the domain's own
 * MX (cloud providers often block outbound port 25; the port is the
 * first mx route's, 25 by default), whether that MX offers STARTTLS, and
 * whether the domain's MTA-STS and TLS-RPT records parse.  The probe
 * connects to the lowest-preference MX's first address, reads the
 * greeting, sends EHLO and QUIT; every step is bounded by the doctor's
 * timeout.  Replies are parsed by delivery/reply.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "config.h"
#include "delivery/reply.h"
#include "dns/dns.h"
#include "doctor/doctor.h"
#include "log.h"
#include "mailauth/mta_sts.h"
#include "mailauth/tlsrpt.h"
#include "xmalloc.h"

#define CHECK "transport"
#define PROBE_MAX_LINES 100
#define PROBE_MAX_LINE 1000

enum probe_state { PROBE_GREETING, PROBE_EHLO, PROBE_QUIT };

struct probe {
	struct doctor *d;
	struct bufferevent *bev;
	enum probe_state state;
	const char *host;                /* the MX tested */
	char ip[INET6_ADDRSTRLEN];
	unsigned port;
	unsigned lines;
	struct reply_ehlo ehlo;
	const char *greeting;            /* NULL until the server spoke */
	const char *subject;
};

static const struct route_conf *first_mx_route(const struct config *cf)
{
	for (size_t i = 0; i < cf->nroutes; i++)
		if (cf->routes[i].type == ROUTE_MX)
			return &cf->routes[i];
	return NULL;
}

static void probe_free(struct probe *p)
{
	struct doctor *d = p->d;
	if (p->bev)
		bufferevent_free(p->bev);
	free(p);
	doctor_release(d);
}

static void probe_failed(struct probe *p, const char *what)
{
	const char *ev;
	if (p->state == PROBE_GREETING && p->greeting == NULL) {
		int refused = strstr(what, "refused") != NULL;
		ev = doctor_str(p->d, "connect to %s [%s]:%u: %s%s", p->host, p->ip, p->port, what,
				refused ? "" : ": outbound port 25 looks blocked on this host");
		/* only mx routes need port 25: with relays alone it is a note */
		int need = first_mx_route(p->d->cf) != NULL;
		doctor_add(p->d, CHECK, refused || !need ? DOCTOR_WARN : DOCTOR_FAIL, p->subject, ev,
			   refused ? "the MX refused the connection: test another destination"
				   : "ask the provider to open outbound port 25, or deliver through "
				     "a relay route (type = \"relay\", port 587)");
	} else {
		ev = doctor_str(p->d, "%s [%s]:%u: %s after the greeting", p->host, p->ip,
				p->port, what);
		doctor_add(p->d, CHECK, DOCTOR_WARN, p->subject, ev, NULL);
	}
	probe_free(p);
}

static void probe_reply_done(struct probe *p, int code)
{
	const char *ev;
	switch (p->state) {
	case PROBE_GREETING:
		if (code != 220) {
			probe_failed(p, "no 220 greeting");
			return;
		}
		ev = doctor_str(p->d, "connected to %s [%s]:%u: \"%s\"", p->host, p->ip, p->port,
				p->greeting);
		doctor_add(p->d, CHECK, DOCTOR_PASS, "outbound SMTP", ev, NULL);
		evbuffer_add_printf(bufferevent_get_output(p->bev), "EHLO %s\r\n", p->d->cf->hostname);
		p->state = PROBE_EHLO;
		return;
	case PROBE_EHLO:
		ev = doctor_str(p->d, "EHLO to %s [%s]:%u: %d, %s", p->host, p->ip, p->port, code,
				p->ehlo.starttls ? "STARTTLS offered" : "no STARTTLS");
		doctor_add(p->d, CHECK, p->ehlo.starttls ? DOCTOR_PASS : DOCTOR_WARN, p->subject, ev,
			   p->ehlo.starttls ? NULL : "enable STARTTLS on the domain's MX: mail to it "
			   "travels in clear");
		evbuffer_add_printf(bufferevent_get_output(p->bev), "QUIT\r\n");
		p->state = PROBE_QUIT;
		return;
	case PROBE_QUIT:
		probe_free(p);
		return;
	}
}

static void on_probe_read(struct bufferevent *bev, void *arg)
{
	struct probe *p = arg;
	char *line;
	size_t len;
	while ((line = evbuffer_readln(bufferevent_get_input(bev), &len, EVBUFFER_EOL_CRLF))) {
		int code, last;
		const char *text;
		size_t tlen;
		int ok = len <= PROBE_MAX_LINE && ++p->lines <= PROBE_MAX_LINES &&
			 reply_parse_line(line, len, &code, &last, &text, &tlen) == 0;
		if (ok && p->state == PROBE_GREETING && p->greeting == NULL)
			p->greeting = doctor_str(p->d, "%d %.*s", code, (int)(tlen > 200 ? 200 : tlen),
						 text);
		if (ok && p->state == PROBE_EHLO)
			reply_parse_ehlo_line(text, tlen, &p->ehlo);
		free(line);
		if (!ok) {
			probe_failed(p, "a line that is not an SMTP reply");
			return;
		}
		if (last) {
			probe_reply_done(p, code);
			return;         /* one reply at a time: the server waits for us */
		}
	}
	if (evbuffer_get_length(bufferevent_get_input(bev)) > PROBE_MAX_LINE)
		probe_failed(p, "an over-long line");
}

static void on_probe_event(struct bufferevent *bev, short what, void *arg)
{
	struct probe *p = arg;
	(void)bev;
	if (what & BEV_EVENT_CONNECTED)
		return;
	if (p->state == PROBE_QUIT) {
		probe_free(p);          /* closed after QUIT, as it should */
		return;
	}
	if (what & BEV_EVENT_TIMEOUT)
		probe_failed(p, "timed out");
	else if (what & BEV_EVENT_ERROR)
		probe_failed(p, evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	else
		probe_failed(p, "connection closed");
}

static void probe_connect(struct probe *p, const struct dns_addr *a)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	memset(&ss, 0, sizeof(ss));
	if (a->family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons((unsigned short)p->port);
		memcpy(&s4->sin_addr, a->a, 4);
		sl = sizeof(*s4);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((unsigned short)p->port);
		memcpy(&s6->sin6_addr, a->a, 16);
		sl = sizeof(*s6);
	}
	inet_ntop(a->family, a->a, p->ip, sizeof(p->ip));
	struct timeval tv = { p->d->timeout_ms / 1000, (p->d->timeout_ms % 1000) * 1000 };
	p->bev = bufferevent_socket_new(p->d->base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (p->bev == NULL) {
		probe_failed(p, "cannot make a socket");
		return;
	}
	bufferevent_setcb(p->bev, on_probe_read, NULL, on_probe_event, p);
	bufferevent_set_timeouts(p->bev, &tv, &tv);
	bufferevent_enable(p->bev, EV_READ | EV_WRITE);
	if (bufferevent_socket_connect(p->bev, (struct sockaddr *)&ss, (int)sl) < 0)
		probe_failed(p, "connect failed");
}

static void on_host_addr(struct doctor *d, const struct dns_result *res, void *arg)
{
	struct probe *p = arg;
	const char *ev;
	(void)d;
	if (res->n == 0 || res->addr == NULL) {
		ev = doctor_str(d, "A %s: %s", p->host, doctor_dns_outcome(d, res));
		doctor_add(p->d, CHECK, DOCTOR_WARN, p->subject, ev, "the MX host has no address");
		probe_free(p);
		return;
	}
	probe_connect(p, &res->addr[0]);
}

static void on_mx(struct doctor *d, const struct dns_result *res, void *arg)
{
	struct probe *p = arg;
	const struct dns_mx *best = NULL;
	for (size_t i = 0; i < res->n && res->mx; i++)
		if (best == NULL || res->mx[i].pref < best->pref)
			best = &res->mx[i];
	if (best && strcmp(best->host, ".") == 0) {
		doctor_add(d, CHECK, DOCTOR_WARN, "MX", "null MX (RFC 7505): the domain receives no "
			   "mail, so port 25 could not be tested against it", NULL);
		probe_free(p);
		return;
	}
	if (res->n == 0 && doctor_dns_absent(res) < 0) {
		doctor_add(d, CHECK, DOCTOR_WARN, "MX", "the MX lookup failed: port 25 not tested",
			   NULL);
		probe_free(p);
		return;
	}
	/* no MX: the domain's own address is its mail host (RFC 5321 5.1) */
	p->host = doctor_str(d, "%s", best ? best->host : d->domain);
	p->subject = doctor_str(d, "MX %s port %u", p->host, p->port);
	doctor_lookup(d, p->host, DNS_TYPE_A, on_host_addr, p);
}

/* MTA-STS (_mta-sts) and TLS-RPT (_smtp._tls): optional, but when
 * published they must parse. */
static void on_policy_txt(struct doctor *d, const struct dns_result *res, void *arg)
{
	int sts = arg != NULL;
	char err[300];
	const char *ev;
	size_t found = 0, idx = 0;
	const char *name = res->qname;
	for (size_t i = 0; i < res->n && res->txt; i++) {
		const struct buf *t = &res->txt[i];
		if ((sts ? mta_sts_record_is_sts(t->data, t->len) : tlsrpt_record_is_tlsrpt(t->data, t->len))
		    && found++ == 0)
			idx = i;
	}
	const char *what = sts ? "MTA-STS" : "TLS-RPT";
	if (found == 0 && doctor_dns_absent(res) < 0) {
		ev = doctor_str(d, "TXT %s: %s", name, doctor_dns_outcome(d, res));
		doctor_add(d, CHECK, DOCTOR_WARN, what, ev, "run again when DNS answers");
		return;
	}
	if (found == 0) {
		ev = doctor_str(d, "TXT %s: %s (optional: %s)", name,
				doctor_dns_outcome(d, res),
				sts ? "MTA-STS makes senders require TLS to your MX"
				: "TLS-RPT asks senders to report TLS failures to you");
		doctor_add(d, CHECK, DOCTOR_PASS, what, ev, NULL);
		return;
	}
	const struct buf *t = &res->txt[idx];
	struct mta_sts_record srec;
	struct tlsrpt_record trec;
	int rc = sts ? mta_sts_record_parse(t->data, t->len, &srec, err, sizeof(err))
		     : tlsrpt_record_parse(t->data, t->len, &trec, err, sizeof(err));
	if (found > 1)
		set_error(err, sizeof(err), "%zu records: senders ignore them all", found);
	ev = doctor_str(d, "TXT %s: \"%.*s\"%s%s", name, (int)(t->len > 400 ? 400 : t->len),
			t->data, rc < 0 || found > 1 ? ": " : "", rc < 0 || found > 1 ? err : "");
	if (rc < 0 || found > 1)
		doctor_add(d, CHECK, DOCTOR_FAIL, what, ev, sts
			   ? "publish exactly one \"v=STSv1; id=YYYYMMDDHHMMSS\" record"
			   : "publish exactly one \"v=TLSRPTv1; rua=mailto:tls-reports@DOMAIN\" record");
	else
		doctor_add(d, CHECK, DOCTOR_PASS, what, ev, NULL);
}

void check_transport_start(struct doctor *d)
{
	struct probe *p = xcalloc(1, sizeof(*p));
	p->d = d;
	const struct route_conf *mx = first_mx_route(d->cf);
	p->port = mx ? (unsigned)atoi(mx->port) : 25;
	doctor_hold(d);                 /* released by probe_free() */
	doctor_lookup(d, d->domain, DNS_TYPE_MX, on_mx, p);
	static int sts_tag;             /* a non-NULL arg marks the MTA-STS lookup */
	doctor_lookup(d, doctor_str(d, "_mta-sts.%s", d->domain), DNS_TYPE_TXT, on_policy_txt,
		      &sts_tag);
	doctor_lookup(d, doctor_str(d, "_smtp._tls.%s", d->domain), DNS_TYPE_TXT, on_policy_txt,
		      NULL);
}
