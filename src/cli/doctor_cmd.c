/*
 * doctor_cmd: `outpost doctor DOMAIN [--ip IP ...] [--json]
 * [--resolver system|IP[@PORT]] [--timeout-ms N] [--colour|--no-colour]`.
 * Contract: reads the config (hostname, routes and their source
 * addresses, DKIM keys), runs every doctor check for DOMAIN and prints
 * the report; exit status 0 when all pass, 1 with warnings, 2 with
 * failures, 64 for a usage error, 69 when the config, the loop or the
 * resolver cannot be set up.  --ip (repeatable) replaces the config's
 * source addresses; colour only when stdout is a terminal (and NO_COLOR
 * is not set) unless forced.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "config.h"
#include "dns/dns.h"
#include "doctor/doctor.h"
#include "log.h"
#include "xmalloc.h"

#define DOCTOR_DEFAULT_TIMEOUT_MS 5000
#define DOCTOR_MAX_IPS 64

static int doctor_usage(void)
{
	fprintf(stderr, "usage: outpost doctor DOMAIN [--ip IP ...] [--json] "
		"[--resolver system|IP[@PORT]]\n"
		"                      [--timeout-ms N] [--colour|--no-colour]\n");
	return 64;
}

static int add_ip(struct doctor_opts *o, char *ip)
{
	struct dns_addr a;
	if (dns_addr_parse(ip, &a) < 0) {
		fprintf(stderr, "outpost: doctor: not an IP address: %s\n", ip);
		return -1;
	}
	if (o->nips >= DOCTOR_MAX_IPS) {
		fprintf(stderr, "outpost: doctor: at most %d --ip\n", DOCTOR_MAX_IPS);
		return -1;
	}
	o->ips[o->nips++] = ip;
	return 0;
}

/* 0, or the exit status of a usage error. */
static int doctor_parse_opts(int argc, char **argv, struct doctor_opts *o)
{
	static const struct option longopts[] = {
		{ "ip", required_argument, NULL, 'i' },
		{ "json", no_argument, NULL, 'j' },
		{ "resolver", required_argument, NULL, 'r' },
		{ "timeout-ms", required_argument, NULL, 't' },
		{ "colour", no_argument, NULL, 'C' },
		{ "color", no_argument, NULL, 'C' },
		{ "no-colour", no_argument, NULL, 'N' },
		{ "no-color", no_argument, NULL, 'N' },
		{ "debug", no_argument, NULL, 'd' },
		{ NULL, 0, NULL, 0 },
	};
	int ch, colour = -1;
	optind = 0;                     /* full reset: main may have used getopt */
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'i':
			if (add_ip(o, optarg) < 0)
				return 64;
			break;
		case 'j': o->json = 1; break;
		case 'r': o->resolver = optarg; break;
		case 'C': colour = 1; break;
		case 'N': colour = 0; break;
		case 'd': log_set_debug(1); break;
		case 't':
			if (cli_parse_uint(optarg, 100, 60000, &o->timeout_ms) < 0) {
				fprintf(stderr, "outpost: doctor: --timeout-ms wants 100..60000\n");
				return 64;
			}
			break;
		default:
			fprintf(stderr, "outpost: doctor: unknown option or missing value: %s\n",
				argv[optind - 1]);
			return doctor_usage();
		}
	}
	if (optind + 1 != argc)
		return doctor_usage();
	o->domain = argv[optind];
	if (!dns_name_valid(o->domain) || strchr(o->domain, '.') == NULL) {
		fprintf(stderr, "outpost: doctor: not a domain name: %s\n", o->domain);
		return 64;
	}
	const char *nc = getenv("NO_COLOR");
	o->colour = colour >= 0 ? colour : isatty(STDOUT_FILENO) && !(nc && *nc);
	return 0;
}

int cmd_doctor(int argc, char **argv, const char *config_file)
{
	char err[512];
	char *ips[DOCTOR_MAX_IPS];
	struct doctor_opts o;
	memset(&o, 0, sizeof(o));
	o.ips = ips;
	o.timeout_ms = DOCTOR_DEFAULT_TIMEOUT_MS;
	int rc = doctor_parse_opts(argc, argv, &o);
	if (rc != 0)
		return rc;
	struct config *cf = config_load(config_file, err, sizeof(err));
	if (cf == NULL) {
		fprintf(stderr, "outpost: doctor: %s\n", err);
		return 69;
	}
	rc = doctor_run(cf, &o);
	config_free(cf);
	return rc;
}
