/*
 * throttle: traffic shaping for delivery: the `limits` of the config
 * (connections, messages per connection, rates), the warm-up of a route's
 * source IPs per receiving provider, and the back-off after a receiver's
 * throttling replies.
 *
 * Contract:
 * - Pure bookkeeping: no I/O, no event loop, no clock of its own.  Every
 *   function that depends on time takes `now`, the wall-clock Unix time in
 *   seconds (fractions allowed), so that tests can simulate days.
 * - A limit entry applies to a key when its selector's value in the key
 *   (domain, mx_host, route, source, or the provider: the destination
 *   class below) matches one of its globs.  Counters live per instance:
 *   per entry and matched value for domain, route, source and provider
 *   entries (each domain its own 10 connections), per entry for mx
 *   entries (all of *.google.com share them).  A missing value (mx_host
 *   NULL) matches no entry of that selector; a relay route has no
 *   provider (its class is "*", the route as a whole).
 * - The destination class (provider) of a key is provider_of() its
 *   mx_host, or of its domain when the host is not known: the one key of
 *   warm-up, back-off, provider limits and route health (issue 19).
 * - Rates: at most N messages in any window of the rate's period (counted
 *   in 60 buckets, so "any window" is exact to 1/60 of the period), and
 *   the shortest-period rate of an entry is spread evenly: one message
 *   every period/N, with a burst of at most two.
 * - throttle_reload() keeps every counter whose entry still selects the
 *   same values (identity: selector, globs and value; not line numbers).
 * - Memory stays bounded: an instance idle for longer than its longest
 *   window is dropped; beyond 100000 instances new ones are not made and
 *   their limits are not enforced (event=throttle_full, logged once).
 * - Strings in a key are only read during the call.
 */
#ifndef OUTPOST_THROTTLE_H
#define OUTPOST_THROTTLE_H

struct buf;
struct config;

struct throttle_key {
	const char *route;       /* route name */
	const char *source;      /* source IP the connection binds to, or NULL */
	const char *domain;      /* recipient domain (NULL for a relay connection) */
	const char *mx_host;     /* MX host connected to; NULL: relay or not yet known */
};

struct throttle;

struct throttle *throttle_new(const struct config *cf);
/* A new config (SIGHUP): counters, back-off and warm-up state are kept. */
void throttle_reload(struct throttle *t, const struct config *cf);
void throttle_free(struct throttle *t);

/* May one more connection open for k?  1 and counted, or 0 (a connections
 * cap is full; nothing counted). */
int throttle_conn_open(struct throttle *t, const struct throttle_key *k, double now);
/* The connection opened with the same key has closed. */
void throttle_conn_close(struct throttle *t, const struct throttle_key *k);

/* May the connection, which has sent `sent` messages, send one more for k
 * now?  0 and counted: the message is committed to the connection now, so
 * the next connection's question already sees it (throttle_release()
 * gives it back when the receiver does not take it); -1 when this
 * connection must close first
 * (messages_per_connection); else the seconds (> 0) until a rate or the
 * back-off allows one (nothing counted).  A message counts once for all
 * its recipients (one transaction). */
double throttle_message(struct throttle *t, const struct throttle_key *k, unsigned sent, double now);

/* Warm-up of k's route: 0 when k's source may still send to k's provider
 * in the current period, else the seconds until the next period raises
 * the cap (spill to the next route of `via` meanwhile).  Counts nothing:
 * throttle_message() counts (and throttle_release() gives back).  Give mx_host when known: the provider of
 * "example.com" hosted at Google is "gmail" only through its MX host. */
double throttle_warmup_full(struct throttle *t, const struct throttle_key *k, double now);

/* A message counted by throttle_message() at time counted_at was not
 * accepted by the receiver (no recipient accepted, or the session failed
 * and the message moves to another host or route): it gives back what it
 * reserved, its warm-up share and its place in every rate of the limits
 * that apply to k (k as it was counted), so that failures use up neither
 * a new address's cap nor a rate: counted when committed to a connection,
 * released on failure.  A share of a period (or a window bucket) that has
 * passed since is not given back to the next one.  The back-off keeps the
 * attempt: the receiver's own pace counts what it saw. */
void throttle_release(struct throttle *t, const struct throttle_key *k, double counted_at, double now);

/* Every reply of a delivery attempt (and local failures, code 0): a reply
 * that reply_blame() calls THROTTLE halves the allowed rate of k's route,
 * source and provider (a relay route: the route as a whole) for a
 * cool-down, after which it recovers by x1.5 per cool-down up to the
 * configured rate (without one: the rate observed before the cut).
 * Replies to mail sent before a cut extend the cool-down but do not cut
 * again; the rate never drops below delivery.backoff.floor. */
void throttle_note_reply(struct throttle *t, const struct throttle_key *k, int code, const char *enh,
			 const char *text, double now);

/* One line per limit instance, back-off and warm-up, key=value, for
 * `outpost routes` and logs; appended to out. */
void throttle_describe(const struct throttle *t, struct buf *out, double now);

#endif
