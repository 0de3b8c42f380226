/*
 * dmarc_mail: reports out of mail and files (see dmarc_mail.h).
 */
#include "dmarc/dmarc_mail.h"

#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "dmarc/dmarc_report.h"
#include "dmarc/dmarc_store.h"
#include "feedback/mime.h"

/* One candidate: a report stored (1), a duplicate (0), not a report (-2,
 * why in err), or the store failing (-1). */
static int try_one(struct dmarc_store *s, const char *data, size_t len, struct buf *summary, char *err,
		   size_t errlen)
{
	struct dmarc_report *r;
	if (dmarc_report_parse(data, len, &r, err, errlen) < 0)
		return -2;
	int rc = dmarc_store_add(s, r, err, errlen);
	if (rc >= 0)
		buf_printf(summary, "reporter %s id %s: %zu records, %s\n", r->org_name, r->report_id,
			   r->nrec, rc ? "stored" : "duplicate");
	dmarc_report_free(r);
	return rc;
}

/* A part is worth a try when it could be a report container. */
static int candidate(const struct mime_part *p)
{
	static const char *const types[] = { "application/gzip", "application/x-gzip", "application/zip",
					     "application/x-zip-compressed", "text/xml", "application/xml",
					     "application/octet-stream" };
	if (p->body == NULL || p->blen == 0 || p->in_message)
		return 0;
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(p->type, types[i]) == 0)
			return 1;
	/* by content, never by name: a report sent as text/plain still starts so */
	return p->blen > 2 && (memcmp(p->body, "\x1f\x8b", 2) == 0 || memcmp(p->body, "PK\3\4", 4) == 0 ||
			       memchr(p->body, '<', p->blen < 64 ? p->blen : 64) != NULL);
}

int dmarc_import(struct dmarc_store *s, const char *data, size_t len, size_t *stored, size_t *dups,
		 struct buf *summary, char *err, size_t errlen)
{
	*stored = *dups = 0;
	int rc = try_one(s, data, len, summary, err, errlen);   /* a bare report file */
	if (rc == -1)
		return -1;
	if (rc >= 0) {
		*(rc ? stored : dups) += 1;
		return 1;
	}
	char first[400];
	snprintf(first, sizeof(first), "%s", err);
	char best[400] = "";
	struct mime_tree t = { 0 };
	mime_walk(data, len, &t);
	for (size_t i = 0; i < t.n && rc != -1; i++) {
		if (!candidate(&t.part[i]))
			continue;
		rc = try_one(s, t.part[i].body, t.part[i].blen, summary, err, errlen);
		if (rc >= 0)
			*(rc ? stored : dups) += 1;
		else if (rc == -2 && best[0] == '\0')
			snprintf(best, sizeof(best), "part %zu (%s): %s", i, t.part[i].type, err);
	}
	size_t nparts = t.n;
	mime_tree_free(&t);
	if (rc == -1)
		return -1;
	if (*stored + *dups > 0)
		return (int)(*stored + *dups);
	/* a file that is one entity: its own error says more than "part 0" */
	snprintf(err, errlen, "no DMARC aggregate report found: %s", best[0] && nparts > 1 ? best : first);
	return -1;
}
