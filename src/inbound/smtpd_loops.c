/*
 * smtpd_loops: the inbound event loops beyond the main one, and the session
 * caps they share (smtpd_int.h).
 *
 * Contract:
 * - smtpd_caps_admit() checks a new connection against max_sessions,
 *   max_sessions_per_ip and max_local_sessions and counts it, under one
 *   mutex, so the caps hold exactly however many loops the sessions run on;
 *   smtpd_caps_release() uncounts it when its session is gone (any loop).
 * - smtpd_loops_start() starts inbound.threads - 1 loops ("shards"), each a
 *   thread with its own event base, worker pool, session list and
 *   listening sockets (made by smtpd_new; SO_REUSEPORT): a session never
 *   leaves the loop that accepted it, and what answers it (the spool's
 *   commit, a worker job) answers on that loop.
 * - Reload, shutdown and the main loop's on_queued hook cross loops as
 *   closures (core/loop_post.h); smtpd_loops_stop() stops and joins the
 *   threads; smtpd_loops_free() frees what is left once the spool has
 *   answered every commit (spool_wait_idle).
 */
#include <event2/event.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "core/log.h"
#include "core/loop_post.h"
#include "core/worker.h"
#include "core/xmalloc.h"
#include "inbound/auth.h"
#include "inbound/smtpd_int.h"
#include "spool/spool.h"

/* ---- caps: every loop's sessions, counted in one place ---- */

struct ip_count {
	char addr[64];
	unsigned n;
};

struct smtpd_caps {
	pthread_mutex_t mu;
	unsigned total, local;       /* total: TCP sessions; local: on the local socket */
	struct ip_count *ips;        /* addresses with at least one session */
	size_t nips, cap;
};

struct smtpd_caps *smtpd_caps_new(void)
{
	struct smtpd_caps *c = xcalloc(1, sizeof(*c));
	pthread_mutex_init(&c->mu, NULL);
	return c;
}

void smtpd_caps_free(struct smtpd_caps *c)
{
	if (c == NULL)
		return;
	pthread_mutex_destroy(&c->mu);
	free(c->ips);
	free(c);
}

static struct ip_count *ip_find(struct smtpd_caps *c, const char *addr)
{
	for (size_t i = 0; i < c->nips; i++)
		if (strcmp(c->ips[i].addr, addr) == 0)
			return &c->ips[i];
	return NULL;
}

const char *smtpd_caps_admit(struct smtpd_caps *c, const struct config *cf, const char *addr, int local)
{
	const char *why = NULL;
	pthread_mutex_lock(&c->mu);
	struct ip_count *ip = local ? NULL : ip_find(c, addr);
	if (local && c->local >= cf->inbound.max_local_sessions)
		why = "max_local_sessions";
	else if (!local && c->total >= cf->inbound.max_sessions)
		why = "max_sessions";
	else if (!local && ip && ip->n >= cf->inbound.max_sessions_per_ip)
		why = "max_sessions_per_ip";
	else if (local)
		c->local++;
	else {
		c->total++;
		if (ip == NULL) {
			if (c->nips == c->cap) {
				c->cap = c->cap ? 2 * c->cap : 16;
				c->ips = xreallocarray(c->ips, c->cap, sizeof(*c->ips));
			}
			ip = &c->ips[c->nips++];
			snprintf(ip->addr, sizeof(ip->addr), "%s", addr);   /* addr is at most 63 */
			ip->n = 0;
		}
		ip->n++;
	}
	pthread_mutex_unlock(&c->mu);
	return why;
}

void smtpd_caps_release(struct smtpd_caps *c, int local, const char *addr)
{
	pthread_mutex_lock(&c->mu);
	if (local) {
		c->local--;
	} else {
		c->total--;
		struct ip_count *ip = ip_find(c, addr);
		if (ip && --ip->n == 0)
			*ip = c->ips[--c->nips];   /* the last takes its place */
	}
	pthread_mutex_unlock(&c->mu);
}

/* ---- the shards ---- */

