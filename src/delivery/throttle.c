/*
 * throttle: limits, warm-up and back-off as counters in one hash table.
 * Contract in throttle.h.  The decisions made here:
 *
 * Instances are found by a readable key, which is also what
 * throttle_describe() prints and what survives a reload:
 *   "limit domain=gmail.com,googlemail.com value=gmail.com"
 *   "limit mx=*.google.com"                      (shared by all its hosts)
 *   "limit provider=gmail,outlook value=gmail"   (each provider its own)
 *   "backoff route=direct source=203.0.113.5 provider=gmail"
 *   "warmup route=direct source=203.0.113.5 provider=gmail"
 *
 * Rates: a window counts the sends of the last `per` seconds in 60
 * buckets (bounded memory for any N); the spacing of an entry's
 * shortest-period rate is a GCRA (generic cell rate algorithm, RFC 2697's
 * cousin used by ATM and most rate limiters): the next send is due one
 * interval after the last one's due time, with a tolerance of one
 * interval, so a late timer does not lose throughput and at most two go
 * back to back.  Longer-period rates of the same entry are caps only: with
 * "600/min" and "20000/day" mail flows at 10/s until the day's 20000.
 *
 * Back-off: kept per route, source and destination class (the provider of
 * the MX host, or "*" for a relay route, which throttles us as a whole).
 * Every send is also counted there for a minute, so that without a
 * configured rate the cut starts from the rate observed before it.
 */
#include "delivery/throttle.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/glob.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "delivery/provider.h"
#include "delivery/reply_blame.h"

#define NBUCKETS 60
#define MAX_INSTANCES 100000
#define SWEEP_EVERY 60.0            /* seconds between looks for idle instances */
#define OBSERVE_PER 60              /* back-off: the window of the observed rate */
#define RECOVER_FACTOR 1.5
#define MIN_WAIT 0.001              /* a wait is never reported as 0 */

enum unit { U_S, U_MIN, U_H, U_DAY, NUNITS };
static const unsigned unit_secs[NUNITS] = { 1, 60, 3600, 86400 };
static const char *const unit_names[NUNITS] = { "s", "min", "h", "day" };

/* Sends in the last `per` seconds, in NBUCKETS buckets of per/NBUCKETS. */
struct window {
	double width;
	long long head;              /* index of the newest bucket: floor(now / width) */
	unsigned count[NBUCKETS];
	unsigned long total;
};

enum inst_kind { I_LIMIT, I_BACKOFF, I_WARMUP };

struct inst {
	char *key;
	struct inst *next;           /* hash chain */
	enum inst_kind kind;
	double last;                 /* last use, for expiry */
	double hold;                 /* kept this long after the last use */
	unsigned conns;              /* limit: connections open */
	double tat;                  /* limit, back-off: the GCRA's theoretical arrival time */
	struct window *win[NUNITS];  /* limit: per unit in use; back-off: [U_MIN] observed */
	double rate;                 /* back-off: allowed messages/s; 0 when not cut */
	double target;               /* back-off: recover up to this */
	double step_at;              /* back-off: next recovery step */
	unsigned sent_since_cut, cuts;
	long long period;            /* warm-up: the period counted */
	unsigned long wsent;         /* warm-up: sent in that period */
	double wcap;                 /* warm-up: its cap, for describe */
};

/* The first time a warm-up without `begin` was seen: its day 0. */
struct route_start {
	char *route;
	double begin;
};

struct throttle {
	const struct config *cf;
	char **prefix;               /* per cf->limits: "limit domain=a,b" */
	struct inst **tab;
	size_t size, n;
	double next_sweep;
	int full_warned;
	struct route_start *starts;
	size_t nstarts;
};

/* ---- windows ---- */

static enum unit unit_of(unsigned per)
{
	for (int u = 0; u < NUNITS; u++)
		if (unit_secs[u] == per)
			return (enum unit)u;
	return U_DAY;                /* config_parse_rate gives no other */
}

