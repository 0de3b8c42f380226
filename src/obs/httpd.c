/*
 * httpd: evhttp with a table of path handlers, a bearer token and TLS
 * (see httpd.h).
 */
#include "obs/httpd.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/config.h"
#include "core/evloop.h"
#include "core/log.h"
#include "core/xmalloc.h"

#define MAX_HANDLERS 16
#define HTTP_SNDBUF (1024 * 1024)   /* bytes: see send_whole_answers() */

struct handler {
	char *path;
	httpd_handler *fn;
	void *arg;
};

/* One listening evhttp: the configured TCP one (maybe TLS, maybe a
 * token) or the control socket (file permissions guard it). */
struct server {
	struct httpd *h;
	struct evhttp *http;
	const char *token;        /* NULL: none needed */
};

struct httpd {
	struct event_base *base;
	struct server tcp, unix_sock;
	SSL_CTX *ssl;
	char *token;
	char *unix_path;          /* unlinked at free */
	struct handler h[MAX_HANDLERS];
	size_t nh;
};

/* libevent writes at most 16 KB per turn of the event loop on a
 * connection: a 200 KB /metrics answer took 12 turns, each waiting for
 * the delivery work in it (tens of ms while delivery is busy).  The
 * answer goes in one write instead, as far as the socket takes it (its
 * send buffer: send_whole_answers()). */
static void whole_writes(struct evhttp_request *req, size_t len)
{
	struct evhttp_connection *conn = evhttp_request_get_connection(req);
	struct bufferevent *bev = conn ? evhttp_connection_get_bufferevent(conn) : NULL;
	if (bev && len + 4096 > (size_t)bufferevent_get_max_single_write(bev))
		bufferevent_set_max_single_write(bev, len < HTTP_SNDBUF ? len + 4096 : HTTP_SNDBUF);
}

void httpd_reply(struct evhttp_request *req, int status, const char *type, const char *body, size_t len)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	struct evbuffer *b = evbuffer_new();
	static const char *const reasons[] = { "OK", "Unauthorized", "Not Found", "Method Not Allowed",
		"Service Unavailable", "Error" };
	const char *reason = status == 200 ? reasons[0] : status == 401 ? reasons[1] : status == 404 ? reasons[2]
			   : status == 405 ? reasons[3] : status == 503 ? reasons[4] : reasons[5];
	evhttp_add_header(out, "Content-Type", type);
	evhttp_add_header(out, "Cache-Control", "no-store");
	evhttp_add_header(out, "X-Content-Type-Options", "nosniff");
	evbuffer_add(b, body, len);
	whole_writes(req, len);
	evhttp_send_reply(req, status, reason, b);
	evbuffer_free(b);
}

static void reply_text(struct evhttp_request *req, int status, const char *text)
{
	httpd_reply(req, status, "text/plain; charset=utf-8", text, strlen(text));
}

/* The token in constant time, so its bytes cannot be found one by one. */
static int authorized(const struct server *sv, struct evhttp_request *req)
{
	if (sv->token == NULL)
		return 1;
	const char *a = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
	if (a == NULL || strncmp(a, "Bearer ", 7) != 0)
		return 0;
	a += 7;
	size_t n = strlen(sv->token);
	return strlen(a) == n && CRYPTO_memcmp(a, sv->token, n) == 0;
}

static const struct handler *find_handler(const struct httpd *h, const char *path)
{
	const struct handler *best = NULL;
	for (size_t i = 0; i < h->nh; i++) {
		size_t n = strlen(h->h[i].path);
		int prefix = h->h[i].path[n - 1] == '/' && strncmp(path, h->h[i].path, n) == 0;
		if (strcmp(path, h->h[i].path) == 0)
			return &h->h[i];
		if (prefix && (best == NULL || strlen(best->path) < n))
			best = &h->h[i];
	}
	return best;
}

static void on_request(struct evhttp_request *req, void *arg)
{
	struct server *sv = arg;
	struct httpd *h = sv->h;
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD");
		return reply_text(req, 405, "only GET and HEAD\n");
	}
	if (!authorized(sv, req)) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate",
				  "Bearer realm=\"outpost\"");
		return reply_text(req, 401, "a bearer token is required (Authorization: Bearer TOKEN)\n");
	}
	const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
	const char *path = u ? evhttp_uri_get_path(u) : NULL;
	if (path == NULL || *path == '\0')
		path = "/";
	const struct handler *hd = find_handler(h, path);
	if (hd == NULL)
		return reply_text(req, 404, "not found\n");
	hd->fn(req, path, hd->arg);
}

/* A request's connection is urgent on the loop (core/evloop.h): a scrape
 * or a CLI question is answered before the rest of a turn's delivery
 * work.  evhttp takes its priority from the bufferevent made here. */
static struct bufferevent *urgent(struct bufferevent *bev)
{
	if (bev && bufferevent_priority_set(bev, EVLOOP_URGENT) != 0)
		msg_panic("event=http_error reason=\"cannot make a connection urgent\"");
	return bev;
}

static struct bufferevent *plain_bev(struct event_base *base, void *arg)
{
	(void)arg;
	return urgent(bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE));
}

