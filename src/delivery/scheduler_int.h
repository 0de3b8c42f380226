/*
 * scheduler_int: what the modules of the scheduler share, and nobody else.
 *
 * Contract: the objects of delivery are defined here, and each module
 * owns a part of their life:
 *   scheduler.c     claim, pump and record: qmsg from the spool to its
 *                   outcomes, timers, kick, reload and shutdown.
 *   sched_route.c   per-recipient routing: the rules (with the MX hosts
 *                   when a rule needs them), the first usable route of
 *                   via, and jobs queued at their destinations.
 *   sched_mx.c      the one reader of an MX answer (RFC 5321 5.1, RFC 7505).
 *   sched_dest.c    destinations, connections, targets, source pools and
 *                   parking: a job from its destination to a transaction.
 *   sched_trouble.c what a failure means: next host, fail over to the next
 *                   route, bounce, or defer (as Postfix's smtp_trouble.c).
 *   sched_health.c  route health kept in the spool (restarts, `routes`).
 *   sched_self.c    whether a target is this daemon's own listener (mail loops).
 * Time and the network come through seams (struct sched_clock and struct
 * sched_net, scheduler.h): nothing here reads the clock or opens a socket
 * directly, so tests replay scenarios in simulated time.
 *
 * Objects:
 *   qmsg  a claimed message; counts the jobs still working on it and
 *         collects one outcome per due recipient; recorded once, when the
 *         last job is done (so a message is never claimed twice at once).
 *   job   the recipients of one qmsg that go to one destination.
 *   dest  a destination: an mx route and a recipient domain, an mx route
 *         and an MX host set (shared by every domain whose MX answer is
 *         that set: issue 21), or a relay route.  Holds the jobs waiting
 *         and counts its connections.
 *   conn  one delivery connection of a dest: resolves its targets (MX
 *         hosts in preference order, each address of each), connects to
 *         them in turn until one takes the transaction, and then takes the
 *         dest's next job on the same connection while there is one.
 */
#ifndef OUTPOST_SCHEDULER_INT_H
#define OUTPOST_SCHEDULER_INT_H
#include <stddef.h>
#include <sys/socket.h>
#include <time.h>

#include "core/config.h"
#include "delivery/health.h"
#include "delivery/reply.h"
#include "delivery/router.h"
#include "delivery/scheduler.h"
#include "delivery/smtp_client.h"
#include "dns/resolver.h"
#include "spool/spool_queue.h"

struct buf;

#define MAX_INFLIGHT_MSGS 2000   /* claimed messages held in memory at once */
#define ROUTE_BATCH 16           /* claimed messages routed per loop turn (scheduler.c) */
#define MAX_TARGETS 10           /* addresses tried per connection attempt */
#define IDLE_POLL 5              /* seconds between looks at the queue when nothing is due */
#define MAX_POOL 64              /* source addresses used per route */
#define HOLD_MAX 60              /* seconds a limit may hold claimed mail in memory */
#define HEALTH_SAVE 5            /* seconds between saves of changed route health */
#define CONN_IDLE 2              /* seconds a connection waits for the next job (as Postfix's cache) */

struct outcome {
	int set;
	struct reply_info reply;
	char diag[600];           /* "550 5.1.1 text" as the server said it, or "4.4.1 local reason" */
	char host[256], ip[64], tls[128];
	const char *route;
};

struct qmsg {
	struct scheduler *sch;
	const struct config *cf;  /* the one it was routed by: a reference (config_ref) */
	struct spool_due_msg *m;
	struct outcome *out;      /* one per m->rcpts */
	int jobs;
	char from_domain[256];    /* of its From: header, for the rules */
	struct rcpt_route *rr;    /* routing decisions, until the jobs are made */
	unsigned mx_pending;      /* MX lookups the rules wait for */
	struct qmsg *rec_next, **rec_pprev;  /* in s->unrecorded while the spool owes its answer */
};

