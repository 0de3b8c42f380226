/* canary: signed probes through each relay route; see canary.h. */
#include "delivery/canary.h"

#include <ctype.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "buf.h"
#include "config.h"
#include "header.h"
#include "log.h"
#include "mailauth/dkim.h"
#include "obs/obs.h"
#include "spool/spool.h"
#include "xmalloc.h"

#define CANARY_FIELD "X-Outpost-Canary"
#define CANARY_FIRST_DELAY 2     /* seconds after start: let routes come up */

struct pending {                 /* one probe being verified */
	struct canary *c;
	struct dkim_verify *v;
	char route[64];
	char qid[SPOOL_ID_LEN + 1];
	struct pending *next;
};

struct canary {
	struct event_base *base;
	const struct config *cf;
	struct spool *sp;
	struct resolver *r;
	const struct dkim_signer *sg;
	void (*kick)(void *);
	void *kick_arg;
	canary_verdict_cb *cb;
	void *cb_arg;
	struct event *timer;
	struct pending *pending;
	char *address;
};

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct canary *c = arg;
	struct timeval tv = { (time_t)c->cf->canary.interval, 0 };
	(void)fd;
	(void)what;
	canary_send_round(c);
	evtimer_add(c->timer, &tv);
}

struct canary *canary_new(struct event_base *base, const struct config *cf, struct spool *sp,
			  struct resolver *r, const struct dkim_signer *sg,
			  void (*kick)(void *), void *kick_arg)
{
	struct timeval first = { CANARY_FIRST_DELAY, 0 };
	struct canary *c;

	if (!cf->canary.address)
		return NULL;
	c = xcalloc(1, sizeof(*c));
	c->base = base;
	c->cf = cf;
	c->sp = sp;
	c->r = r;
	c->sg = sg;
	c->kick = kick;
	c->kick_arg = kick_arg;
	c->address = xstrdup(cf->canary.address);
	c->timer = evtimer_new(base, on_timer, c);
	evtimer_add(c->timer, &first);
	return c;
}

void canary_on_verdict(struct canary *c, canary_verdict_cb *cb, void *arg)
{
	c->cb = cb;
	c->cb_arg = arg;
}

void canary_reload(struct canary *c, const struct config *cf)
{
	c->cf = cf;
}

void canary_free(struct canary *c)
{
	if (!c)
		return;
	while (c->pending) {
		struct pending *p = c->pending;
		c->pending = p->next;
		dkim_verify_cancel(p->v);
		free(p);
	}
	event_free(c->timer);
	free(c->address);
	free(c);
}

int canary_is_mailbox(const struct canary *c, const char *rcpt)
{
	return c && strcasecmp(c->address, rcpt) == 0;
}

static void probe_committed(void *arg, int ok, const char *reason)
{
	struct canary *c = arg;
	if (!ok)
		msg_warn("event=canary_failed reason=\"%s\"", reason);
	else if (c->kick)
		c->kick(c->kick_arg);
}

/* The probe's text: From the first signing domain, so our own key signs it. */
static char *probe_text(const struct canary *c, const char *route, const char *qid, size_t *len)
{
	struct buf b = BUF_INIT;
	char date[64];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	if (strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm) == 0)
		date[0] = '\0';
	buf_printf(&b, "From: outpost canary <outpost-canary@%s>\r\n", c->cf->dkim[0].domain);
	buf_printf(&b, "To: <%s>\r\n", c->address);
	buf_printf(&b, "Subject: outpost canary probe via %s\r\n", route);
	buf_printf(&b, "Date: %s\r\n", date);
	buf_printf(&b, "Message-ID: <%s.canary@%s>\r\n", qid, c->cf->hostname);
	buf_printf(&b, "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n");
	buf_printf(&b, CANARY_FIELD ": route=%s; id=%s\r\n\r\n", route, qid);
	buf_printf(&b, "This probe checks that DKIM signatures survive route %s.\r\n", route);
	buf_puts(&b, "A line with trailing spaces, tabs\tand a long run of text that a relay which "
		     "re-wraps lines would change: 0123456789 0123456789 0123456789.   \r\n\r\n");
	return buf_steal(&b, len);
}

