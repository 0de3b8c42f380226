/*
 * bounce: one report, understood (contract in bounce.h).  The order of
 * the questions is the policy: a feedback report (message/feedback-report)
 * is a complaint whatever else it holds; a message/delivery-status part
 * makes a DSN; an auto-reply (RFC 3834 Auto-Submitted, X-Autoreply,
 * vacation subjects) that does not look like a delivery report is only
 * that; otherwise the readable text is searched for failed addresses (an
 * NDR).  Each recipient is then classified by classify.h from its status,
 * reply code and words.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "core/xmalloc.h"
#include "feedback/bounce.h"
#include "feedback/bounce_int.h"
#include "feedback/classify.h"
#include "feedback/rhost.h"

const char *bounce_kind_name(enum bounce_kind k)
{
	switch (k) {
	case BOUNCE_DSN: return "dsn";
	case BOUNCE_NDR: return "ndr";
	case BOUNCE_ARF: return "arf";
	case BOUNCE_AUTOREPLY: return "auto-reply";
	default: return "unknown";
	}
}

static int has_part(const struct mime_tree *t, const char *type, int in_message)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->part[i].type, type) == 0 && t->part[i].in_message == in_message)
			return 1;
	return 0;
}

/* The headers of the returned original: the first entity inside a
 * message/rfc822 or text/rfc822-headers. */
static const struct mime_part *original_part(const struct mime_tree *t)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->part[i].in_message && t->part[i].hlen > 0)
			return &t->part[i];
	return NULL;
}

static void copy_message_id(const char *v, char *out, size_t outlen)
{
	const char *lt = strchr(v, '<');
	if (lt)
		v = lt + 1;
	size_t n = strcspn(v, "> ");
	if (n >= outlen)
		n = outlen - 1;
	memcpy(out, v, n);
	out[n] = '\0';
}

/* "Message-ID:" in a text part that quotes the original's headers. */
static void message_id_in_text(const struct mime_tree *t, char *out, size_t outlen)
{
	for (size_t i = 0; i < t->n && out[0] == '\0'; i++) {
		const struct mime_part *p = &t->part[i];
		if (p->body == NULL || strncmp(p->type, "text/", 5) != 0)
			continue;
		for (const char *s = p->body; s && *s; s = strchr(s, '\n'), s = s ? s + 1 : NULL) {
			const char *l = s;
			while (*l == ' ' || *l == '\t' || *l == '>')
				l++;
			if (strncasecmp(l, "Message-ID:", 11) == 0) {
				char v[512];
				size_t n = strcspn(l + 11, "\n");
				snprintf(v, sizeof(v), "%.*s", (int)(n < sizeof(v) - 1 ? n : sizeof(v) - 1), l + 11);
				copy_message_id(v, out, outlen);
				break;
			}
		}
	}
}

/* "To:" in a text part that quotes the original's headers. */
static void message_to_in_text(const struct mime_tree *t, struct raw_list *raw, const char *text)
{
	for (size_t i = 0; i < t->n && raw->n == 0; i++) {
		const struct mime_part *p = &t->part[i];
		if (p->body == NULL || strncmp(p->type, "text/", 5) != 0)
			continue;
		for (const char *s = p->body; s && *s; s = strchr(s, '\n'), s = s ? s + 1 : NULL) {
			char v[512], addr[BOUNCE_ADDR_MAX];
			if (strncasecmp(s, "To:", 3) != 0)
				continue;
			size_t n = strcspn(s + 3, "\n");
			snprintf(v, sizeof(v), "%.*s", (int)(n < sizeof(v) - 1 ? n : sizeof(v) - 1), s + 3);
			if (addr_first(v, addr, sizeof(addr))) {
				raw_add(raw, addr)->diag = xstrdup(text);
				break;
			}
		}
	}
}

/* The queue id the sending MTA gave: the "id X" of the original's last
 * Received: field (the first hop, where it was queued). */
static void queue_id_from_received(const struct mime_part *o, char *out, size_t outlen)
{
	const char *h = o->headers, *last = NULL;
	for (const char *s = h; s && *s; s = strchr(s, '\n'), s = s ? s + 1 : NULL)
		if (strncasecmp(s, "Received:", 9) == 0)
			last = s;
	if (last == NULL)
		return;
	char v[1024];
	mime_header(last, strlen(last), "Received", v, sizeof(v));
	const char *id = strstr(v, " id ");
	if (id == NULL)
		return;
	id += 4;
	size_t n = strcspn(id, " ;)");
	if (n > 0 && n < outlen) {
		memcpy(out, id, n);
		out[n] = '\0';
	}
}

