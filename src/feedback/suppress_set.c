/*
 * suppress_set: the suppression list in memory (contract in
 * suppress_set.h).  One table = an index (open addressing, linear
 * probing, pointers to records) and the chunks its records live in.
 * Writers hold wmu for their whole work and the read-write lock only for
 * the one store that links, unlinks or swaps; everything a reader may see
 * (a record's bytes, a new index) is complete before that store.
 */
#include <ctype.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hash.h"
#include "core/xmalloc.h"
#include "feedback/suppress_set.h"

#define CHUNK_SIZE ((size_t)1 << 20)
#define MIN_SLOTS 1024

struct chunk {
	struct chunk *next;
	size_t used;
	char data[];
};

/* One entry.  text: "address\0scope\0qid\0reason\0status\0". */
struct rec {
	int64_t first, expires;
	uint32_t hash;                         /* the key's hash, high half: compared before the strings */
	uint16_t scope_off, qid_off, reason_off, status_off;
	uint8_t source;                        /* index into sources[] */
	char text[];
};

struct table {
	struct rec **slots;
	size_t mask;            /* slots - 1, slots a power of two */
	size_t live, tombs;     /* records linked; slots of removed ones */
	struct chunk *chunks;   /* newest first */
	size_t nchunks, used, dead;   /* bytes of records, of them unlinked */
};

struct suppress_set {
	pthread_rwlock_t lock;  /* readers shared; writers only around one store */
	pthread_mutex_t wmu;    /* one writer at a time, for its whole work */
	struct table *t;
};

static const char *const sources[] = { "bounce", "complaint", "manual", "import" };
static struct rec tomb_rec;
#define TOMB (&tomb_rec)

/* As suppress.c stores and looks up: lower-cased, cut to outlen - 1. */
static void lower_copy(char *out, size_t outlen, const char *in)
{
	size_t i = 0;
	for (; in && in[i] && i + 1 < outlen; i++)
		out[i] = (char)tolower((unsigned char)in[i]);
	out[i] = '\0';
}

/* FNV-1a over "address\0scope". */
static uint64_t key_hash(const char *address, const char *scope)
{
	return fnv1a_str(fnv1a_byte(fnv1a_str(FNV1A_INIT, address), 0), scope);
}

static size_t rec_size(const struct rec *r)
{
	size_t n = offsetof(struct rec, text) + r->status_off + strlen(r->text + r->status_off) + 1;
	return (n + 7) & ~(size_t)7;
}

static void *chunk_alloc(struct table *t, size_t n)
{
	if (t->chunks == NULL || t->chunks->used + n > CHUNK_SIZE - offsetof(struct chunk, data)) {
		struct chunk *c = xmalloc(CHUNK_SIZE);
		c->next = t->chunks;
		c->used = 0;
		t->chunks = c;
		t->nchunks++;
	}
	void *p = t->chunks->data + t->chunks->used;
	t->chunks->used += n;
	t->used += n;
	return p;
}

/* A record for e in t's chunks; address already lower-cased. */
static struct rec *rec_make(struct table *t, const char *address, const struct suppression *e, uint64_t h)
{
	const char *parts[5] = { address, e->scope, e->qid, e->reason, e->status };
	size_t len[5], total = 0;
	for (int i = 0; i < 5; i++)
		total += (len[i] = strlen(parts[i])) + 1;
	struct rec *r = chunk_alloc(t, (offsetof(struct rec, text) + total + 7) & ~(size_t)7);
	r->first = e->first;
	r->expires = e->expires;
	r->hash = (uint32_t)(h >> 32);
	r->source = 3;
	for (uint8_t i = 0; i < 4; i++)
		if (strcmp(e->source, sources[i]) == 0)
			r->source = i;
	uint16_t *offs[5] = { NULL, &r->scope_off, &r->qid_off, &r->reason_off, &r->status_off };
	size_t at = 0;
	for (int i = 0; i < 5; i++) {
		if (offs[i])
			*offs[i] = (uint16_t)at;
		memcpy(r->text + at, parts[i], len[i] + 1);
		at += len[i] + 1;
	}
	return r;
}

static struct rec *rec_copy(struct table *t, const struct rec *r)
{
	size_t n = rec_size(r);
	struct rec *c = chunk_alloc(t, n);
	memcpy(c, r, n);
	return c;
}

