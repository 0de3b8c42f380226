/*
 * outpost: the command-line tool.  Dispatches to one function per
 * subcommand (src/cli/); invoked under the name "sendmail" it behaves as
 * `outpost sendmail`, so PHP's mail(), cron and the like work unchanged.
 *
 *     outpost [-c FILE] <command> [args...]
 */
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"

#define DEFAULT_CONFIG "/etc/outpost/outpost.conf"

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
	{ "route", cmd_route, "route explain --sender ADDR --rcpt ADDR [--from-header C] [--user U] [--class C]\n"
	  "                        [--resolver IP@PORT] [--json]" },
};

static int usage(void)
{
	fprintf(stderr, "usage: outpost [-c FILE] <command> [args]\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(stderr, "       outpost [-c FILE] %s\n", commands[i].help);
	return 2;
}

static const char *config_path(const char *given)
{
	const char *env = getenv("OUTPOST_CONFIG");
	if (given)
		return given;
	return env && *env ? env : DEFAULT_CONFIG;
}

int main(int argc, char **argv)
{
	const char *file = NULL;
	char *prog = basename(argv[0]);
	if (strcmp(prog, "sendmail") == 0)
		return cmd_sendmail(argc, argv, config_path(NULL));
	int i = 1;
	if (i + 1 < argc && strcmp(argv[i], "-c") == 0) {
		file = argv[i + 1];
		i += 2;
	}
	if (i >= argc)
		return usage();
	for (size_t k = 0; k < sizeof(commands) / sizeof(commands[0]); k++)
		if (strcmp(argv[i], commands[k].name) == 0)
			/* spf needs a config only when one is named */
			return commands[k].fn(argc - i, argv + i,
					      strcmp(commands[k].name, "spf") == 0 ? file : config_path(file));
	fprintf(stderr, "outpost: unknown command \"%s\"\n", argv[i]);
	return usage();
}
