/* libFuzzer target: the TLS-RPT TXT record parser on fuzzed text, alone
 * and behind "v=TLSRPTv1;". */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mailauth/tlsrpt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void parse(const char *txt, size_t len)
{
	struct tlsrpt_record rec;
	char err[256];
	if (tlsrpt_record_parse(txt, len, &rec, err, sizeof(err)) == 0 &&
	    (rec.nrua == 0 || rec.nrua > TLSRPT_MAX_RUA ||
	     (size_t)(rec.mailto + rec.https) != rec.nrua))
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	parse((const char *)data, size);
	char *prefixed = malloc(size + 12);
	if (prefixed == NULL)
		return 0;
	memcpy(prefixed, "v=TLSRPTv1;", 11);
	memcpy(prefixed + 11, data, size);
	parse(prefixed, size + 11);
	free(prefixed);
	return 0;
}
