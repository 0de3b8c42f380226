/*
 * auth: users file, password check with crypt(3), SASL decoding.
 * The users file is a secret: it must not be readable by group or other.
 */
#include "auth.h"

#include <crypt.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "core/xmalloc.h"

struct user {
	char *name;
	char *hash;
	char **domains;
	size_t ndomains;
};

struct users {
	_Atomic unsigned refs;   /* users_ref() / users_free() */
	struct user *v;
	size_t n;
	char *dummy_hash;        /* verified against for unknown users: equal cost */
};

static void user_clear(struct user *u)
{
	free(u->name);
	free(u->hash);
	for (size_t i = 0; i < u->ndomains; i++)
		free(u->domains[i]);
	free(u->domains);
}

struct users *users_ref(struct users *u)
{
	atomic_fetch_add(&u->refs, 1);
	return u;
}

void users_free(struct users *u)
{
	if (u == NULL || atomic_fetch_sub(&u->refs, 1) > 1)
		return;
	for (size_t i = 0; i < u->n; i++)
		user_clear(&u->v[i]);
	free(u->v);
	free(u->dummy_hash);
	free(u);
}

static int parse_domains(struct user *u, char *list)
{
	char *save = NULL;
	for (char *d = strtok_r(list, ",", &save); d; d = strtok_r(NULL, ",", &save)) {
		while (*d == ' ')
			d++;
		size_t l = strlen(d);
		while (l && d[l - 1] == ' ')
			d[--l] = '\0';
		if (l == 0)
			return -1;
		u->domains = xreallocarray(u->domains, u->ndomains + 1, sizeof(char *));
		u->domains[u->ndomains++] = xstrdup(d);
	}
	return u->ndomains ? 0 : -1;
}

/* One "name:hash:domains" line into u; returns NULL or the reason. */
static const char *parse_user_line(char *line, struct user *u)
{
	char *c1 = strchr(line, ':');
	char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
	if (c2 == NULL)
		return "expected name:hash:domains";
	*c1 = *c2 = '\0';
	if (*line == '\0')
		return "empty user name";
	if (c1[1] != '$')
		return "password must be a crypt(3) hash such as mkpasswd makes ($y$ or $6$)";
	u->name = xstrdup(line);
	u->hash = xstrdup(c1 + 1);
	if (parse_domains(u, c2 + 1) < 0)
		return "expected a comma-separated list of sender domains";
	return NULL;
}

static int users_read(struct users *us, FILE *fp, const char *file, char *err, size_t errlen)
{
	char line[2048];
	int lineno = 0;
	while (fgets(line, sizeof(line), fp) != NULL) {
		lineno++;
		size_t l = strlen(line);
		if (l == sizeof(line) - 1 && line[l - 1] != '\n') {
			snprintf(err, errlen, "%s:%d: line too long", file, lineno);
			return -1;
		}
		while (l && (line[l - 1] == '\n' || line[l - 1] == '\r' || line[l - 1] == ' '))
			line[--l] = '\0';
		if (l == 0 || line[0] == '#')
			continue;
		struct user u = { 0 };
		const char *why = parse_user_line(line, &u);
		if (why == NULL && users_find(us, u.name) != NULL)
			why = "duplicate user";
		if (why != NULL) {
			user_clear(&u);
			snprintf(err, errlen, "%s:%d: %s", file, lineno, why);
			return -1;
		}
		us->v = xreallocarray(us->v, us->n + 1, sizeof(*us->v));
		us->v[us->n++] = u;
	}
	return 0;
}

struct users *users_load(const char *file, char *err, size_t errlen)
{
	struct stat st;
	FILE *fp = fopen(file, "r");
	if (fp == NULL) {
		snprintf(err, errlen, "%s: cannot open: %s", file, strerror(errno));
		return NULL;
	}
	if (fstat(fileno(fp), &st) == 0 && (st.st_mode & 077) != 0) {
		snprintf(err, errlen, "%s: readable by group or others; chmod 600 it", file);
		fclose(fp);
		return NULL;
	}
	struct users *us = xcalloc(1, sizeof(*us));
	atomic_init(&us->refs, 1);
	int rc = users_read(us, fp, file, err, errlen);
	fclose(fp);
	if (rc < 0) {
		users_free(us);
		return NULL;
	}
	/* A valid hash of the same kind as the first user's, so an unknown name costs the same. */
	const char *prefix = us->n ? us->v[0].hash : "$6$";
	char salt[64];
	char *setting = crypt_gensalt_rn(strncmp(prefix, "$y$", 3) == 0 ? "$y$" : "$6$", 0, NULL, 0,
					 salt, sizeof(salt));
	us->dummy_hash = xstrdup(setting ? setting : "$6$outpostdummysalt");
	return us;
}

const struct user *users_find(const struct users *u, const char *name)
{
	for (size_t i = 0; u && i < u->n; i++)
		if (strcmp(u->v[i].name, name) == 0)
			return &u->v[i];
	return NULL;
}

int users_verify(const struct users *us, const char *name, const char *password)
{
	const struct user *u = users_find(us, name);
	const char *hash = u ? u->hash : us->dummy_hash;
	struct crypt_data *cd = xcalloc(1, sizeof(*cd));
	const char *out = crypt_r(password, hash, cd);
	int ok = u && out && out[0] != '*' && strlen(out) == strlen(hash) && strcmp(out, hash) == 0;
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return ok;
}

int user_owns_domain(const struct user *user, const char *domain)
{
	for (size_t i = 0; i < user->ndomains; i++)
		if (strcmp(user->domains[i], "*") == 0 || strcasecmp(user->domains[i], domain) == 0)
			return 1;
	return 0;
}

const char *user_name(const struct user *user)
{
	return user->name;
}

int sasl_plain_split(const char *msg, size_t len, char *user, size_t userlen, char *pass, size_t passlen)
{
	const char *z1 = memchr(msg, '\0', len);
	const char *z2 = z1 ? memchr(z1 + 1, '\0', len - (size_t)(z1 + 1 - msg)) : NULL;
	if (z2 == NULL)
		return -1;
	size_t authz = (size_t)(z1 - msg), authc = (size_t)(z2 - z1 - 1);
	size_t pw = len - (size_t)(z2 + 1 - msg);
	if (authc == 0 || authc >= userlen || pw >= passlen || memchr(z2 + 1, '\0', pw) != NULL)
		return -1;
	if (authz && (authz != authc || memcmp(msg, z1 + 1, authc) != 0))
		return -1;
	memcpy(user, z1 + 1, authc);
	user[authc] = '\0';
	memcpy(pass, z2 + 1, pw);
	pass[pw] = '\0';
	return 0;
}
