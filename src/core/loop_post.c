/* loop_post: a mutex-guarded closure list drained on its loop; see loop_post.h. */
#include "core/loop_post.h"

#include <event2/event.h>
#include <pthread.h>
#include <stdlib.h>

#include "core/log.h"
#include "core/xmalloc.h"

struct post_item {
	loop_post_fn *fn;
	void *arg;
	struct post_item *next;
};

struct loop_post {
	pthread_mutex_t mu;
	struct post_item *head, **tail;   /* under mu */
	struct event *ev;
};

/* Takes the whole list at once: what is posted meanwhile runs next turn. */
static struct post_item *take_all(struct loop_post *lp)
{
	pthread_mutex_lock(&lp->mu);
	struct post_item *it = lp->head;
	lp->head = NULL;
	lp->tail = &lp->head;
	pthread_mutex_unlock(&lp->mu);
	return it;
}

static void run_all(struct post_item *it, int run)
{
	while (it) {
		struct post_item *next = it->next;
		it->fn(it->arg, run);
		free(it);
		it = next;
	}
}

static void on_posted(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	run_all(take_all(arg), 1);
}

struct loop_post *loop_post_new(struct event_base *base)
{
	struct loop_post *lp = xcalloc(1, sizeof(*lp));
	pthread_mutex_init(&lp->mu, NULL);
	lp->tail = &lp->head;
	if ((lp->ev = event_new(base, -1, 0, on_posted, lp)) == NULL)
		msg_fatal("event=loop_post_error reason=\"event_new failed\"");
	return lp;
}

void loop_post(struct loop_post *lp, loop_post_fn *fn, void *arg)
{
	struct post_item *it = xmalloc(sizeof(*it));
	it->fn = fn;
	it->arg = arg;
	it->next = NULL;
	pthread_mutex_lock(&lp->mu);
	int idle = lp->head == NULL;   /* else the event is active already */
	*lp->tail = it;
	lp->tail = &it->next;
	if (idle)
		event_active(lp->ev, EV_READ, 0);
	pthread_mutex_unlock(&lp->mu);
}

void loop_post_free(struct loop_post *lp)
{
	if (lp == NULL)
		return;
	run_all(take_all(lp), 0);
	event_free(lp->ev);
	pthread_mutex_destroy(&lp->mu);
	free(lp);
}
