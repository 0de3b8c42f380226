/*
 * cli_util: small helpers the subcommands share (see commands.h).
 */
#include <stdlib.h>

#include "cli/commands.h"

int cli_parse_uint(const char *s, unsigned min, unsigned max, unsigned *out)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);
	if (*s < '0' || *s > '9' || *end != '\0' || v < min || v > max)
		return -1;
	*out = (unsigned)v;
	return 0;
}