static void original_info(const struct mime_tree *t, struct bounce_report *r)
{
	const struct mime_part *o = original_part(t);
	char v[1024];
	if (o) {
		if (mime_header(o->headers, o->hlen, "Return-Path", v, sizeof(v)))
			addr_first(v, r->return_path, sizeof(r->return_path));
		if (mime_header(o->headers, o->hlen, "Message-ID", v, sizeof(v)))
			copy_message_id(v, r->message_id, sizeof(r->message_id));
		if (!(mime_header(o->headers, o->hlen, "Return-Path", v, sizeof(v)) &&
		      addr_first(v, r->sender, sizeof(r->sender))) &&
		    mime_header(o->headers, o->hlen, "From", v, sizeof(v)))
			addr_first(v, r->sender, sizeof(r->sender));
		if (r->queue_id[0] == '\0')
			queue_id_from_received(o, r->queue_id, sizeof(r->queue_id));
	}
	if (r->message_id[0] == '\0')
		message_id_in_text(t, r->message_id, sizeof(r->message_id));
}

/* Appends each address of a header field to the NUL-separated list. */
static void exclude_field(struct buf *ex, const char *hdr, size_t hlen, const char *name)
{
	char v[1024];
	if (!mime_header(hdr, hlen, name, v, sizeof(v)))
		return;
	size_t len = strlen(v);
	for (size_t i = 0; i < len; i++) {
		char addr[BOUNCE_ADDR_MAX];
		size_t e;
		if (v[i] == '@' && addr_at(v, len, i, addr, sizeof(addr), NULL, &e)) {
			buf_append(ex, addr, strlen(addr) + 1);
			i = e;
		}
	}
}

static int subject_has(const char *subject, const char *const *words)
{
	char s[512];
	snprintf(s, sizeof(s), "%s", subject);
	str_lower(s);
	for (int i = 0; words[i]; i++)
		if (strstr(s, words[i]))
			return 1;
	return 0;
}

static int looks_like_report(const struct mime_part *top, const char *subject)
{
	static const char *const words[] = { "undeliver", "delivery", "failure", "failed", "returned mail",
		"returned to sender", "not delivered", "non remis", "rejected", "bounce", "nondeliverable",
		"could not send", "error", "warning", NULL };
	char from[512];
	mime_header(top->headers, top->hlen, "From", from, sizeof(from));
	str_lower(from);
	if (strstr(from, "mailer-daemon") || strstr(from, "postmaster") || strstr(from, "mail delivery"))
		return 1;
	return subject_has(subject, words);
}

static int is_auto_reply(const struct mime_part *top, const char *subject)
{
	static const char *const words[] = { "auto:", "automatic reply", "auto-reply", "autoreply",
		"auto reply", "out of office", "out of the office", "vacation", "abwesenheit", "absence",
		"away from", "i am away", "on leave", "autosvar", "automatische antwort", NULL };
	char v[256];
	if (looks_like_report(top, subject))
		return 0;
	if (mime_header(top->headers, top->hlen, "Auto-Submitted", v, sizeof(v)) &&
	    strncasecmp(v, "auto-replied", 12) == 0)
		return 1;
	if (mime_header(top->headers, top->hlen, "X-Autoreply", v, sizeof(v)) ||
	    mime_header(top->headers, top->hlen, "X-Autorespond", v, sizeof(v)) ||
	    mime_header(top->headers, top->hlen, "X-Autoresponder", v, sizeof(v)))
		return 1;
	if (mime_header(top->headers, top->hlen, "Precedence", v, sizeof(v)) && strcasecmp(v, "auto_reply") == 0)
		return 1;
	return subject_has(subject, words);
}

static void auto_reply(const struct mime_part *top, struct raw_list *raw)
{
	char v[1024], addr[BOUNCE_ADDR_MAX];
	if ((mime_header(top->headers, top->hlen, "From", v, sizeof(v)) && addr_first(v, addr, sizeof(addr))) ||
	    (mime_header(top->headers, top->hlen, "Return-Path", v, sizeof(v)) && addr_first(v, addr, sizeof(addr))))
		raw_add(raw, addr);
}

/* A report that names no address (old Sendmail: "Deferred: Connection
 * timed out") is about the original's recipients: its To: field. */
