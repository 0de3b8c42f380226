/*
 * smtpd_int: what the listener side (smtpd.c) and the session state
 * machine (smtp_session.c) share.  Not for other modules.
 *
 * One struct smtpd per inbound event loop: the main loop's (made by
 * smtpd_new(), which also makes every loop's listening sockets) and, after
 * smtpd_start(), one per further inbound thread (a "shard", which listens
 * on its own sockets of the same addresses and serves what it accepts).
 * A session touches only its own loop's smtpd, and what every loop shares
 * is either read-only after smtpd_start() (ssl_ctx, local, signer,
 * rcpt_check, spool) or locked (caps, auth_throttle).
 */
#ifndef OUTPOST_SMTPD_INT_H
#define OUTPOST_SMTPD_INT_H
#include <event2/util.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>

#include "inbound/smtp_server.h"

struct config;
struct listen_conf;
struct smtp_session;

struct smtpd_caps;
struct loop_post;

struct smtpd {
	struct event_base *base;          /* this loop's */
	struct smtpd *main;               /* the main loop's smtpd (itself there) */
	unsigned index;                   /* 0: main; the log's loop= */
	struct loop_post *post;           /* closures run on this loop, posted by others */
	struct smtpd_caps *caps;          /* session counts of every loop (owned by main) */
	const struct config *cf;          /* a reference (config_ref): the current config, as
					   * this loop has it (a reload is posted to each loop) */
	struct spool *spool;
	struct users *users;              /* a reference (users_ref); NULL: no AUTH.  A session
					   * that authenticated, and an AUTH job, hold their own
					   * reference to the table they use, so a reload frees
					   * the old table once the last of them is gone */
	struct worker_pool *workers;      /* this loop's: jobs answer on it */
	const struct dkim_signer *signer; /* NULL: no DKIM signing */
	struct local_dispatch *local;     /* mailboxes outpost consumes itself */
	struct auth_throttle *auth_throttle; /* failed AUTH per client address, kept over reloads */
	smtpd_rcpt_check_fn *rcpt_check;  /* NULL: every relayed recipient is accepted */
	void *rcpt_check_arg;
	SSL_CTX *ssl_ctx;                 /* NULL: no TLS */
	struct evconnlistener **listeners;
	size_t nlisteners;
	struct smtp_session *sessions;    /* doubly linked, this loop's */
	unsigned nsessions;               /* this loop's */
	int shutting_down;
	int drained;                      /* a shard: it told main it has no session left */
	void (*on_queued)(void *);
	void *on_queued_arg;
	void (*shutdown_done)(void *);
	void *shutdown_arg;
	/* main only: the other inbound loops */
	struct smtpd **shards;
	unsigned nshards;
	unsigned draining;                /* shards not yet drained at shutdown */
	unsigned nloops;                  /* inbound.threads as started (main included) */
	int *spare_fds;                   /* the shards' sockets (-1: none or taken), [shard - 1][listen] */
	int *port_claims;                 /* abstract sockets claiming each TCP port (claim_port) */
	size_t nport_claims;
	atomic_int kick_posted;           /* a shard's on_queued is on its way to main */
	pthread_t thread;                 /* a shard's */
};

/* Starts a session on an accepted socket; takes ownership of fd. */
void smtp_session_start(struct smtpd *sd, const struct listen_conf *lc, evutil_socket_t fd,
			const struct sockaddr *sa, int local);
/* Asks every session to end: at once when idle, after its transaction otherwise. */
void smtp_session_shutdown_all(struct smtpd *sd);
/* Frees every session now (final teardown). */
void smtp_session_free_all(struct smtpd *sd);
/* Called by a session once it has left sd->sessions (addr: its client's). */
void smtpd_session_gone(struct smtpd *sd, int local, const char *addr);
/* The loop commits and jobs of sd's sessions answer on (NULL: main's, the spool's own). */
struct loop_post *smtpd_reply_to(const struct smtpd *sd);
/* smtpd.c: a shard's listeners on the sockets main made for it (before its thread runs). */
void smtpd_listen_spare(struct smtpd *shard);
/* Stops listening (main: unlinks the local socket too). */
void smtpd_close_listeners(struct smtpd *sd);
/* On main at shutdown: calls shutdown_done once no loop has a session left. */
void smtpd_shutdown_check(struct smtpd *main);

/* smtpd_loops.c: the session caps of every loop, and the other loops. */
struct smtpd_caps *smtpd_caps_new(void);
void smtpd_caps_free(struct smtpd_caps *c);
/* Counts a new session; NULL, or the cap it would exceed (then not counted). */
const char *smtpd_caps_admit(struct smtpd_caps *c, const struct config *cf, const char *addr, int local);
void smtpd_caps_release(struct smtpd_caps *c, int local, const char *addr);
/* inbound.threads, "auto" being the number of CPUs usable. */
unsigned smtpd_loops_wanted(const struct config *cf);
void smtpd_loops_start(struct smtpd *main);
/* Posts main's (new) cf and users to every other loop. */
void smtpd_loops_reload(struct smtpd *main);
void smtpd_loops_shutdown(struct smtpd *main);
void smtpd_shard_check_drained(struct smtpd *sd);
void smtpd_loops_stop(struct smtpd *main);
void smtpd_loops_free(struct smtpd *main);

#endif