static struct bufferevent *tls_bev(struct event_base *base, void *arg)
{
	struct httpd *h = arg;
	SSL *ssl = SSL_new(h->ssl);
	if (ssl == NULL)
		return NULL;
	return urgent(bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
						     BEV_OPT_CLOSE_ON_FREE));
}

static SSL_CTX *server_ctx(const struct config *cf, char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL)
		return set_error(err, errlen, "http: cannot create a TLS context"), NULL;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	if (SSL_CTX_use_certificate_chain_file(ctx, cf->tls_cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, cf->tls_key, SSL_FILETYPE_PEM) != 1) {
		SSL_CTX_free(ctx);
		set_error(err, errlen, "http: cannot load %s / %s", cf->tls_cert, cf->tls_key);
		return NULL;
	}
	return ctx;
}

static struct evhttp *server_new(struct httpd *h, struct server *sv, const char *token)
{
	sv->h = h;
	sv->token = token;
	if ((sv->http = evhttp_new(h->base)) == NULL)
		msg_fatal("event=startup_error reason=\"evhttp_new failed\"");
	evhttp_set_timeout(sv->http, 30);
	evhttp_set_max_headers_size(sv->http, 16384);
	evhttp_set_max_body_size(sv->http, 4096);
	evhttp_set_allowed_methods(sv->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
				   EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE);
	evhttp_set_gencb(sv->http, on_request, sv);
	evhttp_set_bevcb(sv->http, plain_bev, h);
	return sv->http;
}

/* A connection accepted on fd inherits its send buffer (Linux): room
 * for a whole answer at once (see whole_writes()), where the default
 * starts at 16 KB (tcp_wmem). */
static void send_whole_answers(evutil_socket_t fd)
{
	int size = HTTP_SNDBUF;
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size)) != 0)
		msg_warn("event=http_sndbuf_failed reason=\"%s\"", strerror(errno));
}

static int bind_tcp(struct httpd *h, const struct config *cf, char *err, size_t errlen)
{
	const struct http_conf *hc = &cf->http;
	struct evhttp *http = server_new(h, &h->tcp, h->token);
	if (hc->tls) {
		if ((h->ssl = server_ctx(cf, err, errlen)) == NULL)
			return -1;
		evhttp_set_bevcb(http, tls_bev, h);
	}
	evloop_urgent_begin(h->base);   /* the listener evhttp makes: an accept is urgent too */
	struct evhttp_bound_socket *bound = evhttp_bind_socket_with_handle(http, hc->host,
									    (unsigned short)atoi(hc->port));
	evloop_urgent_end(h->base);
	if (bound == NULL)
		return set_error(err, errlen, "http: cannot listen on %s", hc->listen);
	send_whole_answers(evhttp_bound_socket_get_fd(bound));
	msg_info("event=listen address=%s protocol=%s auth=%s", hc->listen, hc->tls ? "https" : "http",
		 h->token ? "bearer" : "none");
	return 0;
}

struct httpd *httpd_new(struct event_base *base, const struct config *cf, char *err, size_t errlen)
{
	struct httpd *h = xcalloc(1, sizeof(*h));
	h->base = base;
	h->token = cf->http.token ? xstrdup(cf->http.token) : NULL;
	if (cf->http.listen && bind_tcp(h, cf, err, errlen) < 0) {
		httpd_free(h);
		return NULL;
	}
	return h;
}

int httpd_listen_unix(struct httpd *h, const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sun.sun_path))
		return set_error(err, errlen, "control socket path too long: %s", path);
	strcpy(sun.sun_path, path);
	unlink(path);   /* left by a daemon that did not stop cleanly */
	mode_t old = umask(077);
	evloop_urgent_begin(h->base);
	struct evconnlistener *l = evconnlistener_new_bind(h->base, NULL, NULL,
		LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 16, (struct sockaddr *)&sun, sizeof(sun));
	evloop_urgent_end(h->base);
	umask(old);
	if (l == NULL)
		return set_error(err, errlen, "cannot listen on %s: %s", path, strerror(errno));
	struct evhttp *http = server_new(h, &h->unix_sock, NULL);
	if (evhttp_bind_listener(http, l) == NULL) {
		evconnlistener_free(l);
		return set_error(err, errlen, "cannot serve HTTP on %s", path);
	}
	h->unix_path = xstrdup(path);
	msg_info("event=listen address=%s protocol=control", path);
	return 0;
}

void httpd_handle(struct httpd *h, const char *path, httpd_handler *fn, void *arg)
{
	if (h == NULL)
		return;
	if (h->nh == MAX_HANDLERS)
		msg_fatal("event=startup_error reason=\"too many HTTP handlers\"");
	h->h[h->nh++] = (struct handler){ xstrdup(path), fn, arg };
}

void httpd_free(struct httpd *h)
{
	if (h == NULL)
		return;
	if (h->tcp.http)
		evhttp_free(h->tcp.http);
	if (h->unix_sock.http)
		evhttp_free(h->unix_sock.http);
	if (h->unix_path)
		unlink(h->unix_path);
	free(h->unix_path);
	SSL_CTX_free(h->ssl);
	for (size_t i = 0; i < h->nh; i++)
		free(h->h[i].path);
	free(h->token);
	free(h);
}
