/* libFuzzer target: the SPF record parser (as given and behind "v=spf1 "),
 * domain-spec checks, and macro expansion in both modes, on fuzzed text. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "mailauth/spf_macro.h"
#include "mailauth/spf_record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct spf_macro_vars vars = {
	.s = "strong-bad@email.example.com", .l = "strong-bad", .o = "email.example.com",
	.d = "email.example.com", .i = "192.0.2.3", .p = "mx.example.com", .v = "in-addr",
	.h = "mx.example.org", .c = "192.0.2.3", .r = "mx.example.org", .t = "1700000000",
};

static void expand_spec(const char *spec)
{
	struct buf out = BUF_INIT;
	char err[256];
	if (spf_macro_expand(spec, strlen(spec), SPF_MACRO_DOMAIN, &vars, &out, err,
			     sizeof(err)) < 0)
		__builtin_trap();       /* the parser checked this domain-spec */
	buf_free(&out);
}

static void parse_and_expand(const char *txt, size_t len)
{
	struct spf_record *rec;
	char err[256];
	if (spf_record_parse(txt, len, &rec, err, sizeof(err)) < 0) {
		if (rec != NULL)
			__builtin_trap();
		return;
	}
	for (size_t i = 0; i < rec->nmech; i++) {
		if (rec->mech[i].domain)
			expand_spec(rec->mech[i].domain);
		if (rec->mech[i].cidr4 < 0 || rec->mech[i].cidr4 > 32 ||
		    rec->mech[i].cidr6 < 0 || rec->mech[i].cidr6 > 128)
			__builtin_trap();
	}
	if (rec->redirect)
		expand_spec(rec->redirect);
	if (rec->exp)
		expand_spec(rec->exp);
	spf_record_free(rec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct buf out = BUF_INIT;
	char err[256];

	parse_and_expand(s, size);
	char *prefixed = malloc(size + 7);
	if (prefixed == NULL)
		return 0;
	memcpy(prefixed, "v=spf1 ", 7);
	memcpy(prefixed + 7, data, size);
	parse_and_expand(prefixed, size + 7);
	free(prefixed);

	spf_domain_spec_check(s, size, err, sizeof(err));
	spf_macro_uses(s, size, 'p');
	if (spf_macro_expand(s, size, SPF_MACRO_EXPLAIN, &vars, &out, err, sizeof(err)) == 0 &&
	    out.len > SPF_MACRO_MAX_OUT + 1024)
		__builtin_trap();
	buf_free(&out);
	spf_macro_expand(s, size, SPF_MACRO_DOMAIN, &vars, &out, err, sizeof(err));
	buf_free(&out);
	return 0;
}
