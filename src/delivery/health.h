/*
 * health: the state of each delivery path, as a circuit breaker.
 *
 * A path is a route and a destination class (the receiving provider:
 * "gmail", "outlook", or "*" for what concerns the route as a whole, such
 * as a relay refusing connections or AUTH).  A path is healthy, degraded
 * (failures below the threshold, or a canary found broken signatures: still
 * used), or down (`failures` consecutive path failures: not used).  A down
 * path is offered for one probe delivery after a back-off that doubles
 * with each failed probe up to probe_max; the probe's success makes it
 * healthy again.  A route is usable for a class when neither its "*" path
 * nor its path for the class is down.
 *
 * Contract: pure bookkeeping, no I/O and no event loop; every function
 * takes the time, so tests can simulate hours.  Strings are copied.
 * Recipient-level replies (5.1.1, 5.2.2) are not path failures: the
 * caller decides what is one (reply_blame) and reports only those.
 */
#ifndef OUTPOST_HEALTH_H
#define OUTPOST_HEALTH_H
#include <stddef.h>
#include <time.h>

#include "core/name_code.h"

struct buf;

/* In order of trouble (a route's state is its worst path's). */
enum health_state { HEALTH_HEALTHY, HEALTH_DEGRADED, HEALTH_DOWN };
extern const struct name_code health_state_names[];   /* "healthy", "degraded", "down"; else -1 */

struct health_conf {
	unsigned failures;       /* consecutive path failures that take a path down */
	unsigned probe;          /* seconds before the first probe of a down path */
	unsigned probe_max;      /* the back-off doubles up to this */
};

/* One path as `outpost routes` shows it (and the spool keeps it). */
struct health_row {
	const char *route, *dclass;
	enum health_state state;
	const char *reason;      /* why degraded or down, "" when healthy */
	const char *last_reply;  /* the last reply on this path, "" */
	time_t changed;          /* when the state last changed */
	time_t probe_at;         /* down: when the next probe may go */
	unsigned fails;          /* consecutive path failures */
	unsigned sent_hour, failed_hour;
};

struct health;

struct health *health_new(const struct health_conf *hc);
void health_set_conf(struct health *h, const struct health_conf *hc);
void health_free(struct health *h);

/* 1 when route may take mail for dclass now.  A down path whose probe is
 * due is usable once (*probe is set then; the caller reports the probe's
 * result with health_success or health_failure). */
int health_usable(struct health *h, const char *route, const char *dclass, time_t now, int *probe);
/* A delivery on the path succeeded (any reply that is not a path failure
 * counts: the receiver took the session). */
void health_success(struct health *h, const char *route, const char *dclass, const char *reply, time_t now);
/* A path failure; returns 1 when it took the path down. */
int health_failure(struct health *h, const char *route, const char *dclass, const char *reason,
		   const char *reply, time_t now);
/* Takes the path down at once (a source address newly on a blocklist
 * receivers use): the usual back-off and probe bring it back. */
void health_down(struct health *h, const char *route, const char *dclass, const char *reason, time_t now);
/* The canary's verdict: degraded with reason, or back to healthy. */
void health_canary(struct health *h, const char *route, int ok, const char *reason, time_t now);

/* Calls fn (unless NULL) for every path known; the row lives for the
 * call.  Returns the number of paths. */
size_t health_each(struct health *h, time_t now, void (*fn)(const struct health_row *r, void *arg), void *arg);
/* Restores a path saved before a restart (down paths stay down until their probe). */
void health_restore(struct health *h, const struct health_row *r);
/* 1 when something changed since the last call (then the caller saves). */
int health_dirty(struct health *h);

const char *health_state_name(enum health_state s);

#endif
