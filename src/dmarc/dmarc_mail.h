/*
 * dmarc_mail: DMARC aggregate reports out of what arrives: a mail to the
 * rua address (each MIME part, attachments decoded, is tried as a report:
 * gzip, zip or XML), or a file (`outpost dmarc import`: the file itself,
 * or a mail holding one).
 *
 * Contract: dmarc_import() stores every report found in data; returns the
 * number of reports found (stored or duplicate) and sets *stored and
 * *dups, or -1 with the reason in err when none is found (the reason of
 * the part that came closest: "record 2: row/count ..." rather than "not
 * XML" for a text part) or the store fails.  summary gets one line per
 * report ("reporter REPORTER id ID: N records, stored|duplicate").
 */
#ifndef OUTPOST_DMARC_MAIL_H
#define OUTPOST_DMARC_MAIL_H
#include <stddef.h>

struct buf;
struct dmarc_store;

int dmarc_import(struct dmarc_store *s, const char *data, size_t len, size_t *stored, size_t *dups,
		 struct buf *summary, char *err, size_t errlen);

#endif
