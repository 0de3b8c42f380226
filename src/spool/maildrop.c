/* maildrop: drop files, their format and their atomic store; see maildrop.h. */
#include "spool/maildrop.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "core/fdio.h"
#include "core/log.h"
#include "core/xmalloc.h"

#define MAGIC "OUTPOST-MAILDROP 1\n"
#define MAX_ADDR 998

void maildrop_format(struct buf *out, const char *sender, char *const *rcpts, size_t nrcpts,
		     const struct buf *msg)
{
	buf_printf(out, MAGIC "sender <%s>\n", sender);
	for (size_t i = 0; i < nrcpts; i++)
		buf_printf(out, "rcpt <%s>\n", rcpts[i]);
	buf_append(out, "\n", 1);
	buf_append(out, msg->data, msg->len);
}

/* The address of one "KEY <ADDR>\n" line at data[*pos]; NULL with err set. */
static char *envelope_line(const char *data, size_t len, size_t *pos, const char *key, char *err,
			   size_t errlen)
{
	size_t klen = strlen(key), start = *pos;
	const char *lf = memchr(data + start, '\n', len - start);
	if (lf == NULL) {
		set_error(err, errlen, "the envelope is cut short");
		return NULL;
	}
	size_t end = (size_t)(lf - data);
	if (end - start < klen + 3 || memcmp(data + start, key, klen) != 0 || data[start + klen] != ' ' ||
	    data[start + klen + 1] != '<' || data[end - 1] != '>') {
		set_error(err, errlen, "expected \"%s <ADDRESS>\"", key);
		return NULL;
	}
	const char *a = data + start + klen + 2;
	size_t alen = end - 1 - (start + klen + 2);
	if (alen > MAX_ADDR) {
		set_error(err, errlen, "%s address longer than %d octets", key, MAX_ADDR);
		return NULL;
	}
	for (size_t i = 0; i < alen; i++)
		if ((unsigned char)a[i] <= ' ' || a[i] == '<' || a[i] == '>' || a[i] == 0x7f) {
			set_error(err, errlen, "%s address with a space, control character or bracket", key);
			return NULL;
		}
	*pos = end + 1;
	return xstrndup(a, alen);
}

int maildrop_parse(const char *data, size_t len, struct maildrop_env *env, size_t *body_off, char *err,
		   size_t errlen)
{
	size_t pos = strlen(MAGIC);
	memset(env, 0, sizeof(*env));
	if (len < pos || memcmp(data, MAGIC, pos) != 0)
		return set_error(err, errlen, "not a maildrop file (no \"OUTPOST-MAILDROP 1\" line)");
	if ((env->sender = envelope_line(data, len, &pos, "sender", err, errlen)) == NULL)
		return -1;
	while (pos < len && data[pos] != '\n') {
		if (env->nrcpts == MAILDROP_MAX_RCPTS) {
			maildrop_env_free(env);
			return set_error(err, errlen, "more than %d recipients", MAILDROP_MAX_RCPTS);
		}
		char *r = envelope_line(data, len, &pos, "rcpt", err, errlen);
		if (r == NULL || strchr(r, '@') == NULL) {
			if (r)
				set_error(err, errlen, "recipient \"%s\" is not an address", r);
			free(r);
			maildrop_env_free(env);
			return -1;
		}
		env->rcpts = xreallocarray(env->rcpts, env->nrcpts + 1, sizeof(char *));
		env->rcpts[env->nrcpts++] = r;
	}
	if (pos >= len || env->nrcpts == 0) {
		maildrop_env_free(env);
		return set_error(err, errlen, pos >= len ? "no blank line after the envelope" : "no recipients");
	}
	*body_off = pos + 1;
	return 0;
}

void maildrop_env_free(struct maildrop_env *env)
{
	free(env->sender);
	for (size_t i = 0; i < env->nrcpts; i++)
		free(env->rcpts[i]);
	free(env->rcpts);
	memset(env, 0, sizeof(*env));
}

int maildrop_store(const char *dir, const char *data, size_t len, char *err, size_t errlen)
{
	struct timeval tv;
	char *final = NULL;
	int rc = -1;
	gettimeofday(&tv, NULL);
	char *tmp = xasprintf("%s/.tmp.%ld.%06ld.%ld.XXXXXX", dir, (long)tv.tv_sec, (long)tv.tv_usec,
			      (long)getpid());
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		set_error(err, errlen, "cannot create a file in %s: %s", dir, strerror(errno));
		free(tmp);
		return -1;
	}
	final = xasprintf("%s/%s", dir, strrchr(tmp, '/') + 1 + strlen(".tmp."));
	if (fchmod(fd, 0640) < 0 || fd_write_all(fd, data, len, 0) < 0 || fsync(fd) < 0)
		set_error(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
	else if (rename(tmp, final) < 0)
		set_error(err, errlen, "cannot rename %s: %s", tmp, strerror(errno));
	else
		rc = 0;
	if (rc < 0)
		unlink(tmp);
	close(fd);
	free(tmp);
	free(final);
	return rc;
}
