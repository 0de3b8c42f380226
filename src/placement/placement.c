/*
 * placement: rounds of probes and the IMAP look at each seed (see
 * placement.h).  A round: send (probe per route and seed, MX lookups for
 * the providers), wait, then one IMAP session per seed, driven step by
 * step by sess_next() from each finished libcurl transfer, then the
 * results are logged and stored.
 */
#include "placement/placement.h"

#include <event2/event.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/curl_ev.h"
#include "core/log.h"
#include "core/worker.h"
#include "core/xmalloc.h"
#include "delivery/provider.h"
#include "dns/resolver.h"
#include "mailauth/dkim.h"
#include "obs/obs.h"
#include "placement/imap_resp.h"
#include "placement/placement_store.h"
#include "spool/spool.h"

#define FIRST_ROUND_SECS 2      /* after start: let routes come up */
#define OUT_MAX (8u << 20)      /* an IMAP answer larger than this is refused */
#define MAX_UIDS 256

enum result { R_PENDING, R_INBOX, R_SPAM, R_MISSING, R_ERROR };
static const char *const result_names[] = { "pending", "inbox", "spam", "missing", "error" };

/* A probe's commit, shared with the spool's callback (which may come
 * after the round or the placement is gone). */
struct commit {
	int refs;
	int failed;
	char reason[200];
	void (*kick)(void *);       /* NULL once the owner is gone */
	void *kick_arg;
};

struct probe {
	size_t seed;
	char route[128];
	char token[64];
	char qid[SPOOL_ID_LEN + 1];
	enum result result;
	char folder[256];
	char detail[300];
	struct commit *commit;
};

/* What is known of a seed beyond its config. */
struct seedinfo {
	struct placement *p;
	char provider[64];
	struct resolver_query *mxq;     /* in flight */
};

enum step { ST_CAPA, ST_LIST, ST_SEARCH, ST_SWEEP, ST_STORE, ST_EXPUNGE, ST_CLOSE };

/* The IMAP session with the seed being looked at. */
struct sess {
	size_t seed;
	enum step step;
	CURL *easy;
	struct buf out;
	char errbuf[CURL_ERROR_SIZE];
	int uidplus;
	char *junk;                 /* the junk folder's name, or NULL */
	int folder;                 /* 0: INBOX, 1: the junk folder */
	size_t probe;               /* the probe being searched for */
	uint32_t uids[MAX_UIDS];    /* found in this folder, to delete */
	size_t nuids;
	int swept;                  /* this folder's earlier probes were looked for */
	int failed;
};

struct placement {
	struct event_base *base;
	const struct config *cf;
	struct spool *sp;
	struct resolver *res;
	const struct dkim_signer *sg;
	void (*kick)(void *);
	void *kick_arg;
	struct event *round_timer, *look_timer;
	struct curl_ev *cev;
	struct worker_pool *wp;
	struct probe *probes;
	size_t nprobes;
	struct seedinfo *seeds;         /* per seed of the config */
	int looking;
	struct sess s;
};

/* --- the spool's side of a probe ---------------------------------------- */

static void commit_unref(struct commit *c)
{
	if (--c->refs == 0)
		free(c);
}

static void probe_committed(void *arg, int ok, const char *reason)
{
	struct commit *c = arg;
	if (!ok) {
		c->failed = 1;
		snprintf(c->reason, sizeof(c->reason), "not queued: %s", reason);
	} else if (c->kick) {
		c->kick(c->kick_arg);
	}
	commit_unref(c);
}

static void probes_clear(struct placement *p)
{
	for (size_t i = 0; i < p->nprobes; i++)
		if (p->probes[i].commit) {
			p->probes[i].commit->kick = NULL;
			commit_unref(p->probes[i].commit);
		}
	free(p->probes);
	p->probes = NULL;
	p->nprobes = 0;
}

/* --- sending -------------------------------------------------------------- */

/* The domain the probes come From: the first DKIM key's that signs
 * outpost's own mail (a tenant's key signs only that tenant's). */
