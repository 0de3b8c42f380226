/*
 * dkim_config: the dkim keys and the canary of outpost.conf and their
 * parser, a section of core/config (config_parse.h).
 * Contract: the types are part of struct config (core/config.h), read-only
 * after load.  Key files are named here, read by the signer (dkim.h),
 * never by config.  A selector listed twice for a domain is an error; a
 * change of dkim or of the canary address needs a restart.  Errors are
 * "FILE:LINE: reason".
 */
#ifndef OUTPOST_DKIM_CONFIG_H
#define OUTPOST_DKIM_CONFIG_H

/* A DKIM signing key: mail whose From: domain is domain (or a subdomain,
 * when no closer entry exists) is signed with it.  key is a PEM file
 * (RSA or Ed25519), read by the signer, never by config. */
struct dkim_conf {
	char *domain;
	char *selector;
	char *key;
	int all;                     /* sign every message with it too (relay/tenant domain) */
	int line;
	char *tenant;                /* only this tenant's mail (inbound/tenant_config.h), or NULL */
};

/* canary: probes sent through each relay route to address, verified on arrival. */
struct canary_conf {
	char *address;               /* NULL: no canary */
	unsigned interval;           /* seconds between rounds */
};

struct config_section;   /* core/config_parse.h */
extern const struct config_section dkim_config_section;

#endif
