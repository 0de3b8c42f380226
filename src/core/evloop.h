/*
 * evloop: the daemon's main event base, where the operator's requests
 * (the HTTP listener, the control socket) go before the mail work.
 *
 * Contract:
 * - evloop_base_new() makes a base (after evthread_use_pthreads()) with two
 *   priorities: EVLOOP_URGENT and EVLOOP_NORMAL, the default of every
 *   event.  Normal callbacks run at most EVLOOP_BATCH at a time or for
 *   EVLOOP_BATCH_USEC, then the loop polls again, so an urgent event that
 *   became ready meanwhile runs before the rest of a long queue of
 *   delivery work (a thousand failed connections in one turn).
 * - evloop_urgent_begin()/evloop_urgent_end() bracket the making of events
 *   that must be urgent but are made inside libevent (evhttp's listener),
 *   where no priority can be set afterwards.  Only while no event is
 *   active, i.e. before the loop runs: a panic otherwise.
 * - Urgent work must be small and rare (it starves the rest while it
 *   lasts): a request's answer, not the mail.
 */
#ifndef OUTPOST_EVLOOP_H
#define OUTPOST_EVLOOP_H

struct event_base;

enum { EVLOOP_URGENT = 0, EVLOOP_NORMAL = 1, EVLOOP_PRIORITIES = 2 };
#define EVLOOP_BATCH 16
#define EVLOOP_BATCH_USEC 1000

struct event_base *evloop_base_new(void);
void evloop_urgent_begin(struct event_base *base);
void evloop_urgent_end(struct event_base *base);

#endif
