/*
 * address: RFC 5321 mailbox and path parsing (section 4.1.2).
 * Contract: address_parse() accepts exactly one Mailbox
 * (Local-part "@" (Domain / address-literal)) in s[0..len), without the
 * angle brackets, and fills *out with the local part as written (quotes
 * kept) and the domain lowercased.  It rejects anything else with a reply
 * code class "553 5.1.x" text, chosen where the fault is found.  It never
 * reads past s[len-1] and never writes past out.
 */
#ifndef OUTPOST_ADDRESS_H
#define OUTPOST_ADDRESS_H
#include <stddef.h>

#define ADDR_LOCAL_MAX 64
#define ADDR_DOMAIN_MAX 255

enum address_flags {
	ADDR_UTF8 = 1,        /* SMTPUTF8 given: UTF-8 allowed in local part and domain */
};

struct address {
	char local[ADDR_LOCAL_MAX + 1];
	char domain[ADDR_DOMAIN_MAX + 1];
	int literal;          /* domain is an address literal [192.0.2.1] */
};

/* Returns NULL on success, else the reason as "5.1.x text" (no code). */
const char *address_parse(const char *s, size_t len, unsigned flags, struct address *out);
/* local@domain into out; -1 when it does not fit. */
int address_format(const struct address *a, char *out, size_t outlen);

#endif
