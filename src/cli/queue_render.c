/*
 * queue_render: text and JSON views of the queue (see queue_render.h).
 */
#include "cli/queue_render.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/utf8.h"
#include "obs/queue_why.h"

/* --- text ---------------------------------------------------------------- */

static const char *iso_time(long long t, char out[32])
{
	struct tm tm;
	time_t tt = (time_t)(t == SPOOL_ADMIN_NO_TIME ? 0 : t);
	if (gmtime_r(&tt, &tm) == NULL || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		strcpy(out, "?");
	return out;
}

/* Prints s with control bytes as '?', so one record stays one line. */
static void put_text(FILE *out, const char *s)
{
	if (s == NULL) {
		fputs("-", out);
		return;
	}
	for (; *s; s++)
		fputc((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s, out);
}

/* Prints a block of lines (from outside: header text) keeping newlines
 * and tabs, other control bytes as '?' so they cannot drive a terminal. */
static void put_block(FILE *out, const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];
		fputc(c == '\n' || c == '\t' || (c >= 0x20 && c != 0x7f) ? c : '?', out);
	}
	if (len && p[len - 1] != '\n')
		fputc('\n', out);
}

/* " name=value": "-" for none, quoted when it holds a space. */
static void put_field(FILE *out, const char *name, const struct spool_text *t)
{
	fprintf(out, " %s=", name);
	if (t->data && strchr(t->data, ' ')) {
		fputc('"', out);
		put_text(out, t->data);
		fputc('"', out);
	} else {
		put_text(out, t->data);
	}
}

static void put_time_field(FILE *out, const char *name, long long t)
{
	char s[32];
	fprintf(out, " %s=%s", name, t == SPOOL_ADMIN_NO_TIME ? "-" : iso_time(t, s));
}

static int text_done(FILE *out, char *err, size_t errlen)
{
	if (fflush(out) == 0 && !ferror(out))
		return 0;
	set_error(err, errlen, "write error");
	return -1;
}

/* "  waiting: why (until T)" under a message (queue_why.h). */
static void put_waiting(FILE *out, const struct spool_admin_msg *m, const struct queue_live_set *live,
			const char *indent)
{
	char why[600], t[32];
	long long until;
	queue_why(m, live, (long long)time(NULL), why, sizeof(why), &until);
	fprintf(out, "%swaiting: ", indent);
	put_text(out, why);
	if (until != SPOOL_ADMIN_NO_TIME)
		fprintf(out, " (until %s)", iso_time(until, t));
	fputc('\n', out);
}

/* " provider=gmail" (its MX host's provider, what limits and warm-up count
 * it under), or provider="unknown (...)" with the reason. */
static void put_provider(FILE *out, const struct spool_admin_rcpt *r, const struct queue_live_set *live)
{
	char prov[128];
	const char *host;
	queue_provider(live, r->address.data, prov, sizeof(prov), &host);
	struct spool_text t = { prov, strlen(prov) };
	put_field(out, "provider", &t);
}

static void list_text(const struct spool_admin_queue *q, const struct queue_live_set *live, FILE *out)
{
	char t[32];
	for (size_t i = 0; i < q->n; i++) {
		const struct spool_admin_msg *m = &q->msgs[i];
		put_text(out, m->id.data);
		fprintf(out, " %s %lld <", iso_time(m->created, t), m->size);
		put_text(out, m->sender.data);
		fputc('>', out);
		for (size_t k = 0; k < m->nrcpts; k++) {
			const struct spool_admin_rcpt *r = &m->rcpts[k];
			fputc(' ', out);
			put_text(out, r->address.data);
			fputc('(', out);
			put_text(out, r->state.data);
			if (r->attempts > 0)
				fprintf(out, ",%lld", r->attempts);
			fputc(')', out);
		}
		fputc('\n', out);
		put_waiting(out, m, live, "  ");
	}
}

