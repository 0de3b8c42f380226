/* libFuzzer target: the DMARC record parser and the mailto: domain
 * helper on fuzzed text; a parsed record must keep its invariants. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mailauth/dmarc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void parse(const char *txt, size_t len)
{
	struct dmarc_record *rec = (struct dmarc_record *)1;
	char err[256], dom[256];
	dmarc_record_is_dmarc(txt, len);
	if (dmarc_record_parse(txt, len, &rec, err, sizeof(err)) < 0) {
		if (rec != NULL || err[0] == '\0')
			__builtin_trap();
		return;
	}
	if (rec->pct > 100 || rec->nrua > DMARC_MAX_URIS || rec->nruf > DMARC_MAX_URIS ||
	    rec->nnotes > DMARC_MAX_NOTES || rec->fo == NULL || rec->p > DMARC_POLICY_REJECT)
		__builtin_trap();
	for (size_t i = 0; i < rec->nrua; i++)
		dmarc_uri_mailto_domain(rec->rua[i], dom, sizeof(dom));
	dmarc_record_free(rec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	parse((const char *)data, size);
	char *prefixed = malloc(size + 10);
	if (prefixed == NULL)
		return 0;
	memcpy(prefixed, "v=DMARC1;", 9);   /* reach the tags past the version */
	memcpy(prefixed + 9, data, size);
	parse(prefixed, size + 9);
	free(prefixed);
	return 0;
}
