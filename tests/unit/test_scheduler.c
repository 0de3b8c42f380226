/*
 * test_scheduler: the scheduler replayed in simulated time, as Unbound's
 * replay tests do: each scenario is a script of `STEP time event` lines.
 *
 * What is real: the scheduler and all its modules, the config parser, the
 * router, health, throttle, DSNs, and the spool (SQLite in a temp dir,
 * with its storage thread).  What is faked: only the clock (struct
 * sched_clock: the time moves only when a STEP says so, and timers fire
 * in order as it passes them) and the network (struct sched_net: DNS
 * answers from the scenario's ZONE lines, SMTP replies per host from its
 * HOST lines).  So a day of retries runs in milliseconds, without sleeps.
 *
 * Script lines (times are seconds after the scenario's start, T0):
 *   ZONE MX domain pref host | ZONE A host ip | ZONE SERVFAIL name
 *   HOST name ok | down | greylist | reply CODE TEXT     (how it answers)
 *   STEP t SEND rcpt[,rcpt...]   queue a message from app@sender.example.org
 *   STEP t SENDN n rcpt          queue n such messages, one recipient each,
 *                                found by the next look at the queue (no kick)
 *   CLAIM                        fire only the claim timer and take its answer
 *                                (the routing batches after the first wait)
 *   EXPECT_CLAIMED n             claimed messages still waiting to be routed
 *   STEP t RUN                   let the time pass until t (timers fire)
 *   STEP t HOST ...              change a host from then on
 *   EXPECT rcpt STATE [attempts=N] [next=LO..HI]   STATE: queued, deferred,
 *                                bounced... or gone (no longer in the spool)
 *   EXPECT_MAIL host N [from=<>] [rcpt=ADDR]   messages the host accepted
 *   EXPECT_TXN host N            transactions tried at the host (any reply)
 *   EXPECT_CLIENTS host MAX      SMTP sessions opened to the host, at most
 *   EXPECT_LOG text              the delivery log has a line with text
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "tmpdir.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/config.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "delivery/scheduler.h"
#include "delivery/scheduler_int.h"
#include "spool/spool.h"

#define T0 1800000000.0
#define MAX_CLIENTS 2000          /* more than any scenario needs: a spinning scheduler stops here */

/* ---- the simulated clock ---- */

struct sched_timer {
	void (*fire)(void *arg);
	void *arg;
	double at;
	int armed;
	struct sched_timer *next;
};

struct sim;

/* ---- the scripted network ---- */

struct host {
	char name[256];
	char mode[16];            /* ok, down, greylist, reply */
	int code;
	char text[200];
	unsigned mail, txn, clients;
	char seen[64][128];       /* greylist: recipients seen once */
	size_t nseen;
};

struct fquery {
	resolver_cb *cb;
	void *arg;
	char name[256];
	int type;
	int cancelled;
	struct fquery *next;
};

struct fclient {
	struct sim *sim;
	struct host *h;
	int ok;                   /* the session worked: reusable */
	int busy;
	smtp_client_done_cb *done;
	void *done_arg;
	char sender[256];
	char rcpts[16][256];
	size_t nrcpts;
	struct fclient *next_pending;
};

struct mail {
	char host[256], sender[256], rcpt[256];
	double at;
};

struct sim {
	double now;
	struct sched_timer *timers;
	struct event_base *base;
	struct spool *sp;
	struct config *cf;
	struct scheduler *s;
	char tmp[64], dir[128];
	char zone[64][3][256];    /* type, name, value */
	size_t nzone;
	struct host hosts[16];
	size_t nhosts;
	struct fquery *queries, **qtail;
	struct fclient *pending;  /* transactions waiting for their replies */
	unsigned clients;
	struct mail mails[256];
	size_t nmails;
	int commits;
	int stopped;
};

static double sim_now(void *arg)
{
	return ((struct sim *)arg)->now;
}

static struct sched_timer *sim_timer_new(void *arg, void (*fire)(void *), void *fire_arg)
{
	struct sim *sim = arg;
	struct sched_timer *t = xcalloc(1, sizeof(*t));
	t->fire = fire;
	t->arg = fire_arg;
	t->next = sim->timers;
	sim->timers = t;
	return t;
}

static void sim_timer_add(void *arg, struct sched_timer *t, double seconds)
{
	t->at = ((struct sim *)arg)->now + (seconds > 0 ? seconds : 0);
	t->armed = 1;
}

static void sim_timer_del(void *arg, struct sched_timer *t)
{
	(void)arg;
	t->armed = 0;
}

static void sim_timer_free(void *arg, struct sched_timer *t)
{
	struct sim *sim = arg;
	for (struct sched_timer **p = &sim->timers; *p; p = &(*p)->next)
		if (*p == t) {
			*p = t->next;
			break;
		}
	free(t);
}

static struct host *host_get(struct sim *sim, const char *name)
{
	for (size_t i = 0; i < sim->nhosts; i++)
		if (strcasecmp(sim->hosts[i].name, name) == 0)
			return &sim->hosts[i];
	assert_true(sim->nhosts < 16);
	struct host *h = &sim->hosts[sim->nhosts++];
	memset(h, 0, sizeof(*h));
	snprintf(h->name, sizeof(h->name), "%s", name);
	snprintf(h->mode, sizeof(h->mode), "ok");
	return h;
}

static struct resolver_query *sim_query(void *arg, const char *name, int rrtype, resolver_cb *cb, void *cb_arg)
{
	struct sim *sim = arg;
	struct fquery *q = xcalloc(1, sizeof(*q));
	q->cb = cb;
	q->arg = cb_arg;
	q->type = rrtype;
	snprintf(q->name, sizeof(q->name), "%s", name);
	*sim->qtail = q;
	sim->qtail = &q->next;
	return (struct resolver_query *)q;
}

static void sim_cancel(void *arg, struct resolver_query *q)
{
	(void)arg;
	((struct fquery *)q)->cancelled = 1;
}

static struct smtp_client *sim_client_new(void *arg, const struct smtp_client_params *p)
{
	struct sim *sim = arg;
	struct fclient *c = xcalloc(1, sizeof(*c));
	if (++sim->clients > MAX_CLIENTS)
		fail_msg("%u SMTP sessions opened: the scheduler spins (at %.0f s)", sim->clients, sim->now - T0);
	c->sim = sim;
	c->h = host_get(sim, p->host_name);
	c->h->clients++;
	return (struct smtp_client *)c;
}

