/*
 * monitor: the doctor's checks that can change without the operator, re-run
 * by the daemon on its event loop every monitor.interval: each source
 * address against the IP blocklists, the sending domains against the
 * domain lists, PTR/FCrDNS, and the published SPF, DKIM and DMARC records
 * against the config.  The sending domains are the DKIM domains of the
 * config (the hostname's parent when there are none).
 *
 * Contract:
 * - monitor_new() returns NULL when monitor.interval is 0.  The first run
 *   starts a second after it; a run's lookups are spread over the interval
 *   (one every interval / the last run's query count), and each IP list
 *   is asked at most monitor.budget times per run.  Every check first
 *   tests the resolver as the doctor does: what could not be tested keeps
 *   its last state (it is not a change).
 * - Each change of a finding (new, other status, gone) is logged as one
 *   line: event=monitor check= subject= status= previous= evidence=.
 * - A source address listed on a list of monitor.act_on (ZEN's PBL alone
 *   only with pbl = "act") is reported through on_source(arg, ip, 1, why)
 *   at once; when no acting list lists it any more, on_source(arg, ip, 0,
 *   why).  The daemon hands that to the scheduler (route health).
 * - The state is written to SPOOL/monitor.json after each run (and read
 *   back at start, so a listing survives a restart); `outpost monitor`
 *   prints it.
 * - monitor_reload() takes a new config: the listings and items of source
 *   addresses and sending domains it no longer has are dropped at once (a
 *   source the monitor took out of use is given back through on_source),
 *   those that stay keep their state; act_on and pbl are applied to the
 *   current listings.  When the sources, domains, interval or budget
 *   changed, the run in flight is abandoned and a new one starts a second
 *   later.  Interval 0 ends the monitor (its sources given back, the state
 *   file removed) and returns NULL; m NULL starts one (monitor_new).
 */
#ifndef OUTPOST_MONITOR_H
#define OUTPOST_MONITOR_H

struct config;
struct event_base;
struct resolver;
struct monitor;

typedef void monitor_source_cb(void *arg, const char *ip, int listed, const char *why);

struct monitor *monitor_new(struct event_base *base, const struct config *cf, struct resolver *res,
			    monitor_source_cb *on_source, void *arg);
void monitor_free(struct monitor *m);
struct monitor *monitor_reload(struct monitor *m, struct event_base *base, const struct config *cf,
			       struct resolver *res, monitor_source_cb *on_source, void *arg);

/* SPOOL/monitor.json for a config's spool directory; the caller frees it. */
char *monitor_state_path(const struct config *cf);

#endif
