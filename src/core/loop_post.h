/*
 * loop_post: runs closures on one event loop, posted from any thread (the
 * way a finished job, a handed-off connection or a reloaded config reaches
 * the loop that owns what it is for).
 *
 * Contract: loop_post() queues fn(arg, 1) to run on the loop of the base
 * given to loop_post_new(), in the order posted; it is safe from any
 * thread and wakes that loop (one event_active(), which needs a base made
 * after evthread_use_pthreads()).  Closures posted while others wait run
 * in the same turn of the loop.  loop_post_free() must be called once no
 * thread posts any more and the loop no longer runs: every closure still
 * queued is called as fn(arg, 0), which only frees what arg owns.
 */
#ifndef OUTPOST_LOOP_POST_H
#define OUTPOST_LOOP_POST_H

struct event_base;
struct loop_post;

/* run is 1 on the loop, 0 when the queue is freed before it could run. */
typedef void loop_post_fn(void *arg, int run);

struct loop_post *loop_post_new(struct event_base *base);
void loop_post(struct loop_post *lp, loop_post_fn *fn, void *arg);
void loop_post_free(struct loop_post *lp);

#endif
