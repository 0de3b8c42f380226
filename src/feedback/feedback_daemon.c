/*
 * feedback_daemon: the feedback loop inside outpostd (contract in
 * feedback_daemon.h).  The writing connection is used only by the one
 * worker thread (and, before it starts, to load the suppression set), so
 * writes are serialised without a lock.  The checks read the in-memory
 * set (suppress_set.h), never the spool.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/config.h"
#include "core/log.h"
#include "core/worker.h"
#include "core/xmalloc.h"
#include "feedback/bounce.h"
#include "feedback/feedback_daemon.h"
#include "feedback/suppress.h"
#include "feedback/suppress_set.h"
#include "inbound/local_dispatch.h"
#include "inbound/tenant.h"
#include "obs/obs.h"

struct feedback_daemon {
	struct event_base *base;
	/* check_mu: feedback_rcpt_check runs on every inbound loop; cf, as it
	 * reads it, is taken under it (the main loop alone replaces cf, so its
	 * own reads need no lock); the set has its own locking */
	pthread_mutex_t check_mu;
	const struct config *cf;
	struct suppress_set *set;
	struct worker_pool *workers;
	sqlite3 *wdb;
	unsigned char key[256];
	size_t keylen;
	feedback_route_fn *route_fn;
	void *route_arg;
};

/* A route outcome noted on the worker, replayed on the loop. */
struct route_note {
	char *route, *host, *rcpt, *reason, *diag;
};

struct job {
	struct feedback_daemon *fd;
	const struct config *cf;    /* a reference: a reload may replace fd->cf meanwhile */
	char *data, *rcpt, *qid;
	size_t len;
	struct route_note *notes;
	size_t nnotes;
	unsigned complaints;        /* about a message of tenant (inbound/tenant.h) */
	char *tenant;
};

static void note_route(void *arg, const char *route, const char *host, const char *rcpt, const char *reason,
		       const char *diag)
{
	struct job *j = arg;
	j->notes = xreallocarray(j->notes, j->nnotes + 1, sizeof(*j->notes));
	j->notes[j->nnotes++] = (struct route_note){ xstrdup(route), xstrdup(host), xstrdup(rcpt), xstrdup(reason),
						     xstrdup(diag) };
}