static void show_text_envelope(const struct spool_admin_msg *m, FILE *out)
{
	char t[32];
	fputs("id: ", out);
	put_text(out, m->id.data);
	fprintf(out, "\ncreated: %s\nsize: %lld\nsender: <", iso_time(m->created, t), m->size);
	put_text(out, m->sender.data);
	fputs(">\nclient_addr: ", out);
	put_text(out, m->client_addr.data);
	fputs("\nclient_helo: ", out);
	put_text(out, m->client_helo.data);
	fputs("\nauth_user: ", out);
	put_text(out, m->auth_user.data);
	fputs("\ntenant: ", out);
	put_text(out, m->tenant.data);
	if (m->scan_action.len) {
		fputs("\nscan: ", out);
		put_text(out, m->scan_action.data);
		fputs(" score ", out);
		put_text(out, m->scan_score.data);
		fputs(" symbols ", out);
		put_text(out, m->scan_symbols.data);
	}
	fprintf(out, "\nsmtputf8: %s\nbody_8bit: %s\nnext_attempt: %s\n", m->smtputf8 ? "yes" : "no",
		m->body_8bit ? "yes" : "no", iso_time(m->next_attempt, t));
}

static void show_text(const struct spool_admin_msg *m, const struct queue_live_set *live, FILE *out)
{
	show_text_envelope(m, out);
	put_waiting(out, m, live, "");
	fputs("recipients:\n", out);
	for (size_t i = 0; i < m->nrcpts; i++) {
		const struct spool_admin_rcpt *r = &m->rcpts[i];
		fprintf(out, "  position=%d", r->position);
		put_field(out, "address", &r->address);
		put_field(out, "state", &r->state);
		fprintf(out, " attempts=%lld", r->attempts);
		put_provider(out, r, live);
		put_field(out, "last_reply", &r->last_reply);
		put_time_field(out, "last_attempt", r->last_attempt);
		put_time_field(out, "next_attempt", r->next_attempt);
		fputc('\n', out);
	}
	fputs("attempts:\n", out);
	for (size_t i = 0; i < m->nattempts; i++) {
		const struct spool_admin_attempt *a = &m->attempts[i];
		fputc(' ', out);
		put_time_field(out, "time", a->time);
		put_field(out, "recipient", &a->recipient);
		put_field(out, "route", &a->route);
		put_field(out, "remote_host", &a->remote_host);
		put_field(out, "remote_ip", &a->remote_ip);
		put_field(out, "tls", &a->tls);
		put_field(out, "reply", &a->reply);
		put_field(out, "result", &a->result);
		fputc('\n', out);
	}
	fputs("headers:\n", out);
	put_block(out, m->headers.data, m->headers.len);
}

/* --- JSON ---------------------------------------------------------------- */

/* A JSON string of t, invalid UTF-8 replaced by U+FFFD; null for none. */
static json_t *jtext(const struct spool_text *t)
{
	if (t->data == NULL)
		return json_null();
	json_t *j = json_stringn(t->data, t->len);
	if (j)
		return j;
	struct buf b = BUF_INIT;
	const unsigned char *p = (const unsigned char *)t->data;
	for (size_t i = 0; i < t->len;) {
		size_t n = utf8_next(p + i, t->len - i, NULL);
		if (n == 0) {
			buf_append(&b, "\xef\xbf\xbd", 3);
			i++;
		} else {
			buf_append(&b, p + i, n);
			i += n;
		}
	}
	j = json_stringn(b.data ? b.data : "", b.len);
	buf_free(&b);
	if (j == NULL)
		msg_panic("event=queue_render_bug reason=\"utf-8 repair failed\"");
	return j;
}

static json_t *jtime(long long t)
{
	char s[32];
	return t == SPOOL_ADMIN_NO_TIME ? json_null() : json_string(iso_time(t, s));
}

static json_t *waiting_json(const struct spool_admin_msg *m, const struct queue_live_set *live)
{
	char why[600];
	long long until;
	queue_why(m, live, (long long)time(NULL), why, sizeof(why), &until);
	struct spool_text t = { why, strlen(why) };
	return json_pack("{s:o,s:o}", "reason", jtext(&t), "until", jtime(until));
}