/* Times are positive (Unix time), so a cast is floor(). */
static struct window *window_new(unsigned per, double now)
{
	struct window *w = xcalloc(1, sizeof(*w));
	w->width = (double)per / NBUCKETS;
	w->head = (long long)(now / w->width);
	return w;
}

/* Drops the buckets that left the window by now. */
static void window_advance(struct window *w, double now)
{
	long long b = (long long)(now / w->width);
	if (b <= w->head)
		return;                  /* same bucket, or the clock stepped back: keep counting */
	for (long long i = w->head + 1; i <= b && i <= w->head + NBUCKETS; i++) {
		w->total -= w->count[i % NBUCKETS];
		w->count[i % NBUCKETS] = 0;
	}
	w->head = b;
}

static void window_add(struct window *w, double now)
{
	window_advance(w, now);
	w->count[w->head % NBUCKETS]++;
	w->total++;
}

/* Takes back a send counted at time `at`, if its bucket is still in the
 * window (a send that left the window has nothing to give back). */
static void window_remove(struct window *w, double at, double now)
{
	window_advance(w, now);
	long long b = (long long)(at / w->width);
	unsigned *c = &w->count[((b % NBUCKETS) + NBUCKETS) % NBUCKETS];
	if (b > w->head - NBUCKETS && b <= w->head && *c > 0) {
		(*c)--;
		w->total--;
	}
}

/* Seconds until fewer than limit sends are in the window (0: now). */
static double window_wait(struct window *w, double now, unsigned limit)
{
	window_advance(w, now);
	unsigned long left = w->total;
	for (long long i = w->head - NBUCKETS + 1; i <= w->head && left >= limit; i++) {
		left -= w->count[((i % NBUCKETS) + NBUCKETS) % NBUCKETS];
		if (left < limit)
			return (double)(i + NBUCKETS) * w->width - now;
	}
	return 0;
}

/* ---- instances ---- */

static uint64_t hash_key(const char *s)
{
	return fnv1a_str(FNV1A_INIT, s);
}

static void inst_free(struct inst *in)
{
	for (int u = 0; u < NUNITS; u++)
		free(in->win[u]);
	free(in->key);
	free(in);
}

static void table_grow(struct throttle *t)
{
	size_t size = t->size ? t->size * 2 : 256;
	struct inst **tab = xcalloc(size, sizeof(*tab));
	for (size_t i = 0; i < t->size; i++) {
		for (struct inst *in = t->tab[i], *next; in; in = next) {
			next = in->next;
			size_t h = hash_key(in->key) & (size - 1);
			in->next = tab[h];
			tab[h] = in;
		}
	}
	free(t->tab);
	t->tab = tab;
	t->size = size;
}

/* The instance named key; made when create is set (NULL when the table is full). */
static struct inst *inst_get(struct throttle *t, const char *key, enum inst_kind kind, int create, double now)
{
	if (t->size) {
		for (struct inst *in = t->tab[hash_key(key) & (t->size - 1)]; in; in = in->next)
			if (strcmp(in->key, key) == 0)
				return in;
	}
	if (!create)
		return NULL;
	if (t->n >= MAX_INSTANCES) {
		if (!t->full_warned)
			msg_warn("event=throttle_full instances=%zu reason=\"too many limit instances; new ones "
				 "are not enforced\"", t->n);
		t->full_warned = 1;
		return NULL;
	}
	if (t->n >= t->size)
		table_grow(t);
	struct inst *in = xcalloc(1, sizeof(*in));
	in->key = xstrdup(key);
	in->kind = kind;
	in->last = now;
	in->period = -1;
	size_t h = hash_key(key) & (t->size - 1);
	in->next = t->tab[h];
	t->tab[h] = in;
	t->n++;
	return in;
}

static int inst_idle(const struct inst *in, double now)
{
	return in->conns == 0 && in->rate == 0 && in->tat <= now && now - in->last > in->hold;
}