static void sim_deliver(void *arg, struct smtp_client *sc, const struct smtp_txn *txn, smtp_client_done_cb *done,
			void *done_arg)
{
	struct sim *sim = arg;
	struct fclient *c = (struct fclient *)sc;
	assert_false(c->busy);
	c->busy = 1;
	c->done = done;
	c->done_arg = done_arg;
	snprintf(c->sender, sizeof(c->sender), "%s", txn->sender);
	assert_true(txn->nrcpts <= 16);
	c->nrcpts = txn->nrcpts;
	for (size_t i = 0; i < txn->nrcpts; i++)
		snprintf(c->rcpts[i], sizeof(c->rcpts[i]), "%s", txn->rcpts[i]);
	struct fclient **p = &sim->pending;
	while (*p)
		p = &(*p)->next_pending;
	*p = c;
}

static int sim_reusable(void *arg, const struct smtp_client *sc)
{
	const struct fclient *c = (const struct fclient *)sc;
	(void)arg;
	return c->ok && !c->busy;
}

static void sim_client_free(void *arg, struct smtp_client *sc)
{
	struct sim *sim = arg;
	struct fclient *c = (struct fclient *)sc;
	for (struct fclient **p = &sim->pending; *p; p = &(*p)->next_pending)
		if (*p == c) {
			*p = c->next_pending;
			break;
		}
	free(c);
}

/* ---- answering: DNS from the zone, SMTP from the host's mode ---- */

static void answer_query(struct sim *sim, struct fquery *q)
{
	struct dns_result res = { q->name, q->type, DNS_RCODE_NOERROR, 0, NULL, 0, NULL, NULL, NULL, NULL };
	struct dns_mx mx[8];
	struct dns_addr addr[8];
	int known = 0;
	for (size_t i = 0; i < sim->nzone; i++) {
		const char *type = sim->zone[i][0], *name = sim->zone[i][1], *val = sim->zone[i][2];
		if (strcasecmp(name, q->name) != 0)
			continue;
		known = 1;
		if (strcmp(type, "SERVFAIL") == 0) {
			res.rcode = DNS_RCODE_SERVFAIL;
			res.why = "SERVFAIL";
		} else if (strcmp(type, "MX") == 0 && q->type == DNS_TYPE_MX && res.n < 8) {
			char *sp = strchr(val, ' ');
			mx[res.n] = (struct dns_mx){ (unsigned)atoi(val), sp ? sp + 1 : (char *)"." };
			res.mx = mx;
			res.n++;
		} else if (strcmp(type, "A") == 0 && q->type == DNS_TYPE_A && res.n < 8) {
			addr[res.n] = (struct dns_addr){ AF_INET, { 0 } };
			assert_int_equal(inet_pton(AF_INET, val, addr[res.n].a), 1);
			res.addr = addr;
			res.n++;
		}
	}
	if (!known) {
		res.rcode = DNS_RCODE_NXDOMAIN;
		res.why = "NXDOMAIN";
	}
	q->cb(&res, q->arg);
}

static int greylist_first(struct host *h, const char *rcpt)
{
	for (size_t i = 0; i < h->nseen; i++)
		if (strcmp(h->seen[i], rcpt) == 0)
			return 0;
	assert_true(h->nseen < 64);
	snprintf(h->seen[h->nseen++], sizeof(h->seen[0]), "%s", rcpt);
	return 1;
}

/* The host's replies to c's transaction, then done (which may free c). */
static void answer_txn(struct sim *sim, struct fclient *c)
{
	struct host *h = c->h;
	struct reply_info r[16];
	struct smtp_txn_result res = { .rcpt = r, .nrcpts = c->nrcpts, .remote_ip = "192.0.2.99" };
	h->txn++;
	c->ok = strcmp(h->mode, "down") != 0;
	for (size_t i = 0; i < c->nrcpts; i++) {
		if (!c->ok)
			reply_local("4.4.1", "connection refused", &r[i]);
		else if (strcmp(h->mode, "reply") == 0)
			reply_classify(h->code, h->text, &r[i]);
		else if (strcmp(h->mode, "greylist") == 0 && greylist_first(h, c->rcpts[i]))
			reply_classify(451, "4.7.1 Greylisted, try again in 5 minutes", &r[i]);
		else
			reply_classify(250, "2.0.0 Ok: queued", &r[i]);
		if (r[i].outcome == REPLY_OK && sim->nmails < 256) {
			struct mail *m = &sim->mails[sim->nmails++];
			snprintf(m->host, sizeof(m->host), "%s", h->name);
			snprintf(m->sender, sizeof(m->sender), "%s", c->sender);
			snprintf(m->rcpt, sizeof(m->rcpt), "%s", c->rcpts[i]);
			m->at = sim->now;
			h->mail += i == 0;
		}
	}
	c->busy = 0;
	c->done(c->done_arg, &res);
}

/* ---- running ---- */

static int spool_busy(const struct sim *sim)
{
	const struct scheduler *s = sim->s;
	return s->claiming || s->recording || s->health_loading || sim->commits;
}

static void on_guard(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	*(int *)arg = 1;
}

/* Runs what is due now: network answers and spool answers, until nothing moves. */
static void sim_settle(struct sim *sim)
{
	for (int rounds = 0;; rounds++) {
		assert_true(rounds < 100000);
		if (sim->queries) {
			struct fquery *q = sim->queries;
			if ((sim->queries = q->next) == NULL)
				sim->qtail = &sim->queries;
			if (!q->cancelled)
				answer_query(sim, q);
			free(q);
			continue;
		}
		if (sim->pending) {
			struct fclient *c = sim->pending;
			sim->pending = c->next_pending;
			c->next_pending = NULL;
			answer_txn(sim, c);
			continue;
		}
		if (!spool_busy(sim))
			return;
		int timed_out = 0;
		struct timeval tv = { 30, 0 };
		struct event *guard = evtimer_new(sim->base, on_guard, &timed_out);
		evtimer_add(guard, &tv);
		event_base_loop(sim->base, EVLOOP_ONCE);
		event_free(guard);
		assert_false(timed_out);
	}
}

static struct sched_timer *next_timer(struct sim *sim, double until)
{
	struct sched_timer *best = NULL;
	for (struct sched_timer *t = sim->timers; t; t = t->next)
		if (t->armed && t->at <= until && (best == NULL || t->at < best->at))
			best = t;
	return best;
}

