/*
 * smtpd: listeners for the inbound SMTP server and session accounting.
 * Opens every `listen` address and the local submission socket (used by
 * `outpost sendmail`), applies the session caps before a session starts,
 * and owns the TLS context and the users table.  See smtp_server.h.
 *
 * Inbound loops (inbound.threads): every loop has a listening socket of
 * its own on each `listen` address (SO_REUSEPORT, all made by smtpd_new()
 * while it may still bind privileged ports; the kernel spreads new
 * connections among them), accepts on it, counts the connection against
 * the caps (struct smtpd_caps, one mutex: the check and the count are one
 * step, so the caps are exact whatever loop the sessions run on) and runs
 * the session itself: no connection crosses threads.  (Before, the main
 * loop accepted all and handed each to the least loaded loop: that hand-off
 * cost 10-14 % of the injection rate, bench/inject.sh.)  Local submission
 * stays on the main loop.  Reload, shutdown and teardown reach the other
 * loops as closures posted to them (core/loop_post.h).
 */
#include <errno.h>
#include <event2/listener.h>
#include <netdb.h>
#include <stddef.h>
#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/config.h"
#include "core/log.h"
#include "core/loop_post.h"
#include "core/netaddr.h"
#include "core/worker.h"
#include "core/xmalloc.h"
#include "inbound/auth.h"
#include "inbound/auth_throttle.h"
#include "inbound/local_dispatch.h"
#include "inbound/smtp_server.h"
#include "inbound/smtpd_int.h"

static const struct listen_conf local_listener = {
	.address = "local", .host = "local", .port = "", .tls = LISTEN_TLS_NONE,
	.auth = LISTEN_AUTH_NONE, .line = 0,
};

/* Refuses a connection over the session caps with 421, written directly. */
static void refuse(evutil_socket_t fd, const char *addr, const char *why, const char *text)
{
	msg_info("event=connect_refused client=%s reason=\"%s\"", addr, why);
	ssize_t n = write(fd, text, strlen(text));
	(void)n;
	evutil_closesocket(fd);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
		      void *arg)
{
	struct smtpd *sd = arg;
	const struct config *cf = sd->cf;
	int local = sa->sa_family == AF_UNIX;
	size_t i = 0;
	const char *why;
	char addr[64];
	(void)salen;
	while (!local && i < sd->nlisteners && sd->listeners[i] != l)
		i++;
	sockaddr_ntop(sa, addr, sizeof(addr));   /* fd is non-blocking already (accept4) */
	if (sd->shutting_down)
		return refuse(fd, addr, "shutting down", "421 4.3.2 Service shutting down\r\n");
	/* local submission has a budget of its own: strangers filling
	 * max_sessions do not lock out sendmail */
	if ((why = smtpd_caps_admit(sd->caps, cf, local ? "local" : addr, local)) != NULL)
		return refuse(fd, addr, why, strcmp(why, "max_sessions_per_ip") == 0
			      ? "421 4.7.0 Too many connections from your address, try again later\r\n"
			      : "421 4.7.0 Too many connections, try again later\r\n");
	smtp_session_start(sd, local ? &local_listener : &cf->listen[i], fd, sa, local);
}

/* A listening socket on lc's address; SO_REUSEPORT when each of several
 * loops has one on it.  -1 with err set on failure. */
