/*
 * dkim_cmd: `outpost dkim keygen|show|verify`.
 *   keygen --domain D --selector S [--type rsa|ed25519] [--bits N] [--out FILE]
 *       writes a new private key (mode 0600, never over an existing file;
 *       default FILE: S.pem) and prints the DNS name and TXT record to publish.
 *   show [--resolver IP@PORT]
 *       for every configured key: its name, the record to publish and
 *       whether DNS has it (match / missing / mismatch / invalid).
 *   verify FILE [--resolver IP@PORT]   ("-" reads standard input)
 *       verifies every DKIM signature of the message (LF or CRLF lines).
 * Contract: exit 0 when all is well (show: every key published and
 * matching; verify: at least one signature and all of them pass), 1
 * otherwise, 2 for usage errors.  Key material is never printed, only
 * public keys.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "cli/commands.h"
#include "config.h"
#include "dns/dns.h"
#include "dns/resolver.h"
#include "log.h"
#include "mailauth/dkim.h"
#include "mailauth/dkim_key.h"
#include "xmalloc.h"

#define DKIM_CMD_TIMEOUT_MS 5000
#define DKIM_MSG_MAX (64 * 1024 * 1024)

static int dkim_usage(void)
{
	fprintf(stderr,
		"usage: outpost dkim keygen --domain D --selector S [--type rsa|ed25519] [--bits N] [--out FILE]\n"
		"       outpost [-c FILE] dkim show [--resolver IP@PORT]\n"
		"       outpost [-c FILE] dkim verify MESSAGE-FILE [--resolver IP@PORT]\n");
	return 2;
}

static int keygen(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "domain", required_argument, NULL, 'd' },
		{ "selector", required_argument, NULL, 's' },
		{ "type", required_argument, NULL, 't' },
		{ "bits", required_argument, NULL, 'b' },
		{ "out", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	const char *domain = NULL, *selector = NULL, *out = NULL;
	enum dkim_key_type type = DKIM_KEY_RSA;
	unsigned long bits = 0;
	char err[512], name[512], path[512];
	struct dkim_key *k = NULL;
	int ch;

	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
		switch (ch) {
		case 'd': domain = optarg; break;
		case 's': selector = optarg; break;
		case 'o': out = optarg; break;
		case 't':
			if ((type = dkim_key_type_parse(optarg)) == DKIM_KEY_UNKNOWN) {
				fprintf(stderr, "outpost: dkim: --type is rsa or ed25519\n");
				return 2;
			}
			break;
		case 'b':
			bits = strtoul(optarg, NULL, 10);
			if (bits < 1024 || bits > 8192) {
				fprintf(stderr, "outpost: dkim: --bits wants 1024..8192\n");
				return 2;
			}
			break;
		default:
			return dkim_usage();
		}
	}
	if (optind != argc || !domain || !selector)
		return dkim_usage();
	if (dkim_key_dns_name(selector, domain, name, sizeof(name)) < 0)
		return dkim_usage();
	if (!out) {
		int n = snprintf(path, sizeof(path), "%s.pem", selector);
		if (n < 0 || (size_t)n >= sizeof(path))
			return dkim_usage();
		out = path;
	}
	if (dkim_key_generate(type, (unsigned)bits, &k, err, sizeof(err)) < 0 ||
	    dkim_key_write(k, out, err, sizeof(err)) < 0) {
		fprintf(stderr, "outpost: dkim: %s\n", err);
		if (k)
			dkim_key_free(k);
		return 1;
	}
	char *txt = dkim_key_txt_record(k);
	printf("key: %s (%s, %u bits, mode 600)\n", out, dkim_key_type_name(k->type), k->bits);
	printf("config: dkim = ( { domain = \"%s\"; selector = \"%s\"; key = \"%s\"; } );\n",
	       domain, selector, out);
	char *zone = dkim_txt_zone_strings(txt);
	printf("publish: %s. IN TXT %s\n", name, zone);
	free(zone);
	free(txt);
	dkim_key_free(k);
	return 0;
}

/* --- DNS on a private loop: one lookup at a time --- */

struct lookup {
	struct event_base *base;
	int done, rcode;
	struct buf *txt;
	size_t n;
	char why[160];
};

static void on_txt(const struct dns_result *res, void *arg)
{
	struct lookup *l = arg;
	l->done = 1;
	l->rcode = res->rcode;
	set_error(l->why, sizeof(l->why), "%s", res->why ? res->why : "");
	if (res->rcode == DNS_RCODE_NOERROR && res->n && res->txt) {
		l->txt = xcalloc(res->n, sizeof(*l->txt));
		for (size_t i = 0; i < res->n; i++)
			buf_append(&l->txt[l->n++], res->txt[i].data, res->txt[i].len);
	}
	event_base_loopbreak(l->base);
}

static void lookup_clear(struct lookup *l)
{
	for (size_t i = 0; i < l->n; i++)
		buf_free(&l->txt[i]);
	free(l->txt);
	l->txt = NULL;
	l->n = 0;
	l->done = 0;
}

/* The resolver: --resolver, else the config's, else "system". */
static struct resolver *open_resolver(struct event_base *base, const char *spec,
				      const struct config *cf)
{
	char err[512];
	struct resolver *r = resolver_new(base, spec ? spec : cf && cf->resolver ? cf->resolver : "system",
					  DKIM_CMD_TIMEOUT_MS, err, sizeof(err));
	if (!r)
		fprintf(stderr, "outpost: dkim: resolver: %s\n", err);
	return r;
}