static const char *sending_domain(const struct config *cf)
{
	for (size_t i = 0; i < cf->ndkim; i++)
		if (cf->dkim[i].tenant == NULL)
			return cf->dkim[i].domain;
	return cf->dkim[0].domain;
}

static char *probe_text(const struct placement *p, const struct probe *pr, size_t *len)
{
	const struct placement_seed *sd = &p->cf->placement.seeds[pr->seed];
	struct buf b = BUF_INIT;
	char date[64];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	if (strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm) == 0)
		date[0] = '\0';
	buf_printf(&b, "From: outpost placement probe <outpost-placement@%s>\r\n", sending_domain(p->cf));
	buf_printf(&b, "To: <%s>\r\n", sd->address);
	buf_printf(&b, "Subject: Delivery check %s\r\n", pr->token);
	buf_printf(&b, "Date: %s\r\n", date);
	buf_printf(&b, "Message-ID: <%s.placement@%s>\r\n", pr->token, p->cf->hostname);
	buf_puts(&b, "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n");
	buf_printf(&b, PLACEMENT_FIELD ": %s\r\n\r\n", pr->token);
	buf_printf(&b, "Hello,\r\n\r\nthis message checks where mail sent by %s through its route %s "
		   "lands in this mailbox.\r\nIt is deleted automatically within minutes; there is "
		   "nothing to do.\r\n\r\nReference: %s\r\n", sending_domain(p->cf), pr->route, pr->token);
	return buf_steal(&b, len);
}

static void probe_fail(struct probe *pr, const char *what, const char *why)
{
	pr->result = R_ERROR;
	snprintf(pr->detail, sizeof(pr->detail), "%s: %s", what, why);
	msg_warn("event=placement_failed route=%s token=%s reason=\"%s\"", pr->route, pr->token, pr->detail);
}

static void send_probe(struct placement *p, struct probe *pr)
{
	const struct placement_seed *sd = &p->cf->placement.seeds[pr->seed];
	struct spool_msg *m = xcalloc(1, sizeof(*m));
	struct buf sigs = BUF_INIT;
	char info[300], err[256];
	size_t len;
	spool_id_new(m->id);
	snprintf(pr->qid, sizeof(pr->qid), "%s", m->id);
	char *text = probe_text(p, pr, &len);
	if (dkim_signer_sign(p->sg, text, len, m->id, &sigs, info, sizeof(info), err, sizeof(err)) != 1) {
		probe_fail(pr, "not signed", dkim_signer_nkeys(p->sg) ? err : "no DKIM key");
		free(text);
		buf_free(&sigs);
		spool_msg_free(m);
		return;
	}
	buf_append(&sigs, text, len);
	free(text);
	m->body = buf_steal(&sigs, &m->body_len);
	m->sender = xasprintf("outpost-placement@%s", sending_domain(p->cf));
	m->rcpts = xcalloc(1, sizeof(char *));
	m->rcpts[0] = xstrdup(sd->address);
	m->nrcpts = 1;
	m->client_addr = xstrdup("local");
	m->client_helo = xstrdup("placement");
	m->route = xstrdup(pr->route);
	pr->commit = xcalloc(1, sizeof(*pr->commit));
	*pr->commit = (struct commit){ 2, 0, "", p->kick, p->kick_arg };   /* the probe's and the spool's */
	msg_info("event=placement_sent qid=%s route=%s seed=<%s> token=%s %s", m->id, pr->route, sd->address,
		 pr->token, info);
	spool_commit(p->sp, m, probe_committed, pr->commit);
}

static void make_token(char *out, size_t outlen)
{
	unsigned char r[8];
	if (RAND_bytes(r, sizeof(r)) != 1)
		msg_fatal("event=placement_error reason=\"no random bytes\"");
	int n = snprintf(out, outlen, "op%08lx", (unsigned long)time(NULL));
	for (size_t i = 0; i < sizeof(r) && n > 0 && (size_t)n + 2 < outlen; i++)
		n += snprintf(out + n, outlen - (size_t)n, "%02x", r[i]);
}

