/*
 * name_code: lookups in { name, code } tables (see name_code.h).
 */
#include "name_code.h"

#include <string.h>

int name_code(const struct name_code *table, const char *name)
{
	const struct name_code *t;
	for (t = table; t->name; t++)
		if (name && strcmp(t->name, name) == 0)
			break;
	return t->code;
}

const char *str_name_code(const struct name_code *table, int code)
{
	for (const struct name_code *t = table; t->name; t++)
		if (t->code == code)
			return t->name;
	return NULL;
}
