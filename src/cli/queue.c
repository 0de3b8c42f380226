/*
 * queue, check-config: the operator's view of the spool and the config.
 *     outpost queue list|show ID|delete ID|retry ID|flush [--json]
 *     outpost check-config    (every error: the config's, the run user's, private files' modes)
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/daemon_client.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/privs.h"
#include "mailauth/dkim.h"
#include "mailauth/dkim_key.h"
#include "cli/queue_render.h"
#include "spool/spool.h"
#include "spool/spool_admin.h"

static struct config *load(const char *file)
{
	char err[1024];
	struct config *cf = config_load(file, err, sizeof(err));
	if (cf == NULL)
		fprintf(stderr, "outpost: %s\n", err);
	return cf;
}

/* What outpostd would refuse at start beyond the config text: the run
 * user, and the modes and owners of the private files.  Prints each. */
static int check_identity_and_files(const struct config *cf)
{
	struct run_identity id;
	struct buf errs = BUF_INIT;
	char err[1024];
	int bad = 0;
	if (privs_resolve(cf, &id, err, sizeof(err)) < 0) {
		fprintf(stderr, "outpost: %s: %s\n", cf->file, err);
		bad = 1;
	}
	if (privs_check_files(cf, bad ? geteuid() : id.uid, &errs) > 0) {
		fprintf(stderr, "%.*s", (int)errs.len, errs.data);
		bad = 1;
	}
	buf_free(&errs);
	return bad;
}

int cmd_check_config(int argc, char **argv, const char *file)
{
	char err[8192];
	(void)argv;
	if (argc != 1) {
		fprintf(stderr, "usage: outpost [-c FILE] check-config\n");
		return 2;
	}
	struct config *cf = config_load(file, err, sizeof(err));
	if (cf == NULL) {   /* every error, one per line */
		for (char *line = strtok(err, "\n"); line; line = strtok(NULL, "\n"))
			fprintf(stderr, "outpost: %s\n", line);
		return 1;
	}
	int bad = check_identity_and_files(cf);
	for (size_t i = 0; i < cf->ndkim; i++) {  /* the daemon reads them at start: fail here first */
		struct dkim_key *k = NULL;
		if (dkim_key_load(cf->dkim[i].key, &k, err, sizeof(err)) < 0) {
			fprintf(stderr, "outpost: %s:%d: dkim key: %s\n", file, cf->dkim[i].line, err);
			bad = 1;
		}
		dkim_key_free(k);
	}
	if (cf->ndkim > 0 && dkim_conf_key_for(cf->dkim, cf->ndkim, cf->hostname) < 0)
		fprintf(stderr, "outpost: %s: warning: no DKIM key for hostname %s or a parent domain: DSNs and "
			"delay notices from MAILER-DAEMON@%s leave unsigned\n", file, cf->hostname, cf->hostname);
	if (bad)
		fprintf(stderr, "outpost: %s: outpostd would refuse to start\n", file);
	else
		printf("%s: ok (%zu listeners, %zu routes, %zu rules, %zu DKIM keys, spool %s)\n", file, cf->nlisten,
		       cf->nroutes, cf->nrules, cf->ndkim, cf->spool);
	config_free(cf);
	return bad;
}

static int queue_usage(void)
{
	fprintf(stderr, "usage: outpost [-c FILE] queue list|show ID|delete ID|retry ID|flush [--json]\n");
	return 2;
}

/* list and show from the running daemon (its live view); -1 when it is
 * not running, else the exit status. */
static int queue_live(const struct config *cf, const char *action, const char *id, int json)
{
	struct buf body = BUF_INIT, path = BUF_INIT;
	int status = 0, rc = -1;
	if (strcmp(action, "list") == 0 && id == NULL)
		buf_printf(&path, "/api/v1/queue%s", json ? "" : "?format=text");
	else if (strcmp(action, "show") == 0 && id && strlen(id) == SPOOL_ID_LEN &&
		 strspn(id, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ") == SPOOL_ID_LEN)
		buf_printf(&path, "/api/v1/queue/%s%s", id, json ? "" : "?format=text");
	else
		return -1;
	if (daemon_get(cf, path.data, &body, &status) == 0) {
		if (status == 200)
			fwrite(body.data, 1, body.len, stdout);
		else if (status == 404)
			fprintf(stderr, "outpost: queue %s: no such message: %s\n", action, id);
		else
			fprintf(stderr, "outpost: queue %s: outpostd answered %d: %.*s\n", action, status,
				(int)body.len, body.data);
		rc = status == 200 ? 0 : 1;
	}
	buf_free(&body);
	buf_free(&path);
	return rc;
}

/* Runs one queue action; id is NULL for list and flush. */
static int queue_action(const char *action, const char *id, int json, const char *spool)
{
	char err[512] = "";
	size_t count = 0;
	int rc;
	if (strcmp(action, "list") == 0 && id == NULL)
		rc = queue_print_list(spool, json, stdout, err, sizeof(err));
	else if (strcmp(action, "flush") == 0 && id == NULL)
		rc = spool_admin_flush(spool, &count, err, sizeof(err));
	else if (strcmp(action, "show") == 0 && id)
		rc = queue_print_show(spool, id, json, stdout, err, sizeof(err));
	else if (strcmp(action, "delete") == 0 && id)
		rc = spool_admin_delete(spool, id, err, sizeof(err));
	else if (strcmp(action, "retry") == 0 && id)
		rc = spool_admin_retry(spool, id, err, sizeof(err));
	else
		return queue_usage();
	if (rc < 0) {
		fprintf(stderr, "outpost: queue %s: %s\n", action, err);
		return 1;
	}
	if (rc == 1) {
		fprintf(stderr, "outpost: queue %s: no such message: %s\n", action, id);
		return 1;
	}
	if (strcmp(action, "flush") == 0)
		printf(json ? "{\"flushed\": %zu}\n" : "%zu messages scheduled for delivery now\n", count);
	else if (strcmp(action, "delete") == 0 || strcmp(action, "retry") == 0)
		printf(json ? "{\"id\": \"%s\", \"done\": true}\n" : "%s: done\n", id);
	return 0;
}

int cmd_queue(int argc, char **argv, const char *file)
{
	const char *args[2] = { NULL, NULL };
	int json = 0, nargs = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else if (nargs < 2 && argv[i][0] != '-')
			args[nargs++] = argv[i];
		else
			return queue_usage();
	}
	if (nargs == 0)
		return queue_usage();
	struct config *cf = load(file);
	if (cf == NULL)
		return 1;
	int rc = queue_live(cf, args[0], args[1], json);
	if (rc < 0 && (strcmp(args[0], "list") == 0 || strcmp(args[0], "show") == 0))
		daemon_not_running(cf, "the queue as stored in the spool");
	if (rc < 0)
		rc = queue_action(args[0], args[1], json, cf->spool);
	config_free(cf);
	return rc;
}