/* The provider of the seed: its best MX host's, else its domain's. */
static void on_mx(const struct dns_result *res, void *arg)
{
	struct seedinfo *si = arg;
	const struct dns_mx *best = NULL;
	si->mxq = NULL;
	for (size_t i = 0; res->rcode == DNS_RCODE_NOERROR && i < res->n; i++)
		if (strcmp(res->mx[i].host, ".") != 0 && (best == NULL || res->mx[i].pref < best->pref))
			best = &res->mx[i];
	if (best)
		provider_of(best->host, si->provider, sizeof(si->provider));
}

static void lookup_providers(struct placement *p)
{
	for (size_t i = 0; i < p->cf->placement.nseeds; i++) {
		struct seedinfo *si = &p->seeds[i];
		const char *domain = strrchr(p->cf->placement.seeds[i].address, '@') + 1;
		if (provider_of(domain, si->provider, sizeof(si->provider)) < 0)
			snprintf(si->provider, sizeof(si->provider), "-");
		if (si->mxq == NULL)
			si->mxq = resolver_query(p->res, domain, DNS_TYPE_MX, on_mx, si);
	}
}

static void cancel_lookups(struct placement *p)
{
	for (size_t i = 0; i < p->cf->placement.nseeds; i++)
		if (p->seeds[i].mxq) {
			resolver_cancel(p->seeds[i].mxq);
			p->seeds[i].mxq = NULL;
		}
}

static void on_round(evutil_socket_t fd, short what, void *arg)
{
	struct placement *p = arg;
	const struct placement_conf *pc = &p->cf->placement;
	struct timeval next = { (time_t)pc->interval, 0 }, wait = { (time_t)pc->wait, 0 };
	(void)fd;
	(void)what;
	evtimer_add(p->round_timer, &next);
	if (p->looking) {
		msg_warn("event=placement_skipped reason=\"the last round's mailboxes are still being looked at\"");
		return;
	}
	probes_clear(p);
	p->probes = xcalloc(p->cf->nroutes * pc->nseeds + 1, sizeof(*p->probes));
	for (size_t r = 0; r < p->cf->nroutes; r++)
		for (size_t i = 0; i < pc->nseeds; i++) {
			struct probe *pr = &p->probes[p->nprobes++];
			pr->seed = i;
			snprintf(pr->route, sizeof(pr->route), "%s", p->cf->routes[r].name);
			make_token(pr->token, sizeof(pr->token));
			send_probe(p, pr);
		}
	lookup_providers(p);
	evtimer_add(p->look_timer, &wait);
}

/* --- recording ------------------------------------------------------------ */

struct store_job {
	char *spool;
	unsigned keep;
	struct placement_result *rows;
	size_t n;
	char err[300];
	int rc;
};

static void store_run(void *arg)
{
	struct store_job *j = arg;
	struct placement_store *s = placement_store_open(j->spool, 1, j->err, sizeof(j->err));
	j->rc = s ? placement_store_add(s, j->rows, j->n, j->keep, j->err, sizeof(j->err)) : -1;
	placement_store_close(s);
}

static void store_free(void *arg)
{
	struct store_job *j = arg;
	for (size_t i = 0; i < j->n; i++) {
		free((char *)j->rows[i].route);
		free((char *)j->rows[i].seed);
		free((char *)j->rows[i].provider);
		free((char *)j->rows[i].token);
		free((char *)j->rows[i].qid);
		free((char *)j->rows[i].folder);
		free((char *)j->rows[i].detail);
	}
	free(j->rows);
	free(j->spool);
	free(j);
}

static void store_done(void *arg)
{
	struct store_job *j = arg;
	if (j->rc < 0)
		msg_warn("event=placement_error reason=\"results not stored: %s\"", j->err);
	store_free(j);
}

static void log_result(const struct placement *p, const struct probe *pr)
{
	char q[400], f[300];
	msg_info("event=placement qid=%s route=%s seed=<%s> provider=%s result=%s folder=%s token=%s detail=%s",
		 pr->qid[0] ? pr->qid : "-", pr->route, p->cf->placement.seeds[pr->seed].address,
		 p->seeds[pr->seed].provider, result_names[pr->result],
		 log_quote(f, sizeof(f), pr->folder[0] ? pr->folder : "-"), pr->token,
		 log_quote(q, sizeof(q), pr->detail));
}

