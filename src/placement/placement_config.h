/*
 * placement_config: the placement setting of outpost.conf (inbox-placement
 * probes) and its parser, a section of core/config (config_parse.h).
 *
 *     placement = { interval = "6h"; wait = "5m"; history = 100;
 *                   seeds = ( { address = "probe@gmail.example";
 *                               imap = "imaps://imap.gmail.example:993";
 *                               user = "probe@gmail.example";
 *                               password_file = "/etc/outpost/probe.pass"; } ); };
 *
 * Contract: absent, there are no probes (interval 0).  interval (default
 * 6h) and wait (default 5m, shorter than interval) are durations of 1 s
 * to 7 days; history (default 100, 1..10000) is how many results are kept
 * per route and seed.  seeds: 1 to 32 mailboxes, each address once; imap
 * is imaps://HOST[:PORT] (TLS from the start) or imap://HOST[:PORT]
 * (STARTTLS required, except to a loopback address, where it is plain);
 * ca_file (optional) replaces the system's CA store; user is required;
 * password_file is required, a regular file of mode 600 or stricter whose
 * first line is the password.  The probes are DKIM-signed, so placement
 * needs a dkim key.  A change needs a restart.  Errors are "FILE:LINE:
 * reason".
 */
#ifndef OUTPOST_PLACEMENT_CONFIG_H
#define OUTPOST_PLACEMENT_CONFIG_H
#include <stddef.h>

#define PLACEMENT_MAX_SEEDS 32

struct placement_seed {
	char *address;          /* where probes go */
	char *imap;             /* imaps://host:port or imap://host:port */
	int tls_from_start;     /* imaps:// */
	int plain_ok;           /* imap:// to a loopback host: no STARTTLS required */
	char *user;
	char *password_file;
	char *password;         /* its first line */
	char *ca_file;          /* NULL: the system's store */
};

struct placement_conf {
	unsigned interval;      /* seconds between rounds; 0: no probes */
	unsigned wait;          /* seconds from sending to looking */
	unsigned history;       /* results kept per route and seed */
	struct placement_seed *seeds;
	size_t nseeds;
};

struct config_section;
extern const struct config_section placement_config_section;

#endif
