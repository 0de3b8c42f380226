/*
 * outpost: the command-line tool.  Dispatches to one function per
 * subcommand (src/cli/); invoked under the name "sendmail" it behaves as
 * `outpost sendmail`, so PHP's mail(), cron and the like work unchanged;
 * invoked as "mailq" it runs `outpost queue list`.
 *
 *     outpost [-c FILE] <command> [args...]
 *     outpost --version | --help
 */
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"


static const struct {
	const char *name;
	int (*fn)(int, char **, const char *);
	const char *help;
} commands[] = {
	{ "queue", cmd_queue, "queue list|show ID|delete ID|retry ID|flush [--json]" },
	{ "sendmail", cmd_sendmail, "sendmail [-t] [-i] [-f ADDR] [-F NAME] [RCPT...]" },
	{ "check-config", cmd_check_config, "check-config" },
	{ "doctor", cmd_doctor, "doctor DOMAIN [--ip IP ...] [--json] [--resolver IP@PORT] [--timeout-ms N]" },
	{ "dkim", cmd_dkim, "dkim keygen --domain D --selector S [--type rsa|ed25519] [--bits N] [--out FILE]\n"
	  "                        dkim show [--resolver IP@PORT] | dkim verify FILE [--resolver IP@PORT]" },
	{ "spf", cmd_spf, "spf check --ip IP --mail-from ADDR [--helo NAME] [--resolver IP@PORT]" },
	{ "routes", cmd_routes, "routes [--json]" },
	{ "spool", cmd_spool, "spool check|recover      (a damaged spool: see the README)" },
	{ "stats", cmd_stats, "stats [--since 24h] [--by route|reason|domain|sender] [--top N] [--json]" },
	{ "bounce", cmd_bounce, "bounce parse FILE [--json] | bounce ingest [FILE]" },
	{ "suppress", cmd_suppress, "suppress list|show ADDR|add ADDR|remove ADDR|import FILE|export [FILE]\n"
	  "                        [--scope S] [--reason R] [--expires DURATION] [--json]" },
	{ "monitor", cmd_monitor, "monitor [--json]" },
	{ "placement", cmd_placement, "placement [--json] [--last N]" },
	{ "dmarc", cmd_dmarc, "dmarc import FILE... | dmarc report [--since 7d] [--json]" },
	{ "tenant", cmd_tenant, "tenant list [--json] | tenant show NAME [--json] | tenant release NAME" },
	{ "route", cmd_route, "route explain --sender ADDR --rcpt ADDR [--from-header C] [--user U] [--class C]\n"
	  "                        [--tenant T] [--spam ACTION]\n"
	  "                        [--resolver IP@PORT] [--json]" },
};

static int usage(FILE *out, int status)
{
	fprintf(out, "usage: outpost [-c FILE] <command> [args]\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "       outpost [-c FILE] %s\n", commands[i].help);
	fprintf(out, "       outpost --version | --help\n"
		"The config file is -c FILE, else $OUTPOST_CONFIG, else %s.\n", OUTPOST_DEFAULT_CONFIG);
	return status;
}

static const char *config_path(const char *given)
{
	const char *env = getenv("OUTPOST_CONFIG");
	if (given)
		return given;
	return env && *env ? env : OUTPOST_DEFAULT_CONFIG;
}

int main(int argc, char **argv)
{
	const char *file = NULL;
	char *prog = basename(argv[0]);
	if (strcmp(prog, "sendmail") == 0)
		return cmd_sendmail(argc, argv, config_path(NULL));
	if (strcmp(prog, "mailq") == 0) {
		char *list[] = { "queue", "list", NULL };
		return cmd_queue(2, list, config_path(NULL));
	}
	if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		printf("outpost %s\n", OUTPOST_VERSION);
		return 0;
	}
	if (argc == 2 && strcmp(argv[1], "--help") == 0)
		return usage(stdout, 0);
	int i = 1;
	if (i + 1 < argc && strcmp(argv[i], "-c") == 0) {
		file = argv[i + 1];
		i += 2;
	}
	if (i >= argc)
		return usage(stderr, 2);
	for (size_t k = 0; k < sizeof(commands) / sizeof(commands[0]); k++)
		if (strcmp(argv[i], commands[k].name) == 0)
			/* spf needs a config only when one is named */
			return commands[k].fn(argc - i, argv + i,
					      strcmp(commands[k].name, "spf") == 0 ? file : config_path(file));
	fprintf(stderr, "outpost: unknown command \"%s\"\n", argv[i]);
	return usage(stderr, 2);
}
