/*
 * test_evloop: on the daemon's main base an urgent socket that becomes
 * readable behind a long queue of normal work is served after at most one
 * batch of it, not after all of it (libevent sees it at its next poll,
 * which the batch limit brings forward).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/event.h>
#include <event2/thread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/evloop.h"

#define NORMAL 100

struct order {
	int peer;           /* a write here makes the urgent event's socket readable */
	int ran;            /* normal callbacks so far */
	int urgent_at;      /* how many normal ones ran before the urgent one; -1: not yet */
};

static void on_normal(evutil_socket_t fd, short what, void *arg)
{
	struct order *o = arg;
	(void)fd;
	(void)what;
	if (o->ran++ == 0)   /* a request arrives while the queue is long: seen at the next poll */
		assert_int_equal(write(o->peer, "x", 1), 1);
}

static void on_urgent(evutil_socket_t fd, short what, void *arg)
{
	struct order *o = arg;
	(void)fd;
	(void)what;
	o->urgent_at = o->ran;
}

static void test_urgent_overtakes_a_long_queue(void **state)
{
	(void)state;
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	struct order o = { sv[1], 0, -1 };
	struct event_base *base = evloop_base_new();
	evloop_urgent_begin(base);
	struct event *urgent = event_new(base, sv[0], EV_READ, on_urgent, &o);
	evloop_urgent_end(base);
	event_add(urgent, NULL);
	struct event *normal[NORMAL];
	for (int i = 0; i < NORMAL; i++)
		normal[i] = event_new(base, -1, 0, on_normal, &o);
	assert_int_equal(event_get_priority(urgent), EVLOOP_URGENT);
	assert_int_equal(event_get_priority(normal[0]), EVLOOP_NORMAL);
	for (int i = 0; i < NORMAL; i++)
		event_active(normal[i], 0, 0);
	event_base_dispatch(base);
	assert_int_equal(o.ran, NORMAL);
	assert_true(o.urgent_at >= 1);
	assert_true(o.urgent_at <= EVLOOP_BATCH);
	for (int i = 0; i < NORMAL; i++)
		event_free(normal[i]);
	event_free(urgent);
	event_base_free(base);
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	evthread_use_pthreads();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_urgent_overtakes_a_long_queue),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
