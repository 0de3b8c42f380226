/*
 * spool_int: what spool.c and spool_queue.c share, and nobody else.
 *
 * Contract: struct spool and struct spool_req are defined here.  Every
 * request (commit, claim, record, next-due) goes through spool_enqueue()
 * to the storage thread, which runs commits as one group (spool.c) and the
 * other kinds through spool_queue_run() (spool_queue.c), then hands all of
 * them back to the loop thread, where spool_queue_finish() runs the
 * callbacks of the non-commit kinds.  Functions marked "storage thread"
 * touch the database and may only run there (or before it starts).
 */
#ifndef OUTPOST_SPOOL_INT_H
#define OUTPOST_SPOOL_INT_H
#include <event2/event.h>
#include <pthread.h>
#include <sqlite3.h>

#include "spool.h"
#include "spool_health.h"
#include "spool_obs.h"
#include "spool_queue.h"
#include "spool_seg.h"

#define SPOOL_REASON_LEN 160
#define SPOOL_LOW_SPACE_CLAIM 8   /* messages per claim once the reserve is given up */

enum spool_req_kind { SPOOL_REQ_COMMIT, SPOOL_REQ_CLAIM, SPOOL_REQ_RECORD, SPOOL_REQ_NEXT,
		      SPOOL_REQ_HEALTH_SAVE, SPOOL_REQ_HEALTH_LOAD, SPOOL_REQ_EVENT,
		      SPOOL_REQ_REJECTS };

/* Prepared statements of spool_queue.c. */
enum spool_qstmt {
	SPOOL_Q_CLAIM_SEL, SPOOL_Q_CLAIM_RCPTS, SPOOL_Q_CLAIM_MARK, SPOOL_Q_MSG_GET,
	SPOOL_Q_ATTEMPT, SPOOL_Q_RCPT_SET, SPOOL_Q_PENDING, SPOOL_Q_MSG_SET,
	SPOOL_Q_DEL_RCPTS, SPOOL_Q_DEL_ATTEMPTS, SPOOL_Q_DEL_MSG, SPOOL_Q_NEXT, SPOOL_Q_BODY_DEFER,
	SPOOL_Q_COUNT
};

/* Prepared statements of spool_obs.c. */
enum spool_obs_stmt { SPOOL_OBS_COUNT_MSGS, SPOOL_OBS_OLDEST, SPOOL_OBS_PAGES, SPOOL_OBS_RECEIVED,
		      SPOOL_OBS_RECEIVED_EVENT, SPOOL_OBS_OUTCOME, SPOOL_OBS_OUTCOME_EVENT,
		      SPOOL_OBS_PRUNE_EVENTS, SPOOL_OBS_PRUNE_MINUTES, SPOOL_OBS_EVENT, SPOOL_OBS_REJECTED,
		      SPOOL_OBS_COUNT };

struct spool_claim_op {
	time_t now;
	size_t limit;
	struct spool_due_msg **msgs;   /* result, handed to the callback */
	size_t n;
};

struct spool_record_op {
	char id[SPOOL_ID_LEN + 1];
	struct spool_outcome *o;       /* deep copies */
	size_t n;
	int delay_notified;
	time_t now;                    /* time of the attempts rows */
	int removed;                   /* result: the message left the spool */
};

struct spool_health_op {
	struct spool_health_row *rows;  /* SAVE: a deep copy; LOAD: the result */
	size_t n;
};

/* An event that concerns no committed message (spool_event()): deep copies. */
struct spool_event_op {
	time_t time;
	char *event, *qid, *route, *rcpt, *detail;
};

/* Refusals counted in memory (spool_count_rejected()) until a flush. */
#define SPOOL_REJ_ROWS 64
struct spool_rejection {
	long long minute;
	char reason[32];
	unsigned long long count;
};

/* A flush of them into stats_minute, riding with other queue ops: the
 * rows are taken from the spool when it first runs (kept for a retry). */
struct spool_rejects_op {
	unsigned long long seq;        /* sp->rej_seq when it was queued */
	int taken;
	struct spool_rejection *rows;
	size_t n;
};

