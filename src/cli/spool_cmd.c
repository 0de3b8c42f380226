/*
 * spool: the way out of a damaged spool.
 *     outpost spool check      is the spool sound?  (0 sound, 1 damaged, 2 error)
 *     outpost spool recover    copy what can be read into a new spool, keep the damaged one aside
 * outpostd refuses to start on a damaged spool and names these commands.
 */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "core/config.h"
#include "spool/spool_recover.h"

static int spool_usage(void)
{
	fprintf(stderr, "usage: outpost [-c FILE] spool check|recover\n");
	return 2;
}

static int spool_check_cmd(const char *dir)
{
	struct spool_check_report r;
	char err[1024] = "";
	int rc = spool_check_run(dir, &r, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "outpost: spool check: %s\n", err);
		return 2;
	}
	if (rc == 0) {
		printf("%s: sound, %lld messages\n", dir, r.messages);
		return 0;
	}
	if (r.bad_bodies)
		printf("%s: %lld messages have a missing or damaged body in %s/bodies (first: %s)\n"
		       "outpostd keeps them and does not deliver them (event=spool_body_unreadable). Restore\n"
		       "the spool directory from a backup, or remove them with `outpost queue delete QID`.\n",
		       dir, r.bad_bodies, dir, r.body_why);
	if (r.why[0] == '\0')
		return 1;
	printf("%s: DAMAGED: %s\n", dir, r.why);
	if (r.messages >= 0)
		printf("%lld messages can be counted in it\n", r.messages);
	printf("outpostd will not start on it. Stop outpostd, then run `outpost spool recover`:\n"
	       "it copies every message it can read into a new spool and keeps the damaged files aside.\n");
	return 1;
}

static int spool_recover_cmd(const char *dir)
{
	struct spool_recover_report r;
	char err[1024] = "";
	if (spool_recover_run(dir, &r, err, sizeof(err)) < 0) {
		fprintf(stderr, "outpost: spool recover: %s\n", err);
		if (r.aside[0])
			fprintf(stderr, "outpost: the damaged spool is in %s\n", r.aside);
		return 1;
	}
	if (r.why[0])
		printf("damage: %s\n", r.why);
	printf("recovered %lld messages into %s/queue.db\n", r.copied, dir);
	if (r.lost > 0)
		printf("lost %lld messages whose data or recipients could not be read\n", r.lost);
	if (r.lost < 0)
		printf("the messages table of the damaged spool could not be read at all\n");
	if (r.skipped_rows > 0)
		printf("skipped %lld unreadable places in the damaged spool\n", r.skipped_rows);
	printf("the damaged spool is kept as %s (with -wal and -shm when there were any)\n", r.aside);
	return 0;
}

int cmd_spool(int argc, char **argv, const char *file)
{
	char err[4096];
	if (argc != 2)
		return spool_usage();
	struct config *cf = config_load(file, err, sizeof(err));
	if (cf == NULL) {
		fprintf(stderr, "outpost: %s\n", err);
		return 2;
	}
	int rc;
	if (strcmp(argv[1], "check") == 0)
		rc = spool_check_cmd(cf->spool);
	else if (strcmp(argv[1], "recover") == 0)
		rc = spool_recover_cmd(cf->spool);
	else
		rc = spool_usage();
	config_free(cf);
	return rc;
}
