/*
 * dmarc_route: what to change when a route's mail fails DMARC in the
 * aggregate reports, shared by `outpost dmarc report` and the doctor.
 */
#ifndef OUTPOST_DMARC_ROUTE_H
#define OUTPOST_DMARC_ROUTE_H

struct config;

/* The fix for route (by name) whose reported mail is not all SPF-aligned
 * (spf_short) or not all DKIM-aligned (dkim_short). */
const char *dmarc_route_fix(const struct config *cf, const char *route, int spf_short, int dkim_short);

#endif
