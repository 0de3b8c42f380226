/*
 * local_dispatch: a table of {pattern, handler}, matched in order.  See
 * local_dispatch.h for the contract.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/glob.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "inbound/local_dispatch.h"

struct local_mailbox {
	char *name;
	char *address;           /* LOCAL_EXACT */
	struct glob glob;        /* LOCAL_GLOB */
	enum local_match how;
	local_mailbox_fn *fn;
	void *arg;
};

struct local_dispatch {
	struct local_mailbox **mb;   /* pointers stay put when the table grows */
	size_t n;
};

struct local_dispatch *local_dispatch_new(void)
{
	return xcalloc(1, sizeof(struct local_dispatch));
}

void local_dispatch_free(struct local_dispatch *ld)
{
	if (ld == NULL)
		return;
	for (size_t i = 0; i < ld->n; i++) {
		struct local_mailbox *mb = ld->mb[i];
		if (mb->how == LOCAL_GLOB)
			glob_free(&mb->glob);
		free(mb->address);
		free(mb->name);
		free(mb);
	}
	free(ld->mb);
	free(ld);
}

int local_dispatch_add(struct local_dispatch *ld, const char *name, const char *pattern,
		       enum local_match how, local_mailbox_fn *fn, void *arg, char *err, size_t errlen)
{
	struct local_mailbox *mb = xcalloc(1, sizeof(*mb));
	char why[200];
	if (how == LOCAL_GLOB && glob_compile(pattern, 1, &mb->glob, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "local mailbox %s: %s", name, why);
		free(mb);
		return -1;
	}
	if (how == LOCAL_EXACT)
		mb->address = xstrdup(pattern);
	mb->name = xstrdup(name);
	mb->how = how;
	mb->fn = fn;
	mb->arg = arg;
	ld->mb = xreallocarray(ld->mb, ld->n + 1, sizeof(*ld->mb));
	ld->mb[ld->n++] = mb;
	return 0;
}

static int matches(const struct local_mailbox *mb, const char *rcpt, const char *lower, long lowerlen)
{
	if (mb->how == LOCAL_EXACT)
		return strcasecmp(mb->address, rcpt) == 0;
	return lowerlen >= 0 && glob_match(&mb->glob, lower, (size_t)lowerlen);
}

const struct local_mailbox *local_dispatch_match(const struct local_dispatch *ld, const char *rcpt)
{
	char lower[1024];
	if (ld == NULL || ld->n == 0)
		return NULL;
	long n = glob_lower(rcpt, lower, sizeof(lower));
	for (size_t i = 0; i < ld->n; i++)
		if (matches(ld->mb[i], rcpt, lower, n))
			return ld->mb[i];
	return NULL;
}

const char *local_mailbox_name(const struct local_mailbox *mb)
{
	return mb->name;
}

/* A single line "2xx ...", "4xx ..." or "5xx ...". */
static int reply_ok(const char *r)
{
	if (!(r[0] == '2' || r[0] == '4' || r[0] == '5') || !isdigit((unsigned char)r[1]) ||
	    !isdigit((unsigned char)r[2]) || (r[3] != ' ' && r[3] != '\0'))
		return 0;
	return strpbrk(r, "\r\n") == NULL;
}

void local_dispatch_deliver(const struct local_mailbox *mb, const struct local_message *m, char *reply,
			    size_t replylen)
{
	char q[300];
	reply[0] = '\0';
	mb->fn(mb->arg, m, reply, replylen);
	if (reply[0] == '\0')
		snprintf(reply, replylen, "250 2.0.0 Ok");
	else if (!reply_ok(reply)) {
		msg_warn("event=local_mailbox_bug qid=%s mailbox=%s reply=%s", m->qid, mb->name,
			 log_quote(q, sizeof(q), reply));
		snprintf(reply, replylen, "451 4.3.0 Local mailbox error, try again later");
	}
	msg_info("event=local_delivery qid=%s mailbox=%s client=%s from=<%s> rcpt=<%s> size=%zu reply=%s",
		 m->qid, mb->name, m->client, m->sender, m->rcpt, m->len, log_quote(q, sizeof(q), reply));
}
