/*
 * smtp_auth: the AUTH exchange of an inbound session (RFC 4954: PLAIN and
 * LOGIN).  Collects user and password, checks them on a worker thread
 * (the session waits in AUTHCHECK, its input kept), and answers; a failed
 * AUTH is answered after a delay that grows per client address, and past
 * the address's failure budget the session is closed (auth_throttle.h).
 */
#include <event2/bufferevent.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/base64.h"
#include "core/config.h"
#include "core/log.h"
#include "core/worker.h"
#include "core/xmalloc.h"
#include "inbound/auth.h"
#include "inbound/auth_throttle.h"
#include "inbound/smtp_session_int.h"
#include "inbound/smtpd_int.h"

struct auth_job {
	struct users *users;         /* a reference: a reload may replace the table meanwhile */
	char user[256];
	char pass[256];
	int ok;
	struct smtp_session *s;
};

static void auth_run(void *arg)
{
	struct auth_job *j = arg;
	j->ok = users_verify(j->users, j->user, j->pass);
	explicit_bzero(j->pass, sizeof(j->pass));
}

static void auth_job_free(void *arg)
{
	struct auth_job *j = arg;
	users_free(j->users);
	explicit_bzero(j, sizeof(*j));
	free(j);
}

/* Answers a failed AUTH after its delay, then reads on. */
static void on_auth_delay(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_session *s = arg;
	(void)fd;
	(void)what;
	smtp_enter_state(s, SMTP_S_READY);
	smtp_reply_error(s, "535 5.7.8 Authentication credentials invalid");
	if (s->state == SMTP_S_CLOSING)
		return;
	if (!s->peer_eof && !s->shutdown)
		bufferevent_enable(s->bev, EV_READ);
	smtp_session_resume(s);
}

/* A failed AUTH counts against the client's address (auth_throttle.h): the
 * reply waits longer with each failure, and reading waits with it. */
static void auth_failed(struct smtp_session *s, const char *user)
{
	char q[300];
	unsigned ms = auth_throttle_fail(s->sd->auth_throttle, s->addr, time(NULL));
	unsigned n = auth_throttle_failures(s->sd->auth_throttle, s->addr, time(NULL));
	struct timeval delay = { ms / 1000, (suseconds_t)(ms % 1000) * 1000 };
	msg_info("event=auth session=%lu client=%s user=%s result=failed failures=%u delay_ms=%u", s->id,
		 s->addr, log_quote(q, sizeof(q), user), n, ms);
	if (s->auth_delay_ev == NULL)
		s->auth_delay_ev = evtimer_new(s->sd->base, on_auth_delay, s);
	evtimer_add(s->auth_delay_ev, &delay);   /* stays in AUTHCHECK, reading paused */
}

static void auth_done(void *arg)
{
	struct auth_job *j = arg;
	struct smtp_session *s = j->s;
	s->auth_job = NULL;
	if (!j->ok) {
		auth_failed(s, j->user);
		auth_job_free(j);
		return;
	}
	smtp_enter_state(s, SMTP_S_READY);
	users_free(s->users);     /* (NULL: one AUTH per session) */
	s->users = users_ref(j->users);
	s->user = users_find(s->users, j->user);
	auth_throttle_success(s->sd->auth_throttle, s->addr);
	msg_info("event=auth session=%lu client=%s user=%s result=ok", s->id, s->addr, j->user);
	smtp_reply(s, "235 2.7.0 Authentication successful");
	auth_job_free(j);
	if (!s->peer_eof)
		bufferevent_enable(s->bev, EV_READ);
	smtp_session_resume(s);
}

static void auth_check(struct smtp_session *s, const char *user, const char *pass)
{
	size_t ul = strlen(user), pl = strlen(pass);
	struct auth_job *j;
	if (ul >= sizeof(j->user) || pl >= sizeof(j->pass))
		return smtp_reply_error(s, "501 5.5.2 User name or password too long");
	j = xcalloc(1, sizeof(*j));
	j->users = users_ref(s->sd->users);
	j->s = s;
	memcpy(j->user, user, ul + 1);
	memcpy(j->pass, pass, pl + 1);
	smtp_enter_state(s, SMTP_S_AUTHCHECK);
	bufferevent_disable(s->bev, EV_READ);
	s->auth_job = worker_submit(s->sd->workers, auth_run, auth_done, auth_job_free, j);
}

