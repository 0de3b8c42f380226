/*
 * routes: every configured route with the health of its paths, live from
 * the running daemon (its control socket: health as of now, limits,
 * back-off and warm-up), or, when it is not running, as it last saved them
 * in the spool (every few seconds while it ran), saying so.
 *     outpost routes [--json]
 * The rendering is obs/routes_render.c's, the same as GET /api/v1/routes.
 */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/daemon_client.h"
#include "core/buf.h"
#include "core/config.h"
#include "obs/routes_render.h"
#include "spool/spool_admin.h"
#include "spool/spool_health.h"

/* 0 when the daemon answered (printed), -1 when it is not running. */
static int routes_live(const struct config *cf, int json)
{
	struct buf body = BUF_INIT;
	int status = 0;
	if (daemon_get(cf, json ? "/api/v1/routes" : "/api/v1/routes?format=text", &body, &status) < 0 ||
	    status != 200) {
		buf_free(&body);
		return -1;
	}
	fwrite(body.data, 1, body.len, stdout);
	buf_free(&body);
	return 0;
}

int cmd_routes(int argc, char **argv, const char *file)
{
	int json = argc == 2 && strcmp(argv[1], "--json") == 0;
	if (argc > 2 || (argc == 2 && !json)) {
		fprintf(stderr, "usage: outpost [-c FILE] routes [--json]\n");
		return 2;
	}
	char err[1024];
	struct config *cf = config_load(file, err, sizeof(err));
	if (cf == NULL) {
		fprintf(stderr, "outpost: %s\n", err);
		return 1;
	}
	if (routes_live(cf, json) == 0) {
		config_free(cf);
		return 0;
	}
	daemon_not_running(cf, "route health as last saved in the spool");
	struct spool_health_row *rows = NULL;
	size_t n = 0;
	/* no spool yet (the daemon never ran): every route is simply unused */
	if (spool_admin_routes(cf->spool, &rows, &n, err, sizeof(err)) < 0 && strncmp(err, "no spool", 8) != 0) {
		fprintf(stderr, "outpost: routes: %s\n", err);
		config_free(cf);
		return 1;
	}
	routes_render(stdout, cf, rows, n, NULL, json);
	spool_health_rows_free(rows, n);
	config_free(cf);
	return 0;
}
