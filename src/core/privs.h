/*
 * privs: who outpostd runs as, and the files only that user may read.
 * Contract: privs_resolve() decides the identity from the config and the
 * identity the process was started with: started as root it is the
 * config's `user` (the switch happens in privs_drop(), after the
 * listeners are bound), or root itself only with `allow_root = true`;
 * started as anyone else it is that user, unchanged.  privs_drop()
 * switches for good (groups, gid, uid) and checks that root cannot be
 * regained.  privs_check_files() checks every private file of the config
 * (users file, DKIM keys, relay credentials): each must exist, be owned
 * by the run user and have no group or other permission bits; the TLS
 * key, read as root before the switch, may belong to root but must have
 * no group or other bits either; it appends one "FILE: reason" line per
 * fault to errors and returns their count.
 */
#ifndef OUTPOST_PRIVS_H
#define OUTPOST_PRIVS_H
#include <stddef.h>
#include <sys/types.h>

#include "buf.h"

struct config;

struct run_identity {
	uid_t uid;
	gid_t gid;
	char name[64];
	int drop;           /* 1: started as root, switch to uid/gid in privs_drop() */
};

int privs_resolve(const struct config *cf, struct run_identity *id, char *err, size_t errlen);
int privs_drop(const struct run_identity *id, char *err, size_t errlen);
int privs_check_files(const struct config *cf, uid_t uid, struct buf *errors);
/* One file: 0 when it is private to uid, else -1 with the reason. */
int privs_check_private(const char *path, uid_t uid, char *err, size_t errlen);

#endif
