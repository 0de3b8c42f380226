/*
 * libFuzzer target: bounce_parse() on any message (the DSN, NDR, ARF and
 * auto-reply paths and the classifier behind them).  Whatever it holds,
 * every recipient found has an address with '@', a reason and a scope
 * from the fixed vocabulary, a status of at most 15 characters, and hard
 * only for the reasons sisimai's rule allows.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "feedback/bounce.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bounce_report r;
	bounce_parse((const char *)data, size, &r);
	for (size_t i = 0; i < r.nrcpt; i++) {
		const struct bounce_rcpt *x = &r.rcpt[i];
		if (strchr(x->recipient, '@') == NULL || x->reason == NULL || x->scope == NULL ||
		    x->diagnostic == NULL || strlen(x->status) > 15)
			__builtin_trap();
		if (x->hard && strcmp(x->reason, "userunknown") != 0 && strcmp(x->reason, "hostunknown") != 0 &&
		    strcmp(x->reason, "hasmoved") != 0 && strcmp(x->reason, "notaccept") != 0)
			__builtin_trap();
	}
	bounce_report_free(&r);
	return 0;
}
