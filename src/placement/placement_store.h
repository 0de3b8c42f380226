/*
 * placement_store: the results of the inbox-placement probes, in their own
 * SQLite file beside the spool (SPOOL/placement.db), written by the
 * daemon (on a worker thread) and read by `outpost placement` and
 * `outpost monitor`.
 *
 * Contract: one row per probe (route, seed, provider, token, queue id,
 * result "inbox" | "spam" | "missing" | "error", the folder it was found
 * in, a detail); placement_store_add() stores a round's rows in one
 * transaction and then keeps only the newest `keep` rows of each route
 * and seed it touched (bounded retention).  placement_store_summary()
 * gives per route and seed (ordered by route, seed) the newest row and
 * the counts of the newest `window` rows whose result is not "error"
 * (a probe that could not be looked for says nothing about placement).
 */
#ifndef OUTPOST_PLACEMENT_STORE_H
#define OUTPOST_PLACEMENT_STORE_H
#include <stddef.h>

struct placement_store;

struct placement_result {
	long long time;
	const char *route, *seed, *provider, *token, *qid, *result, *folder, *detail;
};

struct placement_line {
	char *route, *seed, *provider, *token, *result, *folder, *detail;
	long long time;               /* of the newest probe */
	unsigned n, inbox, spam, missing;
};

/* create 0: NULL (err says so) when SPOOL/placement.db does not exist. */
struct placement_store *placement_store_open(const char *spool_dir, int create, char *err, size_t errlen);
void placement_store_close(struct placement_store *s);
int placement_store_add(struct placement_store *s, const struct placement_result *r, size_t n, unsigned keep,
			char *err, size_t errlen);
int placement_store_summary(struct placement_store *s, unsigned window, struct placement_line **out, size_t *n,
			    char *err, size_t errlen);
void placement_lines_free(struct placement_line *l, size_t n);

#endif
