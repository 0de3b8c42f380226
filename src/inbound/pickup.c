/* pickup: the maildrop's reader thread; see pickup.h. */
#include "inbound/pickup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "inbound/local_submit.h"
#include "spool/maildrop.h"

#define ENVELOPE_ROOM (MAILDROP_MAX_RCPTS * 1010 + 1100)   /* beyond the message cap */

struct pickup {
	char *dir, *socket;
	size_t max_file;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	int stop;
};

static void set_aside(struct pickup *p, const char *name, const char *prefix)
{
	char *from = xasprintf("%s/%s", p->dir, name), *to = xasprintf("%s/%s%s", p->dir, prefix, name);
	if (rename(from, to) < 0)
		msg_warn("event=maildrop_error file=%s error=\"cannot rename: %s\"", from, strerror(errno));
	free(from);
	free(to);
}

/* 0: data holds the file; 1: it is too big; -1: not ours to read (removed or logged). */
static int read_drop_file(struct pickup *p, const char *path, struct buf *data, uid_t *uid)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ELOOP && unlink(path) == 0)
			msg_warn("event=maildrop_removed file=%s reason=\"a symbolic link\"", path);
		else if (errno != ENOENT)
			msg_warn("event=maildrop_error file=%s error=\"%s\"", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1) {
		if (unlink(path) == 0)
			msg_warn("event=maildrop_removed file=%s reason=\"not a plain file with one link\"", path);
		close(fd);
		return -1;
	}
	*uid = st.st_uid;
	if ((size_t)st.st_size > p->max_file) {
		close(fd);
		return 1;   /* too big: set aside */
	}
	char chunk[16384];
	ssize_t n;
	buf_reserve(data, (size_t)st.st_size);
	while (data->len <= p->max_file && (n = read(fd, chunk, sizeof(chunk))) > 0)
		buf_append(data, chunk, (size_t)n);
	close(fd);
	return data->len > p->max_file ? 1 : 0;
}

/* One drop file; returns 1 when the daemon said "try later". */
static int pick_one(struct pickup *p, const char *name)
{
	char *path = xasprintf("%s/%s", p->dir, name), err[256], reply[1024], q[1100];
	struct buf data = BUF_INIT, msg = BUF_INIT;
	struct maildrop_env env;
	size_t off;
	uid_t uid = (uid_t)-1;
	int later = 0, r = read_drop_file(p, path, &data, &uid);
	if (r == 1 || (r == 0 && maildrop_parse(data.data, data.len, &env, &off, err, sizeof(err)) < 0)) {
		log_quote(q, sizeof(q), r == 1 ? "larger than max_message_size" : err);
		msg_warn("event=maildrop_bad file=%s uid=%ld reason=%s action=renamed_.bad", path, (long)uid, q);
		set_aside(p, name, ".bad.");
	} else if (r == 0) {
		buf_append(&msg, data.data + off, data.len - off);
		enum submit_result sr = local_submit(p->socket, env.sender, env.rcpts, env.nrcpts, &msg, reply,
						     sizeof(reply));
		log_quote(q, sizeof(q), reply);
		if (sr == SUBMIT_QUEUED && unlink(path) == 0) {
			const char *qid = strrchr(reply, ' ');
			msg_info("event=maildrop_queued qid=%s file=%s uid=%ld nrcpt=%zu", qid ? qid + 1 : "?", path,
				 (long)uid, env.nrcpts);
		} else if (sr == SUBMIT_REFUSED) {
			msg_warn("event=maildrop_refused file=%s uid=%ld reply=%s action=renamed_.refused", path,
				 (long)uid, q);
			set_aside(p, name, ".refused.");
		} else if (sr != SUBMIT_QUEUED) {
			msg_warn("event=maildrop_deferred file=%s uid=%ld reply=%s", path, (long)uid, q);
			later = 1;
		}
		maildrop_env_free(&env);
	}
	buf_free(&data);
	buf_free(&msg);
	free(path);
	return later;
}

/* One look into the directory; returns 1 to wait longer before the next. */
static int scan(struct pickup *p)
{
	DIR *d = opendir(p->dir);
	struct dirent *de;
	int later = 0;
	if (d == NULL)
		return 1;
	while (!later && (de = readdir(d)) != NULL) {
		pthread_mutex_lock(&p->mu);
		int stop = p->stop;
		pthread_mutex_unlock(&p->mu);
		if (stop)
			break;
		if (de->d_name[0] != '.')   /* hidden: in progress (.tmp.), or set aside */
			later = pick_one(p, de->d_name);
	}
	closedir(d);
	return later;
}

static void *pickup_main(void *arg)
{
	struct pickup *p = arg;
	pthread_mutex_lock(&p->mu);
	while (!p->stop) {
		pthread_mutex_unlock(&p->mu);
		int wait = scan(p) ? 30 : 1;
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += wait;
		pthread_mutex_lock(&p->mu);
		while (!p->stop && pthread_cond_timedwait(&p->cond, &p->mu, &until) == 0)
			;
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

struct pickup *pickup_start(const struct config *cf, gid_t gid, char *err, size_t errlen)
{
	if (mkdir(cf->maildrop, 01730) == 0 && (chmod(cf->maildrop, 01730) < 0 ||
	    (gid != (gid_t)-1 && chown(cf->maildrop, (uid_t)-1, gid) < 0))) {
		set_error(err, errlen, "maildrop %s: %s", cf->maildrop, strerror(errno));
		return NULL;
	}
	struct pickup *p = xcalloc(1, sizeof(*p));
	p->dir = xstrdup(cf->maildrop);
	p->socket = xstrdup(cf->socket);
	p->max_file = (size_t)cf->inbound.max_message_size + ENVELOPE_ROOM;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cond, NULL);
	if (pthread_create(&p->thread, NULL, pickup_main, p) != 0) {
		set_error(err, errlen, "maildrop: cannot start the pickup thread");
		pickup_free(p);
		return NULL;
	}
	return p;
}

void pickup_stop(struct pickup *p)
{
	if (p == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = 1;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->mu);
}

void pickup_free(struct pickup *p)
{
	if (p == NULL)
		return;
	pickup_stop(p);
	if (p->thread)
		pthread_join(p->thread, NULL);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cond);
	free(p->dir);
	free(p->socket);
	free(p);
}
