/* Unit tests: DKIM key records (RFC 6376 3.6.1), the RFC 8463 key in
 * DKIM form, relaxed canonicalization (RFC 6376 3.4.2, 3.4.4) of header
 * fields and bodies, our signatures checked by libopendkim's verifier
 * (rsa-sha256 and ed25519-sha256, folded headers, empty body, trailing
 * blank lines, oversigning), From: domain selection, and 8bit ->
 * quoted-printable conversion. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "buf.h"
#include "config.h"
#include "header.h"
#include "mailauth/dkim.h"
#include "mailauth/dkim_key.h"
#include "mailauth/dkim_sign.h"

/* RFC 8463 appendix A.1 secret key, as PKCS#8 PEM. */
static const char rfc8463_pem[] =
	"-----BEGIN PRIVATE KEY-----\n"
	"MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n"
	"-----END PRIVATE KEY-----\n";
static const char rfc8463_pub[] = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";

static void record_tags_are_parsed(void **state)
{
	(void)state;
	struct dkim_key_record *rec;
	char err[256];
	const char *txt = "v=DKIM1; k=ed25519; h=sha256; s=email:*; t=y:s; n=note;\r\n p=11qYAYKxCr"
			  "fVS/7TyWQHOg7hc vPapiMlrwIaaPcHURo=;";
	assert_int_equal(dkim_key_record_parse(txt, strlen(txt), &rec, err, sizeof(err)), 0);
	assert_true(rec->has_v);
	assert_int_equal(rec->type, DKIM_KEY_ED25519);
	assert_true(rec->testing && rec->strict);
	assert_string_equal(rec->p, rfc8463_pub);
	assert_int_equal(rec->publen, 32);
	assert_true(dkim_key_record_usable(rec));
	dkim_key_record_free(rec);
}

static void bad_records_are_refused(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"k=rsa",                          /* no p= */
		"k=rsa; v=DKIM1; p=",             /* v= not first */
		"v=DKIM2; p=",                    /* wrong version */
		"p=abc; p=def",                   /* duplicate tag */
		"p=abc!",                         /* not base64 */
		"p=ab\001c",                      /* control byte */
		"=x; p=",                         /* no tag name */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct dkim_key_record *rec = NULL;
		char err[256] = "";
		assert_int_equal(dkim_key_record_parse(bad[i], strlen(bad[i]), &rec, err, sizeof(err)), -1);
		assert_null(rec);
		assert_true(err[0] != '\0');
	}
	struct dkim_key_record *rec;
	char err[256];
	assert_int_equal(dkim_key_record_parse("p=", 2, &rec, err, sizeof(err)), 0);
	assert_true(rec->revoked);
	assert_int_equal(rec->type, DKIM_KEY_RSA);   /* k= defaults to rsa */
	dkim_key_record_free(rec);
}

static void rfc8463_key_gives_its_published_record(void **state)
{
	(void)state;
	struct dkim_key *k;
	char err[256];
	assert_int_equal(dkim_key_from_pem(rfc8463_pem, strlen(rfc8463_pem), "rfc8463", &k, err,
					   sizeof(err)), 0);
	assert_int_equal(k->type, DKIM_KEY_ED25519);
	char *txt = dkim_key_txt_record(k);
	assert_string_equal(txt, "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=");
	struct buf recs[2] = { BUF_INIT, BUF_INIT };
	buf_puts(&recs[0], "v=spf1 -all");          /* not DKIM: ignored */
	buf_puts(&recs[1], txt);
	assert_int_equal(dkim_key_published(k, recs, 2, err, sizeof(err)), DKIM_PUB_MATCH);
	buf_reset(&recs[1]);
	buf_puts(&recs[1], "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB");
	assert_int_equal(dkim_key_published(k, recs, 2, err, sizeof(err)), DKIM_PUB_MISMATCH);
	assert_int_equal(dkim_key_published(k, recs, 1, err, sizeof(err)), DKIM_PUB_MISSING);
	buf_free(&recs[0]);
	buf_free(&recs[1]);
	free(txt);
	dkim_key_free(k);
}