/* Lets the time pass until `until`, firing each timer at its time. */
static void sim_run(struct sim *sim, double until)
{
	sim_settle(sim);
	struct sched_timer *t;
	for (int fired = 0; (t = next_timer(sim, until)) != NULL; fired++) {
		assert_true(fired < 200000);
		if (t->at > sim->now)
			sim->now = t->at;
		t->armed = 0;
		t->fire(t->arg);
		sim_settle(sim);
	}
	if (until > sim->now)
		sim->now = until;
}

static void on_commit(void *arg, int ok, const char *reason)
{
	struct sim *sim = arg;
	if (!ok)
		fail_msg("commit: %s", reason);
	sim->commits--;
}

/* kick: tell the scheduler at once (as the SMTP server does); 0: it finds
 * the message at its next look at the queue (IDLE_POLL) */
static void sim_send(struct sim *sim, const char *rcpts, int kick)
{
	static const char body[] = "From: <app@sender.example.org>\r\nSubject: sim\r\n\r\nHello.\r\n";
	struct spool_msg *m = xcalloc(1, sizeof(*m));
	m->sender = xstrdup("app@sender.example.org");
	char *list = xstrdup(rcpts), *save = NULL;
	for (char *r = strtok_r(list, ",", &save); r; r = strtok_r(NULL, ",", &save)) {
		m->rcpts = xreallocarray(m->rcpts, m->nrcpts + 1, sizeof(char *));
		m->rcpts[m->nrcpts++] = xstrdup(r);
	}
	free(list);
	m->client_addr = xstrdup("127.0.0.1");
	m->client_helo = xstrdup("app.test");
	m->body = xstrdup(body);
	m->body_len = strlen(body);
	m->created = (time_t)sim->now;
	sim->commits++;
	spool_commit(sim->sp, m, on_commit, sim);
	sim_settle(sim);
	if (kick)
		scheduler_kick(sim->s);
	sim_settle(sim);
}

/* ---- expectations, read from the spool's database ---- */