/* Drops idle instances, at most once per SWEEP_EVERY. */
static void sweep(struct throttle *t, double now)
{
	if (now < t->next_sweep)
		return;
	t->next_sweep = now + SWEEP_EVERY;
	for (size_t i = 0; i < t->size; i++) {
		for (struct inst **p = &t->tab[i]; *p;) {
			struct inst *in = *p;
			if (inst_idle(in, now)) {
				*p = in->next;
				inst_free(in);
				t->n--;
			} else {
				p = &in->next;
			}
		}
	}
	if (t->n < MAX_INSTANCES)
		t->full_warned = 0;
}

/* ---- limits ---- */

static void make_prefixes(struct throttle *t)
{
	const struct config *cf = t->cf;
	t->prefix = cf->nlimits ? xcalloc(cf->nlimits, sizeof(char *)) : NULL;
	for (size_t i = 0; i < cf->nlimits; i++) {
		const struct limit_conf *l = &cf->limits[i];
		struct buf b = BUF_INIT;
		buf_printf(&b, "limit %s=", str_name_code(limit_selector_names, (int)l->selector));
		for (size_t k = 0; k < l->nmatch; k++)
			buf_printf(&b, "%s%s", k ? "," : "", l->match[k].text);
		t->prefix[i] = buf_steal(&b, NULL);
	}
}

static void free_prefixes(struct throttle *t)
{
	for (size_t i = 0; t->prefix && i < t->cf->nlimits; i++)
		free(t->prefix[i]);
	free(t->prefix);
	t->prefix = NULL;
}

static void dest_class(const struct throttle *t, const struct throttle_key *k, char *out, size_t outlen);

/* The value of k that l selects on, lowercased into v (without a final
 * dot); 0 when l matches it, -1 when not (or k has no such value).  A
 * provider is k's destination class, as warm-up and back-off count it. */
static int limit_matches(const struct throttle *t, const struct limit_conf *l, const struct throttle_key *k,
			 char *v, size_t vlen)
{
	char dc[256];
	const char *s = l->selector == LIMIT_DOMAIN ? k->domain : l->selector == LIMIT_MX ? k->mx_host :
			l->selector == LIMIT_ROUTE ? k->route : l->selector == LIMIT_SOURCE ? k->source : dc;
	long n;
	if (l->selector == LIMIT_PROVIDER)
		dest_class(t, k, dc, sizeof(dc));
	if (s == NULL || *s == '\0' || (n = glob_lower(s, v, vlen)) < 0)
		return -1;
	if (n > 1 && v[n - 1] == '.')
		v[--n] = '\0';
	for (size_t i = 0; i < l->nmatch; i++)
		if (glob_match(&l->match[i], v, (size_t)n))
			return 0;
	return -1;
}

/* The instance of limit i for k, or NULL when i does not apply to k. */
static struct inst *limit_inst(struct throttle *t, size_t i, const struct throttle_key *k, int create,
			       double now)
{
	const struct limit_conf *l = &t->cf->limits[i];
	char v[256];
	if (limit_matches(t, l, k, v, sizeof(v)) < 0)
		return NULL;
	struct buf key = BUF_INIT;
	buf_puts(&key, t->prefix[i]);
	if (l->selector != LIMIT_MX)
		buf_printf(&key, " value=%s", v);
	struct inst *in = inst_get(t, key.data, I_LIMIT, create, now);
	buf_free(&key);
	return in;
}

/* Seconds until l's rates allow one more send (0: now). */
static double limit_wait(const struct limit_conf *l, struct inst *in, double now)
{
	double wait = 0;
	for (size_t r = 0; r < l->nrates; r++) {
		enum unit u = unit_of(l->rates[r].per);
		if (in->win[u] == NULL)
			in->win[u] = window_new(l->rates[r].per, now);
		double w = window_wait(in->win[u], now, l->rates[r].count);
		wait = w > wait ? w : wait;
	}
	if (l->nrates) {
		double interval = (double)l->rates[0].per / l->rates[0].count;
		double w = in->tat - interval - now;   /* tolerance: one interval */
		wait = w > wait ? w : wait;
	}
	return wait;
}

