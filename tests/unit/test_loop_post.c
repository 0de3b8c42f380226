/*
 * test_loop_post: closures posted from other threads run on the loop, in
 * the order posted, and what is left at free is called with run=0.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/event.h>
#include <event2/thread.h>
#include <pthread.h>
#include <stdlib.h>

#include "core/loop_post.h"
#include "core/xmalloc.h"

#define PER_THREAD 2000

struct tally {
	struct event_base *base;
	struct loop_post *lp;
	pthread_t loop_thread;
	int ran, dropped, wrong_thread;
	int last[2];                 /* the last value seen from each poster */
	int out_of_order;
};

struct item {
	struct tally *t;
	int poster, seq;
};

static void count(void *arg, int run)
{
	struct item *it = arg;
	struct tally *t = it->t;
	if (run) {
		t->ran++;
		t->wrong_thread += !pthread_equal(pthread_self(), t->loop_thread);
		t->out_of_order += it->seq != t->last[it->poster] + 1;
		t->last[it->poster] = it->seq;
		if (t->ran == 2 * PER_THREAD)
			event_base_loopbreak(t->base);
	} else {
		t->dropped++;
	}
	free(it);
}

struct poster {
	struct tally *t;
	int id;
};

static void *post_many(void *arg)
{
	struct poster *p = arg;
	for (int i = 1; i <= PER_THREAD; i++) {
		struct item *it = xmalloc(sizeof(*it));
		*it = (struct item){ p->t, p->id, i };
		loop_post(p->t->lp, count, it);
	}
	return NULL;
}

static void test_posts_from_two_threads_run_on_the_loop_in_order(void **state)
{
	(void)state;
	struct tally t = { 0 };
	t.base = event_base_new();
	t.lp = loop_post_new(t.base);
	t.loop_thread = pthread_self();
	struct poster p[2] = { { &t, 0 }, { &t, 1 } };
	pthread_t th[2];
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&th[i], NULL, post_many, &p[i]), 0);
	event_base_loop(t.base, EVLOOP_NO_EXIT_ON_EMPTY);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(t.ran, 2 * PER_THREAD);
	assert_int_equal(t.wrong_thread, 0);
	assert_int_equal(t.out_of_order, 0);
	loop_post_free(t.lp);
	assert_int_equal(t.dropped, 0);
	event_base_free(t.base);
}

static void test_free_drops_what_did_not_run(void **state)
{
	(void)state;
	struct tally t = { 0 };
	t.base = event_base_new();
	t.lp = loop_post_new(t.base);
	for (int i = 1; i <= 3; i++) {
		struct item *it = xmalloc(sizeof(*it));
		*it = (struct item){ &t, 0, i };
		loop_post(t.lp, count, it);
	}
	loop_post_free(t.lp);     /* the loop never ran */
	assert_int_equal(t.ran, 0);
	assert_int_equal(t.dropped, 3);
	event_base_free(t.base);
}

int main(void)
{
	evthread_use_pthreads();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_posts_from_two_threads_run_on_the_loop_in_order),
		cmocka_unit_test(test_free_drops_what_did_not_run),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
