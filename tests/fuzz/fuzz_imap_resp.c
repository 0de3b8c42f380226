/* libFuzzer target: the IMAP response parsers of the placement probes
 * (LIST, the junk folder choice, SEARCH, CAPABILITY) on fuzzed server
 * answers, and the mailbox URL of every name LIST found. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "placement/imap_resp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	struct imap_mailbox *mb = NULL;
	size_t n = 0;
	if (imap_parse_list(text, size, &mb, &n) != n)
		__builtin_trap();
	for (size_t i = 0; i < n; i++) {
		if (mb[i].name[0] == '\0' || strlen(mb[i].name) > 1000)
			__builtin_trap();
		free(imap_mailbox_url("imaps://imap.example:993", mb[i].name));
	}
	const char *junk = imap_junk_folder(mb, n);
	if (junk && strlen(junk) == 0)
		__builtin_trap();
	imap_mailboxes_free(mb, n);
	uint32_t ids[16];
	size_t found = 0;
	if (imap_parse_search(text, size, ids, 16, &found) == 0)
		for (size_t i = 0; i < found; i++)
			if (ids[i] == 0)
				__builtin_trap();
	if (found > 16)
		__builtin_trap();
	imap_has_capability(text, size, "UIDPLUS");
	return 0;
}
