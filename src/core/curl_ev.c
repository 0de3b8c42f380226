/*
 * curl_ev: libcurl multi on libevent (see curl_ev.h).  curl tells which
 * sockets to watch (sock_cb) and when to wake it (timer_cb); a once-a-
 * second tick also drives it, so a missed wake-up cannot stall a transfer.
 */
#include "core/curl_ev.h"

#include <event2/event.h>
#include <stdlib.h>

#include "core/log.h"
#include "core/xmalloc.h"

struct curl_ev {
	struct event_base *base;
	CURLM *multi;
	struct event *timer, *tick;
};

struct xfer {                   /* CURLOPT_PRIVATE of a transfer in flight */
	curl_ev_done_cb *done;
	void *arg;
};

static void check_done(struct curl_ev *c)
{
	CURLMsg *m;
	int left;
	while ((m = curl_multi_info_read(c->multi, &left)) != NULL) {
		if (m->msg != CURLMSG_DONE)
			continue;
		CURL *easy = m->easy_handle;
		CURLcode rc = m->data.result;
		struct xfer *x = NULL;
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
		curl_multi_remove_handle(c->multi, easy);
		curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
		if (x) {
			struct xfer copy = *x;
			free(x);
			copy.done(easy, rc, copy.arg);
		}
	}
}

static void on_socket(evutil_socket_t fd, short what, void *arg)
{
	struct curl_ev *c = arg;
	int running, flags = (what & EV_READ ? CURL_CSELECT_IN : 0) | (what & EV_WRITE ? CURL_CSELECT_OUT : 0);
	curl_multi_socket_action(c->multi, fd, flags, &running);
	check_done(c);
}

static int sock_cb(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct curl_ev *c = userp;
	struct event *ev = socketp;
	(void)e;
	if (ev) {
		event_free(ev);
		curl_multi_assign(c->multi, s, NULL);
	}
	if (what == CURL_POLL_REMOVE)
		return 0;
	short kind = (short)((what & CURL_POLL_IN ? EV_READ : 0) | (what & CURL_POLL_OUT ? EV_WRITE : 0) | EV_PERSIST);
	ev = event_new(c->base, s, kind, on_socket, c);
	event_add(ev, NULL);
	curl_multi_assign(c->multi, s, ev);
	return 0;
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct curl_ev *c = arg;
	int running;
	(void)fd;
	(void)what;
	curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(c);
}

static int timer_cb(CURLM *multi, long ms, void *userp)
{
	struct curl_ev *c = userp;
	(void)multi;
	if (ms < 0) {
		evtimer_del(c->timer);
		return 0;
	}
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	evtimer_add(c->timer, &tv);
	return 0;
}

struct curl_ev *curl_ev_new(struct event_base *base)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		msg_fatal("event=startup_error reason=\"curl_global_init failed\"");
	struct curl_ev *c = xcalloc(1, sizeof(*c));
	c->base = base;
	if ((c->multi = curl_multi_init()) == NULL)
		msg_fatal("event=startup_error reason=\"curl_multi_init failed\"");
	c->timer = evtimer_new(base, on_timer, c);
	c->tick = event_new(base, -1, EV_PERSIST, on_timer, c);
	struct timeval second = { 1, 0 };
	event_add(c->tick, &second);
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
	return c;
}

void curl_ev_add(struct curl_ev *c, CURL *easy, curl_ev_done_cb *done, void *arg)
{
	struct xfer *x = xmalloc(sizeof(*x));
	x->done = done;
	x->arg = arg;
	curl_easy_setopt(easy, CURLOPT_PRIVATE, x);
	curl_multi_add_handle(c->multi, easy);   /* curl starts it from its timer: never from here */
}

void curl_ev_cancel(struct curl_ev *c, CURL *easy)
{
	struct xfer *x = NULL;
	curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
	curl_multi_remove_handle(c->multi, easy);
	curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
	free(x);
}

void curl_ev_free(struct curl_ev *c)
{
	if (c == NULL)
		return;
	curl_multi_cleanup(c->multi);   /* closes the cached connections */
	event_free(c->timer);
	event_free(c->tick);
	free(c);
	curl_global_cleanup();
}