/* The slot of (address, scope) in t, or, when absent, -1 with *free_slot
 * the first empty or removed slot of its probe sequence. */
static long slot_find(const struct table *t, const char *address, const char *scope, uint64_t h, size_t *free_slot)
{
	int have_free = 0;
	for (size_t i = h & t->mask;; i = (i + 1) & t->mask) {
		struct rec *r = t->slots[i];
		if (r == NULL || r == TOMB) {
			if (!have_free && free_slot) {
				*free_slot = i;
				have_free = 1;
			}
			if (r == NULL)
				return -1;
			continue;
		}
		if (r->hash == (uint32_t)(h >> 32) && strcmp(r->text, address) == 0 &&
		    strcmp(r->text + r->scope_off, scope) == 0)
			return (long)i;
	}
}

/* Links r into a fresh index (no tombstones, no duplicates). */
static void slots_place(struct rec **slots, size_t mask, struct rec *r)
{
	size_t i = key_hash(r->text, r->text + r->scope_off) & mask;
	while (slots[i])
		i = (i + 1) & mask;
	slots[i] = r;
}

static size_t slots_for(size_t entries)
{
	size_t n = MIN_SLOTS;
	while (n < entries * 2)
		n *= 2;
	return n;
}

static struct table *table_new(size_t entries)
{
	struct table *t = xcalloc(1, sizeof(*t));
	size_t n = slots_for(entries);
	t->slots = xcalloc(n, sizeof(*t->slots));
	t->mask = n - 1;
	return t;
}

static void table_free(struct table *t)
{
	if (t == NULL)
		return;
	for (struct chunk *c = t->chunks, *next; c; c = next) {
		next = c->next;
		free(c);
	}
	free(t->slots);
	free(t);
}

/* A copy of t's live records, compacted into new chunks and a new index
 * at most half full. */
static struct table *table_compact(const struct table *t)
{
	struct table *n = table_new(t->live);
	for (size_t i = 0; i <= t->mask; i++) {
		struct rec *r = t->slots[i];
		if (r && r != TOMB) {
			slots_place(n->slots, n->mask, rec_copy(n, r));
			n->live++;
		}
	}
	return n;
}

struct suppress_set *suppress_set_new(void)
{
	struct suppress_set *s = xcalloc(1, sizeof(*s));
	pthread_rwlockattr_t a;
	pthread_rwlockattr_init(&a);
	pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&s->lock, &a);
	pthread_rwlockattr_destroy(&a);
	pthread_mutex_init(&s->wmu, NULL);
	s->t = table_new(0);
	return s;
}

void suppress_set_free(struct suppress_set *s)
{
	if (s == NULL)
		return;
	table_free(s->t);
	pthread_rwlock_destroy(&s->lock);
	pthread_mutex_destroy(&s->wmu);
	free(s);
}

/* Swaps in t (readers then see only it) and frees the old table. */
static void table_swap(struct suppress_set *s, struct table *t)
{
	pthread_rwlock_wrlock(&s->lock);
	struct table *old = s->t;
	s->t = t;
	pthread_rwlock_unlock(&s->lock);
	table_free(old);
}

/* Before one more record: a fuller index grows (tombstones go), and
 * chunks more dead than alive are compacted; both built beside the live
 * table.  Under wmu. */
static void make_room(struct suppress_set *s)
{
	struct table *t = s->t;
	if (t->dead > CHUNK_SIZE && t->dead > t->used - t->dead) {
		table_swap(s, table_compact(t));
		return;
	}
	if ((t->live + t->tombs + 1) * 4 <= (t->mask + 1) * 3)
		return;
	size_t n = slots_for(t->live + 1);
	struct rec **slots = xcalloc(n, sizeof(*slots));
	for (size_t i = 0; i <= t->mask; i++)
		if (t->slots[i] && t->slots[i] != TOMB)
			slots_place(slots, n - 1, t->slots[i]);
	pthread_rwlock_wrlock(&s->lock);
	struct rec **old = t->slots;
	t->slots = slots;
	t->mask = n - 1;
	pthread_rwlock_unlock(&s->lock);
	t->tombs = 0;
	free(old);
}

