/* dkim_key: DKIM private keys and published key records; see dkim_key.h. */
#include "mailauth/dkim_key.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "core/base64.h"
#include "log.h"
#include "xmalloc.h"

/* A PEM key file larger than this is not a key (RSA-8192 PEM is ~6.5 KB). */
#define KEY_FILE_MAX (64 * 1024)

static int key_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int key_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vset_error(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

const char *dkim_key_type_name(enum dkim_key_type t)
{
	switch (t) {
	case DKIM_KEY_RSA: return "rsa";
	case DKIM_KEY_ED25519: return "ed25519";
	default: return "unknown";
	}
}

enum dkim_key_type dkim_key_type_parse(const char *s)
{
	if (strcasecmp(s, "rsa") == 0)
		return DKIM_KEY_RSA;
	if (strcasecmp(s, "ed25519") == 0)
		return DKIM_KEY_ED25519;
	return DKIM_KEY_UNKNOWN;
}

/* The DKIM form of the public half of pkey (p= value), or NULL. */
static char *public_b64(EVP_PKEY *pkey, enum dkim_key_type type)
{
	unsigned char *der = NULL;
	char *b64;
	int n;

	if (type == DKIM_KEY_ED25519) {
		unsigned char raw[32];
		size_t rawlen = sizeof(raw);
		if (EVP_PKEY_get_raw_public_key(pkey, raw, &rawlen) != 1 || rawlen != 32)
			return NULL;
		return base64_encode_alloc(raw, rawlen);
	}
	n = i2d_PUBKEY(pkey, &der);
	if (n <= 0)
		return NULL;
	b64 = base64_encode_alloc(der, (size_t)n);
	OPENSSL_free(der);
	return b64;
}

/* Fills a dkim_key from a parsed pkey and its PEM form. */
static int key_from_pkey(EVP_PKEY *pkey, const char *pem, size_t pemlen, const char *name,
			 struct dkim_key **out, char *err, size_t errlen)
{
	struct dkim_key *k;
	enum dkim_key_type type;
	int bits = EVP_PKEY_get_bits(pkey);

	if (EVP_PKEY_get_base_id(pkey) == EVP_PKEY_RSA)
		type = DKIM_KEY_RSA;
	else if (EVP_PKEY_get_base_id(pkey) == EVP_PKEY_ED25519)
		type = DKIM_KEY_ED25519;
	else
		return key_err(err, errlen, "%s: not an RSA or Ed25519 key", name);
	if (type == DKIM_KEY_RSA && bits < 1024)
		return key_err(err, errlen, "%s: RSA key of %d bits (RFC 8301 needs 1024 or more)",
			       name, bits);
	k = xcalloc(1, sizeof(*k));
	k->type = type;
	k->bits = type == DKIM_KEY_RSA ? (unsigned)bits : 256;
	k->pem = xstrndup(pem, pemlen);
	k->pemlen = pemlen;
	k->pub_b64 = public_b64(pkey, type);
	if (!k->pub_b64) {
		dkim_key_free(k);
		return key_err(err, errlen, "%s: cannot derive the public key", name);
	}
	*out = k;
	return 0;
}

int dkim_key_from_pem(const char *pem, size_t len, const char *name,
		      struct dkim_key **out, char *err, size_t errlen)
{
	BIO *bio;
	EVP_PKEY *pkey;
	int rc;

	if (len == 0 || len > KEY_FILE_MAX)
		return key_err(err, errlen, "%s: not a PEM private key", name);
	bio = BIO_new_mem_buf(pem, (int)len);
	if (!bio)
		return key_err(err, errlen, "%s: out of memory", name);
	/* No passphrase callback: an encrypted key cannot be used unattended. */
	pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, (void *)"");
	BIO_free(bio);
	if (!pkey)
		return key_err(err, errlen, "%s: not a PEM private key (or encrypted)", name);
	rc = key_from_pkey(pkey, pem, len, name, out, err, errlen);
	EVP_PKEY_free(pkey);
	return rc;
}

