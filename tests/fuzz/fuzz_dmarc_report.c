/* libFuzzer target: the DMARC aggregate report parser (gzip, zip and XML
 * containers, then the report) on fuzzed bytes; a parsed report must keep
 * its invariants, a refused one must say why. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "dmarc/dmarc_report.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dmarc_report *r = (struct dmarc_report *)1;
	char err[512];
	err[0] = '\0';
	if (dmarc_report_parse(data, size, &r, err, sizeof(err)) < 0) {
		if (r != NULL || err[0] == '\0')
			__builtin_trap();
		return 0;
	}
	if (r->nrec == 0 || r->org_name[0] == '\0' || r->report_id[0] == '\0' || r->domain[0] == '\0' ||
	    r->end < r->begin || r->pct > 100)
		__builtin_trap();
	for (size_t i = 0; i < r->nrec; i++)
		if (r->rec[i].source_ip[0] == '\0' || strlen(r->rec[i].header_from) == 0 ||
		    (strcmp(r->rec[i].dkim, "pass") && strcmp(r->rec[i].dkim, "fail")))
			__builtin_trap();
	dmarc_report_free(r);
	return 0;
}
