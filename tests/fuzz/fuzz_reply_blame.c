/* libFuzzer target: the reply-pattern classifier on arbitrary replies
 * (the code, enhanced code and text a receiver sends), and provider_of on
 * arbitrary host names. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "delivery/provider.h"
#include "delivery/reply.h"
#include "delivery/reply_blame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reply_info ri;
	char prov[64];
	const char *where;
	if (size < 2)
		return 0;
	int code = data[0] * 4;                  /* 0..1020: local, 2xx..5xx and nonsense */
	char *s = malloc(size);
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';                      /* the classifier takes C strings, as reply_info holds */
	reply_classify(code, s, &ri);
	enum blame b = reply_blame_info(&ri, &where);
	if (where == NULL || blame_name(b) == NULL)
		abort();
	reply_blame(code, s, s, NULL);           /* a raw enhanced code that is not one */
	reply_local(s, s, &ri);
	reply_blame_info(&ri, NULL);
	provider_of(s, prov, sizeof(prov));
	provider_of(s, prov, 1);
	free(s);
	return 0;
}
