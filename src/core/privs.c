/* privs: the run user, the switch to it, and the private files; see privs.h. */
#include "privs.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

static void owner_name(uid_t uid, char *out, size_t outlen)
{
	struct passwd *pw = getpwuid(uid);
	if (pw)
		snprintf(out, outlen, "%s", pw->pw_name);
	else
		snprintf(out, outlen, "uid %ld", (long)uid);
}

int privs_resolve(const struct config *cf, struct run_identity *id, char *err, size_t errlen)
{
	struct passwd *pw;
	memset(id, 0, sizeof(*id));
	id->uid = geteuid();
	id->gid = getegid();
	owner_name(id->uid, id->name, sizeof(id->name));
	if (id->uid != 0 || cf->allow_root)
		return 0;   /* a user already, or root by request */
	if ((pw = getpwnam(cf->user)) == NULL)
		return set_error(err, errlen, "started as root and user \"%s\" does not exist: create it "
				 "(adduser --system --group %s), set user = \"NAME\", or allow_root = true",
				 cf->user, cf->user);
	if (pw->pw_uid == 0)
		return set_error(err, errlen, "user \"%s\" is root: name an unprivileged user, or set "
				 "allow_root = true", cf->user);
	id->uid = pw->pw_uid;
	id->gid = pw->pw_gid;
	id->drop = 1;
	if (snprintf(id->name, sizeof(id->name), "%s", pw->pw_name) >= (int)sizeof(id->name))
		return set_error(err, errlen, "user name \"%s\" is too long", pw->pw_name);
	return 0;
}

int privs_drop(const struct run_identity *id, char *err, size_t errlen)
{
	if (!id->drop)
		return 0;
	if (setgroups(1, &id->gid) < 0 || setgid(id->gid) < 0 || setuid(id->uid) < 0)
		return set_error(err, errlen, "cannot switch to user %s: %s", id->name, strerror(errno));
	if (setuid(0) == 0 || geteuid() == 0)
		return set_error(err, errlen, "switched to user %s but root can be regained", id->name);
	return 0;
}

int privs_check_private(const char *path, uid_t uid, char *err, size_t errlen)
{
	struct stat st;
	char owner[64], want[64];
	if (stat(path, &st) < 0)
		return set_error(err, errlen, "%s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return set_error(err, errlen, "%s: not a regular file", path);
	if (st.st_uid != uid) {
		owner_name(st.st_uid, owner, sizeof(owner));
		owner_name(uid, want, sizeof(want));
		return set_error(err, errlen, "%s: owned by %s, but outpostd runs as %s: chown %s %s", path,
				 owner, want, want, path);
	}
	if (st.st_mode & 077)
		return set_error(err, errlen, "%s: mode %04o lets group or others read it: chmod 600 %s", path,
				 (unsigned)(st.st_mode & 07777), path);
	return 0;
}

static int check_one(const char *what, const char *path, uid_t uid, struct buf *errors)
{
	char err[768];
	if (privs_check_private(path, uid, err, sizeof(err)) == 0)
		return 0;
	buf_printf(errors, "%s %s\n", what, err);
	return 1;
}

/* The TLS key is read before the switch: root may own it, no one else read it. */
static int check_tls_key(const char *path, uid_t uid, struct buf *errors)
{
	struct stat st;
	if (stat(path, &st) == 0 && st.st_uid == 0)
		uid = 0;
	return check_one("tls key", path, uid, errors);
}

int privs_check_files(const struct config *cf, uid_t uid, struct buf *errors)
{
	int n = 0;
	if (cf->tls_key)
		n += check_tls_key(cf->tls_key, uid, errors);
	if (cf->users)
		n += check_one("users file", cf->users, uid, errors);
	for (size_t i = 0; i < cf->ndkim; i++)
		n += check_one("dkim key", cf->dkim[i].key, uid, errors);
	for (size_t i = 0; i < cf->nroutes; i++)
		if (cf->routes[i].auth_file)
			n += check_one("relay credentials", cf->routes[i].auth_file, uid, errors);
	for (size_t i = 0; i < cf->placement.nseeds; i++)
		n += check_one("placement password_file", cf->placement.seeds[i].password_file, uid, errors);
	return n;
}
