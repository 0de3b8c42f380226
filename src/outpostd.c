/*
 * outpostd: the daemon.  Loads the config, opens the spool (which starts
 * the storage thread), serves SMTP on one libevent loop, and on SIGTERM or
 * SIGINT stops accepting, lets transactions in flight finish, drains the
 * spool and exits 0; on SIGHUP it re-reads the config without dropping
 * sessions (settings that need a restart are refused with a warning).
 *
 *     outpostd [-c FILE] [-f] [-d]      (FILE defaults to /etc/outpost/outpost.conf)
 *     outpostd --version | --help
 *         -f  stay in the foreground and log to stderr (what systemd runs)
 *         -d  debug logging
 * Under systemd (Type=notify) it says READY=1 once the spool is open and
 * every listener is bound, RELOADING=1 while it re-reads the config and
 * STOPPING=1 when it starts to shut down (core/sdnotify.h).
 */
#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <event2/event.h>
#include <event2/thread.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/config.h"
#include "core/evloop.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/privs.h"
#include "core/sdnotify.h"
#include "delivery/sched_metrics.h"
#include "delivery/scheduler.h"
#include "dns/resolver.h"
#include "feedback/feedback_daemon.h"
#include "feedback/suppress_api.h"
#include "inbound/tenant_guard.h"
#include "inbound/local_dispatch.h"
#include "inbound/pickup.h"
#include "inbound/smtp_server.h"
#include "delivery/canary.h"
#include "mailauth/dkim.h"
#include "obs/httpd.h"
#include "obs/metrics.h"
#include "obs/obs.h"
#include "obs/obs_api.h"
#include "obs/obs_http.h"
#include "monitor/monitor.h"
#include "placement/placement.h"
#include "obs/webhook.h"
#include "dmarc/dmarc_mail.h"
#include "dmarc/dmarc_store.h"
#include "spool/spool.h"
#include "spool/spool_obs.h"

#define SHUTDOWN_GRACE 30   /* seconds for transactions in flight */

struct daemon {
	struct event_base *base;
	struct config *cf;
	struct spool *spool;
	struct smtpd *smtpd;
	struct resolver *resolver;
	SSL_CTX *client_ctx;
	struct scheduler *sched;
	struct dkim_signer *signer;   /* keys read once at start */
	struct canary *canary;        /* NULL: no canary configured */
	struct monitor *monitor;      /* NULL: no monitor configured */
	struct placement *placement;  /* NULL: no placement probes configured */
	struct httpd *httpd;          /* the http listener (when configured) and the control socket */
	struct obs_api *api;
	struct webhook *webhook;      /* NULL: no webhooks configured */
	struct pickup *pickup;        /* queues what sendmail left in the maildrop */
	struct feedback_daemon *feedback;  /* suppression at RCPT, bounce and report mailboxes, VERP */
	struct suppress_api *suppress_api; /* the CLI's suppression changes into feedback's set */
	struct tenant_guard *tenants;      /* tenant holds kept in the spool */
	int stopping, pending;    /* parts still stopping: sessions, deliveries */
	struct event *grace;      /* ends the wait for them */
	struct run_identity id;   /* who it runs as after the listeners are bound */
	/* The config of the start, kept for the whole run: what is built
	 * once at start points into it (the DKIM signer keeps its key names;
	 * a reload may not change them: config_reload_blocker).  Every other
	 * config a reload replaces is freed once its last holder (smtpd, a
	 * session, the scheduler's messages and destinations) lets go. */
	const struct config *boot;
};

static _Noreturn void usage(FILE *out, int status)
{
	fprintf(out, "usage: outpostd [-c FILE] [-f] [-d]\n"
		"       outpostd --version | --help\n"
		"  -c FILE  the config file (default %s)\n"
		"  -f       stay in the foreground, log to stderr (else: detach, log to syslog)\n"
		"  -d       debug logging\n", OUTPOST_DEFAULT_CONFIG);
	exit(status);
}

/* Called once by each part (sessions, deliveries) when it has stopped. */
static void part_stopped(void *arg)
{
	struct daemon *d = arg;
	if (--d->pending == 0)
		event_base_loopexit(d->base, NULL);
}

/* SIGHUP: re-read the config; what may change takes effect for new
 * sessions and deliveries, nothing in flight is dropped. */
/* The DMARC rua mailbox: the reports a message carries go to SPOOL/dmarc.db;
 * a message without one is refused with the reason (the reporter sees it). */
