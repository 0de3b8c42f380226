/*
 * queue_render: how `outpost queue list|show` print what the spool returns
 * (spool_admin.h), as text for people or one JSON document for machines;
 * the spool only queries (as OpenSMTPD's smtpctl renders what the queue
 * process returns).
 * Contract: text is one line per message (list) or a block (show), with
 * control bytes from the spool shown as '?' (newlines and tabs kept in the
 * header block), so nothing stored can drive a terminal; JSON strings are
 * made valid UTF-8 (U+FFFD for bad bytes); times are ISO 8601 UTC.  The
 * render functions return 0, or -1 with "write error" in err.
 * queue_print_list/show() query and render: 0, 1 for an unknown id, -1
 * with the reason in err.
 */
#ifndef OUTPOST_QUEUE_RENDER_H
#define OUTPOST_QUEUE_RENDER_H
#include <stddef.h>
#include <stdio.h>

#include "spool/spool_admin.h"

int queue_render_list(const struct spool_admin_queue *q, int json, FILE *out, char *err, size_t errlen);
int queue_render_show(const struct spool_admin_msg *m, int json, FILE *out, char *err, size_t errlen);

int queue_print_list(const char *dir, int json, FILE *out, char *err, size_t errlen);
int queue_print_show(const char *dir, const char *id, int json, FILE *out, char *err, size_t errlen);

/* The same with what the running daemon holds in memory (obs/queue_why.h):
 * every message says why it waits and until when ("waiting": { reason,
 * until } in JSON, a "waiting:" line in text), and show (and list --json)
 * the receiving provider each recipient counts under, from its domain's
 * MX (provider= in text; "provider", "provider_mx" and, when it is not
 * known, "provider_why" in JSON); live NULL: the spool alone. */
struct queue_live_set;
int queue_render_list_live(const struct spool_admin_queue *q, int json, const struct queue_live_set *live, FILE *out,
			   char *err, size_t errlen);
int queue_render_show_live(const struct spool_admin_msg *m, int json, const struct queue_live_set *live, FILE *out,
			   char *err, size_t errlen);
int queue_print_list_live(const char *dir, int json, const struct queue_live_set *live, FILE *out, char *err,
			  size_t errlen);
int queue_print_show_live(const char *dir, const char *id, int json, const struct queue_live_set *live, FILE *out,
			  char *err, size_t errlen);

#endif