static int send_probe(struct canary *c, const struct route_conf *rt)
{
	struct spool_msg *m = xcalloc(1, sizeof(*m));
	struct buf sigs = BUF_INIT;
	char info[300], err[256];
	size_t len;

	spool_id_new(m->id);
	char *text = probe_text(c, rt->name, m->id, &len);
	if (dkim_signer_sign(c->sg, text, len, m->id, &sigs, info, sizeof(info), err, sizeof(err)) != 1) {
		msg_warn("event=canary_failed route=%s reason=\"probe not signed: %s\"", rt->name,
			 dkim_signer_nkeys(c->sg) ? err : "no DKIM key");
		free(text);
		buf_free(&sigs);
		spool_msg_free(m);
		return -1;
	}
	buf_append(&sigs, text, len);
	free(text);
	m->body = buf_steal(&sigs, &m->body_len);
	m->sender = xasprintf("outpost-canary@%s", c->cf->dkim[0].domain);
	m->rcpts = xcalloc(1, sizeof(char *));
	m->rcpts[0] = xstrdup(c->address);
	m->nrcpts = 1;
	m->client_addr = xstrdup("local");
	m->client_helo = xstrdup("canary");
	m->route = xstrdup(rt->name);
	msg_info("event=canary_sent qid=%s route=%s to=<%s> %s", m->id, rt->name, c->address, info);
	spool_commit(c->sp, m, probe_committed, c);
	return 0;
}

size_t canary_send_round(struct canary *c)
{
	size_t n = 0;
	if (c->cf->ndkim == 0) {
		msg_warn("event=canary_failed reason=\"no dkim keys configured: nothing to check\"");
		return 0;
	}
	for (size_t i = 0; i < c->cf->nroutes; i++)
		if (c->cf->routes[i].type == ROUTE_RELAY && send_probe(c, &c->cf->routes[i]) == 0)
			n++;
	return n;
}

/* route=NAME from the X-Outpost-Canary field, or "unknown". */
static void probe_route(const char *msg, size_t len, char *out, size_t outlen)
{
	struct header_field f;
	int n = snprintf(out, outlen, "unknown");
	(void)n;
	if (!header_find(msg, len, CANARY_FIELD, &f))
		return;
	const char *p = memmem(f.value, f.valuelen, "route=", 6);
	if (!p)
		return;
	p += 6;
	size_t k = 0, left = f.valuelen - (size_t)(p - f.value);
	while (k < left && k + 1 < outlen && (isalnum((unsigned char)p[k]) || p[k] == '-' || p[k] == '_' || p[k] == '.'))
		k++;
	if (k == 0)
		return;
	memcpy(out, p, k);
	out[k] = '\0';
}

static void unlink_pending(struct canary *c, struct pending *p)
{
	for (struct pending **pp = &c->pending; *pp; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			return;
		}
}

static void verified(void *arg, const struct dkim_verify_result *res)
{
	struct pending *p = arg;
	struct canary *c = p->c;
	char reason[400] = "", q[450];
	int ok = res->n > 0 && res->npass == res->n;

	if (res->n == 0)
		set_error(reason, sizeof(reason), "%s", res->error[0] ? res->error : "no DKIM signature");
	for (size_t i = 0; i < res->n && !ok; i++)
		if (!res->sig[i].pass) {
			set_error(reason, sizeof(reason), "d=%s s=%s %s: %s", res->sig[i].domain,
				  res->sig[i].selector, res->sig[i].alg, res->sig[i].reason);
			break;
		}
	if (ok)
		set_error(reason, sizeof(reason), "%zu signature%s verified", res->n, res->n == 1 ? "" : "s");
	msg_info("event=canary qid=%s route=%s result=%s reason=%s", p->qid, p->route,
		 ok ? "pass" : "fail", log_quote(q, sizeof(q), reason));
	if (!ok)
		obs_event("canary_failed", p->qid, p->route, NULL, "{s:s}", "reason", obs_text(q, sizeof(q), reason));
	if (c->cb)
		c->cb(c->cb_arg, p->route, ok, reason);
	unlink_pending(c, p);
	free(p);    /* the verification frees itself after this callback */
}

void canary_receive(struct canary *c, const char *msg, size_t len, const char *qid)
{
	struct pending *p = xcalloc(1, sizeof(*p));
	p->c = c;
	probe_route(msg, len, p->route, sizeof(p->route));
	snprintf(p->qid, sizeof(p->qid), "%s", qid);
	p->next = c->pending;
	c->pending = p;
	msg_info("event=canary_received qid=%s route=%s size=%zu", qid, p->route, len);
	p->v = dkim_verify_start(c->r, msg, len, verified, p);
}