static void dmarc_mailbox(void *arg, const struct local_message *m, char *reply, size_t replylen)
{
	const struct config *cf = ((struct daemon *)arg)->cf;   /* the current one, after a reload too */
	char err[512];
	size_t stored = 0, dups = 0;
	struct buf summary = BUF_INIT;
	struct dmarc_store *s = dmarc_store_open(cf->spool, err, sizeof(err));
	int rc = s ? dmarc_import(s, m->data, m->len, &stored, &dups, &summary, err, sizeof(err)) : -2;
	dmarc_store_close(s);
	buf_free(&summary);
	for (char *p = err; *p; p++)
		if (*p == '\r' || *p == '\n' || *p == '"')
			*p = ' ';
	if (rc >= 0) {
		msg_info("event=dmarc_report qid=%s stored=%zu duplicate=%zu", m->qid, stored, dups);
		rc = snprintf(reply, replylen, "250 2.0.0 Ok: %zu DMARC report(s) stored, %zu duplicate(s)",
			      stored, dups);
	} else {
		msg_warn("event=dmarc_report qid=%s error=\"%s\"", m->qid, err);
		rc = snprintf(reply, replylen, "%s %.300s", rc == -2 ? "451 4.3.0 DMARC store unavailable:"
			      : "550 5.6.0", err);
	}
	if (rc < 0 || (size_t)rc >= replylen)
		snprintf(reply, replylen, "250 2.0.0 Ok");
}

/* Events that concern no message being queued (obs_event): raw events in
 * the spool, for webhooks and the status page. */
static void spool_event_sink(void *arg, const char *event, const char *qid, const char *route, const char *rcpt,
			     const char *detail)
{
	spool_event(arg, event, qid, route, rcpt, detail);
}

/* Refusals at SMTP time (obs_rejected): counted in memory, flushed into
 * the spool's statistics with the storage thread's next queue work. */
static void spool_rejected_sink(void *arg, const char *reason)
{
	spool_count_rejected(arg, reason, time(NULL));
}

/* The monitor found a source address listed (or delisted) on a list that acts. */
static void on_monitor_source(void *arg, const char *ip, int listed, const char *why)
{
	scheduler_source_listed(arg, ip, listed, why);
}

static void on_canary_verdict(void *arg, const char *route, int ok, const char *reason)
{
	scheduler_canary(arg, route, ok, reason);
}

/* The canary mailbox (a local mailbox): a probe coming back is verified,
 * answered, never queued. */
static void canary_mailbox(void *arg, const struct local_message *m, char *reply, size_t replylen)
{
	canary_receive(arg, m->data, m->len, m->qid);
	if (snprintf(reply, replylen, "250 2.0.0 Ok: canary probe received as %s", m->qid) >= (int)replylen)
		reply[0] = '\0';
}

static void reload_config(struct daemon *d, char *err, size_t errlen);

static void on_reload_signal(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;
	char err[1024];
	(void)sig;
	(void)what;
	sd_notify_state("RELOADING=1");
	reload_config(d, err, sizeof(err));
	suppress_api_reload(d->suppress_api);   /* the list read again (config kept or not), beside the live set */
	sd_notify_state("READY=1");
}

/* The body of a reload; on any refusal the running config stays. */
static void reload_config(struct daemon *d, char *err, size_t errlen)
{
	const char *blocker;
	struct config *cf = config_load(d->cf->file, err, errlen);
	if (cf == NULL) {
		msg_warn("event=reload_failed error=\"%s\" action=kept_old_config", err);
		return;
	}
	struct buf bad = BUF_INIT;   /* a key made readable to others since the start */
	if (privs_check_files(cf, d->id.uid, &bad) > 0) {
		for (char *p = bad.data; (p = strchr(p, '\n')) != NULL && p[1];)
			*p = ';';
		bad.data[bad.len - 1] = '\0';
		msg_warn("event=reload_failed error=\"%s\" action=kept_old_config", bad.data);
		buf_free(&bad);
		config_free(cf);
		return;
	}
	buf_free(&bad);
	if ((blocker = config_reload_blocker(d->cf, cf)) != NULL) {
		msg_warn("event=reload_refused reason=\"%s changed: restart outpostd\" action=kept_old_config", blocker);
		config_free(cf);
		return;
	}
	if (smtpd_reload(d->smtpd, cf, err, errlen) < 0) {
		msg_warn("event=reload_failed error=\"%s\" action=kept_old_config", err);
		config_free(cf);
		return;
	}
	if (d->sched)
		scheduler_reload(d->sched, cf);
	if (d->canary)
		canary_reload(d->canary, cf);
	if (d->placement)
		placement_reload(d->placement, cf);
	d->monitor = monitor_reload(d->monitor, d->base, cf, d->resolver, on_monitor_source, d->sched);
	feedback_daemon_reload(d->feedback, cf);
	config_free(d->cf);   /* freed now unless deliveries or sessions still hold it */
	d->cf = cf;
	msg_info("event=reloaded file=%s", cf->file);
}

