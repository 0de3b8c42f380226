/* worker: pthread pool with completions on the libevent loop; see worker.h. */
#include "worker.h"

#include <event2/event.h>
#include <pthread.h>
#include <stdlib.h>

#include "log.h"
#include "xmalloc.h"

struct worker_job {
	void (*fn)(void *);
	void (*done)(void *);
	void (*free_arg)(void *);
	void *arg;
	int detached;            /* loop thread only */
	struct worker_job *next;
};

struct worker_pool {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct worker_job *todo, **todo_tail;
	struct worker_job *done, **done_tail;
	struct event *done_ev;
	pthread_t *threads;
	unsigned nthreads;
	int stopping;
};

static void *worker_main(void *p)
{
	struct worker_pool *wp = p;
	pthread_mutex_lock(&wp->mu);
	for (;;) {
		while (wp->todo == NULL && !wp->stopping)
			pthread_cond_wait(&wp->cv, &wp->mu);
		if (wp->todo == NULL)
			break;
		struct worker_job *j = wp->todo;
		wp->todo = j->next;
		if (wp->todo == NULL)
			wp->todo_tail = &wp->todo;
		pthread_mutex_unlock(&wp->mu);
		j->fn(j->arg);
		pthread_mutex_lock(&wp->mu);
		j->next = NULL;
		*wp->done_tail = j;
		wp->done_tail = &j->next;
		event_active(wp->done_ev, EV_READ, 0);
	}
	pthread_mutex_unlock(&wp->mu);
	return NULL;
}

static void finish_jobs(struct worker_pool *wp, int call_done)
{
	pthread_mutex_lock(&wp->mu);
	struct worker_job *j = wp->done;
	wp->done = NULL;
	wp->done_tail = &wp->done;
	pthread_mutex_unlock(&wp->mu);
	while (j) {
		struct worker_job *next = j->next;
		if (!j->detached && call_done)
			j->done(j->arg);
		else if (j->free_arg)
			j->free_arg(j->arg);
		free(j);
		j = next;
	}
}

static void on_done(evutil_socket_t fd, short what, void *p)
{
	(void)fd;
	(void)what;
	finish_jobs(p, 1);
}

struct worker_pool *worker_pool_new(struct event_base *base, unsigned nthreads)
{
	struct worker_pool *wp = xcalloc(1, sizeof(*wp));
	pthread_mutex_init(&wp->mu, NULL);
	pthread_cond_init(&wp->cv, NULL);
	wp->todo_tail = &wp->todo;
	wp->done_tail = &wp->done;
	wp->done_ev = event_new(base, -1, 0, on_done, wp);
	if (wp->done_ev == NULL)
		msg_fatal("event=worker_error reason=\"event_new failed\"");
	wp->nthreads = nthreads ? nthreads : 1;
	wp->threads = xcalloc(wp->nthreads, sizeof(pthread_t));
	for (unsigned i = 0; i < wp->nthreads; i++)
		if (pthread_create(&wp->threads[i], NULL, worker_main, wp) != 0)
			msg_fatal("event=worker_error reason=\"pthread_create failed\"");
	return wp;
}

void worker_pool_free(struct worker_pool *wp)
{
	if (wp == NULL)
		return;
	pthread_mutex_lock(&wp->mu);
	wp->stopping = 1;
	pthread_cond_broadcast(&wp->cv);
	pthread_mutex_unlock(&wp->mu);
	for (unsigned i = 0; i < wp->nthreads; i++)
		pthread_join(wp->threads[i], NULL);
	finish_jobs(wp, 0);
	event_free(wp->done_ev);
	pthread_mutex_destroy(&wp->mu);
	pthread_cond_destroy(&wp->cv);
	free(wp->threads);
	free(wp);
}

struct worker_job *worker_submit(struct worker_pool *wp, void (*fn)(void *), void (*done)(void *),
				 void (*free_arg)(void *), void *arg)
{
	struct worker_job *j = xcalloc(1, sizeof(*j));
	j->fn = fn;
	j->done = done;
	j->free_arg = free_arg;
	j->arg = arg;
	pthread_mutex_lock(&wp->mu);
	*wp->todo_tail = j;
	wp->todo_tail = &j->next;
	pthread_cond_signal(&wp->cv);
	pthread_mutex_unlock(&wp->mu);
	return j;
}

void worker_detach(struct worker_job *job)
{
	job->detached = 1;
}
