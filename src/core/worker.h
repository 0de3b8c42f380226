/*
 * worker: a small thread pool for CPU-heavy work (password hashing, DKIM
 * signing) so the event loop never stalls.
 * Contract: worker_submit() queues fn(arg) to run on a pool thread; when
 * it has run, done(arg) is called on the event loop thread.  A job whose
 * owner went away is cancelled with worker_detach(): fn still runs (it
 * must own everything it touches through arg), done is not called, and
 * arg is freed with the free_arg given at submit.  worker_pool_free()
 * finishes queued jobs first.
 */
#ifndef OUTPOST_WORKER_H
#define OUTPOST_WORKER_H

struct event_base;
struct worker_pool;
struct worker_job;

struct worker_pool *worker_pool_new(struct event_base *base, unsigned nthreads);
void worker_pool_free(struct worker_pool *wp);
struct worker_job *worker_submit(struct worker_pool *wp, void (*fn)(void *arg),
				 void (*done)(void *arg), void (*free_arg)(void *arg), void *arg);
void worker_detach(struct worker_job *job);

#endif
