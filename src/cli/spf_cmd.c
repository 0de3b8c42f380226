/*
 * spf_cmd: `outpost spf check --ip IP --mail-from ADDR [--helo NAME]
 * [--resolver system|IP[@PORT]] [--timeout-ms N] [--receiver NAME]
 * [--json] [--debug]`.
 * Contract: evaluates one SPF check (RFC 7208) and prints the result word
 * on the first line, then "explanation: ..." when exp= gave one, then
 * "reason: ..." (or one JSON object with --json).  Exit status 0 for any
 * evaluated result (none and the errors included), 2 for usage errors, 1
 * when the environment fails (unreadable config, resolver set-up).  The
 * resolver comes from --resolver, else the config's when -c was given,
 * else "system".
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <jansson.h>

#include "cli/commands.h"
#include "config.h"
#include "dns/dns.h"
#include "dns/resolver.h"
#include "log.h"
#include "mailauth/spf.h"
#include "xmalloc.h"

#define SPF_CMD_DEFAULT_TIMEOUT_MS 5000

struct spf_opts {
	const char *ip, *mail_from, *helo, *resolver, *receiver;
	unsigned timeout_ms;
	int json;
};

struct spf_answer {
	struct event_base *base;
	int done;
	enum spf_result result;
	char *domain, *explanation, *reason;
	unsigned dns_terms, void_lookups;
};

static int spf_usage(void)
{
	fprintf(stderr, "usage: outpost spf check --ip IP --mail-from ADDR [--helo NAME]\n"
		"                         [--resolver system|IP[@PORT]] [--timeout-ms N]\n"
		"                         [--receiver NAME] [--json] [--debug]\n");
	return 2;
}

/* Options after "check"; 0, or 2 for a usage error. */
static int spf_parse_opts(int argc, char **argv, struct spf_opts *o)
{
	static const struct option longopts[] = {
		{ "ip", required_argument, NULL, 'i' },
		{ "mail-from", required_argument, NULL, 'm' },
		{ "helo", required_argument, NULL, 'H' },
		{ "resolver", required_argument, NULL, 'r' },
		{ "timeout-ms", required_argument, NULL, 't' },
		{ "receiver", required_argument, NULL, 'R' },
		{ "json", no_argument, NULL, 'j' },
		{ "debug", no_argument, NULL, 'd' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;
	memset(o, 0, sizeof(*o));
	o->timeout_ms = SPF_CMD_DEFAULT_TIMEOUT_MS;
	optind = 0;                     /* full reset: main may have used getopt */
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
		switch (ch) {
		case 'i': o->ip = optarg; break;
		case 'm': o->mail_from = optarg; break;
		case 'H': o->helo = optarg; break;
		case 'r': o->resolver = optarg; break;
		case 'R': o->receiver = optarg; break;
		case 'j': o->json = 1; break;
		case 'd': log_set_debug(1); break;
		case 't':
			if (cli_parse_uint(optarg, 1, 600000, &o->timeout_ms) < 0) {
				fprintf(stderr, "outpost: spf: --timeout-ms wants 1..600000\n");
				return 2;
			}
			break;
		default:
			fprintf(stderr, "outpost: spf: unknown option or missing value: %s\n",
				argv[optind - 1]);
			return spf_usage();
		}
	}
	if (optind != argc || o->ip == NULL || o->mail_from == NULL)
		return spf_usage();
	struct dns_addr a;
	if (dns_addr_parse(o->ip, &a) < 0) {
		fprintf(stderr, "outpost: spf: not an IP address: %s\n", o->ip);
		return 2;
	}
	if (*o->mail_from == '\0' && (o->helo == NULL || *o->helo == '\0')) {
		fprintf(stderr, "outpost: spf: the null sender needs --helo\n");
		return 2;
	}
	return 0;
}

static void on_spf_done(const struct spf_outcome *out, void *arg)
{
	struct spf_answer *ans = arg;
	ans->done = 1;
	ans->result = out->result;
	ans->domain = xstrdup(out->domain ? out->domain : "");
	ans->explanation = out->explanation ? xstrdup(out->explanation) : NULL;
	ans->reason = xstrdup(out->reason ? out->reason : "");
	ans->dns_terms = out->dns_terms;
	ans->void_lookups = out->void_lookups;
	event_base_loopbreak(ans->base);
}

/* Text from DNS and macros goes to a terminal: no control bytes. */
static void print_clean(const char *label, const char *s)
{
	fputs(label, stdout);
	for (; *s; s++)
		putchar((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s);
	putchar('\n');
}

static int print_json(const struct spf_answer *ans)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:I}", "result", spf_result_name(ans->result),
			      "domain", ans->domain, "reason", ans->reason,
			      "dns_terms", (json_int_t)ans->dns_terms,
			      "void_lookups", (json_int_t)ans->void_lookups);
	if (o == NULL)
		return -1;
	json_object_set_new(o, "explanation",
			    ans->explanation ? json_string(ans->explanation) : json_null());
	char *text = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
	json_decref(o);
	if (text == NULL)
		return -1;
	puts(text);
	free(text);
	return 0;
}