static void *shard_main(void *arg)
{
	struct smtpd *sd = arg;
	event_base_loop(sd->base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

/* A shard's on_queued: runs main's on the main loop, once per burst. */
static void kick_run(void *arg, int run)
{
	struct smtpd *main = arg;
	atomic_store(&main->kick_posted, 0);
	if (run && main->on_queued)
		main->on_queued(main->on_queued_arg);
}

static void shard_kick(void *arg)
{
	struct smtpd *main = arg;
	if (!atomic_exchange(&main->kick_posted, 1))
		loop_post(main->post, kick_run, main);
}

static struct smtpd *shard_new(struct smtpd *main, unsigned index)
{
	struct smtpd *sd = xcalloc(1, sizeof(*sd));
	char name[16];
	if ((sd->base = event_base_new()) == NULL)
		msg_fatal("event=startup_error reason=\"event_base_new failed\"");
	sd->main = main;
	sd->index = index;
	sd->post = loop_post_new(sd->base);
	sd->caps = main->caps;
	sd->cf = config_ref(main->cf);
	sd->spool = main->spool;
	sd->users = main->users ? users_ref(main->users) : NULL;
	sd->workers = worker_pool_new(sd->base, 1);
	sd->signer = main->signer;
	sd->local = main->local;
	sd->auth_throttle = main->auth_throttle;
	sd->rcpt_check = main->rcpt_check;
	sd->rcpt_check_arg = main->rcpt_check_arg;
	sd->ssl_ctx = main->ssl_ctx;
	sd->on_queued = shard_kick;
	sd->on_queued_arg = main;
	smtpd_listen_spare(sd);
	if (pthread_create(&sd->thread, NULL, shard_main, sd) != 0)
		msg_fatal("event=startup_error reason=\"pthread_create failed\"");
	int n = snprintf(name, sizeof(name), "inbound%u", index);
	if (n > 0 && (size_t)n < sizeof(name))   /* index < INBOUND_THREADS_MAX: it fits */
		pthread_setname_np(sd->thread, name);
	return sd;
}

/* The CPUs this process may run on (a cpuset or taskset may allow fewer
 * than are online). */
static long cpus_usable(void)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		return CPU_COUNT(&set);
	return sysconf(_SC_NPROCESSORS_ONLN);
}

unsigned smtpd_loops_wanted(const struct config *cf)
{
	long n = cf->inbound.threads ? (long)cf->inbound.threads : cpus_usable();
	if (n < 1)
		n = 1;
	return n > INBOUND_THREADS_MAX ? INBOUND_THREADS_MAX : (unsigned)n;
}

void smtpd_loops_start(struct smtpd *main)
{
	unsigned n = main->nloops;   /* as many as smtpd_new made sockets for */
	sigset_t all, old;
	/* signals are the main loop's (libevent's signal events there) */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	main->shards = xcalloc(n, sizeof(*main->shards));
	for (unsigned i = 1; i < n; i++)
		main->shards[main->nshards++] = shard_new(main, i);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	msg_info("event=inbound_loops loops=%u", n);
}

/* ---- reload ---- */

struct shard_reload {
	struct smtpd *sd;
	const struct config *cf;     /* a reference */
	struct users *users;         /* a reference, or NULL */
};

static void reload_run(void *arg, int run)
{
	struct shard_reload *r = arg;
	if (run) {
		config_free(r->sd->cf);
		r->sd->cf = r->cf;
		users_free(r->sd->users);
		r->sd->users = r->users;
	} else {
		config_free(r->cf);
		users_free(r->users);
	}
	free(r);
}

void smtpd_loops_reload(struct smtpd *main)
{
	for (unsigned i = 0; i < main->nshards; i++) {
		struct shard_reload *r = xcalloc(1, sizeof(*r));
		r->sd = main->shards[i];
		r->cf = config_ref(main->cf);
		r->users = main->users ? users_ref(main->users) : NULL;
		loop_post(r->sd->post, reload_run, r);
	}
}

/* ---- shutdown ---- */

/* On main: one shard more has no session left. */
static void drained_run(void *arg, int run)
{
	struct smtpd *main = arg;
	if (run) {
		main->draining--;
		smtpd_shutdown_check(main);
	}
}

/* A shard with no session left at shutdown tells main, once. */
void smtpd_shard_check_drained(struct smtpd *sd)
{
	if (sd->shutting_down && sd->nsessions == 0 && !sd->drained) {
		sd->drained = 1;
		loop_post(sd->main->post, drained_run, sd->main);
	}
}

static void shutdown_run(void *arg, int run)
{
	struct smtpd *sd = arg;
	if (!run)
		return;
	sd->shutting_down = 1;
	smtpd_close_listeners(sd);
	smtp_session_shutdown_all(sd);
	smtpd_shard_check_drained(sd);
}

void smtpd_loops_shutdown(struct smtpd *main)
{
	main->draining = main->nshards;
	for (unsigned i = 0; i < main->nshards; i++)
		loop_post(main->shards[i]->post, shutdown_run, main->shards[i]);
}

/* ---- teardown ---- */

void smtpd_loops_stop(struct smtpd *main)
{
	for (unsigned i = 0; i < main->nshards; i++) {
		struct smtpd *sd = main->shards[i];
		event_base_loopbreak(sd->base);
		pthread_join(sd->thread, NULL);
		sd->shutting_down = 1;
		sd->drained = 1;               /* main is not listening any more */
		smtpd_close_listeners(sd);
		smtp_session_free_all(sd);     /* their threads are gone: freed from here */
		worker_pool_free(sd->workers);
		sd->workers = NULL;
	}
}

void smtpd_loops_free(struct smtpd *main)
{
	spool_wait_idle(main->spool);   /* every commit has been handed to its loop */
	for (unsigned i = 0; i < main->nshards; i++) {
		struct smtpd *sd = main->shards[i];
		loop_post_free(sd->post);
		free(sd->listeners);
		users_free(sd->users);
		config_free(sd->cf);
		event_base_free(sd->base);
		free(sd);
	}
	free(main->shards);
	main->shards = NULL;
	main->nshards = 0;
}
