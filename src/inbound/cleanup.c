/*
 * cleanup: the accepted message on its way from the session to the spool
 * (trace fields, X-Outpost-Class, DKIM signing, the commit).  See
 * cleanup.h for the contract.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/header.h"
#include "core/log.h"
#include "core/worker.h"
#include "core/xmalloc.h"
#include "inbound/cleanup.h"
#include "mailauth/dkim.h"
#include "mailauth/mime7bit.h"
#include "obs/obs.h"

static void rfc5322_date(char *out, size_t outlen, time_t t)
{
	struct tm tm;
	gmtime_r(&t, &tm);
	if (strftime(out, outlen, "%a, %d %b %Y %H:%M:%S +0000", &tm) == 0)
		out[0] = '\0';
}

/* Received: trace field, then Date:/Message-ID: when the client left them out. */
static void add_headers(const struct config *cf, const struct cleanup_envelope *e, const char *text,
			size_t len, struct buf *msg, time_t now)
{
	char date[64];
	struct header_field f;
	const char *proto = e->smtputf8 ? "UTF8SMTP" : "ESMTP";
	rfc5322_date(date, sizeof(date), now);
	/* RFC 3848 and 6531 protocol names: ESMTP, ESMTPS, ESMTPSA, UTF8SMTPS... */
	buf_printf(msg, "Received: from %s (%s)\r\n\tby %s (outpost) with %s%s%s id %s",
		   e->helo[0] ? e->helo : "unknown", e->client, cf->hostname, e->esmtp ? proto : "SMTP",
		   (e->esmtp && e->tls) ? "S" : "", (e->esmtp && e->auth_user) ? "A" : "", e->qid);
	if (e->tls)
		buf_printf(msg, "\r\n\t(using %s)", e->tls_info);
	if (e->nrcpts == 1)
		buf_printf(msg, "\r\n\tfor <%s>", e->rcpts[0]);
	buf_printf(msg, "; %s\r\n", date);
	int has_date = 0, has_msgid = 0;
	size_t pos = 0;
	while (header_next(text, len, &pos, &f)) {  /* one pass for both */
		has_date |= f.namelen == 4 && strncasecmp(f.name, "Date", 4) == 0;
		has_msgid |= f.namelen == 10 && strncasecmp(f.name, "Message-ID", 10) == 0;
	}
	if (!has_date)
		buf_printf(msg, "Date: %s\r\n", date);
	if (!has_msgid)
		buf_printf(msg, "Message-ID: <%s.%lld@%s>\r\n", e->qid, (long long)now, cf->hostname);
}

/* "  Bulk \r\n" -> "bulk"; NULL unless 1-32 of [a-z0-9._-] (a class is a
 * word the rules match on, not free text). */
static char *class_value(const char *v, size_t n)
{
	while (n && (*v == ' ' || *v == '\t' || *v == '\r' || *v == '\n'))
		v++, n--;
	while (n && (v[n - 1] == ' ' || v[n - 1] == '\t' || v[n - 1] == '\r' || v[n - 1] == '\n'))
		n--;
	if (n == 0 || n > 32)
		return NULL;
	char *c = xstrndup(v, n);
	for (char *p = c; *p; p++) {
		*p = (char)tolower((unsigned char)*p);
		if (!isalnum((unsigned char)*p) && *p != '.' && *p != '_' && *p != '-') {
			free(c);
			return NULL;
		}
	}
	return c;
}

/* Appends the client's message to out without its X-Outpost-Class fields
 * (an instruction to outpost, not for the recipient); the first valid
 * value becomes the message's class. */
static void append_without_class(const struct cleanup_envelope *e, const char *text, size_t len,
				 struct buf *out, char **cls)
{
	static const char name[] = "X-Outpost-Class";
	struct header_field f;
	size_t pos = 0, copied = 0;
	while (header_next(text, len, &pos, &f)) {
		if (f.namelen != sizeof(name) - 1 || strncasecmp(f.name, name, f.namelen) != 0)
			continue;
		buf_append(out, text + copied, f.start - copied);
		copied = f.end;
		char *c = class_value(f.value, f.valuelen);
		if (c == NULL || *cls)
			msg_info("event=class_ignored session=%lu qid=%s reason=\"%s\"", e->session, e->qid,
				 c ? "repeated" : "not a word of 1-32 [a-z0-9._-]");
		if (*cls == NULL)
			*cls = c;
		else
			free(c);
	}
	buf_append(out, text + copied, len - copied);
}

unsigned cleanup_count_hops(const char *text, size_t len)
{
	struct header_field f;
	size_t pos = 0;
	unsigned n = 0;
	while (header_next(text, len, &pos, &f))
		n += f.namelen == 8 && strncasecmp(f.name, "Received", 8) == 0;
	return n;
}

struct spool_msg *cleanup_message(const struct config *cf, struct cleanup_envelope *env,
				  const char *text, size_t len)
{
	struct spool_msg *m = xcalloc(1, sizeof(*m));
	struct buf msg = BUF_INIT;
	m->created = time(NULL);
	buf_reserve(&msg, len + 1024);
	add_headers(cf, env, text, len, &msg, m->created);
	append_without_class(env, text, len, &msg, &m->msg_class);
	snprintf(m->id, sizeof(m->id), "%s", env->qid);
	m->sender = env->sender;
	m->rcpts = env->rcpts;
	m->nrcpts = env->nrcpts;
	env->sender = NULL;
	env->rcpts = NULL;
	env->nrcpts = 0;
	m->client_addr = xstrdup(env->client);
	m->client_helo = xstrdup(env->helo[0] ? env->helo : "unknown");
	m->auth_user = env->auth_user ? xstrdup(env->auth_user) : NULL;
	m->session = env->session;
	m->tenant = env->tenant ? xstrdup(env->tenant) : NULL;
	m->smtputf8 = env->smtputf8;
	m->body_8bit = env->body_8bit;
	m->body = buf_steal(&msg, &m->body_len);
	return m;
}

