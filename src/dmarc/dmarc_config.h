/*
 * dmarc_config: the dmarc setting of outpost.conf, a section of core/config.
 *
 *     dmarc = { rua = "dmarc-reports@example.com"; threshold = 90; };
 *
 * Contract: rua (optional) is the address receivers send aggregate reports
 * to (the domain's DMARC record names it): the daemon accepts mail to it
 * as a local mailbox and stores the reports it carries.  threshold is the
 * DMARC pass rate, in percent, under which a route is a finding of the
 * doctor and the monitor (default 90).  A change of rua needs a restart.
 */
#ifndef OUTPOST_DMARC_CONFIG_H
#define OUTPOST_DMARC_CONFIG_H

struct dmarc_conf {
	char *rua;                   /* NULL: no report mailbox */
	unsigned threshold;          /* percent */
};

struct config_section;
extern const struct config_section dmarc_config_section;

#endif