static void original_recipients(const struct mime_tree *t, struct raw_list *raw, const char *text)
{
	const struct mime_part *o = original_part(t);
	char v[1024], addr[BOUNCE_ADDR_MAX];
	if (o && mime_header(o->headers, o->hlen, "To", v, sizeof(v)) && addr_first(v, addr, sizeof(addr))) {
		struct raw_rcpt *r = raw_add(raw, addr);
		r->diag = xstrdup(text);
	} else {
		message_to_in_text(t, raw, text);
	}
}

static void arf(const struct mime_tree *t, struct bounce_report *r, struct raw_list *raw)
{
	char mail_from[BOUNCE_ADDR_MAX] = "";
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->part[i].type, "message/feedback-report") == 0 && t->part[i].body)
			arf_fields_parse(t->part[i].body, t->part[i].blen, raw, r->feedback_type,
					 sizeof(r->feedback_type), mail_from, sizeof(mail_from));
	if (mail_from[0])
		snprintf(r->return_path, sizeof(r->return_path), "%s", mail_from);
	const struct mime_part *o = original_part(t);
	char v[1024];
	if (raw->n == 0 && o && mime_header(o->headers, o->hlen, "To", v, sizeof(v))) {
		size_t len = strlen(v);
		for (size_t i = 0; i < len; i++) {
			char addr[BOUNCE_ADDR_MAX];
			size_t e;
			if (v[i] == '@' && addr_at(v, len, i, addr, sizeof(addr), NULL, &e)) {
				raw_add(raw, addr);
				i = e;
			}
		}
	}
}

static void dsn(const struct mime_tree *t, struct bounce_report *r, struct raw_list *raw, int in_message)
{
	for (size_t i = 0; i < t->n; i++) {
		const struct mime_part *p = &t->part[i];
		if (p->body && p->in_message == in_message &&
		    (strcmp(p->type, "message/delivery-status") == 0 ||
		     strcmp(p->type, "message/global-delivery-status") == 0))
			dsn_fields_parse(p->body, p->blen, raw, r->queue_id, sizeof(r->queue_id));
	}
}

/* Some MTAs put the delivery-status fields in the readable part, or
 * send the report as one text part: fields from the first line that is
 * "Final-Recipient:" or "Reporting-MTA:" on. */
static void dsn_in_text(const struct mime_tree *t, struct bounce_report *r, struct raw_list *raw)
{
	for (size_t i = 0; i < t->n && raw->n == 0; i++) {
		const struct mime_part *p = &t->part[i];
		if (p->in_message || p->body == NULL || strncmp(p->type, "text/", 5) != 0)
			continue;
		const char *at = NULL;
		for (const char *s = p->body; s && *s && at == NULL; s = strchr(s, '\n'), s = s ? s + 1 : NULL)
			if (strncasecmp(s, "Final-Recipient:", 16) == 0 || strncasecmp(s, "Reporting-MTA:", 14) == 0 ||
			    strncasecmp(s, "Original-Recipient:", 19) == 0)
				at = s;
		if (at)
			dsn_fields_parse(at, p->blen - (size_t)(at - p->body), raw, r->queue_id, sizeof(r->queue_id));
	}
}

/* The status: the report's own field, or the code in the reply, as
 * classify_prefer_status() weighs them. */
static void pick_status(const struct raw_rcpt *w, struct bounce_rcpt *o, int reply_code)
{
	char found[16] = "";
	classify_find_status(w->diag, found, sizeof(found));
	const char *s = classify_prefer_status(w->status, found, reply_code);
	if (s[0] != '\0') {
		snprintf(o->status, sizeof(o->status), "%s", s);
		o->status_given = 1;
	}
}

/* A multi-line reply read as one line repeats its code on every line
 * ("550-5.7.1 Messages with multiple 550-5.7.1 addresses in From:"):
 * the repetitions after the first are dropped so the words join up. */
static void join_reply_lines(char *d)
{
	int code = classify_find_reply_code(d);
	if (code == 0)
		return;
	char pat[8];
	snprintf(pat, sizeof(pat), " %d", code);
	char *first = strstr(d, pat + 1);
	for (char *p = first ? strstr(first + 3, pat) : NULL; p; p = strstr(p, pat)) {
		char *q = p + 4;
		if (*q != '-' && *q != ' ') {
			p += 4;
			continue;
		}
		q++;
		char st[16];
		if (isdigit((unsigned char)*q) && q[1] == '.' && classify_find_status(q, st, sizeof(st)) &&
		    strncmp(q, st, strlen(st)) == 0)
			q += strlen(st);
		memmove(p, q, strlen(q) + 1);
	}
}

