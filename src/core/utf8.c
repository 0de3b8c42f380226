/* utf8: one validated UTF-8 sequence at a time; see utf8.h. */
#include "utf8.h"

size_t utf8_next(const unsigned char *p, size_t left, uint32_t *cp)
{
	unsigned char c = p[0], lo = 0x80, hi = 0xbf;
	uint32_t v;
	size_t n;
	if (c < 0x80) {
		if (cp)
			*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
	else
		return 0;
	if (left < n || p[1] < lo || p[1] > hi)
		return 0;  /* the second octet's range excludes overlongs, surrogates, > U+10FFFF */
	v = c & (0xff >> (n + 1));
	for (size_t i = 1; i < n; i++) {
		if (i > 1 && (p[i] < 0x80 || p[i] > 0xbf))
			return 0;
		v = (v << 6) | (p[i] & 0x3f);
	}
	if (cp)
		*cp = v;
	return n;
}