/* The operator's side of a probe: the counter, and a `placement` event
 * (webhooks, the status page) naming the seed, its provider and where the
 * probe was found. */
static void announce_result(const struct placement *p, const struct probe *pr)
{
	char q[400];
	obs_placement(pr->route, result_names[pr->result]);
	obs_event("placement", pr->qid[0] ? pr->qid : NULL, pr->route, p->cf->placement.seeds[pr->seed].address,
		  "{s:s, s:s, s:s, s:s, s:s}", "seed", p->cf->placement.seeds[pr->seed].address, "provider",
		  p->seeds[pr->seed].provider, "result", result_names[pr->result], "folder", pr->folder,
		  "detail", obs_text(q, sizeof(q), pr->detail));
}

/* Per route of the round, the share of its probes found in the inbox
 * among those looked for (error: the look failed, not a placement). */
static void announce_shares(const struct placement *p)
{
	obs_placement_round();
	for (size_t i = 0; i < p->nprobes; i++) {
		const char *route = p->probes[i].route;
		unsigned looked = 0, inbox = 0;
		size_t j;
		for (j = 0; j < i && strcmp(p->probes[j].route, route) != 0; j++)
			;
		if (j < i)
			continue;   /* this route was counted at its first probe */
		for (j = i; j < p->nprobes; j++) {
			const struct probe *pr = &p->probes[j];
			if (strcmp(pr->route, route) != 0 || pr->result == R_ERROR || pr->result == R_PENDING)
				continue;
			looked++;
			inbox += pr->result == R_INBOX;
		}
		if (looked)
			obs_placement_share(route, (double)inbox / looked);
	}
}

/* Logs every probe of the round, tells the operator's side (metrics,
 * events) and hands them to the worker to store. */
static void record_round(struct placement *p)
{
	struct store_job *j = xcalloc(1, sizeof(*j));
	j->spool = xstrdup(p->cf->spool);
	j->keep = p->cf->placement.history;
	j->rows = xcalloc(p->nprobes + 1, sizeof(*j->rows));
	long long now = (long long)time(NULL);
	for (size_t i = 0; i < p->nprobes; i++) {
		struct probe *pr = &p->probes[i];
		log_result(p, pr);
		announce_result(p, pr);
		j->rows[j->n++] = (struct placement_result){ now, xstrdup(pr->route),
			xstrdup(p->cf->placement.seeds[pr->seed].address), xstrdup(p->seeds[pr->seed].provider),
			xstrdup(pr->token), xstrdup(pr->qid), result_names[pr->result], xstrdup(pr->folder),
			xstrdup(pr->detail) };
	}
	announce_shares(p);
	worker_submit(p->wp, store_run, store_done, store_free, j);
}

/* --- the IMAP look ---------------------------------------------------------- */

static size_t collect(char *data, size_t size, size_t n, void *arg)
{
	struct buf *b = arg;
	if (b->len + size * n > OUT_MAX)
		return 0;               /* curl ends the transfer with an error */
	buf_append(b, data, size * n);
	return size * n;
}

static void sess_done(CURL *easy, CURLcode rc, void *arg);

