/*
 * auth_throttle: a small table of {address, failures, last failure}, under
 * one mutex (the sessions of every inbound loop count into it).
 * See auth_throttle.h.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xmalloc.h"
#include "inbound/auth_throttle.h"

struct entry {
	char addr[64];
	unsigned failures;
	time_t last;
};

struct auth_throttle {
	pthread_mutex_t mu;
	struct entry *e;             /* under mu */
	size_t n;
};

struct auth_throttle *auth_throttle_new(void)
{
	struct auth_throttle *t = xcalloc(1, sizeof(*t));
	t->e = xcalloc(AUTH_THROTTLE_MAX, sizeof(*t->e));
	pthread_mutex_init(&t->mu, NULL);
	return t;
}

void auth_throttle_free(struct auth_throttle *t)
{
	if (t == NULL)
		return;
	pthread_mutex_destroy(&t->mu);
	free(t->e);
	free(t);
}

static int expired(const struct entry *e, time_t now)
{
	return now - e->last >= AUTH_THROTTLE_WINDOW;
}

static struct entry *find(const struct auth_throttle *t, const char *addr)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->e[i].addr, addr) == 0)
			return &t->e[i];
	return NULL;
}

unsigned auth_throttle_failures(const struct auth_throttle *ct, const char *addr, time_t now)
{
	struct auth_throttle *t = (struct auth_throttle *)ct;   /* only the lock changes */
	pthread_mutex_lock(&t->mu);
	const struct entry *e = find(t, addr);
	unsigned n = e && !expired(e, now) ? e->failures : 0;
	pthread_mutex_unlock(&t->mu);
	return n;
}

/* A slot for a new address: past the end, or the expired or oldest entry. */
static struct entry *slot(struct auth_throttle *t, time_t now)
{
	if (t->n < AUTH_THROTTLE_MAX)
		return &t->e[t->n++];
	struct entry *oldest = &t->e[0];
	for (size_t i = 0; i < t->n; i++) {
		if (expired(&t->e[i], now))
			return &t->e[i];
		if (t->e[i].last < oldest->last)
			oldest = &t->e[i];
	}
	return oldest;
}

unsigned auth_throttle_fail(struct auth_throttle *t, const char *addr, time_t now)
{
	pthread_mutex_lock(&t->mu);
	struct entry *e = find(t, addr);
	if (e == NULL) {
		e = slot(t, now);
		snprintf(e->addr, sizeof(e->addr), "%s", addr);
		e->failures = 0;
	} else if (expired(e, now)) {
		e->failures = 0;
	}
	e->failures++;
	e->last = now;
	unsigned shift = e->failures - 1 < 5 ? e->failures - 1 : 5;
	pthread_mutex_unlock(&t->mu);
	return 250u << shift;    /* 250, 500, 1000, 2000, 4000, 8000 ms */
}

void auth_throttle_success(struct auth_throttle *t, const char *addr)
{
	pthread_mutex_lock(&t->mu);
	struct entry *e = find(t, addr);
	if (e)
		e->failures = 0;
	pthread_mutex_unlock(&t->mu);
}
