/* dkim_sign: DKIM signing on keys decoded once; see dkim_sign.h. */
#include "mailauth/dkim_sign.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/base64.h"
#include "log.h"
#include "mailauth/dkim_key.h"
#include "xmalloc.h"

/* Fields signed when present (RFC 6376 5.4.1 recommendations plus the
 * list headers receivers show).  Trace fields (Received) are not signed:
 * every hop adds them. */
static const char *const signed_fields[] = {
	"From", "Reply-To", "Subject", "Date", "To", "Cc", "Message-ID",
	"In-Reply-To", "References", "MIME-Version", "Content-Type",
	"Content-Transfer-Encoding", "Content-ID", "Content-Description",
	"Resent-Date", "Resent-From", "Resent-Sender", "Resent-To", "Resent-Cc",
	"Resent-Message-ID", "Sender", "List-Id", "List-Help", "List-Unsubscribe",
	"List-Unsubscribe-Post", "List-Subscribe", "List-Post", "List-Owner",
	"List-Archive", "Feedback-ID", NULL,
};

/* Signed once more than they occur, so that adding one breaks the
 * signature (a second From: shown to the reader is the classic attack). */
static const char *const oversigned_fields[] = {
	"From", "Reply-To", "Subject", "Date", "To", "Cc", "Message-ID", "MIME-Version",
	"Content-Type", "Content-Transfer-Encoding", "List-Unsubscribe",
	"List-Unsubscribe-Post", NULL,
};

/* Lines of the field we write stay within this many columns (a tab
 * counts 8), as libopendkim folded them before: nothing downstream sees
 * a change. */
#define FOLD_MARGIN 75
#define SIG_MAX 1024                 /* RSA-8192 */

struct dkim_sign_key {
	enum dkim_key_type type;
	EVP_PKEY *pkey;
	EVP_MD *sha256;              /* fetched once: no provider lookup per message */
	EVP_PKEY_CTX *rsa;           /* sign-initialised, PKCS#1 v1.5 + SHA-256; duplicated per signature */
};

struct field {
	const char *p;               /* name ... value, inner folding included */
	size_t n;                    /* without the final CRLF */
	size_t namelen;              /* name without WSP before the colon */
};

static int is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

struct dkim_sign_key *dkim_sign_key_new(const struct dkim_key *k, char *err, size_t errlen)
{
	struct dkim_sign_key *sk = xcalloc(1, sizeof(*sk));
	BIO *bio = BIO_new_mem_buf(k->pem, (int)k->pemlen);

	sk->type = k->type;
	sk->pkey = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, (void *)"") : NULL;
	BIO_free(bio);
	sk->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (!sk->pkey || !sk->sha256) {
		dkim_sign_key_free(sk);
		set_error(err, errlen, "cannot decode the key for signing");
		return NULL;
	}
	if (sk->type == DKIM_KEY_RSA) {
		sk->rsa = EVP_PKEY_CTX_new_from_pkey(NULL, sk->pkey, NULL);
		if (!sk->rsa || EVP_PKEY_sign_init(sk->rsa) <= 0 ||
		    EVP_PKEY_CTX_set_rsa_padding(sk->rsa, RSA_PKCS1_PADDING) <= 0 ||
		    EVP_PKEY_CTX_set_signature_md(sk->rsa, sk->sha256) <= 0) {
			dkim_sign_key_free(sk);
			set_error(err, errlen, "cannot set up RSA signing");
			return NULL;
		}
	}
	return sk;
}

void dkim_sign_key_free(struct dkim_sign_key *sk)
{
	if (!sk)
		return;
	EVP_PKEY_CTX_free(sk->rsa);
	EVP_MD_free(sk->sha256);
	EVP_PKEY_free(sk->pkey);
	free(sk);
}

/* --- canonicalization (RFC 6376 3.4.2, 3.4.4) --- */

void dkim_canon_header(const char *f, size_t n, struct buf *out)
{
	const char *colon = memchr(f, ':', n), *end = f + n;
	size_t nl = colon ? (size_t)(colon - f) : n;
	int space = 0, any = 0;

	while (nl && is_wsp(f[nl - 1]))
		nl--;
	buf_reserve(out, n + 1);
	for (size_t i = 0; i < nl; i++)
		buf_putc(out, lower(f[i]));
	if (!colon)
		return;
	buf_putc(out, ':');
	for (const char *p = colon + 1; p < end; p++) {
		if (*p == '\r' && p + 1 < end && p[1] == '\n') {
			p++;             /* unfold: the CRLF goes, the WSP after it is a run */
			continue;
		}
		if (is_wsp(*p)) {
			space = 1;
			continue;
		}
		if (space && any)    /* runs become one SP; none after the colon or at the end */
			buf_putc(out, ' ');
		space = 0;
		any = 1;
		buf_putc(out, *p);
	}
}

