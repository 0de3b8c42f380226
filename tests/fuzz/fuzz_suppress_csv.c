/*
 * libFuzzer target: suppress_import_csv() on any bytes (quotes, commas,
 * long lines, header aliases, times), into an in-memory table with the
 * spool's suppression schema (version 5, spool.c); then the export must
 * import again to the same number of rows.
 */
#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "feedback/suppress.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char schema[] =
	"CREATE TABLE suppression (address TEXT NOT NULL, scope TEXT NOT NULL DEFAULT '', reason TEXT NOT NULL,"
	" source TEXT NOT NULL CHECK (source IN ('bounce','complaint','manual','import')),"
	" status TEXT NOT NULL DEFAULT '', qid TEXT NOT NULL DEFAULT '', diagnostic TEXT NOT NULL DEFAULT '',"
	" first_event INTEGER NOT NULL, last_event INTEGER NOT NULL, count INTEGER NOT NULL DEFAULT 1,"
	" expires INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (address, scope)) WITHOUT ROWID;";

static size_t rows(sqlite3 *db)
{
	sqlite3_stmt *st;
	size_t n = 0;
	if (sqlite3_prepare_v2(db, "SELECT count(*) FROM suppression", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		n = (size_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	sqlite3 *db;
	char err[256];
	size_t n = 0;
	if (sqlite3_open(":memory:", &db) != SQLITE_OK || sqlite3_exec(db, schema, NULL, NULL, NULL) != SQLITE_OK)
		__builtin_trap();
	FILE *in = fmemopen((void *)data, size ? size : 1, "r");
	if (size && in) {
		suppress_import_csv(db, in, 1795000000, &n, err, sizeof(err));
		fclose(in);
		char *out = NULL;
		size_t outlen = 0, before = rows(db), again = 0;
		FILE *f = open_memstream(&out, &outlen);
		suppress_export_csv(db, f, err, sizeof(err));
		fclose(f);
		sqlite3_exec(db, "DELETE FROM suppression", NULL, NULL, NULL);
		FILE *back = fmemopen(out, outlen, "r");
		if (back == NULL || suppress_import_csv(db, back, 1795000000, &again, err, sizeof(err)) != 0 ||
		    again != before)
			__builtin_trap();   /* what outpost exports, it imports, every row */
		fclose(back);
		free(out);
	} else if (in) {
		fclose(in);
	}
	sqlite3_close(db);
	return 0;
}