/* "provider": its MX host's provider or null, "provider_mx": that host or
 * null, and when null "provider_why": the reason it is not known. */
static void provider_json(json_t *o, const struct spool_admin_rcpt *r, const struct queue_live_set *live)
{
	char prov[128];
	const char *host;
	int known = queue_provider(live, r->address.data, prov, sizeof(prov), &host);
	json_object_set_new(o, "provider", known ? json_string(prov) : json_null());
	json_object_set_new(o, "provider_mx", host ? json_string(host) : json_null());
	if (!known)
		json_object_set_new(o, "provider_why", json_string(prov));
}

static json_t *list_json_msg(const struct spool_admin_msg *m, const struct queue_live_set *live)
{
	json_t *o = json_object(), *rcpts = json_array();
	json_object_set_new(o, "id", jtext(&m->id));
	json_object_set_new(o, "created", jtime(m->created));
	json_object_set_new(o, "size", json_integer(m->size));
	json_object_set_new(o, "sender", jtext(&m->sender));
	for (size_t k = 0; k < m->nrcpts; k++) {
		json_t *r = json_object();
		json_object_set_new(r, "address", jtext(&m->rcpts[k].address));
		json_object_set_new(r, "state", jtext(&m->rcpts[k].state));
		json_object_set_new(r, "attempts", json_integer(m->rcpts[k].attempts));
		json_object_set_new(r, "last_reply", jtext(&m->rcpts[k].last_reply));
		provider_json(r, &m->rcpts[k], live);
		json_array_append_new(rcpts, r);
	}
	json_object_set_new(o, "recipients", rcpts);
	json_object_set_new(o, "next_attempt", jtime(m->next_attempt));
	json_object_set_new(o, "waiting", waiting_json(m, live));
	return o;
}

static json_t *show_json_rcpt(const struct spool_admin_rcpt *r, const struct queue_live_set *live)
{
	json_t *o = json_object();
	json_object_set_new(o, "position", json_integer(r->position));
	json_object_set_new(o, "address", jtext(&r->address));
	json_object_set_new(o, "state", jtext(&r->state));
	json_object_set_new(o, "attempts", json_integer(r->attempts));
	json_object_set_new(o, "last_reply", jtext(&r->last_reply));
	json_object_set_new(o, "last_attempt", jtime(r->last_attempt));
	json_object_set_new(o, "next_attempt", jtime(r->next_attempt));
	provider_json(o, r, live);
	return o;
}

static json_t *show_json_attempt(const struct spool_admin_attempt *a)
{
	json_t *o = json_object();
	json_object_set_new(o, "time", jtime(a->time));
	json_object_set_new(o, "recipient", jtext(&a->recipient));
	json_object_set_new(o, "route", jtext(&a->route));
	json_object_set_new(o, "remote_host", jtext(&a->remote_host));
	json_object_set_new(o, "remote_ip", jtext(&a->remote_ip));
	json_object_set_new(o, "tls", jtext(&a->tls));
	json_object_set_new(o, "reply", jtext(&a->reply));
	json_object_set_new(o, "result", jtext(&a->result));
	return o;
}