/* Does a remote reply name the recipient ("550 <bob@x>: ...")?  Then it
 * answered RCPT TO, which is the only command that names one. */
static int names_recipient(const char *diag, const char *addr)
{
	char want[BOUNCE_ADDR_MAX + 2];
	int n = snprintf(want, sizeof(want), "<%s>", addr);
	if (diag && n > 0 && (size_t)n < sizeof(want) && strcasestr(diag, want) != NULL)
		return 1;
	n = snprintf(want, sizeof(want), "(%s)", addr);
	return diag && n > 0 && (size_t)n < sizeof(want) && strcasestr(diag, want) != NULL;
}

/* The remote host an MTA's own words name ("host mx.example.net [..]",
 * "host: smtp-in.example.fr (..)"), lower case, when the report has no
 * Remote-MTA field. */
static void host_in_text(const char *diag, char *out, size_t outlen)
{
	out[0] = '\0';
	for (const char *p = diag ? strcasestr(diag, "host") : NULL; p; p = strcasestr(p + 4, "host")) {
		if (p != diag && isalnum((unsigned char)p[-1]))
			continue;
		const char *h = p + 4;
		if (*h == ':')
			h++;
		if (*h != ' ')
			continue;
		while (*h == ' ')
			h++;
		size_t n = 0;
		while (isalnum((unsigned char)h[n]) || h[n] == '.' || h[n] == '-')
			n++;
		if (n > 3 && n < outlen && memchr(h, '.', n) && !isdigit((unsigned char)h[n - 1])) {
			memcpy(out, h, n);
			out[n] = '\0';
			str_lower(out);
			return;
		}
	}
}

/* What the provider that answered says, when it is one rhost.c knows. */
static const char *provider_reason(const struct raw_rcpt *w, const struct bounce_rcpt *o)
{
	char host[128];
	if (w->rhost[0])
		snprintf(host, sizeof(host), "%s", w->rhost);
	else
		host_in_text(o->diagnostic, host, sizeof(host));
	struct rhost_in in = { o->recipient, host, w->lhost, o->diagnostic, o->status, o->command };
	return rhost_reason(&in);
}

static void finish_rcpt(const struct raw_rcpt *w, enum bounce_kind kind, const char *verdict,
			struct bounce_rcpt *o)
{
	char found[16];
	memset(o, 0, sizeof(*o));
	snprintf(o->recipient, sizeof(o->recipient), "%s", w->addr);
	snprintf(o->action, sizeof(o->action), "%s", w->action);
	snprintf(o->command, sizeof(o->command), "%s", w->command);
	o->diagnostic = xstrdup(w->diag ? w->diag : "");
	join_reply_lines(o->diagnostic);
	o->reply_code = w->reply_code ? w->reply_code : classify_find_reply_code(w->diag);
	pick_status(w, o, o->reply_code);
	if (o->command[0] == '\0' && !classify_find_command(w->diag, o->command, sizeof(o->command)))
		classify_find_command(w->words, o->command, sizeof(o->command));
	/* (a guess that yields to a status code naming another reason: "5.2.1
	 * <bob@x>... User Unknown" is the filter speaking) */
	const char *named = classify_status_reason(o->status);
	if (o->command[0] == '\0' && kind == BOUNCE_DSN && names_recipient(w->diag, w->addr) &&
	    (named[0] == '\0' || strcmp(named, "userunknown") == 0))
		snprintf(o->command, sizeof(o->command), "%s", "RCPT");
	/* an NDR in the reporting MTA's own words, quoting no SMTP reply: its
	 * own verdict on the recipient, as at RCPT time */
	if (o->command[0] == '\0' && kind == BOUNCE_NDR && o->reply_code == 0 && w->status[0] == '\0' &&
	    !classify_find_status(w->diag, found, sizeof(found)))
		snprintf(o->command, sizeof(o->command), "%s", "RCPT");
	if (kind == BOUNCE_ARF) {
		o->reason = "feedback";
	} else if (kind == BOUNCE_AUTOREPLY) {
		o->reason = "vacation";
	} else {
		struct classify_in in = { o->status, o->reply_code, o->diagnostic, o->action, o->command };
		o->reason = verdict ? verdict : provider_reason(w, o);
		if (o->reason == NULL)
			o->reason = classify_reason(&in);
	}
	if (!o->status_given && kind != BOUNCE_ARF && kind != BOUNCE_AUTOREPLY) {
		int temp = o->reply_code / 100 == 4 || strncmp(o->action, "delayed", 7) == 0;
		if (o->reply_code >= 400 && o->reply_code < 600)
			snprintf(o->status, sizeof(o->status), "%d.0.0", o->reply_code / 100);
		else
			classify_pseudo_status(o->reason, temp, o->status, sizeof(o->status));
	}
	o->hard = classify_is_hard(o->reason, o->status, o->reply_code);
	o->scope = classify_scope(o->reason);
}