/* --resolver X as the only option; the remaining args are left in argv[optind..]. */
static int resolver_opt(int argc, char **argv, const char **spec)
{
	static const struct option longopts[] = {
		{ "resolver", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;
	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (ch != 'r')
			return -1;
		*spec = optarg;
	}
	return 0;
}

static int show(int argc, char **argv, const char *file)
{
	const char *spec = NULL;
	char err[512], name[512], why[256];
	int bad = 0;

	if (resolver_opt(argc, argv, &spec) < 0 || optind != argc)
		return dkim_usage();
	struct config *cf = config_load(file, err, sizeof(err));
	if (!cf) {
		fprintf(stderr, "outpost: dkim: %s\n", err);
		return 1;
	}
	if (cf->ndkim == 0) {
		printf("no dkim keys configured in %s\n", file);
		config_free(cf);
		return 1;
	}
	struct lookup l = { 0 };
	l.base = event_base_new();
	struct resolver *r = open_resolver(l.base, spec, cf);
	for (size_t i = 0; r && i < cf->ndkim; i++) {
		const struct dkim_conf *dc = &cf->dkim[i];
		struct dkim_key *k;
		if (dkim_key_load(dc->key, &k, err, sizeof(err)) < 0) {
			printf("%s._domainkey.%s: key error: %s\n", dc->selector, dc->domain, err);
			bad = 1;
			continue;
		}
		if (dkim_key_dns_name(dc->selector, dc->domain, name, sizeof(name)) < 0) {
			dkim_key_free(k);
			bad = 1;
			continue;
		}
		char *txt = dkim_key_txt_record(k);
		resolver_query(r, name, DNS_TYPE_TXT, on_txt, &l);
		while (!l.done)
			event_base_dispatch(l.base);
		enum dkim_pub_status st = DKIM_PUB_MISSING;
		if (l.rcode == DNS_RCODE_NOERROR || l.rcode == DNS_RCODE_NXDOMAIN)
			st = dkim_key_published(k, l.txt, l.n, why, sizeof(why));
		else
			set_error(why, sizeof(why), "DNS lookup failed: %s", l.why[0] ? l.why : "SERVFAIL");
		printf("%s (%s %u bits, key %s%s)\n", name, dkim_key_type_name(k->type), k->bits, dc->key,
		       dc->all ? ", signs all mail" : "");
		char *zone = dkim_txt_zone_strings(txt);
		printf("  publish: %s. IN TXT %s\n", name, zone);
		free(zone);
		printf("  dns: %s (%s)\n", st == DKIM_PUB_MATCH ? "match" : l.rcode == DNS_RCODE_NOERROR ||
		       l.rcode == DNS_RCODE_NXDOMAIN ? dkim_pub_status_name(st) : "error", why);
		bad |= st != DKIM_PUB_MATCH;
		free(txt);
		lookup_clear(&l);
		dkim_key_free(k);
	}
	if (r)
		resolver_free(r);
	event_base_free(l.base);
	config_free(cf);
	return r && !bad ? 0 : 1;
}

/* Reads a message, LF line ends made CRLF (files written by hand or tools). */
static int read_message(const char *path, struct buf *out)
{
	FILE *fp = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	int c, prev = 0;
	if (!fp) {
		perror(path);
		return -1;
	}
	while ((c = getc(fp)) != EOF && out->len < DKIM_MSG_MAX) {
		if (c == '\n' && prev != '\r')
			buf_putc(out, '\r');
		buf_putc(out, (char)c);
		prev = c;
	}
	if (fp != stdin)
		fclose(fp);
	return 0;
}

struct verify_wait {
	struct event_base *base;
	int done, ok;
};

static void on_verified(void *arg, const struct dkim_verify_result *res)
{
	struct verify_wait *w = arg;
	w->done = 1;
	w->ok = res->n > 0 && res->npass == res->n;
	if (res->n == 0)
		printf("none: %s\n", res->error[0] ? res->error : "no DKIM signature");
	for (size_t i = 0; i < res->n; i++)
		printf("%s: d=%s s=%s a=%s%s%s\n", res->sig[i].pass ? "pass" : "fail", res->sig[i].domain,
		       res->sig[i].selector, res->sig[i].alg, res->sig[i].pass ? "" : " reason=",
		       res->sig[i].reason);
	event_base_loopbreak(w->base);
}

static int verify(int argc, char **argv, const char *file)
{
	const char *spec = NULL;
	struct buf msg = BUF_INIT;
	struct config *cf = NULL;
	char err[512];

	if (resolver_opt(argc, argv, &spec) < 0 || optind + 1 != argc)
		return dkim_usage();
	/* the config only gives the resolver: without one, "system" */
	if (!spec && file)
		cf = config_load(file, err, sizeof(err));
	if (read_message(argv[optind], &msg) < 0) {
		config_free(cf);
		return 1;
	}
	struct verify_wait w = { event_base_new(), 0, 0 };
	struct resolver *r = open_resolver(w.base, spec, cf);
	if (r) {
		dkim_verify_start(r, msg.data ? msg.data : "", msg.len, on_verified, &w);
		while (!w.done)
			event_base_dispatch(w.base);
		resolver_free(r);
	}
	event_base_free(w.base);
	buf_free(&msg);
	config_free(cf);
	return w.ok ? 0 : 1;
}

int cmd_dkim(int argc, char **argv, const char *config_file)
{
	if (argc < 2)
		return dkim_usage();
	if (strcmp(argv[1], "keygen") == 0)
		return keygen(argc - 1, argv + 1);
	if (strcmp(argv[1], "show") == 0)
		return show(argc - 1, argv + 1, config_file);
	if (strcmp(argv[1], "verify") == 0)
		return verify(argc - 1, argv + 1, config_file);
	return dkim_usage();
}