static void limit_count(const struct limit_conf *l, struct inst *in, double now)
{
	for (size_t r = 0; r < l->nrates; r++) {
		struct window *w = in->win[unit_of(l->rates[r].per)];
		window_add(w, now);
		if ((double)l->rates[r].per > in->hold)
			in->hold = l->rates[r].per;
	}
	if (l->nrates) {
		double interval = (double)l->rates[0].per / l->rates[0].count;
		in->tat = (in->tat > now ? in->tat : now) + interval;
	}
	in->last = now;
}

/* Gives back what limit_count() took at time `at`: its place in each
 * window and its spacing (the GCRA's arrival time moves back one interval). */
static void limit_uncount(const struct limit_conf *l, struct inst *in, double at, double now)
{
	for (size_t r = 0; r < l->nrates; r++) {
		struct window *w = in->win[unit_of(l->rates[r].per)];
		if (w)
			window_remove(w, at, now);
	}
	if (l->nrates)
		in->tat -= (double)l->rates[0].per / l->rates[0].count;
}

/* The rate (messages/s) the limits that apply to k allow: the slowest of
 * their shortest-period rates; 0 when none has a rate. */
static double configured_rate(const struct throttle *t, const struct throttle_key *k)
{
	double rate = 0;
	char v[256];
	for (size_t i = 0; i < t->cf->nlimits; i++) {
		const struct limit_conf *l = &t->cf->limits[i];
		if (l->nrates == 0 || limit_matches(t, l, k, v, sizeof(v)) < 0)
			continue;
		double r = (double)l->rates[0].count / l->rates[0].per;
		if (rate == 0 || r < rate)
			rate = r;
	}
	return rate;
}

/* ---- destination classes, back-off, warm-up ---- */

static const struct route_conf *route_named(const struct config *cf, const char *name)
{
	for (size_t i = 0; name && i < cf->nroutes; i++)
		if (strcmp(cf->routes[i].name, name) == 0)
			return &cf->routes[i];
	return NULL;
}

/* The receiving provider of k: of its MX host when known, else of its domain. */
static void dest_class(const struct throttle *t, const struct throttle_key *k, char *out, size_t outlen)
{
	const struct route_conf *r = route_named(t->cf, k->route);
	if ((r && r->type == ROUTE_RELAY) ||
	    provider_of(k->mx_host ? k->mx_host : k->domain, out, outlen) < 0)
		snprintf(out, outlen, "*");
}

/* "backoff route=R source=S provider=P" (or warmup ...) for k. */
static void path_key(const struct throttle *t, const char *kind, const struct throttle_key *k, struct buf *key)
{
	char dc[256];
	dest_class(t, k, dc, sizeof(dc));
	buf_printf(key, "%s route=%s source=%s provider=%s", kind, k->route ? k->route : "-",
		   k->source ? k->source : "-", dc);
}

static struct inst *path_inst(struct throttle *t, enum inst_kind kind, const struct throttle_key *k,
			      int create, double now)
{
	struct buf key = BUF_INIT;
	path_key(t, kind == I_BACKOFF ? "backoff" : "warmup", k, &key);
	struct inst *in = inst_get(t, key.data, kind, create, now);
	buf_free(&key);
	return in;
}

static double floor_rate(const struct throttle *t)
{
	const struct rate_conf *f = &t->cf->delivery.backoff.floor;
	return f->count && f->per ? (double)f->count / f->per : 1.0 / 60;
}

/* "600/min"-style text of a rate in messages/s. */
static const char *rate_text(double r, char *out, size_t outlen)
{
	if (r >= 1)
		snprintf(out, outlen, "%.3g/s", r);
	else if (r * 60 >= 1)
		snprintf(out, outlen, "%.3g/min", r * 60);
	else
		snprintf(out, outlen, "%.3g/h", r * 3600);
	return out;
}

