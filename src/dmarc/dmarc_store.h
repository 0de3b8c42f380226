/*
 * dmarc_store: the DMARC aggregate reports outpost received, in their own
 * SQLite file beside the spool (SPOOL/dmarc.db), shared by the daemon (the
 * rua mailbox) and `outpost dmarc import|report`.
 *
 * Contract: a report is stored once per reporter (org_name) and report id:
 * dmarc_store_add() of one already there changes nothing and says so.  A
 * report and its records go in one transaction.  dmarc_store_each() calls
 * fn for every record of every report whose period ends at or after since.
 */
#ifndef OUTPOST_DMARC_STORE_H
#define OUTPOST_DMARC_STORE_H
#include <stddef.h>

struct dmarc_report;
struct dmarc_record;
struct dmarc_store;

struct dmarc_store *dmarc_store_open(const char *spool_dir, char *err, size_t errlen);
void dmarc_store_close(struct dmarc_store *s);
/* 1 stored, 0 a duplicate (not stored again), -1 with err. */
int dmarc_store_add(struct dmarc_store *s, const struct dmarc_report *r, char *err, size_t errlen);

/* One stored record with its report's reporter and published domain. */
struct dmarc_row {
	const char *reporter, *report_id, *domain;
	long long begin, end;
	const struct dmarc_record *rec;
};
int dmarc_store_each(struct dmarc_store *s, long long since, void (*fn)(const struct dmarc_row *r, void *arg),
		     void *arg, char *err, size_t errlen);

#endif