int dkim_key_load(const char *file, struct dkim_key **out, char *err, size_t errlen)
{
	char pem[KEY_FILE_MAX];
	size_t n;
	int rc;
	FILE *fp = fopen(file, "re");

	if (!fp)
		return key_err(err, errlen, "%s: %s", file, strerror(errno));
	n = fread(pem, 1, sizeof(pem), fp);
	if (ferror(fp) || n == sizeof(pem)) {
		fclose(fp);
		return key_err(err, errlen, "%s: %s", file,
			       n == sizeof(pem) ? "too large for a key" : "read error");
	}
	fclose(fp);
	rc = dkim_key_from_pem(pem, n, file, out, err, errlen);
	OPENSSL_cleanse(pem, sizeof(pem));
	return rc;
}

int dkim_key_generate(enum dkim_key_type type, unsigned bits, struct dkim_key **out,
		      char *err, size_t errlen)
{
	EVP_PKEY *pkey = NULL;
	BIO *bio;
	char *pem;
	long pemlen;
	int rc;

	if (type == DKIM_KEY_RSA) {
		if (bits == 0)
			bits = 2048;
		if (bits < 1024 || bits > 8192)
			return key_err(err, errlen, "RSA bits must be 1024..8192");
		pkey = EVP_RSA_gen(bits);
	} else if (type == DKIM_KEY_ED25519) {
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	} else {
		return key_err(err, errlen, "unknown key type");
	}
	if (!pkey)
		return key_err(err, errlen, "key generation failed");
	bio = BIO_new(BIO_s_mem());
	if (!bio || PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL) != 1) {
		BIO_free(bio);
		EVP_PKEY_free(pkey);
		return key_err(err, errlen, "cannot encode the key");
	}
	pemlen = BIO_get_mem_data(bio, &pem);
	rc = key_from_pkey(pkey, pem, (size_t)pemlen, "new key", out, err, errlen);
	BIO_free(bio);
	EVP_PKEY_free(pkey);
	return rc;
}

int dkim_key_write(const struct dkim_key *k, const char *file, char *err, size_t errlen)
{
	size_t off = 0;
	int fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

	if (fd < 0)
		return key_err(err, errlen, "%s: %s", file, strerror(errno));
	while (off < k->pemlen) {
		ssize_t w = write(fd, k->pem + off, k->pemlen - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			key_err(err, errlen, "%s: %s", file, strerror(errno));
			close(fd);
			unlink(file);
			return -1;
		}
		off += (size_t)w;
	}
	if (fsync(fd) < 0 || close(fd) < 0) {
		key_err(err, errlen, "%s: %s", file, strerror(errno));
		unlink(file);
		return -1;
	}
	return 0;
}

void dkim_key_free(struct dkim_key *k)
{
	if (!k)
		return;
	if (k->pem)
		OPENSSL_cleanse(k->pem, k->pemlen);
	free(k->pem);
	free(k->pub_b64);
	free(k);
}

char *dkim_key_txt_record(const struct dkim_key *k)
{
	return xasprintf("v=DKIM1; k=%s; p=%s", dkim_key_type_name(k->type), k->pub_b64);
}

char *dkim_txt_zone_strings(const char *txt)
{
	size_t len = strlen(txt);
	/* per octet at most 2 (escaped); per 255-octet string 3 more ("" and a space) */
	char *out = xmalloc(2 * len + 3 * (len / 255 + 1) + 1), *o = out;
	for (size_t i = 0; i == 0 || i < len; i += 255) {
		if (i > 0)
			*o++ = ' ';
		*o++ = '"';
		for (size_t k = i; k < len && k < i + 255; k++) {
			if (txt[k] == '"' || txt[k] == '\\')
				*o++ = '\\';
			*o++ = txt[k];
		}
		*o++ = '"';
	}
	*o = '\0';
	return out;
}

