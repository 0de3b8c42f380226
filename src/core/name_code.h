/*
 * name_code: one table per enum that maps its codes to the names people
 * read and write (config values, log fields, JSON, spool columns), after
 * Postfix's name_code.  The table is defined once, beside the enum, and
 * every parser and printer of that enum goes through it, so a name is
 * spelled in one place.
 * Contract: a table is an array of { name, code } ended by { NULL, code },
 * whose code is what name_code() returns for a name not in the table (a
 * "not found" value of the caller's choice).  Names compare exactly
 * (case-sensitive); the first entry with a name or a code wins.
 * str_name_code() returns the name of a code, or NULL when none has it.
 * Pure functions over const tables: safe from any thread.
 */
#ifndef OUTPOST_NAME_CODE_H
#define OUTPOST_NAME_CODE_H

struct name_code {
	const char *name;
	int code;
};

int name_code(const struct name_code *table, const char *name);
const char *str_name_code(const struct name_code *table, int code);

#endif
