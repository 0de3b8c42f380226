/*
 * sched_health: route health kept in the spool, for `outpost routes` and
 * restarts (part of the scheduler: scheduler_int.h).
 *
 * Contract: sched_health_start() asks the spool for the rows saved by
 * the last run (answered before the first claim: the spool serves its
 * requests in order) and restores those of routes the config still has;
 * from then on the health of every path is saved every HEALTH_SAVE
 * seconds when it changed, and once a minute anyway (the hourly counts
 * change with time alone), and once more at shutdown.
 * scheduler_canary() hands a canary verdict to the route's health.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "delivery/health.h"
#include "delivery/provider.h"
#include "delivery/scheduler_int.h"
#include "spool/spool_health.h"

void sched_health_conf(const struct config *cf, struct health_conf *hc)
{
	*hc = (struct health_conf){ cf->health.failures, cf->health.probe, cf->health.probe_max };
}

struct health_rows {
	struct spool_health_row *rows;
	size_t n;
	time_t now;
};

static void health_row_add(const struct health_row *r, void *arg)
{
	struct health_rows *hr = arg;
	hr->rows[hr->n++] = (struct spool_health_row){ (char *)r->route, (char *)r->dclass,
		(char *)health_state_name(r->state), (char *)r->reason, (char *)r->last_reply, r->changed,
		r->probe_at, hr->now, r->fails, r->sent_hour, r->failed_hour };
}

void sched_health_save(struct scheduler *s)
{
	struct health_rows hr = { NULL, 0, sched_time(s) };
	size_t n = health_each(s->health, hr.now, NULL, NULL);
	hr.rows = xcalloc(n ? n : 1, sizeof(*hr.rows));
	health_each(s->health, hr.now, health_row_add, &hr);
	spool_health_save(s->sp, hr.rows, hr.n);  /* copies the rows */
	free(hr.rows);
}

/* While connections are open: how many, per route and provider, one log line each. */
static void sched_conns_log(struct scheduler *s)
{
	if (s->conns == 0)
		return;
	struct buf b = BUF_INIT;
	sched_conns_describe(s, &b);
	buf_putc(&b, '\0');
	for (char *p = b.data, *nl; *p; p = nl + 1) {
		nl = strchr(p, '\n');
		*nl = '\0';
		msg_info("event=%s", p);   /* "connections route=..." -> event=connections route=... */
	}
	buf_free(&b);
}

static void on_health_timer(void *arg)
{
	struct scheduler *s = arg;
	/* counts over the last hour change with time alone: save once a minute anyway */
	if (health_dirty(s->health) || sched_time(s) % 60 < HEALTH_SAVE)
		sched_health_save(s);
	sched_conns_log(s);
	sched_timer_add(s, s->health_ev, HEALTH_SAVE);
}

static void on_health_loaded(void *arg, const struct spool_health_row *rows, size_t n)
{
	struct scheduler *s = arg;
	s->health_loading = 0;
	for (size_t i = 0; i < n; i++) {
		struct health_row r = { rows[i].route, rows[i].dclass, HEALTH_HEALTHY, rows[i].reason,
					rows[i].last_reply, rows[i].changed, rows[i].probe_at, rows[i].fails, 0, 0 };
		int st = name_code(health_state_names, rows[i].state);
		if (st >= 0)          /* a state this version does not know: healthy */
			r.state = (enum health_state)st;
		if (route_named(s->cf, r.route))
			health_restore(s->health, &r);
	}
	if (n)
		msg_info("event=route_health_restored paths=%zu", n);
}

void scheduler_canary(struct scheduler *s, const char *route, int ok, const char *reason)
{
	if (s)
		health_canary(s->health, route, ok, reason, sched_time(s));
}

int sched_source_is_listed(const struct scheduler *s, const char *address)
{
	for (size_t i = 0; s && i < s->nlisted_src; i++)
		if (strcmp(s->listed_src[i], address) == 0)
			return 1;
	return 0;
}

/* A route whose every source is listed has nothing left to send from. */
static int route_all_listed(const struct scheduler *s, const struct route_conf *r)
{
	for (size_t k = 0; k < r->nsources; k++)
		if (!sched_source_is_listed(s, r->sources[k].address))
			return 0;
	return r->nsources > 0;
}

void scheduler_source_listed(struct scheduler *s, const char *address, int listed, const char *why)
{
	if (s == NULL || listed == sched_source_is_listed(s, address))
		return;
	if (listed) {
		s->listed_src = xreallocarray(s->listed_src, s->nlisted_src + 1, sizeof(char *));
		s->listed_src[s->nlisted_src++] = xstrdup(address);
	}
	for (size_t i = 0; !listed && i < s->nlisted_src; i++)
		if (strcmp(s->listed_src[i], address) == 0) {
			free(s->listed_src[i]);
			s->listed_src[i] = s->listed_src[--s->nlisted_src];
		}
	msg_info("event=source_listed source=%s listed=%s reason=\"%s\"", address, listed ? "yes" : "no", why);
	for (size_t i = 0; listed && i < s->cf->nroutes; i++)
		if (route_all_listed(s, &s->cf->routes[i]))
			health_down(s->health, s->cf->routes[i].name, "*", why, sched_time(s));
}

void scheduler_set_return_path(struct scheduler *s,
			       int (*fn)(void *arg, const char *qid, const char *sender, char *out, size_t outlen),
			       void *arg)
{
	if (s) {
		s->return_path = fn;
		s->return_path_arg = arg;
	}
}

void scheduler_set_rcpt_filter(struct scheduler *s,
			       int (*fn)(void *arg, const char *rcpt, const char *sender, const char *user,
					 const char *qid, char *reply, size_t replylen),
			       void *arg)
{
	if (s) {
		s->rcpt_filter = fn;
		s->rcpt_filter_arg = arg;
	}
}

void scheduler_route_feedback(void *arg, const char *route, const char *host, const char *rcpt, const char *reason,
			      const char *diagnostic)
{
	struct scheduler *s = arg;
	char dclass[128], why[256];
	const char *at = strrchr(rcpt, '@');
	if (s == NULL)
		return;
	provider_of(host && *host ? host : at ? at + 1 : rcpt, dclass, sizeof(dclass));
	snprintf(why, sizeof(why), "async bounce: %s", reason);
	int down = health_failure(s->health, route, dclass, why, diagnostic, sched_time(s));
	msg_info("event=route_feedback route=%s dclass=%s reason=%s rcpt=<%s> state=%s", route, dclass, reason, rcpt,
		 down ? "down" : "degraded");
}

void sched_health_start(struct scheduler *s)
{
	s->health_loading = 1;
	spool_health_load(s->sp, on_health_loaded, s);
	s->health_ev = sched_timer_new(s, on_health_timer, s);
	sched_timer_add(s, s->health_ev, HEALTH_SAVE);
}

void sched_health_stop(struct scheduler *s)
{
	sched_timer_del(s, s->health_ev);
}