static void expect_rcpt(struct sim *sim, const char *rcpt, const char *state, const char *opts)
{
	char path[256];
	sqlite3 *db;
	sqlite3_stmt *st;
	snprintf(path, sizeof(path), "%s/queue.db", sim->dir);
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT state, attempts, next_attempt FROM recipients"
					    " WHERE address = ?1 AND state NOT IN ('delivered', 'bounced')",
					    -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_text(st, 1, rcpt, -1, SQLITE_STATIC);
	int found = sqlite3_step(st) == SQLITE_ROW;
	char got[32] = "gone";
	int attempts = 0;
	double next = 0;
	if (found) {
		snprintf(got, sizeof(got), "%s", (const char *)sqlite3_column_text(st, 0));
		attempts = sqlite3_column_int(st, 1);
		next = (double)sqlite3_column_int64(st, 2) - T0;
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	if (strcmp(got, state) != 0)
		fail_msg("at %.0f s: %s is %s, expected %s", sim->now - T0, rcpt, got, state);
	const char *a = strstr(opts, "attempts=");
	if (a && atoi(a + 9) != attempts)
		fail_msg("at %.0f s: %s has %d attempts, expected %d", sim->now - T0, rcpt, attempts, atoi(a + 9));
	double lo, hi;
	const char *n = strstr(opts, "next=");
	if (n && sscanf(n, "next=%lf..%lf", &lo, &hi) == 2 && (next < lo || next > hi))
		fail_msg("at %.0f s: %s next attempt at %.0f s, expected %.0f..%.0f", sim->now - T0, rcpt, next, lo, hi);
}

static void expect_mail(struct sim *sim, const char *host, unsigned want, const char *opts)
{
	const char *from = strstr(opts, "from=");
	const char *rcpt = strstr(opts, "rcpt=");
	unsigned n = 0;
	for (size_t i = 0; i < sim->nmails; i++) {
		const struct mail *m = &sim->mails[i];
		if (strcasecmp(m->host, host) != 0)
			continue;
		if (from && !(strncmp(from + 5, "<>", 2) == 0 ? m->sender[0] == '\0'
							       : strncmp(from + 5, m->sender, strlen(m->sender)) == 0))
			continue;
		if (rcpt && strncmp(rcpt + 5, m->rcpt, strlen(m->rcpt)) != 0)
			continue;
		n++;
	}
	if (n != want)
		fail_msg("at %.0f s: %s accepted %u recipients (%s), expected %u", sim->now - T0, host, n, opts, want);
}

/* ---- the script ---- */

static void script_line(struct sim *sim, char *line)
{
	char w1[64] = "", w2[256] = "", w3[256] = "", rest[512] = "";
	int off = 0, count;
	if (sscanf(line, "%63s %255s %n", w1, w2, &off) < 2 && strcmp(w1, "CLAIM") != 0)
		return;
	snprintf(rest, sizeof(rest), "%s", line + off);
	if (strcmp(w1, "ZONE") == 0) {
		assert_true(sim->nzone < 64);
		char name[256] = "", value[256] = "";
		int n = sscanf(rest, "%255s %255[^\n]", name, value);
		assert_true(n >= 1);
		snprintf(sim->zone[sim->nzone][0], 256, "%s", w2);
		snprintf(sim->zone[sim->nzone][1], 256, "%s", name);
		snprintf(sim->zone[sim->nzone][2], 256, "%s", value);
		sim->nzone++;
	} else if (strcmp(w1, "HOST") == 0) {
		struct host *h = host_get(sim, w2);
		assert_int_equal(sscanf(rest, "%15s %d %199[^\n]", h->mode, &h->code, h->text) >= 1, 1);
	} else if (strcmp(w1, "STEP") == 0) {
		double t = atof(w2) + T0;
		assert_true(sscanf(rest, "%255s %n", w3, &off) == 1);
		sim_run(sim, t);
		if (strcmp(w3, "SEND") == 0)
			sim_send(sim, rest + off, 1);
		else if (strcmp(w3, "SENDN") == 0 && sscanf(rest + off, "%d %255s", &count, w3) == 2)
			while (count-- > 0)
				sim_send(sim, w3, 0);
		else if (strcmp(w3, "HOST") == 0)
			script_line(sim, rest);
	} else if (strcmp(w1, "CLAIM") == 0) {
		struct sched_timer *claim = sim->s->timer;
		assert_true(claim->armed);
		if (claim->at > sim->now)
			sim->now = claim->at;
		claim->armed = 0;
		claim->fire(claim->arg);
		sim_settle(sim);
	} else if (strcmp(w1, "EXPECT_CLAIMED") == 0) {
		size_t waiting = sim->s->nclaimed - sim->s->claimed_next;
		if (waiting != (size_t)atoi(w2))
			fail_msg("at %.0f s: %zu claimed messages wait to be routed, expected %s", sim->now - T0,
				 waiting, w2);
	} else if (strcmp(w1, "EXPECT") == 0) {
		assert_true(sscanf(rest, "%255s %n", w3, &off) == 1);
		expect_rcpt(sim, w2, w3, rest + off);
	} else if (strcmp(w1, "EXPECT_MAIL") == 0) {
		assert_true(sscanf(rest, "%255s %n", w3, &off) == 1);
		expect_mail(sim, w2, (unsigned)atoi(w3), rest + off);
	} else if (strcmp(w1, "EXPECT_TXN") == 0) {
		struct host *h = host_get(sim, w2);
		if (h->txn != (unsigned)atoi(rest))
			fail_msg("at %.0f s: %u transactions at %s, expected %s", sim->now - T0, h->txn, w2, rest);
	} else if (strcmp(w1, "EXPECT_CLIENTS") == 0) {
		struct host *h = host_get(sim, w2);
		if (h->clients > (unsigned)atoi(rest))
			fail_msg("at %.0f s: %u sessions to %s, expected at most %s", sim->now - T0, h->clients, w2, rest);
	} else {
		fail_msg("bad script line: %s", line);
	}
}

static const char base_conf[] =
	"hostname = \"relay.test\";\n"
	"listen = ( { address = \"127.0.0.1:2525\"; } );\n"
	"health = { failures = 1; probe = \"1h\"; probe_max = \"1h\"; };\n";

static const char base_zone[] =
	"ZONE MX example.net 10 mx1.example.net\n"
	"ZONE A mx1.example.net 192.0.2.1\n"
	"ZONE MX sender.example.org 10 mailbox.sender.example.org\n"
	"ZONE A mailbox.sender.example.org 192.0.2.4\n";

/* Delivery says it has stopped only when no claimed message is left: one
 * recorded after the stop would be answered after scheduler_free(). */
static void on_stopped(void *arg)
{
	struct sim *sim = arg;
	if (sim->s->inflight != 0)
		fail_msg("delivery stopped with %u messages still in memory", sim->s->inflight);
	sim->stopped = 1;
}

/* Runs one scenario: its config (after base_conf), then base_zone and its script. */
static void replay(const char *name, const char *conf, const char *script)
{
	struct sim *sim = xcalloc(1, sizeof(*sim));
	char text[4096], err[512];
	sim->now = T0;
	sim->qtail = &sim->queries;
	assert_int_equal(tmpdir_make(sim->tmp, sizeof(sim->tmp), "sched"), 0);
	snprintf(sim->dir, sizeof(sim->dir), "%s/spool", sim->tmp);
	int n = snprintf(text, sizeof(text), "%sspool = \"%s\";\n%s", base_conf, sim->dir, conf);
	assert_true(n > 0 && (size_t)n < sizeof(text));
	sim->cf = config_parse(text, name, err, sizeof(err));
	if (sim->cf == NULL)
		fail_msg("%s: config: %s", name, err);
	sim->base = event_base_new();
	sim->sp = spool_open(sim->dir, 0, sim->base, err, sizeof(err));
	if (sim->sp == NULL)
		fail_msg("%s: spool: %s", name, err);
	struct sched_clock clock = { sim_now, sim_timer_new, sim_timer_add, sim_timer_del, sim_timer_free, sim };
	struct sched_net net = { sim_query, sim_cancel, sim_client_new, sim_deliver, sim_reusable, sim_client_free, sim };
	sim->s = scheduler_new_with(sim->base, sim->cf, sim->sp, &clock, &net);
	assert_non_null(sim->s);
	char *all = NULL;
	assert_true(asprintf(&all, "%s%s", base_zone, script) > 0);
	char *save = NULL;
	for (char *line = strtok_r(all, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		script_line(sim, line);
	free(all);
	scheduler_shutdown(sim->s, on_stopped, sim);
	sim_settle(sim);
	assert_true(sim->stopped);
	scheduler_free(sim->s);
	spool_close(sim->sp);
	event_base_free(sim->base);
	config_free(sim->cf);
	assert_int_equal(tmpdir_remove(sim->tmp), 0);
	free(sim);
}

/* ---- the scenarios ---- */

#define RETRY(notice) "retry = { schedule = [ \"60s\", \"300s\", \"900s\" ]; greylist = \"300s\"; " \
	"lifetime = \"1h\"; delay_notice = \"" notice "\"; };\n"
#define DIRECT "routes = { direct = { type = \"mx\"; }; };\nrules = ( { via = [ \"direct\" ]; } );\n"
#define RELAYS "routes = { r1 = { type = \"relay\"; host = \"127.0.0.5:25\"; tls = \"none\"; }; " \
	"r2 = { type = \"relay\"; host = \"127.0.0.6:25\"; tls = \"none\"; }; };\n" \
	"rules = ( { via = [ \"r1\", \"r2\" ]; } );\n"

/* 4xx: the schedule's steps, each with +-10 % jitter (60 s, 300 s, 900 s, then 900 s). */
static void retry_schedule_with_jitter(void **state)
{
	(void)state;
	replay("retry", RETRY("0s") DIRECT,
	       "HOST mx1.example.net down\n"
	       "STEP 0 SEND a@example.net\nSTEP 0 SEND b@example.net\nSTEP 0 SEND c@example.net\n"
	       "STEP 1 RUN\n"
	       "EXPECT a@example.net deferred attempts=1 next=54..66\n"
	       "EXPECT b@example.net deferred attempts=1 next=54..66\n"
	       "EXPECT c@example.net deferred attempts=1 next=54..66\n"
	       "STEP 70 RUN\n"
	       "EXPECT a@example.net deferred attempts=2 next=324..397\n"
	       "EXPECT c@example.net deferred attempts=2 next=324..397\n"
	       "STEP 400 RUN\n"
	       "EXPECT a@example.net deferred attempts=3 next=1134..1388\n"
	       "EXPECT_TXN mx1.example.net 9\n");
}

/* A greylisting reply is retried after retry.greylist, not by the schedule, and then delivered. */
static void greylisting(void **state)
{
	(void)state;
	replay("greylist", RETRY("0s") DIRECT,
	       "HOST mx1.example.net greylist\n"
	       "STEP 0 SEND g@example.net\n"
	       "STEP 1 RUN\n"
	       "EXPECT g@example.net deferred attempts=1 next=300..300\n"
	       "STEP 299 RUN\n"
	       "EXPECT_MAIL mx1.example.net 0\n"
	       "STEP 306 RUN\n"
	       "EXPECT g@example.net gone\n"
	       "EXPECT_MAIL mx1.example.net 1 rcpt=g@example.net\n");
}

/* Deferred past retry.lifetime: bounced (4.4.7) with a DSN from <> to the sender. */
static void lifetime_bounce(void **state)
{
	(void)state;
	replay("lifetime", RETRY("0s") DIRECT,
	       "HOST mx1.example.net down\n"
	       "STEP 0 SEND l@example.net\n"
	       "STEP 3500 RUN\n"
	       "EXPECT l@example.net deferred\n"
	       "EXPECT_MAIL mailbox.sender.example.org 0\n"
	       "STEP 4200 RUN\n"
	       "EXPECT l@example.net gone\n"
	       "EXPECT_MAIL mailbox.sender.example.org 1 from=<> rcpt=app@sender.example.org\n");
}

/* Still deferred after retry.delay_notice: one delay DSN, once. */
static void delay_notice(void **state)
{
	(void)state;
	replay("delay", RETRY("600s") DIRECT,
	       "HOST mx1.example.net down\n"
	       "STEP 0 SEND n@example.net\n"
	       "STEP 500 RUN\n"
	       "EXPECT_MAIL mailbox.sender.example.org 0\n"
	       "STEP 1400 RUN\n"
	       "EXPECT n@example.net deferred attempts=4\n"
	       "EXPECT_MAIL mailbox.sender.example.org 1 from=<> rcpt=app@sender.example.org\n"
	       "STEP 3000 RUN\n"
	       "EXPECT n@example.net deferred\n"
	       "EXPECT_MAIL mailbox.sender.example.org 1 from=<>\n");
}

/* A relay that cannot be reached: the job moves to the next route at once; the
 * path is down, so the next message does not try it. */
static void failover_to_next_route(void **state)
{
	(void)state;
	replay("failover", RETRY("0s") RELAYS,
	       "HOST 127.0.0.5 down\n"
	       "STEP 0 SEND f@anywhere.example\n"
	       "STEP 1 RUN\n"
	       "EXPECT f@anywhere.example gone\n"
	       "EXPECT_MAIL 127.0.0.6 1 rcpt=f@anywhere.example\n"
	       "EXPECT_TXN 127.0.0.5 1\n"
	       "STEP 10 SEND f2@anywhere.example\n"
	       "STEP 11 RUN\n"
	       "EXPECT_MAIL 127.0.0.6 2\n"
	       "EXPECT_TXN 127.0.0.5 1\n");
}

/* Every route down: the mail waits (4xx) without a connection until a probe is due. */
static void every_route_down(void **state)
{
	(void)state;
	replay("alldown", RETRY("0s") RELAYS,
	       "HOST 127.0.0.5 down\nHOST 127.0.0.6 down\n"
	       "STEP 0 SEND d@anywhere.example\n"
	       "STEP 1 RUN\n"
	       "EXPECT d@anywhere.example deferred attempts=1\n"
	       "EXPECT_TXN 127.0.0.5 1\nEXPECT_TXN 127.0.0.6 1\n"
	       "STEP 10 SEND d2@anywhere.example\n"
	       "STEP 11 RUN\n"
	       "EXPECT d2@anywhere.example deferred attempts=1\n"
	       "STEP 1000 RUN\n"
	       "EXPECT_TXN 127.0.0.5 1\nEXPECT_TXN 127.0.0.6 1\n"
	       "STEP 1000 HOST 127.0.0.6 ok\n"
	       "STEP 5000 RUN\n"
	       "EXPECT d@anywhere.example gone\nEXPECT d2@anywhere.example gone\n"
	       "EXPECT_MAIL 127.0.0.6 2\n");
}

/* A warm-up cap of 3 a day: 3 go direct, the rest spill to the relay at once. */
static void warmup_spill(void **state)
{
	(void)state;
	replay("warmup", RETRY("0s")
	       "routes = { direct = { type = \"mx\"; warmup = { start = 3; growth = 2.0; per = \"day\"; }; }; "
	       "r1 = { type = \"relay\"; host = \"127.0.0.5:25\"; tls = \"none\"; }; };\n"
	       "rules = ( { via = [ \"direct\", \"r1\" ]; } );\n",
	       "STEP 0 SEND u0@example.net\nSTEP 0 SEND u1@example.net\nSTEP 0 SEND u2@example.net\n"
	       "STEP 0 SEND u3@example.net\nSTEP 0 SEND u4@example.net\nSTEP 0 SEND u5@example.net\n"
	       "STEP 0 SEND u6@example.net\nSTEP 0 SEND u7@example.net\n"
	       "STEP 5 RUN\n"
	       "EXPECT_MAIL mx1.example.net 3\n"
	       "EXPECT_MAIL 127.0.0.5 5\n");
}

/* Issue 19: the cap is the receiving provider's, known from the MX host, and
 * holds for connections that are reused: a domain hosted at Google (the
 * recipient domain and the MX host share nothing) gets exactly 3 direct. */
static void warmup_spill_by_mx_provider(void **state)
{
	(void)state;
	replay("warmup_mx", RETRY("0s")
	       "routes = { direct = { type = \"mx\"; warmup = { start = 3; growth = 2.0; per = \"day\"; }; }; "
	       "r1 = { type = \"relay\"; host = \"127.0.0.5:25\"; tls = \"none\"; }; };\n"
	       "rules = ( { via = [ \"direct\", \"r1\" ]; } );\n",
	       "ZONE MX gmail.example 10 gmail-smtp-in.l.google.com\n"
	       "ZONE A gmail-smtp-in.l.google.com 192.0.2.7\n"
	       "ZONE MX hosted.example 10 alt1.aspmx.l.google.com\n"
	       "ZONE A alt1.aspmx.l.google.com 192.0.2.8\n"
	       "STEP 0 SEND u0@gmail.example\nSTEP 0 SEND u1@gmail.example\nSTEP 0 SEND u2@gmail.example\n"
	       "STEP 0 SEND u3@gmail.example\nSTEP 0 SEND u4@gmail.example,u5@gmail.example\n"
	       "STEP 0 SEND u6@hosted.example\nSTEP 0 SEND u7@gmail.example\n"
	       "STEP 5 RUN\n"
	       "EXPECT_MAIL gmail-smtp-in.l.google.com 3\n"
	       "EXPECT_MAIL alt1.aspmx.l.google.com 0\n"
	       "EXPECT_MAIL 127.0.0.5 5\n");
}

/* A message counted against the cap but not delivered (its first MX host
 * is down) gives its share back: still exactly 3 delivered direct. */
static void warmup_released_on_failure(void **state)
{
	(void)state;
	replay("warmup_release", RETRY("0s")
	       "routes = { direct = { type = \"mx\"; warmup = { start = 3; growth = 2.0; per = \"day\"; }; }; "
	       "r1 = { type = \"relay\"; host = \"127.0.0.5:25\"; tls = \"none\"; }; };\n"
	       "rules = ( { via = [ \"direct\", \"r1\" ]; } );\n",
	       "ZONE MX two.example 10 aspmx.l.google.com\nZONE MX two.example 20 alt1.aspmx.l.google.com\n"
	       "ZONE A aspmx.l.google.com 192.0.2.7\nZONE A alt1.aspmx.l.google.com 192.0.2.8\n"
	       "HOST aspmx.l.google.com down\n"
	       "STEP 0 SEND u0@two.example\nSTEP 0 SEND u1@two.example\nSTEP 0 SEND u2@two.example\n"
	       "STEP 0 SEND u3@two.example\nSTEP 0 SEND u4@two.example\nSTEP 0 SEND u5@two.example\n"
	       "STEP 5 RUN\n"
	       "EXPECT_MAIL alt1.aspmx.l.google.com 3\n"
	       "EXPECT_MAIL 127.0.0.5 3\n");
}

/* Issue 19: route health is kept per receiving provider, known from the MX
 * before routing: Gmail blocking us for one Google-hosted domain takes the
 * direct path to every Google-hosted domain out of use at once. */
static void health_class_is_the_mx_provider(void **state)
{
	(void)state;
	replay("health_mx", RETRY("0s")
	       "routes = { direct = { type = \"mx\"; }; "
	       "r1 = { type = \"relay\"; host = \"127.0.0.5:25\"; tls = \"none\"; }; };\n"
	       "rules = ( { via = [ \"direct\", \"r1\" ]; } );\n",
	       "ZONE MX a.example 10 gmail-smtp-in.l.google.com\nZONE A gmail-smtp-in.l.google.com 192.0.2.7\n"
	       "ZONE MX b.example 10 alt1.aspmx.l.google.com\nZONE A alt1.aspmx.l.google.com 192.0.2.8\n"
	       "HOST gmail-smtp-in.l.google.com reply 554 5.7.1 Service unavailable; client host [192.0.2.1] "
	       "blocked using zen.spamhaus.org\n"
	       "STEP 0 SEND x@a.example\n"
	       "STEP 1 RUN\n"
	       "EXPECT x@a.example gone\n"
	       "EXPECT_MAIL 127.0.0.5 1 rcpt=x@a.example\n"
	       "STEP 2 SEND y@b.example\n"
	       "STEP 3 RUN\n"
	       "EXPECT_TXN alt1.aspmx.l.google.com 0\n"
	       "EXPECT_MAIL 127.0.0.5 1 rcpt=y@b.example\n");
}

/* A rate of 6/min: a burst of two, then one every 10 s; the held mail waits
 * in memory (the destination held), sessions stay few: at most two per
 * message (a client is made before the rate check; it opens no socket
 * until a transaction starts). */
static void rate_limit_parking(void **state)
{
	(void)state;
	replay("rate", RETRY("0s") DIRECT "limits = ( { domain = [ \"example.net\" ]; rate = \"6/min\"; } );\n",
	       "STEP 0 SEND r0@example.net\nSTEP 0 SEND r1@example.net\nSTEP 0 SEND r2@example.net\n"
	       "STEP 0 SEND r3@example.net\nSTEP 0 SEND r4@example.net\nSTEP 0 SEND r5@example.net\n"
	       "STEP 5 RUN\n"
	       "EXPECT_MAIL mx1.example.net 2\n"
	       "STEP 60 RUN\n"
	       "EXPECT_MAIL mx1.example.net 6\n"
	       "EXPECT_TXN mx1.example.net 6\n"
	       "EXPECT_CLIENTS mx1.example.net 12\n");
}

/* Issue 19: a `limits` rate by provider counts a message when it is
 * committed to a connection: eight messages at once to Google-hosted
 * domains (as many connections as max_per_destination allows) get exactly
 * the hour's 3 through, the rest wait in the spool (a rate does not spill;
 * one that comes while its destination is held for the hour too: not held
 * in memory past HOLD_MAX), and their retries later do not get more. */
static void rate_reserved_at_commit_by_provider(void **state)
{
	(void)state;
	replay("rate_provider", RETRY("0s") DIRECT
	       "limits = ( { provider = \"google\"; rate = [ \"100/s\", \"3/h\" ]; } );\n",
	       "ZONE MX gmail.example 10 gmail-smtp-in.l.google.com\n"
	       "ZONE A gmail-smtp-in.l.google.com 192.0.2.7\n"
	       "ZONE MX hosted.example 10 alt1.aspmx.l.google.com\n"
	       "ZONE A alt1.aspmx.l.google.com 192.0.2.8\n"
	       "STEP 0 SEND u0@gmail.example\nSTEP 0 SEND u1@gmail.example\nSTEP 0 SEND u2@gmail.example\n"
	       "STEP 0 SEND u3@gmail.example\nSTEP 0 SEND u4@gmail.example,u5@gmail.example\n"
	       "STEP 0 SEND u6@gmail.example\nSTEP 0.5 SEND u7@hosted.example\n"
	       "STEP 1 SEND u8@gmail.example\n"
	       "STEP 5 RUN\n"
	       "EXPECT u8@gmail.example deferred attempts=1\n"
	       "EXPECT_MAIL gmail-smtp-in.l.google.com 3\n"
	       "EXPECT_TXN gmail-smtp-in.l.google.com 3\n"
	       "EXPECT_TXN alt1.aspmx.l.google.com 0\n"
	       "EXPECT u6@gmail.example deferred attempts=1\n"
	       "EXPECT u7@hosted.example deferred attempts=1\n"
	       "STEP 200 RUN\n"
	       "EXPECT u7@hosted.example deferred attempts=2\n"
	       "EXPECT_TXN gmail-smtp-in.l.google.com 3\n"
	       "EXPECT_TXN alt1.aspmx.l.google.com 0\n");
}

/* Reserve, then release on failure: the best MX host refuses the session,
 * so the first message is counted there, given back, and counted again at
 * the next host (whose session the others then share): still exactly the
 * hour's 3 delivered (without the release, the failed attempt would use up
 * a slot: 2 delivered). */
static void rate_released_on_failure(void **state)
{
	(void)state;
	replay("rate_release", RETRY("0s") DIRECT
	       "limits = ( { provider = \"gmail\"; rate = [ \"100/s\", \"3/h\" ]; } );\n",
	       "ZONE MX two.example 10 aspmx.l.google.com\nZONE MX two.example 20 alt1.aspmx.l.google.com\n"
	       "ZONE A aspmx.l.google.com 192.0.2.7\nZONE A alt1.aspmx.l.google.com 192.0.2.8\n"
	       "HOST aspmx.l.google.com down\n"
	       "STEP 0 SEND u0@two.example\nSTEP 0 SEND u1@two.example\nSTEP 0 SEND u2@two.example\n"
	       "STEP 0 SEND u3@two.example\nSTEP 0 SEND u4@two.example\n"
	       "STEP 5 RUN\n"
	       "EXPECT_MAIL alt1.aspmx.l.google.com 3\n"
	       "EXPECT_TXN aspmx.l.google.com 1\n"
	       "EXPECT u3@two.example deferred attempts=1\n"
	       "EXPECT u4@two.example deferred attempts=1\n");
}

/* Issue 11 item 2: one relay down (probe in an hour), the other's rate cut
 * by the back-off after "451 try again later": the held destination waits
 * for its slot; no session is opened and dropped over and over meanwhile. */
static void held_failover_does_not_spin(void **state)
{
	(void)state;
	replay("spin", RETRY("0s") RELAYS "limits = ( { route = [ \"r2\" ]; rate = \"1/min\"; } );\n",
	       "HOST 127.0.0.5 down\n"
	       "HOST 127.0.0.6 reply 451 4.7.1 Try again later\n"
	       "STEP 0 SEND s0@anywhere.example\n"
	       "STEP 0 HOST 127.0.0.6 ok\n"
	       "STEP 0 SEND s1@anywhere.example\nSTEP 0 SEND s2@anywhere.example\n"
	       "STEP 0 SEND s3@anywhere.example\nSTEP 0 SEND s4@anywhere.example\n"
	       "STEP 20 RUN\n"
	       "EXPECT s4@anywhere.example queued\n"
	       "EXPECT_CLIENTS 127.0.0.6 4\n"
	       "STEP 600 RUN\n"
	       "EXPECT s4@anywhere.example gone\n"
	       "EXPECT_CLIENTS 127.0.0.6 12\n");
}

/* Issue 11 item 7: an MX that is our own listener (localhost, port 2525 as
 * base_conf listens) bounces 5.4.6 at once, without a connection; the same
 * host on another port is somebody else. */
static void mail_loop_bounces(void **state)
{
	(void)state;
	replay("loop", RETRY("0s") "routes = { direct = { type = \"mx\"; port = 2525; }; "
	       "other = { type = \"mx\"; port = 2526; }; };\n"
	       "rules = ( { recipient_domain = \"other.example\"; via = [ \"other\" ]; }, "
	       "{ via = [ \"direct\" ]; } );\n",
	       "ZONE MX loop.example 10 localhost\nZONE A localhost 127.0.0.1\n"
	       "ZONE MX other.example 10 localhost\n"
	       "STEP 0 SEND x@loop.example,y@loop.example\n"
	       "STEP 0 SEND z@other.example\n"
	       "STEP 1 RUN\n"
	       "EXPECT x@loop.example gone\nEXPECT y@loop.example gone\n"
	       "EXPECT_TXN localhost 1\n"
	       "EXPECT_MAIL localhost 1 rcpt=z@other.example\n"
	       "EXPECT_MAIL mailbox.sender.example.org 1 from=<> rcpt=app@sender.example.org\n");
}

/* Issue 21: at the total cap an idle cached connection never blocks new
 * work: two connections sit idle (the 2 s cache), a third domain's mail
 * closes the least recently used one and goes at once, not when the cache
 * expires. */
static void idle_conn_evicted_at_cap(void **state)
{
	(void)state;
	replay("evict", RETRY("0s") DIRECT "delivery = { max_connections = 2; };\n",
	       "ZONE MX a.example 10 mx.a.example\nZONE A mx.a.example 192.0.2.11\n"
	       "ZONE MX b.example 10 mx.b.example\nZONE A mx.b.example 192.0.2.12\n"
	       "ZONE MX c.example 10 mx.c.example\nZONE A mx.c.example 192.0.2.13\n"
	       "STEP 0 SEND x@a.example\n"
	       "STEP 0.2 SEND y@b.example\n"
	       "STEP 0.5 SEND z@c.example\n"
	       "STEP 0.6 RUN\n"
	       "EXPECT_MAIL mx.c.example 1\n"
	       "STEP 0.7 SEND w@b.example\n"
	       "STEP 0.8 RUN\n"
	       "EXPECT_CLIENTS mx.b.example 1\n"   /* b's idle one was kept: a's, older, was closed */
	       "EXPECT_MAIL mx.b.example 2\n"
	       "STEP 0.9 SEND v@a.example\n"
	       "STEP 1 RUN\n"
	       "EXPECT_MAIL mx.a.example 2\n"
	       "EXPECT_CLIENTS mx.a.example 2\n");
}

/* Issue 21: domains whose MX answer is the same host set share one
 * destination and its connections: three domains, one session; one
 * message to all three goes in one transaction.  Domains with MX hosts of
 * their own names (as Microsoft 365 gives each) that have the same address
 * share an idle session by address. */
static void conns_shared_by_mx_host(void **state)
{
	(void)state;
	replay("share", RETRY("0s") DIRECT,
	       "ZONE MX one.example 10 aspmx.l.google.com\nZONE MX two.example 10 aspmx.l.google.com\n"
	       "ZONE MX three.example 10 aspmx.l.google.com\nZONE A aspmx.l.google.com 192.0.2.7\n"
	       "ZONE MX four.example 10 four-example.mail.protection.outlook.com\n"
	       "ZONE MX five.example 10 five-example.mail.protection.outlook.com\n"
	       "ZONE A four-example.mail.protection.outlook.com 192.0.2.9\n"
	       "ZONE A five-example.mail.protection.outlook.com 192.0.2.9\n"
	       "STEP 0 SEND a@one.example\nSTEP 0 SEND b@two.example\nSTEP 0 SEND c@three.example\n"
	       "STEP 0.5 RUN\n"
	       "EXPECT_MAIL aspmx.l.google.com 3\n"
	       "EXPECT_CLIENTS aspmx.l.google.com 1\n"
	       "STEP 1 SEND x@one.example,y@two.example,z@three.example\n"
	       "STEP 1.5 RUN\n"
	       "EXPECT_MAIL aspmx.l.google.com 6\n"
	       "EXPECT_TXN aspmx.l.google.com 4\n"
	       "EXPECT_CLIENTS aspmx.l.google.com 1\n"
	       "STEP 2 SEND d@four.example\n"
	       "STEP 2.5 SEND e@five.example\n"
	       "STEP 3 RUN\n"
	       "EXPECT_MAIL four-example.mail.protection.outlook.com 2\n"
	       "EXPECT_CLIENTS four-example.mail.protection.outlook.com 1\n"
	       "EXPECT_CLIENTS five-example.mail.protection.outlook.com 0\n"
	       "EXPECT d@four.example gone\nEXPECT e@five.example gone\n");
}

/* A limit that selects domains counts connections per domain: then each
 * domain keeps a destination (and sessions) of its own, as before. */
static void domain_limits_keep_one_dest_per_domain(void **state)
{
	(void)state;
	replay("share_off", RETRY("0s") DIRECT "limits = ( { domain = [ \"*.example\" ]; connections = 5; } );\n",
	       "ZONE MX one.example 10 aspmx.l.google.com\nZONE MX two.example 10 aspmx.l.google.com\n"
	       "ZONE A aspmx.l.google.com 192.0.2.7\n"
	       "STEP 0 SEND a@one.example\nSTEP 0.2 SEND b@two.example\n"
	       "STEP 1 RUN\n"
	       "EXPECT_MAIL aspmx.l.google.com 2\n"
	       "EXPECT_TXN aspmx.l.google.com 2\n"
	       "STEP 1 SEND x@one.example,y@two.example\n"
	       "STEP 2 RUN\n"
	       "EXPECT_TXN aspmx.l.google.com 4\n");
}

/* Shutdown with an idle session to a.example and c.example and a message
 * held for b.example's rate in memory: delivery is stopped only after the
 * held message is dropped and recorded, though the idle sessions are
 * closed first (the scheduler panics on a record after its stop; such a
 * record's answer once came to a freed scheduler). */
static void shutdown_drops_held_before_stopping(void **state)
{
	(void)state;
	replay("shutdown", RETRY("0s") DIRECT "limits = ( { domain = [ \"b.example\" ]; rate = \"1/min\"; } );\n",
	       "ZONE MX a.example 10 mx.a.example\nZONE A mx.a.example 192.0.2.11\n"
	       "ZONE MX b.example 10 mx.b.example\nZONE A mx.b.example 192.0.2.12\n"
	       "ZONE MX c.example 10 mx.c.example\nZONE A mx.c.example 192.0.2.13\n"
	       "STEP 0 SEND x@b.example\nSTEP 0 SEND y@b.example\n"   /* b's destination is the last one */
	       "STEP 0.2 SEND z@a.example\n"
	       "STEP 0.4 SEND w@c.example\n"
	       "STEP 1 RUN\n"
	       "EXPECT_MAIL mx.a.example 1\nEXPECT_MAIL mx.b.example 1\nEXPECT_MAIL mx.c.example 1\n"
	       "EXPECT_CLIENTS mx.a.example 1\n");
}

_Static_assert(ROUTE_BATCH == 16, "the two scenarios below count 40 - 16 = 24 waiting after the first batch");

/* A claim's answer is routed ROUTE_BATCH messages per loop turn (the loop
 * answers HTTP and SMTP clients between batches); every batch is routed. */
static void claimed_routed_in_batches(void **state)
{
	(void)state;
	replay("batches", RETRY("0s") DIRECT,
	       "ZONE MX a.example 10 mx.a.example\nZONE A mx.a.example 192.0.2.11\n"
	       "STEP 0 SENDN 40 x@a.example\n"
	       "STEP 1 RUN\n"
	       "CLAIM\n"
	       "EXPECT_CLAIMED 24\n"
	       "STEP 10 RUN\n"
	       "EXPECT_CLAIMED 0\n"
	       "EXPECT_MAIL mx.a.example 40\n"
	       "EXPECT x@a.example gone\n");
}

/* Stopping while claimed messages wait for their batch: they are dropped
 * (due again at the next start), and delivery stops with none in memory. */
static void shutdown_drops_unrouted_claims(void **state)
{
	(void)state;
	replay("unrouted", RETRY("0s") DIRECT,
	       "ZONE MX a.example 10 mx.a.example\nZONE A mx.a.example 192.0.2.11\n"
	       "STEP 0 SENDN 40 y@a.example\n"
	       "STEP 1 RUN\n"
	       "CLAIM\n"
	       "EXPECT_CLAIMED 24\n");
}

int main(void)
{
	log_init("test_scheduler", LOG_DEST_STDERR);
	evthread_use_pthreads();
	log_set_debug(getenv("SIM_DEBUG") != NULL);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(retry_schedule_with_jitter),
		cmocka_unit_test(greylisting),
		cmocka_unit_test(lifetime_bounce),
		cmocka_unit_test(delay_notice),
		cmocka_unit_test(failover_to_next_route),
		cmocka_unit_test(every_route_down),
		cmocka_unit_test(warmup_spill),
		cmocka_unit_test(warmup_spill_by_mx_provider),
		cmocka_unit_test(warmup_released_on_failure),
		cmocka_unit_test(health_class_is_the_mx_provider),
		cmocka_unit_test(rate_limit_parking),
		cmocka_unit_test(rate_reserved_at_commit_by_provider),
		cmocka_unit_test(rate_released_on_failure),
		cmocka_unit_test(held_failover_does_not_spin),
		cmocka_unit_test(mail_loop_bounces),
		cmocka_unit_test(idle_conn_evicted_at_cap),
		cmocka_unit_test(conns_shared_by_mx_host),
		cmocka_unit_test(domain_limits_keep_one_dest_per_domain),
		cmocka_unit_test(shutdown_drops_held_before_stopping),
		cmocka_unit_test(claimed_routed_in_batches),
		cmocka_unit_test(shutdown_drops_unrouted_claims),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
