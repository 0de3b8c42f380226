/* libFuzzer target: our relaxed canonicalizers (RFC 6376 3.4.2, 3.4.4) on
 * any bytes, checked against their own invariants (no WSP run, no WSP at
 * a line end, no empty line at the end, idempotent); then the message path
 * (header splitting, signing, listing and verifying signatures) on the
 * fuzzed message, signed with a fixed Ed25519 key: when we sign a message
 * libopendkim can read the same way (no NUL, VT or FF, which it treats
 * differently, and a final CRLF, which it requires), its verifier must
 * pass our signature. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "mailauth/dkim.h"
#include "mailauth/dkim_key.h"
#include "mailauth/dkim_sign.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char pem[] =
	"-----BEGIN PRIVATE KEY-----\n"
	"MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n"
	"-----END PRIVATE KEY-----\n";
static struct dkim_signer *sg;
static struct dkim_keyrec keyrec;
static struct buf keytxt = BUF_INIT;

static void setup(void)
{
	char path[] = "/tmp/fuzz_dkim_keyXXXXXX", err[256];
	int fd = mkstemp(path);
	if (fd < 0 || write(fd, pem, sizeof(pem) - 1) != (ssize_t)(sizeof(pem) - 1))
		abort();
	close(fd);
	struct dkim_conf dc = { (char *)"example.com", (char *)"f", path, 0, 0, NULL };
	sg = dkim_signer_new(&dc, 1, err, sizeof(err));
	unlink(path);
	if (!sg)
		abort();
	buf_puts(&keytxt, "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=");
	strcpy(keyrec.name, "f._domainkey.example.com");
	keyrec.txt = &keytxt;
	keyrec.ntxt = 1;
}

static int is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

static void check_body(const char *d, size_t n)
{
	struct buf c = BUF_INIT, again = BUF_INIT;
	dkim_canon_body_buf(d, n, &c);
	for (size_t i = 0; i + 1 < c.len; i++)
		if ((is_wsp(c.data[i]) && is_wsp(c.data[i + 1])) ||
		    (is_wsp(c.data[i]) && c.data[i + 1] == '\r' && i + 2 < c.len && c.data[i + 2] == '\n'))
			abort();
	if (c.len && (c.len < 2 || memcmp(c.data + c.len - 2, "\r\n", 2) != 0))
		abort();
	if (c.len >= 4 && memcmp(c.data + c.len - 4, "\r\n\r\n", 4) == 0)
		abort();
	dkim_canon_body_buf(c.data, c.len, &again);
	if (again.len != c.len || (c.len && memcmp(again.data, c.data, c.len) != 0))
		abort();
	buf_free(&again);
	buf_free(&c);
}

static void check_header(const char *d, size_t n)
{
	struct buf c = BUF_INIT;
	dkim_canon_header(d, n, &c);
	const char *colon = c.len ? memchr(c.data, ':', c.len) : NULL;
	for (size_t i = colon ? (size_t)(colon - c.data) : c.len; i + 1 < c.len; i++)   /* the value */
		if (is_wsp(c.data[i]) && is_wsp(c.data[i + 1]))
			abort();
	if (c.len > n + 1)
		abort();
	buf_free(&c);
}

/* 1 when libopendkim 2.11 canonicalizes msg as RFC 6376 does. */
static int opendkim_agrees(const uint8_t *d, size_t n)
{
	if (n < 2 || d[n - 2] != '\r' || d[n - 1] != '\n')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (d[i] == '\0' || d[i] == '\v' || d[i] == '\f')
			return 0;
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf sigs = BUF_INIT;
	struct dkim_verify_result res;
	char info[300], err[256], *names[4];

	if (!sg)
		setup();
	check_body((const char *)data, size);
	check_header((const char *)data, size);
	int rc = dkim_signer_sign(sg, (const char *)data, size, "fuzz", &sigs, info, sizeof(info), err,
				  sizeof(err));
	buf_append(&sigs, data, size);
	size_t n = dkim_key_names(sigs.data, sigs.len, names, 4);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	int vrc = dkim_verify_keys(sigs.data, sigs.len, &keyrec, 1, &res);
	if (rc == 1 && vrc != 0 && res.n == 1 && opendkim_agrees(data, size) &&
	    (strcmp(res.sig[0].reason, "signature did not verify") == 0 ||
	     strcmp(res.sig[0].reason, "body hash mismatch") == 0))
		abort();
	dkim_verify_result_clear(&res);
	buf_free(&sigs);
	return 0;
}
