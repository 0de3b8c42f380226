/* libFuzzer target: the message path outpost feeds to libopendkim (header
 * parsing, relaxed canonicalisation, signing, listing and verifying
 * signatures) on a fuzzed message, signed with a fixed Ed25519 key. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "mailauth/dkim.h"
#include "mailauth/dkim_key.h"

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
	struct dkim_conf dc = { (char *)"example.com", (char *)"f", path, 0, 0 };
	sg = dkim_signer_new(&dc, 1, err, sizeof(err));
	unlink(path);
	if (!sg)
		abort();
	buf_puts(&keytxt, "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=");
	strcpy(keyrec.name, "f._domainkey.example.com");
	keyrec.txt = &keytxt;
	keyrec.ntxt = 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf sigs = BUF_INIT;
	struct dkim_verify_result res;
	char info[300], err[256], *names[4];

	if (!sg)
		setup();
	if (dkim_signer_sign(sg, (const char *)data, size, "fuzz", &sigs, info, sizeof(info), err,
			     sizeof(err)) == 1)
		buf_append(&sigs, data, size);
	else
		buf_append(&sigs, data, size);
	size_t n = dkim_key_names(sigs.data, sigs.len, names, 4);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	dkim_verify_keys(sigs.data, sigs.len, &keyrec, 1, &res);
	dkim_verify_result_clear(&res);
	buf_free(&sigs);
	return 0;
}
