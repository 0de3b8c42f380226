/*
 * scan: the rspamd client; see scan.h.  One evhttp connection per request
 * (an evhttp connection runs its requests one after the other, and scans of
 * different sessions must not wait for each other); the connection is freed
 * from a zero timeout after the reply, as libevent forbids freeing it inside
 * its own callback.
 */
#include "inbound/scan.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "core/log.h"
#include "core/xmalloc.h"

#define SCAN_REPLY_MAX (1024 * 1024)

struct scan_req {
	struct event_base *base;
	struct evhttp_connection *conn;
	scan_done_fn *done;          /* NULL once cancelled */
	void *arg;
	struct timeval start;
	int http_error;              /* evhttp_request_error, -1: none */
};

static double ms_since(const struct timeval *t0)
{
	struct timeval now;
	gettimeofday(&now, NULL);
	return (double)(now.tv_sec - t0->tv_sec) * 1e3 + (double)(now.tv_usec - t0->tv_usec) / 1e3;
}

static void free_conn(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	evhttp_connection_free(arg);
}

static const char *http_error_text(int e)
{
	switch (e) {
	case EVREQ_HTTP_TIMEOUT: return "timeout";
	case EVREQ_HTTP_EOF: return "connection closed";
	case EVREQ_HTTP_INVALID_HEADER: return "invalid reply header";
	case EVREQ_HTTP_BUFFER_ERROR: return "connection failed";
	case EVREQ_HTTP_DATA_TOO_LONG: return "reply too long";
	default: return "connection failed";
	}
}

/* The outcome of the exchange into res. */
static void read_reply(struct scan_req *r, struct evhttp_request *req, struct scan_result *res)
{
	char why[128];
	int code = req ? evhttp_request_get_response_code(req) : 0;
	if (code == 0) {
		snprintf(res->error, sizeof(res->error), "%s", http_error_text(r->http_error));
		res->kind = r->http_error == EVREQ_HTTP_TIMEOUT ? "timeout" : "connect";
		return;
	}
	if (code != 200) {
		snprintf(res->error, sizeof(res->error), "HTTP status %d", code);
		res->kind = "http";
		return;
	}
	res->kind = "reply";
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	const char *body = (const char *)evbuffer_pullup(in, -1);
	if (scan_verdict_parse(body ? body : "", body ? len : 0, &res->v, why, sizeof(why)) < 0)
		snprintf(res->error, sizeof(res->error), "bad reply: %s", why);
	else
		res->ok = 1;
}

static void on_error(enum evhttp_request_error e, void *arg)
{
	struct scan_req *r = arg;
	r->http_error = (int)e;
}

static void on_reply(struct evhttp_request *req, void *arg)
{
	struct scan_req *r = arg;
	struct scan_result res;
	memset(&res, 0, sizeof(res));
	read_reply(r, req, &res);
	res.ms = ms_since(&r->start);
	if (r->done)
		r->done(r->arg, &res);
	struct timeval now = { 0, 0 };
	event_base_once(r->base, -1, EV_TIMEOUT, free_conn, r->conn, &now);
	free(r);
}

/* rspamd's request headers for env; -1 when one cannot be sent. */
static int add_headers(struct evkeyvalq *h, const struct scanner_conf *sc, const struct scan_env *env)
{
	int rc = evhttp_add_header(h, "Host", sc->host);
	if (env->client_ip)
		rc |= evhttp_add_header(h, "Ip", env->client_ip);
	if (env->helo && *env->helo)
		rc |= evhttp_add_header(h, "Helo", env->helo);
	rc |= evhttp_add_header(h, "From", env->sender && *env->sender ? env->sender : "<>");
	for (size_t i = 0; i < env->nrcpts; i++)
		rc |= evhttp_add_header(h, "Rcpt", env->rcpts[i]);
	if (env->user)
		rc |= evhttp_add_header(h, "User", env->user);
	if (env->tenant)
		rc |= evhttp_add_header(h, "X-Outpost-Tenant", env->tenant);
	rc |= evhttp_add_header(h, "Queue-Id", env->qid);
	rc |= evhttp_add_header(h, "Content-Type", "message/rfc822");
	return rc ? -1 : 0;
}

struct scan_req *scan_start(struct event_base *base, const struct scanner_conf *sc, const struct scan_env *env,
			    const char *data, size_t len, scan_done_fn *done, void *arg)
{
	struct scan_req *r = xcalloc(1, sizeof(*r));
	r->base = base;
	r->done = done;
	r->arg = arg;
	r->http_error = -1;
	gettimeofday(&r->start, NULL);
	r->conn = evhttp_connection_base_new(base, NULL, sc->host, sc->port);
	struct evhttp_request *req = r->conn ? evhttp_request_new(on_reply, r) : NULL;
	if (req == NULL) {
		if (r->conn)
			evhttp_connection_free(r->conn);
		free(r);
		return NULL;
	}
	struct timeval tv = { (time_t)sc->timeout, 0 };
	evhttp_connection_set_timeout_tv(r->conn, &tv);
	evhttp_connection_set_retries(r->conn, 0);
	evhttp_connection_set_max_body_size(r->conn, SCAN_REPLY_MAX);
	evhttp_request_set_error_cb(req, on_error);
	int rc = -1;
	if (add_headers(evhttp_request_get_output_headers(req), sc, env) < 0 ||
	    evbuffer_add(evhttp_request_get_output_buffer(req), data, len) < 0)
		evhttp_request_free(req);   /* not handed over yet: ours */
	else
		rc = evhttp_make_request(r->conn, req, EVHTTP_REQ_POST, "/checkv2");   /* frees req on failure */
	if (rc < 0) {
		evhttp_connection_free(r->conn);
		free(r);
		return NULL;
	}
	return r;
}

void scan_cancel(struct scan_req *r)
{
	if (r)
		r->done = NULL;
}
