/* libFuzzer target: the MTA-STS TXT record parser on fuzzed text, alone
 * and behind "v=STSv1;". */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mailauth/mta_sts.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void parse(const char *txt, size_t len)
{
	struct mta_sts_record rec;
	char err[256];
	if (mta_sts_record_parse(txt, len, &rec, err, sizeof(err)) == 0 &&
	    (rec.id[0] == '\0' || strlen(rec.id) > 32))
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	parse((const char *)data, size);
	char *prefixed = malloc(size + 9);
	if (prefixed == NULL)
		return 0;
	memcpy(prefixed, "v=STSv1;", 8);
	memcpy(prefixed + 8, data, size);
	parse(prefixed, size + 8);
	free(prefixed);
	return 0;
}