/* One command in the seed's session; mailbox NULL: none selected. */
static void sess_issue(struct placement *p, enum step step, const char *mailbox, const char *request)
{
	const struct placement_seed *sd = &p->cf->placement.seeds[p->s.seed];
	struct sess *s = &p->s;
	char *url = imap_mailbox_url(sd->imap, mailbox);
	s->step = step;
	s->errbuf[0] = '\0';
	buf_reset(&s->out);
	if ((s->easy = curl_easy_init()) == NULL)
		msg_fatal("event=placement_error reason=\"curl_easy_init failed\"");
	curl_easy_setopt(s->easy, CURLOPT_URL, url);
	curl_easy_setopt(s->easy, CURLOPT_USERNAME, sd->user);
	curl_easy_setopt(s->easy, CURLOPT_PASSWORD, sd->password);
	curl_easy_setopt(s->easy, CURLOPT_CUSTOMREQUEST, request);
	curl_easy_setopt(s->easy, CURLOPT_PROTOCOLS_STR, "imap,imaps");
	curl_easy_setopt(s->easy, CURLOPT_USE_SSL, (long)(sd->plain_ok ? CURLUSESSL_NONE : CURLUSESSL_ALL));
	curl_easy_setopt(s->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(s->easy, CURLOPT_CONNECTTIMEOUT, 30L);
	curl_easy_setopt(s->easy, CURLOPT_TIMEOUT, 120L);
	curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(s->easy, CURLOPT_WRITEDATA, &s->out);
	curl_easy_setopt(s->easy, CURLOPT_ERRORBUFFER, s->errbuf);
	if (step == ST_CLOSE)   /* the session ends with this command: curl says LOGOUT */
		curl_easy_setopt(s->easy, CURLOPT_FORBID_REUSE, 1L);
	if (sd->ca_file)
		curl_easy_setopt(s->easy, CURLOPT_CAINFO, sd->ca_file);
	free(url);
	msg_debug("event=placement_imap seed=<%s> mailbox=\"%s\" command=\"%s\"", sd->address,
		  mailbox ? mailbox : "", request);
	curl_ev_add(p->cev, s->easy, sess_done, p);
}

static const char *sess_folder(const struct sess *s)
{
	return s->folder == 0 ? "INBOX" : s->junk;
}

/* "4,9,12" */
static char *uid_set(const struct sess *s)
{
	struct buf b = BUF_INIT;
	size_t len;
	for (size_t i = 0; i < s->nuids; i++)
		buf_printf(&b, "%s%lu", i ? "," : "", (unsigned long)s->uids[i]);
	return buf_steal(&b, &len);
}

/* The next probe of this seed not found yet, from s->probe on. */
static int next_probe(struct placement *p)
{
	for (; p->s.probe < p->nprobes; p->s.probe++) {
		const struct probe *pr = &p->probes[p->s.probe];
		if (pr->seed == p->s.seed && pr->result == R_PENDING)
			return 1;
	}
	return 0;
}

/* Issues the search of the next probe in the current folder, or the
 * deletion of those found there, or moves to the next folder. */
static void sess_search_next(struct placement *p)
{
	struct sess *s = &p->s;
	char req[200];
	while (s->folder < 2) {
		if (sess_folder(s) && next_probe(p)) {
			snprintf(req, sizeof(req), "UID SEARCH HEADER " PLACEMENT_FIELD " %s", p->probes[s->probe].token);
			return sess_issue(p, ST_SEARCH, sess_folder(s), req);
		}
		if (sess_folder(s) && !s->swept) {
			/* probes of earlier rounds that came after their look */
			char *cmd = xasprintf("UID SEARCH HEADER " PLACEMENT_FIELD " \"\" FROM \"outpost-placement@%s\"",
					      sending_domain(p->cf));
			sess_issue(p, ST_SWEEP, sess_folder(s), cmd);
			return free(cmd);
		}
		if (s->nuids > 0) {
			char *set = uid_set(s), *cmd = xasprintf("UID STORE %s +FLAGS.SILENT (\\Deleted)", set);
			free(set);
			sess_issue(p, ST_STORE, sess_folder(s), cmd);
			return free(cmd);
		}
		s->folder++;
		s->probe = 0;
		s->swept = 0;
	}
	sess_issue(p, ST_CLOSE, NULL, "NOOP");
}

static void seed_start(struct placement *p, size_t seed);

/* The seed is done: what was not found is missing, unless the look failed. */
static void seed_finish(struct placement *p, const char *failure)
{
	struct sess *s = &p->s;
	for (size_t i = 0; i < p->nprobes; i++) {
		struct probe *pr = &p->probes[i];
		if (pr->seed != s->seed)
			continue;
		if (pr->result == R_PENDING && pr->commit && pr->commit->failed) {
			pr->result = R_ERROR;
			snprintf(pr->detail, sizeof(pr->detail), "%s", pr->commit->reason);
		} else if (pr->result == R_PENDING) {
			pr->result = failure ? R_ERROR : R_MISSING;
			snprintf(pr->detail, sizeof(pr->detail), "%s%s", failure ? "mailbox not looked at: " : "",
				 failure ? failure : "in neither INBOX nor the junk folder");
		} else if (failure && pr->result != R_ERROR && pr->detail[0] == '\0') {
			snprintf(pr->detail, sizeof(pr->detail), "found, but not deleted: %s", failure);
		}
	}
	free(s->junk);
	s->junk = NULL;
	if (s->seed + 1 < p->cf->placement.nseeds)
		return seed_start(p, s->seed + 1);
	p->looking = 0;
	record_round(p);
}

/* A SEARCH answered: the probe is in this folder, or not. */
static int searched(struct placement *p)
{
	struct sess *s = &p->s;
	struct probe *pr = &p->probes[s->probe];
	uint32_t ids[MAX_UIDS];
	size_t n;
	if (imap_parse_search(s->out.data, s->out.len, ids, MAX_UIDS, &n) < 0)
		return -1;
	if (n > 0) {
		pr->result = s->folder == 0 ? R_INBOX : R_SPAM;
		snprintf(pr->folder, sizeof(pr->folder), "%s", sess_folder(s));
		for (size_t i = 0; i < n && s->nuids < MAX_UIDS; i++)
			s->uids[s->nuids++] = ids[i];
	}
	s->probe++;
	return 0;
}

/* The sweep answered: every probe of ours in this folder goes, each once. */
static int swept(struct placement *p)
{
	struct sess *s = &p->s;
	uint32_t ids[MAX_UIDS];
	size_t n, late = 0;
	if (imap_parse_search(s->out.data, s->out.len, ids, MAX_UIDS, &n) < 0)
		return -1;
	s->swept = 1;
	for (size_t i = 0; i < n && s->nuids < MAX_UIDS; i++) {
		size_t k = 0;
		while (k < s->nuids && s->uids[k] != ids[i])
			k++;
		if (k == s->nuids) {
			s->uids[s->nuids++] = ids[i];
			late++;
		}
	}
	if (late > 0)
		msg_info("event=placement_swept seed=<%s> folder=\"%s\" probes=%zu reason=\"probes of earlier rounds, "
			 "come after their look\"", p->cf->placement.seeds[s->seed].address, sess_folder(s), late);
	return 0;
}

static void listed(struct placement *p)
{
	struct imap_mailbox *mb = NULL;
	size_t n = 0;
	imap_parse_list(p->s.out.data, p->s.out.len, &mb, &n);
	const char *junk = imap_junk_folder(mb, n);
	p->s.junk = junk ? xstrdup(junk) : NULL;
	if (junk == NULL)
		msg_warn("event=placement_no_junk seed=<%s> mailboxes=%zu reason=\"no \\\\Junk folder and none "
			 "named Junk or Spam: spam cannot be told from missing\"",
			 p->cf->placement.seeds[p->s.seed].address, n);
	imap_mailboxes_free(mb, n);
}

static void sess_done(CURL *easy, CURLcode rc, void *arg)
{
	struct placement *p = arg;
	struct sess *s = &p->s;
	char why[CURL_ERROR_SIZE + 64];
	curl_easy_cleanup(easy);
	s->easy = NULL;
	if (rc != CURLE_OK && s->step == ST_SWEEP) {
		/* a server that cannot search for late probes still has this round's to find */
		msg_warn("event=placement_error seed=<%s> folder=\"%s\" reason=\"late probes not looked for: IMAP: %s\"",
			 p->cf->placement.seeds[s->seed].address, sess_folder(s),
			 s->errbuf[0] ? s->errbuf : curl_easy_strerror(rc));
		s->swept = 1;
		return sess_search_next(p);
	}
	if (rc != CURLE_OK && s->step != ST_CLOSE) {
		snprintf(why, sizeof(why), "IMAP: %s", s->errbuf[0] ? s->errbuf : curl_easy_strerror(rc));
		msg_warn("event=placement_error seed=<%s> reason=\"%s\"", p->cf->placement.seeds[s->seed].address, why);
		return seed_finish(p, why);
	}
	switch (s->step) {
	case ST_CAPA:
		s->uidplus = imap_has_capability(s->out.data, s->out.len, "UIDPLUS");
		return sess_issue(p, ST_LIST, NULL, "LIST \"\" \"*\"");
	case ST_LIST:
		listed(p);
		return sess_search_next(p);
	case ST_SEARCH:
		if (searched(p) < 0)
			return seed_finish(p, "IMAP: a SEARCH answer that does not parse");
		return sess_search_next(p);
	case ST_SWEEP:
		if (swept(p) < 0)
			return seed_finish(p, "IMAP: a SEARCH answer that does not parse");
		return sess_search_next(p);
	case ST_STORE: {
		char *set = uid_set(s), *cmd = s->uidplus ? xasprintf("UID EXPUNGE %s", set) : xstrdup("EXPUNGE");
		sess_issue(p, ST_EXPUNGE, sess_folder(s), cmd);
		free(set);
		return free(cmd);
	}
	case ST_EXPUNGE:
		s->nuids = 0;
		s->folder++;
		s->probe = 0;
		s->swept = 0;
		return sess_search_next(p);
	case ST_CLOSE:
		return seed_finish(p, NULL);
	}
}

static void seed_start(struct placement *p, size_t seed)
{
	struct sess *s = &p->s;
	s->seed = seed;
	s->folder = 0;
	s->probe = 0;
	s->nuids = 0;
	s->swept = 0;
	s->uidplus = 0;
	sess_issue(p, ST_CAPA, NULL, "CAPABILITY");
}

static void on_look(evutil_socket_t fd, short what, void *arg)
{
	struct placement *p = arg;
	(void)fd;
	(void)what;
	cancel_lookups(p);    /* an MX lookup not answered by now leaves the domain's provider */
	if (p->nprobes == 0)
		return;
	p->looking = 1;
	seed_start(p, 0);
}

/* --- life -------------------------------------------------------------------- */

struct placement *placement_new(struct event_base *base, const struct config *cf, struct spool *sp,
				struct resolver *res, const struct dkim_signer *sg, void (*kick)(void *),
				void *kick_arg)
{
	if (cf->placement.interval == 0)
		return NULL;
	struct placement *p = xcalloc(1, sizeof(*p));
	struct timeval first = { FIRST_ROUND_SECS, 0 };
	p->base = base;
	p->cf = config_ref(cf);
	p->sp = sp;
	p->res = res;
	p->sg = sg;
	p->kick = kick;
	p->kick_arg = kick_arg;
	p->seeds = xcalloc(cf->placement.nseeds, sizeof(*p->seeds));
	for (size_t i = 0; i < cf->placement.nseeds; i++)
		p->seeds[i].p = p;
	p->cev = curl_ev_new(base);
	p->wp = worker_pool_new(base, 1);
	p->round_timer = evtimer_new(base, on_round, p);
	p->look_timer = evtimer_new(base, on_look, p);
	if (p->round_timer == NULL || p->look_timer == NULL)
		msg_fatal("event=placement_error reason=\"event_new failed\"");
	evtimer_add(p->round_timer, &first);
	msg_info("event=placement_start interval=%u wait=%u seeds=%zu routes=%zu", cf->placement.interval,
		 cf->placement.wait, cf->placement.nseeds, cf->nroutes);
	return p;
}

void placement_reload(struct placement *p, const struct config *cf)
{
	const struct config *old = p->cf;
	p->cf = config_ref(cf);
	config_free(old);
}

void placement_free(struct placement *p)
{
	if (p == NULL)
		return;
	if (p->s.easy) {
		curl_ev_cancel(p->cev, p->s.easy);
		curl_easy_cleanup(p->s.easy);
	}
	cancel_lookups(p);
	worker_pool_free(p->wp);     /* a round's results still queued are stored first */
	curl_ev_free(p->cev);
	event_free(p->round_timer);
	event_free(p->look_timer);
	probes_clear(p);
	buf_free(&p->s.out);
	free(p->s.junk);
	free(p->seeds);
	config_free(p->cf);
	free(p);
}
