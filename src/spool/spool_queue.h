/*
 * spool_queue: what the delivery scheduler asks of the spool.  Like
 * spool_commit(), every call is queued to the storage thread (the loop
 * never touches the disk) and answered by a callback on the loop thread.
 *
 * Contract:
 * - spool_claim_due() returns up to limit messages that have at least one
 *   recipient due (state queued or deferred, next_attempt <= now) and are
 *   not claimed, with those due recipients and the body, and marks them
 *   claimed so that no later claim returns them while they are in flight.
 *   Claims do not survive a restart: spool_open() clears them, so a message
 *   in flight when the daemon died is delivered again (at-least-once).
 * - spool_record() stores one delivery attempt's outcome for some
 *   recipients of a claimed message in one transaction: an attempts row
 *   each, the recipient's new state (delivered, deferred with its
 *   next_attempt, bounced), the message's next_attempt (the earliest of its
 *   pending recipients), the claim released, and, when dsn is not NULL,
 *   the DSN message committed in the same transaction.  When no recipient
 *   is left pending, the message (recipients, attempts, body) is deleted:
 *   a message leaves the spool only after a definite outcome.
 * - spool_next_due() answers the earliest next_attempt of any unclaimed
 *   message with pending recipients (0 when there is none), for the
 *   scheduler's timer.
 */
#ifndef OUTPOST_SPOOL_QUEUE_H
#define OUTPOST_SPOOL_QUEUE_H
#include <stddef.h>
#include <time.h>

#include "core/name_code.h"
#include "spool/spool.h"

enum spool_rcpt_state { SPOOL_RCPT_QUEUED, SPOOL_RCPT_DEFERRED, SPOOL_RCPT_DELIVERED, SPOOL_RCPT_BOUNCED };
/* "queued", "deferred", "delivered", "bounced": the spool's columns and the
 * delivery log's result= */
extern const struct name_code spool_rcpt_state_names[];

struct spool_due_rcpt {
	int position;
	char *address;
	int attempts;                /* attempts made so far */
};

struct spool_due_msg {
	char id[SPOOL_ID_LEN + 1];
	char *sender;                /* "" for <> */
	time_t created;
	int body_8bit, smtputf8;
	int delay_notified;          /* a delay DSN was already sent */
	char *auth_user;             /* the submitting user (tenant), or NULL */
	char *msg_class;             /* "" when none */
	char *route;                 /* forced route, or NULL */
	char *tenant;                /* the tenant it was accepted for, or NULL */
	char *scan_action;           /* the scanner's verdict, or NULL */
	struct spool_due_rcpt *rcpts;
	size_t nrcpts;
	char *body;
	size_t body_len;
};

/* msgs (n of them) belong to the callback, which frees each with spool_due_free. */
typedef void spool_due_cb(void *arg, struct spool_due_msg **msgs, size_t n);
typedef void spool_next_cb(void *arg, time_t next_due);

struct spool_outcome {
	int position;                /* the recipient */
	enum spool_rcpt_state state; /* DEFERRED, DELIVERED or BOUNCED */
	time_t next_attempt;         /* DEFERRED only */
	const char *reply;           /* "250 2.0.0 Ok" or the local reason */
	const char *route;
	const char *host;            /* remote host name, or NULL */
	const char *ip;              /* remote IP, or NULL */
	const char *tls;             /* "TLSv1.3 ... verified" or NULL */
};

void spool_claim_due(struct spool *sp, time_t now, size_t limit, spool_due_cb *cb, void *arg);
void spool_due_free(struct spool_due_msg *m);
/* delay_notified: set the message's flag (a delay DSN is in dsn).  dsn may
 * be NULL; the spool takes ownership of it.  cb gets ok=0 and a reason
 * when the transaction failed (nothing of it was stored; the claim stays
 * until restart). */
void spool_record(struct spool *sp, const char *id, const struct spool_outcome *o, size_t n,
		  int delay_notified, struct spool_msg *dsn, spool_commit_cb *cb, void *arg);
void spool_next_due(struct spool *sp, spool_next_cb *cb, void *arg);

#endif
