/*
 * dmarc_report: the aggregate report parser (see dmarc_report.h).  First
 * the container (gzip by 1f 8b, zip by "PK\3\4", else XML), then the XML
 * tree, walked by element local names.
 */
#include "dmarc/dmarc_report.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <zip.h>
#include <zlib.h>

#include "core/buf.h"
#include "core/xmalloc.h"

#define MAX_RECORDS 1000000

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (vsnprintf(err, errlen, fmt, ap) < 0 && errlen)
		err[0] = '\0';
	va_end(ap);
	return -1;
}

/* --- containers */

static int gunzip(const unsigned char *in, size_t len, struct buf *out, char *err, size_t errlen)
{
	z_stream zs;
	memset(&zs, 0, sizeof(zs));
	if (inflateInit2(&zs, 15 + 32) != Z_OK)
		return fail(err, errlen, "gzip: cannot start zlib");
	zs.next_in = (unsigned char *)in;
	zs.avail_in = (uInt)(len > UINT32_MAX ? UINT32_MAX : len);
	int rc = Z_OK;
	unsigned char chunk[16384];
	while (rc == Z_OK) {
		zs.next_out = chunk;
		zs.avail_out = sizeof(chunk);
		rc = inflate(&zs, Z_NO_FLUSH);
		if (rc != Z_OK && rc != Z_STREAM_END)
			break;
		buf_append(out, (const char *)chunk, sizeof(chunk) - zs.avail_out);
		if (out->len > DMARC_REPORT_MAX) {
			inflateEnd(&zs);
			return fail(err, errlen, "gzip: the report is over %u MiB decompressed", DMARC_REPORT_MAX >> 20);
		}
		if (rc == Z_OK && zs.avail_in == 0 && zs.avail_out != 0)
			rc = Z_BUF_ERROR;       /* input ended before the stream did */
	}
	inflateEnd(&zs);
	if (rc != Z_STREAM_END)
		return fail(err, errlen, "gzip: %s", rc == Z_BUF_ERROR ? "truncated" : zs.msg ? zs.msg : "corrupt data");
	return 0;
}

/* The first entry of the archive that holds a file; its content in out. */
static int unzip(const unsigned char *in, size_t len, struct buf *out, char *err, size_t errlen)
{
	zip_error_t ze;
	zip_error_init(&ze);
	zip_source_t *src = zip_source_buffer_create(in, len, 0, &ze);
	zip_t *z = src ? zip_open_from_source(src, ZIP_RDONLY, &ze) : NULL;
	if (z == NULL) {
		fail(err, errlen, "zip: %s", zip_error_strerror(&ze));
		if (src)
			zip_source_free(src);
		zip_error_fini(&ze);
		return -1;
	}
	zip_error_fini(&ze);
	int rc = fail(err, errlen, "zip: no entry holds a file");
	zip_int64_t n = zip_get_num_entries(z, 0);
	for (zip_int64_t i = 0; i < n && rc < 0; i++) {
		zip_stat_t st;
		if (zip_stat_index(z, (zip_uint64_t)i, 0, &st) < 0 || !(st.valid & ZIP_STAT_SIZE))
			continue;
		if (st.size > DMARC_REPORT_MAX) {
			fail(err, errlen, "zip: the report is over %u MiB decompressed", DMARC_REPORT_MAX >> 20);
			break;
		}
		if (st.name && st.name[0] && st.name[strlen(st.name) - 1] == '/')
			continue;               /* a directory */
		zip_file_t *f = zip_fopen_index(z, (zip_uint64_t)i, 0);
		if (f == NULL) {
			fail(err, errlen, "zip: %s", zip_strerror(z));
			continue;
		}
		buf_reset(out);
		char chunk[16384];
		zip_int64_t got;
		while ((got = zip_fread(f, chunk, sizeof(chunk))) > 0 && out->len <= DMARC_REPORT_MAX)
			buf_append(out, chunk, (size_t)got);
		if (got < 0)
			fail(err, errlen, "zip: %s", zip_file_strerror(f));
		else if (out->len > DMARC_REPORT_MAX)
			fail(err, errlen, "zip: the report is over %u MiB decompressed", DMARC_REPORT_MAX >> 20);
		else
			rc = 0;
		zip_fclose(f);
	}
	zip_discard(z);
	return rc;
}

/* --- the XML tree */

