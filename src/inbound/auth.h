/*
 * auth: the users file and the SASL PLAIN/LOGIN decoding (RFC 4954, 4616).
 *
 * Users file, one user per line ("#" starts a comment):
 *     name:crypt-hash:domain[,domain...]
 * the hash as mkpasswd(1) makes it (yescrypt "$y$" or SHA-512 "$6$"), the
 * domains those the user may send as ("*" for any).
 *
 * Contract: users_load() returns the table or NULL with "FILE:LINE:
 * reason" in err; it refuses a file others can read.  users_verify() is
 * CPU-heavy (crypt) and thread-safe: call it off the event loop.  The
 * table is reference-counted (SIGHUP loads a new one while sessions and
 * AUTH jobs still use the old): users_load() returns one reference,
 * users_ref() adds one, users_free() drops one (from any thread) and
 * frees the table with the last.
 * sasl_plain_split() takes the untrusted decoded response (base64 is
 * core/base64.h) and never reads or writes out of bounds.
 */
#ifndef OUTPOST_AUTH_H
#define OUTPOST_AUTH_H
#include <stddef.h>

struct users;
struct user;

struct users *users_load(const char *file, char *err, size_t errlen);
struct users *users_ref(struct users *u);
void users_free(struct users *u);
const struct user *users_find(const struct users *u, const char *name);
/* 1 when password matches the user's hash; constant work for unknown users. */
int users_verify(const struct users *u, const char *name, const char *password);
/* 1 when user may send mail as domain (case-insensitive). */
int user_owns_domain(const struct user *user, const char *domain);
const char *user_name(const struct user *user);

/* Splits a decoded PLAIN message authzid\0authcid\0passwd.  The
 * authorisation id must be empty or equal to authcid.  Returns 0 or -1. */
int sasl_plain_split(const char *msg, size_t len, char *user, size_t userlen,
		     char *pass, size_t passlen);

#endif