/* End of the line that starts at i: the offset of its CRLF, or n. */
static size_t line_end(const char *b, size_t n, size_t i)
{
	for (;;) {
		const char *cr = memchr(b + i, '\r', n - i);
		if (!cr)
			return n;
		i = (size_t)(cr - b);
		if (i + 1 < n && b[i + 1] == '\n')
			return i;
		i++;
	}
}

/* One line [i, e) with its WSP runs as one SP and none at its end. */
static void canon_line(const char *b, size_t i, size_t e, dkim_canon_out *out, void *arg)
{
	while (i < e) {
		size_t j = i;
		while (j < e && is_wsp(b[j]))
			j++;
		if (j == e)
			return;
		if (j > i)
			out(arg, " ", 1);
		for (i = j; j < e && !is_wsp(b[j]); j++)
			;
		out(arg, b + i, j - i);
		i = j;
	}
}

void dkim_canon_body(const char *body, size_t n, dkim_canon_out *out, void *arg)
{
	size_t blanks = 0;           /* empty lines not yet known to be inside the body */

	for (size_t i = 0; i < n;) {
		size_t e = line_end(body, n, i), j = i;
		while (j < e && is_wsp(body[j]))
			j++;
		if (j == e) {
			blanks++;
		} else {
			for (; blanks; blanks--)
				out(arg, "\r\n", 2);
			canon_line(body, i, e, out, arg);
			out(arg, "\r\n", 2);     /* also for a last line without one */
		}
		i = e < n ? e + 2 : n;
	}
}

static void to_buf(void *arg, const char *p, size_t n)
{
	buf_append(arg, p, n);
}

void dkim_canon_body_buf(const char *body, size_t n, struct buf *out)
{
	dkim_canon_body(body, n, to_buf, out);
}

/* --- the message's header fields --- */

/* The header fields of msg into *fields (caller frees), and the offset of
 * the body (len when there is none); -1 for a field without a colon. */
static int split_fields(const char *m, size_t len, struct field **fields, size_t *nfields,
			size_t *body)
{
	struct field *f = NULL;
	size_t n = 0, cap = 0, i = 0;

	while (i < len && !(len - i >= 2 && m[i] == '\r' && m[i + 1] == '\n')) {
		size_t e = line_end(m, len, i), first = e;
		while (e < len && e + 2 < len && is_wsp(m[e + 2]))
			e = line_end(m, len, e + 2);      /* folded: the field goes on */
		const char *colon = memchr(m + i, ':', first - i);
		if (!colon) {
			free(f);
			return -1;
		}
		if (n == cap) {
			cap = cap ? 2 * cap : 32;
			f = xreallocarray(f, cap, sizeof(*f));
		}
		f[n].p = m + i;
		f[n].n = e - i;
		f[n].namelen = (size_t)(colon - (m + i));
		while (f[n].namelen && is_wsp(f[n].p[f[n].namelen - 1]))
			f[n].namelen--;
		n++;
		i = e < len ? e + 2 : len;
	}
	*body = i < len ? i + 2 : len;
	*fields = f;
	*nfields = n;
	return 0;
}

static int name_is(const struct field *f, const char *name)
{
	return strlen(name) == f->namelen && strncasecmp(f->p, name, f->namelen) == 0;
}

static int listed(const struct field *f, const char *const *list)
{
	for (size_t i = 0; list[i]; i++)
		if (name_is(f, list[i]))
			return 1;
	return 0;
}

struct name {                    /* one h= entry */
	const char *p;
	size_t n;
};

/* The names for h=, in order: each signed field present (as written),
 * then every oversigned name. */
static size_t sign_names(const struct field *f, size_t n, struct name **names)
{
	size_t k = 0, over = sizeof(oversigned_fields) / sizeof(oversigned_fields[0]) - 1;
	struct name *v = xcalloc(n + over, sizeof(*v));

	for (size_t i = 0; i < n; i++)
		if (listed(&f[i], signed_fields))
			v[k++] = (struct name){ f[i].p, f[i].namelen };
	for (size_t i = 0; i < over; i++)
		v[k++] = (struct name){ oversigned_fields[i], strlen(oversigned_fields[i]) };
	*names = v;
	return k;
}