static void on_grace_over(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	(void)fd;
	(void)what;
	msg_warn("event=shutdown_forced pending=%d", d->pending);
	scheduler_abort(d->sched);
	event_base_loopexit(d->base, NULL);
}

static void on_stop_signal(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;
	struct timeval grace = { SHUTDOWN_GRACE, 0 };
	(void)what;
	if (d->stopping++) {
		msg_info("event=signal signal=%d action=exit_now", (int)sig);
		scheduler_abort(d->sched);
		event_base_loopexit(d->base, NULL);
		return;
	}
	msg_info("event=signal signal=%d action=shutdown", (int)sig);
	sd_notify_state("STOPPING=1");
	pickup_stop(d->pickup);
	evtimer_add(d->grace, &grace);
	d->pending = 2;
	smtpd_shutdown(d->smtpd, part_stopped, d);
	scheduler_shutdown(d->sched, part_stopped, d);
}

/* For outbound TLS: the system's trust store, TLS 1.2 or later. */
static SSL_CTX *client_tls_context(void)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (ctx == NULL)
		msg_fatal("event=startup_error reason=\"cannot create the TLS client context\"");
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	if (SSL_CTX_set_default_verify_paths(ctx) != 1)
		msg_warn("event=tls_warning reason=\"no system CA store: certificates will not verify\"");
	return ctx;
}

/* The config, and the identity it runs as: a config error or a private
 * file others may read stops the start, naming every file at fault. */
static void load_config(struct daemon *d, const char *file)
{
	char err[4096];
	struct buf bad = BUF_INIT;
	if ((d->cf = config_load(file, err, sizeof(err))) == NULL) {
		err[strcspn(err, "\n")] = '\0';   /* the first; `outpost check-config` lists all */
		msg_fatal("event=config_error error=\"%s\"", err);
	}
	int idok = privs_resolve(d->cf, &d->id, err, sizeof(err));
	if (privs_check_files(d->cf, idok == 0 ? d->id.uid : 0, &bad) > 0) {
		for (char *p = bad.data; (p = strchr(p, '\n')) != NULL && p[1];)
			*p = ';';    /* one log line */
		bad.data[bad.len - 1] = '\0';
		msg_fatal("event=startup_error error=\"%s\"", bad.data);
	}
	buf_free(&bad);
	if (idok < 0)
		msg_fatal("event=startup_error error=\"%s\"", err);
	d->boot = config_ref(d->cf);
}

/* Creates the spool directory for the run user, so that the local
 * socket can be bound in it before the switch. */
static void prepare_spool_dir(const struct daemon *d)
{
	if (mkdir(d->cf->spool, 0700) == 0 && d->id.drop &&
	    chown(d->cf->spool, d->id.uid, d->id.gid) < 0)
		msg_fatal("event=startup_error error=\"cannot chown %s to %s: %s\"", d->cf->spool, d->id.name,
			  strerror(errno));
}

/* Bound as the run user (the socket is its own), before the spool's
 * thread runs: its listener is made urgent (core/evloop.h), which only
 * works while no event is active yet.  Requests wait for the loop. */
static void bind_control_socket(struct daemon *d)
{
	char err[1024], path[4096];
	int n = snprintf(path, sizeof(path), "%s/%s", d->cf->spool, OBS_CONTROL_SOCKET);
	if (n < 0 || (size_t)n >= sizeof(path))
		msg_fatal("event=startup_error error=\"spool path too long for the control socket\"");
	if (httpd_listen_unix(d->httpd, path, err, sizeof(err)) < 0)
		msg_fatal("event=startup_error error=\"%s\"", err);
}

/* Root is needed only to bind the listeners (port 25, the TLS key):
 * they are opened first, then the process becomes the run user for good
 * and opens the spool as that user, so every spool file is its own. */