struct spool_req {
	enum spool_req_kind kind;
	struct spool_msg *msg;   /* COMMIT: the message; RECORD: the DSN or NULL.
				  * Freed by the storage thread after its txn. */
	union {
		spool_commit_cb *commit;   /* COMMIT and RECORD */
		spool_due_cb *due;         /* CLAIM */
		spool_next_cb *next;       /* NEXT */
		spool_health_cb *health;   /* HEALTH_LOAD */
	} cb;
	void *arg;
	struct loop_post *reply_to;   /* COMMIT: the loop the callback runs on, NULL: the spool's */
	int detached;            /* the thread of the callback's loop only */
	int ok;                  /* set by the storage thread before hand-back */
	char reason[SPOOL_REASON_LEN];
	union {
		struct spool_claim_op claim;
		struct spool_record_op record;
		time_t next_due;         /* NEXT: the answer */
		struct spool_health_op health;
		struct spool_event_op event;
		struct spool_rejects_op rejects;
	} u;
	struct spool_req *next;
};

struct spool {
	sqlite3 *db;             /* storage thread only, once it runs */
	sqlite3_stmt *ins_msg;
	sqlite3_stmt *ins_rcpt;
	sqlite3_stmt *q[SPOOL_Q_COUNT];
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct spool_req *todo, **todo_tail;   /* under mu */
	struct spool_req *done, **done_tail;   /* under mu */
	struct event *done_ev;
	struct spool_req *ready;               /* loop thread: taken from done, not yet answered */
	pthread_t thread;
	int stopping;                          /* under mu */
	int busy;                              /* under mu: the thread holds a batch */
	pthread_cond_t idle_cv;                /* signalled when it has handed a batch back */
	struct spool_stats stats;              /* under mu */
	sqlite3_stmt *obs[SPOOL_OBS_COUNT];    /* spool_obs.c */
	struct spool_gauges gauges;            /* under mu */
	struct spool_gauges txn_gauges;        /* storage thread: read in the round's last committed transaction */
	int txn_gauges_fresh;                  /* storage thread: txn_gauges not published yet */
	long long obs_minute;                  /* storage thread: the last minute pruned to */
	struct spool_rejection rej[SPOOL_REJ_ROWS];   /* under mu: refusals not flushed yet */
	size_t rej_n;                          /* under mu */
	int rej_queued;                        /* under mu: a flush waits in todo */
	unsigned long long rej_seq, rej_done;  /* under mu: flushes queued, and committed */
	/* storage thread only: */
	char *dir;
	sqlite3_int64 cap_pages;               /* spool_max_size in pages, 0: none */
	sqlite3_int64 page_size;               /* of queue.db, when capped */
	struct spool_segs *segs;               /* large bodies (spool_seg.h) */
	struct spool_body_ref *gone;           /* bodies of the rows the open transaction deleted */
	size_t ngone, gone_cap;
	int shm_fd;                            /* spool_check's hold on the -shm, or -1 */
	int reserve_held;                      /* DIR/queue.reserve is in place */
	int wal_frames;                        /* frames in the WAL after the last commit */
	int sync_normal;                       /* synchronous=NORMAL is set (spool_set_sync) */
	struct spool_ckpt *ckpt;               /* checkpoints off this thread (NULL: on it) */
	unsigned long ckpt_pass;               /* the pass asked for this WAL, 0: none yet */
	time_t reserve_retry;                  /* when to try to make it again */
	unsigned claim_failures;               /* claims failed in a row */
	time_t claim_retry_at;                 /* next_due answers no sooner */
	struct {                               /* the spool_error being counted */
		char key[SPOOL_REASON_LEN + 32];
		char op[32], reason[SPOOL_REASON_LEN];
		unsigned repeated;
		time_t since;
	} errlog;
};

/* spool.c, storage thread: the insert of a committed message, shared with
 * spool_record's DSN, and the statement helpers. */
int spool_insert_msg(struct spool *sp, const struct spool_msg *m);
int spool_insert_rcpts(struct spool *sp, const struct spool_msg *m);
int spool_bind_text(sqlite3_stmt *st, int i, const char *s);
int spool_step_done(sqlite3_stmt *st, int rc);
void spool_reason(struct spool *sp, int rc, char *reason, size_t len);
/* One transaction for the n requests starting at r; *began says whether
 * BEGIN itself succeeded. */
typedef int spool_txn_fn(struct spool *sp, struct spool_req *r, size_t n, char *reason, size_t len,
			 int *began);