/* Applies the recovery steps due by now; leaves back-off at the target. */
static void backoff_recover(const struct throttle *t, struct inst *b, double now)
{
	unsigned cooldown = t->cf->delivery.backoff.cooldown;
	char r1[32];
	while (b->rate > 0 && now >= b->step_at) {
		b->rate *= RECOVER_FACTOR;
		b->step_at += cooldown;
		if (b->rate >= b->target) {
			b->rate = 0;
			msg_info("event=backoff_end %s rate=%s", b->key + strlen("backoff "),
				 rate_text(b->target, r1, sizeof(r1)));
		}
	}
}

/* Day (or hour) d of k's warm-up and its cap; 0 when k's route has none
 * or the cap is past max. */
static int warmup_state(struct throttle *t, const struct throttle_key *k, double now, long long *d,
			double *cap, double *next)
{
	const struct route_conf *r = route_named(t->cf, k->route);
	if (r == NULL || !r->warmup.set)
		return 0;
	const struct warmup_conf *w = &r->warmup;
	double begin = (double)w->begin;
	if (w->begin == 0) {
		size_t i;
		for (i = 0; i < t->nstarts && strcmp(t->starts[i].route, r->name) != 0; i++)
			;
		if (i == t->nstarts) {
			t->starts = xreallocarray(t->starts, t->nstarts + 1, sizeof(*t->starts));
			t->starts[t->nstarts++] = (struct route_start){ xstrdup(r->name), now };
			msg_info("event=warmup_begin route=%s start=%u growth=%g per=%us", r->name, w->start,
				 w->growth, w->per);
		}
		begin = t->starts[i].begin;
	}
	*d = now > begin ? (long long)((now - begin) / w->per) : 0;
	*cap = w->start;
	for (long long i = 0; i < *d && *cap < 1e15; i++)
		*cap *= w->growth;               /* start * growth^d, without libm */
	*next = begin + (double)(*d + 1) * w->per - now;
	return !(w->max && *cap > w->max) && *cap < 1e15;
}

/* ---- the API ---- */

struct throttle *throttle_new(const struct config *cf)
{
	struct throttle *t = xcalloc(1, sizeof(*t));
	t->cf = cf;
	make_prefixes(t);
	return t;
}

void throttle_reload(struct throttle *t, const struct config *cf)
{
	free_prefixes(t);
	t->cf = cf;
	make_prefixes(t);
}

void throttle_free(struct throttle *t)
{
	if (t == NULL)
		return;
	free_prefixes(t);
	for (size_t i = 0; i < t->size; i++)
		for (struct inst *in = t->tab[i], *next; in; in = next) {
			next = in->next;
			inst_free(in);
		}
	free(t->tab);
	for (size_t i = 0; i < t->nstarts; i++)
		free(t->starts[i].route);
	free(t->starts);
	free(t);
}

int throttle_conn_open(struct throttle *t, const struct throttle_key *k, double now)
{
	struct inst *in;
	sweep(t, now);
	for (size_t i = 0; i < t->cf->nlimits; i++)
		if (t->cf->limits[i].connections && (in = limit_inst(t, i, k, 1, now)) != NULL &&
		    in->conns >= t->cf->limits[i].connections)
			return 0;
	for (size_t i = 0; i < t->cf->nlimits; i++)
		if (t->cf->limits[i].connections && (in = limit_inst(t, i, k, 1, now)) != NULL) {
			in->conns++;
			in->last = now;
		}
	return 1;
}

void throttle_conn_close(struct throttle *t, const struct throttle_key *k)
{
	struct inst *in;
	for (size_t i = 0; i < t->cf->nlimits; i++)
		if (t->cf->limits[i].connections && (in = limit_inst(t, i, k, 0, 0)) != NULL && in->conns)
			in->conns--;
}

