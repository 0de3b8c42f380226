/*
 * webhook: outpost's events as signed JSON POSTs to the configured
 * receivers (webhooks = ( { url; events; secret_file; } )), with libcurl's
 * multi interface on the daemon's event loop.
 *
 * Contract:
 * - The queue is the spool's raw events (stats_events, written by the
 *   storage thread in the transactions that commit and record mail) and
 *   one cursor per hook (webhook_cursor: the last event id its receiver
 *   acknowledged with a 2xx).  Events past the least cursor are never
 *   pruned, so nothing is lost across restarts or a receiver outage.  A
 *   new hook starts at the newest event; a hook removed from the config
 *   loses its cursor at the next start.
 * - Per hook one request at a time, in event id order (so in order per
 *   message), on a kept-alive connection when the receiver allows; the
 *   cursor is saved once per batch of up to 100 acknowledged events (and
 *   when a read passes over events the hook does not want), with
 *   synchronous=NORMAL: no fsync per event.  A failure (no connection, a
 *   timeout, any status but 2xx) is retried after 1 s, doubling to 5 min,
 *   forever.  Delivery is at least once: the events acknowledged since
 *   the last save (at most 100) are sent again when outpostd dies (or the
 *   machine loses power) before the next; "id" lets a receiver drop them.
 * - Each POST: Content-Type application/json, body
 *   {"id","event","time","qid","route","recipient","detail"},
 *   X-Outpost-Event, X-Outpost-Event-Id, and
 *   X-Outpost-Signature: t=UNIXTIME,v1=HEX where HEX is the lowercase
 *   HMAC-SHA256 under the hook's secret of "UNIXTIME." followed by the
 *   body's bytes (a receiver recomputes it and may refuse old t).
 * - Spool reads and cursor saves run on a worker thread; the loop only
 *   schedules.  New events are looked for every second.
 */
#ifndef OUTPOST_WEBHOOK_H
#define OUTPOST_WEBHOOK_H
#include <stddef.h>

struct config;
struct event_base;
struct webhook;

/* NULL when the config has no webhooks. */
struct webhook *webhook_new(struct event_base *base, const struct config *cf);
void webhook_free(struct webhook *w);

/* The signature value for body at time t into out (at least 90 bytes):
 * "t=T,v1=HEX" (exposed for the unit test). */
void webhook_sign(const char *secret, long long t, const char *body, size_t len, char *out, size_t outlen);

#endif