static void open_as_root_then_drop(struct daemon *d)
{
	char err[1024];
	prepare_spool_dir(d);
	if ((d->smtpd = smtpd_new(d->base, d->cf, NULL, err, sizeof(err))) == NULL)
		msg_fatal("event=startup_error error=\"%s\"", err);
	if ((d->httpd = httpd_new(d->base, d->cf, err, sizeof(err))) == NULL)
		msg_fatal("event=startup_error error=\"%s\"", err);
	if (privs_drop(&d->id, err, sizeof(err)) < 0)
		msg_fatal("event=startup_error error=\"%s\"", err);
	if (d->id.drop)
		msg_info("event=privileges user=%s uid=%ld gid=%ld", d->id.name, (long)d->id.uid, (long)d->id.gid);
	else if (geteuid() == 0)
		msg_warn("event=privileges user=root reason=\"allow_root = true: running as root\"");
	bind_control_socket(d);
	if ((d->spool = spool_open(d->cf->spool, d->cf->spool_max_size, d->base, err, sizeof(err))) == NULL)
		msg_fatal("event=spool_error error=\"%s\"", err);
	smtpd_set_spool(d->smtpd, d->spool);
	if ((d->pickup = pickup_start(d->cf, (gid_t)-1, err, sizeof(err))) == NULL)
		msg_fatal("event=startup_error error=\"%s\"", err);
}

/* The CLI's live answers and the JSON API (obs_api.h), on the control
 * socket in the spool (made by the run user, mode 600) and on the http
 * listener when there is one. */
static void start_control_socket(struct daemon *d)
{
	d->api = obs_api_new(d->base, d->httpd, (const struct config *const *)&d->cf, d->sched, d->spool);
}


/* glibc gives the top of its heap back to the kernel as soon as 128 KiB of
 * it is free.  Sessions come and go: under load that was a brk() shrink
 * every ~16 messages, each with a TLB shootdown on every CPU, and a grow
 * after it (6 % of the first loop's time, bench/README.md).  Freed memory
 * up to HEAP_KEEP is kept for the next sessions instead; blocks of
 * HEAP_MMAP and more (bodies of several MB) still get their own mapping,
 * given back when freed.  (Setting either ends glibc's own moving mmap
 * threshold, which would otherwise have risen to the largest body seen.) */
#define HEAP_KEEP (32 << 20)
#define HEAP_MMAP (4 << 20)
static void heap_tune(void)
{
#ifdef __GLIBC__
	if (mallopt(M_TRIM_THRESHOLD, HEAP_KEEP) != 1 || mallopt(M_MMAP_THRESHOLD, HEAP_MMAP) != 1)
		msg_debug("event=heap_tune_failed");   /* only slower; an ASan build's mallopt says 0 */
#endif
}

