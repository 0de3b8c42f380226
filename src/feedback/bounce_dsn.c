/*
 * bounce_dsn: the field blocks of a message/delivery-status (RFC 3464)
 * and of a message/feedback-report (RFC 5965).  Both are header-like
 * lines (folded, "Name: value"), grouped by empty lines; the walker in
 * field_next() accepts any bytes and skips lines that are not fields.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/xmalloc.h"
#include "feedback/bounce_int.h"

void str_lower(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

struct raw_rcpt *raw_add(struct raw_list *l, const char *addr)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 8;
		l->r = xreallocarray(l->r, l->cap, sizeof(*l->r));
	}
	struct raw_rcpt *r = &l->r[l->n++];
	memset(r, 0, sizeof(*r));
	snprintf(r->addr, sizeof(r->addr), "%s", addr);
	return r;
}

struct raw_rcpt *raw_find(struct raw_list *l, const char *addr)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcasecmp(l->r[i].addr, addr) == 0)
			return &l->r[i];
	return NULL;
}

void raw_free(struct raw_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->r[i].diag);
		free(l->r[i].words);
	}
	free(l->r);
	memset(l, 0, sizeof(*l));
}

static int local_char(int c)
{
	return isalnum(c) || (c != 0 && strchr("._%+-=!#$&'*/?^`{|}~", c) != NULL) || c >= 0x80;
}

static int domain_char(int c)
{
	return isalnum(c) || c == '.' || c == '-' || c >= 0x80;
}

int addr_at(const char *s, size_t len, size_t at, char *out, size_t outlen, size_t *startp, size_t *endp)
{
	size_t start = at, end = at + 1;
	while (start > 0 && local_char((unsigned char)s[start - 1]))
		start--;
	while (start < at && (s[start] == '.' || s[start] == '/' || s[start] == '=' || s[start] == '\''))
		start++;   /* "...='user@x" in texts */
	while (end < len && domain_char((unsigned char)s[end]))
		end++;
	while (end > at + 1 && (s[end - 1] == '.' || s[end - 1] == '-'))
		end--;
	if (start == at || end == at + 1 || memchr(s + at + 1, '.', end - at - 1) == NULL)
		return 0;
	if (end - start >= outlen)
		return 0;
	memcpy(out, s + start, end - start);
	out[end - start] = '\0';
	str_lower(out + (at - start));
	if (startp)
		*startp = start;
	if (endp)
		*endp = end;
	return 1;
}

int addr_first(const char *value, char *out, size_t outlen)
{
	size_t len = strlen(value);
	for (size_t i = 0; i < len; i++)
		if (value[i] == '@' && addr_at(value, len, i, out, outlen, NULL, NULL))
			return 1;
	out[0] = '\0';
	return 0;
}

/* One unfolded field at *pos: name and value copied; returns 1 for a
 * field, 2 for an empty line (a group boundary), 0 at the end.  Lines
 * that are not fields are skipped. */
static int field_next(const char *s, size_t len, size_t *pos, char *name, size_t nlen, char **value)
{
	while (*pos < len) {
		size_t p = *pos;
		const char *nl = memchr(s + p, '\n', len - p);
		size_t end = nl ? (size_t)(nl - s) + 1 : len;
		*pos = end;
		size_t k = p;
		while (k < end && (s[k] == ' ' || s[k] == '\t'))
			k++;
		if (k >= end || s[k] == '\n')
			return 2;
		if (k != p)
			continue;   /* a stray continuation */
		while (k < end && s[k] != ':' && s[k] != ' ' && s[k] != '\n')
			k++;
		if (k >= end || s[k] != ':' || k == p || k - p >= nlen)
			continue;
		memcpy(name, s + p, k - p);
		name[k - p] = '\0';
		size_t vstart = k + 1, vend = end;
		while (vend < len && (s[vend] == ' ' || s[vend] == '\t')) {   /* folded lines */
			const char *n2 = memchr(s + vend, '\n', len - vend);
			vend = n2 ? (size_t)(n2 - s) + 1 : len;
		}
		*pos = vend;
		char *v = xmalloc(vend - vstart + 1);
		size_t o = 0;
		int sp = 1;
		for (size_t i = vstart; i < vend; i++) {
			int ws = s[i] == ' ' || s[i] == '\t' || s[i] == '\n';
			if (ws && sp)
				continue;
			sp = ws;
			v[o++] = ws ? ' ' : s[i];
		}
		while (o > 0 && v[o - 1] == ' ')
			o--;
		v[o] = '\0';
		*value = v;
		return 1;
	}
	return 0;
}

/* "smtp; 550 ..." -> "550 ..." (the diagnostic type dropped). */
static const char *after_type(const char *v)
{
	const char *semi = strchr(v, ';');
	if (semi && (size_t)(semi - v) < 16 && strchr(v, ' ') > semi)
		v = semi + 1;
	else if (semi && (size_t)(semi - v) < 16 && strchr(v, ' ') == NULL)
		v = semi + 1;
	else if (semi && (size_t)(semi - v) < 16 && strncasecmp(v, "smtp", 4) == 0)
		v = semi + 1;
	while (*v == ' ')
		v++;
	return v;
}

/* The fields of one recipient's group, in whatever order they come. */
struct dsn_group {
	char final[BOUNCE_ADDR_MAX], original[BOUNCE_ADDR_MAX];
	char action[16], status[16];
	char rhost[128];
	char lhost[128];       /* Reporting-MTA: one for the whole report */
	char *diag;
};

static void group_emit(struct raw_list *out, struct dsn_group *g)
{
	const char *addr = g->final[0] ? g->final : g->original;
	if (addr[0]) {
		struct raw_rcpt *r = raw_add(out, addr);
		snprintf(r->action, sizeof(r->action), "%s", g->action);
		snprintf(r->status, sizeof(r->status), "%s", g->status);
		snprintf(r->rhost, sizeof(r->rhost), "%s", g->rhost);
		snprintf(r->lhost, sizeof(r->lhost), "%s", g->lhost);
		r->diag = g->diag;
		g->diag = NULL;
	}
	free(g->diag);
	char lhost[sizeof(g->lhost)];
	memcpy(lhost, g->lhost, sizeof(lhost));
	memset(g, 0, sizeof(*g));
	memcpy(g->lhost, lhost, sizeof(lhost));
}

static void copy_status(const char *value, char *out, size_t outlen)
{
	size_t i = 0;
	for (; value[i] && i + 1 < outlen && (isdigit((unsigned char)value[i]) || value[i] == '.'); i++)
		out[i] = value[i];
	out[i] = '\0';
}

static void dsn_field(struct raw_list *out, struct dsn_group *g, const char *name, const char *value,
		      char *queue_id, size_t qlen)
{
	char addr[BOUNCE_ADDR_MAX];
	if (strcasecmp(name, "Final-Recipient") == 0 && addr_first(value, addr, sizeof(addr))) {
		if (g->final[0])     /* a new recipient without an empty line before it */
			group_emit(out, g);
		snprintf(g->final, sizeof(g->final), "%s", addr);
	} else if (strcasecmp(name, "Original-Recipient") == 0 && addr_first(value, addr, sizeof(addr))) {
		if (g->original[0])
			group_emit(out, g);
		snprintf(g->original, sizeof(g->original), "%s", addr);
	} else if (strcasecmp(name, "X-Postfix-Queue-ID") == 0 || strcasecmp(name, "X-Outpost-Queue-ID") == 0) {
		snprintf(queue_id, qlen, "%s", value);
	} else if (strcasecmp(name, "Action") == 0) {
		snprintf(g->action, sizeof(g->action), "%s", value);
		str_lower(g->action);
	} else if (strcasecmp(name, "Status") == 0) {
		copy_status(value, g->status, sizeof(g->status));
	} else if (strcasecmp(name, "Remote-MTA") == 0 || strcasecmp(name, "Reporting-MTA") == 0) {
		/* "dns; mx.example.net [192.0.2.1]": the host name only */
		char *host = name[2] == 'm' || name[2] == 'M' ? g->rhost : g->lhost;
		const char *v = after_type(value);
		snprintf(host, sizeof(g->rhost), "%.*s", (int)strcspn(v, " []"), v);
		str_lower(host);
	} else if (strcasecmp(name, "Diagnostic-Code") == 0) {
		free(g->diag);
		g->diag = xstrdup(after_type(value));
	}
}

void dsn_fields_parse(const char *body, size_t len, struct raw_list *out, char *queue_id, size_t qlen)
{
	struct dsn_group g = { 0 };
	size_t pos = 0;
	char name[64];
	char *value = NULL;
	int k;
	while ((k = field_next(body, len, &pos, name, sizeof(name), &value)) != 0) {
		if (k == 2) {
			if (g.final[0] || g.original[0])
				group_emit(out, &g);
			continue;
		}
		dsn_field(out, &g, name, value, queue_id, qlen);
		free(value);
	}
	group_emit(out, &g);
}

void arf_fields_parse(const char *body, size_t len, struct raw_list *out, char *type, size_t tlen,
		      char *mail_from, size_t mflen)
{
	size_t pos = 0;
	char name[64], addr[BOUNCE_ADDR_MAX];
	char *value = NULL;
	int k;
	while ((k = field_next(body, len, &pos, name, sizeof(name), &value)) != 0) {
		if (k == 2)
			continue;
		if (strcasecmp(name, "Feedback-Type") == 0) {
			snprintf(type, tlen, "%s", value);
			str_lower(type);
		} else if (strcasecmp(name, "Original-Mail-From") == 0) {
			addr_first(value, mail_from, mflen);
		} else if ((strcasecmp(name, "Original-Rcpt-To") == 0 || strcasecmp(name, "Removal-Recipient") == 0) &&
			   addr_first(value, addr, sizeof(addr)) && raw_find(out, addr) == NULL) {
			raw_add(out, addr);
		}
		free(value);
	}
}
