/*
 * spool: the durable queue (SQLite, WAL, synchronous=FULL).
 *
 * Contract:
 * - spool_open() creates the spool directory and database if needed and
 *   starts one storage thread that owns the only writing connection the
 *   daemon has.  The event loop never touches the disk.
 * - spool_commit() hands a complete message to the storage thread and
 *   returns at once.  The thread commits every request that is waiting in
 *   one transaction (group commit) and, only after COMMIT has returned
 *   (WAL fsync'd), calls each request's callback on the event loop thread
 *   with ok=1.  On any error the whole group is rolled back and each
 *   request is retried alone, so one bad message does not fail the others;
 *   a request that still fails gets ok=0 and a reason (e.g. disk full).
 * - A caller that goes away before its callback (client disconnected)
 *   calls spool_req_detach(); the message is still committed, only the
 *   callback is skipped.
 * - spool_close() waits for every queued request to finish (callbacks run
 *   from within spool_close are skipped), stops the thread, closes the db.
 * - Callbacks need a base made after evthread_use_pthreads(): the storage
 *   thread wakes the loop with event_active().
 */
#ifndef OUTPOST_SPOOL_H
#define OUTPOST_SPOOL_H
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct event_base;
struct spool;
struct spool_req;

#define SPOOL_ID_LEN 16   /* characters, without the NUL */
#define SPOOL_SCHEMA_VERSION 9   /* PRAGMA user_version of DIR/queue.db */
#define SPOOL_DB_NAME "queue.db"
/* DIR/queue.db followed by suffix ("", "-wal", "-shm", ...) into out;
 * -1 when it does not fit. */
int spool_db_path(const char *dir, const char *suffix, char *out, size_t len);

/* Where a body is: seg 0 means inline in queue.db, else the segment file
 * DIR/bodies/NNNNNNNNNN (spool_seg.h) at off, len octets, CRC-32C. */
struct spool_body_ref {
	long long seg;
	long long off;
	long long len;
	uint32_t crc;
};

/* A message ready to commit.  spool_commit() takes ownership of every
 * pointer in it and frees them with spool_msg_free().  An empty id gets
 * one from spool_id_new(); created == 0 means now. */
struct spool_msg {
	char id[SPOOL_ID_LEN + 1];
	char *sender;          /* "" for the null sender <> */
	char **rcpts;          /* nrcpts addresses, without <> */
	size_t nrcpts;
	char *client_addr;     /* "192.0.2.1" or "local" */
	char *client_helo;
	char *auth_user;       /* NULL when not authenticated */
	char *body;            /* the whole message, CRLF lines, unstuffed */
	size_t body_len;
	int smtputf8;
	int body_8bit;         /* BODY=8BITMIME was declared */
	char *msg_class;       /* X-Outpost-Class the app set ("bulk"), or NULL */
	char *route;           /* forced route (canary probes), or NULL: by rules */
	unsigned long session; /* the SMTP session it came in, for the log; 0: none */
	char *tenant;          /* the tenant it was accepted for, or NULL */
	char *scan_action;     /* the scanner's verdict ("no action", "add header", ...,
	                        * "unscanned"), NULL when no scanner is configured */
	double scan_score;
	char *scan_symbols;    /* "SYMBOL,SYMBOL", or NULL */
	time_t created;
	/* storage thread: where spool_store put a large body (seg 0: inline),
	 * and body_full when the cap or the disk had no room for it */
	struct spool_body_ref body_ref;
	int body_full;
	/* spool_commit_to(): the CRC-32C of a body that goes to a segment,
	 * taken on the caller's thread so the storage thread, which every
	 * commit waits for, does not */
	uint32_t body_crc;
	int body_crc_known;
};

/* Runs on the loop thread.  ok=1: the message is durably committed and
 * reason is "".  ok=0: it is not in the spool; reason is short text for a
 * reply or a log ("spool full", "spool error: ..."). */
typedef void spool_commit_cb(void *arg, int ok, const char *reason);

/* Counters since spool_open (for tests, statistics and debugging). */
struct spool_stats {
	uint64_t groups;        /* batches taken from the queue, one transaction each */
	uint64_t commits;       /* transactions that committed (retries included) */
	uint64_t committed;     /* messages committed */
	uint64_t failed;        /* messages refused (ok=0) */
	uint64_t retried;       /* groups whose transaction failed (then retried one by one) */
	uint64_t max_group;     /* largest group taken at once */
};

/* Opens (creating) DIR/queue.db; max_size (octets, 0 = unlimited) caps the
 * database so a full spool refuses new mail rather than filling the disk.
 * Returns NULL with a reason in err. */
struct spool *spool_open(const char *dir, uint64_t max_size, struct event_base *base,
			 char *err, size_t errlen);
void spool_close(struct spool *sp);

/* A new unique queue id: SPOOL_ID_LEN characters of [0-9A-Z], sortable by
 * time of creation. */
void spool_id_new(char out[SPOOL_ID_LEN + 1]);

struct spool_req *spool_commit(struct spool *sp, struct spool_msg *msg,
			       spool_commit_cb *cb, void *arg);
/* The same, with the callback run on the loop of reply_to (core/loop_post.h)
 * instead of the spool's (an inbound loop of its own); NULL: the spool's.
 * spool_req_detach() is then called on that loop's thread. */
struct loop_post;
struct spool_req *spool_commit_to(struct spool *sp, struct loop_post *reply_to, struct spool_msg *msg,
				  spool_commit_cb *cb, void *arg);
void spool_req_detach(struct spool_req *req);
/* Waits until the storage thread has handed back every request queued so
 * far (before freeing the loops that commits answer on). */
void spool_wait_idle(struct spool *sp);
void spool_msg_free(struct spool_msg *msg);
/* Copies the counters (thread-safe). */
void spool_stats(struct spool *sp, struct spool_stats *st);

#endif