/* put and remove, under wmu. */
static void put_locked(struct suppress_set *s, const struct suppression *e)
{
	char addr[sizeof(e->address)];
	lower_copy(addr, sizeof(addr), e->address);
	uint64_t h = key_hash(addr, e->scope);
	make_room(s);
	struct table *t = s->t;
	size_t free_slot = 0;
	long at = slot_find(t, addr, e->scope, h, &free_slot);
	struct rec *r = rec_make(t, addr, e, h), *old = at >= 0 ? t->slots[at] : NULL;
	size_t i = at >= 0 ? (size_t)at : free_slot;
	int was_tomb = at < 0 && t->slots[i] == TOMB;
	pthread_rwlock_wrlock(&s->lock);
	t->slots[i] = r;
	pthread_rwlock_unlock(&s->lock);
	if (old)
		t->dead += rec_size(old);
	else
		t->live++;
	if (was_tomb)
		t->tombs--;
}

static int remove_locked(struct suppress_set *s, const char *address, const char *scope)
{
	char addr[sizeof(((struct suppression *)0)->address)];
	lower_copy(addr, sizeof(addr), address);
	struct table *t = s->t;
	long at = slot_find(t, addr, scope ? scope : "", key_hash(addr, scope ? scope : ""), NULL);
	if (at < 0)
		return 0;
	struct rec *old = t->slots[at];
	pthread_rwlock_wrlock(&s->lock);
	t->slots[at] = TOMB;
	pthread_rwlock_unlock(&s->lock);
	t->dead += rec_size(old);
	t->live--;
	t->tombs++;
	return 1;
}

void suppress_set_put(struct suppress_set *s, const struct suppression *e)
{
	pthread_mutex_lock(&s->wmu);
	put_locked(s, e);
	pthread_mutex_unlock(&s->wmu);
}

int suppress_set_remove(struct suppress_set *s, const char *address, const char *scope)
{
	pthread_mutex_lock(&s->wmu);
	int rc = remove_locked(s, address, scope);
	pthread_mutex_unlock(&s->wmu);
	return rc;
}

int suppress_set_refresh(struct suppress_set *s, sqlite3 *db, const char *address, const char *scope, time_t now,
			 char *err, size_t errlen)
{
	struct suppression e;
	pthread_mutex_lock(&s->wmu);
	int rc = suppress_get(db, address, scope ? scope : "", now, &e, err, errlen);
	if (rc == 1)
		put_locked(s, &e);
	else if (rc == 0)
		remove_locked(s, address, scope);
	pthread_mutex_unlock(&s->wmu);
	return rc;
}

static void text_col(sqlite3_stmt *st, int col, char *out, size_t outlen)
{
	const unsigned char *v = sqlite3_column_text(st, col);
	size_t n = v ? strlen((const char *)v) : 0;
	if (n >= outlen)
		n = outlen - 1;
	memcpy(out, v ? (const char *)v : "", n);
	out[n] = '\0';
}

/* The live rows of the table into a new table t. */
static int load_rows(struct table *t, sqlite3 *db, time_t now, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	struct suppression e = { 0 };
	if (sqlite3_prepare_v2(db, "SELECT address, scope, reason, source, status, qid, first_event, expires"
			       " FROM suppression WHERE expires = 0 OR expires > ?1", -1, &st, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "suppression: %s", sqlite3_errmsg(db));
		return -1;
	}
	sqlite3_bind_int64(st, 1, (sqlite3_int64)now);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		text_col(st, 0, e.address, sizeof(e.address));
		text_col(st, 1, e.scope, sizeof(e.scope));
		text_col(st, 2, e.reason, sizeof(e.reason));
		text_col(st, 3, e.source, sizeof(e.source));
		text_col(st, 4, e.status, sizeof(e.status));
		text_col(st, 5, e.qid, sizeof(e.qid));
		e.first = (time_t)sqlite3_column_int64(st, 6);
		e.expires = (time_t)sqlite3_column_int64(st, 7);
		char addr[sizeof(e.address)];
		lower_copy(addr, sizeof(addr), e.address);   /* as stored: suppress_put lower-cases */
		if ((t->live + 1) * 4 > (t->mask + 1) * 3) {   /* more rows than counted: grow */
			struct table *g = table_compact(t);
			struct table tmp = *t;
			*t = *g;
			*g = tmp;
			table_free(g);
		}
		slots_place(t->slots, t->mask, rec_make(t, addr, &e, key_hash(addr, e.scope)));
		t->live++;
	}
	if (rc != SQLITE_DONE)
		snprintf(err, errlen, "suppression: %s", sqlite3_errmsg(db));
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