static evutil_socket_t listen_socket(const struct listen_conf *lc, int reuseport, char *err, size_t errlen)
{
	struct addrinfo hints = { 0 }, *res = NULL;
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	int rc = getaddrinfo(lc->host, lc->port, &hints, &res), one = 1;
	if (rc != 0) {
		snprintf(err, errlen, "listen %s: %s", lc->address, gai_strerror(rc));
		return -1;
	}
	evutil_socket_t fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) ||
	    bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 512) != 0) {
		snprintf(err, errlen, "listen %s: %s", lc->address, strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

/* sd's listener on fd, which it now owns (closed with the listener). */
static struct evconnlistener *listen_on(struct smtpd *sd, evutil_socket_t fd)
{
	struct evconnlistener *l = evconnlistener_new(sd->base, on_accept, sd,
		LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd);
	if (l == NULL)
		msg_fatal("event=startup_error reason=\"evconnlistener_new failed\"");
	return l;
}

/* SO_REUSEPORT would let a second outpostd (also root when it binds) join
 * the port's group and silently take part of the connections, where a
 * single listener made it fail with EADDRINUSE.  So each TCP port is
 * first claimed by an abstract unix socket named after it (per network
 * namespace, gone with the process): a second daemon on the port fails. */
static int claim_port(struct smtpd *sd, const struct listen_conf *lc, char *err, size_t errlen)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int n = snprintf(sun.sun_path + 1, sizeof(sun.sun_path) - 1, "outpostd-smtp-port-%s", lc->port);
	if (n < 0 || (size_t)n >= sizeof(sun.sun_path) - 1) {
		snprintf(err, errlen, "listen %s: port too long", lc->address);
		return -1;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&sun, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n)) == 0) {
		sd->port_claims[sd->nport_claims++] = fd;
		return 0;
	}
	if (errno == EADDRINUSE)
		snprintf(err, errlen, "listen %s: port %s is taken by another outpostd", lc->address, lc->port);
	else
		snprintf(err, errlen, "listen %s: claim: %s", lc->address, strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

/* Every loop's sockets on every `listen` address: main's are listened on
 * now, the others' wait in main->spare_fds for their loop (shard_new). */
static int listen_all(struct smtpd *sd, const struct config *cf, char *err, size_t errlen)
{
	unsigned loops = sd->nloops;
	size_t nspare = (size_t)(loops - 1) * cf->nlisten;
	sd->spare_fds = xcalloc(nspare + 1, sizeof(*sd->spare_fds));
	for (size_t j = 0; j < nspare; j++)
		sd->spare_fds[j] = -1;   /* none yet */
	sd->port_claims = xcalloc(cf->nlisten + 1, sizeof(*sd->port_claims));
	for (size_t i = 0; i < cf->nlisten; i++) {
		int claimed = 0;
		for (size_t j = 0; j < i; j++)   /* two addresses on one port: one claim */
			claimed |= strcmp(cf->listen[j].port, cf->listen[i].port) == 0;
		if (loops > 1 && !claimed && claim_port(sd, &cf->listen[i], err, errlen) != 0)
			return -1;
		for (unsigned k = 0; k < loops; k++) {
			evutil_socket_t fd = listen_socket(&cf->listen[i], loops > 1, err, errlen);
			if (fd < 0)
				return -1;
			if (k == 0)
				sd->listeners[sd->nlisteners++] = listen_on(sd, fd);
			else
				sd->spare_fds[(size_t)(k - 1) * cf->nlisten + i] = fd;
		}
		msg_info("event=listen address=%s tls=%s loops=%u", cf->listen[i].address,
			 str_name_code(listen_tls_names, (int)cf->listen[i].tls), loops);
	}
	return 0;
}

void smtpd_listen_spare(struct smtpd *shard)
{
	struct smtpd *main = shard->main;
	size_t n = main->cf->nlisten;
	int *fds = main->spare_fds + (size_t)(shard->index - 1) * n;
	shard->listeners = xcalloc(n + 1, sizeof(*shard->listeners));
	for (size_t i = 0; i < n; i++) {
		shard->listeners[shard->nlisteners++] = listen_on(shard, fds[i]);
		fds[i] = -1;   /* the shard's now */
	}
}

/* The local submission socket: any local user may submit, as with sendmail(8). */
static struct evconnlistener *listen_local(struct smtpd *sd, const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "socket %s: path too long", path);
		return NULL;
	}
	strcpy(sun.sun_path, path);
	unlink(path);
	struct evconnlistener *l = evconnlistener_new_bind(sd->base, on_accept, sd,
		LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 128, (struct sockaddr *)&sun, sizeof(sun));
	if (l == NULL) {
		snprintf(err, errlen, "socket %s: %s", path, strerror(errno));
		return NULL;
	}
	chmod(path, 0666);
	return l;
}