/* How one recipient is routed: its rule (first match), its destination
 * class for route health, and the MX hosts when the rules needed them. */
struct rcpt_route {
	enum router_verdict verdict;
	const struct rule_conf *rule;
	const struct route_conf *forced;  /* a probe's own route, no rule */
	char dclass[64];
	const struct route_conf *route;   /* the first usable of via */
	size_t via_pos;
	int taken;                        /* in a job */
	char suppressed[300];             /* the suppression list's reply: bounce it, send nothing */
};

struct job {
	struct qmsg *q;
	const struct route_conf *route;
	const struct rule_conf *rule;     /* NULL: a forced route, no failover */
	size_t via_pos;                   /* route = rule->via[via_pos] */
	char dclass[64];
	size_t *idx;              /* into q->m->rcpts */
	size_t n;
	struct job *next;
};

struct dest {
	struct scheduler *sch;
	char *key;
	const struct route_conf *route;
	const struct config *cf;  /* a reference to the config route is in */
	char *domain;             /* mx routes, one domain (NULL on a shared dest) */
	char **mx;                /* a shared dest's MX hosts, NULL-ended, in preference order */
	struct job *head, **tail;
	unsigned conns;           /* including idle ones */
	struct conn *idle;        /* connected, waiting for a job */
	double hold_until;        /* a limit or back-off: no new transaction before */
	const char *hold_why;     /* what holds it, for `queue list` (a constant string) */
	struct dest *next;
};

struct target {
	char host[256];
	struct sockaddr_storage ss;
	socklen_t sslen;
};

struct conn {
	struct dest *d;
	struct smtp_client *client;
	struct job *job;
	struct target targets[MAX_TARGETS];
	size_t ntargets, cur;
	char **hosts;             /* names still to resolve, in order */
	size_t nhosts, nexthost;
	struct resolver_query *q;
	struct reply_info last;   /* the last connection-level failure */
	const char *const *rcpts; /* the addresses of the current job */
	char *return_path;        /* its envelope sender when rewritten (VERP), or NULL */
	struct sched_timer *idle_ev;  /* ends an idle wait */
	struct conn *next_idle;
	struct conn *all_next, **all_pprev;  /* the scheduler's list of every connection */
	int parked;               /* on its destination's idle list */
	double idle_since;        /* when it was parked: the least recently used is closed first */
	char count_domain[256];   /* the domain its session was counted with (throttle_conn_open) */
	const struct route_source *source;  /* of the current session, or NULL */
	int counted;              /* the session counts against the limits */
	unsigned sent;            /* messages sent in this session */
	double counted_at;        /* when its current message was counted (throttle_release) */
	double txn_start;         /* when the current transaction began (metrics) */
};

