/* evloop: the main base's two priorities and its dispatch limit; see evloop.h. */
#include "core/evloop.h"

#include <event2/event.h>
#include <sys/time.h>

#include "core/log.h"

struct event_base *evloop_base_new(void)
{
	struct event_config *cfg = event_config_new();
	const struct timeval batch = { 0, EVLOOP_BATCH_USEC };
	if (cfg == NULL || event_config_set_max_dispatch_interval(cfg, &batch, EVLOOP_BATCH, EVLOOP_NORMAL) != 0)
		msg_fatal("event=startup_error reason=\"event_config failed\"");
	struct event_base *base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	if (base == NULL)
		msg_fatal("event=startup_error reason=\"event_base_new failed\"");
	if (event_base_priority_init(base, EVLOOP_PRIORITIES) != 0)
		msg_fatal("event=startup_error reason=\"event_base_priority_init failed\"");
	return base;
}

/* libevent gives a new event the priority npriorities / 2: with one
 * priority that is 0 (urgent), with EVLOOP_PRIORITIES it is EVLOOP_NORMAL.
 * Re-initialising keeps the events made meanwhile at the priority they
 * got; it fails only while an event is active. */
static void set_priorities(struct event_base *base, int n)
{
	if (event_base_priority_init(base, n) != 0)
		msg_panic("event=evloop_error reason=\"priorities changed while events are active\"");
}

void evloop_urgent_begin(struct event_base *base)
{
	set_priorities(base, 1);
}

void evloop_urgent_end(struct event_base *base)
{
	set_priorities(base, EVLOOP_PRIORITIES);
}