static struct dkim_signer *rfc8463_signer(const char *domain, char *path)
{
	char err[256];
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, rfc8463_pem, strlen(rfc8463_pem)), (ssize_t)strlen(rfc8463_pem));
	close(fd);
	struct dkim_conf dc = { (char *)domain, (char *)"brisbane", path, 0, 0, NULL };
	struct dkim_signer *sg = dkim_signer_new(&dc, 1, err, sizeof(err));
	unlink(path);
	assert_non_null(sg);
	return sg;
}

/* Signs msg and verifies the result with the published RFC 8463 key. */
static int sign_verify(struct dkim_signer *sg, const char *msg, const char *tamper_from,
		       const char *tamper_to)
{
	struct buf out = BUF_INIT, key = BUF_INIT;
	struct dkim_verify_result res;
	char info[300], err[256];
	assert_int_equal(dkim_signer_sign(sg, msg, strlen(msg), "t", &out, info, sizeof(info), err,
					  sizeof(err)), 1);
	buf_puts(&out, msg);
	if (tamper_from) {
		char *p = strstr(out.data, tamper_from);
		assert_non_null(p);
		memcpy(p, tamper_to, strlen(tamper_to));
	}
	buf_puts(&key, "v=DKIM1; k=ed25519; p=");
	buf_puts(&key, rfc8463_pub);
	struct dkim_keyrec kr = { "brisbane._domainkey.football.example.com", 0, &key, 1 };
	int rc = dkim_verify_keys(out.data, out.len, &kr, 1, &res);
	assert_int_equal(res.n, 1);
	dkim_verify_result_clear(&res);
	buf_free(&key);
	buf_free(&out);
	return rc;
}

