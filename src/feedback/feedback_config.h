/*
 * feedback_config: the bounces and suppression settings of outpost.conf
 * and their parser, a section of core/config (config_parse.h).
 *
 *     bounces = { domain = "bounces.example.com"; secret_file = "bounce.key";
 *                 report_addresses = [ "fbl@example.com" ]; };
 *     suppression = { on_rcpt = "refuse"; mailboxfull_failures = 3;
 *                     mailboxfull_window = "7d"; soft_expiry = "30d"; };
 *
 * Contract: the types are part of struct config (core/config.h), read-only
 * after load, every default filled in.  bounces.domain needs a
 * secret_file (the HMAC key of the VERP tags, read by the daemon at
 * start, mode 600); a change of bounces needs a restart (the local
 * mailboxes are registered once).  Errors are "FILE:LINE: reason".
 */
#ifndef OUTPOST_FEEDBACK_CONFIG_H
#define OUTPOST_FEEDBACK_CONFIG_H
#include <stddef.h>

struct bounces_conf {
	char *domain;                /* NULL: no VERP return path, no bounce mailbox */
	char *secret_file;
	char **report_addresses;     /* feedback-loop / report mailboxes, NULL-terminated or NULL */
	size_t nreport_addresses;
};

enum suppress_action { SUPPRESS_REFUSE, SUPPRESS_ACCEPT_DSN };

struct suppression_conf {
	enum suppress_action on_rcpt;  /* refuse at RCPT (default), or accept and bounce with a DSN */
	unsigned mailboxfull_failures; /* soft failures that suppress ... */
	unsigned mailboxfull_window;   /* ... within this many seconds */
	unsigned soft_expiry;          /* how long a soft suppression lasts */
};

struct config_section;   /* core/config_parse.h */
extern const struct config_section feedback_config_section;

#endif
