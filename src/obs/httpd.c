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
#include <openssl/crypto.h>
#include <openssl/ssl.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/log.h"
#include "core/xmalloc.h"

#define MAX_HANDLERS 16

struct handler {
	char *path;
	httpd_handler *fn;
	void *arg;
};

struct httpd {
	struct evhttp *http;
	SSL_CTX *ssl;
	char *token;
	struct handler h[MAX_HANDLERS];
	size_t nh;
};

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
	evhttp_send_reply(req, status, reason, b);
	evbuffer_free(b);
}

static void reply_text(struct evhttp_request *req, int status, const char *text)
{
	httpd_reply(req, status, "text/plain; charset=utf-8", text, strlen(text));
}

/* The token in constant time, so its bytes cannot be found one by one. */
static int authorized(const struct httpd *h, struct evhttp_request *req)
{
	if (h->token == NULL)
		return 1;
	const char *a = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
	if (a == NULL || strncmp(a, "Bearer ", 7) != 0)
		return 0;
	a += 7;
	size_t n = strlen(h->token);
	return strlen(a) == n && CRYPTO_memcmp(a, h->token, n) == 0;
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
	struct httpd *h = arg;
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD");
		return reply_text(req, 405, "only GET and HEAD\n");
	}
	if (!authorized(h, req)) {
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

static struct bufferevent *tls_bev(struct event_base *base, void *arg)
{
	struct httpd *h = arg;
	SSL *ssl = SSL_new(h->ssl);
	if (ssl == NULL)
		return NULL;
	return bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
					      BEV_OPT_CLOSE_ON_FREE);
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

struct httpd *httpd_new(struct event_base *base, const struct config *cf, char *err, size_t errlen)
{
	const struct http_conf *hc = &cf->http;
	if (hc->listen == NULL)
		return NULL;
	struct httpd *h = xcalloc(1, sizeof(*h));
	h->http = evhttp_new(base);
	if (h->http == NULL)
		msg_fatal("event=startup_error reason=\"evhttp_new failed\"");
	h->token = hc->token ? xstrdup(hc->token) : NULL;
	if (hc->tls) {
		if ((h->ssl = server_ctx(cf, err, errlen)) == NULL) {
			httpd_free(h);
			return NULL;
		}
		evhttp_set_bevcb(h->http, tls_bev, h);
	}
	evhttp_set_timeout(h->http, 30);
	evhttp_set_max_headers_size(h->http, 16384);
	evhttp_set_max_body_size(h->http, 4096);
	evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
				   EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE);
	evhttp_set_gencb(h->http, on_request, h);
	const char *host = hc->host[0] ? hc->host : "0.0.0.0";
	if (evhttp_bind_socket(h->http, host, (unsigned short)atoi(hc->port)) != 0) {
		set_error(err, errlen, "http: cannot listen on %s", hc->listen);
		httpd_free(h);
		return NULL;
	}
	msg_info("event=listen address=%s protocol=%s auth=%s", hc->listen, hc->tls ? "https" : "http",
		 h->token ? "bearer" : "none");
	return h;
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
	evhttp_free(h->http);
	SSL_CTX_free(h->ssl);
	for (size_t i = 0; i < h->nh; i++)
		free(h->h[i].path);
	free(h->token);
	free(h);
}