int main(int argc, char **argv)
{
	const char *file = NULL;
	int foreground = 0, ch;
	char err[1024];
	struct daemon d = { 0 };

	if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		printf("outpostd %s\n", OUTPOST_VERSION);
		return 0;
	}
	if (argc == 2 && strcmp(argv[1], "--help") == 0)
		usage(stdout, 0);
	while ((ch = getopt(argc, argv, "c:fd")) != -1) {
		switch (ch) {
		case 'c': file = optarg; break;
		case 'f': foreground = 1; break;
		case 'd': log_set_debug(1); break;
		default: usage(stderr, 2);
		}
	}
	if (optind != argc)
		usage(stderr, 2);
	if (file == NULL)
		file = OUTPOST_DEFAULT_CONFIG;
	log_init("outpostd", foreground ? LOG_DEST_STDERR : LOG_DEST_SYSLOG);
	heap_tune();
	load_config(&d, file);
	if (!foreground && daemon(1, 0) < 0)
		msg_fatal("event=daemon_error");
	signal(SIGPIPE, SIG_IGN);
	evthread_use_pthreads();
	d.base = evloop_base_new();
	open_as_root_then_drop(&d);
	obs_event_sink(spool_event_sink, d.spool);
	obs_rejected_sink(spool_rejected_sink, d.spool);
	if ((d.resolver = resolver_new(d.base, d.cf->resolver, d.cf->delivery.dns_timeout_ms, err,
				       sizeof(err))) == NULL)
		msg_fatal("event=startup_error error=\"resolver: %s\"", err);
	d.client_ctx = client_tls_context();
	d.sched = scheduler_new(d.base, d.cf, d.spool, d.resolver, d.client_ctx);
	smtpd_on_queued(d.smtpd, scheduler_kick, d.sched);
	if ((d.signer = dkim_signer_new(d.cf->dkim, d.cf->ndkim, err, sizeof(err))) == NULL)
		msg_fatal("event=startup_error error=\"dkim key %s\"", err);
	smtpd_set_dkim(d.smtpd, d.signer);
	if (d.sched)   /* NULL: no routes, no delivery (and no DSNs to sign) */
		scheduler_set_dkim(d.sched, d.signer);
	d.canary = canary_new(d.base, d.cf, d.spool, d.resolver, d.signer, scheduler_kick, d.sched);
	if (d.canary && d.sched)  /* a relay that breaks signatures is degraded in route health */
		canary_on_verdict(d.canary, on_canary_verdict, d.sched);
	if (d.canary && local_dispatch_add(smtpd_local_dispatch(d.smtpd), "canary", d.cf->canary.address,
					   LOCAL_EXACT, canary_mailbox, d.canary, err, sizeof(err)) < 0)
		msg_fatal("event=startup_error error=\"%s\"", err);
	d.monitor = monitor_new(d.base, d.cf, d.resolver, on_monitor_source, d.sched);
	d.placement = placement_new(d.base, d.cf, d.spool, d.resolver, d.signer, scheduler_kick, d.sched);
	if (d.cf->dmarc.rua && local_dispatch_add(smtpd_local_dispatch(d.smtpd), "dmarc", d.cf->dmarc.rua,
						  LOCAL_EXACT, dmarc_mailbox, &d, err, sizeof(err)) < 0)
		msg_fatal("event=startup_error error=\"%s\"", err);
	obs_http_start(d.httpd, d.spool);
	start_control_socket(&d);
	d.webhook = webhook_new(d.base, d.cf);
	if (d.sched)
		metrics_collector_add(sched_metrics_collect, d.sched);
	if ((d.feedback = feedback_daemon_new(d.base, d.cf, scheduler_route_feedback, d.sched, err, sizeof(err))) == NULL ||
	    feedback_register(d.feedback, smtpd_local_dispatch(d.smtpd), err, sizeof(err)) < 0)
		msg_fatal("event=startup_error error=\"%s\"", err);
	/* the control socket listens already: a CLI change committed after the
	 * load above is told to the daemon (suppress_api.h) */
	if ((d.suppress_api = suppress_api_new(d.base, d.httpd, d.cf->spool, feedback_suppress_set(d.feedback), err,
					       sizeof(err))) == NULL)
		msg_fatal("event=startup_error error=\"%s\"", err);
	smtpd_set_rcpt_check(d.smtpd, feedback_rcpt_check, d.feedback);
	if ((d.tenants = tenant_guard_new(d.base, d.cf->spool, err, sizeof(err))) == NULL)
		msg_fatal("event=startup_error error=\"%s\"", err);
	metrics_collector_add(tenant_state_metrics, &d.cf);
	scheduler_set_return_path(d.sched, feedback_return_path, d.feedback);
	scheduler_set_rcpt_filter(d.sched, feedback_delivery_check, d.feedback);
	struct event *sigterm = evsignal_new(d.base, SIGTERM, on_stop_signal, &d);
	struct event *sigint = evsignal_new(d.base, SIGINT, on_stop_signal, &d);
	struct event *sighup = evsignal_new(d.base, SIGHUP, on_reload_signal, &d);
	d.grace = evtimer_new(d.base, on_grace_over, &d);
	evsignal_add(sighup, NULL);
	evsignal_add(sigterm, NULL);
	evsignal_add(sigint, NULL);
	smtpd_start(d.smtpd);   /* the other inbound loops, now that every hook is set */
	msg_info("event=started version=%s pid=%ld spool=%s", OUTPOST_VERSION, (long)getpid(), d.cf->spool);
	sd_notify_state("READY=1");

	event_base_dispatch(d.base);

	smtpd_free(d.smtpd);
	obs_api_free(d.api);
	suppress_api_free(d.suppress_api);
	webhook_free(d.webhook);
	httpd_free(d.httpd);
	obs_http_stop(d.spool);
	if (d.sched)
		metrics_collector_remove(sched_metrics_collect, d.sched);
	pickup_free(d.pickup);   /* its session, if any, is closed now */
	feedback_daemon_free(d.feedback);
	canary_free(d.canary);
	monitor_free(d.monitor);        /* before the resolver: its lookups end as failures */
	placement_free(d.placement);    /* before the resolver too */
	metrics_collector_remove(tenant_state_metrics, &d.cf);
	tenant_guard_free(d.tenants);   /* after the last outcome */
	resolver_free(d.resolver);
	event_free(sigterm);
	event_free(sigint);
	event_free(sighup);
	event_free(d.grace);
	/* what is left are outbound connections saying QUIT (at most 2 s each) */
	event_base_dispatch(d.base);
	obs_event_sink(NULL, NULL);
	obs_rejected_sink(NULL, NULL);
	spool_close(d.spool);
	scheduler_free(d.sched);        /* after the spool's last answers (scheduler_abort) */
	dkim_signer_free(d.signer);
	SSL_CTX_free(d.client_ctx);
	event_base_free(d.base);
	msg_info("event=stopped");
	config_free(d.cf);
	metrics_reset();
	config_free(d.boot);
	return 0;
}
