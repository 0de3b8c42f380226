/*
 * provider: the receiving provider a mail host or domain belongs to, the
 * "destination class" that route health, back-off and warm-up count by
 * (Gmail throttles and blocks per provider, not per MX host name).
 *
 * Contract: provider_of() writes a short lowercase name into out: a
 * built-in name for the big mailbox providers ("gmail", "outlook",
 * "yahoo", "icloud", "gmx", ...) when the host or domain is one of theirs,
 * else the registered domain (the last two labels, three under a known
 * two-level public suffix such as co.uk), else an IP address or a
 * single-label name as it is.  A trailing dot and case are ignored.
 * Returns 0, or -1 (out = "") for an empty or too long name.
 *
 * provider_key() names a provider as the config may (`limits` entries
 * with `provider = ...`): a built-in name ("gmail"), or an alias of one
 * ("google" is "gmail", "microsoft" is "outlook", "apple" is "icloud"),
 * case ignored; it returns the built-in name, or NULL for anything else.
 * provider_key_list() writes the names and aliases, for error messages.
 */
#ifndef OUTPOST_PROVIDER_H
#define OUTPOST_PROVIDER_H
#include <stddef.h>

int provider_of(const char *host_or_domain, char *out, size_t outlen);
const char *provider_key(const char *name);
/* "gmail (google), outlook (microsoft), ..."; 0, or -1 when outlen is too short. */
int provider_key_list(char *out, size_t outlen);

#endif
