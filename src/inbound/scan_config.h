/*
 * scan_config: the outbound scanner of outpost.conf and its parser, a
 * section of core/config (config_parse.h):
 *
 *     scanner = { type = "rspamd"; url = "http://127.0.0.1:11333"; timeout = "5s";
 *                 on_error = "accept"; };
 *
 * Contract: part of struct config, read-only after load.  type is
 * "rspamd"; url is http:// with an IP address (no DNS lookup on the event
 * loop) and a port (default 11333), no path (/checkv2 is used); timeout is
 * 1 s to 5 min (default 5s); on_error ("accept", the default, or
 * "tempfail") says what happens to a message the scanner could not judge.
 * Errors are "FILE:LINE: reason".
 */
#ifndef OUTPOST_SCAN_CONFIG_H
#define OUTPOST_SCAN_CONFIG_H

enum scan_on_error { SCAN_ON_ERROR_ACCEPT, SCAN_ON_ERROR_TEMPFAIL };

struct scanner_conf {
	int set;
	char *url;                   /* as written */
	char host[64];               /* an IP address */
	unsigned short port;
	unsigned timeout;            /* seconds */
	enum scan_on_error on_error;
};

struct config_section;   /* core/config_parse.h */
extern const struct config_section scan_config_section;

#endif
