/* tagval: the tag=value list splitter; see tagval.h for the contract. */
#include "mailauth/tagval.h"

#include <ctype.h>
#include <string.h>

#include "log.h"

static int is_wsp(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int tag_char(char c, int first)
{
	if (isalnum((unsigned char)c))
		return 1;
	return !first && (c == '_' || c == '-' || c == '.');
}

int tagval_is(const char *s, size_t n, const char *word)
{
	if (strlen(word) != n)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (tolower((unsigned char)s[i]) != tolower((unsigned char)word[i]))
			return 0;
	return 1;
}

/* One element txt[b..e) (no ';' inside), not only whitespace. */
static int split_element(const char *txt, size_t b, size_t e, struct tagval *tv,
			 char *err, size_t errlen)
{
	while (b < e && is_wsp(txt[b]))
		b++;
	while (e > b && is_wsp(txt[e - 1]))
		e--;
	size_t t = b;
	while (t < e && tag_char(txt[t], t == b))
		t++;
	if (t == b) {
		set_error(err, errlen, "bad tag name at offset %zu", b);
		return -1;
	}
	size_t eq = t;
	while (eq < e && is_wsp(txt[eq]))
		eq++;
	if (eq >= e || txt[eq] != '=') {
		set_error(err, errlen, "tag \"%.*s\" has no '='", (int)(t - b), txt + b);
		return -1;
	}
	size_t v = eq + 1;
	while (v < e && is_wsp(txt[v]))
		v++;
	for (size_t i = v; i < e; i++) {
		unsigned char c = (unsigned char)txt[i];
		if ((c < 0x21 || c > 0x7e) && c != ' ' && c != '\t') {
			set_error(err, errlen, "tag \"%.*s\": byte 0x%02x in its value",
				  (int)(t - b), txt + b, c);
			return -1;
		}
	}
	tv->tag = txt + b;
	tv->taglen = t - b;
	tv->val = txt + v;
	tv->vallen = e - v;
	return 1;
}

int tagval_next(const char *txt, size_t len, size_t *pos, struct tagval *tv,
		char *err, size_t errlen)
{
	while (*pos < len) {
		size_t b = *pos, e = b;
		while (e < len && txt[e] != ';')
			e++;
		*pos = e < len ? e + 1 : e;
		size_t k = b;
		while (k < e && is_wsp(txt[k]))
			k++;
		if (k == e)
			continue;       /* empty element */
		return split_element(txt, b, e, tv, err, errlen);
	}
	return 0;
}

int tagval_each_item(const struct tagval *tv, char sep, int (*fn)(const char *item, size_t n, void *arg),
		     void *arg)
{
	size_t b = 0;
	while (b <= tv->vallen) {
		size_t e = b;
		while (e < tv->vallen && tv->val[e] != sep)
			e++;
		size_t s = b, t = e;
		while (s < t && (tv->val[s] == ' ' || tv->val[s] == '\t'))
			s++;
		while (t > s && (tv->val[t - 1] == ' ' || tv->val[t - 1] == '\t'))
			t--;
		int rc = fn(tv->val + s, t - s, arg);
		if (rc < 0)
			return rc;
		b = e + 1;
	}
	return 0;
}