double throttle_message(struct throttle *t, const struct throttle_key *k, unsigned sent, double now)
{
	const struct config *cf = t->cf;
	double wait = 0;
	struct inst *in;
	sweep(t, now);
	for (size_t i = 0; i < cf->nlimits; i++) {
		const struct limit_conf *l = &cf->limits[i];
		char v[256];
		if (l->messages_per_connection && sent >= l->messages_per_connection &&
		    limit_matches(t, l, k, v, sizeof(v)) == 0)
			return -1;
	}
	for (size_t i = 0; i < cf->nlimits; i++) {
		if (cf->limits[i].nrates && (in = limit_inst(t, i, k, 1, now)) != NULL) {
			double w = limit_wait(&cf->limits[i], in, now);
			wait = w > wait ? w : wait;
		}
	}
	struct inst *b = path_inst(t, I_BACKOFF, k, 1, now);
	if (b && b->rate > 0) {
		backoff_recover(t, b, now);
		double w = b->rate > 0 ? b->tat - 1 / b->rate - now : 0;
		wait = w > wait ? w : wait;
	}
	if (wait > 0)
		return wait > MIN_WAIT ? wait : MIN_WAIT;
	for (size_t i = 0; i < cf->nlimits; i++)
		if (cf->limits[i].nrates && (in = limit_inst(t, i, k, 0, now)) != NULL)
			limit_count(&cf->limits[i], in, now);
	if (b) {
		if (b->win[U_MIN] == NULL)
			b->win[U_MIN] = window_new(OBSERVE_PER, now);
		window_add(b->win[U_MIN], now);
		b->hold = OBSERVE_PER;
		b->last = now;
		if (b->rate > 0) {
			b->tat = (b->tat > now ? b->tat : now) + 1 / b->rate;
			b->sent_since_cut++;
		}
	}
	long long d;
	double cap, next;
	if (warmup_state(t, k, now, &d, &cap, &next) && (in = path_inst(t, I_WARMUP, k, 1, now)) != NULL) {
		if (in->period != d) {
			in->period = d;
			in->wsent = 0;
		}
		in->wsent++;
		in->wcap = cap;
		in->last = now;
		in->hold = next;
	}
	return 0;
}

double throttle_warmup_full(struct throttle *t, const struct throttle_key *k, double now)
{
	long long d;
	double cap, next;
	if (!warmup_state(t, k, now, &d, &cap, &next))
		return 0;
	struct inst *in = path_inst(t, I_WARMUP, k, 0, now);
	unsigned long sent = in && in->period == d ? in->wsent : 0;
	if (sent < (unsigned long)cap)
		return 0;
	return next > MIN_WAIT ? next : MIN_WAIT;
}

void throttle_release(struct throttle *t, const struct throttle_key *k, double counted_at, double now)
{
	const struct config *cf = t->cf;
	struct inst *in;
	for (size_t i = 0; i < cf->nlimits; i++)
		if (cf->limits[i].nrates && (in = limit_inst(t, i, k, 0, now)) != NULL)
			limit_uncount(&cf->limits[i], in, counted_at, now);
	long long d;
	double cap, next;
	if (!warmup_state(t, k, counted_at, &d, &cap, &next))
		return;
	in = path_inst(t, I_WARMUP, k, 0, now);
	if (in && in->period == d && in->wsent > 0)
		in->wsent--;
}