/* Words of the readable text for recipients the DSN gave no diagnostic. */
static void fill_diagnostics(struct raw_list *raw, const char *text)
{
	struct raw_list words = { 0 };
	ndr_scan(text, NULL, &words);
	for (size_t i = 0; i < raw->n; i++) {
		struct raw_rcpt *w = raw_find(&words, raw->r[i].addr);
		if (w == NULL || w->diag == NULL)
			continue;
		raw->r[i].words = xstrdup(w->diag);
		if (raw->r[i].diag == NULL || raw->r[i].diag[0] == '\0') {
			free(raw->r[i].diag);
			raw->r[i].diag = xstrdup(w->diag);
		}
	}
	raw_free(&words);
}

/* A report with one recipient and no words about it: the whole text. */
static void whole_text_diagnostic(struct raw_list *raw, const char *text)
{
	for (size_t i = 0; i < raw->n; i++) {
		char tmp[16];
		const char *d = raw->r[i].diag;
		size_t dlen = d ? strlen(d) : 0;
		if (dlen > strlen(raw->r[i].addr) + 8 || classify_find_status(d, tmp, sizeof(tmp)))
			continue;
		free(raw->r[i].diag);
		raw->r[i].diag = xstrdup(text);
		for (char *p = raw->r[i].diag; *p; p++)
			if (*p == '\n' || *p == '\t' || *p == '\r')
				*p = ' ';
	}
}

static enum bounce_kind find_recipients(const struct mime_tree *t, struct bounce_report *r, struct raw_list *raw,
					const char *text, const char *exclude)
{
	const struct mime_part *top = &t->part[0];
	char subject[512], v[512];
	mime_header(top->headers, top->hlen, "Subject", v, sizeof(v));
	mime_decode_words(v, subject, sizeof(subject));
	if (has_part(t, "message/feedback-report", 0) || has_part(t, "message/feedback-report", 1)) {
		arf(t, r, raw);
		return BOUNCE_ARF;
	}
	dsn(t, r, raw, 0);
	if (raw->n == 0)
		dsn(t, r, raw, 1);
	if (raw->n == 0)
		dsn_in_text(t, r, raw);
	if (raw->n > 0) {
		fill_diagnostics(raw, text);
		return BOUNCE_DSN;
	}
	if (is_auto_reply(top, subject)) {
		auto_reply(top, raw);
		return BOUNCE_AUTOREPLY;
	}
	char failed[1024];
	if (mime_header(top->headers, top->hlen, "X-Failed-Recipients", failed, sizeof(failed))) {
		struct raw_list words = { 0 };
		ndr_scan(text, exclude, &words);
		for (char *tok = strtok(failed, ", "); tok; tok = strtok(NULL, ", ")) {
			char addr[BOUNCE_ADDR_MAX];
			if (!addr_first(tok, addr, sizeof(addr)) || raw_find(raw, addr))
				continue;
			struct raw_rcpt *w = raw_find(&words, addr), *n = raw_add(raw, addr);
			n->diag = xstrdup(w && w->diag ? w->diag : "");
		}
		raw_free(&words);
	}
	if (raw->n == 0)
		ndr_scan(text, exclude, raw);
	if (raw->n == 0)   /* the report went back to the recipient itself (forwarding) */
		ndr_scan(text, "\0", raw);
	if (raw->n == 0 && looks_like_report(top, subject))
		original_recipients(t, raw, text);
	return raw->n > 0 ? BOUNCE_NDR : BOUNCE_UNKNOWN;
}

/* Google Groups' own report (as sisimai's GoogleGroups module knows it):
 * from Google's mailer-daemon, a "Delivery Status Notification" naming
 * the failed addresses, and a letter saying the group may not exist or
 * the sender may not post, its four "* " reasons before the original
 * message.  The group refused the poster: "rejected". */
