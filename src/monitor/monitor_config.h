/*
 * monitor_config: the monitor setting of outpost.conf and its parser, a
 * section of core/config (config_parse.h).
 *
 *     monitor = { interval = "15m"; budget = 100;
 *                 act_on = [ "Spamhaus ZEN", "Barracuda", "SpamCop" ];
 *                 pbl = "report"; };
 *
 * Contract: absent, the monitor is off (interval 0).  interval is a
 * duration of 1 s to 7 days; budget the DNS queries one run may make per
 * IP blocklist (default 100); act_on the IP lists (by the doctor's names)
 * whose listing of a source address takes it out of use, default ZEN,
 * Barracuda and SpamCop; pbl = "act" makes a listing on ZEN's PBL alone
 * act too (default "report": PBL says "this range should not send
 * straight to MX hosts", a routing decision).  A reload applies every
 * change (monitor_reload).
 * Errors are "FILE:LINE: reason".
 */
#ifndef OUTPOST_MONITOR_CONFIG_H
#define OUTPOST_MONITOR_CONFIG_H
#include <stddef.h>

struct monitor_conf {
	unsigned interval;           /* seconds between runs; 0: no monitor */
	unsigned budget;             /* queries per IP list and run */
	char **act_on;               /* list names (NULL-terminated) */
	size_t nact_on;
	int pbl_acts;
};

struct config_section;
extern const struct config_section monitor_config_section;

/* 1 when a listing on list (with pbl_only as the doctor reports it) takes
 * the source out of use under mc. */
int monitor_list_acts(const struct monitor_conf *mc, const char *list, int pbl_only);

#endif