static void signed_messages_verify_and_changes_are_caught(void **state)
{
	(void)state;
	char path[] = "/tmp/test_dkimXXXXXX";
	struct dkim_signer *sg = rfc8463_signer("football.example.com", path);
	static const char *const msgs[] = {
		"From: Joe <joe@football.example.com>\r\nTo: a@example.net\r\nSubject: hi\r\n\r\nHi.\r\n",
		"From: joe@football.example.com\r\nSubject: folded\r\n  over\r\n\tlines\r\n\r\nx\r\n",
		"From: joe@football.example.com\r\nSubject: empty\r\n\r\n",
		"From: joe@football.example.com\r\nSubject: blank\r\n\r\nx\r\n\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++)
		assert_int_equal(sign_verify(sg, msgs[i], NULL, NULL), 0);
	assert_int_equal(sign_verify(sg, msgs[0], "Hi.", "Ho."), -1);
	assert_int_equal(sign_verify(sg, msgs[0], "Subject: hi", "Subject: ho"), -1);
	dkim_signer_free(sg);
}

static void header_fields_canonicalize_relaxed(void **state)
{
	(void)state;
	static const char *const cases[][2] = {
		{ "SubJect:  Hello \t World  ", "subject:Hello World" },
		{ "Subject: a\r\n\tb\r\n  c", "subject:a b c" },         /* unfolded */
		{ "From \t:\tx@example.com", "from:x@example.com" },       /* WSP around the colon */
		{ "To:", "to:" },
		{ "X-Empty:   \r\n \t", "x-empty:" },
		{ "MIME-Version: 1.0", "mime-version:1.0" },
		{ "Subject: caf\xc3\xa9 \xc3\x89", "subject:caf\xc3\xa9 \xc3\x89" },  /* value case kept */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf out = BUF_INIT;
		dkim_canon_header(cases[i][0], strlen(cases[i][0]), &out);
		assert_string_equal(out.data ? out.data : "", cases[i][1]);
		buf_free(&out);
	}
}

static void bodies_canonicalize_relaxed(void **state)
{
	(void)state;
	static const char *const cases[][2] = {
		{ "", "" },                                   /* empty body: empty (not CRLF) */
		{ "\r\n", "" },
		{ "\r\n\r\n \t\r\n", "" },
		{ "a  b \t\r\n", "a b\r\n" },                /* runs and trailing WSP */
		{ " \tlead\r\n", " lead\r\n" },              /* a leading run stays, as one SP */
		{ "x\r\n\r\n\r\n", "x\r\n" },                /* trailing empty lines */
		{ "x\r\n  \r\n\t\r\n", "x\r\n" },             /* ... also when they hold WSP */
		{ "a\r\n \r\n\r\nb\r\n", "a\r\n\r\n\r\nb\r\n" },  /* inner empty lines stay */
		{ "x", "x\r\n" },                            /* no final CRLF: one is added */
		{ "x\r\ny  ", "x\r\ny\r\n" },
		{ "x\r\n  ", "x\r\n" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf out = BUF_INIT;
		dkim_canon_body_buf(cases[i][0], strlen(cases[i][0]), &out);
		assert_int_equal(out.len, strlen(cases[i][1]));
		assert_memory_equal(out.len ? out.data : "", cases[i][1], out.len);
		buf_free(&out);
	}
}

/* The RFC 8463 appendix A message: its body hash is known. */
static void rfc8463_body_hash_is_reproduced(void **state)
{
	(void)state;
	char path[] = "/tmp/test_dkimXXXXXX", info[300], err[256];
	struct dkim_signer *sg = rfc8463_signer("football.example.com", path);
	struct buf out = BUF_INIT;
	const char *m = "From: Joe SixPack <joe@football.example.com>\r\n"
			"To: Suzie Q <suzie@shopping.example.net>\r\nSubject: Is dinner ready?\r\n"
			"Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\r\n"
			"Message-ID: <20030712040037.46341.5F8J@football.example.com>\r\n\r\n"
			"Hi.\r\n\r\nWe lost the game.  Are you hungry yet?\r\n\r\nJoe.\r\n";
	assert_int_equal(dkim_signer_sign(sg, m, strlen(m), "t", &out, info, sizeof(info), err,
					  sizeof(err)), 1);
	assert_non_null(strstr(out.data, "bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;"));
	assert_non_null(strstr(out.data, "a=ed25519-sha256; c=relaxed/relaxed;"));
	assert_non_null(strstr(out.data, "d=football.example.com; s=brisbane;"));
	buf_free(&out);
	dkim_signer_free(sg);
}

/* Writes a fresh key of type t to a temporary file; its TXT record into rec. */
static void fresh_key(enum dkim_key_type t, char *path, struct buf *rec)
{
	struct dkim_key *k;
	char err[256];
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	unlink(path);
	assert_int_equal(dkim_key_generate(t, 0, &k, err, sizeof(err)), 0);
	assert_int_equal(dkim_key_write(k, path, err, sizeof(err)), 0);
	char *txt = dkim_key_txt_record(k);
	buf_puts(rec, txt);
	free(txt);
	dkim_key_free(k);
}

static const char *const cross_msgs[] = {
	"From: Joe <joe@example.com>\r\nTo: a@example.net\r\nSubject: hi\r\n\r\nHi.\r\n",
	"From: App\r\n <app@example.com>\r\nTo: a@example.net,\r\n\tb@example.net\r\n"
	"Subject: a subject that is folded\r\n   over two lines\r\n\r\nBody.\r\n",
	"From: app@example.com\r\nTo: user@example.net\r\nSubject: empty\r\n\r\n",
	"From: app@example.com\r\nSubject: no body",
	"From: app@example.com\r\nSubject: blank\r\n\r\nText.\r\n\r\n\r\n\r\n",
	"FROM:app@example.com\r\nsubject:  ws \t here  \r\nX-Not-Signed: x\r\n\r\n"
	"trailing spaces   \r\n\ttabs\t\r\n  two  spaces  \r\n \r\nend\r\n",
	"From: app@example.com\r\nFrom: second@example.com\r\nTo: a@example.net\r\n"
	"Received: by x\r\nTo: b@example.net\r\nList-Unsubscribe: <mailto:u@example.com>\r\n"
	"Subject: two froms\r\n\r\nBody.\r\n",
};

/* Our rsa-sha256 and ed25519-sha256 signatures pass libopendkim's verifier,
 * and a change to a signed field or the body, or one more From:, fails them. */
static void our_signatures_pass_libopendkim(void **state)
{
	(void)state;
	char rpath[] = "/tmp/test_dkimrXXXXXX", epath[] = "/tmp/test_dkimeXXXXXX";
	char err[256], info[300];
	struct buf rtxt = BUF_INIT, etxt = BUF_INIT;
	fresh_key(DKIM_KEY_RSA, rpath, &rtxt);
	fresh_key(DKIM_KEY_ED25519, epath, &etxt);
	struct dkim_conf dc[2] = { { (char *)"example.com", (char *)"r1", rpath, 0, 0, NULL },
				   { (char *)"example.com", (char *)"e1", epath, 0, 0, NULL } };
	struct dkim_signer *sg = dkim_signer_new(dc, 2, err, sizeof(err));
	unlink(rpath);
	unlink(epath);
	assert_non_null(sg);
	struct dkim_keyrec kr[2] = { { "r1._domainkey.example.com", 0, &rtxt, 1 },
				     { "e1._domainkey.example.com", 0, &etxt, 1 } };
	for (size_t i = 0; i < sizeof(cross_msgs) / sizeof(cross_msgs[0]); i++) {
		struct buf out = BUF_INIT;
		struct dkim_verify_result res;
		assert_int_equal(dkim_signer_sign(sg, cross_msgs[i], strlen(cross_msgs[i]), "t", &out,
						  info, sizeof(info), err, sizeof(err)), 1);
		assert_string_equal(info, "domain=example.com selectors=r1,e1");
		for (char *p = out.data, *e; (e = strstr(p, "\r\n")) != NULL; p = e + 2)
			assert_true(e - p <= 75);
		buf_puts(&out, cross_msgs[i]);
		assert_int_equal(dkim_verify_keys(out.data, out.len, kr, 2, &res), 0);
		assert_int_equal(res.n, 2);
		assert_int_equal(res.npass, 2);
		assert_string_equal(res.sig[0].alg, "rsa-sha256");
		assert_string_equal(res.sig[1].alg, "ed25519-sha256");
		dkim_verify_result_clear(&res);

		struct buf bad = BUF_INIT;           /* one more From: on top */
		buf_puts(&bad, "From: evil@example.org\r\n");
		buf_append(&bad, out.data, out.len);
		dkim_verify_keys(bad.data, bad.len, kr, 2, &res);
		assert_int_equal(res.npass, 0);
		dkim_verify_result_clear(&res);
		buf_reset(&bad);                     /* a body line added */
		buf_append(&bad, out.data, out.len);
		buf_puts(&bad, strstr(cross_msgs[i], "\r\n\r\n") ? "more\r\n" : "\r\n\r\nmore\r\n");
		dkim_verify_keys(bad.data, bad.len, kr, 2, &res);
		assert_int_equal(res.npass, 0);
		dkim_verify_result_clear(&res);
		buf_free(&bad);
		buf_free(&out);
	}
	buf_free(&rtxt);
	buf_free(&etxt);
	dkim_signer_free(sg);
}

static void headers_are_selected_and_oversigned_as_before(void **state)
{
	(void)state;
	char path[] = "/tmp/test_dkimXXXXXX", info[300], err[256];
	struct dkim_signer *sg = rfc8463_signer("example.com", path);
	struct buf out = BUF_INIT;
	const char *m = cross_msgs[6];
	assert_int_equal(dkim_signer_sign(sg, m, strlen(m), "t", &out, info, sizeof(info), err,
					  sizeof(err)), 1);
	/* present signed fields in message order (Received is not one), then
	 * every oversigned name once; folded as libopendkim folded it */
	assert_non_null(strstr(out.data, "\r\n\th=From:From:To:To:List-Unsubscribe:Subject:From:Reply-To:"
				      "Subject:\r\n\t Date:To:Cc:Message-ID:MIME-Version:Content-Type:"
				      "\r\n\t Content-Transfer-Encoding:List-Unsubscribe:"
				      "List-Unsubscribe-Post;\r\n\tb="));
	assert_true(strncmp(out.data, "DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed; "
			    "d=example.com;\r\n\ts=brisbane; t=", 80) == 0);
	buf_free(&out);
	const char *nocolon = "From: a@example.com\r\nno colon here\r\n\r\nx\r\n";
	assert_int_equal(dkim_signer_sign(sg, nocolon, strlen(nocolon), "t", &out, info, sizeof(info),
					  err, sizeof(err)), -1);
	const char *bare = "From: a@example.com\r\n\r\nx\ny\r\n";
	assert_int_equal(dkim_signer_sign(sg, bare, strlen(bare), "t", &out, info, sizeof(info), err,
					  sizeof(err)), -1);
	assert_string_equal(err, "bare CR or LF in the message");
	assert_int_equal(out.len, 0);
	buf_free(&out);
	dkim_signer_free(sg);
}

static void signing_domain_is_the_from_domain_or_its_parent(void **state)
{
	(void)state;
	char path[] = "/tmp/test_dkimXXXXXX", d[256];
	struct dkim_signer *sg = rfc8463_signer("example.com", path);
	const char *sub = "From: \"A, B\" <a@News.Example.COM.>\r\n\r\nx\r\n";
	assert_int_equal(header_from_domain(sub, strlen(sub), d, sizeof(d)), 1);
	assert_string_equal(d, "news.example.com");
	assert_true(dkim_signer_wants(sg, sub, strlen(sub)));
	const char *other = "From: a@notexample.com\r\n\r\nx\r\n";
	assert_false(dkim_signer_wants(sg, other, strlen(other)));
	const char *none = "Subject: no from\r\n\r\nx\r\n";
	assert_false(dkim_signer_wants(sg, none, strlen(none)));
	dkim_signer_free(sg);
}

static void key_for_outposts_own_mail_is_the_closest_parent(void **state)
{
	(void)state;
	struct dkim_conf conf[] = {
		{ "example.com", "s1", "k1", 0, 1, NULL },
		{ "mail.example.com", "s2", "k2", 0, 2, NULL },
		{ "relay.example.net", "t1", "k3", 1, 3, NULL },
	};
	assert_int_equal(dkim_conf_key_for(conf, 3, "mx1.mail.example.com"), 1);
	assert_int_equal(dkim_conf_key_for(conf, 3, "mail.example.com"), 1);
	assert_int_equal(dkim_conf_key_for(conf, 3, "relay.example.com"), 0);
	assert_int_equal(dkim_conf_key_for(conf, 3, "notexample.com"), -1);
	assert_int_equal(dkim_conf_key_for(conf, 0, "example.com"), -1);
}

/* Zone-file TXT rdata: 255-octet character-strings, quotes and
 * backslashes escaped, an empty record still one "" string. */
static void txt_records_split_into_255_octet_strings(void **state)
{
	(void)state;
	char *z = dkim_txt_zone_strings("");
	assert_string_equal(z, "\"\"");
	free(z);
	z = dkim_txt_zone_strings("v=DKIM1; p=a\"b\\c");
	assert_string_equal(z, "\"v=DKIM1; p=a\\\"b\\\\c\"");
	free(z);
	char long_txt[600];
	memset(long_txt, 'A', 599);
	long_txt[599] = '\0';
	z = dkim_txt_zone_strings(long_txt);
	/* 255 + 255 + 89 octets */
	assert_int_equal(strlen(z), 599 + 3 * 2 + 2);
	assert_int_equal(z[256], '"');
	assert_memory_equal(z + 256, "\" \"", 3);
	assert_memory_equal(z + 256 + 3 + 255, "\" \"", 3);
	assert_int_equal(z[strlen(z) - 1], '"');
	free(z);
	memset(long_txt, 'B', 255);
	long_txt[255] = '\0';
	z = dkim_txt_zone_strings(long_txt);   /* exactly 255: one string */
	assert_int_equal(strlen(z), 257);
	free(z);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(record_tags_are_parsed),
		cmocka_unit_test(bad_records_are_refused),
		cmocka_unit_test(rfc8463_key_gives_its_published_record),
		cmocka_unit_test(signed_messages_verify_and_changes_are_caught),
		cmocka_unit_test(header_fields_canonicalize_relaxed),
		cmocka_unit_test(bodies_canonicalize_relaxed),
		cmocka_unit_test(rfc8463_body_hash_is_reproduced),
		cmocka_unit_test(our_signatures_pass_libopendkim),
		cmocka_unit_test(headers_are_selected_and_oversigned_as_before),
		cmocka_unit_test(signing_domain_is_the_from_domain_or_its_parent),
		cmocka_unit_test(key_for_outposts_own_mail_is_the_closest_parent),
		cmocka_unit_test(txt_records_split_into_255_octet_strings),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
