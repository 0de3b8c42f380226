/*
 * curl_ev: libcurl's multi interface driven by a libevent loop, for
 * transfers that must not block the loop (the placement probes' IMAP
 * sessions).
 *
 * Contract: curl_ev_add() starts an easy handle the caller set up; when
 * the transfer ends (done, failed or timed out by its own CURLOPT
 * timeouts) it is taken out of the multi handle and done(easy, result,
 * arg) is called once, on the loop, never from within curl_ev_add(); the
 * caller then owns the handle again (reuse or curl_easy_cleanup()).
 * curl_ev_cancel() takes a transfer out without calling done.  Connections
 * are cached between transfers to the same server and user (libcurl's
 * connection cache of the multi handle), so consecutive transfers share
 * one IMAP session.  curl_ev_free() needs no transfer left in flight.
 */
#ifndef OUTPOST_CURL_EV_H
#define OUTPOST_CURL_EV_H
#include <curl/curl.h>

struct event_base;
struct curl_ev;

typedef void curl_ev_done_cb(CURL *easy, CURLcode result, void *arg);

struct curl_ev *curl_ev_new(struct event_base *base);
void curl_ev_free(struct curl_ev *c);
void curl_ev_add(struct curl_ev *c, CURL *easy, curl_ev_done_cb *done, void *arg);
void curl_ev_cancel(struct curl_ev *c, CURL *easy);

#endif
