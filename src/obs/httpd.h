/*
 * httpd: the operator's HTTP listener (http = { listen; } in the config),
 * libevent's evhttp on the daemon's event loop.
 *
 * Contract:
 * - httpd_new() binds cf->http.listen when the section is present (NULL
 *   with err when the bind fails).  With tls it serves HTTPS with the
 *   top-level certificate; with a token every request to it needs
 *   "Authorization: Bearer TOKEN" (401 otherwise, compared in constant
 *   time).
 * - httpd_listen_unix() serves the same handlers on a Unix socket of mode
 *   600 (the control socket the CLI asks; its permissions are the access
 *   control, no token), removed again by httpd_free().
 * - Only GET and HEAD (405 otherwise).  A request goes to the handler
 *   whose path is equal to it, or, for a path ending in '/', which is a
 *   prefix of it (the longest wins); 404 when none.  A handler answers
 *   with httpd_reply() or evhttp itself, at once or later on the loop.
 * - Requests are small: headers and body capped (evhttp), an idle
 *   connection closed after 30 s.
 */
#ifndef OUTPOST_HTTPD_H
#define OUTPOST_HTTPD_H
#include <stddef.h>

struct config;
struct event_base;
struct evhttp_request;
struct httpd;

typedef void httpd_handler(struct evhttp_request *req, const char *path, void *arg);

struct httpd *httpd_new(struct event_base *base, const struct config *cf, char *err, size_t errlen);
int httpd_listen_unix(struct httpd *h, const char *path, char *err, size_t errlen);
void httpd_handle(struct httpd *h, const char *path, httpd_handler *fn, void *arg);
/* Answers req with status, a Content-Type and body (len bytes). */
void httpd_reply(struct evhttp_request *req, int status, const char *type, const char *body, size_t len);
void httpd_free(struct httpd *h);

#endif
