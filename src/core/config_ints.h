/*
 * config_ints: refuses integer literals that libconfig would silently
 * wrap.  libconfig 1.5 stores "max_recipients = 4294967298;" as the int 2
 * (it keeps only the low 32 bits), so no getter can see the mistake after
 * parsing; this scanner reads the text itself, as libconfig's lexer does
 * (comments, strings, names, numbers), before libconfig parses it.
 *
 * Contract: config_check_int_literals() returns 0 when every integer
 * literal without the L suffix lies in -2147483648..2147483647 (hex up to
 * 0x7fffffff), else -1 with "NAME:LINE: SETTING: VALUE is out of range..."
 * in err.  It never reads past text's NUL.  With follow_includes, the files
 * named by @include lines are checked too (up to 10 levels deep), by the
 * path written, as libconfig opens them.
 */
#ifndef OUTPOST_CONFIG_INTS_H
#define OUTPOST_CONFIG_INTS_H
#include <stddef.h>

int config_check_int_literals(const char *text, const char *name, int follow_includes, char *err,
			      size_t errlen);

#endif