/* --- the DKIM-Signature field, folded --- */

struct fold {
	struct buf *b;
	size_t col;
	int own_line;                /* the next tag starts a line (h=, b=, as libopendkim did) */
};

static void fold_tag(struct fold *fo, const char *s, size_t n)
{
	if (fo->col + 1 + n > FOLD_MARGIN || fo->own_line) {
		buf_puts(fo->b, "\r\n\t");
		fo->col = 8;
	} else {
		buf_putc(fo->b, ' ');
		fo->col++;
	}
	buf_append(fo->b, s, n);
	fo->col += n;
}

/* A piece inside a tag value: on this line, or the next one after "\t ". */
static void fold_piece(struct fold *fo, const char *s, size_t n)
{
	if (fo->col + n > FOLD_MARGIN) {
		buf_puts(fo->b, "\r\n\t ");
		fo->col = 9;
	}
	buf_append(fo->b, s, n);
	fo->col += n;
}

/* "h=a:b:...;" broken after colons. */
static void fold_h(struct fold *fo, const struct name *names, size_t nn)
{
	struct buf piece = BUF_INIT;
	for (size_t i = 0; i < nn; i++) {
		buf_reset(&piece);
		if (i == 0)
			buf_puts(&piece, "h=");
		buf_append(&piece, names[i].p, names[i].n);
		buf_putc(&piece, i + 1 < nn ? ':' : ';');
		if (i == 0)
			fold_tag(fo, piece.data, piece.len);
		else
			fold_piece(fo, piece.data, piece.len);
	}
	buf_free(&piece);
}

/* "b=" + value in pieces that fill each line. */
static void fold_b(struct fold *fo, const char *v, size_t n)
{
	while (n) {
		size_t room = fo->col < FOLD_MARGIN ? FOLD_MARGIN - fo->col : 0;
		if (room == 0) {
			fold_piece(fo, v, 1);    /* forces the break */
			v++;
			n--;
			continue;
		}
		size_t k = n < room ? n : room;
		buf_append(fo->b, v, k);
		fo->col += k;
		v += k;
		n -= k;
	}
}

/* --- hashing and signing --- */

static void to_md(void *arg, const char *p, size_t n)
{
	EVP_DigestUpdate(arg, p, n);
}

/* Hashes the selected fields (h= order, each name taking the last
 * instance not yet taken, RFC 6376 5.4.2; a name with none left adds
 * nothing: that is oversigning) then the signature field up to its empty
 * b= (canonical, no CRLF). */
static int header_hash(const struct dkim_sign_key *sk, const struct field *f, size_t nf,
		       const struct name *names, size_t nn, const char *sig, size_t siglen,
		       unsigned char *digest)
{
	EVP_MD_CTX *mc = EVP_MD_CTX_new();
	struct buf c = BUF_INIT;
	char *used = xcalloc(nf ? nf : 1, 1);
	int ok = mc && EVP_DigestInit_ex(mc, sk->sha256, NULL) == 1;

	for (size_t i = 0; ok && i < nn; i++) {
		for (size_t j = nf; j-- > 0;) {
			if (used[j] || f[j].namelen != names[i].n ||
			    strncasecmp(f[j].p, names[i].p, names[i].n) != 0)
				continue;
			used[j] = 1;
			buf_reset(&c);
			dkim_canon_header(f[j].p, f[j].n, &c);
			buf_puts(&c, "\r\n");
			ok = EVP_DigestUpdate(mc, c.data, c.len) == 1;
			break;
		}
	}
	buf_reset(&c);
	dkim_canon_header(sig, siglen, &c);
	ok = ok && EVP_DigestUpdate(mc, c.data, c.len) == 1 && EVP_DigestFinal_ex(mc, digest, NULL) == 1;
	free(used);
	buf_free(&c);
	EVP_MD_CTX_free(mc);
	return ok ? 0 : -1;
}

/* rsa-sha256: PKCS#1 v1.5 over the digest; ed25519-sha256 (RFC 8463):
 * PureEdDSA over the 32-octet digest itself. */
