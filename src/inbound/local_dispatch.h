/*
 * local_dispatch: the mailboxes outpost consumes itself instead of
 * queuing (the DKIM canary today; bounce/VERP returns, feedback loops and
 * DMARC reports next).
 *
 * Contract:
 * - local_dispatch_add() registers a handler for an address (LOCAL_EXACT,
 *   compared ignoring ASCII case) or a glob over the whole address
 *   (LOCAL_GLOB, core/glob.h syntax, ignoring ASCII case, e.g.
 *   "bounces+*@mail.example.com").  Mailboxes are tried in the order they
 *   were added; a bad glob returns -1 with the reason.  Registrations
 *   last as long as the table (there is no removal, so a session may keep
 *   the pointer local_dispatch_match() returned).
 * - The SMTP session calls local_dispatch_match() at RCPT time.  A matching
 *   recipient is accepted from any client, also one that may not relay
 *   (that is all a stranger may send to: never an open relay), and is the
 *   only recipient of its transaction (another RCPT gets 452 4.5.3, so
 *   the client sends it in a transaction of its own).
 * - After DATA (the message passed every check a queued message passes)
 *   the session calls local_dispatch_deliver(): the handler gets the
 *   message as received (dot-unstuffed, without the trace fields outpost
 *   adds) and its envelope, on the event loop thread, and writes the one
 *   SMTP reply to send into reply.  It must not block; it copies what it
 *   keeps.  Leaving reply empty means "250 2.0.0 Ok"; a reply that is not
 *   a single line starting 2xx/4xx/5xx becomes 451 4.3.0.  Nothing is
 *   queued for the recipient.  Each delivery is logged
 *   (event=local_delivery qid= mailbox= rcpt= reply=).
 */
#ifndef OUTPOST_LOCAL_DISPATCH_H
#define OUTPOST_LOCAL_DISPATCH_H
#include <stddef.h>

enum local_match { LOCAL_EXACT, LOCAL_GLOB };

/* What a handler is given; every pointer is valid during the call only. */
struct local_message {
	const char *qid;         /* the session's id for this transaction, for logs */
	const char *client;      /* the client's address, or "local" */
	const char *helo;        /* "" when none was given */
	const char *auth_user;   /* NULL: not authenticated */
	const char *sender;      /* "" for the null sender <> */
	const char *rcpt;        /* the recipient that matched, as given */
	const char *data;        /* the message, CRLF lines */
	size_t len;
};

typedef void local_mailbox_fn(void *arg, const struct local_message *m, char *reply, size_t replylen);

struct local_dispatch;
struct local_mailbox;

struct local_dispatch *local_dispatch_new(void);
void local_dispatch_free(struct local_dispatch *ld);
/* name is for the log ("canary", "bounce", ...).  0, or -1 with err. */
int local_dispatch_add(struct local_dispatch *ld, const char *name, const char *pattern,
		       enum local_match how, local_mailbox_fn *fn, void *arg, char *err, size_t errlen);
/* The first mailbox rcpt (local@domain) matches, or NULL. */
const struct local_mailbox *local_dispatch_match(const struct local_dispatch *ld, const char *rcpt);
const char *local_mailbox_name(const struct local_mailbox *mb);
/* Runs the handler and writes the checked reply (no CRLF) into reply. */
void local_dispatch_deliver(const struct local_mailbox *mb, const struct local_message *m, char *reply,
			    size_t replylen);

#endif
