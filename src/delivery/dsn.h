/*
 * dsn: delivery status notifications (RFC 3464, 3461, 6522) that outpost
 * sends to a message's envelope sender.
 * Contract: dsn_build() writes a complete RFC 5322 message (CRLF lines,
 * 7-bit headers) to out: From: MAILER-DAEMON@reporting_mta, To: the
 * original sender, Auto-Submitted: auto-replied, a multipart/report;
 * report-type=delivery-status body with a readable part, a
 * message/delivery-status part (per-message and per-recipient fields) and
 * the original headers as text/rfc822-headers.  The caller sends it from
 * the null sender <>, and never builds one for a message whose sender was
 * null (no bounce loops): dsn_build() returns -1 then.
 */
#ifndef OUTPOST_DSN_H
#define OUTPOST_DSN_H
#include <stddef.h>
#include <time.h>

#include "core/buf.h"

enum dsn_action { DSN_FAILED, DSN_DELAYED };

struct dsn_rcpt {
	const char *address;         /* final recipient */
	enum dsn_action action;
	const char *status;          /* "5.1.1" */
	const char *remote_mta;      /* host name or NULL */
	const char *diagnostic;      /* "550 5.1.1 No such user", or a local reason */
	time_t last_attempt;
};

struct dsn_info {
	const char *reporting_mta;   /* our hostname */
	const char *qid;
	const char *sender;          /* the original envelope sender */
	time_t arrival;
	const char *message;         /* the original message (headers are used) */
	size_t message_len;
	const struct dsn_rcpt *rcpts;
	size_t nrcpts;
	time_t now;                  /* Date: and Message-ID (tests pass a fixed time) */
};

int dsn_build(const struct dsn_info *info, struct buf *out);

/* Signs a DSN built by dsn_build() in place (*body, *len: malloc'd,
 * replaced) with the keys for its From: MAILER-DAEMON@hostname (the
 * hostname's domain or its closest parent, plus `all` keys), after making
 * it 7-bit (the original headers it quotes may hold 8-bit octets), so a
 * receiver checking DMARC for the hostname's domain sees it aligned.
 * 1: signed, "domain=D selectors=S" in info; 0: no key for it (or sg
 * NULL); -1: failed, reason in err, the DSN left unsigned. */
struct dkim_signer;
int dsn_sign(const struct dkim_signer *sg, const char *qid, char **body, size_t *len, char *info,
	     size_t infolen, char *err, size_t errlen);

#endif
