/*
 * placement: inbox-placement probes.  Every placement.interval (and once
 * shortly after start) the daemon sends one probe through each route to
 * each seed mailbox, then after placement.wait looks for each probe over
 * IMAP, in INBOX and in the junk folder, records where it landed and
 * deletes it.
 *
 * Contract:
 * - A probe is a real message From outpost-placement@ the domain of the
 *   first DKIM key that is not a tenant's, DKIM-signed like any other
 *   mail, with a unique token in its X-Outpost-Placement field and its
 *   Subject.  It is committed to the spool with its route forced
 *   (spool_msg.route, as the canary's probes), so it takes the normal
 *   delivery path of that route.
 * - The seed's provider is provider_of() its domain's best MX host when
 *   the MX lookup answers, else of the domain.
 * - After wait, the seeds are looked at one after the other, each in one
 *   IMAP session (libcurl's multi interface on the loop: nothing blocks):
 *   CAPABILITY, LIST "" "*" (the junk folder: SPECIAL-USE \Junk, else by
 *   name, imap_resp.h), then per folder (INBOX, then the junk folder) UID
 *   SEARCH HEADER X-Outpost-Placement TOKEN for each probe not found yet,
 *   then UID SEARCH HEADER X-Outpost-Placement "" FROM
 *   "outpost-placement@DOMAIN" (probes of earlier rounds that arrived after
 *   their look, which would otherwise stay), and for all these UID STORE
 *   +FLAGS.SILENT (\Deleted) and UID EXPUNGE.  Nothing else in the
 *   mailbox is touched (but for a server without UIDPLUS, whose EXPUNGE
 *   also removes what was marked \Deleted before).
 * - Each probe's result is "inbox", "spam" (the junk folder), "missing"
 *   (in neither), or "error" (not sent, or the mailbox could not be
 *   looked at: not knowing is not "missing"), logged as one line
 *   `event=placement qid= route= seed= provider= result= folder= token=`
 *   and stored in SPOOL/placement.db (placement_store.h) by a worker
 *   thread.  A round whose look is still going when the next is due is
 *   skipped (logged).
 */
#ifndef OUTPOST_PLACEMENT_H
#define OUTPOST_PLACEMENT_H

struct config;
struct dkim_signer;
struct event_base;
struct resolver;
struct spool;
struct placement;

/* NULL when the config has no placement.  kick(kick_arg) is called after
 * probes were queued (scheduler_kick). */
struct placement *placement_new(struct event_base *base, const struct config *cf, struct spool *sp,
				struct resolver *res, const struct dkim_signer *sg, void (*kick)(void *),
				void *kick_arg);
/* A reloaded config: the next round probes its routes (the placement
 * setting itself cannot change without a restart). */
void placement_reload(struct placement *p, const struct config *cf);
void placement_free(struct placement *p);

/* The header field that carries a probe's token. */
#define PLACEMENT_FIELD "X-Outpost-Placement"

#endif
