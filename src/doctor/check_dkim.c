/*
 * check_dkim: for each DKIM key the config signs the domain's mail with
 * (a key of the domain or of a parent domain), whether the published record at
 * SELECTOR._domainkey.DOMAIN exists, parses and holds the public half of
 * the private key (mailauth/dkim_key.c judges), the key size (1024 bits
 * is the floor, 2048 recommended), and that t=y (testing) is not left on.
 * The fix is the exact record to publish.  When the config's hostname is
 * the domain or under it, also whether outpost's own mail (DSNs and delay
 * notices From: MAILER-DAEMON@hostname) has a key to be signed with.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "dns/dns.h"
#include "doctor/doctor.h"
#include "log.h"
#include "mailauth/dkim.h"
#include "mailauth/dkim_key.h"
#include "xmalloc.h"

#define CHECK "dkim"

struct dkim_doc {
	const struct dkim_conf *conf;
	struct dkim_key *key;
	char name[600];
	const char *subject;
};

static const char *publish_fix(struct doctor *d, const struct dkim_doc *k)
{
	char *txt = dkim_key_txt_record(k->key);
	char *zone = dkim_txt_zone_strings(txt);
	const char *fix = doctor_str(d, "publish %s. TXT %s", k->name, zone);
	free(zone);
	free(txt);
	return fix;
}

/* The published record that matched: still in testing mode (t=y)? */
static int published_testing(const struct dkim_doc *k, const struct dns_result *res)
{
	char err[200];
	for (size_t i = 0; i < res->n && res->txt; i++) {
		struct dkim_key_record *rec;
		if (dkim_key_record_parse(res->txt[i].data, res->txt[i].len, &rec, err, sizeof(err)) < 0)
			continue;
		int testing = rec->testing && dkim_key_record_match(rec, k->key, err, sizeof(err)) == 0;
		dkim_key_record_free(rec);
		if (testing)
			return 1;
	}
	return 0;
}

static void on_record(struct doctor *d, const struct dns_result *res, void *arg)
{
	struct dkim_doc *k = arg;
	char why[300];
	const char *ev;
	if (doctor_dns_absent(res) < 0) {
		ev = doctor_str(d, "TXT %s: %s", k->name, doctor_dns_outcome(d, res));
		doctor_add(d, CHECK, DOCTOR_WARN, k->subject, ev, "run again when DNS answers");
		goto out;
	}
	enum dkim_pub_status st = dkim_key_published(k->key, res->txt, res->n, why, sizeof(why));
	if (st != DKIM_PUB_MATCH) {
		ev = doctor_str(d, "TXT %s: %s: %s", k->name, dkim_pub_status_name(st), why);
		doctor_add(d, CHECK, DOCTOR_FAIL, k->subject, ev, publish_fix(d, k));
		goto out;
	}
	if (published_testing(k, res)) {
		ev = doctor_str(d, "TXT %s matches the key but has t=y: receivers may treat "
				"signatures as unsigned", k->name);
		doctor_add(d, CHECK, DOCTOR_WARN, k->subject, ev, "remove t=y from the record");
		goto out;
	}
	ev = doctor_str(d, "TXT %s matches the private key (%s, %u bits)", k->name,
			dkim_key_type_name(k->key->type), k->key->bits);
	doctor_add(d, CHECK, DOCTOR_PASS, k->subject, ev, NULL);
out:
	dkim_key_free(k->key);
	free(k);
}

static void check_key(struct doctor *d, const struct dkim_conf *conf)
{
	char err[600];
	const char *ev;
	struct dkim_doc *k = xcalloc(1, sizeof(*k));
	k->conf = conf;
	k->subject = doctor_str(d, "selector %s (d=%s)", conf->selector, conf->domain);
	if (dkim_key_dns_name(conf->selector, conf->domain, k->name, sizeof(k->name)) < 0 ||
	    dkim_key_load(conf->key, &k->key, err, sizeof(err)) < 0) {
		if (k->name[0] == '\0')
			set_error(err, sizeof(err), "the selector name is too long");
		doctor_add(d, CHECK, DOCTOR_FAIL, k->subject, err,
			   "make the key readable by outpost, or generate one: "
			   "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048");
		free(k);
		return;
	}
	if (k->key->type == DKIM_KEY_RSA && k->key->bits < 2048) {
		ev = doctor_str(d, "%s: RSA %u bits (2048 recommended)", conf->key, k->key->bits);
		doctor_add(d, CHECK, DOCTOR_WARN, k->subject, ev,
			   "generate a 2048-bit key under a new selector, publish it, then switch");
	}
	doctor_lookup(d, k->name, DNS_TYPE_TXT, on_record, k);
}

/* DSNs and delay notices come From: MAILER-DAEMON@hostname: a receiver
 * checks them against the hostname's domain's DMARC policy. */
void check_dkim_own_mail(struct doctor *d)
{
	const char *host = d->cf->hostname;
	if (!host || !dns_name_is_subdomain(host, d->domain))
		return;
	const char *subject = doctor_str(d, "MAILER-DAEMON@%s (DSNs, delay notices)", host);
	long k = dkim_conf_key_for(d->cf->dkim, d->cf->ndkim, host);
	if (k >= 0) {
		doctor_add(d, CHECK, DOCTOR_PASS, subject,
			   doctor_str(d, "signed with selector %s (d=%s)", d->cf->dkim[k].selector,
				      d->cf->dkim[k].domain), NULL);
		return;
	}
	doctor_add(d, CHECK, DOCTOR_WARN, subject,
		   doctor_str(d, "no DKIM key for %s or a parent domain: outpost's own mail leaves unsigned "
			      "and fails DMARC under p=quarantine or p=reject", host),
		   doctor_str(d, "add dkim = ( { domain = \"%s\"; selector = \"s1\"; key = "
			      "\"/etc/outpost/dkim/s1.pem\"; } ) (or a parent domain of it) and publish the key",
			      host));
}

void check_dkim_start(struct doctor *d)
{
	const char *fix;
	size_t n = 0;
	for (size_t i = 0; i < d->cf->ndkim; i++) {
		if (!dns_name_is_subdomain(d->domain, d->cf->dkim[i].domain))
			continue;       /* not a key that signs mail from this domain */
		check_key(d, &d->cf->dkim[i]);
		n++;
	}
	if (n > 0)
		return;
	fix = doctor_str(d, "add dkim = ( { domain = \"%s\"; selector = \"s1\"; key = "
			 "\"/etc/outpost/dkim/s1.pem\"; } ) to the config and publish the key", d->domain);
	doctor_add(d, CHECK, DOCTOR_FAIL, d->domain, "no DKIM key in the config for this domain: "
		   "mail leaves unsigned", fix);
}