struct scheduler {
	char **listed_src;        /* source addresses the monitor found listed */
	size_t nlisted_src;
	struct event_base *base;
	const struct config *cf;
	struct spool *sp;
	struct sched_clock clock;
	struct sched_net net;
	SSL_CTX *ssl;
	struct sched_timer *timer;
	struct dest *dests;
	struct conn *all_conns;   /* every connection (sched_conns_describe) */
	unsigned conns, inflight, recording;
	struct qmsg *unrecorded;  /* records the spool has not answered (freed by scheduler_free
				   * when a forced exit's spool_close dropped their answers) */
	unsigned routing;         /* messages waiting for MX lookups the rules need */
	int claiming, kicked, stopping;
	/* a claim's answer not routed yet: ROUTE_BATCH per loop turn, the rest
	 * on route_ev, so the loop (HTTP, SMTP sessions) waits for no more */
	struct spool_due_msg **claimed;
	size_t nclaimed, claimed_next;
	struct sched_timer *route_ev;
	int dropping;             /* in drop_waiting: not stopped before every job is dropped */
	int stopped_done;         /* stopped() was called: nothing may be recorded after */
	int pumping, repump;      /* in sched_pump; a connection ended meanwhile: one more pass */
	long *src_weight;         /* route_pick_source's state, MAX_POOL per route */
	/* the envelope sender to send with (feedback: VERP), or NULL: keep it */
	int (*return_path)(void *arg, const char *qid, const char *sender, char *out, size_t outlen);
	void *return_path_arg;
	/* recipients not to send to (feedback: the suppression list when it
	 * accepts at RCPT and bounces), or NULL */
	int (*rcpt_filter)(void *arg, const char *rcpt, const char *sender, const char *user, const char *qid,
			   char *reply, size_t replylen);
	void *rcpt_filter_arg;
	size_t nsrc_weight;
	struct health *health;
	struct sched_timer *health_ev;  /* saves route health when it changed */
	int health_loading;       /* the spool has not answered the load yet */
	struct throttle *thr;
	struct sched_timer *hold_ev;    /* wakes pump when a held destination may go on */
	struct sched_timer *soon_ev;    /* sched_pump_soon() */
	double hold_next;         /* when hold_ev fires, 0: not armed */
	struct mx_cached *mxcache;      /* sched_mx.c */
	size_t nmxcache;
	struct mx_seen **mxseen;        /* sched_mx.c: best MX host per domain, for queue show */
	size_t nmxseen;
	struct sockaddr_storage *self;  /* our own listeners: a target there is a loop */
	size_t nself;
	void (*stopped)(void *);
	void *stopped_arg;
	const struct dkim_signer *signer;  /* signs DSNs and delay notices (NULL: none) */
	/* the last failed reply's reason (classify_reason): a route that is
	 * down gives every message the same words, and the classifier's
	 * pattern scan was 3 % of the daemon's CPU under a dead relay */
	struct {
		char enh[16], diag[600];
		int code;
		const char *reason;   /* a static string of classify.c; NULL: none yet */
	} why_memo;
};

/* ---- scheduler.c ---- */
double sched_now(const struct scheduler *s);
time_t sched_time(const struct scheduler *s);
struct sched_timer *sched_timer_new(struct scheduler *s, void (*fire)(void *arg), void *arg);
void sched_timer_add(struct scheduler *s, struct sched_timer *t, double seconds);
void sched_timer_del(struct scheduler *s, struct sched_timer *t);
void sched_timer_free(struct scheduler *s, struct sched_timer *t);
void sched_pump(struct scheduler *s);
/* A pump from the loop, at once but not from inside the caller (which may
 * be draining a destination that pump would start again). */
void sched_pump_soon(struct scheduler *s);
void qmsg_release(struct qmsg *q);
void job_done(struct job *j);
const char *rcpt_domain_of(const char *address);

/* ---- sched_route.c ---- */
void sched_route_message(struct scheduler *s, struct spool_due_msg *m);
const struct route_conf *route_named(const struct config *cf, const char *name);
/* The first route of rule, from via position `from` on, that is usable for
 * dclass (not down, warm-up not full); NULL when none is. */
const struct route_conf *via_next(struct scheduler *s, const struct qmsg *q, const struct rule_conf *rule,
				  size_t from, const char *dclass, size_t *pos);
/* Queues j, moved to a new route, at its destination (split per domain on mx routes). */
void job_requeue(struct job *j);

