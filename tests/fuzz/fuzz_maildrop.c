/*
 * libFuzzer target: maildrop_parse() on any bytes, as any local user can
 * put any file in the maildrop.  Whatever it accepts re-formats to the
 * same bytes (maildrop_format), every address is free of controls,
 * spaces and brackets, and every recipient has an '@'.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "spool/maildrop.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct maildrop_env env;
	size_t off;
	char err[256];
	if (maildrop_parse((const char *)data, size, &env, &off, err, sizeof(err)) < 0)
		return 0;
	if (off > size || env.nrcpts == 0)
		__builtin_trap();
	for (size_t i = 0; i < env.nrcpts; i++)
		if (strchr(env.rcpts[i], '@') == NULL || strpbrk(env.rcpts[i], " <>\r\n\t") != NULL)
			__builtin_trap();
	struct buf msg = BUF_INIT, again = BUF_INIT;
	buf_append(&msg, data + off, size - off);
	maildrop_format(&again, env.sender, env.rcpts, env.nrcpts, &msg);
	if (again.len != size || memcmp(again.data, data, size) != 0)
		__builtin_trap();
	buf_free(&msg);
	buf_free(&again);
	maildrop_env_free(&env);
	return 0;
}