/* One base64 SASL response (initial or after 334). */
void smtp_auth_response(struct smtp_session *s, const char *line, size_t len)
{
	char dec[512], user[256], pass[256];
	long n;
	if (len == 1 && line[0] == '*') {
		smtp_enter_state(s, SMTP_S_READY);
		return smtp_reply_error(s, "501 5.7.0 Authentication cancelled");
	}
	n = (len == 1 && line[0] == '=') ? 0 : base64_decode(line, len, dec, sizeof(dec));
	if (n < 0) {
		smtp_enter_state(s, SMTP_S_READY);
		return smtp_reply_error(s, "501 5.5.2 Bad base64 in AUTH response");
	}
	if (!s->auth_login) {
		smtp_enter_state(s, SMTP_S_READY);
		if (sasl_plain_split(dec, (size_t)n, user, sizeof(user), pass, sizeof(pass)) < 0)
			return smtp_reply_error(s, "501 5.5.2 Bad PLAIN authentication message");
		auth_check(s, user, pass);
	} else if (s->auth_step == 0) {
		if (n == 0 || (size_t)n >= sizeof(s->auth_name) || memchr(dec, '\0', (size_t)n)) {
			smtp_enter_state(s, SMTP_S_READY);
			return smtp_reply_error(s, "501 5.5.2 Bad user name");
		}
		memcpy(s->auth_name, dec, (size_t)n + 1);
		s->auth_step = 1;
		smtp_enter_state(s, SMTP_S_AUTH);
		smtp_reply(s, "334 UGFzc3dvcmQ6");
	} else {
		smtp_enter_state(s, SMTP_S_READY);
		if (memchr(dec, '\0', (size_t)n))
			return smtp_reply_error(s, "501 5.5.2 Bad password");
		auth_check(s, s->auth_name, dec);
	}
	explicit_bzero(dec, sizeof(dec));
	explicit_bzero(pass, sizeof(pass));
}

void smtp_do_auth(struct smtp_session *s, const struct smtp_cmd *c)
{
	if (!smtp_auth_available(s))
		return smtp_reply_error(s, s->sd->users && s->lc->auth != LISTEN_AUTH_NONE
			? "538 5.7.11 Encryption required for requested authentication mechanism"
			: "502 5.5.1 AUTH not available");
	if (s->state != SMTP_S_READY)
		return smtp_reply_error(s, s->state == SMTP_S_CONNECTED ? "503 5.5.1 Error: send EHLO first"
								 : "503 5.5.1 Error: AUTH inside a transaction");
	if (s->user)
		return smtp_reply_error(s, "503 5.5.1 Error: already authenticated");
	unsigned failures = auth_throttle_failures(s->sd->auth_throttle, s->addr, time(NULL));
	if (failures >= s->sd->cf->inbound.auth_max_failures) {
		msg_warn("event=auth_blocked session=%lu client=%s failures=%u", s->id, s->addr, failures);
		return smtp_session_close(s, "421 4.7.0 Too many failed authentications from your address, try again later");
	}
	const char *sp = memchr(c->arg, ' ', c->arglen);
	size_t mlen = sp ? (size_t)(sp - c->arg) : c->arglen;
	const char *init = sp ? sp + 1 : NULL;
	size_t initlen = sp ? c->arglen - mlen - 1 : 0;
	if (mlen == 5 && strncasecmp(c->arg, "PLAIN", 5) == 0)
		s->auth_login = 0;
	else if (mlen == 5 && strncasecmp(c->arg, "LOGIN", 5) == 0)
		s->auth_login = 1;
	else
		return smtp_reply_error(s, "504 5.5.4 Unrecognized authentication type");
	s->auth_step = 0;
	if (init)
		return smtp_auth_response(s, init, initlen);
	smtp_enter_state(s, SMTP_S_AUTH);
	smtp_reply(s, s->auth_login ? "334 VXNlcm5hbWU6" : "334 ");
}