/* The tenant of the message qid (still queued, or sent), or NULL. */
static char *tenant_of(sqlite3 *db, const char *qid)
{
	sqlite3_stmt *st = NULL;
	char *t = NULL;
	if (sqlite3_prepare_v2(db, "SELECT COALESCE((SELECT tenant FROM messages WHERE id = ?1),"
			       " (SELECT tenant FROM sent_history WHERE qid = ?1 AND tenant IS NOT NULL LIMIT 1))",
			       -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_bind_text(st, 1, qid, -1, SQLITE_STATIC) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW &&
	    sqlite3_column_type(st, 0) != SQLITE_NULL)
		t = xstrdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return t;
}

/* A suppression just written by feedback_apply on the worker: the set
 * takes the row as the spool now has it (an upsert keeps its first event). */
static void on_suppressed(void *arg, const char *address, const char *scope)
{
	struct feedback_daemon *fd = arg;
	char err[512];
	if (suppress_set_refresh(fd->set, fd->wdb, address, scope, time(NULL), err, sizeof(err)) < 0)
		msg_warn("event=suppress_set_error rcpt=<%s> error=\"%s\"", address, err);
}

static void job_run(void *arg)
{
	struct job *j = arg;
	struct bounce_report r;
	struct feedback_outcome out;
	char err[512];
	bounce_parse(j->data, j->len, &r);
	struct feedback_ctx fx = { j->cf, j->fd->keylen ? j->fd->key : NULL, j->fd->keylen, note_route, j,
				   on_suppressed, j->fd };
	if (feedback_apply(j->fd->wdb, &fx, &r, j->rcpt, time(NULL), &out, err, sizeof(err)) < 0)
		msg_warn("event=feedback_error qid=%s rcpt=<%s> error=\"%s\"", j->qid, j->rcpt, err);
	else
		msg_info("event=report qid=%s rcpt=<%s> kind=%s recipients=%zu attributed=%s original_qid=%s "
			 "suppressed=%u complaints=%u soft=%u route_failures=%u ignored=%u", j->qid, j->rcpt,
			 bounce_kind_name(r.kind), r.nrcpt, out.attributed ? "yes" : "no",
			 out.qid[0] ? out.qid : "-", out.suppressed, out.complaints, out.soft_counted,
			 out.route_failures, out.ignored);
	if (out.complaints && out.qid[0])
		j->tenant = tenant_of(j->fd->wdb, out.qid);
	j->complaints = out.complaints;
	bounce_report_free(&r);
}

static void job_free(void *arg)
{
	struct job *j = arg;
	for (size_t i = 0; i < j->nnotes; i++) {
		free(j->notes[i].route);
		free(j->notes[i].host);
		free(j->notes[i].rcpt);
		free(j->notes[i].reason);
		free(j->notes[i].diag);
	}
	free(j->notes);
	config_free(j->cf);
	free(j->data);
	free(j->rcpt);
	free(j->qid);
	free(j->tenant);
	free(j);
}

static void job_done(void *arg)
{
	struct job *j = arg;
	for (size_t i = 0; i < j->nnotes && j->fd->route_fn; i++)
		j->fd->route_fn(j->fd->route_arg, j->notes[i].route, j->notes[i].host, j->notes[i].rcpt,
				j->notes[i].reason, j->notes[i].diag);
	for (unsigned i = 0; i < j->complaints; i++) {
		obs_complaint(j->tenant);
		if (j->tenant)
			tenant_complaint(j->cf, j->tenant, time(NULL));
	}
	job_free(j);
}

static void mailbox(void *arg, const struct local_message *m, char *reply, size_t replylen)
{
	struct feedback_daemon *fd = arg;
	struct job *j = xcalloc(1, sizeof(*j));
	j->fd = fd;
	j->cf = config_ref(fd->cf);
	j->data = xmalloc(m->len + 1);
	memcpy(j->data, m->data, m->len);
	j->data[m->len] = '\0';
	j->len = m->len;
	j->rcpt = xstrdup(m->rcpt);
	j->qid = xstrdup(m->qid);
	worker_submit(fd->workers, job_run, job_done, job_free, j);
	if (snprintf(reply, replylen, "250 2.0.0 Ok: report received as %s", m->qid) >= (int)replylen)
		reply[0] = '\0';
}

/* The suppression list into memory, once at start (before any check). */
static int load_set(struct feedback_daemon *fd, char *err, size_t errlen)
{
	char why[512];
	long n = suppress_set_load(fd->set, fd->wdb, time(NULL), why, sizeof(why));
	if (n < 0) {
		snprintf(err, errlen, "feedback: cannot load the suppression list: %s", why);
		return -1;
	}
	struct suppress_set_stats st;
	suppress_set_stats(fd->set, &st);
	msg_info("event=suppression_loaded entries=%ld bytes=%zu", n, st.bytes);
	return 0;
}

static int open_writer(struct feedback_daemon *fd, char *err, size_t errlen)
{
	char path[4096];
	int n = snprintf(path, sizeof(path), "%s/queue.db", fd->cf->spool);
	if (n < 0 || (size_t)n >= sizeof(path) ||
	    sqlite3_open_v2(path, &fd->wdb, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "feedback: cannot open %s: %s", path, fd->wdb ? sqlite3_errmsg(fd->wdb) : "");
		return -1;
	}
	sqlite3_busy_timeout(fd->wdb, 10000);
	return 0;
}

struct feedback_daemon *feedback_daemon_new(struct event_base *base, const struct config *cf,
					    feedback_route_fn *route_fn, void *route_arg, char *err, size_t errlen)
{
	struct feedback_daemon *fd = xcalloc(1, sizeof(*fd));
	fd->base = base;
	pthread_mutex_init(&fd->check_mu, NULL);
	fd->cf = config_ref(cf);
	fd->route_fn = route_fn;
	fd->route_arg = route_arg;
	fd->set = suppress_set_new();
	if (open_writer(fd, err, errlen) < 0 || load_set(fd, err, errlen) < 0 ||
	    (cf->bounces.domain &&
	     verp_key_load(cf->bounces.secret_file, fd->key, sizeof(fd->key), &fd->keylen, err, errlen) < 0)) {
		feedback_daemon_free(fd);
		return NULL;
	}
	fd->workers = worker_pool_new(base, 1);
	return fd;
}

void feedback_daemon_reload(struct feedback_daemon *fd, const struct config *cf)
{
	if (fd) {
		pthread_mutex_lock(&fd->check_mu);
		const struct config *old = fd->cf;
		fd->cf = config_ref(cf);
		pthread_mutex_unlock(&fd->check_mu);
		config_free(old);
	}
}

struct suppress_set *feedback_suppress_set(struct feedback_daemon *fd)
{
	return fd->set;
}

void feedback_daemon_free(struct feedback_daemon *fd)
{
	if (fd == NULL)
		return;
	if (fd->workers)
		worker_pool_free(fd->workers);
	suppress_set_free(fd->set);
	sqlite3_close(fd->wdb);
	config_free(fd->cf);
	pthread_mutex_destroy(&fd->check_mu);
	free(fd);
}

int feedback_register(struct feedback_daemon *fd, struct local_dispatch *ld, char *err, size_t errlen)
{
	char pattern[300];
	if (fd->cf->bounces.domain) {
		int n = snprintf(pattern, sizeof(pattern), "*@%s", fd->cf->bounces.domain);
		if (n < 0 || (size_t)n >= sizeof(pattern) ||
		    local_dispatch_add(ld, "bounce", pattern, LOCAL_GLOB, mailbox, fd, err, errlen) < 0)
			return -1;
	}
	for (size_t i = 0; i < fd->cf->bounces.nreport_addresses; i++)
		if (local_dispatch_add(ld, "feedback", fd->cf->bounces.report_addresses[i], LOCAL_EXACT, mailbox, fd,
				       err, errlen) < 0)
			return -1;
	return 0;
}

/* 1 with the reply when rcpt is suppressed for this sender / user. */
static int lookup(struct feedback_daemon *fd, const char *rcpt, const char *sender, const char *user,
		  struct suppression *hit, char *reply, size_t replylen)
{
	const char *at = sender ? strrchr(sender, '@') : NULL;
	if (!suppress_set_check(fd->set, rcpt, at ? at + 1 : NULL, user, time(NULL), hit))
		return 0;
	suppress_reply(hit, rcpt, reply, replylen);
	return 1;
}

static void log_suppressed(const char *qid, const char *rcpt, const struct suppression *hit, const char *action)
{
	msg_info("event=rcpt_suppressed qid=%s rcpt=<%s> reason=%s source=%s scope=%s caused_by=%s action=%s", qid,
		 rcpt, hit->reason, hit->source, hit->scope[0] ? hit->scope : "global", hit->qid[0] ? hit->qid : "-",
		 action);
}

int feedback_delivery_check(void *arg, const char *rcpt, const char *sender, const char *user, const char *qid,
			    char *reply, size_t replylen)
{
	struct feedback_daemon *fd = arg;
	struct suppression hit;
	if (!lookup(fd, rcpt, sender, user, &hit, reply, replylen))
		return 0;
	log_suppressed(qid, rcpt, &hit, "bounce");
	return 1;
}

/* Refuses a suppressed recipient at RCPT, or (on_rcpt = "accept") accepts it
 * for feedback_delivery_check to bounce. */
int feedback_rcpt_check(void *arg, const char *rcpt, const char *sender, const char *user, const char *qid,
			char *reply, size_t replylen)
{
	struct feedback_daemon *fd = arg;
	struct suppression hit;
	if (!lookup(fd, rcpt, sender, user, &hit, reply, replylen))
		return 0;
	pthread_mutex_lock(&fd->check_mu);
	int refuse = fd->cf->suppression.on_rcpt != SUPPRESS_ACCEPT_DSN;
	pthread_mutex_unlock(&fd->check_mu);
	log_suppressed(qid, rcpt, &hit, refuse ? "refuse" : "accept_then_bounce");
	return refuse;
}

int feedback_return_path(void *arg, const char *qid, const char *sender, char *out, size_t outlen)
{
	struct feedback_daemon *fd = arg;
	if (fd == NULL || fd->cf->bounces.domain == NULL || fd->keylen == 0 || sender == NULL || sender[0] == '\0')
		return 0;
	return verp_address(fd->key, fd->keylen, qid, fd->cf->bounces.domain, out, outlen) == 0;
}