static int sign_digest(const struct dkim_sign_key *sk, const unsigned char *digest,
		       unsigned char *sig, size_t *siglen)
{
	int ok;
	*siglen = SIG_MAX;
	if (sk->type == DKIM_KEY_RSA) {
		EVP_PKEY_CTX *pc = EVP_PKEY_CTX_dup(sk->rsa);
		ok = pc && EVP_PKEY_sign(pc, sig, siglen, digest, 32) == 1;
		EVP_PKEY_CTX_free(pc);
	} else {
		EVP_MD_CTX *mc = EVP_MD_CTX_new();
		ok = mc && EVP_DigestSignInit(mc, NULL, NULL, NULL, sk->pkey) == 1 &&
		     EVP_DigestSign(mc, sig, siglen, digest, 32) == 1;
		EVP_MD_CTX_free(mc);
	}
	return ok ? 0 : -1;
}

static int body_hash(const struct dkim_sign_key *sk, const char *body, size_t n, char **bh)
{
	unsigned char d[32];
	EVP_MD_CTX *mc = EVP_MD_CTX_new();
	int ok = mc && EVP_DigestInit_ex(mc, sk->sha256, NULL) == 1;

	if (ok)
		dkim_canon_body(body, n, to_md, mc);
	ok = ok && EVP_DigestFinal_ex(mc, d, NULL) == 1;
	EVP_MD_CTX_free(mc);
	*bh = ok ? base64_encode_alloc(d, sizeof(d)) : NULL;
	return ok ? 0 : -1;
}

/* Every tag but b='s value, folded, into fo (which goes on with b=). */
static void write_tags(const struct dkim_sign_key *sk, const char *domain, const char *selector,
		       time_t now, const char *bh, const struct name *names, size_t nn,
		       struct fold *fo)
{
	struct buf t = BUF_INIT;

	buf_puts(fo->b, "DKIM-Signature:");
	fo->col = strlen("DKIM-Signature:");
	fold_tag(fo, "v=1;", 4);
	buf_printf(&t, "a=%s;", sk->type == DKIM_KEY_RSA ? "rsa-sha256" : "ed25519-sha256");
	fold_tag(fo, t.data, t.len);
	fold_tag(fo, "c=relaxed/relaxed;", strlen("c=relaxed/relaxed;"));
	buf_reset(&t);
	buf_printf(&t, "d=%s;", domain);
	fold_tag(fo, t.data, t.len);
	buf_reset(&t);
	buf_printf(&t, "s=%s;", selector);
	fold_tag(fo, t.data, t.len);
	buf_reset(&t);
	buf_printf(&t, "t=%llu;", (unsigned long long)now);
	fold_tag(fo, t.data, t.len);
	buf_reset(&t);
	buf_printf(&t, "bh=%s;", bh);
	fold_tag(fo, t.data, t.len);
	fo->own_line = 1;
	fold_h(fo, names, nn);
	fold_tag(fo, "b=", 2);
	buf_free(&t);
}

int dkim_sign_message(const struct dkim_sign_key *sk, const char *domain, const char *selector,
		      const char *msg, size_t len, time_t now, struct buf *out, char *err,
		      size_t errlen)
{
	struct field *f;
	struct name *names;
	size_t nf, body, nn, siglen, start = out->len;
	unsigned char digest[32], sig[SIG_MAX];
	struct fold fo = { out, 0, 0 };
	char *bh, *b;

	if (split_fields(msg, len, &f, &nf, &body) < 0)
		return set_error(err, errlen, "a header field without a colon");
	if (body_hash(sk, msg + body, len - body, &bh) < 0) {
		free(f);
		return set_error(err, errlen, "body hash failed");
	}
	nn = sign_names(f, nf, &names);
	write_tags(sk, domain, selector, now, bh, names, nn, &fo);
	int rc = header_hash(sk, f, nf, names, nn, out->data + start, out->len - start, digest);
	if (rc == 0)
		rc = sign_digest(sk, digest, sig, &siglen);
	if (rc == 0) {
		b = base64_encode_alloc(sig, siglen);
		fold_b(&fo, b, strlen(b));
		buf_puts(out, "\r\n");
		free(b);
	} else {
		out->len = start;    /* nothing half-written is left behind */
		out->data[start] = '\0';
		set_error(err, errlen, "%s signing failed", dkim_key_type_name(sk->type));
	}
	free(bh);
	free(names);
	free(f);
	return rc;
}
