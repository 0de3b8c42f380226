/* libFuzzer target: base64 decoding and SASL PLAIN splitting of AUTH responses. */
#include <stddef.h>
#include <stdint.h>

#include "core/base64.h"
#include "inbound/auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char dec[512], user[256], pass[256];
	long n = base64_decode((const char *)data, size, dec, sizeof(dec));
	if (n >= 0)
		sasl_plain_split(dec, (size_t)n, user, sizeof(user), pass, sizeof(pass));
	sasl_plain_split((const char *)data, size, user, sizeof(user), pass, sizeof(pass));
	return 0;
}