static SSL_CTX *tls_context(const struct config *cf, char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL) {
		snprintf(err, errlen, "TLS: cannot create context");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	if (SSL_CTX_use_certificate_chain_file(ctx, cf->tls_cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, cf->tls_key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		char e[256];
		ERR_error_string_n(ERR_get_error(), e, sizeof(e));
		snprintf(err, errlen, "TLS: cannot load %s / %s: %s", cf->tls_cert, cf->tls_key, e);
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

struct smtpd *smtpd_new(struct event_base *base, const struct config *cf, struct spool *spool,
			char *err, size_t errlen)
{
	struct smtpd *sd = xcalloc(1, sizeof(*sd));
	sd->base = base;
	sd->main = sd;
	sd->post = loop_post_new(base);
	sd->caps = smtpd_caps_new();
	sd->cf = config_ref(cf);
	sd->spool = spool;
	sd->local = local_dispatch_new();
	sd->auth_throttle = auth_throttle_new();
	if (cf->tls_cert && (sd->ssl_ctx = tls_context(cf, err, errlen)) == NULL)
		goto fail;
	if (cf->users && (sd->users = users_load(cf->users, err, errlen)) == NULL)
		goto fail;
	sd->workers = worker_pool_new(base, 2);
	sd->nloops = smtpd_loops_wanted(cf);
	sd->listeners = xcalloc(cf->nlisten + 1, sizeof(*sd->listeners));
	if (listen_all(sd, cf, err, errlen) != 0)
		goto fail;
	if ((sd->listeners[cf->nlisten] = listen_local(sd, cf->socket, err, errlen)) == NULL)
		goto fail;
	sd->nlisteners++;
	msg_info("event=listen address=%s", cf->socket);
	return sd;
fail:
	smtpd_free(sd);
	return NULL;
}

void smtpd_close_listeners(struct smtpd *sd)
{
	for (size_t i = 0; i < sd->nlisteners; i++)
		evconnlistener_free(sd->listeners[i]);
	if (sd->main == sd && sd->nlisteners > sd->cf->nlisten)
		unlink(sd->cf->socket);
	sd->nlisteners = 0;
}

/* main: the sockets of loops that never started (a failed start), and the
 * port claims. */
static void close_spare(struct smtpd *sd)
{
	size_t n = sd->spare_fds ? (size_t)(sd->nloops - 1) * sd->cf->nlisten : 0;
	for (size_t i = 0; i < n; i++)
		if (sd->spare_fds[i] >= 0)
			close(sd->spare_fds[i]);
	free(sd->spare_fds);
	sd->spare_fds = NULL;
	for (size_t i = 0; i < sd->nport_claims; i++)
		close(sd->port_claims[i]);
	free(sd->port_claims);
	sd->port_claims = NULL;
	sd->nport_claims = 0;
}

void smtpd_shutdown_check(struct smtpd *main)
{
	if (main->shutting_down && main->nsessions == 0 && main->draining == 0 && main->shutdown_done) {
		void (*done)(void *) = main->shutdown_done;
		main->shutdown_done = NULL;
		done(main->shutdown_arg);
	}
}

void smtpd_session_gone(struct smtpd *sd, int local, const char *addr)
{
	sd->nsessions--;
	smtpd_caps_release(sd->caps, local, local ? "local" : addr);
	if (sd->main == sd)
		smtpd_shutdown_check(sd);
	else
		smtpd_shard_check_drained(sd);
}

struct loop_post *smtpd_reply_to(const struct smtpd *sd)
{
	return sd->main == sd ? NULL : sd->post;
}

int smtpd_reload(struct smtpd *sd, const struct config *cf, char *err, size_t errlen)
{
	struct users *users = NULL;
	if (cf->users && (users = users_load(cf->users, err, errlen)) == NULL)
		return -1;
	users_free(sd->users);    /* freed here unless a session or AUTH job holds it */
	sd->users = users;
	config_free(sd->cf);
	sd->cf = config_ref(cf);
	smtpd_loops_reload(sd);
	return 0;
}

void smtpd_start(struct smtpd *sd)
{
	smtpd_loops_start(sd);
}

void smtpd_on_queued(struct smtpd *sd, void (*fn)(void *), void *arg)
{
	sd->on_queued = fn;
	sd->on_queued_arg = arg;
}

void smtpd_set_spool(struct smtpd *sd, struct spool *spool)
{
	sd->spool = spool;
}

void smtpd_set_dkim(struct smtpd *sd, const struct dkim_signer *sg)
{
	sd->signer = sg;
}

void smtpd_set_rcpt_check(struct smtpd *sd, smtpd_rcpt_check_fn *fn, void *arg)
{
	sd->rcpt_check = fn;
	sd->rcpt_check_arg = arg;
}

struct local_dispatch *smtpd_local_dispatch(struct smtpd *sd)
{
	return sd->local;
}

void smtpd_shutdown(struct smtpd *sd, void (*done)(void *), void *arg)
{
	sd->shutting_down = 1;
	sd->shutdown_done = done;
	sd->shutdown_arg = arg;
	smtpd_close_listeners(sd);
	msg_info("event=shutdown sessions=%u loops=%u", sd->nsessions, sd->nshards + 1);
	smtpd_loops_shutdown(sd);
	smtp_session_shutdown_all(sd);
	smtpd_shutdown_check(sd);
}

void smtpd_free(struct smtpd *sd)
{
	if (sd == NULL)
		return;
	smtpd_close_listeners(sd);
	smtpd_loops_stop(sd);
	close_spare(sd);
	sd->shutdown_done = NULL;   /* teardown: nobody waits for the sessions any more */
	smtp_session_free_all(sd);
	worker_pool_free(sd->workers);
	smtpd_loops_free(sd);
	loop_post_free(sd->post);   /* after the other loops: they post to it */
	smtpd_caps_free(sd->caps);
	free(sd->listeners);
	local_dispatch_free(sd->local);
	auth_throttle_free(sd->auth_throttle);
	users_free(sd->users);
	if (sd->ssl_ctx)
		SSL_CTX_free(sd->ssl_ctx);
	config_free(sd->cf);
	free(sd);
}