static int named(const xmlNode *n, const char *name)
{
	return n && n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

static const xmlNode *child(const xmlNode *n, const char *name)
{
	for (const xmlNode *c = n ? n->children : NULL; c; c = c->next)
		if (named(c, name))
			return c;
	return NULL;
}

/* The trimmed text of element path (a/b/c under n) into out; -1 when the
 * element is missing, empty or does not fit. */
static int text_at(const xmlNode *n, const char *path, char *out, size_t outlen)
{
	char part[64];
	const char *p = path;
	while (n && *p) {
		size_t k = strcspn(p, "/");
		if (k >= sizeof(part))
			return -1;
		memcpy(part, p, k);
		part[k] = '\0';
		n = child(n, part);
		p += k + (p[k] == '/');
	}
	if (n == NULL)
		return -1;
	xmlChar *t = xmlNodeGetContent(n);
	const char *s = (const char *)t, *e;
	while (s && isspace((unsigned char)*s))
		s++;
	e = s ? s + strlen(s) : NULL;
	while (e && e > s && isspace((unsigned char)e[-1]))
		e--;
	int rc = s && e > s && (size_t)(e - s) < outlen ? 0 : -1;
	if (rc == 0) {
		memcpy(out, s, (size_t)(e - s));
		out[e - s] = '\0';
	}
	xmlFree(t);
	return rc;
}

static void lower(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

static int parse_ll(const char *s, long long *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < 0)
		return -1;
	*out = v;
	return 0;
}

static int required(const xmlNode *n, const char *path, char *out, size_t outlen, const char *where,
		    char *err, size_t errlen)
{
	if (text_at(n, path, out, outlen) == 0)
		return 0;
	return fail(err, errlen, "%s%s is missing, empty or too long", where, path);
}

static int parse_metadata(const xmlNode *root, struct dmarc_report *r, char *err, size_t errlen)
{
	char v[64];
	const xmlNode *m = child(root, "report_metadata");
	if (m == NULL)
		return fail(err, errlen, "report_metadata is missing");
	if (required(m, "org_name", r->org_name, sizeof(r->org_name), "report_metadata/", err, errlen) < 0 ||
	    required(m, "report_id", r->report_id, sizeof(r->report_id), "report_metadata/", err, errlen) < 0)
		return -1;
	(void)text_at(m, "email", r->email, sizeof(r->email));
	if (required(m, "date_range/begin", v, sizeof(v), "report_metadata/", err, errlen) < 0)
		return -1;
	if (parse_ll(v, &r->begin) < 0)
		return fail(err, errlen, "report_metadata/date_range/begin \"%s\" is not a time", v);
	if (required(m, "date_range/end", v, sizeof(v), "report_metadata/", err, errlen) < 0)
		return -1;
	if (parse_ll(v, &r->end) < 0)
		return fail(err, errlen, "report_metadata/date_range/end \"%s\" is not a time", v);
	if (r->end < r->begin)
		return fail(err, errlen, "report_metadata/date_range ends (%lld) before it begins (%lld)",
			    r->end, r->begin);
	return 0;
}

static int parse_policy(const xmlNode *root, struct dmarc_report *r, char *err, size_t errlen)
{
	char v[32];
	const xmlNode *p = child(root, "policy_published");
	if (p == NULL)
		return fail(err, errlen, "policy_published is missing");
	if (required(p, "domain", r->domain, sizeof(r->domain), "policy_published/", err, errlen) < 0 ||
	    required(p, "p", r->p, sizeof(r->p), "policy_published/", err, errlen) < 0)
		return -1;
	lower(r->domain);
	lower(r->p);
	if (strcmp(r->p, "none") && strcmp(r->p, "quarantine") && strcmp(r->p, "reject"))
		return fail(err, errlen, "policy_published/p \"%s\" is not none, quarantine or reject", r->p);
	(void)text_at(p, "sp", r->sp, sizeof(r->sp));
	(void)text_at(p, "adkim", r->adkim, sizeof(r->adkim));
	(void)text_at(p, "aspf", r->aspf, sizeof(r->aspf));
	lower(r->sp);
	lower(r->adkim);
	lower(r->aspf);
	long long pct = 100;
	if (text_at(p, "pct", v, sizeof(v)) == 0 && (parse_ll(v, &pct) < 0 || pct > 100))
		return fail(err, errlen, "policy_published/pct \"%s\" is not 0 to 100", v);
	r->pct = (unsigned)pct;
	return 0;
}

static int pass_or_fail(const char *v)
{
	return strcmp(v, "pass") == 0 || strcmp(v, "fail") == 0;
}

static int parse_record(const xmlNode *n, size_t idx, struct dmarc_record *rec, char *err, size_t errlen)
{
	char where[48], v[64];
	unsigned char a[16];
	snprintf(where, sizeof(where), "record %zu: ", idx + 1);
	if (required(n, "row/source_ip", rec->source_ip, sizeof(rec->source_ip), where, err, errlen) < 0)
		return -1;
	if (inet_pton(AF_INET, rec->source_ip, a) != 1 && inet_pton(AF_INET6, rec->source_ip, a) != 1)
		return fail(err, errlen, "%srow/source_ip \"%s\" is not an IP address", where, rec->source_ip);
	long long count;
	if (required(n, "row/count", v, sizeof(v), where, err, errlen) < 0)
		return -1;
	if (parse_ll(v, &count) < 0)
		return fail(err, errlen, "%srow/count \"%s\" is not a count", where, v);
	rec->count = (unsigned long long)count;
	if (required(n, "row/policy_evaluated/disposition", rec->disposition, sizeof(rec->disposition), where,
		     err, errlen) < 0 ||
	    required(n, "row/policy_evaluated/dkim", rec->dkim, sizeof(rec->dkim), where, err, errlen) < 0 ||
	    required(n, "row/policy_evaluated/spf", rec->spf, sizeof(rec->spf), where, err, errlen) < 0 ||
	    required(n, "identifiers/header_from", rec->header_from, sizeof(rec->header_from), where, err,
		     errlen) < 0)
		return -1;
	lower(rec->disposition);
	lower(rec->dkim);
	lower(rec->spf);
	lower(rec->header_from);
	if (!pass_or_fail(rec->dkim) || !pass_or_fail(rec->spf))
		return fail(err, errlen, "%srow/policy_evaluated: dkim \"%s\" and spf \"%s\" must be pass or fail",
			    where, rec->dkim, rec->spf);
	(void)text_at(n, "identifiers/envelope_from", rec->envelope_from, sizeof(rec->envelope_from));
	(void)text_at(n, "auth_results/dkim/domain", rec->dkim_domain, sizeof(rec->dkim_domain));
	(void)text_at(n, "auth_results/dkim/result", rec->dkim_result, sizeof(rec->dkim_result));
	(void)text_at(n, "auth_results/spf/domain", rec->spf_domain, sizeof(rec->spf_domain));
	(void)text_at(n, "auth_results/spf/result", rec->spf_result, sizeof(rec->spf_result));
	lower(rec->dkim_domain);
	lower(rec->dkim_result);
	lower(rec->spf_domain);
	lower(rec->spf_result);
	return 0;
}

static int parse_tree(const xmlNode *root, struct dmarc_report *r, char *err, size_t errlen)
{
	if (!named(root, "feedback"))
		return fail(err, errlen, "the root element is <%s>, not <feedback>: not a DMARC aggregate report",
			    root ? (const char *)root->name : "");
	if (parse_metadata(root, r, err, errlen) < 0 || parse_policy(root, r, err, errlen) < 0)
		return -1;
	size_t cap = 0;
	for (const xmlNode *c = root->children; c; c = c->next) {
		if (!named(c, "record"))
			continue;
		if (r->nrec == MAX_RECORDS)
			return fail(err, errlen, "more than %d records", MAX_RECORDS);
		if (r->nrec == cap) {
			cap = cap ? 2 * cap : 16;
			r->rec = xreallocarray(r->rec, cap, sizeof(*r->rec));
		}
		memset(&r->rec[r->nrec], 0, sizeof(r->rec[0]));
		if (parse_record(c, r->nrec, &r->rec[r->nrec], err, errlen) < 0)
			return -1;
		r->nrec++;
	}
	if (r->nrec == 0)
		return fail(err, errlen, "no record: a report has at least one");
	return 0;
}

static int parse_xml(const char *xml, size_t len, struct dmarc_report *r, char *err, size_t errlen)
{
	if (len > INT32_MAX)
		return fail(err, errlen, "the report is too large");
	xmlParserCtxtPtr ctx = xmlNewParserCtxt();
	if (ctx == NULL)
		return fail(err, errlen, "cannot start the XML parser");
	xmlDocPtr doc = xmlCtxtReadMemory(ctx, xml, (int)len, "report.xml", NULL,
					  XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	int rc;
	if (doc == NULL) {
		const xmlError *e = xmlCtxtGetLastError(ctx);
		char msg[200] = "not XML";
		if (e && e->message) {
			snprintf(msg, sizeof(msg), "%s", e->message);
			msg[strcspn(msg, "\n")] = '\0';
		}
		rc = fail(err, errlen, "broken XML at line %d: %s", e ? e->line : 0, msg);
	} else {
		rc = parse_tree(xmlDocGetRootElement(doc), r, err, errlen);
		xmlFreeDoc(doc);
	}
	xmlFreeParserCtxt(ctx);
	return rc;
}

int dmarc_report_parse(const void *data, size_t len, struct dmarc_report **out, char *err, size_t errlen)
{
	const unsigned char *d = data;
	struct buf plain = BUF_INIT;
	int rc = 0;
	*out = NULL;
	if (len >= 2 && d[0] == 0x1f && d[1] == 0x8b)
		rc = gunzip(d, len, &plain, err, errlen);
	else if (len >= 4 && memcmp(d, "PK\3\4", 4) == 0)
		rc = unzip(d, len, &plain, err, errlen);
	else if (len > DMARC_REPORT_MAX)
		rc = fail(err, errlen, "the report is over %u MiB", DMARC_REPORT_MAX >> 20);
	else
		buf_append(&plain, data, len);
	struct dmarc_report *r = xcalloc(1, sizeof(*r));
	if (rc == 0 && plain.len == 0)
		rc = fail(err, errlen, "empty: no report");
	if (rc == 0)
		rc = parse_xml(plain.data, plain.len, r, err, errlen);
	buf_free(&plain);
	if (rc < 0) {
		dmarc_report_free(r);
		return -1;
	}
	*out = r;
	return 0;
}

void dmarc_report_free(struct dmarc_report *r)
{
	if (r == NULL)
		return;
	free(r->rec);
	free(r);
}
