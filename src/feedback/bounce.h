/*
 * bounce: what a report that came back says, per recipient.
 *
 * Contract: bounce_parse() takes any bytes (a whole message as received,
 * untrusted) and fills a report: its kind (an RFC 3464 DSN, a
 * non-standard NDR of some MTA, an RFC 5965 ARF complaint, an RFC 3834
 * auto-reply, or unknown), the failed recipients in the order the report
 * lists them, each with status, reply code, reason (classify.h), hard/soft,
 * scope and the diagnostic text, and what it says of the original message
 * (Message-ID, queue id, sender).  It never acts on anything and never
 * fails: a message it does not understand is kind "unknown" with no
 * recipients.  Everything is owned by the report (bounce_report_free).
 */
#ifndef OUTPOST_FEEDBACK_BOUNCE_H
#define OUTPOST_FEEDBACK_BOUNCE_H
#include <stddef.h>

enum bounce_kind { BOUNCE_UNKNOWN, BOUNCE_DSN, BOUNCE_NDR, BOUNCE_ARF, BOUNCE_AUTOREPLY };

#define BOUNCE_ADDR_MAX 320

struct bounce_rcpt {
	char recipient[BOUNCE_ADDR_MAX];
	char status[16];        /* "5.1.1"; sisimai's pseudo code ("5.0.911") when the report has none */
	int status_given;       /* 1 when status came from the report itself */
	int reply_code;         /* 550, or 0 when the report has none */
	const char *reason;     /* static, classify.h */
	int hard;
	const char *scope;      /* "recipient", "route", "message", "none" */
	char *diagnostic;       /* one line, never NULL */
	char action[16];        /* "failed", "delayed", "delivered", ... */
	char command[8];        /* the SMTP command that failed, when the report says */
};

struct bounce_report {
	enum bounce_kind kind;
	struct bounce_rcpt *rcpt;
	size_t nrcpt, cap;
	char message_id[512];   /* of the original message, without <> */
	char queue_id[64];      /* the queue id the sending MTA gave the original */
	char sender[BOUNCE_ADDR_MAX];  /* the original's envelope sender or From: address */
	char feedback_type[32]; /* ARF Feedback-Type ("abuse"), else "" */
	char return_path[BOUNCE_ADDR_MAX];   /* the original's Return-Path (or ARF Original-Mail-From) */
	char delivered_to[BOUNCE_ADDR_MAX];  /* the report's Delivered-To, X-Original-To or To */
};

void bounce_parse(const char *msg, size_t len, struct bounce_report *r);
void bounce_report_free(struct bounce_report *r);
/* "dsn", "ndr", "arf", "auto-reply", "unknown". */
const char *bounce_kind_name(enum bounce_kind k);

#endif
