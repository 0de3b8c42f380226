/*
 * provider: host or domain -> receiving provider (contract in provider.h).
 *
 * The table names the domains of each provider's MX hosts and of its
 * consumer mail domains, so that "gmail.com" (a recipient domain, before
 * the MX lookup) and "gmail-smtp-in.l.google.com" (its MX host) give the
 * same class.  GMX and WEB.DE share one mail platform (United Internet:
 * mx00.emig.gmx.net, mx-ha03.web.de), so they are one class.  The public
 * suffix list is deliberately small: a domain under an unlisted two-level
 * suffix becomes "co.xx", which only merges classes, never splits them.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "delivery/provider.h"

static const struct {
	const char *suffix;      /* a domain: matches itself and its subdomains */
	const char *provider;
} providers[] = {
	{ "google.com", "gmail" },               /* aspmx.l.google.com, gmail-smtp-in.l.google.com */
	{ "googlemail.com", "gmail" },
	{ "gmail.com", "gmail" },
	{ "protection.outlook.com", "outlook" }, /* example-com.mail.protection.outlook.com, *.olc.* */
	{ "outlook.com", "outlook" },            /* also hotmail-com.olc.protection.outlook.com */
	{ "hotmail.com", "outlook" },
	{ "live.com", "outlook" },
	{ "msn.com", "outlook" },
	{ "yahoodns.net", "yahoo" },             /* mta5.am0.yahoodns.net; AOL: mx-aol.mail.gm0.yahoodns.net */
	{ "yahoo.com", "yahoo" },
	{ "ymail.com", "yahoo" },
	{ "aol.com", "yahoo" },
	{ "icloud.com", "icloud" },              /* mx01.mail.icloud.com */
	{ "me.com", "icloud" },
	{ "mac.com", "icloud" },
	{ "gmx.net", "gmx" },
	{ "gmx.de", "gmx" },
	{ "gmx.com", "gmx" },
	{ "web.de", "gmx" },
	{ "yandex.net", "yandex" },
	{ "yandex.ru", "yandex" },
	{ "mail.ru", "mailru" },
	{ "zoho.com", "zoho" },                  /* mx.zoho.com; regional data centres below */
	{ "zoho.eu", "zoho" },
	{ "zoho.in", "zoho" },
	{ "zoho.com.au", "zoho" },
	{ "zoho.jp", "zoho" },
	{ "zohomail.com", "zoho" },
	{ "protonmail.ch", "proton" },
	{ "proton.me", "proton" },
	{ "messagingengine.com", "fastmail" },
	{ "fastmail.com", "fastmail" },
	{ "mimecast.com", "mimecast" },          /* us-smtp-inbound-1.mimecast.com, eu-..., de-... */
	{ "mimecast.co.za", "mimecast" },        /* za-smtp-inbound-1.mimecast.co.za */
	{ "mimecast-offshore.com", "mimecast" },
	{ "protection.office365.us", "outlook" }, /* Microsoft 365 GCC High */
};

/* Other names of the providers above, as operators call them. */
static const struct {
	const char *alias, *provider;
} aliases[] = {
	{ "google", "gmail" }, { "microsoft", "outlook" }, { "apple", "icloud" },
};

/* Two-level public suffixes under which a registered domain has three labels. */
static const char *const two_level[] = {
	"co.uk", "org.uk", "ac.uk", "gov.uk", "me.uk", "ltd.uk", "plc.uk", "net.uk",
	"com.au", "net.au", "org.au", "edu.au", "gov.au",
	"co.jp", "ne.jp", "or.jp", "ac.jp", "go.jp",
	"co.nz", "org.nz", "net.nz", "co.za", "org.za",
	"com.br", "net.br", "org.br", "com.cn", "net.cn", "org.cn", "com.mx", "com.ar",
	"co.in", "net.in", "org.in", "co.kr", "or.kr", "co.il", "org.il", "com.tr", "com.tw", "com.hk",
	"com.sg", "com.my", "co.id", "com.ph", "co.th", "com.vn", "com.ua", "com.pl", "co.at", "or.at",
};

/* 1 when name is suffix or ends with "." suffix. */
static int under(const char *name, size_t len, const char *suffix)
{
	size_t sl = strlen(suffix);
	if (len == sl)
		return memcmp(name, suffix, len) == 0;
	return len > sl && name[len - sl - 1] == '.' && memcmp(name + len - sl, suffix, sl) == 0;
}

/* Where the last n labels of name begin (name itself when it has fewer). */
static const char *last_labels(const char *name, size_t len, int n)
{
	for (size_t i = len; i > 0; i--)
		if (name[i - 1] == '.' && --n == 0)
			return name + i;
	return name;
}

static int is_ip(const char *s)
{
	return strchr(s, ':') != NULL || strspn(s, "0123456789.") == strlen(s);
}

int provider_of(const char *host, char *out, size_t outlen)
{
	char name[256];
	size_t len = host ? strlen(host) : 0;
	if (outlen)
		out[0] = '\0';
	if (len && host[len - 1] == '.')
		len--;
	if (len == 0 || len >= sizeof(name))
		return -1;
	for (size_t i = 0; i < len; i++)
		name[i] = (char)tolower((unsigned char)host[i]);
	name[len] = '\0';
	const char *res = NULL;
	for (size_t i = 0; i < sizeof(providers) / sizeof(providers[0]) && !res; i++)
		if (under(name, len, providers[i].suffix))
			res = providers[i].provider;
	if (res == NULL && is_ip(name))
		res = name;
	if (res == NULL) {
		res = last_labels(name, len, 2);
		for (size_t i = 0; i < sizeof(two_level) / sizeof(two_level[0]); i++)
			if (strcmp(res, two_level[i]) == 0) {
				res = last_labels(name, len, 3);
				break;
			}
	}
	int n = snprintf(out, outlen, "%s", res);
	if (n < 0 || (size_t)n >= outlen) {
		if (outlen)
			out[0] = '\0';
		return -1;
	}
	return 0;
}

const char *provider_key(const char *name)
{
	for (size_t i = 0; name && i < sizeof(providers) / sizeof(providers[0]); i++)
		if (strcasecmp(name, providers[i].provider) == 0)
			return providers[i].provider;
	for (size_t i = 0; name && i < sizeof(aliases) / sizeof(aliases[0]); i++)
		if (strcasecmp(name, aliases[i].alias) == 0)
			return aliases[i].provider;
	return NULL;
}

int provider_key_list(char *out, size_t outlen)
{
	size_t used = 0;
	for (size_t i = 0; i < sizeof(providers) / sizeof(providers[0]); i++) {
		const char *p = providers[i].provider;
		size_t k;
		for (k = 0; k < i && strcmp(providers[k].provider, p) != 0; k++)
			;
		if (k < i)
			continue;  /* named already (the table lists each provider's domains together) */
		int n = snprintf(out + used, outlen - used, "%s%s", used ? ", " : "", p);
		if (n < 0 || (size_t)n >= outlen - used)
			return -1;
		used += (size_t)n;
		for (size_t a = 0; a < sizeof(aliases) / sizeof(aliases[0]); a++) {
			if (strcmp(aliases[a].provider, p) != 0)
				continue;
			n = snprintf(out + used, outlen - used, " (%s)", aliases[a].alias);
			if (n < 0 || (size_t)n >= outlen - used)
				return -1;
			used += (size_t)n;
		}
	}
	return 0;
}