/* ---- on a worker thread: made fit for 7-bit SMTP, DKIM-signed; then the commit ---- */

struct cleanup_job {
	const struct dkim_signer *signer;
	struct spool *spool;
	struct spool_msg *m;         /* until it is handed to the spool */
	struct worker_job *wj;       /* while signing */
	struct spool_req *req;       /* while committing */
	struct loop_post *reply_to;  /* the session's loop (NULL: the spool's) */
	spool_commit_cb *done;
	void *arg;
	int rc;                      /* 1 signed, 0 no key, -1 failed, -2 refused */
	int converted;
	struct mime7bit_report rep;
	char info[300];
	char err[256];
};

/* The message made fit for 7-bit SMTP (long lines always; 8-bit octets
 * when it is signed, so the signature covers the bytes every hop sends):
 * 0, or -1 with the reason in j->err. */
static int conform(struct cleanup_job *j, int sign)
{
	struct spool_msg *m = j->m;
	struct buf conv = BUF_INIT;
	int flags = sign ? MIME7BIT_8BIT : 0;
	if (!sign && !mime7bit_needed(m->body, m->body_len, flags))
		return 0;
	int rc = mime7bit_convert(m->body, m->body_len, flags, &conv, &j->rep, j->err, sizeof(j->err));
	if (rc == 1) {
		free(m->body);
		m->body = buf_steal(&conv, &m->body_len);
		j->converted = 1;
		if (sign)            /* the body is 7-bit now */
			m->body_8bit = 0;
	}
	buf_free(&conv);
	return rc < 0 ? -1 : 0;
}

static void sign_run(void *arg)
{
	struct cleanup_job *j = arg;
	struct spool_msg *m = j->m;
	struct buf out = BUF_INIT;
	int sign = j->signer && dkim_signer_wants_tenant(j->signer, m->body, m->body_len, m->tenant);

	if (conform(j, sign) < 0) {
		j->rc = -2;
		return;
	}
	if (sign)
		j->rc = dkim_signer_sign_tenant(j->signer, m->body, m->body_len, m->tenant, &out, j->info,
						sizeof(j->info), j->err, sizeof(j->err));
	if (j->rc == 1) {            /* the signatures go on top */
		buf_append(&out, m->body, m->body_len);
		free(m->body);
		m->body = buf_steal(&out, &m->body_len);
	}
	buf_free(&out);
}

/* Frees a job whose owner detached while it was signing. */
static void sign_job_free(void *arg)
{
	struct cleanup_job *j = arg;
	spool_msg_free(j->m);
	free(j);
}

static void committed(void *arg, int ok, const char *reason)
{
	struct cleanup_job *j = arg;
	spool_commit_cb *done = j->done;
	void *done_arg = j->arg;
	free(j);
	done(done_arg, ok, reason);
}

static void commit(struct cleanup_job *j)
{
	struct spool_msg *m = j->m;
	j->m = NULL;
	j->req = spool_commit_to(j->spool, j->reply_to, m, committed, j);
}

/* Cleanup could not make the message fit: the client hears why. */
static void refuse(struct cleanup_job *j)
{
	char q[300], r[300];
	spool_commit_cb *done = j->done;
	void *done_arg = j->arg;
	msg_info("event=message_refused qid=%s reason=%s", j->m->id, log_quote(q, sizeof(q), j->err));
	if (snprintf(r, sizeof(r), "554 5.6.0 Message refused: %s", j->err) >= (int)sizeof(r))
		r[sizeof(r) - 1] = '\0';
	spool_msg_free(j->m);
	free(j);
	done(done_arg, -1, r);
}

static void sign_done(void *arg)
{
	struct cleanup_job *j = arg;
	char q[300], conv[200];
	j->wj = NULL;
	if (j->rc == -2)
		return refuse(j);
	obs_dkim(j->rc);
	mime7bit_describe(&j->rep, conv, sizeof(conv));
	if (j->rc == 1)
		msg_info("event=dkim_signed qid=%s %s converted=%s", j->m->id, j->info, conv);
	else if (j->rc < 0)
		msg_warn("event=dkim_failed qid=%s reason=%s action=queued_unsigned converted=%s", j->m->id,
			 log_quote(q, sizeof(q), j->err), conv);
	else if (j->converted)
		msg_info("event=message_converted qid=%s converted=%s", j->m->id, conv);
	commit(j);
}

struct cleanup_job *cleanup_commit(struct worker_pool *workers, const struct dkim_signer *signer,
				   struct spool *sp, struct loop_post *reply_to, struct spool_msg *m,
				   spool_commit_cb *done, void *arg)
{
	struct cleanup_job *j = xcalloc(1, sizeof(*j));
	j->reply_to = reply_to;
	j->signer = signer;
	j->spool = sp;
	j->m = m;
	j->done = done;
	j->arg = arg;
	if ((signer == NULL || dkim_signer_nkeys(signer) == 0) && !mime7bit_needed(m->body, m->body_len, 0))
		commit(j);
	else
		j->wj = worker_submit(workers, sign_run, sign_done, sign_job_free, j);
	return j;
}

void cleanup_detach(struct cleanup_job *j)
{
	if (j == NULL)
		return;
	if (j->wj) {
		worker_detach(j->wj);   /* frees j once sign_run has finished */
		return;
	}
	spool_req_detach(j->req);
	free(j);
}