void throttle_note_reply(struct throttle *t, const struct throttle_key *k, int code, const char *enh,
			 const char *text, double now)
{
	const char *where;
	char r1[32], r2[32];
	if (reply_blame(code, enh, text, &where) != BLAME_THROTTLE)
		return;
	struct inst *b = path_inst(t, I_BACKOFF, k, 1, now);
	if (b == NULL)
		return;
	unsigned cooldown = t->cf->delivery.backoff.cooldown;
	backoff_recover(t, b, now);
	b->last = now;
	if (b->rate > 0 && b->sent_since_cut == 0) {
		b->step_at = now + cooldown;     /* about mail sent before the cut: hold, do not cut again */
		return;
	}
	double floor_r = floor_rate(t), configured = configured_rate(t, k);
	double observed = 0;
	if (b->win[U_MIN]) {
		window_advance(b->win[U_MIN], now);
		observed = (double)b->win[U_MIN]->total / OBSERVE_PER;
	}
	if (b->rate == 0) {
		b->target = configured > 0 ? configured : observed > floor_r ? observed : floor_r;
		b->rate = b->target;
	}
	b->rate = b->rate / 2 > floor_r ? b->rate / 2 : floor_r;
	b->sent_since_cut = 0;
	b->cuts++;
	b->step_at = now + cooldown;
	b->tat = now + 2 / b->rate;          /* with the tolerance: the next send waits one new interval */
	msg_info("event=backoff %s rate=%s target=%s cooldown=%us pattern=%s", b->key + strlen("backoff "),
		 rate_text(b->rate, r1, sizeof(r1)), rate_text(b->target, r2, sizeof(r2)), cooldown, where);
}

/* The limit entry whose instance in is, or NULL (gone by a reload). */
static const struct limit_conf *limit_of(const struct throttle *t, const struct inst *in)
{
	for (size_t i = 0; i < t->cf->nlimits; i++) {
		size_t pl = strlen(t->prefix[i]);
		if (strncmp(in->key, t->prefix[i], pl) == 0 && (in->key[pl] == '\0' || in->key[pl] == ' '))
			return &t->cf->limits[i];
	}
	return NULL;
}

static void describe_limit(const struct throttle *t, const struct inst *in, struct buf *out, double now)
{
	const struct limit_conf *l = limit_of(t, in);
	buf_puts(out, in->key);
	if (l && l->connections)
		buf_printf(out, " connections=%u/%u", in->conns, l->connections);
	for (size_t r = 0; l && r < l->nrates; r++) {
		struct window *w = in->win[unit_of(l->rates[r].per)];
		unsigned long n = 0;
		if (w) {
			/* count without advancing (describe does not change state) */
			long long b = (long long)(now / w->width);
			for (long long i = b - NBUCKETS + 1; i <= b; i++)
				if (i > w->head - NBUCKETS && i <= w->head)
					n += w->count[((i % NBUCKETS) + NBUCKETS) % NBUCKETS];
		}
		buf_printf(out, " sent_%s=%lu/%u", unit_names[unit_of(l->rates[r].per)], n, l->rates[r].count);
	}
	if (l == NULL)
		buf_puts(out, " (no longer configured)");
	buf_putc(out, '\n');
}

static int key_cmp(const void *a, const void *b)
{
	return strcmp((*(struct inst *const *)a)->key, (*(struct inst *const *)b)->key);
}

void throttle_describe(const struct throttle *t, struct buf *out, double now)
{
	char r1[32], r2[32];
	struct inst **all = xcalloc(t->n ? t->n : 1, sizeof(*all));
	size_t n = 0;
	for (size_t i = 0; i < t->size; i++)
		for (struct inst *in = t->tab[i]; in; in = in->next)
			all[n++] = in;
	qsort(all, n, sizeof(*all), key_cmp);
	for (size_t i = 0; i < n; i++) {
		const struct inst *in = all[i];
		if (in->kind == I_LIMIT)
			describe_limit(t, in, out, now);
		else if (in->kind == I_BACKOFF && in->rate > 0)
			buf_printf(out, "%s rate=%s target=%s cuts=%u next_step_in=%.0fs\n", in->key,
				   rate_text(in->rate, r1, sizeof(r1)), rate_text(in->target, r2, sizeof(r2)),
				   in->cuts, in->step_at > now ? in->step_at - now : 0);
		else if (in->kind == I_WARMUP)
			buf_printf(out, "%s period=%lld sent=%lu/%.0f\n", in->key, in->period, in->wsent, in->wcap);
	}
	free(all);
}
