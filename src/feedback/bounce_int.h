/*
 * bounce_int: what the pieces of the bounce parser share (not for other
 * modules).  bounce_dsn.c reads field blocks (message/delivery-status,
 * message/feedback-report), bounce_text.c reads the human-readable words
 * of NDRs, bounce.c puts them together.
 */
#ifndef OUTPOST_FEEDBACK_BOUNCE_INT_H
#define OUTPOST_FEEDBACK_BOUNCE_INT_H
#include <stddef.h>

#include "feedback/bounce.h"
#include "feedback/mime.h"

/* A recipient found in the report before classification. */
struct raw_rcpt {
	char addr[BOUNCE_ADDR_MAX];
	char status[16];
	char action[16];
	char command[8];
	char rhost[128];       /* the DSN's Remote-MTA host, lower case, or "" */
	char lhost[128];       /* the DSN's Reporting-MTA host, lower case, or "" */
	char *diag;          /* owned; may be NULL */
	char *words;         /* owned; the readable text about it (DSN), may be NULL */
	int reply_code;
};

struct raw_list {
	struct raw_rcpt *r;
	size_t n, cap;
};

struct raw_rcpt *raw_add(struct raw_list *l, const char *addr);
struct raw_rcpt *raw_find(struct raw_list *l, const char *addr);
void raw_free(struct raw_list *l);

/* The recipients of message/delivery-status blocks (in order). */
void dsn_fields_parse(const char *body, size_t len, struct raw_list *out, char *queue_id, size_t qlen);
/* ARF: Feedback-Type and the recipients of a message/feedback-report
 * block (Original-Rcpt-To, Removal-Recipient). */
void arf_fields_parse(const char *body, size_t len, struct raw_list *out, char *type, size_t tlen,
		      char *mail_from, size_t mflen);

/* An addr-spec that starts at s[i] ('@' at s[at]): copies the address,
 * lower-casing the domain, to out; 1 when it is one. */
int addr_at(const char *s, size_t len, size_t at, char *out, size_t outlen, size_t *start, size_t *end);
/* The first address in a field value ("rfc822; <a@b>", "Name <a@b>"); 1 when found. */
int addr_first(const char *value, char *out, size_t outlen);

/* The human-readable text of the report (text parts outside the returned
 * message, up to where a copy of the original starts), owned by caller. */
char *ndr_readable_text(const struct mime_tree *t);
/* Recipients named by the readable text, each with the words about it;
 * excluded: postmaster and mailer-daemon, and the addresses in exclude
 * (NUL-separated list, ends with "\0\0"); nothing at all when exclude is NULL. */
void ndr_scan(const char *text, const char *exclude, struct raw_list *out);

/* Lower-case copy helper: s made lower case in place. */
void str_lower(char *s);

#endif