static json_t *show_json(const struct spool_admin_msg *m, const struct queue_live_set *live)
{
	json_t *o = json_object(), *rcpts = json_array(), *atts = json_array();
	json_object_set_new(o, "id", jtext(&m->id));
	json_object_set_new(o, "created", jtime(m->created));
	json_object_set_new(o, "size", json_integer(m->size));
	json_object_set_new(o, "sender", jtext(&m->sender));
	json_object_set_new(o, "client_addr", jtext(&m->client_addr));
	json_object_set_new(o, "client_helo", jtext(&m->client_helo));
	json_object_set_new(o, "auth_user", jtext(&m->auth_user));
	json_object_set_new(o, "tenant", jtext(&m->tenant));
	if (m->scan_action.len) {
		json_t *scan = json_object();
		json_object_set_new(scan, "action", jtext(&m->scan_action));
		json_object_set_new(scan, "score", json_real(m->scan_score.data ? atof(m->scan_score.data) : 0.0));
		json_object_set_new(scan, "symbols", jtext(&m->scan_symbols));
		json_object_set_new(o, "scan", scan);
	}
	json_object_set_new(o, "smtputf8", json_boolean(m->smtputf8));
	json_object_set_new(o, "body_8bit", json_boolean(m->body_8bit));
	json_object_set_new(o, "next_attempt", jtime(m->next_attempt));
	json_object_set_new(o, "waiting", waiting_json(m, live));
	for (size_t i = 0; i < m->nrcpts; i++)
		json_array_append_new(rcpts, show_json_rcpt(&m->rcpts[i], live));
	for (size_t i = 0; i < m->nattempts; i++)
		json_array_append_new(atts, show_json_attempt(&m->attempts[i]));
	json_object_set_new(o, "recipients", rcpts);
	json_object_set_new(o, "attempts", atts);
	json_object_set_new(o, "headers", m->headers.data ? jtext(&m->headers) : json_string(""));
	return o;
}

static int json_out(json_t *root, FILE *out, char *err, size_t errlen)
{
	int rc = json_dumpf(root, out, JSON_INDENT(2));
	json_decref(root);
	if (rc != 0 || fputc('\n', out) == EOF || fflush(out) != 0) {
		set_error(err, errlen, "write error");
		return -1;
	}
	return 0;
}

/* --- entry points -------------------------------------------------------- */

int queue_render_list(const struct spool_admin_queue *q, int json, FILE *out, char *err, size_t errlen)
{
	return queue_render_list_live(q, json, NULL, out, err, errlen);
}

int queue_render_list_live(const struct spool_admin_queue *q, int json, const struct queue_live_set *live, FILE *out,
			   char *err, size_t errlen)
{
	if (json) {
		json_t *arr = json_array();
		for (size_t i = 0; i < q->n; i++)
			json_array_append_new(arr, list_json_msg(&q->msgs[i], live));
		return json_out(arr, out, err, errlen);
	}
	list_text(q, live, out);
	return text_done(out, err, errlen);
}

int queue_render_show(const struct spool_admin_msg *m, int json, FILE *out, char *err, size_t errlen)
{
	return queue_render_show_live(m, json, NULL, out, err, errlen);
}

int queue_render_show_live(const struct spool_admin_msg *m, int json, const struct queue_live_set *live, FILE *out,
			   char *err, size_t errlen)
{
	if (json)
		return json_out(show_json(m, live), out, err, errlen);
	show_text(m, live, out);
	return text_done(out, err, errlen);
}

int queue_print_list(const char *dir, int json, FILE *out, char *err, size_t errlen)
{
	return queue_print_list_live(dir, json, NULL, out, err, errlen);
}

int queue_print_list_live(const char *dir, int json, const struct queue_live_set *live, FILE *out, char *err,
			  size_t errlen)
{
	struct spool_admin_queue q;
	int rc = spool_admin_list(dir, &q, err, errlen);
	if (rc == 0)
		rc = queue_render_list_live(&q, json, live, out, err, errlen);
	spool_admin_queue_free(&q);
	return rc;
}

int queue_print_show(const char *dir, const char *id, int json, FILE *out, char *err, size_t errlen)
{
	return queue_print_show_live(dir, id, json, NULL, out, err, errlen);
}

int queue_print_show_live(const char *dir, const char *id, int json, const struct queue_live_set *live, FILE *out,
			  char *err, size_t errlen)
{
	struct spool_admin_msg m;
	int rc = spool_admin_show(dir, id, &m, err, errlen);
	if (rc == 0)
		rc = queue_render_show_live(&m, json, live, out, err, errlen);
	spool_admin_msg_free(&m);
	return rc;
}
