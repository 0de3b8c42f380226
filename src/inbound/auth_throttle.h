/*
 * auth_throttle: failed AUTH per client address, as Postfix's anvil counts
 * them, so a password cannot be guessed at line speed.
 *
 * Contract: auth_throttle_fail() records one failed AUTH from addr at now
 * and returns how long to wait before answering it: 250 ms after the first
 * failure, doubling with each further one, at most 8 s.  A failure is
 * forgotten AUTH_THROTTLE_WINDOW seconds after the address's last one
 * (auth_throttle_failures() counts what is remembered).  A successful AUTH
 * clears the address.  The table holds at most AUTH_THROTTLE_MAX addresses;
 * when full, the one whose last failure is oldest is forgotten.  Every
 * function may be called from any thread (the table has its own lock).
 */
#ifndef OUTPOST_AUTH_THROTTLE_H
#define OUTPOST_AUTH_THROTTLE_H
#include <time.h>

#define AUTH_THROTTLE_WINDOW 3600
#define AUTH_THROTTLE_MAX 4096

struct auth_throttle;

struct auth_throttle *auth_throttle_new(void);
void auth_throttle_free(struct auth_throttle *t);
unsigned auth_throttle_failures(const struct auth_throttle *t, const char *addr, time_t now);
/* The delay in milliseconds before the failure's reply. */
unsigned auth_throttle_fail(struct auth_throttle *t, const char *addr, time_t now);
void auth_throttle_success(struct auth_throttle *t, const char *addr);

#endif