/* After a group failed: each request in a transaction of its own; when
 * BEGIN fails nobody is at fault and the rest share its reason.  Returns
 * how many succeeded (storage thread only). */
size_t spool_each_alone(struct spool *sp, struct spool_req *batch, spool_txn_fn *txn);
void spool_log_queued(const struct spool_msg *m, const char *extra);

/* spool.c, storage thread: the reserve (spool_reserve.h) and the size cap.
 * spool_reserve_give_up() removes the reserve after a "disk full" of a
 * write that frees space (1: retry it); spool_room_for_new_mail() is 1
 * when the reserve is in place (made again when there is room). */
int spool_reserve_give_up(struct spool *sp, const char *op);
int spool_room_for_new_mail(struct spool *sp);
/* 1 when rc (a SQLite result) means the disk or the size cap is full. */
int spool_rc_full(int rc);
/* PRAGMA max_page_count: the cap for new mail, lifted for everything else. */
void spool_limit_pages(struct spool *sp, sqlite3_int64 pages);

/* spool.c: BEGIN IMMEDIATE at synchronous=FULL for a transaction whose
 * COMMIT must be durable when it returns (full), NORMAL for one that may
 * wait for the next durable COMMIT or checkpoint (spool_queue.c); 0 or a
 * SQLite code.  spool_end() ends it: when rc is
 * SQLITE_OK, reads the round's gauges inside it and commits; otherwise, or
 * when COMMIT fails, rolls back, a SQLite error (rc > 0) said in reason
 * first.  Returns rc, or COMMIT's error. */
int spool_begin(struct spool *sp, int full);
int spool_end(struct spool *sp, int rc, char *reason, size_t len);

/* spool.c: journal mode, synchronous=FULL and the current schema on a
 * new or existing database (also for spool_recover's fresh spool). */
int spool_db_init(sqlite3 *db, char *err, size_t errlen);

/* spool.c, loop thread: queues r to the storage thread. */
void spool_enqueue(struct spool *sp, struct spool_req *r);

/* spool_obs.c: prepared at open, finalized at close; refreshed by the
 * storage thread after each round (spool.c). */
int spool_obs_prepare(struct spool *sp, char *err, size_t errlen);
void spool_obs_finalize(struct spool *sp);
void spool_obs_refresh(struct spool *sp);
/* Storage thread, inside a write transaction just before its COMMIT: the
 * gauges as that commit leaves them into *g; after the COMMIT succeeded,
 * spool_obs_committed(sp, g) keeps them for the round's refresh, which then
 * needs no read transaction of its own (its WAL lock fcntls). */
void spool_obs_read(struct spool *sp, struct spool_gauges *g);
void spool_obs_committed(struct spool *sp, const struct spool_gauges *g);
/* Storage thread, inside the transaction that commits m / records o:
 * the statistics rows of a message received and of one outcome (before
 * the message may leave the spool). */
int spool_obs_received(struct spool *sp, const struct spool_msg *m);
int spool_obs_outcome(struct spool *sp, const struct spool_record_op *op, const struct spool_outcome *o);
/* Storage thread: the raw event of an EVENT request; loop thread: frees
 * what it holds. */
int spool_obs_event_run(struct spool *sp, const struct spool_event_op *op);
void spool_obs_event_finish(struct spool_req *r);
/* mu held: appends a REJECTS request to todo when refusals wait and none
 * is queued (spool_enqueue, for every queue op: the flush rides with work
 * the storage thread does anyway). */
void spool_rejects_queue(struct spool *sp);
/* Storage thread, inside a queue-ops transaction: takes the counted
 * refusals (first run only) and adds them to stats_minute. */
int spool_obs_rejects_run(struct spool *sp, struct spool_rejects_op *op);

/* spool_queue.c */
int spool_queue_prepare(struct spool *sp, char *err, size_t errlen);   /* at open */
void spool_queue_finalize(struct spool *sp);                           /* at close */
void spool_queue_run(struct spool *sp, struct spool_req *ops);         /* storage thread */
/* Loop thread: runs r's callback when call is set, frees what r holds
 * (not r itself). */
void spool_queue_finish(struct spool_req *r, int call);

/* spool_health.c: the HEALTH kinds (storage thread, then loop thread). */
int spool_health_run(struct spool *sp, struct spool_req *r);
void spool_health_finish(struct spool_req *r, int call);

#endif