static int google_groups_refusal(const struct mime_tree *t, const char *text)
{
	const struct mime_part *top = &t->part[0];
	static const char marker[] = "----- Original message -----";
	int marked = 0;
	for (size_t i = 0; i < t->n; i++)
		if (!t->part[i].in_message && t->part[i].body &&
		    memmem(t->part[i].body, t->part[i].blen, marker, sizeof(marker) - 1))
			marked = 1;
	char v[512];
	if (!mime_header(top->headers, top->hlen, "From", v, sizeof(v)) ||
	    strcasestr(v, "<mailer-daemon@googlemail.com>") == NULL)
		return 0;
	if (!mime_header(top->headers, top->hlen, "Subject", v, sizeof(v)) ||
	    strstr(v, "Delivery Status Notification") == NULL)
		return 0;
	if (!mime_header(top->headers, top->hlen, "X-Failed-Recipients", v, sizeof(v)) ||
	    !mime_header(top->headers, top->hlen, "X-Google-Smtp-Source", v, sizeof(v)))
		return 0;
	if (!marked || text == NULL)
		return 0;   /* the readable text stops before the original message */
	const char *end = text + strlen(text);
	int bullets = 0;
	for (const char *p = text; p && p < end; p = strchr(p, '\n')) {
		if (*p == '\n')
			p++;
		const char *q = *p == ' ' ? p + 1 : p;
		bullets += *q == '*' && (q[1] == ' ' || (q[1] != '\n' && q[1] != '\0'));
		if (*p == '\0')
			break;
	}
	return bullets == 4;
}

/* Phrases that decide the reason only in the reports of one mail system,
 * known by a header it always adds (sisimai's per-MTA "messagesof"). */
static const char *reporter_reason(const struct mime_part *top, const char *diag)
{
	static const struct {
		const char *header, *phrase, *reason;
	} said[] = {
		{ "X-ZohoMail", "Host not reachable", "expired" },   /* Zoho Mail: its retries ran out */
	};
	char v[256];
	for (size_t i = 0; diag && i < sizeof(said) / sizeof(said[0]); i++)
		if (mime_header(top->headers, top->hlen, said[i].header, v, sizeof(v)) && strstr(diag, said[i].phrase))
			return said[i].reason;
	return NULL;
}

void bounce_parse(const char *msg, size_t len, struct bounce_report *r)
{
	struct mime_tree t;
	struct raw_list raw = { 0 };
	struct buf ex = BUF_INIT;
	memset(r, 0, sizeof(*r));
	mime_walk(msg, len, &t);
	const struct mime_part *top = &t.part[0];
	original_info(&t, r);
	static const char *const to_fields[] = { "Delivered-To", "X-Original-To", "To", NULL };
	char v[1024];
	for (int i = 0; to_fields[i] && r->delivered_to[0] == '\0'; i++)
		if (mime_header(top->headers, top->hlen, to_fields[i], v, sizeof(v)))
			addr_first(v, r->delivered_to, sizeof(r->delivered_to));
	exclude_field(&ex, top->headers, top->hlen, "To");
	exclude_field(&ex, top->headers, top->hlen, "From");
	if (r->sender[0])
		buf_append(&ex, r->sender, strlen(r->sender) + 1);
	const struct mime_part *o = original_part(&t);
	if (o)
		exclude_field(&ex, o->headers, o->hlen, "From");
	buf_append(&ex, "\0", 2);
	char *text = ndr_readable_text(&t);
	r->kind = find_recipients(&t, r, &raw, text, ex.data);
	if (r->kind == BOUNCE_NDR)
		whole_text_diagnostic(&raw, text);
	const char *verdict = r->kind == BOUNCE_NDR && google_groups_refusal(&t, text) ? "rejected" : NULL;
	r->rcpt = xcalloc(raw.n ? raw.n : 1, sizeof(*r->rcpt));
	for (size_t i = 0; i < raw.n; i++)
		finish_rcpt(&raw.r[i], r->kind, verdict ? verdict : reporter_reason(top, raw.r[i].diag),
			    &r->rcpt[r->nrcpt++]);
	r->cap = raw.n;
	free(text);
	buf_free(&ex);
	raw_free(&raw);
	mime_tree_free(&t);
}

void bounce_report_free(struct bounce_report *r)
{
	for (size_t i = 0; i < r->nrcpt; i++)
		free(r->rcpt[i].diagnostic);
	free(r->rcpt);
	memset(r, 0, sizeof(*r));
}
