/* libFuzzer target: the DKIM key record parser (RFC 6376 3.6.1) and the
 * published-key judgement built on it, on fuzzed TXT text. */
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "mailauth/dkim_key.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dkim_key_record *rec = NULL;
	struct dkim_key k = { DKIM_KEY_ED25519, 256, NULL, 0, (char *)"11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=" };
	struct buf b = { (char *)data, size, size };
	char err[256];

	if (dkim_key_record_parse((const char *)data, size, &rec, err, sizeof(err)) == 0) {
		if (!rec->p || (rec->revoked != (rec->pub == NULL)))
			__builtin_trap();
		dkim_key_record_usable(rec);
		dkim_key_record_match(rec, &k, err, sizeof(err));
		dkim_key_record_free(rec);
	} else if (rec != NULL) {
		__builtin_trap();
	}
	dkim_key_published(&k, &b, 1, err, sizeof(err));
	return 0;
}