static long count_rows(sqlite3 *db)
{
	sqlite3_stmt *st;
	long n = 0;
	if (sqlite3_prepare_v2(db, "SELECT count(*) FROM suppression", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		n = (long)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

long suppress_set_load(struct suppress_set *s, sqlite3 *db, time_t now, char *err, size_t errlen)
{
	pthread_mutex_lock(&s->wmu);
	int began = sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK;   /* count and rows: one snapshot */
	struct table *t = table_new((size_t)count_rows(db));
	int rc = load_rows(t, db, now, err, errlen);
	if (began)
		sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	long n = (long)t->live;
	if (rc == 0)
		table_swap(s, t);
	else
		table_free(t);
	pthread_mutex_unlock(&s->wmu);
	return rc == 0 ? n : -1;
}

/* The record of (address, scope) live at now, or NULL.  Under the read lock. */
static const struct rec *lookup(const struct table *t, const char *address, const char *scope, time_t now)
{
	long at = slot_find(t, address, scope, key_hash(address, scope), NULL);
	if (at < 0)
		return NULL;
	const struct rec *r = t->slots[at];
	return r->expires == 0 || r->expires > (int64_t)now ? r : NULL;
}

static void copy_text(char *out, size_t outlen, const char *in)
{
	int n = snprintf(out, outlen, "%s", in);
	if (n < 0 || (size_t)n >= outlen)
		out[outlen - 1] = '\0';
}

static void hit_fill(const struct rec *r, struct suppression *hit)
{
	memset(hit, 0, sizeof(*hit));
	copy_text(hit->address, sizeof(hit->address), r->text);
	copy_text(hit->scope, sizeof(hit->scope), r->text + r->scope_off);
	copy_text(hit->qid, sizeof(hit->qid), r->text + r->qid_off);
	copy_text(hit->reason, sizeof(hit->reason), r->text + r->reason_off);
	copy_text(hit->status, sizeof(hit->status), r->text + r->status_off);
	copy_text(hit->source, sizeof(hit->source), sources[r->source]);
	hit->first = hit->last = (time_t)r->first;
	hit->expires = (time_t)r->expires;
	hit->count = 1;
}

int suppress_set_check(struct suppress_set *s, const char *rcpt, const char *sender_domain, const char *user,
		       time_t now, struct suppression *hit)
{
	char addr[sizeof(hit->address)], dom[300], usr[300], d[260];
	lower_copy(addr, sizeof(addr), rcpt);
	lower_copy(d, sizeof(d), sender_domain ? sender_domain : "");
	int n1 = snprintf(dom, sizeof(dom), "domain:%s", d);
	int n2 = snprintf(usr, sizeof(usr), "user:%s", user ? user : "");
	if (n1 < 0 || (size_t)n1 >= sizeof(dom) || n2 < 0 || (size_t)n2 >= sizeof(usr))
		return 0;
	/* the order of suppress_check's "ORDER BY scope": "" < "domain:" < "user:" */
	const char *scopes[3] = { "", dom, usr };
	pthread_rwlock_rdlock(&s->lock);
	const struct rec *r = NULL;
	for (int i = 0; i < 3 && r == NULL; i++)
		r = lookup(s->t, addr, scopes[i], now);
	if (r)
		hit_fill(r, hit);
	pthread_rwlock_unlock(&s->lock);
	return r != NULL;
}

void suppress_set_stats(struct suppress_set *s, struct suppress_set_stats *st)
{
	pthread_mutex_lock(&s->wmu);   /* the counts change only under it */
	st->entries = s->t->live;
	st->bytes = sizeof(*s) + sizeof(*s->t) + s->t->nchunks * CHUNK_SIZE + (s->t->mask + 1) * sizeof(*s->t->slots);
	st->dead_bytes = s->t->dead;
	pthread_mutex_unlock(&s->wmu);
}