static void print_answer(const struct spf_answer *ans, int json)
{
	if (json && print_json(ans) == 0)
		return;
	puts(spf_result_name(ans->result));
	if (ans->explanation)
		print_clean("explanation: ", ans->explanation);
	print_clean("reason: ", ans->reason);
}

/* The resolver spec to use; NULL after printing the reason. */
static char *spf_resolver_spec(const struct spf_opts *o, const char *config_file)
{
	char err[512];
	if (o->resolver)
		return xstrdup(o->resolver);
	if (config_file == NULL)
		return xstrdup("system");
	struct config *cf = config_load(config_file, err, sizeof(err));
	if (cf == NULL) {
		fprintf(stderr, "outpost: spf: %s\n", err);
		return NULL;
	}
	char *spec = xstrdup(cf->resolver ? cf->resolver : "system");
	config_free(cf);
	return spec;
}

static int spf_run(const struct spf_opts *o, const char *spec)
{
	char err[512];
	struct spf_answer ans;
	memset(&ans, 0, sizeof(ans));
	ans.base = event_base_new();
	if (ans.base == NULL) {
		fprintf(stderr, "outpost: spf: cannot create an event loop\n");
		return 1;
	}
	struct resolver *r = resolver_new(ans.base, spec, o->timeout_ms, err, sizeof(err));
	if (r == NULL) {
		fprintf(stderr, "outpost: spf: %s\n", err);
		event_base_free(ans.base);
		return 1;
	}
	struct spf_request req = {
		.ip = o->ip, .mail_from = o->mail_from, .helo = o->helo ? o->helo : "",
		.receiver = o->receiver,
		/* room for a few sequential lookups even with a long timeout */
		.deadline_ms = o->timeout_ms > SPF_DEADLINE_MS / 4 ? o->timeout_ms * 4 : 0,
	};
	int status = 0;
	if (spf_check_start(r, &req, on_spf_done, &ans, err, sizeof(err)) == NULL) {
		fprintf(stderr, "outpost: spf: %s\n", err);
		status = 2;
	} else {
		event_base_dispatch(ans.base);
		if (ans.done)
			print_answer(&ans, o->json);
		else
			status = 1;
	}
	resolver_free(r);
	event_base_free(ans.base);
	free(ans.domain);
	free(ans.explanation);
	free(ans.reason);
	return status;
}

int cmd_spf(int argc, char **argv, const char *config_file)
{
	struct spf_opts o;
	if (argc < 2 || strcmp(argv[1], "check") != 0)
		return spf_usage();
	int rc = spf_parse_opts(argc - 1, argv + 1, &o);
	if (rc != 0)
		return rc;
	char *spec = spf_resolver_spec(&o, config_file);
	if (spec == NULL)
		return 1;
	rc = spf_run(&o, spec);
	free(spec);
	return rc;
}
