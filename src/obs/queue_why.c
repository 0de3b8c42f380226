/*
 * queue_why: the reason a message waits (queue_why.h).
 */
#include "obs/queue_why.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "delivery/provider.h"

static int live_cmp(const void *a, const void *b)
{
	return strcmp(((const struct queue_live *)a)->id, ((const struct queue_live *)b)->id);
}

static int mx_cmp(const void *a, const void *b)
{
	return strcmp(((const struct queue_mx *)a)->domain, ((const struct queue_mx *)b)->domain);
}

void queue_live_sort(struct queue_live_set *live)
{
	if (live->n > 1)
		qsort(live->v, live->n, sizeof(*live->v), live_cmp);
	if (live->nmx > 1)
		qsort(live->mx, live->nmx, sizeof(*live->mx), mx_cmp);
}

void queue_live_free(struct queue_live_set *live)
{
	for (size_t i = 0; i < live->nmx; i++) {
		free(live->mx[i].domain);
		free(live->mx[i].host);
	}
	free(live->mx);
	free(live->v);
	*live = (struct queue_live_set){ NULL, 0, NULL, 0 };
}

int queue_provider(const struct queue_live_set *live, const char *rcpt, char *out, size_t outlen,
		   const char **mx_host)
{
	const char *at = rcpt ? strrchr(rcpt, '@') : NULL;
	char domain[256];
	size_t l = at ? strlen(at + 1) : 0;
	*mx_host = NULL;
	if (live == NULL) {
		snprintf(out, outlen, "unknown (outpostd is not running)");
		return 0;
	}
	if (l && l < sizeof(domain)) {
		for (size_t i = 0; i <= l; i++)
			domain[i] = (char)tolower((unsigned char)at[1 + i]);
		if (l > 1 && domain[l - 1] == '.')
			domain[l - 1] = '\0';
		struct queue_mx key = { domain, NULL };
		const struct queue_mx *m = live->nmx ? bsearch(&key, live->mx, live->nmx, sizeof(*live->mx), mx_cmp)
						     : NULL;
		if (m && provider_of(m->host, out, outlen) == 0) {
			*mx_host = m->host;
			return 1;
		}
	}
	snprintf(out, outlen, "unknown (MX not resolved yet)");
	return 0;
}

static const struct queue_live *live_find(const struct queue_live_set *live, const char *id)
{
	struct queue_live key;
	if (live == NULL || live->n == 0 || id == NULL || strlen(id) > SPOOL_ID_LEN)
		return NULL;
	strcpy(key.id, id);
	return bsearch(&key, live->v, live->n, sizeof(*live->v), live_cmp);
}

/* The first recipient still waiting after a failed attempt, or NULL. */
static const struct spool_admin_rcpt *first_deferred(const struct spool_admin_msg *m)
{
	for (size_t i = 0; i < m->nrcpts; i++)
		if (m->rcpts[i].state.data && strcmp(m->rcpts[i].state.data, "deferred") == 0)
			return &m->rcpts[i];
	return NULL;
}

void queue_why(const struct spool_admin_msg *m, const struct queue_live_set *live, long long now, char *why,
	       size_t len, long long *until)
{
	const struct queue_live *l = live_find(live, m->id.data);
	const struct spool_admin_rcpt *d = first_deferred(m);
	*until = m->next_attempt;
	if (l) {
		snprintf(why, len, "%s", l->reason);
		*until = l->until;
	} else if (d && m->next_attempt > now) {
		snprintf(why, len, "deferred after %lld attempt%s: %s; next retry then", d->attempts,
			 d->attempts == 1 ? "" : "s", d->last_reply.data ? d->last_reply.data : "(no reply)");
	} else if (m->next_attempt > now) {
		snprintf(why, len, "scheduled for later");
	} else if (live) {
		snprintf(why, len, "due now: outpostd has claimed it or takes it next (%s)",
			 d ? "retry" : "first attempt");
	} else {
		snprintf(why, len, "due now, but outpostd is not running to take it");
		*until = SPOOL_ADMIN_NO_TIME;
	}
}