/* ---- sched_mx.c ---- */
enum mx_kind {
	MX_HOSTS,                 /* hosts to try (the domain itself when it has no MX records) */
	MX_NONE,                  /* a verdict for every recipient: NXDOMAIN or null MX */
	MX_FAILED,                /* the lookup failed: defer */
};
struct mx_answer {
	enum mx_kind kind;
	char **hosts;             /* NULL-ended, in preference order; never NULL unless MX_FAILED */
	size_t n;
	struct reply_info verdict;  /* MX_NONE and MX_FAILED */
};
void mx_answer_read(const struct dns_result *res, const char *domain, struct mx_answer *a);
void mx_answer_clear(struct mx_answer *a);
/* A fresh cached answer for domain (valid until the next mx_cache_put), or NULL. */
const struct mx_answer *mx_cache_get(struct scheduler *s, const char *domain);
/* Keeps a copy of a definite answer (not MX_FAILED) for a while. */
void mx_cache_put(struct scheduler *s, const char *domain, const struct mx_answer *a);
void mx_cache_free(struct scheduler *s);
/* Each domain whose MX was answered in the last day, with its best host
 * then (lowercased domain; for `queue show`: the provider it counts under). */
void mx_seen_each(struct scheduler *s, void (*fn)(void *arg, const char *domain, const char *host), void *arg);

/* ---- sched_dest.c ---- */
void dest_add_job(struct scheduler *s, struct job *j, const char *domain);
struct job *dest_pop(struct dest *d);
void dest_free_if_idle(struct dest *d);
/* Frees every destination without jobs or connections. */
void dest_sweep(struct scheduler *s);
/* d may start nothing new before t: pump looks again then. */
void dest_hold(struct dest *d, double t);
/* d's limit allows nothing for `wait` seconds, over HOLD_MAX (a day's cap,
 * an hour's rate): its waiting mail goes back to the spool (4.7.0, retried
 * by the schedule) rather than holding claimed messages and memory. */
void dest_defer_held(struct dest *d, double wait);
void conn_start(struct dest *d);
void conn_next_job(struct conn *c);
void conn_unpark(struct conn *c);
void conn_free(struct conn *c);
void conn_try_target(struct conn *c);
/* Closes the least recently used idle connection of any destination:
 * 1, or 0 when none is idle (issue 21: an idle one never blocks new work). */
int conn_evict_idle(struct scheduler *s);
/* Connections open and idle per route and provider (of the MX host they
 * are connected to; "relay" on relay routes), one line each:
 * "connections route=R provider=P open=N idle=M", and a total line. */
void sched_conns_describe(struct scheduler *s, struct buf *out);

/* ---- sched_trouble.c ---- */
/* "550 5.1.1 text" as the server said it, or "4.4.1 local reason". */
const char *reply_format(const struct reply_info *r, char *out, size_t outlen);
const char *job_route_name(const struct job *j);
/* Gives every recipient of job j the same result. */
void job_fail(struct job *j, const struct reply_info *r, const char *host);
/* The outcome of a transaction for the path's health; 1 when it was a
 * path fault and j has been failed over (or failed). */
int job_judge(struct job *j, const struct reply_info *rcpt, size_t n, const char *host, int answered);
/* j cannot go by its route now (a warm-up cap): the next route takes it, or it waits with r. */
void job_spill(struct job *j, const struct reply_info *r);
/* Fails every job waiting at d; a path fault moves them to their next route. */
void dest_fail_all(struct dest *d, const struct reply_info *r);
/* c has no target left: its job fails with c->last and so do the others at its dest. */
void conn_fail_job(struct conn *c);
/* Every source is over its warm-up cap for c's receiver: the job spills. */
void conn_warm_full(struct conn *c);
/* c's current target is this daemon: bounce 5.4.6 when it is the best host, else wait. */
void conn_loops_back(struct conn *c);
/* Whether the session failed as a whole and the next host or address may take the job. */
int txn_try_next_host(const struct conn *c, const struct smtp_txn_result *res);

/* ---- sched_self.c ---- */
void sched_self_load(struct scheduler *s, const struct config *cf);
int sched_is_self(const struct scheduler *s, const struct sockaddr_storage *target);

/* ---- sched_health.c ---- */
void sched_health_start(struct scheduler *s);
void sched_health_stop(struct scheduler *s);
void sched_health_save(struct scheduler *s);
void sched_health_conf(const struct config *cf, struct health_conf *hc);

#endif