int dkim_key_dns_name(const char *selector, const char *domain, char *out, size_t outlen)
{
	int n = snprintf(out, outlen, "%s._domainkey.%s", selector, domain);
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

/* --- the key record parser (RFC 6376 3.2 tag-list, 3.6.1 tags) --- */

static int is_fws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* VALCHAR (%x21-3A / %x3C-7E): printable ASCII except ";". */
static int is_valchar(char c)
{
	return c >= 0x21 && c <= 0x7e && c != ';';
}

/* Strict base64 (core/base64.h) into memory of its own. */
static int b64_decode(const char *s, size_t n, unsigned char **out, size_t *outlen)
{
	size_t room = base64_decoded_max(n) + 1;
	unsigned char *o = xmalloc(room);
	long got = base64_decode(s, n, o, room);
	if (got < 0) {
		free(o);
		return -1;
	}
	*out = o;
	*outlen = (size_t)got;
	return 0;
}

/* Stores a value, refusing a second occurrence of the tag. */
static int set_tag(char **slot, const char *name, const char *v, size_t vlen,
		   char *err, size_t errlen)
{
	if (*slot)
		return key_err(err, errlen, "duplicate tag %s=", name);
	*slot = xstrndup(v, vlen);
	return 0;
}

/* 1 when the colon-separated list holds word (any case, FWS around items). */
static int list_has(const char *list, const char *word)
{
	const char *p = list;
	size_t wl = strlen(word);

	while (*p) {
		const char *e = strchr(p, ':');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		size_t a = 0, b = n;
		while (a < b && is_fws(p[a]))
			a++;
		while (b > a && is_fws(p[b - 1]))
			b--;
		if (b - a == wl && strncasecmp(p + a, word, wl) == 0)
			return 1;
		if (!e)
			break;
		p = e + 1;
	}
	return 0;
}

/* p= with FWS removed, then decoded. */
static int parse_p(struct dkim_key_record *rec, char *err, size_t errlen)
{
	size_t j = 0;
	for (size_t i = 0; rec->p[i]; i++)
		if (!is_fws(rec->p[i]))
			rec->p[j++] = rec->p[i];
	rec->p[j] = '\0';
	if (j == 0) {
		rec->revoked = 1;
		return 0;
	}
	if (b64_decode(rec->p, j, &rec->pub, &rec->publen) < 0)
		return key_err(err, errlen, "p= is not base64");
	return 0;
}

/* One tag-spec t[0..n) ("name = value" with FWS). */
static int parse_tag(struct dkim_key_record *rec, const char *t, size_t n, int first,
		     char *err, size_t errlen)
{
	size_t i = 0, ns, ne, vs, ve;

	while (i < n && is_fws(t[i]))
		i++;
	if (i == n)
		return 0;           /* empty tag-spec: only the trailing ";" form is legal, be lenient */
	ns = i;
	if (!isalpha((unsigned char)t[i]))
		return key_err(err, errlen, "bad tag name");
	while (i < n && (isalnum((unsigned char)t[i]) || t[i] == '_'))
		i++;
	ne = i;
	while (i < n && is_fws(t[i]))
		i++;
	if (i == n || t[i] != '=')
		return key_err(err, errlen, "tag %.*s without '='", (int)(ne - ns), t + ns);
	i++;
	while (i < n && is_fws(t[i]))
		i++;
	vs = i;
	ve = n;
	while (ve > vs && is_fws(t[ve - 1]))
		ve--;
	for (size_t k = vs; k < ve; k++)
		if (!is_valchar(t[k]) && !is_fws(t[k]))
			return key_err(err, errlen, "bad character in tag %.*s", (int)(ne - ns), t + ns);

	const char *v = t + vs;
	size_t vl = ve - vs, nl = ne - ns;
	const char *name = t + ns;
	if (nl == 1 && name[0] == 'v') {
		if (!first)
			return key_err(err, errlen, "v= is not the first tag");
		if (vl != 5 || memcmp(v, "DKIM1", 5) != 0)
			return key_err(err, errlen, "v= is not DKIM1");
		rec->has_v = 1;
		return 0;
	}
	if (nl != 1)
		return 0;           /* unknown tags are ignored (3.6.1) */
	switch (name[0]) {
	case 'h': return set_tag(&rec->h, "h", v, vl, err, errlen);
	case 'k': return set_tag(&rec->k, "k", v, vl, err, errlen);
	case 'n': return set_tag(&rec->n, "n", v, vl, err, errlen);
	case 'p': return set_tag(&rec->p, "p", v, vl, err, errlen);
	case 's': return set_tag(&rec->s, "s", v, vl, err, errlen);
	case 't': return set_tag(&rec->t, "t", v, vl, err, errlen);
	default: return 0;
	}
}

int dkim_key_record_parse(const char *txt, size_t len, struct dkim_key_record **out,
			  char *err, size_t errlen)
{
	struct dkim_key_record *rec = xcalloc(1, sizeof(*rec));
	size_t start = 0;
	int first = 1;

	rec->type = DKIM_KEY_RSA;
	while (start <= len) {
		const char *semi = memchr(txt + start, ';', len - start);
		size_t end = semi ? (size_t)(semi - txt) : len;
		if (parse_tag(rec, txt + start, end - start, first, err, errlen) < 0)
			goto fail;
		first = 0;
		start = end + 1;
	}
	if (!rec->p) {
		key_err(err, errlen, "no p= tag");
		goto fail;
	}
	if (parse_p(rec, err, errlen) < 0)
		goto fail;
	if (rec->k)
		rec->type = dkim_key_type_parse(rec->k);
	if (rec->t) {
		rec->testing = list_has(rec->t, "y");
		rec->strict = list_has(rec->t, "s");
	}
	*out = rec;
	return 0;
fail:
	dkim_key_record_free(rec);
	return -1;
}

void dkim_key_record_free(struct dkim_key_record *rec)
{
	if (!rec)
		return;
	free(rec->k);
	free(rec->h);
	free(rec->s);
	free(rec->t);
	free(rec->n);
	free(rec->p);
	free(rec->pub);
	free(rec);
}

int dkim_key_record_usable(const struct dkim_key_record *rec)
{
	if (rec->h && !list_has(rec->h, "sha256"))
		return 0;
	if (rec->s && !list_has(rec->s, "email") && !list_has(rec->s, "*"))
		return 0;
	return 1;
}

int dkim_key_record_match(const struct dkim_key_record *rec, const struct dkim_key *key,
			  char *err, size_t errlen)
{
	if (rec->revoked)
		return key_err(err, errlen, "the published key is revoked (empty p=)");
	if (rec->type != key->type)
		return key_err(err, errlen, "the published key is k=%s, the private key is %s",
			       rec->k ? rec->k : "rsa", dkim_key_type_name(key->type));
	if (strcmp(rec->p, key->pub_b64) != 0)
		return key_err(err, errlen, "the published key is another key");
	if (!dkim_key_record_usable(rec))
		return key_err(err, errlen, "the record's h= or s= excludes sha256 email signatures");
	return 0;
}

/* Cheap test whether a TXT record is meant as a DKIM key (others at the
 * name, e.g. a stray SPF record, are ignored as RFC 6376 3.6.2.2 allows). */
static int looks_dkim(const struct buf *b)
{
	return memmem(b->data, b->len, "p=", 2) != NULL;
}

enum dkim_pub_status dkim_key_published(const struct dkim_key *key, const struct buf *txt,
					size_t n, char *why, size_t whylen)
{
	enum dkim_pub_status st = DKIM_PUB_MISSING;
	char reason[256];

	set_error(why, whylen, "no DKIM TXT record");
	for (size_t i = 0; i < n; i++) {
		struct dkim_key_record *rec;
		if (!looks_dkim(&txt[i]))
			continue;
		if (dkim_key_record_parse(txt[i].data, txt[i].len, &rec, reason, sizeof(reason)) < 0) {
			if (st == DKIM_PUB_MISSING) {
				st = DKIM_PUB_INVALID;
				set_error(why, whylen, "unparsable record: %s", reason);
			}
			continue;
		}
		int rc = dkim_key_record_match(rec, key, reason, sizeof(reason));
		dkim_key_record_free(rec);
		if (rc == 0) {
			set_error(why, whylen, "published");
			return DKIM_PUB_MATCH;
		}
		st = DKIM_PUB_MISMATCH;
		set_error(why, whylen, "%s", reason);
	}
	return st;
}

const char *dkim_pub_status_name(enum dkim_pub_status st)
{
	switch (st) {
	case DKIM_PUB_MATCH: return "match";
	case DKIM_PUB_MISSING: return "missing";
	case DKIM_PUB_MISMATCH: return "mismatch";
	default: return "invalid";
	}
}
